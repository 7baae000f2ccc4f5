//! The per-CPU block reached through TPIDR_EL1: points it at this CPU's block (`arch/percpu.rs`), finds it again, and records the running thread.

use aarch64_cpu::registers::{Readable, TPIDR_EL1, Writeable};

use super::PerCpuData;
use super::cpu;
use crate::arch::percpu::prepare;

/// Fills the block of CPU `cpu` (the running one) and points TPIDR_EL1 at it (user mode
/// cannot read TPIDR_EL1, so it needs no swapping on entry and exit).
pub fn init(cpu: usize) {
    let block = prepare(cpu, cpu::read_cntvct());
    TPIDR_EL1.set(block as u64);
}

/// The running CPU's block ([`init`] must have run on this CPU).
fn block() -> *mut PerCpuData {
    TPIDR_EL1.get() as *mut PerCpuData
}

/// The index of the running CPU, from its block.
pub fn cpu_index() -> usize {
    // SAFETY: A plain read of a field `init` wrote before pointing TPIDR_EL1 at the block.
    unsafe { (*block()).cpu_id as usize }
}

/// Records the running thread: its TCB address and the top of its kernel stack, which the
/// return-to-user path checks against the stack it is on.
pub fn set_current(tcb_addr: u64, kernel_stack_top: u64) {
    // SAFETY: The block belongs to the running CPU, with interrupts off in the kernel: no
    // concurrent access.
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
