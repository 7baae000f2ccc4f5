//! Kernel virtual addresses, the same on every port: the direct map of physical memory and the kernel image's offset.

use super::{DIRECT_MAP_BASE, KERNEL_VIRT_BASE, direct_map_end};

/// The virtual address at which the direct map shows physical address `paddr`.
pub fn phys_to_virt(paddr: u64) -> usize {
    assert!(
        paddr < direct_map_end(),
        "physical address {paddr:#x} lies beyond the direct map"
    );
    (DIRECT_MAP_BASE + paddr) as usize
}

/// The physical address behind a direct-map or kernel-image virtual address.
pub fn virt_to_phys(vaddr: usize) -> u64 {
    let vaddr = vaddr as u64;
    if vaddr >= KERNEL_VIRT_BASE {
        vaddr - KERNEL_VIRT_BASE
    } else {
        assert!(
            (DIRECT_MAP_BASE..DIRECT_MAP_BASE + direct_map_end()).contains(&vaddr),
            "virtual address {vaddr:#x} is neither in the direct map nor in the kernel image"
        );
        vaddr - DIRECT_MAP_BASE
    }
}

/// [`DIRECT_MAP_BASE`] as a symbol, for debuggers: `cargo xtask gdb`'s `kernite-thread`
/// turns the per-CPU block's physical TCB address into a pointer with it.
#[used]
#[unsafe(no_mangle)]
static KERNITE_DIRECT_MAP_BASE: u64 = DIRECT_MAP_BASE;
