//! Capability arguments: the dispatcher refuses a capability of another object type or without the rights the schema declares for it, before the handler runs.

use rootlib::{ROOT_CNODE, ROOT_VSPACE};
use trona::substrate;
use trona::uapi::{CPtr, Error, ObjectType, Rights};

use crate::ctx::{Ctx, KERNEL_DEBUG};
use crate::harness::{Outcome, ensure, err, ok};
use crate::tests::first_untyped;

/// The rights of a rightless copy.
const NO_RIGHTS: Rights = Rights::empty();

/// Every right except `right`.
fn all_but(right: Rights) -> Rights {
    Rights::from_bits(Rights::ALL.bits() & !right.bits()).unwrap_or(NO_RIGHTS)
}

/// Runs `check` with a copy of `source` that has only `rights`, then deletes the copy.
fn with_copy(
    ctx: &mut Ctx,
    source: CPtr,
    rights: Rights,
    check: impl FnOnce(&mut Ctx, CPtr) -> Outcome,
) -> Outcome {
    let copy = ctx.copy_with_rights(source, rights)?;
    let result = check(ctx, copy);
    ctx.delete(copy)?;
    result
}

/// Each capability argument refuses a rightless copy, and a copy lacking one needed right,
/// with InsufficientRights; the frame table stays consistent.
pub fn rights(ctx: &mut Ctx) -> Outcome {
    let tcb = ctx.create(ObjectType::Tcb)?;
    let notification = ctx.create(ObjectType::Notification)?;
    let frame = ctx.create(ObjectType::Frame)?;
    let table = ctx.create(ObjectType::PageTable)?;
    let result = rights_checks(ctx, tcb, notification, frame, table);
    ctx.delete(table)?;
    ctx.delete(frame)?;
    ctx.delete(notification)?;
    ctx.delete(tcb)?;
    result?;
    let checked = ok(
        "check_frames",
        substrate::kernel_debug_check_frames(KERNEL_DEBUG),
    )?;
    ensure!(checked > 0, "check_frames checked no frames");
    Ok(())
}

fn rights_checks(
    ctx: &mut Ctx,
    tcb: CPtr,
    notification: CPtr,
    frame: CPtr,
    table: CPtr,
) -> Outcome {
    let denied = Error::InsufficientRights;

    // Untyped.retype: dest_cnode needs write.
    let untyped = first_untyped(ctx)?;
    for rights in [NO_RIGHTS, all_but(Rights::WRITE)] {
        with_copy(ctx, ROOT_CNODE, rights, |ctx, cnode| {
            let slot = ctx.empty_slot()?;
            let retype = substrate::untyped_retype(untyped, ObjectType::Frame, 0, cnode, slot.0);
            let occupied = retype.is_ok();
            if occupied {
                ctx.delete(slot)?;
            } else {
                ctx.release_slot(slot);
            }
            err("retype into a CNode copy without write", retype, denied)
        })?;
    }

    // Tcb.configure: cspace needs read and write, vspace read and write.
    for rights in [NO_RIGHTS, all_but(Rights::READ), all_but(Rights::WRITE)] {
        with_copy(ctx, ROOT_CNODE, rights, |_, cnode| {
            err(
                "configure with a weakened CSpace",
                substrate::tcb_configure(tcb, cnode, ROOT_VSPACE),
                denied,
            )
        })?;
        with_copy(ctx, ROOT_VSPACE, rights, |_, vspace| {
            err(
                "configure with a weakened VSpace",
                substrate::tcb_configure(tcb, ROOT_CNODE, vspace),
                denied,
            )
        })?;
    }
    with_copy(
        ctx,
        ROOT_CNODE,
        Rights::READ.union(Rights::WRITE),
        |ctx, cnode| {
            with_copy(
                ctx,
                ROOT_VSPACE,
                Rights::READ.union(Rights::WRITE),
                |_, vspace| {
                    ok(
                        "configure with read-write copies",
                        substrate::tcb_configure(tcb, cnode, vspace),
                    )
                },
            )
        },
    )?;

    // Tcb.bind_notification: the notification needs read (the thread receives from it).
    for rights in [NO_RIGHTS, all_but(Rights::READ)] {
        with_copy(ctx, notification, rights, |_, weak| {
            err(
                "bind a notification copy without read",
                substrate::tcb_bind_notification(tcb, weak),
                denied,
            )
        })?;
    }
    with_copy(ctx, notification, Rights::READ, |_, read_only| {
        ok(
            "bind a read-only notification copy",
            substrate::tcb_bind_notification(tcb, read_only),
        )?;
        ok("unbind it", substrate::tcb_unbind_notification(tcb))
    })?;

    // VSpace.map_frame: the frame needs read; the mapping's rights stay a subset of it.
    let vaddr = ctx.unmapped_address()?;
    for rights in [NO_RIGHTS, all_but(Rights::READ)] {
        with_copy(ctx, frame, rights, |_, weak| {
            err(
                "map a frame copy without read",
                substrate::vspace_map_frame(ROOT_VSPACE, weak, vaddr, Rights::empty()),
                denied,
            )
        })?;
    }
    with_copy(ctx, frame, Rights::READ, |ctx, read_only| {
        let writable = substrate::vspace_map_frame(
            ROOT_VSPACE,
            read_only,
            vaddr,
            Rights::READ.union(Rights::WRITE),
        );
        err("map a read-only frame copy writable", writable, denied)?;
        ctx.res
            .map_frame(ROOT_VSPACE, read_only, vaddr, Rights::READ)?;
        ok(
            "unmap the read-only frame copy",
            substrate::vspace_unmap_frame(ROOT_VSPACE, read_only),
        )
    })?;

    // VSpace.unmap_frame needs no right on the frame: a rightless copy reaches the handler,
    // which finds it unmapped (a copy starts unmapped).
    with_copy(ctx, frame, NO_RIGHTS, |_, weak| {
        err(
            "unmap through a rightless frame copy",
            substrate::vspace_unmap_frame(ROOT_VSPACE, weak),
            Error::NotMapped,
        )
    })?;

    // VSpace.map_table: the table needs write.
    for rights in [NO_RIGHTS, all_but(Rights::WRITE)] {
        with_copy(ctx, table, rights, |_, weak| {
            err(
                "map a page table copy without write",
                substrate::vspace_map_table(ROOT_VSPACE, weak, vaddr, 1),
                denied,
            )
        })?;
    }

    // CNode.copy and mint: the source needs grant; move_cap needs nothing.
    for rights in [NO_RIGHTS, all_but(Rights::GRANT)] {
        with_copy(ctx, notification, rights, |ctx, weak| {
            let slot = ctx.empty_slot()?;
            let copy = substrate::cnode_copy(ROOT_CNODE, slot.0, weak, NO_RIGHTS);
            let mint = substrate::cnode_mint(ROOT_CNODE, slot.0, weak, NO_RIGHTS, 1);
            ctx.release_slot(slot);
            err("copy from a source without grant", copy, denied)?;
            err("mint from a source without grant", mint, denied)
        })?;
    }
    let rightless = ctx.copy_with_rights(notification, NO_RIGHTS)?;
    let moved_to = ctx.empty_slot()?;
    let moved = substrate::cnode_move_cap(ROOT_CNODE, moved_to.0, rightless);
    if moved.is_ok() {
        ctx.release_slot(rightless);
        ctx.delete(moved_to)?;
    } else {
        ctx.release_slot(moved_to);
        ctx.delete(rightless)?;
    }
    ok("move a rightless capability", moved)
}

/// Capability arguments of the wrong object type fail with WrongObjectType (the arguments
/// `wrong_object_type` in errors.rs does not already try), and an empty source slot of a
/// copy, mint or move is InvalidCapability like every other capability argument.
pub fn types(ctx: &mut Ctx) -> Outcome {
    let notification = ctx.create(ObjectType::Notification)?;
    let frame = ctx.create(ObjectType::Frame)?;
    let empty = ctx.empty_slot()?;
    let result = types_checks(ctx, notification, frame, empty);
    ctx.release_slot(empty);
    ctx.delete(frame)?;
    ctx.delete(notification)?;
    result?;
    ok(
        "check_frames",
        substrate::kernel_debug_check_frames(KERNEL_DEBUG),
    )
    .map(|_| ())
}

fn types_checks(ctx: &mut Ctx, notification: CPtr, frame: CPtr, empty: CPtr) -> Outcome {
    let wrong = Error::WrongObjectType;
    let vaddr = ctx.unmapped_address()?;
    err(
        "a Notification as the frame to unmap",
        substrate::vspace_unmap_frame(ROOT_VSPACE, notification),
        wrong,
    )?;
    err(
        "a Frame as the page table",
        substrate::vspace_map_table(ROOT_VSPACE, frame, vaddr, 1),
        wrong,
    )?;
    err(
        "a Frame as the notification",
        substrate::tcb_bind_notification(crate::ctx::SELF_TCB, frame),
        wrong,
    )?;
    // The type check comes before the rights check: a full-rights capability of another
    // type is still the wrong type.
    err(
        "the root VSpace as the destination CNode",
        substrate::untyped_retype(
            first_untyped(ctx)?,
            ObjectType::Frame,
            0,
            ROOT_VSPACE,
            empty.0,
        ),
        wrong,
    )?;
    let slot = ctx.empty_slot()?;
    let copy = substrate::cnode_copy(ROOT_CNODE, slot.0, empty, Rights::ALL);
    let mint = substrate::cnode_mint(ROOT_CNODE, slot.0, empty, Rights::ALL, 1);
    let moved = substrate::cnode_move_cap(ROOT_CNODE, slot.0, empty);
    ctx.release_slot(slot);
    let invalid = Error::InvalidCapability;
    err("copy from an empty slot", copy, invalid)?;
    err("mint from an empty slot", mint, invalid)?;
    err("move from an empty slot", moved, invalid)
}
