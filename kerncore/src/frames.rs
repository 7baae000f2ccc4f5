//! The physical frame table: the three-state ownership record of every physical frame.
//!
//! Every frame of RAM is in exactly one of three states (docs/ARCHITECTURE.md, "Three-state frames"):
//!
//! * [`FrameState::Free`]: the kernel's own allocator ([`FrameTable::alloc_free`]) may hand
//!   it out. Only boot-time work takes `Free` frames.
//! * [`FrameState::UntypedReserved`]: covered by an untyped region; only a retype
//!   ([`FrameTable::retype`], [`FrameTable::retype_small`]) may hand it out.
//! * [`FrameState::Typed`]: owned by the kernel itself or by typed objects.
//!
//! Frames that are not RAM the kernel may use (holes, firmware tables, device memory) are
//! [`FrameState::Unusable`] and take no part in the three-state accounting.
//!
//! Untyped regions are tracked on the frames themselves. A *top-level* untyped region
//! (made from `Free` memory by [`FrameTable::reserve_for_untyped`]) tags each of its
//! frames with the index of its first frame, its *root*; an untyped carved out of another
//! untyped raises the *depth* of the frames it covers ([`FrameTable::nest_untyped`]).
//! Objects retyped from an untyped keep the tags, so [`FrameTable::check`] can verify that
//! every typed object frame lies inside an untyped region, and
//! [`FrameTable::untyped_is_quiet`] can tell whether an untyped still has live children.
//!
//! Objects smaller than a frame share frames: such a frame is typed with
//! [`Owner::SmallObjects`] and counts the objects in it.
//!
//! The table's storage is provided by the caller, so the kernel can place it in memory it
//! allocates at boot; host tests use ordinary vectors.

use abi::ObjectType;

use crate::cap::ObjectCounts;

/// A run of consecutive physical frames, named by frame number (physical address >> PAGE_BITS).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameRange {
    /// Frame number of the first frame.
    pub first: u64,
    /// Number of frames.
    pub count: u64,
}

/// The state of one physical frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameState {
    /// Not RAM the kernel may use.
    Unusable,
    /// RAM the kernel's own allocator may hand out.
    Free,
    /// RAM covered by an untyped region; only retype may hand it out.
    UntypedReserved,
    /// RAM owned by the kernel or by typed objects.
    Typed(Owner),
}

/// Who owns a typed frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Owner {
    /// The kernel itself: its image, the frame table, boot allocations.
    Kernel,
    /// One object of at least a frame, which this frame is part of.
    Object(ObjectType),
    /// Objects smaller than a frame; the frame counts them.
    SmallObjects,
}

/// The states as [`FrameTable::count`] reports them (the `frame_count` invocation numbers
/// them 0, 1, 2 and 3): the three states of RAM, and frames that are not usable RAM.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StateClass {
    /// [`FrameState::Free`].
    Free,
    /// [`FrameState::UntypedReserved`].
    UntypedReserved,
    /// [`FrameState::Typed`], any owner.
    Typed,
    /// [`FrameState::Unusable`].
    Unusable,
}

/// Frame counts per state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FrameCounts {
    /// Frames in [`FrameState::Free`].
    pub free: u64,
    /// Frames in [`FrameState::UntypedReserved`].
    pub untyped_reserved: u64,
    /// Frames in [`FrameState::Typed`].
    pub typed: u64,
    /// Frames in [`FrameState::Unusable`].
    pub unusable: u64,
}

impl FrameCounts {
    /// Frames of RAM: those in one of the three states (everything but `unusable`).
    pub fn ram(&self) -> u64 {
        self.free + self.untyped_reserved + self.typed
    }
}

/// Why a frame-table operation was refused. Nothing changes when an operation fails.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameError {
    /// The range is empty or reaches outside the table.
    OutOfRange,
    /// A frame in the range is not in the state the operation needs.
    WrongState {
        /// The first offending frame number.
        frame: u64,
        /// Its state.
        found: FrameState,
    },
    /// A frame belongs to a different untyped region or nesting depth than required.
    WrongRegion {
        /// The first offending frame number.
        frame: u64,
    },
    /// The range is not a whole top-level untyped region.
    NotWholeRegion,
    /// A frame holds the largest number of small objects or nesting levels it can count.
    CountOverflow {
        /// The offending frame number.
        frame: u64,
    },
}

/// A broken invariant found by [`FrameTable::check`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CheckError {
    /// An entry does not decode to a state.
    Corrupt {
        /// The frame number.
        frame: u64,
    },
    /// A frame outside untyped memory carries untyped tags, or a frame inside lacks them.
    BadTags {
        /// The frame number.
        frame: u64,
    },
    /// A frame's untyped root is not the start of a contiguous run of its region.
    NotInRegion {
        /// The frame number.
        frame: u64,
    },
    /// A shared small-object frame counts no objects.
    EmptySmallFrame {
        /// The frame number.
        frame: u64,
    },
    /// The maintained per-state counts differ from a recount.
    CountMismatch {
        /// The maintained counts.
        kept: FrameCounts,
        /// The recount.
        actual: FrameCounts,
    },
}

/// One frame's record. Its fields are private: only [`FrameTable`] changes them, so every
/// entry always decodes to a [`FrameState`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C)]
pub struct FrameEntry {
    tag: u8,
    object_type: u8,
    _reserved: u16,
    /// Index (relative to the table) of the root frame of the top-level untyped region, or
    /// [`NO_REGION`].
    region: u32,
    /// Number of live untyped objects covering the frame (0 outside untyped memory).
    depth: u32,
    /// Objects in a shared small-object frame.
    count: u32,
    /// Holds on the object starting at this frame, for objects that have no header of
    /// their own (frames, page tables, VSpaces); kept by the kernel.
    counts: ObjectCounts,
}

impl FrameEntry {
    /// The entry of a frame that is not usable RAM; storage starts out filled with it.
    pub const UNUSABLE: FrameEntry = FrameEntry {
        tag: TAG_UNUSABLE,
        object_type: 0,
        _reserved: 0,
        region: NO_REGION,
        depth: 0,
        count: 0,
        counts: ObjectCounts::UNHELD,
    };
}

const NO_REGION: u32 = u32::MAX;
const TAG_UNUSABLE: u8 = 0;
const TAG_FREE: u8 = 1;
const TAG_UNTYPED: u8 = 2;
const TAG_KERNEL: u8 = 3;
const TAG_OBJECT: u8 = 4;
const TAG_SMALL: u8 = 5;

/// The frame table over a contiguous span of frame numbers.
pub struct FrameTable<'a> {
    entries: &'a mut [FrameEntry],
    first_frame: u64,
    counts: FrameCounts,
    /// Where [`FrameTable::alloc_free`] starts looking.
    alloc_hint: usize,
}

impl<'a> FrameTable<'a> {
    /// A table for frames `first_frame .. first_frame + storage.len()`, all [`FrameState::Unusable`].
    ///
    /// The table indexes regions with 32 bits, so `storage` is cut to `u32::MAX - 1` entries.
    pub fn new(storage: &'a mut [FrameEntry], first_frame: u64) -> FrameTable<'a> {
        let len = storage.len().min(NO_REGION as usize - 1);
        let entries = &mut storage[..len];
        entries.fill(FrameEntry::UNUSABLE);
        let counts = FrameCounts {
            unusable: len as u64,
            ..FrameCounts::default()
        };
        FrameTable {
            entries,
            first_frame,
            counts,
            alloc_hint: 0,
        }
    }

    /// The frame numbers the table covers.
    pub fn span(&self) -> FrameRange {
        FrameRange {
            first: self.first_frame,
            count: self.entries.len() as u64,
        }
    }

    /// The state of `frame`, or `None` outside the table.
    pub fn state(&self, frame: u64) -> Option<FrameState> {
        let index = self.index(frame)?;
        decode(&self.entries[index])
    }

    /// The maintained counts per state.
    pub fn counts(&self) -> FrameCounts {
        self.counts
    }

    /// The number of frames in one state.
    pub fn count(&self, class: StateClass) -> u64 {
        match class {
            StateClass::Free => self.counts.free,
            StateClass::UntypedReserved => self.counts.untyped_reserved,
            StateClass::Typed => self.counts.typed,
            StateClass::Unusable => self.counts.unusable,
        }
    }

    /// Marks RAM from the memory map usable: `Unusable` → `Free`.
    pub fn add_ram(&mut self, range: FrameRange) -> Result<(), FrameError> {
        let span = self.require(range, |entry| entry.tag == TAG_UNUSABLE)?;
        for entry in &mut self.entries[span] {
            *entry = FrameEntry {
                tag: TAG_FREE,
                ..FrameEntry::UNUSABLE
            };
        }
        self.counts.unusable -= range.count;
        self.counts.free += range.count;
        Ok(())
    }

    /// Claims specific frames for the kernel (its image, this table's storage): `Free` → `Typed(Kernel)`.
    pub fn claim_for_kernel(&mut self, range: FrameRange) -> Result<(), FrameError> {
        let span = self.require(range, |entry| entry.tag == TAG_FREE)?;
        for entry in &mut self.entries[span] {
            entry.tag = TAG_KERNEL;
        }
        self.counts.free -= range.count;
        self.counts.typed += range.count;
        Ok(())
    }

    /// Allocates one frame for the kernel's own use: `Free` → `Typed(Kernel)`.
    ///
    /// Never hands out an `UntypedReserved` frame. Returns the frame number, or `None` when
    /// no frame is free.
    pub fn alloc_free(&mut self) -> Option<u64> {
        let len = self.entries.len();
        let index = (0..len)
            .map(|offset| (self.alloc_hint + offset) % len)
            .find(|&index| self.entries[index].tag == TAG_FREE)?;
        self.entries[index].tag = TAG_KERNEL;
        self.counts.free -= 1;
        self.counts.typed += 1;
        self.alloc_hint = (index + 1) % len;
        Some(self.first_frame + index as u64)
    }

    /// The first maximal run of `Free` frames at or after frame `from`, if any.
    pub fn next_free_run(&self, from: u64) -> Option<FrameRange> {
        let start_index = match from.checked_sub(self.first_frame) {
            Some(offset) => usize::try_from(offset).ok()?,
            None => 0,
        };
        let rest = self.entries.get(start_index..)?;
        let start = start_index + rest.iter().position(|entry| entry.tag == TAG_FREE)?;
        let len = self.entries[start..]
            .iter()
            .take_while(|entry| entry.tag == TAG_FREE)
            .count();
        Some(FrameRange {
            first: self.first_frame + start as u64,
            count: len as u64,
        })
    }

    /// Makes a top-level untyped region: every frame `Free` → `UntypedReserved`.
    ///
    /// Refuses if any frame is in another state.
    pub fn reserve_for_untyped(&mut self, range: FrameRange) -> Result<(), FrameError> {
        let span = self.require(range, |entry| entry.tag == TAG_FREE)?;
        let root = span.start as u32;
        for entry in &mut self.entries[span] {
            *entry = FrameEntry {
                tag: TAG_UNTYPED,
                region: root,
                depth: 1,
                ..FrameEntry::UNUSABLE
            };
        }
        self.counts.free -= range.count;
        self.counts.untyped_reserved += range.count;
        Ok(())
    }

    /// Records an untyped object carved out of an untyped at `parent_depth`: every frame must
    /// be `UntypedReserved` at exactly that depth (so no other object lives there), and its
    /// depth rises by one. Returns the new untyped's depth.
    pub fn nest_untyped(
        &mut self,
        range: FrameRange,
        parent_depth: u32,
    ) -> Result<u32, FrameError> {
        let span = self.require(range, |entry| entry.tag == TAG_UNTYPED)?;
        self.require_depth(span.clone(), parent_depth)?;
        let depth = parent_depth
            .checked_add(1)
            .ok_or(FrameError::CountOverflow { frame: range.first })?;
        for entry in &mut self.entries[span] {
            entry.depth = depth;
        }
        Ok(depth)
    }

    /// Undoes [`FrameTable::nest_untyped`] when a nested untyped at `depth` is destroyed; it
    /// must have no live children (see [`FrameTable::untyped_is_quiet`]).
    pub fn unnest_untyped(&mut self, range: FrameRange, depth: u32) -> Result<(), FrameError> {
        if depth < 2 {
            return Err(FrameError::WrongRegion { frame: range.first });
        }
        let span = self.require(range, |entry| entry.tag == TAG_UNTYPED)?;
        self.require_depth(span.clone(), depth)?;
        for entry in &mut self.entries[span] {
            entry.depth = depth - 1;
        }
        Ok(())
    }

    /// Whether an untyped covering `range` at `depth` has no live children: every frame is
    /// `UntypedReserved` and no nested untyped covers any of them.
    pub fn untyped_is_quiet(&self, range: FrameRange, depth: u32) -> bool {
        self.span_of(range).is_some_and(|span| {
            self.entries[span]
                .iter()
                .all(|entry| entry.tag == TAG_UNTYPED && entry.depth == depth)
        })
    }

    /// Hands frames to one object: every frame `UntypedReserved` → `Typed(Object(object_type))`.
    ///
    /// Refuses if any frame is in another state: the untyped allocator's bookkeeping is
    /// checked against the table, never trusted alone.
    pub fn retype(&mut self, range: FrameRange, object_type: ObjectType) -> Result<(), FrameError> {
        let span = self.require(range, |entry| entry.tag == TAG_UNTYPED)?;
        for entry in &mut self.entries[span] {
            entry.tag = TAG_OBJECT;
            entry.object_type = object_type as u8;
            entry.count = 0;
            entry.counts = ObjectCounts::default();
        }
        self.counts.untyped_reserved -= range.count;
        self.counts.typed += range.count;
        Ok(())
    }

    /// Returns an object's frames to its untyped: every frame `Typed(Object(_))` → `UntypedReserved`.
    pub fn untype(&mut self, range: FrameRange) -> Result<(), FrameError> {
        let span = self.require(range, |entry| entry.tag == TAG_OBJECT)?;
        for entry in &mut self.entries[span] {
            entry.tag = TAG_UNTYPED;
            entry.object_type = 0;
            entry.count = 0;
            entry.counts = ObjectCounts::default();
        }
        self.counts.typed -= range.count;
        self.counts.untyped_reserved += range.count;
        Ok(())
    }

    /// Places one object smaller than a frame in `frame`: `UntypedReserved` →
    /// `Typed(SmallObjects)` counting one, or one more object in a shared frame.
    pub fn retype_small(&mut self, frame: u64) -> Result<(), FrameError> {
        let range = FrameRange {
            first: frame,
            count: 1,
        };
        let span = self.require(range, |entry| {
            entry.tag == TAG_UNTYPED || entry.tag == TAG_SMALL
        })?;
        let entry = &mut self.entries[span.start];
        if entry.tag == TAG_UNTYPED {
            entry.tag = TAG_SMALL;
            entry.count = 1;
            self.counts.untyped_reserved -= 1;
            self.counts.typed += 1;
        } else {
            entry.count = entry
                .count
                .checked_add(1)
                .ok_or(FrameError::CountOverflow { frame })?;
        }
        Ok(())
    }

    /// Removes one small object from `frame`; the last one returns it to `UntypedReserved`.
    pub fn untype_small(&mut self, frame: u64) -> Result<(), FrameError> {
        let range = FrameRange {
            first: frame,
            count: 1,
        };
        let span = self.require(range, |entry| entry.tag == TAG_SMALL)?;
        let entry = &mut self.entries[span.start];
        entry.count -= 1;
        if entry.count == 0 {
            entry.tag = TAG_UNTYPED;
            self.counts.typed -= 1;
            self.counts.untyped_reserved += 1;
        }
        Ok(())
    }

    /// Ends a top-level untyped region: every frame `UntypedReserved` → `Free`.
    ///
    /// `range` must be the whole region, with nothing retyped or nested in it.
    pub fn release_untyped(&mut self, range: FrameRange) -> Result<(), FrameError> {
        let span = self.require(range, |entry| entry.tag == TAG_UNTYPED)?;
        let root = span.start as u32;
        if self.entries[span.clone()]
            .iter()
            .any(|entry| entry.region != root)
        {
            return Err(FrameError::NotWholeRegion);
        }
        if self
            .entries
            .get(span.end)
            .is_some_and(|entry| entry.region == root)
        {
            return Err(FrameError::NotWholeRegion);
        }
        self.require_depth(span.clone(), 1)?;
        for entry in &mut self.entries[span] {
            *entry = FrameEntry {
                tag: TAG_FREE,
                ..FrameEntry::UNUSABLE
            };
        }
        self.counts.untyped_reserved -= range.count;
        self.counts.free += range.count;
        Ok(())
    }

    /// The holds kept for the object that starts at `frame`, which must be typed
    /// `Object(_)`; the kernel keeps the holds of header-less objects (frames, page tables,
    /// VSpaces) here. Retype and untype reset them to zero.
    pub fn object_counts(&mut self, frame: u64) -> Option<&mut ObjectCounts> {
        let index = self.index(frame)?;
        let entry = &mut self.entries[index];
        (entry.tag == TAG_OBJECT).then_some(&mut entry.counts)
    }

    /// Verifies the whole table: every entry decodes; untyped tags appear exactly on
    /// untyped-reserved and object frames; every such frame lies in a contiguous region run
    /// that starts at its root; shared frames count at least one object; the maintained
    /// counts equal a recount. Returns the number of frames verified to be in one of the
    /// three states: the RAM the invariant is about, without the `Unusable` frames (holes
    /// in the memory map) that the table also spans.
    pub fn check(&self) -> Result<u64, CheckError> {
        let mut actual = FrameCounts::default();
        let mut previous_region = NO_REGION;
        for (index, entry) in self.entries.iter().enumerate() {
            let frame = self.first_frame + index as u64;
            let state = decode(entry).ok_or(CheckError::Corrupt { frame })?;
            let in_untyped = matches!(
                state,
                FrameState::UntypedReserved
                    | FrameState::Typed(Owner::Object(_) | Owner::SmallObjects)
            );
            let has_tags = entry.region != NO_REGION || entry.depth != 0;
            if in_untyped != has_tags
                || (in_untyped && (entry.region == NO_REGION || entry.depth == 0))
            {
                return Err(CheckError::BadTags { frame });
            }
            if in_untyped && entry.region != previous_region && entry.region as usize != index {
                return Err(CheckError::NotInRegion { frame });
            }
            if state == FrameState::Typed(Owner::SmallObjects) && entry.count == 0 {
                return Err(CheckError::EmptySmallFrame { frame });
            }
            previous_region = entry.region;
            match state {
                FrameState::Unusable => actual.unusable += 1,
                FrameState::Free => actual.free += 1,
                FrameState::UntypedReserved => actual.untyped_reserved += 1,
                FrameState::Typed(_) => actual.typed += 1,
            }
        }
        if actual != self.counts {
            return Err(CheckError::CountMismatch {
                kept: self.counts,
                actual,
            });
        }
        Ok(actual.ram())
    }

    fn index(&self, frame: u64) -> Option<usize> {
        let offset = frame.checked_sub(self.first_frame)?;
        usize::try_from(offset)
            .ok()
            .filter(|&index| index < self.entries.len())
    }

    fn span_of(&self, range: FrameRange) -> Option<core::ops::Range<usize>> {
        if range.count == 0 {
            return None;
        }
        let start = self.index(range.first)?;
        let end = start.checked_add(usize::try_from(range.count).ok()?)?;
        (end <= self.entries.len()).then_some(start..end)
    }

    /// The index span of `range`, provided every entry satisfies `wanted`.
    fn require(
        &self,
        range: FrameRange,
        wanted: impl Fn(&FrameEntry) -> bool,
    ) -> Result<core::ops::Range<usize>, FrameError> {
        let span = self.span_of(range).ok_or(FrameError::OutOfRange)?;
        if let Some(offset) = self.entries[span.clone()]
            .iter()
            .position(|entry| !wanted(entry))
        {
            let index = span.start + offset;
            let found = decode(&self.entries[index]).unwrap_or(FrameState::Unusable);
            return Err(FrameError::WrongState {
                frame: self.first_frame + index as u64,
                found,
            });
        }
        Ok(span)
    }

    fn require_depth(&self, span: core::ops::Range<usize>, depth: u32) -> Result<(), FrameError> {
        let start = span.start;
        match self.entries[span]
            .iter()
            .position(|entry| entry.depth != depth)
        {
            Some(offset) => Err(FrameError::WrongRegion {
                frame: self.first_frame + (start + offset) as u64,
            }),
            None => Ok(()),
        }
    }
}

fn decode(entry: &FrameEntry) -> Option<FrameState> {
    Some(match entry.tag {
        TAG_UNUSABLE => FrameState::Unusable,
        TAG_FREE => FrameState::Free,
        TAG_UNTYPED => FrameState::UntypedReserved,
        TAG_KERNEL => FrameState::Typed(Owner::Kernel),
        TAG_OBJECT => FrameState::Typed(Owner::Object(
            ObjectType::try_from(u64::from(entry.object_type)).ok()?,
        )),
        TAG_SMALL => FrameState::Typed(Owner::SmallObjects),
        _ => return None,
    })
}

const _: () = assert!(core::mem::size_of::<FrameEntry>() == 24);

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Frame number of the table's first frame in the tests.
    const BASE: u64 = 0x100;
    /// Frames in the test table.
    const LEN: usize = 32;

    #[derive(Clone, Copy, Debug)]
    enum Op {
        AddRam(u64, u64),
        Claim(u64, u64),
        Alloc,
        Reserve(u64, u64),
        Nest(u64, u64, u32),
        Unnest(u64, u64, u32),
        Retype(u64, u64),
        Untype(u64, u64),
        RetypeSmall(u64),
        UntypeSmall(u64),
        Release(u64, u64),
    }

    /// What an operation is expected to return.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    enum Outcome {
        Done,
        Allocated(Option<u64>),
        Nested(u32),
        Refused(FrameError),
    }

    use Op::*;
    use Outcome::*;

    fn range(first: u64, count: u64) -> FrameRange {
        FrameRange {
            first: BASE + first,
            count,
        }
    }

    fn apply(table: &mut FrameTable<'_>, op: Op) -> Outcome {
        let result = match op {
            AddRam(first, count) => table.add_ram(range(first, count)),
            Claim(first, count) => table.claim_for_kernel(range(first, count)),
            Alloc => return Allocated(table.alloc_free().map(|frame| frame - BASE)),
            Reserve(first, count) => table.reserve_for_untyped(range(first, count)),
            Nest(first, count, depth) => {
                return match table.nest_untyped(range(first, count), depth) {
                    Ok(depth) => Nested(depth),
                    Err(error) => Refused(error),
                };
            }
            Unnest(first, count, depth) => table.unnest_untyped(range(first, count), depth),
            Retype(first, count) => table.retype(range(first, count), ObjectType::Frame),
            Untype(first, count) => table.untype(range(first, count)),
            RetypeSmall(frame) => table.retype_small(BASE + frame),
            UntypeSmall(frame) => table.untype_small(BASE + frame),
            Release(first, count) => table.release_untyped(range(first, count)),
        };
        match result {
            Ok(()) => Done,
            Err(error) => Refused(error),
        }
    }

    /// Runs `steps` on a fresh table, checking each outcome, that the table stays
    /// consistent, and that a refused operation changes nothing; returns the final counts.
    fn check(steps: &[(Op, Outcome)], counts: FrameCounts) {
        let mut storage = vec![FrameEntry::UNUSABLE; LEN];
        let mut table = FrameTable::new(&mut storage, BASE);
        for (index, &(op, expected)) in steps.iter().enumerate() {
            let before = table.entries.to_vec();
            let outcome = apply(&mut table, op);
            assert_eq!(outcome, expected, "step {index}: {op:?}");
            if let Refused(_) = outcome {
                assert_eq!(
                    table.entries,
                    &before[..],
                    "step {index}: refused {op:?} changed the table"
                );
            }
            assert_eq!(
                table.check(),
                Ok(table.counts().ram()),
                "step {index}: {op:?}"
            );
        }
        assert_eq!(table.counts(), counts);
    }

    fn counts(free: u64, untyped_reserved: u64, typed: u64) -> FrameCounts {
        let unusable = LEN as u64 - free - untyped_reserved - typed;
        FrameCounts {
            free,
            untyped_reserved,
            typed,
            unusable,
        }
    }

    fn wrong(frame: u64, found: FrameState) -> Outcome {
        Refused(FrameError::WrongState {
            frame: BASE + frame,
            found,
        })
    }

    #[test]
    fn boot_states() {
        check(&[], counts(0, 0, 0));
        check(
            &[(AddRam(0, 16), Done), (Claim(0, 2), Done)],
            counts(14, 0, 2),
        );
        check(
            &[
                (AddRam(0, 16), Done),
                (AddRam(15, 2), wrong(15, FrameState::Free)),
            ],
            counts(16, 0, 0),
        );
        check(
            &[(AddRam(30, 3), Refused(FrameError::OutOfRange))],
            counts(0, 0, 0),
        );
        check(
            &[(AddRam(0, 0), Refused(FrameError::OutOfRange))],
            counts(0, 0, 0),
        );
        check(
            &[(Claim(0, 1), wrong(0, FrameState::Unusable))],
            counts(0, 0, 0),
        );
    }

    /// A memory map with a hole (as below 4 GiB on a PC with more RAM): the checker counts
    /// the RAM on both sides, in all three states, and not the `Unusable` frames between.
    #[test]
    fn checker_counts_ram_not_holes() {
        let mut storage = vec![FrameEntry::UNUSABLE; LEN];
        let mut table = FrameTable::new(&mut storage, BASE);
        assert_eq!(table.check(), Ok(0));
        table.add_ram(range(0, 8)).unwrap();
        table.add_ram(range(20, 12)).unwrap();
        table.claim_for_kernel(range(0, 2)).unwrap();
        table.reserve_for_untyped(range(20, 8)).unwrap();
        table.retype(range(20, 1), ObjectType::Frame).unwrap();
        assert_eq!(table.count(StateClass::Free), 6 + 4);
        assert_eq!(table.count(StateClass::UntypedReserved), 7);
        assert_eq!(table.count(StateClass::Typed), 2 + 1);
        assert_eq!(table.count(StateClass::Unusable), 12);
        assert_eq!(table.check(), Ok(20));
        assert_eq!(table.counts().ram(), 20);
    }

    #[test]
    fn alloc_free_never_takes_untyped_memory() {
        check(
            &[
                (AddRam(0, 4), Done),
                (Reserve(0, 2), Done),
                (Alloc, Allocated(Some(2))),
                (Alloc, Allocated(Some(3))),
                (Alloc, Allocated(None)),
            ],
            counts(0, 2, 2),
        );
        check(&[(Alloc, Allocated(None))], counts(0, 0, 0));
    }

    #[test]
    fn untyped_lifecycle() {
        let kernel = FrameState::Typed(Owner::Kernel);
        let object = FrameState::Typed(Owner::Object(ObjectType::Frame));
        check(
            &[
                (AddRam(0, 16), Done),
                (Claim(0, 1), Done),
                (Reserve(0, 8), wrong(0, kernel)),
                (Reserve(8, 8), Done),
                (Reserve(8, 1), wrong(8, FrameState::UntypedReserved)),
                (Retype(7, 2), wrong(7, FrameState::Free)),
                (Retype(8, 2), Done),
                (Retype(9, 1), wrong(9, object)),
                (Release(8, 8), wrong(8, object)),
                (Untype(8, 2), Done),
                (Untype(8, 1), wrong(8, FrameState::UntypedReserved)),
                (Release(8, 4), Refused(FrameError::NotWholeRegion)),
                (Release(9, 7), Refused(FrameError::NotWholeRegion)),
                (Release(8, 8), Done),
                (Untype(0, 1), wrong(0, kernel)),
            ],
            counts(15, 0, 1),
        );
    }

    #[test]
    fn adjacent_regions_stay_separate() {
        check(
            &[
                (AddRam(0, 8), Done),
                (Reserve(0, 4), Done),
                (Reserve(4, 4), Done),
                (Release(0, 8), Refused(FrameError::NotWholeRegion)),
                (Release(4, 4), Done),
            ],
            counts(4, 4, 0),
        );
    }

    #[test]
    fn nested_untyped() {
        check(
            &[
                (AddRam(0, 8), Done),
                (Reserve(0, 8), Done),
                (Nest(0, 4, 1), Nested(2)),
                (
                    Nest(2, 4, 1),
                    Refused(FrameError::WrongRegion { frame: BASE + 2 }),
                ),
                (Nest(0, 2, 2), Nested(3)),
                (
                    Unnest(0, 4, 2),
                    Refused(FrameError::WrongRegion { frame: BASE }),
                ),
                (
                    Release(0, 8),
                    Refused(FrameError::WrongRegion { frame: BASE }),
                ),
                (Unnest(0, 2, 3), Done),
                (
                    Unnest(0, 4, 1),
                    Refused(FrameError::WrongRegion { frame: BASE }),
                ),
                (Retype(0, 1), Done),
                (
                    Unnest(0, 4, 2),
                    wrong(0, FrameState::Typed(Owner::Object(ObjectType::Frame))),
                ),
                (Untype(0, 1), Done),
                (Unnest(0, 4, 2), Done),
                (Release(0, 8), Done),
            ],
            counts(8, 0, 0),
        );
    }

    #[test]
    fn small_objects_share_a_frame() {
        check(
            &[
                (AddRam(0, 4), Done),
                (RetypeSmall(0), wrong(0, FrameState::Free)),
                (Reserve(0, 4), Done),
                (RetypeSmall(1), Done),
                (RetypeSmall(1), Done),
                (
                    Retype(1, 1),
                    wrong(1, FrameState::Typed(Owner::SmallObjects)),
                ),
                (
                    Untype(1, 1),
                    wrong(1, FrameState::Typed(Owner::SmallObjects)),
                ),
                (UntypeSmall(1), Done),
                (UntypeSmall(2), wrong(2, FrameState::UntypedReserved)),
            ],
            counts(0, 3, 1),
        );
        check(
            &[
                (AddRam(0, 4), Done),
                (Reserve(0, 4), Done),
                (RetypeSmall(1), Done),
                (UntypeSmall(1), Done),
            ],
            counts(0, 4, 0),
        );
    }

    #[test]
    fn counters_refuse_to_overflow() {
        let mut storage = vec![FrameEntry::UNUSABLE; LEN];
        let mut table = FrameTable::new(&mut storage, BASE);
        table.add_ram(range(0, 4)).unwrap();
        table.reserve_for_untyped(range(0, 4)).unwrap();
        table.retype_small(BASE).unwrap();
        table.entries[0].count = u32::MAX;
        let before = table.entries.to_vec();
        assert_eq!(
            table.retype_small(BASE),
            Err(FrameError::CountOverflow { frame: BASE })
        );
        assert_eq!(table.entries, &before[..]);
        for entry in &mut table.entries[1..3] {
            entry.depth = u32::MAX;
        }
        let overflow = table.nest_untyped(range(1, 2), u32::MAX);
        assert_eq!(overflow, Err(FrameError::CountOverflow { frame: BASE + 1 }));
    }

    #[test]
    fn free_runs() {
        let mut storage = vec![FrameEntry::UNUSABLE; LEN];
        let mut table = FrameTable::new(&mut storage, BASE);
        assert_eq!(table.next_free_run(0), None);
        table.add_ram(range(2, 10)).unwrap();
        table.add_ram(range(20, 12)).unwrap();
        table.claim_for_kernel(range(5, 1)).unwrap();
        let runs = [
            (0, Some(range(2, 3))),
            (BASE + 3, Some(range(3, 2))),
            (BASE + 5, Some(range(6, 6))),
            (BASE + 12, Some(range(20, 12))),
            (BASE + 31, Some(range(31, 1))),
            (BASE + 32, None),
            (u64::MAX, None),
        ];
        for (from, expected) in runs {
            assert_eq!(table.next_free_run(from), expected, "from {from:#x}");
        }
    }

    #[test]
    fn quiet_untyped_detection() {
        let mut storage = vec![FrameEntry::UNUSABLE; LEN];
        let mut table = FrameTable::new(&mut storage, BASE);
        table.add_ram(range(0, 8)).unwrap();
        table.reserve_for_untyped(range(0, 8)).unwrap();
        assert!(table.untyped_is_quiet(range(0, 8), 1));
        table.retype_small(BASE + 3).unwrap();
        assert!(!table.untyped_is_quiet(range(0, 8), 1));
        table.untype_small(BASE + 3).unwrap();
        table.nest_untyped(range(4, 4), 1).unwrap();
        assert!(!table.untyped_is_quiet(range(0, 8), 1));
        assert!(table.untyped_is_quiet(range(4, 4), 2));
        assert!(!table.untyped_is_quiet(range(4, 40), 2));
    }

    #[test]
    fn object_counts_live_with_object_frames() {
        let mut storage = vec![FrameEntry::UNUSABLE; LEN];
        let mut table = FrameTable::new(&mut storage, BASE);
        table.add_ram(range(0, 4)).unwrap();
        assert!(table.object_counts(BASE).is_none());
        table.reserve_for_untyped(range(0, 4)).unwrap();
        table.retype(range(0, 1), ObjectType::PageTable).unwrap();
        table.object_counts(BASE).unwrap().holders = 3;
        assert_eq!(
            table.object_counts(BASE).map(|counts| counts.holders),
            Some(3)
        );
        table.untype(range(0, 1)).unwrap();
        table.retype(range(0, 1), ObjectType::Frame).unwrap();
        assert_eq!(
            table.object_counts(BASE).map(|counts| counts.holders),
            Some(0)
        );
        assert_eq!(
            table.state(BASE),
            Some(FrameState::Typed(Owner::Object(ObjectType::Frame)))
        );
        assert_eq!(table.state(BASE + LEN as u64), None);
    }

    #[test]
    fn checker_finds_corruption() {
        type Corruption = fn(&mut [FrameEntry]);
        let cases: [(Corruption, CheckError); 5] = [
            (
                |entries| entries[2].tag = 99,
                CheckError::Corrupt { frame: BASE + 2 },
            ),
            (
                |entries| entries[0].depth = 1,
                CheckError::BadTags { frame: BASE },
            ),
            (
                |entries| entries[5].region = 6,
                CheckError::NotInRegion { frame: BASE + 5 },
            ),
            (
                |entries| entries[4].tag = TAG_SMALL,
                CheckError::EmptySmallFrame { frame: BASE + 4 },
            ),
            (
                |entries| entries[1].tag = TAG_KERNEL,
                CheckError::CountMismatch {
                    kept: counts(4, 4, 0),
                    actual: counts(3, 4, 1),
                },
            ),
        ];
        for (corrupt, expected) in cases {
            let mut storage = vec![FrameEntry::UNUSABLE; LEN];
            let mut table = FrameTable::new(&mut storage, BASE);
            table.add_ram(range(0, 8)).unwrap();
            table.reserve_for_untyped(range(4, 4)).unwrap();
            corrupt(table.entries);
            assert_eq!(table.check(), Err(expected));
        }
    }

    fn any_op() -> impl Strategy<Value = Op> {
        let first = 0..LEN as u64 + 2;
        let count = 0..10u64;
        prop_oneof![
            (first.clone(), count.clone()).prop_map(|(f, c)| AddRam(f, c)),
            (first.clone(), count.clone()).prop_map(|(f, c)| Claim(f, c)),
            Just(Alloc),
            (first.clone(), count.clone()).prop_map(|(f, c)| Reserve(f, c)),
            (first.clone(), count.clone(), 0..4u32).prop_map(|(f, c, d)| Nest(f, c, d)),
            (first.clone(), count.clone(), 0..4u32).prop_map(|(f, c, d)| Unnest(f, c, d)),
            (first.clone(), count.clone()).prop_map(|(f, c)| Retype(f, c)),
            (first.clone(), count.clone()).prop_map(|(f, c)| Untype(f, c)),
            first.clone().prop_map(RetypeSmall),
            first.clone().prop_map(UntypeSmall),
            (first, count).prop_map(|(f, c)| Release(f, c)),
        ]
    }

    proptest! {
        #[test]
        fn random_operations_keep_the_table_consistent(ops in proptest::collection::vec(any_op(), 1..200)) {
            let mut storage = vec![FrameEntry::UNUSABLE; LEN];
            let mut table = FrameTable::new(&mut storage, BASE);
            table.add_ram(range(0, 24)).unwrap();
            for op in ops {
                let before = table.entries.to_vec();
                let before_counts = table.counts();
                let outcome = apply(&mut table, op);
                if let Refused(_) = outcome {
                    prop_assert_eq!(&*table.entries, &before[..]);
                    prop_assert_eq!(table.counts(), before_counts);
                }
                prop_assert_eq!(table.check(), Ok(table.counts().ram()));
                let total = table.counts();
                prop_assert_eq!(total.free + total.untyped_reserved + total.typed + total.unusable, LEN as u64);
            }
        }
    }
}
