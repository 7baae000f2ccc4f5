//! The capability derivation tree: copy and mint trees, revoke (of copies and of untypeds holding live objects of every type), destruction by the last capability, and revoke's refusals.

use core::sync::atomic::{AtomicBool, Ordering};

use rootlib::{ROOT_CNODE, ROOT_VSPACE, Region};
use trona::substrate;
use trona::uapi::{
    CPtr, Error, ObjectType, REVOKE_BATCH, ROOT_CNODE_BITS, Rights, UserAddr, UserRegisters,
};

use crate::READ_WRITE;
use crate::ctx::{Ctx, DEFAULT_TIMEOUT_TICKS, PRIORITY, SELF_TCB};
use crate::harness::{Failure, Outcome, ensure, err, ok};

/// A 512 GiB region of the root VSpace that only these tests map into.
const CDT_REGION: u64 = 0x0000_3800_0000_0000;

/// Most revoke calls a test makes before it calls the revoke stuck.
const MAX_REVOKE_CALLS: u32 = 1000;

/// Revokes the capability in slot `index` of the root CNode until nothing is left; the
/// number of calls it took.
fn revoke_all(index: CPtr) -> Result<u32, Failure> {
    for calls in 1..=MAX_REVOKE_CALLS {
        match ok("revoke", substrate::cnode_revoke(ROOT_CNODE, index.0))? {
            0 => return Ok(calls),
            1 => {}
            other => {
                return Err(Failure::new(format_args!(
                    "revoke returned pending = {other}"
                )));
            }
        }
    }
    Err(Failure::new(format_args!(
        "revoke still pending after {MAX_REVOKE_CALLS} calls"
    )))
}

/// Whether the root CNode's slot `slot` holds a capability (a CNode.copy from it is
/// refused with InvalidCapability when empty); leaves the slot as it was.
fn holds(ctx: &mut Ctx, slot: CPtr) -> Result<bool, Failure> {
    let probe = ctx.empty_slot()?;
    let copied = substrate::cnode_copy(ROOT_CNODE, probe.0, slot, Rights::empty());
    match copied {
        Ok(()) => ctx.delete(probe)?,
        Err(_) => ctx.release_slot(probe),
    }
    match copied {
        Ok(()) => Ok(true),
        Err(Error::InvalidCapability) => Ok(false),
        Err(error) => Err(Failure::new(format_args!(
            "probing slot {}: {}",
            slot.0,
            error.name()
        ))),
    }
}

/// Checks which of `slots` still hold capabilities.
fn expect_held(ctx: &mut Ctx, what: &str, slots: &[(&str, CPtr, bool)]) -> Outcome {
    for &(name, slot, expected) in slots {
        let held = holds(ctx, slot)?;
        ensure!(
            held == expected,
            "{what}: {name} {}",
            if held { "survived" } else { "is gone" }
        );
    }
    Ok(())
}

/// A capability derived from `source` in a fresh root slot (`badge` 0 = copy).
fn derive(ctx: &mut Ctx, source: CPtr, badge: u64) -> Result<CPtr, Failure> {
    let slot = ctx.empty_slot()?;
    let made = if badge == 0 {
        substrate::cnode_copy(ROOT_CNODE, slot.0, source, Rights::ALL)
    } else {
        substrate::cnode_mint(ROOT_CNODE, slot.0, source, Rights::ALL, badge)
    };
    if made.is_err() {
        ctx.release_slot(slot);
    }
    ok("derive a capability", made)?;
    Ok(slot)
}

/// Copies of copies are siblings: revoking a copy or a mint deletes nothing; revoking the
/// original deletes every copy and mint, transitively, and keeps the original.
pub fn copy_trees_and_revoke(ctx: &mut Ctx) -> Outcome {
    let original = ctx.create(ObjectType::Notification)?;
    let copy = derive(ctx, original, 0)?;
    let copy_of_copy = derive(ctx, copy, 0)?;
    let mint = derive(ctx, copy, 5)?;
    let copy_of_mint = derive(ctx, mint, 0)?;
    let tree = [
        ("the copy", copy, true),
        ("the copy of the copy", copy_of_copy, true),
        ("the mint", mint, true),
        ("the copy of the mint", copy_of_mint, true),
    ];
    for (name, slot, _) in tree {
        ensure!(
            revoke_all(slot)? == 1,
            "revoking {name} took more than one call"
        );
    }
    expect_held(ctx, "after revoking copies", &tree)?;
    revoke_all(original)?;
    let gone = tree.map(|(name, slot, _)| (name, slot, false));
    expect_held(ctx, "after revoking the original", &gone)?;
    for (_, slot, _) in gone {
        ctx.release_slot(slot);
    }
    expect_held(
        ctx,
        "after revoking it",
        &[("the original", original, true)],
    )?;
    ok(
        "revoke an original without descendants",
        substrate::cnode_revoke(ROOT_CNODE, original.0),
    )?;
    ctx.delete(original)
}

/// The last capability destroys the object whichever copy it is: deleting the original
/// first keeps the object alive through its copy, whose deletion gives the frame back.
pub fn last_capability_destroys(ctx: &mut Ctx) -> Outcome {
    let before = crate::tests::kdebug::counts()?;
    let frame = ctx.create(ObjectType::Frame)?;
    let paddr = ok("physical_address", substrate::frame_physical_address(frame))?;
    let copy = derive(ctx, frame, 0)?;
    ctx.delete(frame)?;
    let alive = crate::tests::kdebug::counts()?;
    let through_copy = substrate::frame_physical_address(copy);
    ctx.delete(copy)?;
    let after = crate::tests::kdebug::counts()?;
    ensure!(
        alive[2] == before[2] + 1,
        "deleting the original destroyed the frame while a copy was left"
    );
    ensure!(
        through_copy == Ok(paddr),
        "the copy names {through_copy:?}, not {paddr:#x}"
    );
    ensure!(
        after == before,
        "frame counts {after:?} after deleting both capabilities, expected {before:?}"
    );
    Ok(())
}

static SPINNER_RAN: AtomicBool = AtomicBool::new(false);
static WAITER_BLOCKED: AtomicBool = AtomicBool::new(false);

extern "C" fn spinner(_: u64) -> ! {
    loop {
        SPINNER_RAN.store(true, Ordering::Release);
        let _ = substrate::sched_yield();
    }
}

extern "C" fn waiter(notification: u64) -> ! {
    WAITER_BLOCKED.store(true, Ordering::Release);
    let _ = substrate::notification_wait(CPtr(notification));
    trona::exit()
}

/// Objects retyped from one untyped, with the root slots the test made.
struct Carve {
    untyped: CPtr,
    slots: [CPtr; 64],
    len: usize,
}

impl Carve {
    fn new(untyped: CPtr) -> Carve {
        Carve {
            untyped,
            slots: [CPtr(0); 64],
            len: 0,
        }
    }

    /// Remembers a root slot the test filled.
    fn note(&mut self, slot: CPtr) -> Result<CPtr, Failure> {
        ensure!(self.len < self.slots.len(), "too many slots for one test");
        self.slots[self.len] = slot;
        self.len += 1;
        Ok(slot)
    }

    /// A new object from the untyped in a fresh root slot.
    fn retype(
        &mut self,
        ctx: &mut Ctx,
        object_type: ObjectType,
        bits: u8,
    ) -> Result<CPtr, Failure> {
        self.retype_from(ctx, self.untyped, object_type, bits)
    }

    fn retype_from(
        &mut self,
        ctx: &mut Ctx,
        untyped: CPtr,
        object_type: ObjectType,
        bits: u8,
    ) -> Result<CPtr, Failure> {
        let slot = ctx.empty_slot()?;
        let made = substrate::untyped_retype(untyped, object_type, bits, ROOT_CNODE, slot.0);
        if made.is_err() {
            ctx.release_slot(slot);
        }
        ok("retype from the test's untyped", made)?;
        self.note(slot)
    }

    /// Checks that every slot the test filled is empty now and gives them back.
    fn expect_all_gone(self, ctx: &mut Ctx) -> Outcome {
        for &slot in &self.slots[..self.len] {
            ensure!(
                !holds(ctx, slot)?,
                "slot {} survived the revoke of its untyped",
                slot.0
            );
            ctx.release_slot(slot);
        }
        Ok(())
    }
}

/// Starts a thread whose TCB comes from `carve`'s untyped, on `stack`.
fn start_thread(
    ctx: &mut Ctx,
    carve: &mut Carve,
    stack: &Region,
    entry: extern "C" fn(u64) -> !,
    arg: u64,
) -> Result<CPtr, Failure> {
    let tcb = carve.retype(ctx, ObjectType::Tcb, 0)?;
    ok(
        "configure",
        substrate::tcb_configure(tcb, ROOT_CNODE, ROOT_VSPACE),
    )?;
    let regs = UserRegisters {
        ip: entry as usize as u64,
        sp: rootlib::entry_stack_pointer(stack.end()),
        arg0: arg,
        ..UserRegisters::default()
    };
    ok(
        "write_registers",
        substrate::tcb_write_registers(tcb, UserAddr(&regs as *const UserRegisters as u64)),
    )?;
    ok(
        "set_priority",
        substrate::tcb_set_priority(tcb, PRIORITY, SELF_TCB),
    )?;
    ok("resume", substrate::tcb_resume(tcb))?;
    Ok(tcb)
}

/// Revoking an untyped destroys everything retyped from it, whatever it is doing: frames
/// mapped in the suite's VSpace and in a VSpace of its own through tables from the same
/// untyped, a running thread with a bound notification, a thread blocked on a
/// notification, CNodes nested inside CNodes (one holding more than `REVOKE_BATCH`
/// copies, so the revoke takes several calls), a nested untyped and its object, and a copy
/// of the untyped. Every frame comes back, and the untyped retypes from its start again.
pub fn revoke_untyped_with_live_objects(ctx: &mut Ctx) -> Outcome {
    SPINNER_RAN.store(false, Ordering::Relaxed);
    WAITER_BLOCKED.store(false, Ordering::Relaxed);
    let untyped = ctx.res.retype(ObjectType::Untyped, 20)?;
    let size = ok("describe", substrate::untyped_describe(untyped))?;
    let spinner_stack = ctx.pages(4, READ_WRITE)?;
    let waiter_stack = ctx.pages(4, READ_WRITE)?;
    let before = crate::tests::kdebug::counts()?;
    let mut carve = Carve::new(untyped);

    // The first object sits at the untyped's base.
    let first = carve.retype(ctx, ObjectType::Frame, 0)?;
    let base = ok("physical_address", substrate::frame_physical_address(first))?;
    // A frame mapped in the suite's own VSpace through tables from the untyped.
    let vaddr = CDT_REGION + 0x20_0000;
    for level in [3u8, 2, 1] {
        let table = carve.retype(ctx, ObjectType::PageTable, 0)?;
        ok(
            "install a table in the root VSpace",
            substrate::vspace_map_table(ROOT_VSPACE, table, vaddr, level),
        )?;
    }
    ok(
        "map a frame in the root VSpace",
        substrate::vspace_map_frame(ROOT_VSPACE, first, vaddr, READ_WRITE),
    )?;
    // A VSpace of its own, with its tables and a frame.
    let vspace = carve.retype(ctx, ObjectType::VSpace, 0)?;
    for level in [3u8, 2, 1] {
        let table = carve.retype(ctx, ObjectType::PageTable, 0)?;
        ok(
            "install a table in the new VSpace",
            substrate::vspace_map_table(vspace, table, vaddr, level),
        )?;
    }
    let frame = carve.retype(ctx, ObjectType::Frame, 0)?;
    ok(
        "map a frame in the new VSpace",
        substrate::vspace_map_frame(vspace, frame, vaddr, READ_WRITE),
    )?;
    // A running thread with a bound notification, a blocked one.
    let bound = carve.retype(ctx, ObjectType::Notification, 0)?;
    let waited = carve.retype(ctx, ObjectType::Notification, 0)?;
    let running = start_thread(ctx, &mut carve, &spinner_stack, spinner, 0)?;
    ok("bind", substrate::tcb_bind_notification(running, bound))?;
    start_thread(ctx, &mut carve, &waiter_stack, waiter, waited.0)?;
    let started = ctx.wait_until(DEFAULT_TIMEOUT_TICKS, || {
        SPINNER_RAN.load(Ordering::Acquire) && WAITER_BLOCKED.load(Ordering::Acquire)
    });
    ctx.wait_until(2, || false);
    // Nested CNodes: `outer` holds a copy of the waited notification and the only
    // capability to `inner`; `wide` holds more copies than one revoke call deletes.
    let outer = carve.retype(ctx, ObjectType::CNode, 2)?;
    ok(
        "copy into the outer CNode",
        substrate::cnode_copy(outer, 1, waited, Rights::ALL),
    )?;
    let inner_slot = ctx.empty_slot()?;
    ok(
        "retype the inner CNode",
        substrate::untyped_retype(untyped, ObjectType::CNode, 2, ROOT_CNODE, inner_slot.0),
    )?;
    ok(
        "copy into the inner CNode",
        substrate::cnode_copy(inner_slot, 1, bound, Rights::ALL),
    )?;
    ok(
        "move the inner CNode into the outer one",
        substrate::cnode_move_cap(outer, 2, inner_slot),
    )?;
    ctx.release_slot(inner_slot);
    let wide = carve.retype(ctx, ObjectType::CNode, 6)?;
    let copies = u64::from(REVOKE_BATCH) + 8;
    for index in 1..=copies {
        ok(
            "copy into the wide CNode",
            substrate::cnode_copy(wide, index, waited, Rights::READ),
        )?;
    }
    // A nested untyped with an object of its own, and a copy of the untyped.
    let nested = carve.retype(ctx, ObjectType::Untyped, 14)?;
    carve.retype_from(ctx, nested, ObjectType::Frame, 0)?;
    let untyped_copy = derive(ctx, untyped, 0)?;
    carve.note(untyped_copy)?;

    let calls = revoke_all(untyped)?;
    let after = crate::tests::kdebug::counts()?;
    let lookup = substrate::vspace_lookup(ROOT_VSPACE, vaddr);
    let free = ok(
        "describe after revoke",
        substrate::untyped_describe(untyped),
    )?;
    let again = carve.retype(ctx, ObjectType::Frame, 0)?;
    let again_paddr = substrate::frame_physical_address(again);
    ctx.delete(again)?;
    carve.len -= 1;
    carve.expect_all_gone(ctx)?;
    ctx.release_pages(spinner_stack)?;
    ctx.release_pages(waiter_stack)?;
    ctx.delete(untyped)?;

    ensure!(started, "the test's threads never ran");
    ensure!(
        calls >= 2,
        "revoking {copies} copies and more took {calls} call(s), not several"
    );
    ensure!(
        after == before,
        "frame counts {after:?} after the revoke, expected {before:?}"
    );
    err("lookup of the revoked mapping", lookup, Error::NotMapped)?;
    ensure!(
        free == size,
        "describe after revoke: {free} of {size} bytes"
    );
    ensure!(
        again_paddr == Ok(base),
        "the first retype after revoke is at {again_paddr:?}, not the base {base:#x}"
    );
    Ok(())
}

/// Revoke refuses what CNode.delete refuses: the null slot, indices past the CNode, an
/// empty slot, a target that is no CNode (its labels), and a CNode without write.
pub fn revoke_refusals(ctx: &mut Ctx) -> Outcome {
    let notification = ctx.create(ObjectType::Notification)?;
    let read_only = ctx.copy_with_rights(ROOT_CNODE, Rights::READ)?;
    let empty = ctx.empty_slot()?;
    let stale = ctx.res.retype(ObjectType::CNode, 2)?;
    ctx.delete(stale)?;
    let past = 1u64 << ROOT_CNODE_BITS;
    let cases = [
        ("slot 0", ROOT_CNODE, 0, Error::InvalidArgument),
        ("past the CNode", ROOT_CNODE, past, Error::InvalidArgument),
        (
            "far past the CNode",
            ROOT_CNODE,
            u64::MAX,
            Error::InvalidArgument,
        ),
        ("an empty slot", ROOT_CNODE, empty.0, Error::SlotEmpty),
        (
            "a deleted capability",
            ROOT_CNODE,
            stale.0,
            Error::SlotEmpty,
        ),
        (
            "through a deleted CNode",
            stale,
            1,
            Error::InvalidCapability,
        ),
        (
            "through a notification",
            notification,
            1,
            Error::InvalidLabel,
        ),
        (
            "through a read-only CNode",
            read_only,
            notification.0,
            Error::InsufficientRights,
        ),
    ];
    let mut results = [Ok(0); 8];
    for (result, &(_, cnode, index, _)) in results.iter_mut().zip(&cases) {
        *result = substrate::cnode_revoke(cnode, index);
    }
    ctx.release_slot(empty);
    ctx.delete(read_only)?;
    ctx.delete(notification)?;
    for (result, (what, _, _, expected)) in results.into_iter().zip(cases) {
        err(what, result, expected)?;
    }
    Ok(())
}

/// Holds pin across a revoke: a thread from elsewhere running in a VSpace retyped from the
/// untyped makes the revoke stop with Busy (what it deleted stays deleted); once that
/// thread is gone, calling again finishes and every frame comes back.
pub fn holds_pin_across_revoke(ctx: &mut Ctx) -> Outcome {
    let untyped = ctx.res.retype(ObjectType::Untyped, 16)?;
    let before = crate::tests::kdebug::counts()?;
    let mut carve = Carve::new(untyped);
    let vspace = carve.retype(ctx, ObjectType::VSpace, 0)?;
    carve.retype(ctx, ObjectType::Frame, 0)?;
    let tcb = ctx.create(ObjectType::Tcb)?;
    ok(
        "configure a thread in the VSpace",
        substrate::tcb_configure(tcb, ROOT_CNODE, vspace),
    )?;
    let pinned = substrate::cnode_revoke(ROOT_CNODE, untyped.0);
    let vspace_left = holds(ctx, vspace)?;
    ctx.delete(tcb)?;
    let calls = revoke_all(untyped)?;
    let after = crate::tests::kdebug::counts()?;
    carve.expect_all_gone(ctx)?;
    ctx.delete(untyped)?;
    err("revoke while a thread uses the VSpace", pinned, Error::Busy)?;
    ensure!(vspace_left, "the revoke destroyed a VSpace a thread uses");
    ensure!(calls == 1, "the second revoke took {calls} calls");
    ensure!(
        after == before,
        "frame counts {after:?} after the revoke, expected {before:?}"
    );
    Ok(())
}

/// A CNode holding the only capability to itself is unreachable once the root's copy goes
/// (that deletion destroys nothing, a copy is left), and revoking its untyped reclaims it.
pub fn revoke_reclaims_a_self_held_cnode(ctx: &mut Ctx) -> Outcome {
    let untyped = ctx.res.retype(ObjectType::Untyped, 16)?;
    let before = crate::tests::kdebug::counts()?;
    let mut carve = Carve::new(untyped);
    let cnode = carve.retype(ctx, ObjectType::CNode, 2)?;
    ok(
        "copy the CNode into itself",
        substrate::cnode_copy(cnode, 1, cnode, Rights::ALL),
    )?;
    ok(
        "delete the root's capability",
        substrate::cnode_delete(ROOT_CNODE, cnode.0),
    )?;
    let unreachable = crate::tests::kdebug::counts()?;
    revoke_all(untyped)?;
    let after = crate::tests::kdebug::counts()?;
    carve.expect_all_gone(ctx)?;
    ctx.delete(untyped)?;
    ensure!(
        unreachable[2] > before[2],
        "the CNode was destroyed while it held a capability to itself"
    );
    ensure!(
        after == before,
        "frame counts {after:?} after the revoke, expected {before:?}"
    );
    Ok(())
}
