//! The boot entries (`boot.S`: the boot CPU's and the secondary CPUs') and the register values they load.

use super::cpu;
use super::mmu;

/// Size of the stack `kmain` runs on until the scheduler takes over.
const BOOT_STACK_SIZE: usize = 64 * 1024;
/// Last-level tables for the kernel image: each maps 2 MiB, so the image (from the 2 MiB
/// boundary below its start) may span 16 MiB; boot stops if it is larger.
const IMAGE_L3_TABLES: u64 = 8;
/// The root entry of the kernel image mapping.
const IMAGE_L0_INDEX: u64 = (super::KERNEL_VIRT_BASE >> 39) & 0x1ff;

core::arch::global_asm!(
    include_str!("boot.S"),
    virt_base = const super::KERNEL_VIRT_BASE,
    direct_map_base = const super::DIRECT_MAP_BASE,
    image_l0_index = const IMAGE_L0_INDEX,
    image_l3_tables = const IMAGE_L3_TABLES,
    image_l3_span = const IMAGE_L3_TABLES << 21,
    identity_block = const mmu::IDENTITY_BLOCK,
    image_text_page = const mmu::IMAGE_TEXT_PAGE,
    image_rodata_page = const mmu::IMAGE_RODATA_PAGE,
    image_data_page = const mmu::IMAGE_DATA_PAGE,
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
    sctlr = const cpu::SCTLR_EL1_VALUE,
    stack_tops = sym super::smp::SECONDARY_STACK_TOPS,
    secondary_start = sym super::smp::secondary_start,
);
