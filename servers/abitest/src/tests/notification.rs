//! Notifications: signal, poll, and wait both with the word already set and blocking until another thread signals.

use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use trona::substrate;
use trona::uapi::{CPtr, Error, ObjectType};

use crate::ctx::Ctx;
use crate::harness::{Outcome, ensure, err, ok};

/// Poll, signal and wait on one thread: the word accumulates and is cleared by taking it.
pub fn signal_poll_wait(ctx: &mut Ctx) -> Outcome {
    let notification = ctx.create(ObjectType::Notification)?;
    let result = single_thread_checks(notification);
    ctx.delete(notification)?;
    result
}

fn single_thread_checks(notification: CPtr) -> Outcome {
    err(
        "poll a fresh notification",
        substrate::notification_poll(notification),
        Error::WouldBlock,
    )?;
    ok("signal", substrate::notification_signal(notification))?;
    ok("signal again", substrate::notification_signal(notification))?;
    let word = ok("poll", substrate::notification_poll(notification))?;
    ensure!(
        word == 1,
        "two unbadged signals gave the word {word:#x}, expected 1"
    );
    err(
        "poll after taking the word",
        substrate::notification_poll(notification),
        Error::WouldBlock,
    )?;
    ok("signal", substrate::notification_signal(notification))?;
    let word = ok(
        "wait with the word already set",
        substrate::notification_wait(notification),
    )?;
    ensure!(word == 1, "wait returned {word:#x}, expected 1");
    err(
        "poll after wait",
        substrate::notification_poll(notification),
        Error::WouldBlock,
    )
}

static SIGNALLER_STARTED: AtomicBool = AtomicBool::new(false);

extern "C" fn signaller(notification: u64) -> ! {
    SIGNALLER_STARTED.store(true, Ordering::Release);
    // Give the waiter time to block first.
    for _ in 0..10 {
        let _ = substrate::sched_yield();
    }
    let _ = substrate::notification_signal(CPtr(notification));
    trona::exit()
}

/// `wait` blocks until another thread signals, and the blocked thread leaves the CPU to it.
pub fn wait_blocks_until_signalled(ctx: &mut Ctx) -> Outcome {
    SIGNALLER_STARTED.store(false, Ordering::Relaxed);
    let notification = ctx.create(ObjectType::Notification)?;
    let thread = ctx.spawn(signaller, notification.0)?;
    let before = ctx.fault_count()?;
    // The wait has no timeout: if the signal never came the suite would hang, which the
    // xtask time limit reports.
    let word = substrate::notification_wait(notification);
    let started = SIGNALLER_STARTED.load(Ordering::Acquire);
    let after = substrate::notification_poll(notification);
    ctx.destroy(thread)?;
    ctx.delete(notification)?;
    let word = ok("wait", word)?;
    ensure!(word == 1, "wait returned {word:#x}, expected 1");
    ensure!(started, "wait returned before the signalling thread ran");
    err("poll after wait", after, Error::WouldBlock)?;
    ensure!(
        ctx.fault_count()? == before,
        "a thread faulted during the test"
    );
    Ok(())
}

static WAITERS_READY: AtomicU64 = AtomicU64::new(0);
static WAITERS_WOKEN: AtomicU64 = AtomicU64::new(0);

extern "C" fn counting_waiter(notification: u64) -> ! {
    WAITERS_READY.fetch_add(1, Ordering::AcqRel);
    let _ = substrate::notification_wait(CPtr(notification));
    WAITERS_WOKEN.fetch_add(1, Ordering::AcqRel);
    trona::exit()
}

/// How long these tests wait for the event they test, in timer ticks: generous, so that a
/// slow or loaded host makes them slower, never failing.
const EVENT_BOUND_TICKS: u64 = 1000;

/// Yields this many times to let every other ready thread of the suite's priority run
/// (round robin: each yield runs all of them once). Counted in yields, not ticks, so
/// that it means the same on a loaded host: used to let waiters block, and to give a
/// wrong wake-up its chance to happen.
const SETTLE_YIELDS: u32 = 20;

fn settle() {
    for _ in 0..SETTLE_YIELDS {
        let _ = substrate::sched_yield();
    }
}

/// With two threads waiting, each signal wakes exactly one of them.
pub fn one_signal_wakes_one_waiter(ctx: &mut Ctx) -> Outcome {
    WAITERS_READY.store(0, Ordering::Relaxed);
    WAITERS_WOKEN.store(0, Ordering::Relaxed);
    let notification = ctx.create(ObjectType::Notification)?;
    let first = ctx.spawn(counting_waiter, notification.0)?;
    let second = ctx.spawn(counting_waiter, notification.0)?;
    let ready = ctx.wait_until(EVENT_BOUND_TICKS, || {
        WAITERS_READY.load(Ordering::Acquire) == 2
    });
    settle();
    let woken_before = WAITERS_WOKEN.load(Ordering::Acquire);
    let signal = substrate::notification_signal(notification);
    // Wait for the one wake-up, then give a second, wrong one its chance.
    ctx.wait_until(EVENT_BOUND_TICKS, || {
        WAITERS_WOKEN.load(Ordering::Acquire) >= 1
    });
    settle();
    let woken_once = WAITERS_WOKEN.load(Ordering::Acquire);
    let signal_again = substrate::notification_signal(notification);
    ctx.wait_until(EVENT_BOUND_TICKS, || {
        WAITERS_WOKEN.load(Ordering::Acquire) == 2
    });
    let woken_twice = WAITERS_WOKEN.load(Ordering::Acquire);
    ctx.destroy(second)?;
    ctx.destroy(first)?;
    ctx.delete(notification)?;
    ensure!(ready, "the waiters never ran");
    ensure!(woken_before == 0, "a waiter woke without a signal");
    ok("signal", signal)?;
    ensure!(woken_once == 1, "one signal woke {woken_once} waiters");
    ok("signal again", signal_again)?;
    ensure!(woken_twice == 2, "two signals woke {woken_twice} waiters");
    Ok(())
}

static SUSPENDED_WAITER_WOKE: AtomicBool = AtomicBool::new(false);

extern "C" fn flagging_waiter(notification: u64) -> ! {
    WAITERS_READY.fetch_add(1, Ordering::AcqRel);
    let _ = substrate::notification_wait(CPtr(notification));
    SUSPENDED_WAITER_WOKE.store(true, Ordering::Release);
    trona::exit()
}

/// A waiter that is suspended does not run when the notification is signalled.
pub fn suspended_waiter_stays_suspended(ctx: &mut Ctx) -> Outcome {
    WAITERS_READY.store(0, Ordering::Relaxed);
    SUSPENDED_WAITER_WOKE.store(false, Ordering::Relaxed);
    let notification = ctx.create(ObjectType::Notification)?;
    let thread = ctx.spawn(flagging_waiter, notification.0)?;
    let ready = ctx.wait_until(EVENT_BOUND_TICKS, || {
        WAITERS_READY.load(Ordering::Acquire) == 1
    });
    settle();
    let suspend = substrate::tcb_suspend(thread.tcb);
    let signal = substrate::notification_signal(notification);
    // A wrong wake-up would run the waiter within a round of yields.
    settle();
    let woke = SUSPENDED_WAITER_WOKE.load(Ordering::Acquire);
    // Resumed, it waits again and finds the word the signal left.
    let resume = substrate::tcb_resume(thread.tcb);
    let woke_after_resume = ctx.wait_until(EVENT_BOUND_TICKS, || {
        SUSPENDED_WAITER_WOKE.load(Ordering::Acquire)
    });
    let word_left = substrate::notification_poll(notification);
    ctx.destroy(thread)?;
    ctx.delete(notification)?;
    ensure!(ready, "the waiter never ran");
    ok("suspend the waiter", suspend)?;
    ok("signal", signal)?;
    ensure!(!woke, "a suspended thread ran after a signal");
    ok("resume the waiter", resume)?;
    ensure!(
        woke_after_resume,
        "the resumed waiter did not take the pending word"
    );
    err(
        "poll after the waiter took the word",
        word_left,
        Error::WouldBlock,
    )
}
