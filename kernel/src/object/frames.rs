//! The global frame table: built at boot from the memory map, in memory taken from that map.

use core::ops::Range;

use abi::{PAGE_BITS, PAGE_SIZE};
use kerncore::{FrameEntry, FrameRange, FrameState, FrameTable};

use super::{Global, phys_ptr};
use crate::arch::MemoryRegion;

static TABLE: Global<Option<FrameTable<'static>>> = Global::new(None);

/// A copy of the firmware memory map, for BootInfo.
static REGIONS: Global<([Option<MemoryRegion>; MAX_MAP_REGIONS], usize)> =
    Global::new(([None; MAX_MAP_REGIONS], 0));

/// How many firmware memory-map regions are kept for BootInfo.
const MAX_MAP_REGIONS: usize = 64;

/// The firmware memory map [`init`] was given (as far as it fitted).
pub fn memory_map() -> impl Iterator<Item = MemoryRegion> {
    let (regions, count) = REGIONS.with(|regions| *regions);
    regions.into_iter().take(count).flatten()
}

/// Builds the frame table: every usable frame `Free`, the kernel image and the table's own
/// storage `Typed(Kernel)`, everything else `Unusable`. Call once, before anything else
/// here. Panics when no usable region can hold the table (the machine cannot run kernite).
pub fn init(regions: &[MemoryRegion], kernel: Range<u64>) {
    REGIONS.with(|(copy, count)| {
        for (slot, region) in copy.iter_mut().zip(regions) {
            *slot = Some(*region);
            *count += 1;
        }
    });
    let usable = || {
        regions
            .iter()
            .filter(|region| region.usable)
            .filter_map(|region| frames_of(region.base, region.len))
    };
    let first = usable()
        .map(|range| range.first)
        .min()
        .expect("the memory map has no usable RAM");
    let end = usable()
        .map(|range| range.first + range.count)
        .max()
        .expect("the memory map has no usable RAM");
    let count = end - first;
    let bytes = count * core::mem::size_of::<FrameEntry>() as u64;
    let table_frames = bytes.div_ceil(PAGE_SIZE);
    let kernel_frames = FrameRange {
        first: kernel.start >> PAGE_BITS,
        count: (kernel.end.div_ceil(PAGE_SIZE)) - (kernel.start >> PAGE_BITS),
    };

    let storage_first = usable()
        .find_map(|range| place(range, table_frames, kernel_frames))
        .expect("no usable memory region can hold the frame table");
    let storage_paddr = storage_first << PAGE_BITS;
    let entries = phys_ptr::<FrameEntry>(storage_paddr);
    // SAFETY: The storage lies in usable RAM, outside the kernel image, covered by the
    // direct map, and nothing else uses it: from here on the table owns it (its frames are
    // claimed for the kernel below). FrameTable::new initialises every entry.
    let storage = unsafe { core::slice::from_raw_parts_mut(entries, count as usize) };
    let mut table = FrameTable::new(storage, first);
    for range in usable() {
        if table.add_ram(range).is_err() {
            // Overlapping map entries: add frame by frame, skipping what is already there.
            for frame in range.first..range.first + range.count {
                let _ = table.add_ram(FrameRange {
                    first: frame,
                    count: 1,
                });
            }
        }
    }
    for frame in kernel_frames.first..kernel_frames.first + kernel_frames.count {
        if table.state(frame) == Some(FrameState::Free) {
            let _ = table.claim_for_kernel(FrameRange {
                first: frame,
                count: 1,
            });
        }
    }
    table
        .claim_for_kernel(FrameRange {
            first: storage_first,
            count: table_frames,
        })
        .expect("the frame table's own storage was not free");
    TABLE.with(|slot| *slot = Some(table));
}

/// Remaps the direct map of every usable region of `regions` in 4 KiB pages (so each kernel
/// stack's guard page can be unmapped alone), taking the page tables from `Free` frames
/// claimed for the kernel, and says what it cost. Call once, right after [`init`] and
/// before anything is built in RAM.
pub fn map_ram_in_pages(regions: &[MemoryRegion]) {
    let tables = crate::arch::map_ram_in_pages(regions, &mut || {
        with_table(|table| table.alloc_free())
            .expect("no free frame left for the direct map's page tables")
            << PAGE_BITS
    });
    crate::println!(
        "direct map: usable RAM in 4 KiB pages, {tables} page tables ({} KiB)",
        tables * PAGE_SIZE / 1024
    );
}

/// Runs `f` on the frame table. Panics if [`init`] has not run (a boot-order bug).
pub fn with_table<R>(f: impl FnOnce(&mut FrameTable<'static>) -> R) -> R {
    TABLE.with(|table| {
        f(table
            .as_mut()
            .expect("frame table used before frames::init"))
    })
}

/// The whole frames inside `len` bytes at `base`.
fn frames_of(base: u64, len: u64) -> Option<FrameRange> {
    let first = base.div_ceil(PAGE_SIZE);
    let end = base.checked_add(len)? >> PAGE_BITS;
    (end > first).then_some(FrameRange {
        first,
        count: end - first,
    })
}

/// The first frame of a run of `count` frames inside `range` that avoids `kernel`.
fn place(range: FrameRange, count: u64, kernel: FrameRange) -> Option<u64> {
    let end = range.first + range.count;
    let candidates = [range.first, kernel.first + kernel.count];
    candidates.into_iter().find(|&start| {
        start >= range.first
            && start + count <= end
            && (start + count <= kernel.first || start >= kernel.first + kernel.count)
    })
}

/// The console-friendly summary of the table.
pub fn describe() -> impl core::fmt::Display {
    struct Summary(kerncore::FrameCounts);
    impl core::fmt::Display for Summary {
        fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
            let c = self.0;
            write!(
                f,
                "frames: {} free, {} untyped-reserved, {} typed, {} unusable",
                c.free, c.untyped_reserved, c.typed, c.unusable
            )
        }
    }
    Summary(with_table(|table| table.counts()))
}
