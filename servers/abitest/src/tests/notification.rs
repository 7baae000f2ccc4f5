//! Notifications: signal, poll, and wait both with the word already set and blocking until another thread signals.

use core::sync::atomic::{AtomicBool, Ordering};

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
