//! aarch64 pieces of the suite: the cycle counter, SIMD register patterns, and instructions that fault.

use trona::uapi::TICKS_PER_SEC;

/// What [`cycles`] reads.
pub const CYCLE_COUNTER: &str = "CNTVCT_EL0";

/// How many vector registers [`hold_simd`] loads and checks (v0-v31).
pub const SIMD_REGISTERS: usize = 32;

/// A generous upper bound of [`cycles`] per timer tick (a 1 GHz generic timer, times
/// four), used only to stop waits when the timer does not tick at all.
pub const CYCLES_PER_TICK_BOUND: u64 = 1_000_000_000 / TICKS_PER_SEC * 4;

/// The virtual count of the generic timer, after earlier instructions have completed.
pub fn cycles() -> u64 {
    let count: u64;
    // SAFETY: `isb` and a read of CNTVCT_EL0, which the kernel lets EL0 read.
    unsafe {
        core::arch::asm!("isb", "mrs {c}, cntvct_el0", c = out(reg) count, options(nomem, nostack))
    };
    count
}

/// Burns `iterations` loop iterations (at least one) without touching memory or the kernel.
pub fn spin(iterations: u64) {
    // SAFETY: a register-only countdown loop.
    unsafe {
        core::arch::asm!("2:", "subs {n}, {n}, #1", "b.ne 2b", n = inout(reg) iterations.max(1) => _, options(nomem, nostack));
    }
}

/// Loads `pattern` into v0-v31, spins `iterations` times, and returns what the registers then hold.
///
/// The loop runs inside one `asm!` block, so nothing but the kernel (saving and restoring
/// the registers across preemptions) can change them in between. The caller's values are
/// saved first and restored last, so the block leaves every vector register as it found it.
pub fn hold_simd(pattern: &[u128; SIMD_REGISTERS], iterations: u64) -> [u128; SIMD_REGISTERS] {
    let mut saved = [0u128; SIMD_REGISTERS];
    let mut held = [0u128; SIMD_REGISTERS];
    // SAFETY: the block reads `pattern` and writes `saved` and `held`, all 512-byte arrays
    // it indexes within bounds, and restores every vector register it changes.
    unsafe {
        core::arch::asm!(
        "stp q0, q1, [{saved}, #0]",
        "stp q2, q3, [{saved}, #32]",
        "stp q4, q5, [{saved}, #64]",
        "stp q6, q7, [{saved}, #96]",
        "stp q8, q9, [{saved}, #128]",
        "stp q10, q11, [{saved}, #160]",
        "stp q12, q13, [{saved}, #192]",
        "stp q14, q15, [{saved}, #224]",
        "stp q16, q17, [{saved}, #256]",
        "stp q18, q19, [{saved}, #288]",
        "stp q20, q21, [{saved}, #320]",
        "stp q22, q23, [{saved}, #352]",
        "stp q24, q25, [{saved}, #384]",
        "stp q26, q27, [{saved}, #416]",
        "stp q28, q29, [{saved}, #448]",
        "stp q30, q31, [{saved}, #480]",
        "ldp q0, q1, [{pattern}, #0]",
        "ldp q2, q3, [{pattern}, #32]",
        "ldp q4, q5, [{pattern}, #64]",
        "ldp q6, q7, [{pattern}, #96]",
        "ldp q8, q9, [{pattern}, #128]",
        "ldp q10, q11, [{pattern}, #160]",
        "ldp q12, q13, [{pattern}, #192]",
        "ldp q14, q15, [{pattern}, #224]",
        "ldp q16, q17, [{pattern}, #256]",
        "ldp q18, q19, [{pattern}, #288]",
        "ldp q20, q21, [{pattern}, #320]",
        "ldp q22, q23, [{pattern}, #352]",
        "ldp q24, q25, [{pattern}, #384]",
        "ldp q26, q27, [{pattern}, #416]",
        "ldp q28, q29, [{pattern}, #448]",
        "ldp q30, q31, [{pattern}, #480]",
        "2:",
        "subs {n}, {n}, #1",
        "b.ne 2b",
        "stp q0, q1, [{held}, #0]",
        "stp q2, q3, [{held}, #32]",
        "stp q4, q5, [{held}, #64]",
        "stp q6, q7, [{held}, #96]",
        "stp q8, q9, [{held}, #128]",
        "stp q10, q11, [{held}, #160]",
        "stp q12, q13, [{held}, #192]",
        "stp q14, q15, [{held}, #224]",
        "stp q16, q17, [{held}, #256]",
        "stp q18, q19, [{held}, #288]",
        "stp q20, q21, [{held}, #320]",
        "stp q22, q23, [{held}, #352]",
        "stp q24, q25, [{held}, #384]",
        "stp q26, q27, [{held}, #416]",
        "stp q28, q29, [{held}, #448]",
        "stp q30, q31, [{held}, #480]",
        "ldp q0, q1, [{saved}, #0]",
        "ldp q2, q3, [{saved}, #32]",
        "ldp q4, q5, [{saved}, #64]",
        "ldp q6, q7, [{saved}, #96]",
        "ldp q8, q9, [{saved}, #128]",
        "ldp q10, q11, [{saved}, #160]",
        "ldp q12, q13, [{saved}, #192]",
        "ldp q14, q15, [{saved}, #224]",
        "ldp q16, q17, [{saved}, #256]",
        "ldp q18, q19, [{saved}, #288]",
        "ldp q20, q21, [{saved}, #320]",
        "ldp q22, q23, [{saved}, #352]",
        "ldp q24, q25, [{saved}, #384]",
        "ldp q26, q27, [{saved}, #416]",
        "ldp q28, q29, [{saved}, #448]",
        "ldp q30, q31, [{saved}, #480]",
            saved = in(reg) saved.as_mut_ptr(),
            pattern = in(reg) pattern.as_ptr(),
            held = in(reg) held.as_mut_ptr(),
            n = inout(reg) iterations.max(1) => _,
            options(nostack),
        );
    }
    held
}

/// Reads the word at `address`; a thread that calls this on an unmapped address faults.
pub fn read_word(address: u64) -> u64 {
    let value: u64;
    // SAFETY: a plain load; a bad address raises a data abort, which ends this thread in
    // the kernel, and never corrupts memory.
    unsafe {
        core::arch::asm!("ldr {v}, [{a}]", a = in(reg) address, v = out(reg) value, options(nostack, readonly))
    };
    value
}

/// Writes `value` at `address`; a thread that calls this on a read-only page faults.
pub fn write_word(address: u64, value: u64) {
    // SAFETY: the callers pass only addresses that are unmapped or mapped read-only, so the
    // store faults (ending the thread) instead of changing memory the program uses.
    unsafe {
        core::arch::asm!("str {v}, [{a}]", a = in(reg) address, v = in(reg) value, options(nostack))
    };
}

/// Executes a permanently undefined instruction (`udf #0`); the thread faults.
pub fn invalid_instruction() {
    // SAFETY: `udf` raises an undefined-instruction exception, which ends this thread in the kernel.
    unsafe { core::arch::asm!("udf #0", options(nomem, nostack)) };
}

/// Reads the control register of the virtual timer the kernel schedules with
/// (`cntv_ctl_el0`); the kernel forces `CNTKCTL_EL1` so that EL0 has no timer access, so
/// the thread faults.
pub fn touch_kernel_timer() {
    // SAFETY: With EL0VTEN clear the read traps to the kernel, which ends this thread.
    unsafe { core::arch::asm!("mrs {t}, cntv_ctl_el0", t = out(reg) _, options(nomem, nostack)) };
}
