//! Object lifetimes: objects in use refuse deletion with Busy, deleting what is mapped, bound or blocked detaches it first, and deleting an untyped destroys what came from it.

use core::sync::atomic::{AtomicBool, Ordering};

use rootlib::{ROOT_CNODE, ROOT_VSPACE};
use trona::substrate;
use trona::uapi::{
    CPtr, Error, ObjectType, PAGE_BITS, ROOT_SLOT_CNODE, ROOT_SLOT_TCB, ROOT_SLOT_VSPACE, Rights,
};

use crate::ctx::{Ctx, DEFAULT_TIMEOUT_TICKS, KERNEL_DEBUG};
use crate::harness::{Failure, Outcome, ensure, err, ok};

/// The suite's own TCB, VSpace and CNode are in use and cannot be destroyed.
pub fn own_objects_are_busy(_: &mut Ctx) -> Outcome {
    for (what, slot) in [
        ("delete the running thread's TCB", ROOT_SLOT_TCB),
        ("delete the running thread's VSpace", ROOT_SLOT_VSPACE),
        ("delete the root CNode", ROOT_SLOT_CNODE),
    ] {
        err(what, substrate::cnode_delete(ROOT_CNODE, slot), Error::Busy)?;
    }
    Ok(())
}

/// A bound notification refuses deletion until it is unbound; a CNode holding
/// capabilities is emptied by its deletion; deleting an untyped with a live object
/// destroys the object (its slot is empty afterwards).
pub fn busy_until_released(ctx: &mut Ctx) -> Outcome {
    let cnode = ctx.res.retype(ObjectType::CNode, 2)?;
    let notification = ctx.create(ObjectType::Notification)?;
    ok(
        "copy into the CNode",
        substrate::cnode_copy(cnode, 1, notification, Rights::READ),
    )?;
    ok(
        "delete a CNode that holds a capability",
        substrate::cnode_delete(ROOT_CNODE, cnode.0),
    )?;
    ctx.release_slot(cnode);

    let tcb = ctx.create(ObjectType::Tcb)?;
    ok("bind", substrate::tcb_bind_notification(tcb, notification))?;
    let bound = substrate::cnode_delete(ROOT_CNODE, notification.0);
    ok("unbind", substrate::tcb_unbind_notification(tcb))?;
    ctx.delete(tcb)?;
    err("delete a bound notification", bound, Error::Busy)?;
    ctx.delete(notification)?;

    let child = ctx.res.retype(ObjectType::Untyped, 16)?;
    let slot = ctx.empty_slot()?;
    ok(
        "retype from the child",
        substrate::untyped_retype(child, ObjectType::Frame, 0, ROOT_CNODE, slot.0),
    )?;
    let parent = substrate::cnode_delete(ROOT_CNODE, child.0);
    let object_left = substrate::cnode_delete(ROOT_CNODE, slot.0);
    if parent.is_ok() {
        ctx.release_slot(child);
    } else {
        ctx.delete(child)?;
    }
    ctx.release_slot(slot);
    ok("delete an untyped with a live object", parent)?;
    err(
        "delete the object after its untyped",
        object_left,
        Error::SlotEmpty,
    )
}

/// Deleting a mapped frame's last capability removes the mapping: no page stays mapped to a
/// frame that went back to its untyped.
pub fn delete_mapped_frame(ctx: &mut Ctx) -> Outcome {
    let frame = ctx.create(ObjectType::Frame)?;
    let vaddr = ctx.unmapped_address()?;
    ctx.res
        .map_frame(ROOT_VSPACE, frame, vaddr, crate::READ_WRITE)?;
    // SAFETY: `vaddr` was just mapped read-write to a frame only this test uses.
    unsafe { (vaddr as usize as *mut u64).write_volatile(1) };
    ctx.delete(frame)?;
    err(
        "lookup after deleting the mapped frame",
        substrate::vspace_lookup(ROOT_VSPACE, vaddr),
        Error::NotMapped,
    )
}

static WAITER_BLOCKING: AtomicBool = AtomicBool::new(false);
static WAITER_WOKE: AtomicBool = AtomicBool::new(false);

extern "C" fn waiter(notification: u64) -> ! {
    WAITER_BLOCKING.store(true, Ordering::Release);
    let _ = substrate::notification_wait(CPtr(notification));
    WAITER_WOKE.store(true, Ordering::Release);
    trona::exit()
}

/// Deleting the TCB of a thread blocked on a notification takes it off the wait queue: the
/// notification then keeps signals for nobody and can itself be deleted.
pub fn delete_blocked_thread(ctx: &mut Ctx) -> Outcome {
    WAITER_BLOCKING.store(false, Ordering::Relaxed);
    WAITER_WOKE.store(false, Ordering::Relaxed);
    let notification = ctx.create(ObjectType::Notification)?;
    let thread = ctx.spawn(waiter, notification.0)?;
    let started = ctx.wait_until(DEFAULT_TIMEOUT_TICKS, || {
        WAITER_BLOCKING.load(Ordering::Acquire)
    });
    // A few more yields so the waiter is inside `wait`, not just before it.
    ctx.wait_until(2, || false);
    let busy = substrate::cnode_delete(ROOT_CNODE, notification.0);
    let deleted = substrate::cnode_delete(ROOT_CNODE, thread.tcb.0);
    if deleted.is_ok() {
        ctx.release_slot(thread.tcb);
    }
    ctx.release_pages(thread.stack)?;
    let signal = substrate::notification_signal(notification);
    ctx.wait_until(2, || WAITER_WOKE.load(Ordering::Acquire));
    let word = substrate::notification_poll(notification);
    ctx.delete(notification)?;
    ensure!(started, "the waiter never ran");
    err("delete a notification with a waiter", busy, Error::Busy)?;
    ok("delete the blocked thread's TCB", deleted)?;
    ok("signal after the waiter was deleted", signal)?;
    ensure!(
        !WAITER_WOKE.load(Ordering::Acquire),
        "a deleted thread woke up"
    );
    ensure!(
        word == Ok(1),
        "the signal for nobody was not kept: poll gave {word:?}"
    );
    Ok(())
}

/// Deleting an unused top-level untyped returns its whole range to Free, and the frame
/// table stays consistent.
pub fn top_level_untyped_to_free(ctx: &mut Ctx) -> Outcome {
    let Some(untyped) = ctx.res.untyped.take_smallest() else {
        return Err(Failure::new(format_args!(
            "no untyped capability to give back"
        )));
    };
    let size = ok("describe", substrate::untyped_describe(untyped))?;
    let before = crate::tests::kdebug::counts()?;
    ok(
        "delete the untyped",
        substrate::cnode_delete(ROOT_CNODE, untyped.0),
    )?;
    ctx.release_slot(untyped);
    let after = crate::tests::kdebug::counts()?;
    let pages = size >> PAGE_BITS;
    let expected = [before[0] + pages, before[1] - pages, before[2]];
    ensure!(
        after == expected,
        "frame counts {after:?}, expected {expected:?} (before {before:?})"
    );
    ok(
        "check_frames",
        substrate::kernel_debug_check_frames(KERNEL_DEBUG),
    )?;
    Ok(())
}
