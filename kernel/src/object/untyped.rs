//! Untyped objects: retype (carving typed objects out of untyped memory) and untyped teardown.
//!
//! The watermark lives in the untyped's original capability (kerncore's `UntypedState`);
//! only the original retypes or describes (a copy, derived on the tree, is refused with
//! `IllegalOperation`). Every object retyped goes on the derivation tree right after the
//! original, as its child. Every frame transition goes through the frame table, which
//! refuses anything that is not `UntypedReserved`, so the allocator's bookkeeping is
//! checked rather than trusted.

use abi::{Error, ObjectType, PAGE_BITS};
use kerncore::{
    Cap, CapState, FrameRange, ObjectFrames, ObjectRef, UntypedState, cdt, object_frames,
    object_size_bits,
};

use super::cnode::{self, PhysSlots, SlotRef};
use super::frames::with_table;
use super::{notification, tcb, vspace, zero_phys};

/// The frames an untyped covers.
fn range_of(untyped: &UntypedState) -> FrameRange {
    FrameRange {
        first: untyped.base >> PAGE_BITS,
        count: 1 << (u64::from(untyped.size_bits) - PAGE_BITS),
    }
}

fn state_of(cap: &Cap) -> Result<UntypedState, Error> {
    match cap.state {
        CapState::Untyped(untyped) => Ok(untyped),
        _ => Err(Error::WrongObjectType),
    }
}

/// The allocation state of the untyped capability `cap` in `slot`, which must be the
/// original (`IllegalOperation` for a copy, whose state is not kept).
fn original_state(cap: &Cap, slot: SlotRef) -> Result<UntypedState, Error> {
    let untyped = state_of(cap)?;
    if cnode::link_of(slot).derived {
        return Err(Error::IllegalOperation);
    }
    Ok(untyped)
}

/// Resets the watermark of an untyped that has no live children any more.
fn reclaim(untyped: &mut UntypedState) {
    if untyped.watermark != 0
        && with_table(|table| table.untyped_is_quiet(range_of(untyped), untyped.depth))
    {
        untyped.reset();
    }
}

/// Bytes still available in the untyped whose capability is in `slot`.
pub fn describe(cap: &Cap, slot: SlotRef) -> Result<u64, Error> {
    let mut untyped = original_state(cap, slot)?;
    let before = untyped;
    reclaim(&mut untyped);
    if untyped != before {
        cnode::set(
            slot,
            Some(Cap {
                state: CapState::Untyped(untyped),
                ..*cap
            }),
        )?;
    }
    Ok(untyped.free_bytes())
}

/// Creates an object of `object_type` from the untyped capability `cap` (in `slot`) and
/// places a capability to it in the empty slot `dest`.
pub fn retype(
    cap: &Cap,
    slot: SlotRef,
    object_type: ObjectType,
    size_bits: u8,
    dest: SlotRef,
) -> Result<(), Error> {
    let mut untyped = original_state(cap, slot)?;
    cnode::check_empty(dest)?;
    let new_cap = create(&mut untyped, object_type, size_bits)?;
    cnode::set(dest, Some(new_cap))?;
    cdt::insert_after(&mut PhysSlots, slot.paddr(), dest.paddr(), false);
    cnode::set(
        slot,
        Some(Cap {
            state: CapState::Untyped(untyped),
            ..*cap
        }),
    )
}

/// Resets the watermark of the untyped capability `cap` in `slot` after a revoke left it
/// without descendants (every object retyped from it is gone, so the frame table shows
/// the region quiet). A copy has no watermark to reset.
pub fn reset(cap: &Cap, slot: SlotRef) -> Result<(), Error> {
    let Ok(mut untyped) = original_state(cap, slot) else {
        return Ok(());
    };
    if !with_table(|table| table.untyped_is_quiet(range_of(&untyped), untyped.depth)) {
        panic!(
            "invariant broken: untyped at {:#x} has no descendants but live objects",
            untyped.base
        );
    }
    untyped.reset();
    cnode::set(
        slot,
        Some(Cap {
            state: CapState::Untyped(untyped),
            ..*cap
        }),
    )
}

/// Carves a new object out of `untyped` (reclaiming the region first if it has no live
/// children): frame table transition, zero fill, initial state with one capability.
/// Returns that capability.
pub fn create(
    untyped: &mut UntypedState,
    object_type: ObjectType,
    size_bits: u8,
) -> Result<Cap, Error> {
    let object_bits = object_size_bits(object_type, size_bits)?;
    if { *untyped }.allocate(object_bits).is_err() {
        reclaim(untyped);
    }
    let paddr = untyped.allocate(object_bits)?;
    // Frame table first: it refuses anything that is not untyped-reserved memory.
    if object_type == ObjectType::Untyped {
        let child_range = FrameRange {
            first: paddr >> PAGE_BITS,
            count: 1 << (u64::from(object_bits) - PAGE_BITS),
        };
        let depth = with_table(|table| table.nest_untyped(child_range, untyped.depth))
            .map_err(|error| frame_refusal(object_type, paddr, error))?;
        let child = UntypedState::new(paddr, object_bits, depth).ok_or(Error::InvalidArgument)?;
        return Ok(Cap::new_untyped(child));
    }
    with_table(|table| match object_frames(paddr, object_bits) {
        ObjectFrames::Whole(range) => table.retype(range, object_type),
        ObjectFrames::Shared(frame) => table.retype_small(frame),
    })
    .map_err(|error| frame_refusal(object_type, paddr, error))?;
    zero_phys(paddr, 1 << object_bits);
    let object = ObjectRef { object_type, paddr };
    init_object(object, size_bits);
    Ok(Cap::new_object(object, size_bits))
}

/// A frame-table refusal during retype means the watermark and the table disagree: a
/// broken kernel invariant.
fn frame_refusal(object_type: ObjectType, paddr: u64, error: kerncore::FrameError) -> Error {
    panic!(
        "three-state invariant: retype of {object_type:?} at {paddr:#x} refused by the frame table: {error:?}"
    );
}

/// Puts a zeroed object into its initial state (the frame table starts its holds at zero).
fn init_object(object: ObjectRef, size_bits: u8) {
    match object.object_type {
        ObjectType::Tcb => tcb::init(object.paddr),
        ObjectType::CNode => cnode::init(object.paddr, size_bits),
        ObjectType::Notification => notification::init(object.paddr),
        ObjectType::VSpace => vspace::init(object.paddr),
        ObjectType::Frame
        | ObjectType::PageTable
        | ObjectType::Untyped
        | ObjectType::Endpoint
        | ObjectType::KernelDebug => {}
    }
}

/// Whether the untyped may be destroyed: no live children in its range.
pub fn check_destroy(cap: &Cap) -> Result<(), Error> {
    let untyped = state_of(cap)?;
    if with_table(|table| table.untyped_is_quiet(range_of(&untyped), untyped.depth)) {
        Ok(())
    } else {
        Err(Error::Busy)
    }
}

/// Ends an untyped whose capability was deleted: a nested one gives its frames back to its
/// parent; a top-level one returns its whole range to `Free`.
pub fn destroy(cap: &Cap) {
    let Ok(untyped) = state_of(cap) else { return };
    let range = range_of(&untyped);
    let result = with_table(|table| {
        if untyped.depth == 1 {
            table.release_untyped(range)
        } else {
            table.unnest_untyped(range, untyped.depth)
        }
    });
    if let Err(error) = result {
        panic!(
            "three-state invariant: untyped at {:#x} could not be released: {error:?}",
            untyped.base
        );
    }
}
