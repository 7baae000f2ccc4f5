//! Eager FP/SIMD state: FPEN set at boot and `FpuArea` (q0–q31, FPSR, FPCR), switched every time.
//!
//! The kernel is built soft-float and never touches these registers; only the assembly
//! here does, with the FP/SIMD extensions enabled for those instructions alone.

use aarch64_cpu::asm::barrier;
use aarch64_cpu::registers::{CPACR_EL1, ReadWriteable};

/// Bytes reserved for one thread's FP/SIMD state: 32 × 16 bytes of q registers, FPSR and
/// FPCR, rounded up to the area's 64-byte alignment.
pub const FPU_AREA_SIZE: usize = 576;
const Q_BYTES: usize = 32 * 16;

/// Sets CPACR_EL1.FPEN so FP/SIMD never traps. It stays set: an FP trap (EC 0x07) is a
/// kernel panic ("lazy FPU reintroduced").
pub fn init() {
    // Only the FP/SIMD trap control changes.
    CPACR_EL1.modify(CPACR_EL1::FPEN::TrapNothing);
    barrier::isb(barrier::SY);
}

/// A description of the FPU setup for the boot log.
pub fn describe() -> (usize, &'static str) {
    (Q_BYTES + 16, "q0-q31/fpsr/fpcr")
}

/// One thread's FP/SIMD register state: q0..q31, then FPSR and FPCR.
#[repr(C, align(64))]
pub struct FpuArea([u8; FPU_AREA_SIZE]);

const _: () = assert!(core::mem::size_of::<FpuArea>() == FPU_AREA_SIZE);
const _: () = assert!(Q_BYTES + 16 <= FPU_AREA_SIZE);

impl FpuArea {
    /// The clean state a new thread starts with: every register zero, FPCR 0 (round to
    /// nearest, no traps), FPSR 0.
    pub const fn init() -> Self {
        FpuArea([0; FPU_AREA_SIZE])
    }

    /// Saves the CPU's current FP/SIMD state into this area.
    pub fn save(&mut self) {
        let ptr = self.0.as_mut_ptr();
        // SAFETY: The area is 64-byte aligned and holds 32 q registers plus FPSR/FPCR; the
        // stores stay inside it. FP/SIMD is enabled (CPACR_EL1.FPEN).
        unsafe {
            core::arch::asm!(
                ".arch_extension fp",
                ".arch_extension simd",
                "stp q0, q1, [{p}, #0]",
                "stp q2, q3, [{p}, #32]",
                "stp q4, q5, [{p}, #64]",
                "stp q6, q7, [{p}, #96]",
                "stp q8, q9, [{p}, #128]",
                "stp q10, q11, [{p}, #160]",
                "stp q12, q13, [{p}, #192]",
                "stp q14, q15, [{p}, #224]",
                "stp q16, q17, [{p}, #256]",
                "stp q18, q19, [{p}, #288]",
                "stp q20, q21, [{p}, #320]",
                "stp q22, q23, [{p}, #352]",
                "stp q24, q25, [{p}, #384]",
                "stp q26, q27, [{p}, #416]",
                "stp q28, q29, [{p}, #448]",
                "stp q30, q31, [{p}, #480]",
                "mrs {a}, fpsr",
                "mrs {b}, fpcr",
                "str {a}, [{p}, #{q_bytes}]",
                "str {b}, [{p}, #{q_bytes} + 8]",
                p = in(reg) ptr,
                a = out(reg) _,
                b = out(reg) _,
                q_bytes = const Q_BYTES,
                options(nostack, preserves_flags)
            );
        }
    }

    /// Loads this area's state into the CPU.
    pub fn restore(&self) {
        let ptr = self.0.as_ptr();
        // SAFETY: The area holds a state from init() or save(); the loads stay inside it.
        unsafe {
            core::arch::asm!(
                ".arch_extension fp",
                ".arch_extension simd",
                "ldp q0, q1, [{p}, #0]",
                "ldp q2, q3, [{p}, #32]",
                "ldp q4, q5, [{p}, #64]",
                "ldp q6, q7, [{p}, #96]",
                "ldp q8, q9, [{p}, #128]",
                "ldp q10, q11, [{p}, #160]",
                "ldp q12, q13, [{p}, #192]",
                "ldp q14, q15, [{p}, #224]",
                "ldp q16, q17, [{p}, #256]",
                "ldp q18, q19, [{p}, #288]",
                "ldp q20, q21, [{p}, #320]",
                "ldp q22, q23, [{p}, #352]",
                "ldp q24, q25, [{p}, #384]",
                "ldp q26, q27, [{p}, #416]",
                "ldp q28, q29, [{p}, #448]",
                "ldp q30, q31, [{p}, #480]",
                "ldr {a}, [{p}, #{q_bytes}]",
                "ldr {b}, [{p}, #{q_bytes} + 8]",
                "msr fpsr, {a}",
                "msr fpcr, {b}",
                p = in(reg) ptr,
                a = out(reg) _,
                b = out(reg) _,
                q_bytes = const Q_BYTES,
                options(nostack, preserves_flags, readonly)
            );
        }
    }
}
