//! The scheduler: the current thread, priority run queues with round robin, preemption,
//! blocking, CPU-time accounting, the idle loop, user faults and the eager FPU switch.
//!
//! One CPU. Threads are TCBs named by physical address. The running thread is not in a
//! run queue; a runnable thread that is not running is. Every switch saves the outgoing
//! thread's FPU state and restores the incoming one's (docs/ARCHITECTURE.md, "Eager FPU").
//!
//! CPU time: cycles are charged at every kernel entry (user time since the last exit) and
//! exit or switch (kernel time since the entry). Ticks are charged to the thread the timer
//! interrupt finds; the kernel runs with interrupts disabled, so ticks land in user mode
//! or in the idle loop (charged to no one), and kernel time shows in `system_cycles`.

use abi::{NUM_PRIORITIES, TICKS_PER_SEC};
use kerncore::{Links, QueueLink, RunQueues, ThreadId};

use crate::arch::{self, EntryFrame, FaultInfo, KernelContext};
use crate::object::Global;
use crate::object::tcb::{self, ThreadState};

/// Timer ticks in one time slice.
pub const TIME_SLICE_TICKS: u64 = 2;

const _: () = assert!(TICKS_PER_SEC >= TIME_SLICE_TICKS);

/// Run-queue links of TCBs, reached through the direct map.
pub struct TcbLinks;

impl Links for TcbLinks {
    fn link(&mut self, thread: ThreadId) -> &mut QueueLink {
        // SAFETY: Queued thread ids are live TCBs; the link is a plain field, and queue
        // code holds one link reference at a time.
        unsafe { &mut (*tcb::tcb_ptr(thread)).link }
    }
}

struct Scheduler {
    queues: RunQueues,
    /// The running thread, 0 before the first switch.
    current: u64,
    /// Whether a thread became runnable at a higher priority than the running one.
    preempt_pending: bool,
    ticks: u64,
    faults: u64,
    /// Cycle counter at the last accounting point.
    last_cycles: u64,
    /// Whether the CPU is in the idle loop (timer ticks then only count).
    idle: bool,
    /// Where the boot code's context goes when the first thread starts.
    boot_context: KernelContext,
}

static SCHED: Global<Scheduler> = Global::new(Scheduler {
    queues: RunQueues::new(),
    current: 0,
    preempt_pending: false,
    ticks: 0,
    faults: 0,
    last_cycles: 0,
    idle: false,
    boot_context: KernelContext::empty(),
});

/// The running thread's TCB address (0 before the scheduler starts).
pub fn current() -> u64 {
    SCHED.with(|s| s.current)
}

/// Timer ticks since the timer started.
pub fn ticks() -> u64 {
    SCHED.with(|s| s.ticks)
}

/// User faults handled since boot.
pub fn fault_count() -> u64 {
    SCHED.with(|s| s.faults)
}

/// Starts the timer and schedules `first` (a configured thread); never returns.
pub fn start(first: u64) -> ! {
    arch::timer_init(TICKS_PER_SEC);
    make_runnable(first);
    SCHED.with(|s| s.last_cycles = arch::cycles());
    schedule();
    unreachable!("the boot context is never resumed");
}

/// Puts a thread that is not running into its priority's run queue and marks it runnable.
/// Notes a pending preemption when it outranks the running thread.
pub fn make_runnable(thread: u64) {
    let priority = tcb::with_tcb(thread, |tcb| {
        tcb.state = ThreadState::Runnable;
        tcb.queued_priority = tcb.priority;
        tcb.priority
    });
    let current_priority = match current() {
        0 => None,
        running => Some(tcb::with_tcb(running, |tcb| tcb.priority)),
    };
    SCHED.with(|s| {
        if let Err(error) = s.queues.enqueue(&mut TcbLinks, thread, priority) {
            panic!("run queue refused runnable thread {thread:#x}: {error:?}");
        }
        if current_priority.is_some_and(|running| priority > running) {
            s.preempt_pending = true;
        }
    });
}

/// Runs the highest-priority runnable thread. The caller has already put the current
/// thread where it belongs (back in a run queue, in a wait queue, or nowhere).
///
/// If the current thread is still the best choice this returns at once. When nothing is
/// runnable, idles with interrupts enabled until something is.
pub fn schedule() {
    let next = loop {
        let picked = SCHED.with(|s| {
            s.preempt_pending = false;
            s.queues
                .dequeue_highest(&mut TcbLinks)
                .map(|(thread, _)| thread)
        });
        if let Some(next) = picked {
            break next;
        }
        // Nothing runnable: not even the current thread (it is blocked or inactive).
        SCHED.with(|s| s.idle = true);
        arch::enable_interrupts_and_halt();
        SCHED.with(|s| s.idle = false);
    };
    switch_to(next, Slice::Fresh);
}

/// Runs `next`, a thread the running one just woke while blocking itself (the other side
/// of an IPC rendezvous), without a trip through the run queue: the direct switch.
///
/// Only when no queued thread outranks `next`; otherwise `next` is queued and the best
/// thread runs. `next` continues the running thread's time slice instead of starting a
/// fresh one, so a pair of threads passing messages back and forth still runs out of
/// time and lets the other threads of its priority run (round robin is kept).
pub fn run_woken(next: u64) {
    let priority = tcb::with_tcb(next, |tcb| tcb.priority);
    let (best, prev) = SCHED.with(|s| (s.queues.highest_priority(), s.current));
    if best.is_some_and(|best| best > priority) {
        make_runnable(next);
        schedule();
        return;
    }
    let slice = match prev {
        0 => TIME_SLICE_TICKS,
        prev => tcb::with_tcb(prev, |tcb| tcb.slice_left),
    };
    switch_to(next, Slice::Continue(slice));
}

/// The time slice a switched-to thread runs with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Slice {
    /// A fresh one.
    Fresh,
    /// What is left of the previous thread's.
    Continue(u64),
}

/// Makes `next` the running thread: accounting, FPU, address space, kernel stack, context.
fn switch_to(next: u64, slice: Slice) {
    let prev = current();
    if prev == next {
        return;
    }
    account_system_time(prev);
    let slice_left = match slice {
        Slice::Fresh => TIME_SLICE_TICKS,
        Slice::Continue(ticks) => ticks.max(1),
    };
    // A thread switched to is running (a directly woken one was never queued).
    let vspace = tcb::with_tcb(next, |tcb| {
        tcb.slice_left = slice_left;
        tcb.state = ThreadState::Runnable;
        tcb.vspace
    });
    activate_vspace(vspace);
    arch::set_current_thread(next, tcb::kernel_stack_top(next));
    let next_ptr = tcb::tcb_ptr(next);
    let from: *mut KernelContext = if prev == 0 {
        SCHED.with(|s| &raw mut s.boot_context)
    } else {
        // SAFETY: `prev` is a live TCB: the running thread cannot be destroyed (tcb::check_destroy).
        unsafe { (*tcb::tcb_ptr(prev)).fpu.save() };
        // SAFETY: As above; only the pointer is taken.
        unsafe { &raw mut (*tcb::tcb_ptr(prev)).context }
    };
    // SAFETY: `next` is a live TCB taken from a run queue.
    unsafe { (*next_ptr).fpu.restore() };
    SCHED.with(|s| s.current = next);
    // SAFETY: `from` belongs to the thread (or boot code) running now, `to` to a live thread
    // whose kernel stack is not in use: it is not running.
    unsafe { arch::switch_context(from, &raw const (*next_ptr).context) };
}

/// Loads a thread's address space (nothing for an unconfigured one).
pub fn activate_vspace(vspace: u64) {
    if vspace != 0 {
        // SAFETY: The VSpace is live: the thread holds it (tcb::configure), and it was made
        // by vspace::init with the kernel half copied in.
        unsafe { arch::mmu::activate(vspace) };
    }
}

/// Loads the running thread's address space again (after the loaded root was retired).
pub fn activate_current_vspace() {
    match current() {
        0 => {}
        thread => activate_vspace(tcb::with_tcb(thread, |tcb| tcb.vspace)),
    }
}

/// Charges the cycles since the last accounting point to `thread` as system time.
fn account_system_time(thread: u64) {
    let now = arch::cycles();
    let elapsed = SCHED.with(|s| now.wrapping_sub(core::mem::replace(&mut s.last_cycles, now)));
    if thread != 0 {
        tcb::with_tcb(thread, |tcb| tcb.times.system_cycles += elapsed);
    }
}

/// Charges the cycles since the last accounting point to the current thread as user time
/// (called on entry from user mode); returns the current thread.
pub fn account_user_entry() -> u64 {
    charge_current(|times, elapsed| times.user_cycles += elapsed)
}

/// Charges the cycles since the last accounting point to the current thread with
/// `charge`; returns the current thread (0 before the first switch: nothing is charged).
fn charge_current(charge: impl FnOnce(&mut abi::CpuTimes, u64)) -> u64 {
    let now = arch::cycles();
    let (thread, elapsed) = SCHED.with(|s| {
        (
            s.current,
            now.wrapping_sub(core::mem::replace(&mut s.last_cycles, now)),
        )
    });
    if thread != 0 {
        tcb::with_tcb(thread, |tcb| charge(&mut tcb.times, elapsed));
    }
    thread
}

/// Leaves the kernel for user mode at the end of a syscall: switches away first if a
/// higher-priority thread became runnable, then charges kernel time to the thread that
/// returns to user mode.
pub fn leave_to_user() {
    if SCHED.with(|s| core::mem::take(&mut s.preempt_pending)) {
        yield_current();
    }
    account_user_exit();
}

/// Charges kernel time to the current thread (called before returning to user mode).
pub fn account_user_exit() {
    charge_current(|times, elapsed| times.system_cycles += elapsed);
}

/// The timer interrupt: counts the tick for the running thread and preempts it at the end
/// of its time slice. From the idle loop it only counts.
pub fn timer_tick(from_user: bool) {
    if from_user {
        account_user_entry();
    }
    let (idle, thread) = SCHED.with(|s| {
        s.ticks += 1;
        (s.idle, s.current)
    });
    if idle || thread == 0 {
        return;
    }
    let slice_over = tcb::with_tcb(thread, |tcb| {
        if from_user {
            tcb.times.user_ticks += 1;
        } else {
            tcb.times.system_ticks += 1;
        }
        tcb.slice_left = tcb.slice_left.saturating_sub(1);
        tcb.slice_left == 0
    });
    if slice_over && from_user {
        yield_current();
    }
    if from_user {
        account_user_exit();
    }
}

/// Sends the running thread to the back of its priority's queue and runs the next one.
pub fn yield_current() {
    let thread = current();
    make_runnable(thread);
    schedule();
}

/// Blocks the running thread (its state already says on what) and runs another one.
/// Returns when the thread is woken and scheduled again.
pub fn block_current() {
    schedule();
}

/// Stops a thread: out of its run or wait queue, inactive. Suspending the running thread
/// switches to another one; the call returns when it is resumed.
pub fn suspend(thread: u64) {
    let state = tcb::with_tcb(thread, |tcb| {
        core::mem::replace(&mut tcb.state, ThreadState::Inactive)
    });
    match state {
        ThreadState::Inactive => {}
        ThreadState::Blocked(notification) => {
            crate::object::notification::cancel_wait(notification, thread)
        }
        ThreadState::Sending(_) | ThreadState::Receiving(_) | ThreadState::AwaitingReply => {
            crate::ipc::cancel(thread, state)
        }
        ThreadState::Runnable if thread == current() => schedule(),
        ThreadState::Runnable => {
            let priority = tcb::with_tcb(thread, |tcb| tcb.queued_priority);
            SCHED.with(|s| {
                if let Err(error) = s.queues.remove(&mut TcbLinks, thread, priority) {
                    panic!("runnable thread {thread:#x} was not in its run queue: {error:?}");
                }
            });
        }
    }
}

/// Makes an inactive thread runnable again; a no-op for a runnable or blocked thread.
pub fn resume(thread: u64) {
    if tcb::with_tcb(thread, |tcb| tcb.state) == ThreadState::Inactive {
        make_runnable(thread);
    }
}

/// Changes a thread's priority, moving it between run queues when it is queued.
pub fn set_priority(thread: u64, priority: u8) {
    debug_assert!(priority < NUM_PRIORITIES);
    let (state, queued) = tcb::with_tcb(thread, |tcb| (tcb.state, tcb.link.queued));
    if state == ThreadState::Runnable && queued && thread != current() {
        let old = tcb::with_tcb(thread, |tcb| tcb.queued_priority);
        SCHED.with(|s| {
            if let Err(error) = s.queues.remove(&mut TcbLinks, thread, old) {
                panic!("runnable thread {thread:#x} was not in its run queue: {error:?}");
            }
        });
        tcb::with_tcb(thread, |tcb| tcb.priority = priority);
        make_runnable(thread);
    } else {
        tcb::with_tcb(thread, |tcb| tcb.priority = priority);
        if thread == current() {
            // Lowering the running thread's priority may let a queued thread outrank it.
            let best = SCHED.with(|s| s.queues.highest_priority());
            if best.is_some_and(|best| best > priority) {
                SCHED.with(|s| s.preempt_pending = true);
            }
        }
    }
}

/// Ends the running thread: it becomes inactive and another thread runs.
pub fn exit_current() {
    let thread = current();
    tcb::with_tcb(thread, |tcb| tcb.state = ThreadState::Inactive);
    schedule();
}

/// A user-mode exception: counts it and delivers it to the thread's fault handler as a
/// kernel message (`crate::ipc::deliver_fault`); the handler's reply resumes the thread.
/// Without a usable handler, or when the fault can never be answered, it reports the fault
/// on one line and makes the thread inactive; another thread runs. The thread stays
/// inactive until resumed.
pub fn user_fault(frame: EntryFrame, info: FaultInfo) {
    let thread = account_user_entry();
    let ip = frame.with(|frame| frame.ip());
    SCHED.with(|s| s.faults += 1);
    let (label, words, length) = fault_message(ip, &info);
    let outcome = crate::ipc::deliver_fault(label, &words[..length]);
    if outcome != crate::ipc::FaultOutcome::Resumed {
        crate::println!(
            "user fault: thread {thread:#x}, vector {} ({}), ip {:#x}, addr {:#x}{}",
            info.vector,
            info.name(),
            ip,
            info.address,
            if outcome == crate::ipc::FaultOutcome::Stopped {
                ", its fault handler is gone"
            } else {
                ""
            }
        );
        exit_current();
    }
    account_user_exit();
}

/// The kernel message a user exception becomes: a `VmFault` for a page fault (an access to
/// memory the thread's VSpace does not map with the needed rights), a `UserException`
/// otherwise.
fn fault_message(ip: u64, info: &FaultInfo) -> (u64, [u64; abi::MESSAGE_REGISTERS], usize) {
    let mut words = [0; abi::MESSAGE_REGISTERS];
    let (label, encoded): (u64, &[u64]) = match arch::vm_fault_kind(info) {
        Some(instruction_fetch) => {
            let fault = abi::kernel_message::VmFault {
                ip,
                address: info.address,
                instruction_fetch: u64::from(instruction_fetch),
                status: info.error_code,
            };
            (abi::kernel_message::VmFault::LABEL, &fault.encode())
        }
        None => {
            let fault = abi::kernel_message::UserException {
                ip,
                vector: u64::from(info.vector),
                code: info.error_code,
            };
            (abi::kernel_message::UserException::LABEL, &fault.encode())
        }
    };
    words[..encoded.len()].copy_from_slice(encoded);
    (label, words, encoded.len())
}
