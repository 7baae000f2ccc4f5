//! What the `x86_64` crate does not say for us: CPUID feature bits, the free protections (SMEP, SMAP, UMIP) and halting.
//!
//! Port I/O, MSRs, control registers and XCR0 come from the `x86_64` crate
//! (`x86_64::instructions::port`, `x86_64::registers::{control, model_specific,
//! xcontrol}`) at their call sites; this module keeps only the kernel's own policy.

use x86_64::PhysAddr;
use x86_64::registers::control::{Cr2, Cr3, Cr4, Cr4Flags};
use x86_64::structures::paging::PhysFrame;

/// The result registers of one CPUID leaf.
pub use core::arch::x86_64::CpuidResult;

/// Runs CPUID for `leaf` / `subleaf`.
pub fn cpuid(leaf: u32, subleaf: u32) -> CpuidResult {
    core::arch::x86_64::__cpuid_count(leaf, subleaf)
}

/// Reads the time-stamp counter.
pub fn rdtsc() -> u64 {
    // SAFETY: RDTSC only reads the cycle counter; every x86_64 CPU has it.
    unsafe { core::arch::x86_64::_rdtsc() }
}

/// Reads CR2 (the faulting address of the last page fault).
pub fn read_cr2() -> u64 {
    Cr2::read_raw()
}

/// Reads CR3 as the raw value the kernel deals in (root table address; no PCIDs).
pub fn read_cr3() -> u64 {
    let (frame, flags) = Cr3::read_raw();
    frame.start_address().as_u64() | u64::from(flags)
}

/// Loads CR3 with a raw value from [`read_cr3`] or a page-aligned root address.
///
/// # Safety
/// `value` must name a valid PML4 that maps the kernel half.
pub unsafe fn write_cr3(value: u64) {
    let frame = PhysFrame::containing_address(PhysAddr::new(value & !0xfff));
    // SAFETY: The caller guarantees a valid root; the low bits are the PCD/PWT flags.
    unsafe { Cr3::write_raw(frame, (value & 0xfff) as u16) };
}

/// Halts forever with interrupts off.
pub fn halt_forever() -> ! {
    x86_64::instructions::interrupts::disable();
    loop {
        // With IF clear only NMIs wake the CPU, and the loop halts again.
        x86_64::instructions::hlt();
    }
}

/// Which of the free protections [`enable_protections`] turned on.
#[derive(Clone, Copy, Debug, Default)]
pub struct Protections {
    /// The kernel cannot execute user pages.
    pub smep: bool,
    /// The kernel cannot read or write user pages through user addresses (it reaches user
    /// memory only through `usermem`, which goes through the direct map).
    pub smap: bool,
    /// User mode cannot read the descriptor-table registers.
    pub umip: bool,
}

/// Turns on SMEP, SMAP and UMIP where the CPU has them.
pub fn enable_protections() -> Protections {
    let leaf7 = cpuid(7, 0);
    let found = Protections {
        smep: leaf7.ebx & (1 << 7) != 0,
        smap: leaf7.ebx & (1 << 20) != 0,
        umip: leaf7.ecx & (1 << 2) != 0,
    };
    let mut cr4 = Cr4::read();
    cr4.set(Cr4Flags::SUPERVISOR_MODE_EXECUTION_PROTECTION, found.smep);
    cr4.set(Cr4Flags::SUPERVISOR_MODE_ACCESS_PREVENTION, found.smap);
    cr4.set(Cr4Flags::USER_MODE_INSTRUCTION_PREVENTION, found.umip);
    // SAFETY: These bits only restrict what user mode and user pages can do; the CPU
    // reported them as supported.
    unsafe { Cr4::write(cr4) };
    found
}

/// Executes a permanently undefined instruction (`ud2`) in kernel mode; the exception
/// handler panics (the kernel fault test).
#[cfg(feature = "kernel-fault-test")]
pub fn undefined_instruction() -> ! {
    // SAFETY: `ud2` raises #UD; in kernel mode that is a kernel panic, which does
    // not return here.
    unsafe { core::arch::asm!("ud2", options(nomem, nostack, noreturn)) }
}
