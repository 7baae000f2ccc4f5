//! The scheduler: per-CPU run queues with priorities and round robin, affinity and
//! migration, preemption (local and by IPI), blocking, CPU-time accounting, each CPU's idle
//! loop, user faults and the eager FPU switch.
//!
//! Every CPU has its own [`Scheduler`] (run queues, running thread, idle context), all of
//! them under the big kernel lock: any CPU may queue a thread on another's run queue. A
//! thread runs only on the CPU of its affinity (`Tcb.affinity`); it is queued there when it
//! becomes runnable, and one whose affinity changes while it runs moves at its next switch.
//! Threads are TCBs named by physical address. The running thread is not in a run queue; a
//! runnable thread that is not running is, on one CPU (`Tcb.queued_cpu`). `Tcb.running_on`
//! says which CPU runs a thread: a thread never runs on two CPUs at once (checked at every
//! switch). Every switch saves the outgoing thread's FPU state and restores the incoming
//! one's (docs/ARCHITECTURE.md, "Eager FPU"), so a migrated thread's state is saved on the
//! old CPU, under the lock, before the new CPU can pick it.
//!
//! When nothing is runnable a CPU switches to its idle context, which runs on the CPU's own
//! stack (the boot stack on the boot CPU): no CPU ever waits on a thread's kernel stack, so
//! a blocked thread may be woken and run elsewhere meanwhile.
//!
//! CPU time: cycles are charged at every kernel entry (user time since the last exit) and
//! exit or switch (kernel time since the entry). Ticks are charged to the thread the timer
//! interrupt finds in user mode; the kernel runs with interrupts disabled, so other ticks
//! land in the idle loop (charged to no one), and kernel time shows in `system_cycles`.

use core::sync::atomic::{AtomicU64, Ordering};

use abi::{NUM_PRIORITIES, TICKS_PER_SEC};
use kerncore::{Links, QueueLink, RunQueues, ThreadId};

use crate::arch::{self, EntryFrame, FaultInfo, KernelContext};
use crate::object::Global;
use crate::object::tcb::{self, NOT_RUNNING, ThreadState};
use crate::smp::{self, MAX_CPUS};

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

/// One CPU's scheduler state.
struct Scheduler {
    queues: RunQueues,
    /// The running thread, 0 in the idle loop.
    current: u64,
    /// Whether a thread became runnable here at a higher priority than the running one, or
    /// the running thread must switch (its affinity changed, another CPU asked).
    preempt_pending: bool,
    /// Cycle counter at the last accounting point.
    last_cycles: u64,
    /// Where the idle loop's context goes while a thread runs.
    idle_context: KernelContext,
    /// The top of the idle loop's stack (0 for the boot stack, which has no guard page).
    idle_stack_top: u64,
}

/// Each CPU's scheduler; any CPU may touch any of them under the big kernel lock.
static SCHED: [Global<Scheduler>; MAX_CPUS] = [const {
    Global::new(Scheduler {
        queues: RunQueues::new(),
        current: 0,
        preempt_pending: false,
        last_cycles: 0,
        idle_context: KernelContext::empty(),
        idle_stack_top: 0,
    })
}; MAX_CPUS];

/// User faults handled since boot, on every CPU.
static FAULTS: AtomicU64 = AtomicU64::new(0);

/// The running CPU's scheduler.
fn here() -> &'static Global<Scheduler> {
    &SCHED[smp::this_cpu()]
}

/// The running thread's TCB address (0 in the idle loop and before the scheduler starts).
pub fn current() -> u64 {
    here().with(|s| s.current)
}

/// Timer ticks of the boot CPU since its timer started: the machine's clock.
pub fn ticks() -> u64 {
    smp::ticks(smp::BOOT_CPU)
}

/// User faults handled since boot.
pub fn fault_count() -> u64 {
    FAULTS.load(Ordering::Relaxed)
}

/// The CPU that runs `thread`, if any.
pub fn running_on(thread: u64) -> Option<usize> {
    match tcb::with_tcb(thread, |tcb| tcb.running_on) {
        NOT_RUNNING => None,
        cpu => Some(cpu as usize),
    }
}

/// Starts the timer and schedules `first` (a configured thread) on the boot CPU, whose
/// boot stack becomes its idle stack; never returns.
pub fn start(first: u64) -> ! {
    arch::timer_init(TICKS_PER_SEC);
    make_runnable(first);
    idle_loop(0)
}

/// Runs the scheduler on a secondary CPU (holding the big kernel lock) on its own stack,
/// whose top is `stack_top`; never returns.
pub fn start_secondary(stack_top: u64) -> ! {
    idle_loop(stack_top)
}

/// A CPU's idle loop, on the CPU's own stack: runs the best runnable thread of the CPU,
/// and whenever none is, waits with interrupts enabled and the lock released.
fn idle_loop(stack_top: u64) -> ! {
    here().with(|s| {
        s.idle_stack_top = stack_top;
        s.last_cycles = arch::cycles();
    });
    loop {
        match pick() {
            // Returns when a thread switches back to the idle loop.
            Some(next) => switch_to(next, Slice::Fresh),
            None => arch::idle_until(smp::take_work),
        }
    }
}

/// Takes the best runnable thread of the running CPU out of its run queue.
fn pick() -> Option<u64> {
    here().with(|s| {
        s.preempt_pending = false;
        s.queues
            .dequeue_highest(&mut TcbLinks)
            .map(|(thread, _)| thread)
    })
}

/// Puts a thread that is not running (or the running thread, which is about to switch
/// away) into its priority's run queue on the CPU of its affinity and marks it runnable.
/// Notes a pending preemption when it outranks the thread running there; another CPU is
/// kicked by IPI when it idles or has to preempt.
pub fn make_runnable(thread: u64) {
    if running_on(thread).is_some_and(|cpu| cpu != smp::this_cpu()) {
        // Stalled on another CPU and suspended, now resumed before that CPU switched away
        // from it: it still runs there, so it goes in no run queue; that CPU queues it
        // when it abandons the entry (`abandoned_entry`), since it is runnable again.
        tcb::with_tcb(thread, |tcb| tcb.state = ThreadState::Runnable);
        return;
    }
    let (priority, cpu) = tcb::with_tcb(thread, |tcb| {
        tcb.state = ThreadState::Runnable;
        tcb.queued_priority = tcb.priority;
        tcb.queued_cpu = tcb.affinity;
        (tcb.priority, tcb.affinity as usize)
    });
    let target = &SCHED[cpu];
    let running = target.with(|s| {
        if let Err(error) = s.queues.enqueue(&mut TcbLinks, thread, priority) {
            panic!("run queue of cpu {cpu} refused runnable thread {thread:#x}: {error:?}");
        }
        s.current
    });
    let outranks = match running {
        0 => true,
        running if running == thread => false,
        running => priority > tcb::with_tcb(running, |tcb| tcb.priority),
    };
    if !outranks {
        return;
    }
    if running == 0 {
        smp::note_work(cpu);
    } else {
        target.with(|s| s.preempt_pending = true);
    }
    if cpu != smp::this_cpu() {
        smp::kick(cpu);
    }
}

/// Runs the highest-priority runnable thread of this CPU. The caller has already put the
/// current thread where it belongs (back in a run queue, in a wait queue, or nowhere).
///
/// If the current thread is still the best choice this returns at once. When nothing is
/// runnable, the CPU switches to its idle loop; this returns when the thread runs again.
pub fn schedule() {
    match pick() {
        Some(next) => switch_to(next, Slice::Fresh),
        None => switch_to_idle(),
    }
}

/// Runs `next`, a thread the running one just woke while blocking itself (the other side
/// of an IPC rendezvous), without a trip through the run queue: the direct switch.
///
/// Only when `next` belongs to this CPU and no queued thread outranks it; otherwise `next`
/// is queued (on its own CPU) and the best thread runs. `next` continues the running
/// thread's time slice instead of starting a fresh one, so a pair of threads passing
/// messages back and forth still runs out of time and lets the other threads of its
/// priority run (round robin is kept).
pub fn run_woken(next: u64) {
    let (priority, affinity) = tcb::with_tcb(next, |tcb| (tcb.priority, tcb.affinity as usize));
    let (best, prev) = here().with(|s| (s.queues.highest_priority(), s.current));
    if affinity != smp::this_cpu() || best.is_some_and(|best| best > priority) {
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

/// Makes `next` the running thread of this CPU: accounting, FPU, address space, kernel
/// stack, context. From the idle loop (no current thread) the idle context is saved.
fn switch_to(next: u64, slice: Slice) {
    let prev = current();
    if prev == next {
        return;
    }
    let cpu = smp::this_cpu();
    account_system_time(prev);
    let slice_left = match slice {
        Slice::Fresh => TIME_SLICE_TICKS,
        Slice::Continue(ticks) => ticks.max(1),
    };
    // A thread switched to is running (a directly woken one was never queued).
    let (vspace, running_on) = tcb::with_tcb(next, |tcb| {
        tcb.slice_left = slice_left;
        tcb.state = ThreadState::Runnable;
        (
            tcb.vspace,
            core::mem::replace(&mut tcb.running_on, cpu as u32),
        )
    });
    assert!(
        running_on == NOT_RUNNING,
        "thread {next:#x} is switched to on cpu {cpu} while it runs on cpu {running_on}: a \
         thread runs on one CPU at a time"
    );
    activate_vspace(vspace);
    arch::set_current_thread(next, tcb::kernel_stack_top(next));
    let next_ptr = tcb::tcb_ptr(next);
    let from: *mut KernelContext = if prev == 0 {
        here().with(|s| &raw mut s.idle_context)
    } else {
        leave_thread(prev)
    };
    // SAFETY: `next` is a live TCB taken from a run queue (or just woken); its FPU state
    // was saved when it last switched away, on whichever CPU that was.
    unsafe { (*next_ptr).fpu.restore() };
    here().with(|s| s.current = next);
    // SAFETY: `from` belongs to the thread (or idle loop) running now, `to` to a live
    // thread whose kernel stack is not in use: it runs nowhere (checked above).
    unsafe { arch::switch_context(from, &raw const (*next_ptr).context) };
}

/// Switches the running thread out to this CPU's idle loop.
fn switch_to_idle() {
    let prev = current();
    debug_assert!(prev != 0, "the idle loop switches to itself");
    account_system_time(prev);
    let (to, stack_top) = here().with(|s| {
        s.current = 0;
        (&raw const s.idle_context, s.idle_stack_top)
    });
    arch::set_current_thread(0, stack_top);
    let from = leave_thread(prev);
    // SAFETY: `from` is the running thread's context; the idle context was saved when the
    // idle loop last switched to a thread, and its stack is this CPU's own.
    unsafe { arch::switch_context(from, to) };
}

/// The part of a switch that concerns the outgoing thread `prev`: its FPU state is saved
/// and it no longer runs on this CPU. Returns where its kernel context goes.
fn leave_thread(prev: u64) -> *mut KernelContext {
    // SAFETY: `prev` is a live TCB: a running thread cannot be destroyed
    // (tcb::check_destroy).
    unsafe { (*tcb::tcb_ptr(prev)).fpu.save() };
    tcb::with_tcb(prev, |tcb| tcb.running_on = NOT_RUNNING);
    // SAFETY: As above; only the pointer is taken.
    unsafe { &raw mut (*tcb::tcb_ptr(prev)).context }
}

/// Loads a thread's address space (nothing for an unconfigured one).
pub fn activate_vspace(vspace: u64) {
    if vspace != 0 {
        // SAFETY: The VSpace is live: the thread holds it (tcb::configure), and it was made
        // by vspace::init with the kernel half copied in.
        unsafe { arch::mmu::activate(vspace) };
        smp::note_loaded_root(vspace);
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
    let elapsed = here().with(|s| now.wrapping_sub(core::mem::replace(&mut s.last_cycles, now)));
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
    let (thread, elapsed) = here().with(|s| {
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
    if here().with(|s| core::mem::take(&mut s.preempt_pending)) {
        preempt_current();
    }
    account_user_exit();
}

/// After an interrupt from user mode (the request IPI): switches away if a preemption is
/// pending, as a syscall's return does.
pub fn preempt_if_pending() {
    account_user_entry();
    leave_to_user();
}

/// Ends an entry from user mode that another CPU's stall abandoned (`smp::stall`): the
/// thread goes back to its run queue if it is still runnable (it may have been suspended,
/// or moved to another CPU), the best thread runs, and when this thread runs again its
/// address space is loaded anew (the stalling CPU may have changed it).
pub fn abandoned_entry() {
    account_user_entry();
    here().with(|s| s.preempt_pending = false);
    preempt_current();
    activate_current_vspace();
    account_user_exit();
}

/// Switches the running thread away: back to its run queue (on the CPU of its affinity)
/// if it is runnable, and the best thread of this CPU runs.
fn preempt_current() {
    let thread = current();
    if thread != 0 && tcb::with_tcb(thread, |tcb| tcb.state) == ThreadState::Runnable {
        make_runnable(thread);
    }
    schedule();
}

/// Charges kernel time to the current thread (called before returning to user mode).
pub fn account_user_exit() {
    charge_current(|times, elapsed| times.system_cycles += elapsed);
}

/// The timer interrupt: charges the tick to the running thread and preempts it at the end
/// of its time slice. From the idle loop (only the boot CPU's reach here) it does nothing.
pub fn timer_tick(from_user: bool) {
    let thread = current();
    if !from_user || thread == 0 {
        return;
    }
    account_user_entry();
    let slice_over = tcb::with_tcb(thread, |tcb| {
        tcb.times.user_ticks += 1;
        tcb.slice_left = tcb.slice_left.saturating_sub(1);
        tcb.slice_left == 0
    });
    if slice_over || here().with(|s| s.preempt_pending) {
        here().with(|s| s.preempt_pending = false);
        preempt_current();
    }
    account_user_exit();
}

/// Sends the running thread to the back of its priority's queue (on the CPU of its
/// affinity) and runs the next one.
pub fn yield_current() {
    preempt_current();
}

/// Blocks the running thread (its state already says on what) and runs another one.
/// Returns when the thread is woken and scheduled again.
pub fn block_current() {
    schedule();
}

/// Stops a thread: out of its run or wait queue, inactive. Suspending the running thread
/// switches to another one; the call returns when it is resumed. A thread running on
/// another CPU is stalled there first ([`stall`]); that CPU switches away from it once it
/// holds the lock.
pub fn suspend(thread: u64) {
    stall(thread);
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
        // Stalled on another CPU, which switches away from it.
        ThreadState::Runnable if running_on(thread).is_some() => {}
        ThreadState::Runnable => dequeue(thread),
    }
}

/// Takes a runnable thread that is not running out of the run queue it is in.
fn dequeue(thread: u64) {
    let (priority, cpu) = tcb::with_tcb(thread, |tcb| (tcb.queued_priority, tcb.queued_cpu));
    SCHED[cpu as usize].with(|s| {
        if let Err(error) = s.queues.remove(&mut TcbLinks, thread, priority) {
            panic!("runnable thread {thread:#x} was not in the run queue of cpu {cpu}: {error:?}");
        }
    });
}

/// If `thread` runs on another CPU, stops it there (`smp::stall`): on return its user
/// registers are saved in its frame and it runs no user code until this CPU releases the
/// lock, after which that CPU switches away from it (back to its run queue if it is still
/// runnable). Whoever reads or changes a thread's registers, state or spaces calls this
/// first. A no-op for a thread that runs nowhere or here.
pub fn stall(thread: u64) {
    if let Some(cpu) = running_on(thread)
        && cpu != smp::this_cpu()
    {
        smp::stall(cpu, thread);
    }
}

/// Makes an inactive thread runnable again; a no-op for a runnable or blocked thread.
pub fn resume(thread: u64) {
    if tcb::with_tcb(thread, |tcb| tcb.state) == ThreadState::Inactive {
        make_runnable(thread);
    }
}

/// Whether a thread is in a run queue (runnable, not running).
fn is_queued(thread: u64) -> bool {
    tcb::with_tcb(thread, |tcb| {
        tcb.state == ThreadState::Runnable && tcb.link.queued && tcb.running_on == NOT_RUNNING
    })
}

/// Asks the CPU that runs `thread` to switch (this one at its return to user mode,
/// another by IPI): a changed priority or affinity takes effect there.
fn reschedule_running(thread: u64) {
    let Some(cpu) = running_on(thread) else {
        return;
    };
    SCHED[cpu].with(|s| s.preempt_pending = true);
    if cpu != smp::this_cpu() {
        smp::kick(cpu);
    }
}

/// Changes a thread's priority, moving it between run queues when it is queued.
pub fn set_priority(thread: u64, priority: u8) {
    debug_assert!(priority < NUM_PRIORITIES);
    if is_queued(thread) {
        dequeue(thread);
        tcb::with_tcb(thread, |tcb| tcb.priority = priority);
        make_runnable(thread);
        return;
    }
    let old = tcb::with_tcb(thread, |tcb| {
        core::mem::replace(&mut tcb.priority, priority)
    });
    if let Some(cpu) = running_on(thread)
        && priority < old
    {
        // Lowering a running thread's priority may let a queued thread outrank it.
        let best = SCHED[cpu].with(|s| s.queues.highest_priority());
        if best.is_some_and(|best| best > priority) {
            reschedule_running(thread);
        }
    }
}

/// Pins a thread to CPU `cpu` (one that runs): a queued thread moves to that CPU's run
/// queue at once, a running one at its next switch, which is asked for now; a blocked or
/// inactive one is queued there when it becomes runnable.
pub fn set_affinity(thread: u64, cpu: usize) {
    debug_assert!(
        smp::is_online(cpu),
        "affinity to cpu {cpu}, which does not run"
    );
    let old = tcb::with_tcb(thread, |tcb| {
        core::mem::replace(&mut tcb.affinity, cpu as u32)
    });
    if old as usize == cpu {
        return;
    }
    if is_queued(thread) {
        dequeue(thread);
        make_runnable(thread);
    } else if running_on(thread).is_some_and(|running| running != cpu) {
        reschedule_running(thread);
    }
}

/// The CPU the running thread runs on.
pub fn current_cpu() -> usize {
    smp::this_cpu()
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
    FAULTS.fetch_add(1, Ordering::Relaxed);
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
