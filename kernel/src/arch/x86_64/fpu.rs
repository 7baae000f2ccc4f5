//! Eager FPU/SIMD state: XSAVE setup at boot and `FpuArea`, saved and restored on every switch.

use super::cpu::{self, cpuid};
use core::arch::asm;
use core::sync::atomic::{AtomicBool, AtomicU32, Ordering};

/// Bytes reserved for one thread's XSAVE area (x87, SSE and AVX need 832).
pub const FPU_AREA_SIZE: usize = 1024;

/// XCR0 components the kernel enables when the CPU has them: x87, SSE, AVX.
const XCR0_WANTED: u64 = 0b111;
const XCR0_REQUIRED: u64 = 0b011;

const CR0_MP: u64 = 1 << 1;
const CR0_EM: u64 = 1 << 2;
const CR0_TS: u64 = 1 << 3;
const CR0_NE: u64 = 1 << 5;
const CR4_OSFXSR: u64 = 1 << 9;
const CR4_OSXMMEXCPT: u64 = 1 << 10;
const CR4_OSXSAVE: u64 = 1 << 18;

const FCW_DEFAULT: u16 = 0x037f;
const MXCSR_DEFAULT: u32 = 0x1f80;
const MXCSR_OFFSET: usize = 24;

static USE_XSAVEOPT: AtomicBool = AtomicBool::new(false);
static XSAVE_SIZE: AtomicU32 = AtomicU32::new(0);

/// Enables SSE and XSAVE with CR0.TS clear (it stays clear: `#NM` is a panic), and sets
/// XCR0 to x87|SSE|AVX as far as CPUID reports them.
pub fn init() {
    let features = cpuid(1, 0);
    assert!(
        features.ecx & (1 << 26) != 0,
        "this CPU has no XSAVE; kernite switches FPU state with XSAVE (run QEMU with -cpu max)"
    );
    let supported = {
        let leaf = cpuid(0xd, 0);
        (u64::from(leaf.edx) << 32) | u64::from(leaf.eax)
    };
    let xcr0 = supported & XCR0_WANTED;
    assert!(
        xcr0 & XCR0_REQUIRED == XCR0_REQUIRED,
        "XSAVE does not manage x87 and SSE state (XCR0 support {supported:#x})"
    );
    // SAFETY: Only FPU-related control bits change; the kernel is soft-float and never
    // touches FPU registers itself, and XSAVE support was checked above.
    unsafe {
        cpu::write_cr0((cpu::read_cr0() & !(CR0_EM | CR0_TS)) | CR0_MP | CR0_NE);
        cpu::write_cr4(cpu::read_cr4() | CR4_OSFXSR | CR4_OSXMMEXCPT | CR4_OSXSAVE);
        cpu::write_xcr0(xcr0);
    }
    let size = cpuid(0xd, 0).ebx;
    assert!(
        size as usize <= FPU_AREA_SIZE,
        "XSAVE area of {size} bytes does not fit FpuArea ({FPU_AREA_SIZE} bytes)"
    );
    XSAVE_SIZE.store(size, Ordering::Relaxed);
    USE_XSAVEOPT.store(cpuid(0xd, 1).eax & 1 != 0, Ordering::Relaxed);
}

/// A description of the FPU setup for the boot log.
pub fn describe() -> (u32, &'static str) {
    let insn = if USE_XSAVEOPT.load(Ordering::Relaxed) {
        "xsaveopt"
    } else {
        "xsave"
    };
    (XSAVE_SIZE.load(Ordering::Relaxed), insn)
}

/// One thread's FPU/SIMD register state in XSAVE (standard) format.
#[repr(C, align(64))]
pub struct FpuArea([u8; FPU_AREA_SIZE]);

impl FpuArea {
    /// The clean state a new thread starts with: x87, SSE and AVX registers in their
    /// initial configuration, default control words.
    pub const fn init() -> Self {
        let mut area = [0; FPU_AREA_SIZE];
        // The XSAVE header (bytes 512..576) is zero: every component is in its initial
        // state, except MXCSR, which XRSTOR always loads from the legacy area.
        let fcw = FCW_DEFAULT.to_le_bytes();
        area[0] = fcw[0];
        area[1] = fcw[1];
        let mxcsr = MXCSR_DEFAULT.to_le_bytes();
        let mut i = 0;
        while i < mxcsr.len() {
            area[MXCSR_OFFSET + i] = mxcsr[i];
            i += 1;
        }
        FpuArea(area)
    }

    /// Saves the CPU's current FPU state into this area (XSAVEOPT when available).
    pub fn save(&mut self) {
        let ptr = self.0.as_mut_ptr();
        // SAFETY: The area is 64-byte aligned and large enough for the enabled components
        // (checked in init); XSAVE writes only inside it.
        unsafe {
            if USE_XSAVEOPT.load(Ordering::Relaxed) {
                asm!("xsaveopt64 [{}]", in(reg) ptr, in("eax") u32::MAX, in("edx") u32::MAX, options(nostack, preserves_flags));
            } else {
                asm!("xsave64 [{}]", in(reg) ptr, in("eax") u32::MAX, in("edx") u32::MAX, options(nostack, preserves_flags));
            }
        }
    }

    /// Loads this area's state into the CPU.
    pub fn restore(&self) {
        let ptr = self.0.as_ptr();
        // SAFETY: The area holds a valid XSAVE image: either from init() or from save().
        unsafe {
            asm!("xrstor64 [{}]", in(reg) ptr, in("eax") u32::MAX, in("edx") u32::MAX, options(nostack, preserves_flags, readonly));
        }
    }
}
