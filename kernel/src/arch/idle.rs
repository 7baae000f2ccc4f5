//! Idling until the next interrupt with the big kernel lock released, the same on every port.

use super::halt_until_interrupt;
use crate::bkl;

/// Idles until the next interrupt (the scheduler's idle loop and the boot code's waits):
/// gives up the big kernel lock, lets the port wait with interrupts enabled (the handler
/// takes the lock for itself, `hooks::interrupt_in_kernel`), and takes the lock again. The
/// caller must hold the lock, and must expect that other CPUs ran kernel code meanwhile.
pub fn enable_interrupts_and_halt() {
    bkl::release();
    halt_until_interrupt();
    bkl::acquire();
}
