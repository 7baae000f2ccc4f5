//! The per-CPU block reached through TPIDR_EL1: the generated `PerCpuData` and its stack canary.

use super::cpu::{self, write_sysreg};
pub use super::generated::percpu::PerCpuData;
use crate::cell::CpuLocal;

static PERCPU: CpuLocal<PerCpuData> = CpuLocal::new(PerCpuData::ZERO);

/// Fills the block for this CPU and points TPIDR_EL1 at it (user mode cannot read
/// TPIDR_EL1, so it needs no swapping on entry and exit).
pub fn init() {
    let block = PERCPU.get();
    // The canary only has to be a value an overflowing stack is unlikely to write.
    let canary = (cpu::read_cntvct().rotate_left(29) ^ 0x6b65_726e_6974_65c0) | 1;
    // SAFETY: Runs once in early boot; nothing reads the block before TPIDR_EL1 points at it.
    unsafe {
        (*block).self_ptr = block as u64;
        (*block).cpu_id = cpu::cpu_index();
        (*block).stack_canary = canary;
        write_sysreg!("tpidr_el1", block as u64);
    }
}

/// The value the bottom word of every thread's kernel stack must hold.
pub fn stack_canary() -> u64 {
    // SAFETY: A plain read of a field only this CPU writes, with interrupts off.
    unsafe { (*PERCPU.get()).stack_canary }
}

/// Records the running thread: its TCB address and the top of its kernel stack, which the
/// return-to-user path checks against the stack it is on.
pub fn set_current(tcb_addr: u64, kernel_stack_top: u64) {
    // SAFETY: Single CPU, interrupts off in the kernel: no concurrent access.
    unsafe {
        (*PERCPU.get()).current_thread = tcb_addr;
        (*PERCPU.get()).kernel_sp = kernel_stack_top;
    }
}
