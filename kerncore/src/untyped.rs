//! The untyped allocator: object sizes per type and the watermark that carves objects out
//! of an untyped region.
//!
//! An untyped's allocation state ([`UntypedState`]) travels in its capability, which can be
//! moved but never copied, so there is exactly one allocator per region. Whether the
//! region still has live children is read from the frame table
//! ([`crate::frames::FrameTable::untyped_is_quiet`]), never from a counter that could drift;
//! once it has none, [`UntypedState::reset`] makes the whole region available again.

use crate::frames::FrameRange;
use abi::{
    CNODE_SLOT_BITS, ENDPOINT_SIZE_BITS, Error, MAX_CNODE_BITS, NOTIFICATION_SIZE_BITS, ObjectType,
    PAGE_BITS, PAGE_TABLE_SIZE_BITS, TCB_SIZE_BITS,
};

/// Smallest untyped, as log2 of bytes: one page, so that an untyped is a whole number of frames.
pub const MIN_UNTYPED_BITS: u8 = PAGE_BITS as u8;

/// Largest untyped, as log2 of bytes: the 52-bit physical address space.
pub const MAX_UNTYPED_BITS: u8 = 52;

/// Smallest CNode, as log2 of its slot count. Slot 0 of every CNode is the null slot, so a
/// CNode needs at least two slots to hold anything.
pub const MIN_CNODE_BITS: u8 = 1;

/// The allocation state of one untyped region.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UntypedState {
    /// Physical address of the region; aligned to its size.
    pub base: u64,
    /// log2 of the region's size in bytes.
    pub size_bits: u8,
    /// Bytes from `base` already handed out.
    pub watermark: u64,
    /// How many untyped objects cover this region, itself included (1 for a top-level untyped).
    pub depth: u32,
}

impl UntypedState {
    /// A fresh region, or `None` when the size is out of bounds or `base` is not aligned to it.
    pub fn new(base: u64, size_bits: u8, depth: u32) -> Option<UntypedState> {
        let size_ok = (MIN_UNTYPED_BITS..=MAX_UNTYPED_BITS).contains(&size_bits);
        (size_ok && base & ((1 << size_bits) - 1) == 0 && depth >= 1).then_some(UntypedState {
            base,
            size_bits,
            watermark: 0,
            depth,
        })
    }

    /// The region's size in bytes.
    pub fn size(&self) -> u64 {
        1 << self.size_bits
    }

    /// Bytes not yet handed out.
    pub fn free_bytes(&self) -> u64 {
        self.size() - self.watermark
    }

    /// Carves an object of `2^object_bits` bytes, aligned to its size, above the watermark.
    /// Returns its physical address.
    pub fn allocate(&mut self, object_bits: u8) -> Result<u64, Error> {
        if object_bits > self.size_bits {
            return Err(Error::OutOfMemory);
        }
        let size = 1u64 << object_bits;
        let offset = self.watermark.next_multiple_of(size);
        let end = offset.checked_add(size).ok_or(Error::OutOfMemory)?;
        if end > self.size() {
            return Err(Error::OutOfMemory);
        }
        self.watermark = end;
        Ok(self.base + offset)
    }

    /// Makes the whole region available again; only for a region with no live children.
    pub fn reset(&mut self) {
        self.watermark = 0;
    }
}

/// The log2 of the bytes an object of `object_type` takes from an untyped.
///
/// `size_bits` sizes Untyped objects (log2 of bytes) and CNodes (log2 of the slot count)
/// and is ignored for the fixed-size types. KernelDebug objects cannot be retyped.
pub fn object_size_bits(object_type: ObjectType, size_bits: u8) -> Result<u8, Error> {
    match object_type {
        ObjectType::Untyped if (MIN_UNTYPED_BITS..=MAX_UNTYPED_BITS).contains(&size_bits) => {
            Ok(size_bits)
        }
        ObjectType::CNode if (MIN_CNODE_BITS..=MAX_CNODE_BITS).contains(&size_bits) => {
            Ok(size_bits + CNODE_SLOT_BITS)
        }
        ObjectType::Untyped | ObjectType::CNode | ObjectType::KernelDebug => {
            Err(Error::InvalidArgument)
        }
        ObjectType::Tcb => Ok(TCB_SIZE_BITS),
        ObjectType::VSpace | ObjectType::PageTable => Ok(PAGE_TABLE_SIZE_BITS),
        ObjectType::Frame => Ok(PAGE_BITS as u8),
        ObjectType::Notification => Ok(NOTIFICATION_SIZE_BITS),
        ObjectType::Endpoint => Ok(ENDPOINT_SIZE_BITS),
    }
}

/// Splits a run of frames into the fewest untyped-sized pieces: each a power of two of
/// frames, aligned to its size, at most `2^MAX_UNTYPED_BITS` bytes, in address order.
pub fn aligned_chunks(run: FrameRange) -> impl Iterator<Item = FrameRange> {
    let end = run.first.saturating_add(run.count);
    let max_frame_bits = u32::from(MAX_UNTYPED_BITS) - PAGE_BITS as u32;
    let mut next = run.first;
    core::iter::from_fn(move || {
        if next >= end {
            return None;
        }
        let align_bits = if next == 0 {
            u64::BITS - 1
        } else {
            next.trailing_zeros()
        };
        let fit_bits = (end - next).ilog2();
        let count = 1u64 << align_bits.min(fit_bits).min(max_frame_bits);
        let chunk = FrameRange { first: next, count };
        next += count;
        Some(chunk)
    })
}

/// The frames an object of `2^object_bits` bytes at `paddr` occupies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ObjectFrames {
    /// A frame-sized or larger object owns whole frames.
    Whole(FrameRange),
    /// A smaller object shares one frame with other small objects.
    Shared(u64),
}

/// The frames an object of `2^object_bits` bytes at `paddr` occupies.
pub fn object_frames(paddr: u64, object_bits: u8) -> ObjectFrames {
    let first = paddr >> PAGE_BITS;
    if u64::from(object_bits) >= PAGE_BITS {
        ObjectFrames::Whole(FrameRange {
            first,
            count: 1 << (u64::from(object_bits) - PAGE_BITS),
        })
    } else {
        ObjectFrames::Shared(first)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_size(object_type: ObjectType, size_bits: u8, expected: Result<u8, Error>) {
        assert_eq!(
            object_size_bits(object_type, size_bits),
            expected,
            "{object_type:?} size_bits {size_bits}"
        );
    }

    #[test]
    fn object_sizes() {
        check_size(ObjectType::Tcb, 0, Ok(TCB_SIZE_BITS));
        check_size(ObjectType::Tcb, 99, Ok(TCB_SIZE_BITS));
        check_size(ObjectType::VSpace, 0, Ok(PAGE_TABLE_SIZE_BITS));
        check_size(ObjectType::PageTable, 0, Ok(PAGE_TABLE_SIZE_BITS));
        check_size(ObjectType::Frame, 0, Ok(PAGE_BITS as u8));
        check_size(ObjectType::Notification, 0, Ok(NOTIFICATION_SIZE_BITS));
        check_size(ObjectType::Endpoint, 0, Ok(ENDPOINT_SIZE_BITS));
        check_size(ObjectType::CNode, 4, Ok(4 + CNODE_SLOT_BITS));
        check_size(
            ObjectType::CNode,
            MAX_CNODE_BITS,
            Ok(MAX_CNODE_BITS + CNODE_SLOT_BITS),
        );
        check_size(
            ObjectType::CNode,
            MAX_CNODE_BITS + 1,
            Err(Error::InvalidArgument),
        );
        check_size(ObjectType::CNode, 0, Err(Error::InvalidArgument));
        check_size(ObjectType::Untyped, 12, Ok(12));
        check_size(ObjectType::Untyped, 11, Err(Error::InvalidArgument));
        check_size(
            ObjectType::Untyped,
            MAX_UNTYPED_BITS + 1,
            Err(Error::InvalidArgument),
        );
        check_size(ObjectType::KernelDebug, 0, Err(Error::InvalidArgument));
    }

    /// Allocates `requests` (object size bits) in order from a 64 KiB untyped at 0x10_0000
    /// and compares the addresses (as offsets) and the final free bytes.
    fn check_allocations(requests: &[(u8, Result<u64, Error>)], free_bytes: u64) {
        let base = 0x10_0000;
        let mut untyped = UntypedState::new(base, 16, 1).unwrap();
        for &(bits, expected) in requests {
            let got = untyped.allocate(bits).map(|paddr| paddr - base);
            assert_eq!(got, expected, "allocate 2^{bits}");
        }
        assert_eq!(untyped.free_bytes(), free_bytes);
    }

    #[test]
    fn watermark_allocation() {
        check_allocations(&[], 1 << 16);
        check_allocations(&[(12, Ok(0)), (12, Ok(0x1000))], (1 << 16) - 0x2000);
        // A 64-byte object, then a page: the page is aligned up past the gap.
        check_allocations(
            &[(6, Ok(0)), (12, Ok(0x1000)), (6, Ok(0x2000))],
            (1 << 16) - 0x2040,
        );
        check_allocations(
            &[(15, Ok(0)), (15, Ok(0x8000)), (6, Err(Error::OutOfMemory))],
            0,
        );
        check_allocations(
            &[(12, Ok(0)), (16, Err(Error::OutOfMemory))],
            (1 << 16) - 0x1000,
        );
        check_allocations(&[(17, Err(Error::OutOfMemory))], 1 << 16);
        check_allocations(&[(16, Ok(0))], 0);
    }

    #[test]
    fn reset_and_construction() {
        let mut untyped = UntypedState::new(0x4000, 14, 1).unwrap();
        untyped.allocate(12).unwrap();
        untyped.reset();
        assert_eq!(untyped.free_bytes(), 1 << 14);
        assert_eq!(UntypedState::new(0x1000, 14, 1), None, "misaligned base");
        assert_eq!(UntypedState::new(0, 11, 1), None, "too small");
        assert_eq!(UntypedState::new(0, 12, 0), None, "depth 0");
    }

    fn check_chunks(first: u64, count: u64, expected: &[(u64, u64)]) {
        let chunks: Vec<_> = aligned_chunks(FrameRange { first, count })
            .map(|c| (c.first, c.count))
            .collect();
        assert_eq!(chunks, expected, "run {first:#x} + {count:#x}");
    }

    #[test]
    fn runs_split_into_aligned_powers_of_two() {
        check_chunks(0x100, 0, &[]);
        check_chunks(0x100, 0x100, &[(0x100, 0x100)]);
        check_chunks(0x101, 3, &[(0x101, 1), (0x102, 2)]);
        check_chunks(
            0x1c6,
            0xfe19,
            &[
                (0x1c6, 2),
                (0x1c8, 8),
                (0x1d0, 0x10),
                (0x1e0, 0x20),
                (0x200, 0x200),
                (0x400, 0x400),
                (0x800, 0x800),
                (0x1000, 0x1000),
                (0x2000, 0x2000),
                (0x4000, 0x4000),
                (0x8000, 0x4000),
                (0xc000, 0x2000),
                (0xe000, 0x1000),
                (0xf000, 0x800),
                (0xf800, 0x400),
                (0xfc00, 0x200),
                (0xfe00, 0x100),
                (0xff00, 0x80),
                (0xff80, 0x40),
                (0xffc0, 0x10),
                (0xffd0, 0x8),
                (0xffd8, 0x4),
                (0xffdc, 0x2),
                (0xffde, 0x1),
            ],
        );
        let max = 1u64 << (MAX_UNTYPED_BITS as u64 - PAGE_BITS);
        check_chunks(0, 2 * max, &[(0, max), (max, max)]);
        check_chunks(u64::MAX - 1, 5, &[(u64::MAX - 1, 1)]);
    }

    #[test]
    fn frames_of_objects() {
        assert_eq!(
            object_frames(0x5000, 12),
            ObjectFrames::Whole(FrameRange { first: 5, count: 1 })
        );
        assert_eq!(
            object_frames(0x8000, 15),
            ObjectFrames::Whole(FrameRange { first: 8, count: 8 })
        );
        assert_eq!(object_frames(0x5040, 6), ObjectFrames::Shared(5));
    }
}
