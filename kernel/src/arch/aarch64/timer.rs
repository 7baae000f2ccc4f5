//! The scheduler tick: the EL1 virtual timer (PPI 27) through the GIC.

use super::cpu::{read_sysreg, write_sysreg};
use super::gic;
use crate::arch::hooks;
use core::sync::atomic::{AtomicU64, Ordering};

/// The virtual timer's interrupt: PPI 11, interrupt ID 27.
const VIRTUAL_TIMER_ID: u32 = 27;
/// CNTV_CTL_EL0.ENABLE (IMASK clear).
const CNTV_CTL_ENABLE: u64 = 1;

/// Counter ticks between two timer interrupts.
static INTERVAL: AtomicU64 = AtomicU64::new(0);

/// Starts the virtual timer at `ticks_per_sec` (`abi::TICKS_PER_SEC`) and enables its
/// interrupt. Interrupts stay masked until user mode or the idle loop.
pub fn init(ticks_per_sec: u64) {
    assert!(ticks_per_sec > 0, "timer rate must be positive");
    let frequency = read_sysreg!("cntfrq_el0");
    let interval = frequency / ticks_per_sec;
    assert!(
        interval > 0,
        "{ticks_per_sec} ticks per second is faster than the {frequency} Hz counter"
    );
    INTERVAL.store(interval, Ordering::Relaxed);
    let now = super::cpu::read_cntvct();
    // SAFETY: The EL1 virtual timer belongs to the kernel; its interrupt is handled below.
    unsafe {
        write_sysreg!("cntv_cval_el0", now + interval);
        write_sysreg!("cntv_ctl_el0", CNTV_CTL_ENABLE);
    }
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
        id if id >= gic::FIRST_SPECIAL_ID => {}
        id => {
            // Only the timer is enabled, so anything else is a lost race with a mask change.
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
    let mut next = read_sysreg!("cntv_cval_el0") + interval;
    if next <= now {
        next = now + interval;
    }
    // SAFETY: Moving the deadline of the kernel's own timer.
    unsafe { write_sysreg!("cntv_cval_el0", next) };
}
