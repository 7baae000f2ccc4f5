//! CNode invocations: copy, mint (badges), move and delete, within the root CNode and into a child CNode.

use trona::substrate;
use trona::uapi::{CPtr, Error, ObjectType, Rights};

use crate::ctx::Ctx;
use crate::harness::{Outcome, ensure, err, err_one_of, ok};
use rootlib::ROOT_CNODE;

/// log2 of the slot count of the child CNode the test creates.
const CHILD_BITS: u8 = 4;

/// The badge the minted capability carries.
const BADGE: u64 = 0b100;

/// Copy, mint, move and delete behave as documented and refuse occupied or empty slots.
pub fn copy_mint_move_delete(ctx: &mut Ctx) -> Outcome {
    let notification = ctx.create(ObjectType::Notification)?;
    let slots = [ctx.empty_slot()?, ctx.empty_slot()?, ctx.empty_slot()?];
    let result = root_cnode_checks(notification, slots);
    for slot in slots {
        // Whatever the checks left in these slots goes; empty ones report SlotEmpty.
        let _ = substrate::cnode_delete(ROOT_CNODE, slot.0);
        ctx.release_slot(slot);
    }
    ctx.delete(notification)?;
    result
}

fn root_cnode_checks(notification: CPtr, [copy, minted, moved]: [CPtr; 3]) -> Outcome {
    ok(
        "copy",
        substrate::cnode_copy(ROOT_CNODE, copy.0, notification, Rights::ALL),
    )?;
    ok(
        "signal through the copy",
        substrate::notification_signal(copy),
    )?;
    let word = ok(
        "poll through the original",
        substrate::notification_poll(notification),
    )?;
    ensure!(
        word == 1,
        "an unbadged signal set the word to {word:#x}, expected 1"
    );
    err(
        "copy into an occupied slot",
        substrate::cnode_copy(ROOT_CNODE, copy.0, notification, Rights::ALL),
        Error::SlotOccupied,
    )?;

    ok(
        "mint",
        substrate::cnode_mint(ROOT_CNODE, minted.0, notification, Rights::ALL, BADGE),
    )?;
    ok(
        "signal through the minted copy",
        substrate::notification_signal(minted),
    )?;
    ok(
        "signal through the copy",
        substrate::notification_signal(copy),
    )?;
    let word = ok("poll", substrate::notification_poll(notification))?;
    ensure!(
        word == BADGE | 1,
        "two signals set the word to {word:#x}, expected {:#x}",
        BADGE | 1
    );
    let remint = substrate::cnode_mint(ROOT_CNODE, moved.0, minted, Rights::ALL, BADGE << 1);
    err_one_of(
        "mint from a badged capability",
        remint,
        &[Error::IllegalOperation, Error::InvalidArgument],
    )?;

    ok(
        "move",
        substrate::cnode_move_cap(ROOT_CNODE, moved.0, minted),
    )?;
    err(
        "signal through the moved-from slot",
        substrate::notification_signal(minted),
        Error::InvalidCapability,
    )?;
    ok(
        "signal through the moved-to slot",
        substrate::notification_signal(moved),
    )?;
    let word = ok("poll", substrate::notification_poll(notification))?;
    ensure!(
        word == BADGE,
        "the moved capability lost its badge: word {word:#x}"
    );
    let into_occupied = substrate::cnode_move_cap(ROOT_CNODE, moved.0, notification);
    err(
        "move into an occupied slot",
        into_occupied,
        Error::SlotOccupied,
    )?;
    err(
        "copy from an empty slot",
        substrate::cnode_copy(ROOT_CNODE, minted.0, minted, Rights::ALL),
        Error::InvalidCapability,
    )?;

    ok(
        "delete the copy",
        substrate::cnode_delete(ROOT_CNODE, copy.0),
    )?;
    err(
        "delete an empty slot",
        substrate::cnode_delete(ROOT_CNODE, copy.0),
        Error::SlotEmpty,
    )?;
    err(
        "move from an empty slot",
        substrate::cnode_move_cap(ROOT_CNODE, copy.0, minted),
        Error::InvalidCapability,
    )?;
    ok(
        "the original outlives a deleted copy",
        substrate::notification_signal(notification),
    )?;
    let word = ok("poll", substrate::notification_poll(notification))?;
    ensure!(
        word == 1,
        "word {word:#x} after a signal through the original"
    );
    let beyond = 1u64 << trona::uapi::ROOT_CNODE_BITS;
    err(
        "delete beyond the CNode",
        substrate::cnode_delete(ROOT_CNODE, beyond),
        Error::InvalidArgument,
    )
}

/// Capabilities can be copied into and deleted from another CNode.
pub fn child_cnode(ctx: &mut Ctx) -> Outcome {
    let child = ctx.res.retype(ObjectType::CNode, CHILD_BITS)?;
    let notification = ctx.create(ObjectType::Notification)?;
    let result = child_cnode_checks(child, notification);
    ctx.delete(notification)?;
    ctx.delete(child)?;
    result
}

fn child_cnode_checks(child: CPtr, notification: CPtr) -> Outcome {
    let last = (1u64 << CHILD_BITS) - 1;
    ok(
        "copy into the child's last slot",
        substrate::cnode_copy(child, last, notification, Rights::WRITE),
    )?;
    err(
        "copy into it again",
        substrate::cnode_copy(child, last, notification, Rights::WRITE),
        Error::SlotOccupied,
    )?;
    let beyond = substrate::cnode_copy(child, last + 1, notification, Rights::WRITE);
    err("copy past the child's end", beyond, Error::InvalidArgument)?;
    ok("delete in the child", substrate::cnode_delete(child, last))?;
    err(
        "delete it again",
        substrate::cnode_delete(child, last),
        Error::SlotEmpty,
    )?;
    ok(
        "mint into the child",
        substrate::cnode_mint(child, 1, notification, Rights::READ, BADGE),
    )?;
    err(
        "copy into the null slot 0",
        substrate::cnode_copy(child, 0, notification, Rights::READ),
        Error::InvalidArgument,
    )?;
    ok("delete the minted copy", substrate::cnode_delete(child, 1))
}

/// `identify` reports the object type and rights of a slot, 0 for an empty slot, and
/// refuses slot 0, slots past the end, other objects' capabilities and CNode copies without read.
pub fn identify(ctx: &mut Ctx) -> Outcome {
    let notification = ctx.create(ObjectType::Notification)?;
    let slots = [ctx.empty_slot()?, ctx.empty_slot()?];
    let result = identify_checks(notification, slots);
    for slot in slots {
        let _ = substrate::cnode_delete(ROOT_CNODE, slot.0);
        ctx.release_slot(slot);
    }
    ctx.delete(notification)?;
    result
}

fn identify_checks(notification: CPtr, [minted, write_only]: [CPtr; 2]) -> Outcome {
    let original = ok(
        "identify the notification",
        substrate::cnode_identify(ROOT_CNODE, notification.0),
    )?;
    ensure!(
        u64::from(original.object_type()) == ObjectType::Notification as u64
            && u64::from(original.rights()) == Rights::ALL.bits(),
        "the original reads as type {} rights {:#x}",
        original.object_type(),
        original.rights()
    );
    ok(
        "mint a read-only copy",
        substrate::cnode_mint(ROOT_CNODE, minted.0, notification, Rights::READ, BADGE),
    )?;
    let copy = ok(
        "identify the copy",
        substrate::cnode_identify(ROOT_CNODE, minted.0),
    )?;
    ensure!(
        u64::from(copy.object_type()) == ObjectType::Notification as u64
            && u64::from(copy.rights()) == Rights::READ.bits(),
        "the read-only badged copy reads as type {} rights {:#x}",
        copy.object_type(),
        copy.rights()
    );
    let empty = ok(
        "identify an empty slot",
        substrate::cnode_identify(ROOT_CNODE, write_only.0),
    )?;
    ensure!(
        empty.bits() == 0,
        "an empty slot reads as {:#x}",
        empty.bits()
    );
    err(
        "identify the null slot 0",
        substrate::cnode_identify(ROOT_CNODE, 0),
        Error::InvalidArgument,
    )?;
    err(
        "identify past the end",
        substrate::cnode_identify(ROOT_CNODE, 1 << trona::uapi::ROOT_CNODE_BITS),
        Error::InvalidArgument,
    )?;
    err(
        "identify through a notification (a label outside its block)",
        substrate::cnode_identify(notification, 1),
        Error::InvalidLabel,
    )?;
    ok(
        "copy the root CNode without read",
        substrate::cnode_copy(ROOT_CNODE, write_only.0, ROOT_CNODE, Rights::WRITE),
    )?;
    err(
        "identify through a write-only CNode copy",
        substrate::cnode_identify(write_only, notification.0),
        Error::InsufficientRights,
    )?;
    ok(
        "delete the copy",
        substrate::cnode_delete(ROOT_CNODE, minted.0),
    )?;
    let gone = ok(
        "identify the deleted copy's slot",
        substrate::cnode_identify(ROOT_CNODE, minted.0),
    )?;
    ensure!(
        gone.bits() == 0,
        "a deleted slot reads as {:#x}",
        gone.bits()
    );
    Ok(())
}
