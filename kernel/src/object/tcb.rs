//! Thread control blocks: the `Tcb` structure, its FPU area and kernel stack, all inside the
//! `2^TCB_SIZE_BITS`-byte object retyped from an untyped.

use abi::{CpuTimes, Error, IpcMessage, ObjectType, TCB_SIZE_BITS, UserRegisters};
use kerncore::{ObjectCounts, ObjectRef, QueueLink};

use super::phys_ptr;
use crate::arch::{
    self, FpuArea, KERNEL_STACK_GUARD_SIZE, KERNEL_STACK_SIZE, KernelContext, UserFrame,
};

/// Where a thread is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ThreadState {
    /// Not runnable: never resumed, suspended, exited or faulted.
    Inactive,
    /// In a run queue, or running.
    Runnable,
    /// Waiting on the notification at this physical address.
    Blocked(u64),
    /// Queued to send (or call) on the endpoint at this physical address; the message is
    /// staged in [`Tcb::ipc`].
    Sending(u64),
    /// Queued to receive on the endpoint at this physical address.
    Receiving(u64),
    /// Its call (or fault) was received; waiting for the reply of the thread named by
    /// [`IpcState::replier`].
    AwaitingReply,
}

/// Why a blocked thread woke up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wake {
    /// Not woken yet.
    Pending,
    /// A signal delivered this word.
    Signaled(u64),
    /// The wait was cancelled (the thread was suspended).
    Cancelled,
    /// An IPC completed: a message was taken from this thread, or one (or a reply) was
    /// delivered into [`Tcb::ipc`].
    Delivered,
    /// An IPC can never complete: the endpoint was destroyed, or the thread that was to
    /// reply is gone.
    Aborted,
}

/// A thread's IPC state: the message it sends or received, and its reply link.
#[derive(Clone, Copy, Debug, Default)]
pub struct IpcState {
    /// A blocked sender's message registers; a woken receiver's received ones.
    pub message: IpcMessage,
    /// The badge that goes with `message` (the sender's endpoint capability's; 0 for a
    /// reply).
    pub badge: u64,
    /// A blocked sender: it called (it waits for a reply once the message is taken).
    pub call: bool,
    /// A blocked sender: its endpoint capability has the grant right (capabilities may
    /// travel with the message, and with the reply to a call).
    pub grant: bool,
    /// A blocked sender: the message is a kernel message (a fault): registers only.
    pub kernel: bool,
    /// A server: the caller waiting for this thread's reply, 0 when none.
    pub reply_to: u64,
    /// A caller awaiting its reply: the thread that holds it, 0 when none.
    pub replier: u64,
    /// A caller awaiting its reply: the reply may carry capabilities.
    pub reply_grant: bool,
    /// A caller awaiting its reply: it called because of a fault.
    pub fault: bool,
    /// A caller: its message was received, so it waits for (or lost) its reply. Such a
    /// call is never restarted, which would send the request twice.
    pub taken: bool,
}

/// Whether a thread is inside a syscall whose results are still to be written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Syscall {
    /// In user mode, or past the point where the syscall wrote its results.
    Idle,
    /// Inside a syscall: its results go into the user registers when it returns.
    Active,
    /// Inside a syscall that was interrupted before it did anything (an IPC whose thread
    /// was suspended while queued): it ends without writing results and with the
    /// instruction pointer back on the trap, so the thread makes the syscall again.
    Restart,
    /// Inside a syscall whose thread had its registers rewritten (`write_registers`): it
    /// ends without writing results, so the written registers survive, and a wait it is
    /// in ends at once instead of restarting.
    Abandoned,
}

/// The control block at the start of a TCB object. The kernel stack fills the object's top
/// [`KERNEL_STACK_SIZE`] bytes; the page below it is the stack's guard page
/// ([`GUARD_OFFSET`]), unmapped from the direct map while the TCB exists.
#[repr(C)]
pub struct Tcb {
    /// The thread's FPU/SIMD state while it is not running (eager switching).
    pub fpu: FpuArea,
    /// The thread's kernel context while it is not running.
    pub context: KernelContext,
    /// The saved user registers at the top of the kernel stack.
    pub user_frame: *mut UserFrame,
    /// Run-queue or wait-queue links.
    pub link: QueueLink,
    /// The priority the thread is queued at, valid while `link.queued` and runnable.
    pub queued_priority: u8,
    /// Scheduling priority, below `NUM_PRIORITIES`.
    pub priority: u8,
    /// Maximum controlled priority: the highest priority or MCP this thread, used as the
    /// authority of `set_priority`/`set_mcp`, may give any thread (0 for a new thread).
    pub mcp: u8,
    /// The CPU the thread is pinned to (it runs only there).
    pub affinity: u32,
    /// The CPU whose run queue holds the thread, valid while `link.queued` and runnable.
    pub queued_cpu: u32,
    /// The CPU the thread runs on (its kernel stack is in use there), [`NOT_RUNNING`]
    /// when none. Set and cleared by the scheduler's switch, under the big kernel lock.
    pub running_on: u32,
    /// Holds on this TCB (capabilities are counted by the derivation tree).
    pub counts: ObjectCounts,
    /// Life-cycle state.
    pub state: ThreadState,
    /// How the last wait ended.
    pub wake: Wake,
    /// Whether the thread is inside a syscall (its kernel stack holds the syscall's frames).
    pub syscall: Syscall,
    /// CSpace root CNode (physical address), 0 until configured.
    pub cspace: u64,
    /// log2 of the CSpace root's slot count.
    pub cspace_bits: u8,
    /// VSpace root (physical address), 0 until configured.
    pub vspace: u64,
    /// Bound notification (physical address), 0 when none.
    pub bound_notification: u64,
    /// The notification a `wait` of this thread holds (blocked, or suspended mid-wait), 0 when none.
    pub wait_object: u64,
    /// User address of the thread's IPC buffer (an `abi::IpcBuffer`, page-aligned), 0 when none.
    pub ipc_buffer: u64,
    /// Capability address, in the thread's own CSpace, of the endpoint its faults go to
    /// (looked up at each fault), 0 when none.
    pub fault_handler: u64,
    /// IPC staging and reply links.
    pub ipc: IpcState,
    /// CPU time used.
    pub times: CpuTimes,
    /// Timer ticks left in the current time slice.
    pub slice_left: u64,
}

/// `Tcb.running_on` of a thread that runs on no CPU.
pub const NOT_RUNNING: u32 = u32::MAX;

/// Bytes of a TCB object.
const TCB_BYTES: usize = 1 << TCB_SIZE_BITS;

/// Offset of the kernel stack's guard page in a TCB object. The layout is
/// `[Tcb | unused | guard page | kernel stack]`: the control block must end below the guard.
pub const GUARD_OFFSET: usize = TCB_BYTES - KERNEL_STACK_SIZE - KERNEL_STACK_GUARD_SIZE;

const _: () = assert!(core::mem::size_of::<Tcb>() <= GUARD_OFFSET);
const _: () = assert!(GUARD_OFFSET.is_multiple_of(KERNEL_STACK_GUARD_SIZE));

/// Runs `f` on the TCB at `paddr`.
pub fn with_tcb<R>(paddr: u64, f: impl FnOnce(&mut Tcb) -> R) -> R {
    // SAFETY: `paddr` names a live TCB object (callers get it from a capability, the run
    // queues or the current thread). No other reference to it is live while `f` runs.
    f(unsafe { &mut *phys_ptr::<Tcb>(paddr) })
}

/// A raw pointer to the TCB at `paddr`, for the context switch.
pub fn tcb_ptr(paddr: u64) -> *mut Tcb {
    phys_ptr::<Tcb>(paddr)
}

/// The top of the kernel stack of the TCB at `paddr` (a kernel virtual address).
pub fn kernel_stack_top(paddr: u64) -> u64 {
    phys_ptr::<u8>(paddr) as u64 + TCB_BYTES as u64
}

/// Initialises a freshly zeroed TCB object: inactive, priority 0, clean FPU state, and a
/// kernel stack prepared so that the first switch to it enters user mode.
pub fn init(paddr: u64) {
    let base = phys_ptr::<u8>(paddr);
    // SAFETY: The object is 2^TCB_SIZE_BITS bytes the caller just retyped; the stack is
    // its top KERNEL_STACK_SIZE bytes (16-byte aligned, since objects are size-aligned),
    // beyond the control block (checked by the const assertion above).
    let (context, user_frame) = unsafe {
        arch::prepare_user_thread(base.add(TCB_BYTES - KERNEL_STACK_SIZE), KERNEL_STACK_SIZE)
    };
    let tcb = Tcb {
        fpu: FpuArea::init(),
        context,
        user_frame,
        link: QueueLink::default(),
        queued_priority: 0,
        priority: 0,
        mcp: 0,
        affinity: 0,
        queued_cpu: 0,
        running_on: NOT_RUNNING,
        counts: ObjectCounts::UNHELD,
        state: ThreadState::Inactive,
        wake: Wake::Pending,
        syscall: Syscall::Idle,
        cspace: 0,
        cspace_bits: 0,
        vspace: 0,
        bound_notification: 0,
        wait_object: 0,
        ipc_buffer: 0,
        fault_handler: 0,
        ipc: IpcState::default(),
        times: CpuTimes::default(),
        slice_left: 0,
    };
    // SAFETY: The control block lies at the start of the object, which the caller owns.
    unsafe { tcb_ptr(paddr).write(tcb) };
    arch::guard_kernel_stack(paddr + GUARD_OFFSET as u64);
}

/// Runs `f` on the saved user registers of the TCB at `paddr`.
pub fn with_user_frame<R>(paddr: u64, f: impl FnOnce(&mut UserFrame) -> R) -> R {
    let frame = with_tcb(paddr, |tcb| tcb.user_frame);
    // SAFETY: `user_frame` points into the TCB's own kernel stack, where the arch layer
    // keeps the user registers; nothing else references them while `f` runs.
    f(unsafe { &mut *frame })
}

/// The portable register subset of a thread.
pub fn read_registers(paddr: u64) -> UserRegisters {
    crate::sched::stall(paddr);
    with_user_frame(paddr, |frame| UserRegisters {
        ip: frame.ip(),
        sp: frame.sp(),
        arg0: frame.arg(0),
        arg1: frame.arg(1),
        arg2: frame.arg(2),
        arg3: frame.arg(3),
        arg4: frame.arg(4),
        arg5: frame.arg(5),
    })
}

/// Loads the portable register subset into a thread.
///
/// A thread inside a syscall (suspended or preempted in it, blocked in a wait, or the
/// caller itself) abandons that syscall, as seL4 does when a thread's registers are
/// rewritten: the syscall writes no results over the new registers, and a blocked wait
/// ends at once, leaving the thread runnable to continue at the new registers.
pub fn write_registers(paddr: u64, regs: &UserRegisters) {
    crate::sched::stall(paddr);
    load_registers(paddr, regs);
    let (state, abandoned) = with_tcb(paddr, |tcb| {
        if tcb.syscall == Syscall::Active {
            tcb.syscall = Syscall::Abandoned;
        }
        (tcb.state, tcb.syscall == Syscall::Abandoned)
    });
    if !abandoned {
        return;
    }
    match state {
        ThreadState::Blocked(notification) => {
            super::notification::cancel_wait(notification, paddr);
            crate::sched::make_runnable(paddr);
        }
        ThreadState::Sending(_) | ThreadState::Receiving(_) | ThreadState::AwaitingReply => {
            crate::ipc::cancel(paddr, state);
            crate::sched::make_runnable(paddr);
        }
        ThreadState::Inactive | ThreadState::Runnable => {}
    }
}

/// Sets the portable register subset in a thread's saved user frame.
fn load_registers(paddr: u64, regs: &UserRegisters) {
    with_user_frame(paddr, |frame| {
        frame.set_ip(regs.ip);
        frame.set_sp(regs.sp);
        for (index, value) in [
            regs.arg0, regs.arg1, regs.arg2, regs.arg3, regs.arg4, regs.arg5,
        ]
        .into_iter()
        .enumerate()
        {
            frame.set_arg(index, value);
        }
    });
}

/// Sets a thread's CSpace root and VSpace, taking holds on the new ones and dropping the
/// holds on the old ones.
pub fn configure(paddr: u64, cspace: (u64, u8), vspace: u64) -> Result<(), Error> {
    let cspace_object = ObjectRef {
        object_type: ObjectType::CNode,
        paddr: cspace.0,
    };
    let vspace_object = ObjectRef {
        object_type: ObjectType::VSpace,
        paddr: vspace,
    };
    super::hold(cspace_object)?;
    crate::sched::stall(paddr);
    if let Err(error) = super::hold(vspace_object) {
        super::unhold(cspace_object);
        return Err(error);
    }
    let (old_cspace, old_vspace) = with_tcb(paddr, |tcb| {
        let old = (tcb.cspace, tcb.vspace);
        tcb.cspace = cspace.0;
        tcb.cspace_bits = cspace.1;
        tcb.vspace = vspace;
        old
    });
    release_spaces(old_cspace, old_vspace);
    if crate::sched::current() == paddr {
        crate::sched::activate_vspace(vspace);
    }
    Ok(())
}

fn release_spaces(cspace: u64, vspace: u64) {
    if cspace != 0 {
        super::unhold(ObjectRef {
            object_type: ObjectType::CNode,
            paddr: cspace,
        });
    }
    if vspace != 0 {
        super::unhold(ObjectRef {
            object_type: ObjectType::VSpace,
            paddr: vspace,
        });
    }
}

/// Whether the TCB at `paddr` may be destroyed: not while it is the running thread
/// (`Busy`). A thread that another CPU runs (its kernel stack is in use there) is
/// suspended, and the running thread's syscall is made again from user mode: by then that
/// CPU has switched away from it, or the syscall comes back here.
pub fn check_destroy(paddr: u64) -> Result<(), Error> {
    match crate::sched::running_on(paddr) {
        None => Ok(()),
        Some(cpu) if cpu == crate::smp::this_cpu() => Err(Error::Busy),
        Some(_) => {
            crate::sched::suspend(paddr);
            let current = crate::sched::current();
            with_tcb(current, |tcb| {
                if tcb.syscall == Syscall::Active {
                    tcb.syscall = Syscall::Restart;
                }
            });
            Err(Error::Busy)
        }
    }
}

/// Tears a TCB down before its frames return to the untyped: stops the thread, drops
/// every hold it has and maps its guard page back (the next retype zeroes it).
pub fn destroy(paddr: u64) {
    crate::sched::suspend(paddr);
    crate::ipc::forget_thread(paddr);
    let (cspace, vspace, notification, waiting) = with_tcb(paddr, |tcb| {
        let held = (
            tcb.cspace,
            tcb.vspace,
            tcb.bound_notification,
            tcb.wait_object,
        );
        tcb.cspace = 0;
        tcb.vspace = 0;
        tcb.wait_object = 0;
        held
    });
    release_spaces(cspace, vspace);
    if notification != 0 {
        super::notification::unbind(notification, paddr);
    }
    if waiting != 0 {
        super::notification::abandon_wait(waiting);
    }
    arch::unguard_kernel_stack(paddr + GUARD_OFFSET as u64);
}
