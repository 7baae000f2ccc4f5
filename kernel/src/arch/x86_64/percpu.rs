//! The per-CPU block reached through GS: the generated `PerCpuData`, its GS MSRs and stack canary.

use super::cpu::{self, MSR_GS_BASE, MSR_KERNEL_GS_BASE};
pub use super::generated::percpu::PerCpuData;
use crate::cell::CpuLocal;

static PERCPU: CpuLocal<PerCpuData> = CpuLocal::new(PerCpuData::ZERO);

/// Fills the block for CPU 0 and points GS at it. While the kernel runs, GS_BASE holds the
/// block and KERNEL_GS_BASE the user's GS base (0); every entry from and return to user
/// mode exchanges them with `swapgs`.
pub fn init() {
    let block = PERCPU.get();
    // The canary only has to be a value an overflowing stack is unlikely to write.
    let canary = (cpu::rdtsc().rotate_left(29) ^ 0x6b65_726e_6974_65c0) | 1;
    // SAFETY: Runs once in early boot; nothing reads the block before GS points at it.
    unsafe {
        (*block).self_ptr = block as u64;
        (*block).cpu_id = 0;
        (*block).stack_canary = canary;
        cpu::wrmsr(MSR_GS_BASE, block as u64);
        cpu::wrmsr(MSR_KERNEL_GS_BASE, 0);
    }
}

/// The value the bottom word of every thread's kernel stack must hold.
pub fn stack_canary() -> u64 {
    // SAFETY: A plain read of a field only this CPU writes, with interrupts off.
    unsafe { (*PERCPU.get()).stack_canary }
}

/// Records the running thread: its TCB address and the top of its kernel stack, which the
/// next `syscall` entry loads into rsp.
pub fn set_current(tcb_addr: u64, kernel_stack_top: u64) {
    // SAFETY: Single CPU, interrupts off in the kernel: no concurrent access.
    unsafe {
        (*PERCPU.get()).current_thread = tcb_addr;
        (*PERCPU.get()).kernel_rsp = kernel_stack_top;
    }
}
