//! A small allocator of empty root CNode slots, starting at `BootInfo::first_free_slot`.

use trona::uapi::CPtr;

use crate::BuildError;

/// How many freed slots are remembered for reuse; slots freed beyond that are not reused.
const RECYCLE_CAPACITY: usize = 64;

/// Hands out empty slots of the root CNode: recycled ones first, then fresh ones in order.
pub struct SlotAllocator {
    next: u64,
    end: u64,
    recycled: [u64; RECYCLE_CAPACITY],
    recycled_len: usize,
}

impl SlotAllocator {
    /// An allocator of the slots `first..end`, all of which must be empty.
    pub const fn new(first: u64, end: u64) -> SlotAllocator {
        SlotAllocator {
            next: first,
            end,
            recycled: [0; RECYCLE_CAPACITY],
            recycled_len: 0,
        }
    }

    /// An empty slot, now owned by the caller.
    pub fn alloc(&mut self) -> Result<CPtr, BuildError> {
        if self.recycled_len > 0 {
            self.recycled_len -= 1;
            return Ok(CPtr(self.recycled[self.recycled_len]));
        }
        if self.next >= self.end {
            return Err(BuildError::OutOfSlots);
        }
        let slot = self.next;
        self.next += 1;
        Ok(CPtr(slot))
    }

    /// Returns a slot the caller has emptied (deleted or moved the capability out of).
    pub fn free(&mut self, slot: CPtr) {
        if self.recycled_len < RECYCLE_CAPACITY {
            self.recycled[self.recycled_len] = slot.0;
            self.recycled_len += 1;
        }
    }

    /// `count` never-used slots in a row, now owned by the caller: the first one's index.
    pub fn alloc_range(&mut self, count: u64) -> Result<u64, BuildError> {
        let first = self.next;
        match first.checked_add(count) {
            Some(end) if end <= self.end => {
                self.next = end;
                Ok(first)
            }
            _ => Err(BuildError::OutOfSlots),
        }
    }

    /// Hands the last `count` never-used slots to a second allocator (another thread's).
    pub fn split_off(&mut self, count: u64) -> Result<SlotAllocator, BuildError> {
        if self.fresh_remaining() < count {
            return Err(BuildError::OutOfSlots);
        }
        self.end -= count;
        Ok(SlotAllocator::new(self.end, self.end + count))
    }

    /// How many never-used slots remain (not counting recycled ones).
    pub fn fresh_remaining(&self) -> u64 {
        self.end.saturating_sub(self.next)
    }
}
