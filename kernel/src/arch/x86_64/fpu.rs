//! Eager FPU/SIMD state: XSAVE setup at boot and `FpuArea`, saved and restored on every switch.

use super::cpu::cpuid;
use core::arch::asm;
use core::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use x86_64::registers::control::{Cr0, Cr0Flags, Cr4, Cr4Flags};
use x86_64::registers::xcontrol::{XCr0, XCr0Flags};

/// Bytes reserved for one thread's XSAVE area (x87, SSE and AVX need 832).
pub const FPU_AREA_SIZE: usize = 1024;

/// XCR0 components the kernel enables when the CPU has them: x87, SSE, AVX.
const XCR0_REQUIRED: XCr0Flags = XCr0Flags::X87.union(XCr0Flags::SSE);
const XCR0_WANTED: XCr0Flags = XCR0_REQUIRED.union(XCr0Flags::AVX);

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
    let xcr0 = XCr0Flags::from_bits_truncate(supported) & XCR0_WANTED;
    assert!(
        xcr0.contains(XCR0_REQUIRED),
        "XSAVE does not manage x87 and SSE state (XCR0 support {supported:#x})"
    );
    // SAFETY: Only FPU-related control bits change; the kernel is soft-float and never
    // touches FPU registers itself, and XSAVE support was checked above.
    unsafe {
        Cr0::update(|cr0| {
            cr0.remove(Cr0Flags::EMULATE_COPROCESSOR | Cr0Flags::TASK_SWITCHED);
            cr0.insert(Cr0Flags::MONITOR_COPROCESSOR | Cr0Flags::NUMERIC_ERROR);
        });
        Cr4::update(|cr4| {
            cr4.insert(Cr4Flags::OSFXSR | Cr4Flags::OSXMMEXCPT_ENABLE | Cr4Flags::OSXSAVE)
        });
        XCr0::write(xcr0);
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
