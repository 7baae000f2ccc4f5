//! Thin safe and unsafe wrappers over x86_64 instructions: port I/O, MSRs, control registers, CPUID.

use core::arch::asm;

/// `IA32_EFER`: long mode, NX and `syscall` enables.
pub const MSR_EFER: u32 = 0xc000_0080;
/// `IA32_STAR`: segment selectors for `syscall`/`sysret`.
pub const MSR_STAR: u32 = 0xc000_0081;
/// `IA32_LSTAR`: the 64-bit `syscall` entry point.
pub const MSR_LSTAR: u32 = 0xc000_0082;
/// `IA32_FMASK`: RFLAGS bits cleared on `syscall`.
pub const MSR_SFMASK: u32 = 0xc000_0084;
/// `IA32_GS_BASE`: the active GS base.
pub const MSR_GS_BASE: u32 = 0xc000_0101;
/// `IA32_KERNEL_GS_BASE`: the GS base `swapgs` exchanges with the active one.
pub const MSR_KERNEL_GS_BASE: u32 = 0xc000_0102;

/// EFER.SCE: `syscall`/`sysret` enabled.
pub const EFER_SCE: u64 = 1 << 0;
/// EFER.NXE: the no-execute page-table bit is honoured.
pub const EFER_NXE: u64 = 1 << 11;

/// Writes one byte to an I/O port.
///
/// # Safety
/// The caller must know what the device behind `port` does with the write.
pub unsafe fn outb(port: u16, value: u8) {
    // SAFETY: The caller vouches for the device side effect; the instruction touches no memory.
    unsafe {
        asm!("out dx, al", in("dx") port, in("al") value, options(nomem, nostack, preserves_flags))
    };
}

/// Writes a 32-bit value to an I/O port.
///
/// # Safety
/// The caller must know what the device behind `port` does with the write.
pub unsafe fn outl(port: u16, value: u32) {
    // SAFETY: The caller vouches for the device side effect; the instruction touches no memory.
    unsafe {
        asm!("out dx, eax", in("dx") port, in("eax") value, options(nomem, nostack, preserves_flags))
    };
}

/// Reads one byte from an I/O port.
///
/// # Safety
/// The caller must know what the device behind `port` does on a read.
pub unsafe fn inb(port: u16) -> u8 {
    let value: u8;
    // SAFETY: The caller vouches for the device side effect; the instruction touches no memory.
    unsafe {
        asm!("in al, dx", in("dx") port, out("al") value, options(nomem, nostack, preserves_flags))
    };
    value
}

/// Reads a model-specific register.
///
/// # Safety
/// `msr` must exist on this CPU, or the read faults.
pub unsafe fn rdmsr(msr: u32) -> u64 {
    let (lo, hi): (u32, u32);
    // SAFETY: The caller guarantees the MSR exists; rdmsr has no memory effects.
    unsafe {
        asm!("rdmsr", in("ecx") msr, out("eax") lo, out("edx") hi, options(nomem, nostack, preserves_flags))
    };
    (u64::from(hi) << 32) | u64::from(lo)
}

/// Writes a model-specific register.
///
/// # Safety
/// `msr` must exist and `value` must be a setting the kernel is prepared for.
pub unsafe fn wrmsr(msr: u32, value: u64) {
    // SAFETY: The caller vouches for the new machine state.
    unsafe {
        asm!("wrmsr", in("ecx") msr, in("eax") value as u32, in("edx") (value >> 32) as u32, options(nostack, preserves_flags))
    };
}

/// The result registers of one CPUID leaf.
#[derive(Clone, Copy, Debug)]
pub struct CpuidResult {
    /// EAX.
    pub eax: u32,
    /// EBX.
    pub ebx: u32,
    /// ECX.
    pub ecx: u32,
    /// EDX.
    pub edx: u32,
}

/// Runs CPUID for `leaf` / `subleaf`.
pub fn cpuid(leaf: u32, subleaf: u32) -> CpuidResult {
    let r = core::arch::x86_64::__cpuid_count(leaf, subleaf);
    CpuidResult {
        eax: r.eax,
        ebx: r.ebx,
        ecx: r.ecx,
        edx: r.edx,
    }
}

/// Reads CR0.
pub fn read_cr0() -> u64 {
    let v: u64;
    // SAFETY: Reading a control register has no side effects.
    unsafe { asm!("mov {}, cr0", out(reg) v, options(nomem, nostack, preserves_flags)) };
    v
}

/// Writes CR0.
///
/// # Safety
/// The new value must keep paging and protection consistent with the kernel's setup.
pub unsafe fn write_cr0(v: u64) {
    // SAFETY: The caller vouches for the new control state.
    unsafe { asm!("mov cr0, {}", in(reg) v, options(nostack, preserves_flags)) };
}

/// Reads CR2, the faulting linear address of the last page fault.
pub fn read_cr2() -> u64 {
    let v: u64;
    // SAFETY: Reading a control register has no side effects.
    unsafe { asm!("mov {}, cr2", out(reg) v, options(nomem, nostack, preserves_flags)) };
    v
}

/// Reads CR3, the physical address of the active top-level page table.
pub fn read_cr3() -> u64 {
    let v: u64;
    // SAFETY: Reading a control register has no side effects.
    unsafe { asm!("mov {}, cr3", out(reg) v, options(nomem, nostack, preserves_flags)) };
    v
}

/// Writes CR3, switching address spaces and flushing non-global TLB entries.
///
/// # Safety
/// `v` must be the physical address of a valid PML4 that maps the running kernel.
pub unsafe fn write_cr3(v: u64) {
    // SAFETY: The caller guarantees the new tables map the kernel identically.
    unsafe { asm!("mov cr3, {}", in(reg) v, options(nostack, preserves_flags)) };
}

/// Reads CR4.
pub fn read_cr4() -> u64 {
    let v: u64;
    // SAFETY: Reading a control register has no side effects.
    unsafe { asm!("mov {}, cr4", out(reg) v, options(nomem, nostack, preserves_flags)) };
    v
}

/// Writes CR4.
///
/// # Safety
/// The new value must only enable features the CPU has and the kernel handles.
pub unsafe fn write_cr4(v: u64) {
    // SAFETY: The caller vouches for the new control state.
    unsafe { asm!("mov cr4, {}", in(reg) v, options(nostack, preserves_flags)) };
}

/// Writes XCR0, the set of state components XSAVE manages.
///
/// # Safety
/// CR4.OSXSAVE must be set and `v` must be a valid, supported component set.
pub unsafe fn write_xcr0(v: u64) {
    // SAFETY: The caller guarantees the component set is supported.
    unsafe {
        asm!("xsetbv", in("ecx") 0u32, in("eax") v as u32, in("edx") (v >> 32) as u32, options(nomem, nostack, preserves_flags))
    };
}

/// Reads the time-stamp counter.
pub fn rdtsc() -> u64 {
    let (lo, hi): (u32, u32);
    // SAFETY: RDTSC only reads the cycle counter.
    unsafe {
        asm!("rdtsc", out("eax") lo, out("edx") hi, options(nomem, nostack, preserves_flags))
    };
    (u64::from(hi) << 32) | u64::from(lo)
}

/// Disables maskable interrupts.
pub fn disable_interrupts() {
    // SAFETY: Clearing IF cannot break memory safety.
    unsafe { asm!("cli", options(nomem, nostack)) };
}

/// Halts forever with interrupts off.
pub fn halt_forever() -> ! {
    loop {
        // SAFETY: With IF clear only NMIs wake the CPU, and the loop halts again.
        unsafe { asm!("cli", "hlt", options(nomem, nostack)) };
    }
}

const CR4_UMIP: u64 = 1 << 11;
const CR4_SMEP: u64 = 1 << 20;
const CR4_SMAP: u64 = 1 << 21;

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
    let mut cr4 = read_cr4();
    for (present, bit) in [
        (found.smep, CR4_SMEP),
        (found.smap, CR4_SMAP),
        (found.umip, CR4_UMIP),
    ] {
        if present {
            cr4 |= bit;
        }
    }
    // SAFETY: These bits only restrict what user mode and user pages can do; the CPU
    // reported them as supported.
    unsafe { write_cr4(cr4) };
    found
}
