//! The x86_64 port: boot, console, descriptor tables, traps, timer, syscalls, threads, FPU, MMU.
//!
//! # Interface for the rest of the kernel (re-exported as `crate::arch`)
//!
//! Boot and memory
//! - [`init_early`]`(boot_arg)`: console, CPU features, GDT/TSS/IDT, per-CPU block, syscall
//!   MSRs and FPU; parses the PVH memory map and returns it as [`MemoryRegion`]s (RAM
//!   below 1 MiB or beyond the direct map is listed, but not `usable`).
//! - [`kernel_phys_range`]: the physical range the kernel image (with .bss) occupies.
//! - [`phys_to_virt`] / [`virt_to_phys`]: the direct map of all physical RAM at
//!   [`DIRECT_MAP_BASE`].
//! - [`mmu`]: page-table entry encoding and address-space switching.
//!
//! Console and machine
//! - [`console_write`], [`shutdown`] (QEMU isa-debug-exit; QEMU exits with `(code << 1) | 1`),
//!   [`cycles`] (TSC).
//! - [`timer_init`] (PIT at `abi::TICKS_PER_SEC` through the remapped 8259 PIC),
//!   [`enable_interrupts_and_halt`] for the idle loop. Interrupts are off in the kernel
//!   everywhere else; they are on in user mode.
//!
//! Traps into the kernel (the callees live outside `arch`)
//! - `syscall` → `crate::syscall::handle_syscall(&mut UserFrame)`.
//! - Timer interrupt → `crate::sched::timer_tick(from_user)`, after the end-of-interrupt.
//! - Exception in user mode → `crate::sched::user_fault(&mut UserFrame, FaultInfo)`.
//!   Exceptions in kernel mode, `#NM`, `#DF`, NMI and `#MC` panic.
//!
//! Threads
//! - [`UserFrame`]: the user registers saved on the thread's kernel stack, one layout for
//!   syscall and interrupt entry.
//! - [`KernelContext`] + [`switch_context`]: callee-saved kernel state of a thread.
//! - [`prepare_user_thread`]: lays out a fresh kernel stack of [`KERNEL_STACK_SIZE`] bytes
//!   so that switching to the returned context enters user mode through its `UserFrame`.
//! - [`set_current_thread`]: the TCB address and kernel stack top used by the next entry
//!   from user mode (per-CPU block and TSS.RSP0).
//! - [`FpuArea`]: eager XSAVE/XRSTOR area, saved and restored on every switch.

mod boot;
mod cell;
mod cpu;
mod pvh;
mod serial;

use crate::arch::MemoryRegion;

pub use pvh::MAX_REGIONS;

/// Virtual address the kernel image is linked at, minus its physical load address.
pub const KERNEL_VIRT_BASE: u64 = 0xffff_ffff_8000_0000;
/// PML4 slot of the direct map.
const DIRECT_MAP_SLOT: usize = 256;
/// Virtual address of physical address 0 in the direct map.
pub const DIRECT_MAP_BASE: u64 = 0xffff_8000_0000_0000;
/// How much physical memory the boot page tables put in the direct map.
const DIRECT_MAP_SIZE: u64 = 4 << 30;

const _: () = assert!(DIRECT_MAP_BASE == 0xffff_0000_0000_0000 | ((DIRECT_MAP_SLOT as u64) << 39));

/// The virtual address at which the direct map shows physical address `paddr`.
pub fn phys_to_virt(paddr: u64) -> usize {
    assert!(paddr < DIRECT_MAP_SIZE, "physical address {paddr:#x} lies beyond the direct map");
    (DIRECT_MAP_BASE + paddr) as usize
}

/// The physical address behind a direct-map or kernel-image virtual address.
pub fn virt_to_phys(vaddr: usize) -> u64 {
    let vaddr = vaddr as u64;
    if vaddr >= KERNEL_VIRT_BASE {
        vaddr - KERNEL_VIRT_BASE
    } else {
        assert!(
            (DIRECT_MAP_BASE..DIRECT_MAP_BASE + DIRECT_MAP_SIZE).contains(&vaddr),
            "virtual address {vaddr:#x} is neither in the direct map nor in the kernel image"
        );
        vaddr - DIRECT_MAP_BASE
    }
}

/// The physical addresses the kernel image occupies, .bss and boot page tables included.
pub fn kernel_phys_range() -> core::ops::Range<u64> {
    unsafe extern "C" {
        static __kernel_virt_start: u8;
        static __kernel_virt_end: u8;
    }
    let start = (&raw const __kernel_virt_start) as usize;
    let end = (&raw const __kernel_virt_end) as usize;
    virt_to_phys(start)..virt_to_phys(end)
}

static MEMORY_MAP: cell::CpuLocal<Option<pvh::MemoryMap>> = cell::CpuLocal::new(None);

/// Brings up the CPU and returns the physical memory map.
///
/// `boot_arg` is what the boot assembly passes to `kmain`: the physical address of the
/// PVH start info. Call once, first thing in `kmain`.
pub fn init_early(boot_arg: usize) -> &'static [MemoryRegion] {
    serial::init();
    // SAFETY: The boot assembly passes EBX from the PVH entry, and the boot page tables
    // map the first 4 GiB, where QEMU places the start info and memory map.
    let map = unsafe { pvh::parse(boot_arg as u64, DIRECT_MAP_SIZE) };
    // SAFETY: init_early runs once, before anything else reads MEMORY_MAP.
    let slot = unsafe { &mut *MEMORY_MAP.get() };
    slot.insert(map).regions()
}

/// Writes bytes to the kernel console (COM1).
pub fn console_write(bytes: &[u8]) {
    serial::write(bytes);
}

/// The cycle counter (TSC).
pub fn cycles() -> u64 {
    cpu::rdtsc()
}

const DEBUG_EXIT_PORT: u16 = 0xf4;

/// Ends the machine: QEMU's isa-debug-exit device makes QEMU exit with `(code << 1) | 1`.
/// Without that device the CPU halts forever.
pub fn shutdown(code: u32) -> ! {
    cpu::disable_interrupts();
    // SAFETY: Port 0xf4 is the isa-debug-exit device; writing it only ends the VM.
    unsafe { cpu::outl(DEBUG_EXIT_PORT, code) };
    cpu::halt_forever()
}
