//! Kernel virtual addresses, the same on every port: the direct map of physical memory (remapped in 4 KiB pages over RAM, so guard pages can be unmapped) and the kernel image's offset.

use super::mmu::{self, ENTRIES, LEVELS, PAGE_SIZE, index};
use super::{DIRECT_MAP_BASE, KERNEL_VIRT_BASE, MemoryRegion, direct_map_end};

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

/// Remaps the direct map of every usable region of `regions` in 4 KiB pages, so that single pages of
/// RAM (the guard pages below kernel stacks) can be unmapped on their own. Every large page
/// or block that covers any of that RAM becomes a table that maps the same memory with the same
/// attributes; the rest of the direct map keeps its large pages. `alloc_table` hands out a
/// page of RAM for each new table (its content does not matter, every entry is written).
/// Returns how many tables it took.
///
/// Call once, after the frame table exists and before anything is built in RAM; the
/// memory being remapped stays mapped throughout, except on aarch64 for the short
/// break-before-make of each 1 GiB block (`mmu::replace_direct_entry`).
pub fn map_ram_in_pages(regions: &[MemoryRegion], alloc_table: &mut dyn FnMut() -> u64) -> u64 {
    let mut remap = Remap {
        regions,
        alloc_table,
        tables: 0,
    };
    let root = phys_to_virt(mmu::kernel_root()) as *const u64;
    // SAFETY: The kernel root is live; its direct-map entry points at the table of 1 GiB
    // entries that both ports' boot code builds.
    let entry = unsafe { root.add(index(DIRECT_MAP_BASE, LEVELS - 1)).read() };
    assert!(
        mmu::entry_present(entry),
        "the kernel root has no direct-map entry"
    );
    remap.split_live(
        phys_to_virt(mmu::entry_paddr(entry)) as *mut u64,
        LEVELS - 2,
        0,
    );
    mmu::flush_kernel();
    remap.tables
}

/// Whether the direct map maps the 4 KiB page at physical `paddr` (which must lie in RAM
/// that [`map_ram_in_pages`] remapped).
pub fn direct_page_is_mapped(paddr: u64) -> bool {
    // SAFETY: `direct_page_entry` returns a live last-level entry; reading it is harmless.
    mmu::entry_present(unsafe { direct_page_entry(paddr).read() })
}

/// Unmaps the 4 KiB page at physical `paddr` from the direct map and drops its cached
/// translation: from then on any kernel access to it faults. Panics if it is not mapped
/// (two owners claim the same page: a broken kernel invariant).
pub fn unmap_direct_page(paddr: u64) {
    let entry = direct_page_entry(paddr);
    // SAFETY: A live last-level entry of the direct map (see `direct_page_entry`).
    let old = unsafe { entry.read() };
    assert!(
        mmu::entry_present(old),
        "direct-map page {paddr:#x} is already unmapped: two owners of one guard page"
    );
    // SAFETY: As above; the page's owner (a new TCB) never touches it through the map.
    unsafe { entry.write_volatile(0) };
    mmu::flush_page(phys_to_virt(paddr) as u64);
}

/// Maps the 4 KiB page at physical `paddr` in the direct map again, as [`map_ram_in_pages`]
/// mapped it. Panics if it is mapped already (a broken kernel invariant).
pub fn remap_direct_page(paddr: u64) {
    let entry = direct_page_entry(paddr);
    // SAFETY: A live last-level entry of the direct map (see `direct_page_entry`).
    let old = unsafe { entry.read() };
    assert!(
        !mmu::entry_present(old),
        "direct-map page {paddr:#x} is mapped already: its guard was never set"
    );
    // SAFETY: As above; the new entry is the direct map's usual one for this page.
    unsafe { entry.write_volatile(mmu::direct_leaf_entry(paddr, 0)) };
    mmu::flush_page(phys_to_virt(paddr) as u64);
}

/// Whether `vaddr` is a direct-map address whose 4 KiB page is unmapped (a guard page).
/// Never panics, so fault handlers may ask about any address.
pub fn is_unmapped_direct_page(vaddr: u64) -> bool {
    if !(DIRECT_MAP_BASE..DIRECT_MAP_BASE + direct_map_end()).contains(&vaddr) {
        return false;
    }
    let mut table = phys_to_virt(mmu::kernel_root()) as *const u64;
    for level in (1..LEVELS).rev() {
        // SAFETY: `table` is a live kernel table (the root, then what its entries name).
        let entry = unsafe { table.add(index(vaddr, level)).read() };
        if !mmu::entry_present(entry) || mmu::entry_is_huge(entry) {
            return false;
        }
        table = (DIRECT_MAP_BASE + mmu::entry_paddr(entry)) as *const u64;
    }
    // SAFETY: As above, a live last-level table.
    !mmu::entry_present(unsafe { table.add(index(vaddr, 0)).read() })
}

/// The last-level entry that maps physical `paddr` in the direct map. Panics if the page is
/// not mapped through 4 KiB pages ([`map_ram_in_pages`] did not cover it: a kernel bug).
fn direct_page_entry(paddr: u64) -> *mut u64 {
    let vaddr = phys_to_virt(paddr) as u64;
    let mut table = phys_to_virt(mmu::kernel_root()) as *mut u64;
    for level in (1..LEVELS).rev() {
        // SAFETY: `table` is a live kernel table (the root, then what its entries name).
        let entry = unsafe { table.add(index(vaddr, level)).read() };
        assert!(
            mmu::entry_present(entry) && !mmu::entry_is_huge(entry),
            "the direct map does not map {paddr:#x} in 4 KiB pages (level {level} entry {entry:#x})"
        );
        table = phys_to_virt(mmu::entry_paddr(entry)) as *mut u64;
    }
    // SAFETY: index < 512 inside a live last-level table.
    unsafe { table.add(index(vaddr, 0)) }
}

/// Bytes an entry of a level-`level` table maps.
fn span(level: usize) -> u64 {
    PAGE_SIZE << (9 * level)
}

/// State of one [`map_ram_in_pages`] run.
struct Remap<'a> {
    regions: &'a [MemoryRegion],
    alloc_table: &'a mut dyn FnMut() -> u64,
    tables: u64,
}

impl Remap<'_> {
    fn covers_ram(&self, start: u64, len: u64) -> bool {
        self.regions
            .iter()
            .any(|r| r.usable && r.base < start + len && start < r.base + r.len)
    }

    /// Splits every large page of the live level-`level` table at `table` (mapping physical
    /// memory from `base` on) that covers RAM, down to 4 KiB pages.
    fn split_live(&mut self, table: *mut u64, level: usize, base: u64) {
        for i in 0..ENTRIES {
            let start = base + i as u64 * span(level);
            if start >= direct_map_end() {
                break;
            }
            if !self.covers_ram(start, span(level)) {
                continue;
            }
            // SAFETY: i < 512 inside a live direct-map table.
            let slot = unsafe { table.add(i) };
            // SAFETY: As above.
            let entry = unsafe { slot.read() };
            if !mmu::entry_present(entry) {
                continue;
            }
            if mmu::entry_is_huge(entry) {
                let new = self.build(start, level - 1);
                // SAFETY: The new table maps `start..start + span(level)` exactly as the large
                // page did; the boot code runs from the kernel image and its stack, and
                // nothing else uses this memory while the entry changes.
                unsafe { mmu::replace_direct_entry(slot, mmu::kernel_table_entry(new)) };
            } else if level > 1 {
                let next = phys_to_virt(mmu::entry_paddr(entry)) as *mut u64;
                self.split_live(next, level - 1, start);
            }
        }
    }

    /// Builds a new level-`level` table mapping physical memory from `start` on, in 4 KiB
    /// pages where it covers RAM and in the largest pages elsewhere. Returns its address.
    fn build(&mut self, start: u64, level: usize) -> u64 {
        let paddr = (self.alloc_table)();
        self.tables += 1;
        let table = phys_to_virt(paddr) as *mut u64;
        for i in 0..ENTRIES {
            let from = start + i as u64 * span(level);
            let entry = if level > 0 && self.covers_ram(from, span(level)) {
                mmu::kernel_table_entry(self.build(from, level - 1))
            } else {
                mmu::direct_leaf_entry(from, level)
            };
            // SAFETY: i < 512 inside the new table, which is not yet in use.
            unsafe { table.add(i).write(entry) };
        }
        paddr
    }
}
