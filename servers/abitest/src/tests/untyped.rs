//! Untyped memory: retype of every object type, free-space accounting, and retype's refusals.

use trona::substrate;
use trona::uapi::{CPtr, Error, NOTIFICATION_SIZE_BITS, ObjectType, PAGE_SIZE};

use crate::ctx::Ctx;
use crate::harness::{Failure, Outcome, ensure, err, err_one_of, ok};
use rootlib::ROOT_CNODE;

/// log2 of the size of the child untyped the accounting test carves from.
const CHILD_BITS: u8 = 16;

/// Room for the objects the accounting test retypes from its child untyped: one per page
/// (the first page holds a frame, the second a notification, then frames), plus one so a
/// kernel that hands out too much is caught rather than overflowing the bookkeeping.
const MAX_FILL: usize = (1 << (CHILD_BITS as u64 - trona::uapi::PAGE_BITS)) + 1;

/// Every object type except KernelDebug can be retyped; KernelDebug cannot be made.
pub fn retype_every_type(ctx: &mut Ctx) -> Outcome {
    for &object_type in ObjectType::ALL {
        let size_bits = match object_type {
            ObjectType::Untyped => CHILD_BITS,
            ObjectType::CNode => 4,
            _ => 0,
        };
        let slot = ctx.empty_slot()?;
        let untyped = crate::tests::first_untyped(ctx)?;
        let result = substrate::untyped_retype(untyped, object_type, size_bits, ROOT_CNODE, slot.0);
        if object_type == ObjectType::KernelDebug {
            ctx.release_slot(slot);
            err_one_of(
                "retype to KernelDebug",
                result,
                &[Error::InvalidArgument, Error::IllegalOperation],
            )?;
            continue;
        }
        match result {
            Ok(()) => ctx.delete(slot)?,
            Err(error) => {
                ctx.release_slot(slot);
                ensure!(false, "retype to {}: {}", object_type.name(), error.name());
            }
        }
    }
    Ok(())
}

/// `describe` reports the free bytes exactly as retype consumes them, down to OutOfMemory.
pub fn retype_accounting(ctx: &mut Ctx) -> Outcome {
    let child = ctx.res.retype(ObjectType::Untyped, CHILD_BITS)?;
    let mut made = Made {
        child,
        slots: [CPtr(0); MAX_FILL],
        count: 0,
    };
    let result = accounting_checks(ctx, &mut made);
    made.delete_all(ctx)?;
    ctx.delete(child)?;
    result
}

/// The objects the accounting test retyped from its child untyped.
struct Made {
    child: CPtr,
    slots: [CPtr; MAX_FILL],
    count: usize,
}

impl Made {
    /// Deletes every object made so far.
    fn delete_all(&mut self, ctx: &mut Ctx) -> Outcome {
        while self.count > 0 {
            self.count -= 1;
            ctx.delete(self.slots[self.count])?;
        }
        Ok(())
    }

    /// Retypes one fixed-size object from the child into a fresh slot, keeping the slot on success.
    fn retype(
        &mut self,
        ctx: &mut Ctx,
        object_type: ObjectType,
    ) -> Result<Result<(), Error>, Failure> {
        ensure!(
            self.count < self.slots.len(),
            "the child untyped held more than {} objects",
            self.slots.len()
        );
        let slot = ctx.empty_slot()?;
        let result = substrate::untyped_retype(self.child, object_type, 0, ROOT_CNODE, slot.0);
        match result {
            Ok(()) => {
                self.slots[self.count] = slot;
                self.count += 1;
            }
            Err(_) => ctx.release_slot(slot),
        }
        Ok(result)
    }
}

fn accounting_checks(ctx: &mut Ctx, made: &mut Made) -> Outcome {
    let child = made.child;
    let size = 1u64 << CHILD_BITS;
    let free = ok(
        "describe a fresh untyped",
        substrate::untyped_describe(child),
    )?;
    ensure!(
        free == size,
        "a fresh 2^{CHILD_BITS} untyped reports {free} free bytes"
    );

    ok("retype a frame", made.retype(ctx, ObjectType::Frame)?)?;
    let after_frame = ok("describe", substrate::untyped_describe(child))?;
    ensure!(
        after_frame == size - PAGE_SIZE,
        "after one frame: {after_frame} free bytes"
    );
    ok(
        "retype a notification",
        made.retype(ctx, ObjectType::Notification)?,
    )?;
    let after_notification = ok("describe", substrate::untyped_describe(child))?;
    let expected = after_frame - (1 << NOTIFICATION_SIZE_BITS);
    ensure!(
        after_notification == expected,
        "after a notification: {after_notification} free bytes, expected {expected}"
    );

    let occupied =
        substrate::untyped_retype(child, ObjectType::Frame, 0, ROOT_CNODE, made.slots[0].0);
    err(
        "retype into an occupied slot",
        occupied,
        Error::SlotOccupied,
    )?;
    let unchanged = ok("describe", substrate::untyped_describe(child))?;
    ensure!(
        unchanged == after_notification,
        "a refused retype changed the free bytes to {unchanged}"
    );

    // The next frame is page-aligned: the rest of the region, from the second page on, is frames.
    let mut frames = 0;
    let last = loop {
        match made.retype(ctx, ObjectType::Frame)? {
            Ok(()) => frames += 1,
            Err(error) => break error,
        }
    };
    let expected_frames = size / PAGE_SIZE - 2;
    ensure!(
        last == Error::OutOfMemory,
        "retype past the end: expected OutOfMemory, got {}",
        last.name()
    );
    ensure!(
        frames == expected_frames,
        "filled {frames} frames, expected {expected_frames}"
    );
    let tcb_slot = ctx.empty_slot()?;
    let tcb = substrate::untyped_retype(child, ObjectType::Tcb, 0, ROOT_CNODE, tcb_slot.0);
    ctx.release_slot(tcb_slot);
    err("retype a TCB from a full untyped", tcb, Error::OutOfMemory)
}

/// Once every object carved from an untyped is gone, the whole region can be retyped again.
pub fn reclaim_after_delete(ctx: &mut Ctx) -> Outcome {
    let child = ctx.res.retype(ObjectType::Untyped, CHILD_BITS)?;
    let mut made = Made {
        child,
        slots: [CPtr(0); MAX_FILL],
        count: 0,
    };
    let result = reclaim_checks(ctx, &mut made);
    made.delete_all(ctx)?;
    ctx.delete(child)?;
    result
}

fn reclaim_checks(ctx: &mut Ctx, made: &mut Made) -> Outcome {
    let size = 1u64 << CHILD_BITS;
    let last = loop {
        if let Err(error) = made.retype(ctx, ObjectType::Frame)? {
            break error;
        }
    };
    ensure!(
        last == Error::OutOfMemory,
        "filling the untyped ended with {}",
        last.name()
    );
    let frames = made.count as u64;
    ensure!(
        frames == size / PAGE_SIZE,
        "the untyped held {frames} frames"
    );
    made.delete_all(ctx)?;
    let free = ok(
        "describe after deleting everything",
        substrate::untyped_describe(made.child),
    )?;
    ensure!(
        free == size,
        "{free} of {size} bytes free after every object was deleted"
    );
    ok(
        "retype a TCB from the reclaimed region",
        made.retype(ctx, ObjectType::Tcb)?,
    )?;
    let free = ok("describe", substrate::untyped_describe(made.child))?;
    let expected = size - (1 << trona::uapi::TCB_SIZE_BITS);
    ensure!(
        free == expected,
        "{free} bytes free after a TCB, expected {expected}"
    );
    Ok(())
}
