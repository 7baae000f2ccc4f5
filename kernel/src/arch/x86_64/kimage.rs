//! The kernel's own mappings after boot: the image in 4 KiB pages with write-xor-execute, and a no-execute direct map.

use super::mmu::{ENTRIES, NO_EXECUTE, PAGE_SIZE, PRESENT, WRITABLE};
use super::{KERNEL_VIRT_BASE, cpu, phys_to_virt, virt_to_phys};
use crate::arch::MemoryRegion;
use core::ops::Range;
use core::sync::atomic::{AtomicU64, Ordering};

unsafe extern "C" {
    static __kernel_virt_start: u8;
    static __rodata_start: u8;
    static __data_start: u8;
    static __kernel_virt_end: u8;
    static boot_stack_guard: u8;
    static mut boot_pdpt_high: [u64; ENTRIES];
    static mut boot_pd: [u64; BOOT_DIRECT_MAP_TABLES * ENTRIES];
}

/// Bytes one page-directory entry covers.
const LARGE_PAGE: u64 = 2 << 20;
/// The entry of the kernel PDPT (PML4 slot 511) that maps physical 0..1 GiB at
/// `KERNEL_VIRT_BASE`.
const KERNEL_PDPT_INDEX: usize = 510;
/// Page directories the boot code fills for the 4 GiB direct map.
const BOOT_DIRECT_MAP_TABLES: usize = 4;

/// The end of the physical memory the kernel keeps for itself: the image plus the page
/// tables [`protect`] takes right after it (0 before `protect`).
static KERNEL_PHYS_END: AtomicU64 = AtomicU64::new(0);

/// Replaces the boot mapping of the kernel image (2 MiB pages, writable and executable)
/// with 4 KiB pages: text read-only and executable, rodata read-only, data and .bss
/// writable, all but text no-execute, and the page below the boot stack unmapped. Then
/// marks the boot direct map no-execute.
///
/// The new tables take the pages right after the image, which [`kernel_phys_range`]
/// includes from then on. Call once, after the memory map is known.
pub fn protect(regions: &[MemoryRegion]) {
    let text = (&raw const __kernel_virt_start) as u64..(&raw const __rodata_start) as u64;
    let rodata = text.end..(&raw const __data_start) as u64;
    let data = rodata.end..(&raw const __kernel_virt_end) as u64;
    let guard = (&raw const boot_stack_guard) as u64;
    let image_end = virt_to_phys(data.end as usize);
    let tables = 1 + image_end.div_ceil(LARGE_PAGE);
    let tables_end = image_end + tables * PAGE_SIZE;
    assert!(
        regions
            .iter()
            .any(|r| r.usable && r.base <= image_end && tables_end <= r.base + r.len),
        "no usable RAM right after the kernel image ({image_end:#x}) for its page tables"
    );

    let mut next = image_end;
    let mut take_table = || {
        let paddr = next;
        next += PAGE_SIZE;
        let table = phys_to_virt(paddr) as *mut u64;
        // SAFETY: The page is usable RAM after the image that nothing else uses yet (the
        // frame table is built later and excludes it through kernel_phys_range).
        unsafe { core::ptr::write_bytes(table, 0, ENTRIES) };
        (paddr, table)
    };
    let (pd_paddr, pd) = take_table();
    for chunk in 0..image_end.div_ceil(LARGE_PAGE) {
        let (pt_paddr, pt) = take_table();
        // SAFETY: chunk < 512 (the image is far below 1 GiB) and pd is a fresh table.
        unsafe { pd.add(chunk as usize).write(pt_paddr | PRESENT | WRITABLE) };
        for i in 0..ENTRIES {
            let paddr = chunk * LARGE_PAGE + i as u64 * PAGE_SIZE;
            let vaddr = KERNEL_VIRT_BASE + paddr;
            let entry = if vaddr == guard {
                0
            } else if text.contains(&vaddr) {
                paddr | PRESENT
            } else if rodata.contains(&vaddr) {
                paddr | PRESENT | NO_EXECUTE
            } else if data.contains(&vaddr) {
                paddr | PRESENT | WRITABLE | NO_EXECUTE
            } else {
                0
            };
            // SAFETY: i < 512 and pt is a fresh table.
            unsafe { pt.add(i).write(entry) };
        }
    }
    KERNEL_PHYS_END.store(next, Ordering::Relaxed);

    // SAFETY: The new tables map every byte of the image at the same virtual address (so
    // the code, stack and statics in use stay reachable), with CR0.WP and EFER.NXE on.
    // Reloading CR3 drops the old large-page translations. After the switch the boot page
    // directories serve only the direct map, which nothing executes from.
    unsafe {
        let pdpt = (&raw mut boot_pdpt_high).cast::<u64>();
        pdpt.add(KERNEL_PDPT_INDEX)
            .write(pd_paddr | PRESENT | WRITABLE);
        cpu::write_cr3(cpu::read_cr3());
        let direct_map_pds = (&raw mut boot_pd).cast::<u64>();
        for i in 0..BOOT_DIRECT_MAP_TABLES * ENTRIES {
            let entry = direct_map_pds.add(i);
            entry.write(entry.read() | NO_EXECUTE);
        }
        cpu::write_cr3(cpu::read_cr3());
    }
}

/// The physical addresses the kernel keeps: its image (with .bss and the boot page
/// tables) and the page tables [`protect`] added after it.
pub fn kernel_phys_range() -> Range<u64> {
    let start = virt_to_phys((&raw const __kernel_virt_start) as usize);
    let end = match KERNEL_PHYS_END.load(Ordering::Relaxed) {
        0 => virt_to_phys((&raw const __kernel_virt_end) as usize),
        end => end,
    };
    start..end
}
