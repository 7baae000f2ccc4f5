//! The boot entry (`boot.S`) and the register values it loads.

use super::cpu;
use super::mmu;

/// Size of the stack `kmain` runs on until the scheduler takes over.
const BOOT_STACK_SIZE: usize = 64 * 1024;

core::arch::global_asm!(
    include_str!("boot.S"),
    virt_base = const super::KERNEL_VIRT_BASE,
    direct_map_gib = const super::DIRECT_MAP_GIB,
    boot_stack_size = const BOOT_STACK_SIZE,
    hcr_el2 = const cpu::HCR_EL2_RW,
    cnthctl_el2 = const cpu::CNTHCTL_EL2_EL1_TIMERS,
    cptr_el2 = const cpu::CPTR_EL2_NO_TRAPS,
    spsr_el1h = const cpu::SPSR_EL1H_MASKED,
    table_desc = const mmu::DESC_TABLE,
    device_block = const mmu::KERNEL_DEVICE_BLOCK,
    normal_block = const mmu::KERNEL_NORMAL_BLOCK,
    mair = const mmu::MAIR,
    tcr = const mmu::TCR,
    tcr_as = const mmu::TCR_AS,
    sctlr = const cpu::SCTLR_EL1,
);
