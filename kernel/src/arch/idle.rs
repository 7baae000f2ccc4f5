//! Idling until the next interrupt with the big kernel lock released, the same on every port.

use super::halt_until_interrupt;
use crate::bkl;

/// Idles until the next interrupt (the arch self test's waits):
/// gives up the big kernel lock, lets the port wait with interrupts enabled (the handler
/// takes the lock for itself, `hooks::interrupt_in_kernel`), and takes the lock again. The
/// caller must hold the lock, and must expect that other CPUs ran kernel code meanwhile.
#[cfg(feature = "arch-selftest")]
pub fn enable_interrupts_and_halt() {
    bkl::release();
    halt_until_interrupt();
    bkl::acquire();
}

/// Idles until `woken()` holds (the scheduler's idle loop): gives up the big kernel lock,
/// waits with interrupts enabled, and takes the lock again only once `woken()` says there
/// is work, so an idle CPU whose interrupts bring none (timer ticks, TLB shootdowns)
/// never contends for the lock. Whoever makes `woken()` true sends an IPI afterwards; the
/// check before each wait and the port's wait that cannot miss an interrupt
/// ([`halt_until_interrupt`]) make a lost wake-up impossible.
pub fn idle_until(mut woken: impl FnMut() -> bool) {
    bkl::release();
    while !woken() {
        halt_until_interrupt();
    }
    bkl::acquire();
}
