//! The translation geometry both ports share: four levels of 512-entry tables over 4 KiB pages (48-bit virtual addresses).

/// Translation levels: 0 is the last-level table (x86_64 PT, aarch64 L3), 3 the root
/// (PML4, L0).
pub const LEVELS: usize = 4;
/// Size of a page (and of a page table).
pub const PAGE_SIZE: u64 = abi::PAGE_SIZE;
/// Entries per table.
pub const ENTRIES: usize = 512;

/// The index into the level-`level` table that translates `vaddr`.
pub fn index(vaddr: u64, level: usize) -> usize {
    assert!(level < LEVELS, "paging level {level} does not exist");
    ((vaddr >> (12 + 9 * level)) & 0x1ff) as usize
}
