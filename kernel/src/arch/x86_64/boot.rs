//! The PVH boot entry (`boot.S`) and its constants.

/// Size of the stack `kmain` runs on until the scheduler takes over.
const BOOT_STACK_SIZE: usize = 64 * 1024;

core::arch::global_asm!(
    include_str!("boot.S"),
    virt_base = const super::KERNEL_VIRT_BASE,
    direct_map_slot = const super::DIRECT_MAP_SLOT,
    boot_stack_size = const BOOT_STACK_SIZE,
    options(att_syntax)
);
