//! x86_64 pieces of the suite: the cycle counter, SSE register patterns, and instructions that fault.

use trona::uapi::TICKS_PER_SEC;

/// What [`cycles`] reads.
pub const CYCLE_COUNTER: &str = "rdtsc";

/// How many vector registers [`hold_simd`] loads and checks (xmm0-xmm15).
pub const SIMD_REGISTERS: usize = 16;

/// A generous upper bound of [`cycles`] per timer tick (a 5 GHz counter, times four),
/// used only to stop waits when the timer does not tick at all.
pub const CYCLES_PER_TICK_BOUND: u64 = 5_000_000_000 / TICKS_PER_SEC * 4;

/// The time-stamp counter, after earlier instructions have completed.
pub fn cycles() -> u64 {
    let low: u32;
    let high: u32;
    // SAFETY: `lfence` and `rdtsc` only read the time-stamp counter into edx:eax.
    unsafe {
        core::arch::asm!("lfence", "rdtsc", out("eax") low, out("edx") high, options(nomem, nostack))
    };
    (u64::from(high) << 32) | u64::from(low)
}

/// Burns `iterations` loop iterations (at least one) without touching memory or the kernel.
pub fn spin(iterations: u64) {
    // SAFETY: a register-only countdown loop.
    unsafe {
        core::arch::asm!("2:", "dec {n}", "jnz 2b", n = inout(reg) iterations.max(1) => _, options(nomem, nostack));
    }
}

/// Loads `pattern` into xmm0-xmm15, spins `iterations` times, and returns what the registers then hold.
///
/// The loop runs inside one `asm!` block, so nothing but the kernel (saving and restoring
/// the registers across preemptions) can change them in between. The caller's values are
/// saved first and restored last: this soft-float target never allocates xmm registers,
/// so the block cannot declare them as clobbers and leaves them as it found them instead.
pub fn hold_simd(pattern: &[u128; SIMD_REGISTERS], iterations: u64) -> [u128; SIMD_REGISTERS] {
    let mut saved = [0u128; SIMD_REGISTERS];
    let mut held = [0u128; SIMD_REGISTERS];
    // SAFETY: the block reads `pattern` and writes `saved` and `held`, all 256-byte arrays
    // it indexes within bounds (unaligned moves), and restores every xmm register it changes.
    unsafe {
        core::arch::asm!(
        "movdqu [{saved} + 0], xmm0",
        "movdqu [{saved} + 16], xmm1",
        "movdqu [{saved} + 32], xmm2",
        "movdqu [{saved} + 48], xmm3",
        "movdqu [{saved} + 64], xmm4",
        "movdqu [{saved} + 80], xmm5",
        "movdqu [{saved} + 96], xmm6",
        "movdqu [{saved} + 112], xmm7",
        "movdqu [{saved} + 128], xmm8",
        "movdqu [{saved} + 144], xmm9",
        "movdqu [{saved} + 160], xmm10",
        "movdqu [{saved} + 176], xmm11",
        "movdqu [{saved} + 192], xmm12",
        "movdqu [{saved} + 208], xmm13",
        "movdqu [{saved} + 224], xmm14",
        "movdqu [{saved} + 240], xmm15",
        "movdqu xmm0, [{pattern} + 0]",
        "movdqu xmm1, [{pattern} + 16]",
        "movdqu xmm2, [{pattern} + 32]",
        "movdqu xmm3, [{pattern} + 48]",
        "movdqu xmm4, [{pattern} + 64]",
        "movdqu xmm5, [{pattern} + 80]",
        "movdqu xmm6, [{pattern} + 96]",
        "movdqu xmm7, [{pattern} + 112]",
        "movdqu xmm8, [{pattern} + 128]",
        "movdqu xmm9, [{pattern} + 144]",
        "movdqu xmm10, [{pattern} + 160]",
        "movdqu xmm11, [{pattern} + 176]",
        "movdqu xmm12, [{pattern} + 192]",
        "movdqu xmm13, [{pattern} + 208]",
        "movdqu xmm14, [{pattern} + 224]",
        "movdqu xmm15, [{pattern} + 240]",
        "2:",
        "dec {n}",
        "jnz 2b",
        "movdqu [{held} + 0], xmm0",
        "movdqu [{held} + 16], xmm1",
        "movdqu [{held} + 32], xmm2",
        "movdqu [{held} + 48], xmm3",
        "movdqu [{held} + 64], xmm4",
        "movdqu [{held} + 80], xmm5",
        "movdqu [{held} + 96], xmm6",
        "movdqu [{held} + 112], xmm7",
        "movdqu [{held} + 128], xmm8",
        "movdqu [{held} + 144], xmm9",
        "movdqu [{held} + 160], xmm10",
        "movdqu [{held} + 176], xmm11",
        "movdqu [{held} + 192], xmm12",
        "movdqu [{held} + 208], xmm13",
        "movdqu [{held} + 224], xmm14",
        "movdqu [{held} + 240], xmm15",
        "movdqu xmm0, [{saved} + 0]",
        "movdqu xmm1, [{saved} + 16]",
        "movdqu xmm2, [{saved} + 32]",
        "movdqu xmm3, [{saved} + 48]",
        "movdqu xmm4, [{saved} + 64]",
        "movdqu xmm5, [{saved} + 80]",
        "movdqu xmm6, [{saved} + 96]",
        "movdqu xmm7, [{saved} + 112]",
        "movdqu xmm8, [{saved} + 128]",
        "movdqu xmm9, [{saved} + 144]",
        "movdqu xmm10, [{saved} + 160]",
        "movdqu xmm11, [{saved} + 176]",
        "movdqu xmm12, [{saved} + 192]",
        "movdqu xmm13, [{saved} + 208]",
        "movdqu xmm14, [{saved} + 224]",
        "movdqu xmm15, [{saved} + 240]",
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
    // SAFETY: a plain load; a bad address raises a page fault, which ends this thread in
    // the kernel, and never corrupts memory.
    unsafe {
        core::arch::asm!("mov {v}, [{a}]", a = in(reg) address, v = out(reg) value, options(nostack, readonly))
    };
    value
}

/// Writes `value` at `address`; a thread that calls this on a read-only page faults.
pub fn write_word(address: u64, value: u64) {
    // SAFETY: the callers pass only addresses that are unmapped or mapped read-only, so the
    // store faults (ending the thread) instead of changing memory the program uses.
    unsafe {
        core::arch::asm!("mov [{a}], {v}", a = in(reg) address, v = in(reg) value, options(nostack))
    };
}

/// Executes an undefined instruction (`ud2`); the thread faults.
pub fn invalid_instruction() {
    // SAFETY: `ud2` raises #UD, which ends this thread in the kernel.
    unsafe { core::arch::asm!("ud2", options(nomem, nostack)) };
}

/// Reads the counter of the PIT, the kernel's timer (`in al, 0x40`); user mode has no
/// I/O privilege, so the thread faults.
pub fn touch_kernel_timer() {
    // SAFETY: Port I/O at CPL 3 with IOPL 0 raises #GP, which ends this thread.
    unsafe { core::arch::asm!("in al, 0x40", out("al") _, options(nomem, nostack)) };
}
