//! The PVH boot handoff: `hvm_start_info`, its E820-style memory map and the ACPI RSDP address.

use super::phys_to_virt;
use crate::arch::MemoryMap;

/// `hvm_start_info.magic`.
const START_INFO_MAGIC: u32 = 0x336e_c578;
const OFFSET_MAGIC: usize = 0x00;
const OFFSET_RSDP_PADDR: usize = 0x20;
const OFFSET_MEMMAP_PADDR: usize = 0x28;
const OFFSET_MEMMAP_ENTRIES: usize = 0x30;
/// One memory map entry: addr u64, size u64, type u32, reserved u32.
const MEMMAP_ENTRY_SIZE: usize = 24;
const MEMMAP_TYPE_RAM: u32 = 1;

/// Memory below this address is left to firmware and boot data and never handed out.
const LOW_MEMORY_END: u64 = 0x10_0000;

/// The physical address of the ACPI RSDP the start info block at `start_info` names, or 0
/// when it names none.
///
/// # Safety
/// As for [`parse`]: the start info block must be mapped (its magic was checked there).
pub unsafe fn rsdp(start_info: u64) -> u64 {
    let field = phys_to_virt(start_info) + OFFSET_RSDP_PADDR;
    // SAFETY: The caller guarantees the block is mapped; the field is read unaligned-safe.
    unsafe { core::ptr::read_unaligned(field as *const u64) }
}

/// Reads the memory map from the start info block at physical address `start_info`, in
/// firmware order.
///
/// Everything QEMU reports as RAM is `usable`, except the first MiB and anything above
/// `direct_map_end` (which the kernel cannot reach); those parts are listed as not usable.
///
/// # Safety
/// `start_info` must be the physical address EBX held at the PVH entry, and the direct
/// map must cover it and the memory map it points to.
pub unsafe fn parse(start_info: u64, direct_map_end: u64) -> MemoryMap {
    let base = phys_to_virt(start_info);
    // SAFETY: The caller guarantees the block is mapped; the fields are read unaligned-safe.
    let (magic, memmap_paddr, count) = unsafe {
        (
            core::ptr::read_unaligned((base + OFFSET_MAGIC) as *const u32),
            core::ptr::read_unaligned((base + OFFSET_MEMMAP_PADDR) as *const u64),
            core::ptr::read_unaligned((base + OFFSET_MEMMAP_ENTRIES) as *const u32),
        )
    };
    assert!(
        magic == START_INFO_MAGIC,
        "not booted through PVH: start info magic {magic:#x} at {start_info:#x}, expected {START_INFO_MAGIC:#x}"
    );
    assert!(
        memmap_paddr != 0 && count != 0,
        "PVH start info carries no memory map"
    );

    let mut map = MemoryMap::new("the PVH start info");
    let entries = phys_to_virt(memmap_paddr);
    for i in 0..count as usize {
        let entry = entries + i * MEMMAP_ENTRY_SIZE;
        // SAFETY: The entry lies inside the firmware memory map the caller guarantees mapped.
        let (addr, size, kind) = unsafe {
            (
                core::ptr::read_unaligned(entry as *const u64),
                core::ptr::read_unaligned((entry + 8) as *const u64),
                core::ptr::read_unaligned((entry + 16) as *const u32),
            )
        };
        let end = addr.saturating_add(size);
        if kind != MEMMAP_TYPE_RAM {
            map.push(addr, end, false);
            continue;
        }
        // Split RAM into the unusable low part, the usable middle and the unreachable top.
        let usable_start = addr.max(LOW_MEMORY_END);
        let usable_end = end.min(direct_map_end);
        if usable_start >= usable_end {
            map.push(addr, end, false);
            continue;
        }
        map.push(addr, usable_start, false);
        map.push(usable_start, usable_end, true);
        map.push(usable_end, end, false);
    }
    map
}
