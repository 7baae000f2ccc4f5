//! x86_64 four-level paging: entry encoding and address-space switching (the geometry and `index` come from `arch/paging.rs`).

use super::cpu;
pub use crate::arch::paging::{ENTRIES, LEVELS, PAGE_SIZE, index};
use abi::Rights;
use x86_64::structures::paging::PageTableFlags;

/// The first PML4 entry of the kernel half; new roots copy entries from here on.
pub const KERNEL_HALF_FIRST: usize = 256;

pub(super) const PRESENT: u64 = PageTableFlags::PRESENT.bits();
pub(super) const WRITABLE: u64 = PageTableFlags::WRITABLE.bits();
const USER: u64 = PageTableFlags::USER_ACCESSIBLE.bits();
const HUGE: u64 = PageTableFlags::HUGE_PAGE.bits();
pub(super) const NO_EXECUTE: u64 = PageTableFlags::NO_EXECUTE.bits();
/// Physical address bits of an entry: bits 12..52.
const ADDRESS_MASK: u64 = ((1 << 52) - 1) & !(PAGE_SIZE - 1);
const _: () = assert!(ADDRESS_MASK == 0x000f_ffff_ffff_f000);

/// An entry pointing at the next-level table at `paddr` (present, writable, user): the
/// leaf entry alone decides the page's rights.
pub fn table_entry(paddr: u64) -> u64 {
    assert!(
        paddr & !ADDRESS_MASK == 0,
        "page table address {paddr:#x} is not page-aligned"
    );
    paddr | PRESENT | WRITABLE | USER
}

/// A user page entry for the frame at `paddr`: writable only with `Rights::WRITE`,
/// no-execute unless `Rights::EXECUTE` (x86 pages are always readable when present).
pub fn page_entry(paddr: u64, rights: Rights) -> u64 {
    assert!(
        paddr & !ADDRESS_MASK == 0,
        "frame address {paddr:#x} is not page-aligned"
    );
    let mut entry = paddr | PRESENT | USER;
    if rights.contains(Rights::WRITE) {
        entry |= WRITABLE;
    }
    if !rights.contains(Rights::EXECUTE) {
        entry |= NO_EXECUTE;
    }
    entry
}

/// The rights a present leaf entry grants (READ always, WRITE, EXECUTE).
pub fn entry_rights(entry: u64) -> Rights {
    let mut rights = Rights::READ;
    if entry & WRITABLE != 0 {
        rights = rights.union(Rights::WRITE);
    }
    if entry & NO_EXECUTE == 0 {
        rights = rights.union(Rights::EXECUTE);
    }
    rights
}

/// Whether the entry maps something.
pub fn entry_present(entry: u64) -> bool {
    entry & PRESENT != 0
}

/// Whether a present non-leaf-level entry maps a large page rather than a table.
pub fn entry_is_huge(entry: u64) -> bool {
    entry & HUGE != 0
}

/// The physical address an entry points at.
pub fn entry_paddr(entry: u64) -> u64 {
    entry & ADDRESS_MASK
}

unsafe extern "C" {
    static boot_pml4: u8;
}

/// Physical address of the kernel's own PML4 (the boot tables; the kernel half of every
/// address space is shared with it).
pub fn kernel_root() -> u64 {
    super::virt_to_phys((&raw const boot_pml4) as usize)
}

/// Initialises a new top-level table: the user half empty, the kernel half (entries
/// 256..512) copied from the kernel's PML4, so the kernel stays mapped in every VSpace.
///
/// # Safety
/// `root_virt` must point to a writable, page-aligned 4 KiB table owned by the caller.
pub unsafe fn new_root(root_virt: *mut u64) {
    let kernel = super::phys_to_virt(kernel_root()) as *const u64;
    for i in 0..ENTRIES {
        // SAFETY: Both tables are 512 entries; the caller owns `root_virt`, and the kernel
        // PML4 is only read.
        unsafe {
            let value = if i >= KERNEL_HALF_FIRST {
                kernel.add(i).read()
            } else {
                0
            };
            root_virt.add(i).write(value);
        }
    }
}

/// Switches to the address space whose PML4 is at `root_paddr`.
///
/// # Safety
/// `root_paddr` must be a table made by [`new_root`] (or the kernel root) that stays alive
/// while it is active.
pub unsafe fn activate(root_paddr: u64) {
    if cpu::read_cr3() & ADDRESS_MASK != root_paddr {
        // SAFETY: The caller guarantees a valid root with the shared kernel half.
        unsafe { cpu::write_cr3(root_paddr) };
    }
}

/// The physical address of the active PML4.
pub fn current_root() -> u64 {
    cpu::read_cr3() & ADDRESS_MASK
}

/// Drops every cached user translation (TLB and paging-structure caches) of the address
/// space whose PML4 is at `root_paddr`. Only the loaded address space can have any: without
/// PCIDs every CR3 load flushes all non-global translations, and user pages are never
/// global. So this reloads CR3 if `root_paddr` is loaded and does nothing otherwise.
pub fn flush_address_space(root_paddr: u64) {
    if current_root() == root_paddr {
        // SAFETY: Reloading the loaded root changes no mapping; it only flushes the TLB.
        unsafe { cpu::write_cr3(cpu::read_cr3()) };
    }
}

/// Stops using the PML4 at `root_paddr`, whose frame is about to be freed: if it is loaded,
/// loads the kernel's own root instead, which flushes every translation made through it.
/// Afterwards no translation of that address space is cached, so a new root in the same
/// frame starts clean even though [`activate`] skips loading an already loaded root.
pub fn retire_root(root_paddr: u64) {
    if current_root() == root_paddr {
        // SAFETY: The kernel root maps the whole kernel half, where the kernel runs; only
        // user translations go away, and the caller activates a live address space again
        // before user memory is touched.
        unsafe { cpu::write_cr3(kernel_root()) };
    }
}

/// Drops the TLB entry for `vaddr` in the current address space.
pub fn flush_page(vaddr: u64) {
    // `invlpg` only invalidates a cached translation; a non-canonical address is no page.
    if let Ok(vaddr) = x86_64::VirtAddr::try_new(vaddr) {
        x86_64::instructions::tlb::flush(vaddr);
    }
}

/// The largest physical address range the direct map can cover (one PML4 entry).
const DIRECT_MAP_MAX: u64 = 512 << 30;
const GIB: u64 = 1 << 30;

/// Extends the direct map, which the boot tables fill up to `mapped_end`, to cover RAM up
/// to `ram_end` with 1 GiB pages, as far as the CPU has them and one PML4 entry reaches.
/// Returns the new end of the direct map; RAM above it stays unreachable (and unusable).
pub fn extend_direct_map(mapped_end: u64, ram_end: u64) -> u64 {
    if ram_end <= mapped_end {
        return mapped_end;
    }
    let has_1g_pages = cpu::cpuid(0x8000_0001, 0).edx & (1 << 26) != 0;
    if !has_1g_pages {
        crate::println!("warning: no 1 GiB pages; RAM above {mapped_end:#x} stays unused");
        return mapped_end;
    }
    let end = ram_end.next_multiple_of(GIB).min(DIRECT_MAP_MAX);
    let root = super::phys_to_virt(kernel_root()) as *const u64;
    let slot = index(super::DIRECT_MAP_BASE, LEVELS - 1);
    // SAFETY: The kernel PML4 is live and its direct-map slot points at the boot PDPT.
    let pdpt = super::phys_to_virt(entry_paddr(unsafe { root.add(slot).read() })) as *mut u64;
    for gib in mapped_end.div_ceil(GIB)..end / GIB {
        // SAFETY: gib < 512, so the write stays inside the PDPT; the new entries map RAM
        // that nothing else maps, and the CR3 reload below makes them visible.
        unsafe {
            pdpt.add(gib as usize)
                .write((gib * GIB) | PRESENT | WRITABLE | HUGE | NO_EXECUTE)
        };
    }
    // SAFETY: Reloading CR3 only flushes the TLB.
    unsafe { cpu::write_cr3(cpu::read_cr3()) };
    end
}

/// Removes the boot identity map of low memory from the kernel PML4 (the user half of
/// every address space starts empty).
pub fn drop_identity_map() {
    let kernel = super::phys_to_virt(kernel_root()) as *mut u64;
    // SAFETY: Runs once, after the kernel runs only at higher-half addresses and the GDT
    // was reloaded at its virtual address; reloading CR3 flushes the stale translations.
    unsafe {
        for i in 0..KERNEL_HALF_FIRST {
            kernel.add(i).write(0);
        }
        cpu::write_cr3(cpu::read_cr3());
    }
}

/// A kernel entry pointing at the next-level table at `paddr` (present, writable, not
/// user): for the kernel's own tables, such as the direct map's.
pub fn kernel_table_entry(paddr: u64) -> u64 {
    assert!(
        paddr & !ADDRESS_MASK == 0,
        "page table address {paddr:#x} is not page-aligned"
    );
    paddr | PRESENT | WRITABLE
}

/// The direct map's leaf entry for physical `paddr` in a level-`level` table (0: a 4 KiB
/// page, 1: a 2 MiB page, 2: a 1 GiB page): kernel read/write, never executable.
pub fn direct_leaf_entry(paddr: u64, level: usize) -> u64 {
    let entry = paddr | PRESENT | WRITABLE | NO_EXECUTE;
    if level == 0 { entry } else { entry | HUGE }
}

/// Replaces a live entry of the kernel's direct map that maps a large page with one
/// pointing at a table mapping the same memory with the same attributes. x86 needs no
/// break-before-make for that; [`flush_kernel`] drops the large-page translation.
///
/// # Safety
/// `entry` must be a live direct-map entry and `new` must translate every address it
/// covers exactly as the old entry did.
pub unsafe fn replace_direct_entry(entry: *mut u64, new: u64) {
    // SAFETY: The caller guarantees the location and that the translation is unchanged.
    unsafe { entry.write_volatile(new) };
}

/// Drops every cached translation of the kernel half (none of it is global).
pub fn flush_kernel() {
    // SAFETY: Reloading CR3 only flushes the TLB.
    unsafe { cpu::write_cr3(cpu::read_cr3()) };
}

/// Makes the direct map's page (of whatever size) holding physical address `paddr`
/// uncacheable: for device registers that lie outside RAM, such as the local APIC's.
/// Everything else that page maps must be device memory too (or nothing).
pub fn uncache_direct_map(paddr: u64) {
    const UNCACHED: u64 = PageTableFlags::NO_CACHE.bits() | PageTableFlags::WRITE_THROUGH.bits();
    let vaddr = super::DIRECT_MAP_BASE + paddr;
    let mut table = super::phys_to_virt(kernel_root()) as *mut u64;
    for level in (0..LEVELS).rev() {
        // SAFETY: `table` is a live kernel table (the root, then what its entries name),
        // and the index is below 512.
        let entry = unsafe { table.add(index(vaddr, level)) };
        // SAFETY: As above.
        let value = unsafe { entry.read() };
        assert!(
            entry_present(value),
            "the direct map does not map device address {paddr:#x}"
        );
        if level == 0 || entry_is_huge(value) {
            // SAFETY: Only the caching attributes of a device mapping change; the reload
            // below drops the cached translation.
            unsafe { entry.write_volatile(value | UNCACHED) };
            flush_kernel();
            return;
        }
        table = super::phys_to_virt(entry_paddr(value)) as *mut u64;
    }
}

/// Another CPU's TLB shootdown of the user root `root` (`crate::smp::shootdown`), on this
/// CPU: if `root` is loaded here, flushes its translations or retires it.
pub fn remote_flush(root: u64, action: crate::smp::TlbAction) {
    if current_root() != root {
        return;
    }
    match action {
        crate::smp::TlbAction::Flush => flush_address_space(root),
        crate::smp::TlbAction::Retire => retire_root(root),
    }
}
