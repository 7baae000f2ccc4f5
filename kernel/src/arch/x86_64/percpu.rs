//! The per-CPU block reached through GS: points the GS MSRs at the shared block (`arch/percpu.rs`) and records the running thread.

use x86_64::VirtAddr;
use x86_64::registers::model_specific::{GsBase, KernelGsBase};

use super::cpu;
use crate::arch::percpu::{block, canary_from};

/// Fills the block for CPU 0 and points GS at it. While the kernel runs, GS_BASE holds the
/// block and KERNEL_GS_BASE the user's GS base (0); every entry from and return to user
/// mode exchanges them with `swapgs`.
pub fn init() {
    let block = block();
    let canary = canary_from(cpu::rdtsc());
    // SAFETY: Runs once in early boot; nothing reads the block before GS points at it.
    unsafe {
        (*block).self_ptr = block as u64;
        (*block).cpu_id = 0;
        (*block).stack_canary = canary;
    }
    GsBase::write(VirtAddr::new(block as u64));
    KernelGsBase::write(VirtAddr::new(0));
}

/// Records the running thread: its TCB address and the top of its kernel stack, which the
/// next `syscall` entry loads into rsp.
pub fn set_current(tcb_addr: u64, kernel_stack_top: u64) {
    // SAFETY: Single CPU, interrupts off in the kernel: no concurrent access.
    unsafe {
        (*block()).current_thread = tcb_addr;
        (*block()).kernel_rsp = kernel_stack_top;
    }
}

/// The running thread as [`set_current`] recorded it: its TCB address and the top of its
/// kernel stack (both 0 before the first thread).
pub fn current() -> (u64, u64) {
    // SAFETY: Plain reads of fields only this CPU writes, with interrupts off.
    unsafe { ((*block()).current_thread, (*block()).kernel_rsp) }
}
