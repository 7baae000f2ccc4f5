//! The kernel's aarch64 register policy on top of the `aarch64-cpu` crate: the boot-time register values and the few operations the crate lacks.

use aarch64_cpu::asm::barrier;
use aarch64_cpu::registers::{
    CNTHCTL_EL2, CNTKCTL_EL1, CNTVCT_EL0, DAIF, HCR_EL2, ID_AA64MMFR1_EL1, ReadWriteable, Readable,
    SCTLR_EL1, SPSR_EL1, Writeable,
};

/// HCR_EL2.RW: EL1 runs in AArch64.
pub const HCR_EL2_RW: u64 = HCR_EL2::RW::EL1IsAarch64.value;
/// CNTHCTL_EL2.EL1PCTEN | EL1PCEN: EL1 may use the physical counter and timer.
pub const CNTHCTL_EL2_EL1_TIMERS: u64 =
    CNTHCTL_EL2::EL1PCTEN::SET.value | CNTHCTL_EL2::EL1PCEN::SET.value;
/// CPTR_EL2 with no traps: its RES1 bits (0-7, 9, 12, 13) set, TFP, TTA and TCPAC clear
/// (the crate names no fields for the RES1 bits).
pub const CPTR_EL2_NO_TRAPS: u64 = 0x33ff;
/// SPSR for EL1h with D, A, I and F masked.
pub const SPSR_EL1H_MASKED: u64 = SPSR_EL1::M::EL1h.value
    | SPSR_EL1::D::Masked.value
    | SPSR_EL1::A::Masked.value
    | SPSR_EL1::I::Masked.value
    | SPSR_EL1::F::Masked.value;
/// SPSR for EL0t with everything unmasked: how threads run in user mode.
pub const SPSR_EL0T: u64 = SPSR_EL1::M::EL0t.value;
/// The mode field of SPSR (M[3:0]); EL0t is 0.
pub const SPSR_MODE_MASK: u64 = SPSR_EL1::M.mask << SPSR_EL1::M.shift;

/// SCTLR_EL1.SPAN: when clear, every exception to EL1 sets PSTATE.PAN (ARMv8.1; the crate
/// has no field for it).
pub const SCTLR_SPAN: u64 = 1 << 23;
/// SCTLR_EL1 bits that are RES1 in ARMv8.0 (11, 20, 22, 23, 28, 29; 23 is SPAN from
/// ARMv8.1 on); the crate names no fields for them.
const SCTLR_RES1: u64 = (1 << 11) | (1 << 20) | (1 << 22) | (1 << 23) | (1 << 28) | (1 << 29);
/// SCTLR_EL1 as the kernel runs: MMU and caches on, stack alignment checks, no alignment
/// checks for data, little-endian, and EL0 allowed `wfi`/`wfe`, cache maintenance to the
/// point of unification, `CTR_EL0` and `dc zva` (all harmless to the kernel).
pub const SCTLR_EL1_VALUE: u64 = SCTLR_RES1
    | SCTLR_EL1::M::Enable.value
    | SCTLR_EL1::C::Cacheable.value
    | SCTLR_EL1::SA::Enable.value
    | SCTLR_EL1::SA0::Enable.value
    | SCTLR_EL1::I::Cacheable.value
    | SCTLR_EL1::DZE::DontTrap.value
    | SCTLR_EL1::UCT::DontTrap.value
    | SCTLR_EL1::NTWI::DontTrap.value
    | SCTLR_EL1::NTWE::DontTrap.value
    | SCTLR_EL1::UCI::DontTrap.value;

/// CNTKCTL_EL1 as the kernel sets it whole: user mode may read the counters (benchmarks
/// use `cntvct_el0`); the timers and the event stream stay EL1-only.
pub fn set_user_counter_access() {
    CNTKCTL_EL1.write(CNTKCTL_EL1::EL0VCTEN::SET + CNTKCTL_EL1::EL0PCTEN::SET);
    barrier::isb(barrier::SY);
}

/// Turns on Privileged Access Never when the CPU has it (ARMv8.1 PAN; not on the
/// Cortex-A72): the kernel then faults on any access to user memory through user
/// addresses, and reaches user memory only through the direct map (as `usermem` does).
/// Exceptions to EL1 set PAN again (SCTLR_EL1.SPAN clear). Returns whether PAN is on.
pub fn enable_pan() -> bool {
    if ID_AA64MMFR1_EL1.read(ID_AA64MMFR1_EL1::PAN) == 0 {
        return false;
    }
    // The kernel never dereferences user addresses; PAN only makes a stray access fault
    // instead of succeeding.
    SCTLR_EL1.set(SCTLR_EL1.get() & !SCTLR_SPAN);
    // SAFETY: As above; `msr pan` (no register in the crate) only sets PSTATE.PAN.
    unsafe {
        core::arch::asm!(
            ".arch_extension pan",
            "msr pan, #1",
            "isb",
            options(nomem, nostack, preserves_flags)
        );
    }
    true
}

/// The virtual counter (CNTVCT_EL0), after an `isb` so it is not read early.
pub fn read_cntvct() -> u64 {
    barrier::isb(barrier::SY);
    CNTVCT_EL0.get()
}

/// Masks IRQs (and FIQs) at EL1.
pub fn disable_interrupts() {
    // Masking interrupts cannot break any invariant.
    DAIF.modify(DAIF::I::Masked + DAIF::F::Masked);
}

/// Waits for interrupts forever with interrupts masked: a dead stop.
pub fn halt_forever() -> ! {
    disable_interrupts();
    loop {
        aarch64_cpu::asm::wfi();
    }
}

/// Executes a permanently undefined instruction (`udf #0`) in kernel mode; the exception
/// handler panics (the kernel fault test).
#[cfg(feature = "kernel-fault-test")]
pub fn undefined_instruction() -> ! {
    // SAFETY: `udf #0` raises an undefined-instruction exception; in kernel mode that is a kernel panic, which does
    // not return here.
    unsafe { core::arch::asm!("udf #0", options(nomem, nostack, noreturn)) }
}
