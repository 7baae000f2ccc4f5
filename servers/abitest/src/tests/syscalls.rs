//! Tests of the plain syscalls: null, ticks, debug_write, sched_yield and thread_exit.

use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use trona::substrate;
use trona::uapi::{DEBUG_WRITE_MAX, Error, UserAddr};

use crate::ctx::{Ctx, spin_ticks};
use crate::harness::{Outcome, ensure, err, ok};
use crate::tests::{KERNEL_ADDRESS, NON_CANONICAL_ADDRESS};

/// `null` returns success.
pub fn null(_: &mut Ctx) -> Outcome {
    ok("null", substrate::null())
}

/// `ticks` advances while the suite spins.
pub fn ticks_advance(_: &mut Ctx) -> Outcome {
    let start = ok("ticks", substrate::ticks())?;
    ensure!(
        spin_ticks(3),
        "ticks stayed at {start} for far longer than three ticks"
    );
    let end = ok("ticks", substrate::ticks())?;
    ensure!(end >= start + 3, "ticks went from {start} to {end}");
    Ok(())
}

/// `debug_write` writes valid buffers and refuses every kind of bad one.
pub fn debug_write(ctx: &mut Ctx) -> Outcome {
    let text = b"abitest: debug_write probe\n";
    let address = UserAddr(text.as_ptr() as usize as u64);
    let written = ok(
        "debug_write",
        substrate::debug_write(address, text.len() as u64),
    )?;
    ensure!(
        written == text.len() as u64,
        "debug_write wrote {written} of {} bytes",
        text.len()
    );
    let written = ok("debug_write of nothing", substrate::debug_write(address, 0))?;
    ensure!(written == 0, "debug_write of nothing wrote {written} bytes");

    // One trap writes at most DEBUG_WRITE_MAX bytes, however long the request.
    static LONG: [u8; 2 * DEBUG_WRITE_MAX as usize] = [b'-'; 2 * DEBUG_WRITE_MAX as usize];
    let long = UserAddr(LONG.as_ptr() as usize as u64);
    for (what, len) in [
        ("a request of twice the bound", LONG.len() as u64),
        ("a request of 1 TiB, mostly unmapped", 1 << 40),
    ] {
        let written = ok(what, substrate::debug_write(long, len))?;
        ensure!(
            written == DEBUG_WRITE_MAX,
            "{what}: wrote {written} bytes, expected DEBUG_WRITE_MAX ({DEBUG_WRITE_MAX})"
        );
    }
    trona::println!();

    let bad = Error::InvalidUserPointer;
    err(
        "kernel address",
        substrate::debug_write(UserAddr(KERNEL_ADDRESS), 8),
        bad,
    )?;
    err(
        "non-canonical address",
        substrate::debug_write(UserAddr(NON_CANONICAL_ADDRESS), 8),
        bad,
    )?;
    let unmapped = ctx.unmapped_address()?;
    err(
        "unmapped address",
        substrate::debug_write(UserAddr(unmapped), 8),
        bad,
    )?;
    err(
        "wrapping range",
        substrate::debug_write(UserAddr(u64::MAX - 7), 16),
        bad,
    )?;
    err(
        "wrapping length",
        substrate::debug_write(address, u64::MAX),
        bad,
    )?;
    let page = ctx.pages(1, crate::READ_WRITE)?;
    let straddling = substrate::debug_write(UserAddr(page.end() - 4), 8);
    ctx.release_pages(page)?;
    err("range running into an unmapped page", straddling, bad)
}

static YIELDER_ROUNDS: AtomicU64 = AtomicU64::new(0);

extern "C" fn yielder(_: u64) -> ! {
    loop {
        YIELDER_ROUNDS.fetch_add(1, Ordering::Relaxed);
        let _ = substrate::sched_yield();
    }
}

/// `sched_yield` hands the CPU to another thread of the same priority.
pub fn sched_yield(ctx: &mut Ctx) -> Outcome {
    YIELDER_ROUNDS.store(0, Ordering::Relaxed);
    let thread = ctx.spawn(yielder, 0)?;
    let mut result = Ok(());
    for _ in 0..20 {
        if let Err(failure) = ok("sched_yield", substrate::sched_yield()) {
            result = Err(failure);
            break;
        }
    }
    let rounds = YIELDER_ROUNDS.load(Ordering::Relaxed);
    ctx.destroy(thread)?;
    result?;
    ensure!(
        rounds >= 10,
        "the other thread ran only {rounds} times during 20 yields"
    );
    Ok(())
}

static EXIT_STARTED: AtomicBool = AtomicBool::new(false);
static EXIT_RETURNED: AtomicBool = AtomicBool::new(false);

extern "C" fn exiter(_: u64) -> ! {
    EXIT_STARTED.store(true, Ordering::Release);
    let _ = substrate::thread_exit();
    EXIT_RETURNED.store(true, Ordering::Release);
    loop {
        let _ = substrate::sched_yield();
    }
}

/// `thread_exit` ends the calling thread for good, without a fault.
pub fn thread_exit(ctx: &mut Ctx) -> Outcome {
    EXIT_STARTED.store(false, Ordering::Relaxed);
    EXIT_RETURNED.store(false, Ordering::Relaxed);
    let faults = ctx.fault_count()?;
    let thread = ctx.spawn(exiter, 0)?;
    let started = ctx.wait_until(100, || EXIT_STARTED.load(Ordering::Acquire));
    let returned = ctx.wait_until(5, || EXIT_RETURNED.load(Ordering::Acquire));
    ctx.destroy(thread)?;
    ensure!(started, "the thread never ran");
    ensure!(!returned, "thread_exit returned to the thread");
    let after = ctx.fault_count()?;
    ensure!(
        after == faults,
        "thread_exit counted as a fault ({faults} -> {after})"
    );
    Ok(())
}
