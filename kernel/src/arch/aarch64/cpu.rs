//! Thin wrappers over aarch64 system registers and instructions, and the boot-time register values.

/// Reads a system register by name; the registers read through it have no read side effects.
macro_rules! read_sysreg {
    ($name:literal) => {{
        let value: u64;
        // SAFETY: Reading this system register has no side effects.
        unsafe {
            core::arch::asm!(concat!("mrs {}, ", $name), out(reg) value, options(nomem, nostack, preserves_flags))
        };
        value
    }};
}

/// Writes a system register by name, followed by an `isb`. The caller's `unsafe` block
/// states why the new value is sound.
macro_rules! write_sysreg {
    ($name:literal, $value:expr) => {
        core::arch::asm!(concat!("msr ", $name, ", {}"), "isb", in(reg) $value, options(nostack, preserves_flags))
    };
}

pub(crate) use {read_sysreg, write_sysreg};

/// HCR_EL2.RW: EL1 runs in AArch64.
pub const HCR_EL2_RW: u64 = 1 << 31;
/// CNTHCTL_EL2.EL1PCTEN | EL1PCEN: EL1 may use the physical counter and timer.
pub const CNTHCTL_EL2_EL1_TIMERS: u64 = 0b11;
/// CPTR_EL2 with no traps (its RES1 bits set, TFP clear).
pub const CPTR_EL2_NO_TRAPS: u64 = 0x33ff;
/// SPSR for EL1h with D, A, I and F masked.
pub const SPSR_EL1H_MASKED: u64 = 0x3c5;
/// SPSR for EL0t with everything unmasked: how threads run in user mode.
pub const SPSR_EL0T: u64 = 0;
/// The mode field of SPSR (M[3:0]); EL0t is 0.
pub const SPSR_MODE_MASK: u64 = 0xf;

const SCTLR_M: u64 = 1 << 0;
const SCTLR_C: u64 = 1 << 2;
const SCTLR_SA: u64 = 1 << 3;
const SCTLR_SA0: u64 = 1 << 4;
const SCTLR_I: u64 = 1 << 12;
const SCTLR_DZE: u64 = 1 << 14;
const SCTLR_UCT: u64 = 1 << 15;
const SCTLR_NTWI: u64 = 1 << 16;
const SCTLR_NTWE: u64 = 1 << 18;
const SCTLR_UCI: u64 = 1 << 26;
/// SCTLR_EL1.SPAN: when clear, every exception to EL1 sets PSTATE.PAN.
pub const SCTLR_SPAN: u64 = 1 << 23;
/// SCTLR_EL1 bits that are RES1 in ARMv8.0 (11, 20, 22, 23, 28, 29; 23 is SPAN from
/// ARMv8.1 on).
const SCTLR_RES1: u64 = (1 << 11) | (1 << 20) | (1 << 22) | (1 << 23) | (1 << 28) | (1 << 29);
/// SCTLR_EL1 as the kernel runs: MMU and caches on, stack alignment checks, no alignment
/// checks for data, little-endian, and EL0 allowed `wfi`/`wfe`, cache maintenance to the
/// point of unification, `CTR_EL0` and `dc zva` (all harmless to the kernel).
pub const SCTLR_EL1: u64 = SCTLR_RES1
    | SCTLR_M
    | SCTLR_C
    | SCTLR_SA
    | SCTLR_SA0
    | SCTLR_I
    | SCTLR_DZE
    | SCTLR_UCT
    | SCTLR_NTWI
    | SCTLR_NTWE
    | SCTLR_UCI;

/// CPACR_EL1.FPEN = 0b11: FP/SIMD never traps, at EL0 or EL1 (eager FPU switching).
pub const CPACR_FPEN_NO_TRAP: u64 = 0b11 << 20;
/// CNTKCTL_EL1.EL0VCTEN | EL0PCTEN: user mode may read the counters (benchmarks use
/// `cntvct_el0`); the timers themselves stay EL1-only.
pub const CNTKCTL_EL0_COUNTERS: u64 = 0b11;

/// Turns on Privileged Access Never when the CPU has it (ARMv8.1 PAN; not on the
/// Cortex-A72): the kernel then faults on any access to user memory through user
/// addresses, and reaches user memory only through the direct map (as `usermem` does).
/// Exceptions to EL1 set PAN again (SCTLR_EL1.SPAN clear). Returns whether PAN is on.
pub fn enable_pan() -> bool {
    if (read_sysreg!("id_aa64mmfr1_el1") >> 20) & 0xf == 0 {
        return false;
    }
    let sctlr = read_sysreg!("sctlr_el1") & !SCTLR_SPAN;
    // SAFETY: The kernel never dereferences user addresses; PAN only makes a stray access
    // fault instead of succeeding.
    unsafe {
        write_sysreg!("sctlr_el1", sctlr);
        core::arch::asm!(
            ".arch_extension pan",
            "msr pan, #1",
            "isb",
            options(nomem, nostack, preserves_flags)
        );
    }
    true
}

/// The index of the running CPU (MPIDR_EL1 affinity level 0).
pub fn cpu_index() -> u64 {
    read_sysreg!("mpidr_el1") & 0xff
}

/// The virtual counter (CNTVCT_EL0), after an `isb` so it is not read early.
pub fn read_cntvct() -> u64 {
    let value: u64;
    // SAFETY: `isb` and reading the counter have no side effects.
    unsafe {
        core::arch::asm!("isb", "mrs {}, cntvct_el0", out(reg) value, options(nomem, nostack, preserves_flags))
    };
    value
}

/// Masks IRQs (and FIQs) at EL1.
pub fn disable_interrupts() {
    // SAFETY: Masking interrupts cannot break any invariant.
    unsafe { core::arch::asm!("msr daifset, #3", options(nomem, nostack, preserves_flags)) };
}

/// Waits for interrupts forever with interrupts masked: a dead stop.
pub fn halt_forever() -> ! {
    disable_interrupts();
    loop {
        // SAFETY: `wfi` only waits.
        unsafe { core::arch::asm!("wfi", options(nomem, nostack, preserves_flags)) };
    }
}
