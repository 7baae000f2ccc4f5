//! TCB invocations: configure, registers, resume and suspend, priorities, affinity, notification binding and CPU times.

use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use rootlib::{ROOT_CNODE, ROOT_VSPACE};
use trona::substrate;
use trona::uapi::{
    BOOTINFO_VADDR, CPtr, CpuTimes, Error, NUM_CPUS, ObjectType, UserAddr, UserRegisters,
};

use crate::ctx::{Ctx, DEFAULT_TIMEOUT_TICKS, PRIORITY, SELF_TCB, spin_ticks};
use crate::harness::{Outcome, ensure, err, ok};
use crate::tests::{KERNEL_ADDRESS, address_of, address_of_mut};

static COUNTER: AtomicU64 = AtomicU64::new(0);

extern "C" fn count_and_yield(_: u64) -> ! {
    loop {
        COUNTER.fetch_add(1, Ordering::Relaxed);
        let _ = substrate::sched_yield();
    }
}

extern "C" fn park(_: u64) -> ! {
    loop {
        let _ = substrate::sched_yield();
    }
}

/// Registers written into a TCB read back the same; bad buffers are refused.
pub fn registers(ctx: &mut Ctx) -> Outcome {
    let thread = ctx.create_thread(park, 0x5151)?;
    let result = register_checks(ctx, thread.tcb, thread.stack.vaddr, thread.stack.end());
    ctx.destroy(thread)?;
    result
}

fn register_checks(ctx: &mut Ctx, tcb: CPtr, stack_start: u64, stack_end: u64) -> Outcome {
    let mut read = UserRegisters::default();
    ok(
        "read_registers",
        substrate::tcb_read_registers(tcb, address_of_mut(&mut read)),
    )?;
    let entry = park as extern "C" fn(u64) -> ! as usize as u64;
    ensure!(
        read.ip == entry,
        "ip {:#x}, expected the entry {entry:#x}",
        read.ip
    );
    ensure!(
        read.arg0 == 0x5151,
        "arg0 {:#x}, expected 0x5151",
        read.arg0
    );
    ensure!(
        (stack_start..=stack_end).contains(&read.sp),
        "sp {:#x} outside the stack",
        read.sp
    );

    let written = UserRegisters {
        ip: entry,
        sp: stack_end - 64,
        arg0: 0x1111,
        arg1: 0x2222,
        arg2: 0x3333,
        arg3: 0x4444,
        arg4: 0x5555,
        arg5: 0x6666,
    };
    ok(
        "write_registers",
        substrate::tcb_write_registers(tcb, address_of(&written)),
    )?;
    let mut back = UserRegisters::default();
    ok(
        "read_registers",
        substrate::tcb_read_registers(tcb, address_of_mut(&mut back)),
    )?;
    ensure!(back == written, "read back {back:?}, wrote {written:?}");

    let bad = Error::InvalidUserPointer;
    let unmapped = UserAddr(ctx.unmapped_address()?);
    err(
        "write_registers from an unmapped page",
        substrate::tcb_write_registers(tcb, unmapped),
        bad,
    )?;
    err(
        "read_registers into a read-only page",
        substrate::tcb_read_registers(tcb, UserAddr(BOOTINFO_VADDR)),
        bad,
    )?;
    err(
        "read_registers into the kernel",
        substrate::tcb_read_registers(tcb, UserAddr(KERNEL_ADDRESS)),
        bad,
    )?;
    let page = ctx.pages(1, crate::READ_WRITE)?;
    let straddling = substrate::tcb_read_registers(tcb, UserAddr(page.end() - 8));
    ctx.release_pages(page)?;
    err(
        "read_registers running into an unmapped page",
        straddling,
        bad,
    )
}

/// A thread runs only between resume and suspend; an unconfigured TCB cannot be resumed.
pub fn resume_suspend(ctx: &mut Ctx) -> Outcome {
    let bare = ctx.create(ObjectType::Tcb)?;
    let bare_resume = substrate::tcb_resume(bare);
    ctx.delete(bare)?;
    err(
        "resume an unconfigured TCB",
        bare_resume,
        Error::IllegalOperation,
    )?;

    COUNTER.store(0, Ordering::Relaxed);
    let thread = ctx.create_thread(count_and_yield, 0)?;
    let result = resume_suspend_checks(ctx, thread.tcb);
    ctx.destroy(thread)?;
    result
}

fn resume_suspend_checks(ctx: &mut Ctx, tcb: CPtr) -> Outcome {
    ctx.wait_until(3, || false);
    ensure!(
        COUNTER.load(Ordering::Relaxed) == 0,
        "a thread ran before it was resumed"
    );
    ok("resume", substrate::tcb_resume(tcb))?;
    ensure!(
        ctx.wait_until(DEFAULT_TIMEOUT_TICKS, || COUNTER.load(Ordering::Relaxed)
            > 0),
        "the resumed thread never ran"
    );
    ok("suspend", substrate::tcb_suspend(tcb))?;
    let frozen = COUNTER.load(Ordering::Relaxed);
    ctx.wait_until(3, || false);
    let later = COUNTER.load(Ordering::Relaxed);
    ensure!(
        later == frozen,
        "a suspended thread kept running ({frozen} -> {later})"
    );
    ok("resume again", substrate::tcb_resume(tcb))?;
    ok(
        "resume a runnable thread (does nothing)",
        substrate::tcb_resume(tcb),
    )?;
    let resumed = ctx.wait_until(DEFAULT_TIMEOUT_TICKS, || {
        COUNTER.load(Ordering::Relaxed) > frozen
    });
    ensure!(resumed, "the thread did not run after being resumed again");
    Ok(())
}

static FLAG: AtomicBool = AtomicBool::new(false);

extern "C" fn raise_flag(notification: u64) -> ! {
    FLAG.store(true, Ordering::Release);
    if notification != 0 {
        let _ = substrate::notification_signal(CPtr(notification));
    }
    trona::exit()
}

/// Priorities order the run queue: higher runs at once, lower only when the suite blocks.
pub fn priority_and_affinity(ctx: &mut Ctx) -> Outcome {
    let tcb = ctx.create(ObjectType::Tcb)?;
    let affinity = substrate::tcb_set_affinity(tcb, 0);
    let bad_affinity = substrate::tcb_set_affinity(tcb, NUM_CPUS);
    ctx.delete(tcb)?;
    ok("set_affinity 0", affinity)?;
    err(
        "set_affinity NUM_CPUS",
        bad_affinity,
        Error::InvalidArgument,
    )?;

    FLAG.store(false, Ordering::Relaxed);
    let high = ctx.spawn_at(raise_flag, 0, PRIORITY + 1)?;
    let ran_first = FLAG.load(Ordering::Acquire);
    ctx.destroy(high)?;
    ensure!(
        ran_first,
        "a higher-priority thread did not run before resume returned"
    );

    FLAG.store(false, Ordering::Relaxed);
    let notification = ctx.create(ObjectType::Notification)?;
    let low = ctx.spawn_at(raise_flag, notification.0, PRIORITY - 1)?;
    ctx.wait_until(3, || false);
    let ran_while_busy = FLAG.load(Ordering::Acquire);
    let word = substrate::notification_wait(notification);
    let ran_while_blocked = FLAG.load(Ordering::Acquire);
    ctx.destroy(low)?;
    ctx.delete(notification)?;
    ensure!(
        !ran_while_busy,
        "a lower-priority thread ran while the suite was runnable"
    );
    ok("wait for the lower-priority thread", word)?;
    ensure!(
        ran_while_blocked,
        "the lower-priority thread did not run while the suite was blocked"
    );
    Ok(())
}

/// Lowering the running thread's own priority below a runnable thread's hands it the CPU
/// before `set_priority` returns.
pub fn lower_own_priority(ctx: &mut Ctx) -> Outcome {
    FLAG.store(false, Ordering::Relaxed);
    let thread = ctx.create_thread(raise_flag, 0)?;
    let resumed = substrate::tcb_resume(thread.tcb);
    let ran_early = FLAG.load(Ordering::Acquire);
    let lowered = substrate::tcb_set_priority(SELF_TCB, PRIORITY - 1, SELF_TCB);
    let ran_on_lowering = FLAG.load(Ordering::Acquire);
    let restored = substrate::tcb_set_priority(SELF_TCB, PRIORITY, SELF_TCB);
    ctx.destroy(thread)?;
    ok("resume", resumed)?;
    ok("lower the suite's priority", lowered)?;
    ok("restore the suite's priority", restored)?;
    ensure!(
        !ran_early,
        "a thread of equal priority preempted the suite on resume"
    );
    ensure!(
        ran_on_lowering,
        "the now higher-priority thread did not run when the suite lowered itself"
    );
    Ok(())
}

/// A TCB binds one notification at a time.
pub fn bind_notification(ctx: &mut Ctx) -> Outcome {
    let tcb = ctx.create(ObjectType::Tcb)?;
    let first = ctx.create(ObjectType::Notification)?;
    let second = ctx.create(ObjectType::Notification)?;
    let result = bind_checks(tcb, first, second);
    // The TCB goes first: a notification still bound to it could not be deleted.
    ctx.delete(tcb)?;
    ctx.delete(second)?;
    ctx.delete(first)?;
    result
}

fn bind_checks(tcb: CPtr, first: CPtr, second: CPtr) -> Outcome {
    err(
        "unbind with nothing bound",
        substrate::tcb_unbind_notification(tcb),
        Error::IllegalOperation,
    )?;
    ok("bind", substrate::tcb_bind_notification(tcb, first))?;
    err(
        "bind a second notification",
        substrate::tcb_bind_notification(tcb, second),
        Error::IllegalOperation,
    )?;
    ok("unbind", substrate::tcb_unbind_notification(tcb))?;
    ok(
        "bind the other notification",
        substrate::tcb_bind_notification(tcb, second),
    )?;
    ok("unbind", substrate::tcb_unbind_notification(tcb))?;
    err(
        "bind a CNode",
        substrate::tcb_bind_notification(tcb, ROOT_CNODE),
        Error::WrongObjectType,
    )
}

/// A configured TCB can be reconfigured; configure checks both capabilities.
pub fn configure(ctx: &mut Ctx) -> Outcome {
    let tcb = ctx.create(ObjectType::Tcb)?;
    let first = substrate::tcb_configure(tcb, ROOT_CNODE, ROOT_VSPACE);
    let again = substrate::tcb_configure(tcb, ROOT_CNODE, ROOT_VSPACE);
    let swapped = substrate::tcb_configure(tcb, ROOT_VSPACE, ROOT_CNODE);
    ctx.delete(tcb)?;
    ok("configure", first)?;
    ok("configure again", again)?;
    err(
        "configure with the capabilities swapped",
        swapped,
        Error::WrongObjectType,
    )
}

/// CPU times grow while a thread runs and stay zero for a thread that never ran.
pub fn cpu_times(ctx: &mut Ctx) -> Outcome {
    let mut before = CpuTimes::default();
    ok(
        "get_cpu_times",
        substrate::tcb_get_cpu_times(SELF_TCB, address_of_mut(&mut before)),
    )?;
    ensure!(spin_ticks(5), "the timer did not tick");
    let mut after = CpuTimes::default();
    ok(
        "get_cpu_times",
        substrate::tcb_get_cpu_times(SELF_TCB, address_of_mut(&mut after)),
    )?;
    let ticks_before = before.user_ticks + before.system_ticks;
    let ticks_after = after.user_ticks + after.system_ticks;
    ensure!(
        ticks_after >= ticks_before + 3,
        "ticks charged went from {ticks_before} to {ticks_after} over five ticks"
    );
    ensure!(
        after.user_cycles > before.user_cycles,
        "user cycles did not grow: {before:?} -> {after:?}"
    );
    ensure!(
        after.system_cycles > before.system_cycles,
        "system cycles did not grow: {before:?} -> {after:?}"
    );

    let fresh = ctx.create(ObjectType::Tcb)?;
    let mut idle = CpuTimes {
        user_ticks: 1,
        system_ticks: 1,
        user_cycles: 1,
        system_cycles: 1,
    };
    let read = substrate::tcb_get_cpu_times(fresh, address_of_mut(&mut idle));
    let read_only = substrate::tcb_get_cpu_times(fresh, UserAddr(BOOTINFO_VADDR));
    ctx.delete(fresh)?;
    ok("get_cpu_times of a fresh TCB", read)?;
    ensure!(
        idle == CpuTimes::default(),
        "a TCB that never ran reports {idle:?}"
    );
    err(
        "get_cpu_times into a read-only page",
        read_only,
        Error::InvalidUserPointer,
    )
}

static REDIRECTED: AtomicBool = AtomicBool::new(false);
static REDIRECTED_ARGS: [AtomicU64; 6] = [const { AtomicU64::new(0) }; 6];

/// The arguments the redirected thread must receive: `UserRegisters.arg0..arg5` are the C
/// calling convention's argument registers (docs/CONTRACTS.md), so a plain function sees them.
const REDIRECT_ARGS: [u64; 6] = [
    0xfeed_f00d,
    0x1234_5678,
    0x0bad_cafe,
    0xdead_beef,
    0x5555_aaaa,
    0x0123_4567,
];

extern "C" fn record_args(arg0: u64, arg1: u64, arg2: u64, arg3: u64, arg4: u64, arg5: u64) -> ! {
    for (slot, value) in REDIRECTED_ARGS
        .iter()
        .zip([arg0, arg1, arg2, arg3, arg4, arg5])
    {
        slot.store(value, Ordering::Relaxed);
    }
    REDIRECTED.store(true, Ordering::Release);
    trona::exit()
}

/// Registers written into a suspended thread take effect when it resumes: it continues at
/// the new instruction pointer with the new argument.
pub fn redirect_suspended_thread(ctx: &mut Ctx) -> Outcome {
    REDIRECTED.store(false, Ordering::Relaxed);
    for slot in &REDIRECTED_ARGS {
        slot.store(0, Ordering::Relaxed);
    }
    COUNTER.store(0, Ordering::Relaxed);
    let thread = ctx.spawn(count_and_yield, 0)?;
    let result = redirect_checks(ctx, thread.tcb, thread.stack.end());
    ctx.destroy(thread)?;
    result
}

/// Registers that start `record_args` with [`REDIRECT_ARGS`] on a fresh frame near the top
/// of the stack ending at `stack_end`, as a call would leave it.
fn redirect_registers(stack_end: u64) -> UserRegisters {
    let [arg0, arg1, arg2, arg3, arg4, arg5] = REDIRECT_ARGS;
    UserRegisters {
        ip: record_args as extern "C" fn(u64, u64, u64, u64, u64, u64) -> ! as usize as u64,
        sp: rootlib::entry_stack_pointer(stack_end - 16),
        arg0,
        arg1,
        arg2,
        arg3,
        arg4,
        arg5,
    }
}

fn redirect_checks(ctx: &mut Ctx, tcb: CPtr, stack_end: u64) -> Outcome {
    let ran = ctx.wait_until(DEFAULT_TIMEOUT_TICKS, || {
        COUNTER.load(Ordering::Relaxed) > 0
    });
    ensure!(ran, "the thread never ran");
    ok("suspend", substrate::tcb_suspend(tcb))?;
    let regs = redirect_registers(stack_end);
    ok(
        "write_registers",
        substrate::tcb_write_registers(tcb, address_of(&regs)),
    )?;
    let counted = COUNTER.load(Ordering::Relaxed);
    ok("resume", substrate::tcb_resume(tcb))?;
    let arrived = ctx.wait_until(DEFAULT_TIMEOUT_TICKS, || REDIRECTED.load(Ordering::Acquire));
    let args = REDIRECTED_ARGS
        .each_ref()
        .map(|slot| slot.load(Ordering::Relaxed));
    ensure!(
        arrived,
        "the thread did not run at its new instruction pointer"
    );
    ensure!(
        args == REDIRECT_ARGS,
        "the redirected thread got arguments {args:x?}, expected {REDIRECT_ARGS:x?}"
    );
    let after = COUNTER.load(Ordering::Relaxed);
    ensure!(
        after == counted,
        "the old loop kept running after the redirect ({counted} -> {after})"
    );
    Ok(())
}

static WAITED: AtomicU64 = AtomicU64::new(0);

extern "C" fn wait_forever(notification: u64) -> ! {
    loop {
        WAITED.fetch_add(1, Ordering::Relaxed);
        let _ = substrate::notification_wait(CPtr(notification));
    }
}

/// Experiment: a thread blocked in a wait (suspended first or not) that gets new registers
/// runs at them, and its wait's hold on the notification is gone.
pub fn redirect_waiting_thread(ctx: &mut Ctx) -> Outcome {
    for suspend_first in [false, true] {
        let ntfn = ctx.create(ObjectType::Notification)?;
        REDIRECTED.store(false, Ordering::Relaxed);
        WAITED.store(0, Ordering::Relaxed);
        let thread = ctx.spawn(wait_forever, ntfn.0)?;
        ctx.wait_until(3, || false);
        ensure!(WAITED.load(Ordering::Relaxed) == 1, "did not wait once");
        if suspend_first {
            ok("suspend", substrate::tcb_suspend(thread.tcb))?;
        }
        let regs = redirect_registers(thread.stack.end());
        ok(
            "write_registers",
            substrate::tcb_write_registers(thread.tcb, address_of(&regs)),
        )?;
        if suspend_first {
            ok("resume", substrate::tcb_resume(thread.tcb))?;
        }
        let arrived = ctx.wait_until(DEFAULT_TIMEOUT_TICKS, || REDIRECTED.load(Ordering::Acquire));
        let args = REDIRECTED_ARGS
            .each_ref()
            .map(|slot| slot.load(Ordering::Relaxed));
        let deleted = substrate::cnode_delete(ROOT_CNODE, ntfn.0);
        ctx.destroy(thread)?;
        ensure!(
            arrived,
            "suspend_first={suspend_first}: never ran at the new ip"
        );
        ensure!(
            args == REDIRECT_ARGS,
            "suspend_first={suspend_first}: args {args:x?}"
        );
        ensure!(WAITED.load(Ordering::Relaxed) == 1, "waited again");
        ok("delete the notification (no hold left)", deleted)?;
    }
    Ok(())
}
