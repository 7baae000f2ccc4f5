//! The per-CPU block reached through GS: points the GS MSRs at this CPU's block (`arch/percpu.rs`), finds it again, and records the running thread.

use core::mem::offset_of;

use x86_64::VirtAddr;
use x86_64::registers::model_specific::{GsBase, KernelGsBase};

use super::PerCpuData;
use super::cpu;
use crate::arch::percpu::prepare;

/// Fills the block of CPU `cpu` (the running one) and points GS at it. While the kernel
/// runs, GS_BASE holds the block and KERNEL_GS_BASE the user's GS base (0); every entry
/// from and return to user mode exchanges them with `swapgs`.
pub fn init(cpu: usize) {
    let block = prepare(cpu, cpu::rdtsc());
    GsBase::write(VirtAddr::new(block as u64));
    KernelGsBase::write(VirtAddr::new(0));
}

/// The running CPU's block (GS must point at it: [`init`] ran on this CPU).
fn block() -> *mut PerCpuData {
    let block: u64;
    // SAFETY: A read through GS of the block's own address, which `init` stored; the
    // offset comes from the generated layout.
    unsafe {
        core::arch::asm!(
            "mov {block}, gs:[{offset}]",
            block = out(reg) block,
            offset = const offset_of!(PerCpuData, self_ptr),
            options(nostack, readonly, preserves_flags)
        )
    };
    block as *mut PerCpuData
}

/// The index of the running CPU, from its block.
pub fn cpu_index() -> usize {
    let cpu: u64;
    // SAFETY: As in `block`: a read through GS of a field `init` stored.
    unsafe {
        core::arch::asm!(
            "mov {cpu}, gs:[{offset}]",
            cpu = out(reg) cpu,
            offset = const offset_of!(PerCpuData, cpu_id),
            options(nostack, readonly, preserves_flags)
        )
    };
    cpu as usize
}

/// Records the running thread: its TCB address and the top of its kernel stack, which the
/// next `syscall` entry loads into rsp.
pub fn set_current(tcb_addr: u64, kernel_stack_top: u64) {
    // SAFETY: The block belongs to the running CPU, with interrupts off in the kernel: no
    // concurrent access.
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
