//! The physical memory map both ports build from their firmware's description: a fixed list of `MemoryRegion`s.

use super::MemoryRegion;

/// How many memory map entries the kernel keeps; more is a boot failure, not a truncation.
pub const MAX_REGIONS: usize = 64;

/// A memory map under construction or, once built, kept for the lifetime of the kernel.
pub struct MemoryMap {
    regions: [MemoryRegion; MAX_REGIONS],
    count: usize,
    /// Where the map comes from, for the overflow message (e.g. `"the device tree"`).
    source: &'static str,
}

impl MemoryMap {
    /// An empty map read from `source`.
    pub const fn new(source: &'static str) -> Self {
        Self {
            regions: [MemoryRegion {
                base: 0,
                len: 0,
                usable: false,
            }; MAX_REGIONS],
            count: 0,
            source,
        }
    }

    /// The regions, in the order they were pushed.
    pub fn regions(&self) -> &[MemoryRegion] {
        &self.regions[..self.count]
    }

    /// Appends `[base, end)`; an empty or inverted range adds nothing.
    pub fn push(&mut self, base: u64, end: u64, usable: bool) {
        if end <= base {
            return;
        }
        assert!(
            self.count < MAX_REGIONS,
            "{}'s memory map has more than {MAX_REGIONS} regions",
            self.source
        );
        self.regions[self.count] = MemoryRegion {
            base,
            len: end - base,
            usable,
        };
        self.count += 1;
    }
}
