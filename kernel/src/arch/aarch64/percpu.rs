//! The per-CPU block reached through TPIDR_EL1: points it at the shared block (`arch/percpu.rs`) and records the running thread.

use aarch64_cpu::registers::{TPIDR_EL1, Writeable};

use super::cpu;
use crate::arch::percpu::{block, canary_from};

/// Fills the block for this CPU and points TPIDR_EL1 at it (user mode cannot read
/// TPIDR_EL1, so it needs no swapping on entry and exit).
pub fn init() {
    let block = block();
    let canary = canary_from(cpu::read_cntvct());
    // SAFETY: Runs once in early boot; nothing reads the block before TPIDR_EL1 points at it.
    unsafe {
        (*block).self_ptr = block as u64;
        (*block).cpu_id = cpu::cpu_index();
        (*block).stack_canary = canary;
    }
    TPIDR_EL1.set(block as u64);
}

/// Records the running thread: its TCB address and the top of its kernel stack, which the
/// return-to-user path checks against the stack it is on.
pub fn set_current(tcb_addr: u64, kernel_stack_top: u64) {
    // SAFETY: Single CPU, interrupts off in the kernel: no concurrent access.
    unsafe {
        (*block()).current_thread = tcb_addr;
        (*block()).kernel_sp = kernel_stack_top;
    }
}

/// The running thread as [`set_current`] recorded it: its TCB address and the top of its
/// kernel stack (both 0 before the first thread).
pub fn current() -> (u64, u64) {
    // SAFETY: Plain reads of fields only this CPU writes, with interrupts off.
    unsafe { ((*block()).current_thread, (*block()).kernel_sp) }
}
