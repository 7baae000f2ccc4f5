//! The scheduler tick of every CPU: its own EL1 virtual timer (PPI 27) through the GIC.

use aarch64_cpu::asm::barrier;
use aarch64_cpu::registers::{CNTFRQ_EL0, CNTV_CTL_EL0, CNTV_CVAL_EL0, Readable, Writeable};

use super::gic;
use crate::arch::hooks;
use core::sync::atomic::{AtomicU64, Ordering};

/// The virtual timer's interrupt: PPI 11, interrupt ID 27.
const VIRTUAL_TIMER_ID: u32 = 27;

/// Counter ticks between two timer interrupts.
static INTERVAL: AtomicU64 = AtomicU64::new(0);

/// Starts the running CPU's virtual timer at `ticks_per_sec` (`abi::TICKS_PER_SEC`) and
/// enables its interrupt there. Interrupts stay masked until user mode or the idle loop.
pub fn init(ticks_per_sec: u64) {
    assert!(ticks_per_sec > 0, "timer rate must be positive");
    let frequency = CNTFRQ_EL0.get();
    let interval = frequency / ticks_per_sec;
    assert!(
        interval > 0,
        "{ticks_per_sec} ticks per second is faster than the {frequency} Hz counter"
    );
    INTERVAL.store(interval, Ordering::Relaxed);
    let now = super::cpu::read_cntvct();
    // The EL1 virtual timer belongs to the kernel; its interrupt is handled below.
    CNTV_CVAL_EL0.set(now + interval);
    CNTV_CTL_EL0.write(CNTV_CTL_EL0::ENABLE::SET + CNTV_CTL_EL0::IMASK::CLEAR);
    barrier::isb(barrier::SY);
    gic::enable(VIRTUAL_TIMER_ID);
}

/// Handles the IRQ that interrupted `frame`.
pub fn interrupt(from_user: bool) {
    let (iar, id) = gic::acknowledge();
    match id {
        VIRTUAL_TIMER_ID => {
            rearm();
            // End the interrupt first: the scheduler may switch threads and return much later.
            gic::end_of_interrupt(iar);
            hooks::timer_tick(from_user);
        }
        gic::IPI_SGI => {
            gic::end_of_interrupt(iar);
            hooks::ipi(from_user);
        }
        id if id >= gic::FIRST_SPECIAL_ID => {}
        id => {
            // Only the timer and the request SGI are enabled, so anything else is a lost race with a mask change.
            crate::println!("warning: unexpected interrupt {id}");
            gic::end_of_interrupt(iar);
        }
    }
}

/// Sets the next deadline one interval after the last, or one interval from now if the
/// kernel fell behind (no burst of catch-up ticks).
fn rearm() {
    let interval = INTERVAL.load(Ordering::Relaxed);
    let now = super::cpu::read_cntvct();
    let mut next = CNTV_CVAL_EL0.get() + interval;
    if next <= now {
        next = now + interval;
    }
    // Moving the deadline of the kernel's own timer.
    CNTV_CVAL_EL0.set(next);
    barrier::isb(barrier::SY);
}
