//! Attacks on object lifetimes and rights: each test replays a confinement break found in review and fails loudly if the kernel lets it through.
//!
//! The suite's harness runs both invariant checkers (`check_frames`, `check_mappings`)
//! after every test, so each attack is also checked for leaving a dangling entry behind.

use rootlib::{ROOT_CNODE, ROOT_VSPACE};
use trona::substrate;
use trona::uapi::{
    CNODE_SLOT_BITS, CPtr, Error, MAX_CNODE_NESTING, NUM_PRIORITIES, ObjectType,
    PAGE_TABLE_SIZE_BITS, Rights,
};

use crate::READ_WRITE;
use crate::ctx::{Ctx, KERNEL_DEBUG, SELF_TCB};
use crate::harness::{Outcome, ensure, err, err_one_of, ok};

/// 512 GiB regions of the root VSpace that only these tests use, one per test.
const ATTACK_REGION: u64 = 0x0000_3000_0000_0000;

/// The start of attack region `n`.
const fn region(n: u64) -> u64 {
    ATTACK_REGION + (n << 39)
}

/// A value written through a mapping.
const PROBE: u64 = 0x6174_7461_636b_2121;

/// Page tables installed at levels 3, 2 and 1 over one region, with the capabilities the
/// test made (so teardown deletes what is left).
struct Chain {
    caps: [CPtr; 3],
}

impl Chain {
    /// Creates and installs the three tables a frame at `vaddr` needs.
    fn install(ctx: &mut Ctx, vaddr: u64) -> Result<Chain, crate::harness::Failure> {
        let mut caps = [CPtr(0); 3];
        for (cap, level) in caps.iter_mut().zip([3u8, 2, 1]) {
            *cap = ctx.create(ObjectType::PageTable)?;
            ok(
                "install a table",
                substrate::vspace_map_table(ROOT_VSPACE, *cap, vaddr, level),
            )?;
        }
        Ok(Chain { caps })
    }

    /// The installed table of schema `level`.
    fn level(&self, level: u8) -> CPtr {
        self.caps[3 - usize::from(level)]
    }

    /// Deletes every capability of the chain that is still there, lowest level first.
    fn delete(self, ctx: &mut Ctx) -> Outcome {
        for &cap in self.caps.iter().rev() {
            if cap.0 != 0 {
                ctx.delete(cap)?;
            }
        }
        Ok(())
    }
}

fn write(vaddr: u64, value: u64) {
    // SAFETY: Callers pass a page they just mapped writable and that nothing else uses.
    unsafe { (vaddr as usize as *mut u64).write_volatile(value) };
}

fn read(vaddr: u64) -> u64 {
    // SAFETY: Callers pass a page they just mapped readable.
    unsafe { (vaddr as usize as *const u64).read_volatile() }
}

/// Finding 1: deleting the installed copy of a copied PageTable capability used to leave the
/// table's entries in place, so re-installing the other copy elsewhere gave user space a
/// mapping to a frame it could then delete and retype (a page-table use-after-free).
/// Detaching must empty the table and clear the frame capability's record.
pub fn detached_table_is_emptied(ctx: &mut Ctx) -> Outcome {
    let vaddr = region(0) + 0x20_0000;
    let chain = Chain::install(ctx, vaddr)?;
    let frame = ctx.create(ObjectType::Frame)?;
    ok(
        "map a frame through the table",
        substrate::vspace_map_frame(ROOT_VSPACE, frame, vaddr, READ_WRITE),
    )?;
    write(vaddr, PROBE);
    let leaf = chain.level(1);
    let spare = ctx.copy_with_rights(leaf, Rights::ALL)?;
    // Delete the installed copy: the table detaches, and must not keep its entry.
    ctx.delete(leaf)?;
    let mut chain = chain;
    chain.caps[2] = CPtr(0);
    err(
        "lookup through the detached table",
        substrate::vspace_lookup(ROOT_VSPACE, vaddr),
        Error::NotMapped,
    )?;
    err(
        "unmap the frame whose table was detached",
        substrate::vspace_unmap_frame(ROOT_VSPACE, frame),
        Error::NotMapped,
    )?;
    // Install the other copy one 2 MiB range further on: it must map nothing.
    let elsewhere = vaddr + 0x20_0000;
    ok(
        "install the spare copy elsewhere",
        substrate::vspace_map_table(ROOT_VSPACE, spare, elsewhere, 1),
    )?;
    err(
        "lookup through the re-installed table",
        substrate::vspace_lookup(ROOT_VSPACE, elsewhere),
        Error::NotMapped,
    )?;
    // The frame is unmapped everywhere, so it can go back to its untyped.
    ok(
        "map the frame again",
        substrate::vspace_map_frame(ROOT_VSPACE, frame, elsewhere, Rights::READ),
    )?;
    let kept = read(elsewhere);
    ctx.delete(frame)?;
    err(
        "lookup after deleting the frame",
        substrate::vspace_lookup(ROOT_VSPACE, elsewhere),
        Error::NotMapped,
    )?;
    ctx.delete(spare)?;
    chain.delete(ctx)?;
    ensure!(kept == PROBE, "the frame lost its contents: {kept:#x}");
    Ok(())
}

/// Finding 2: detaching a level-2 table that still pointed at a level-1 table, destroying
/// the level-1 table and retyping its memory as a CNode let the kernel's own walk write a
/// PTE into the CNode. Detaching must empty every level below.
pub fn nested_detach_empties_every_level(ctx: &mut Ctx) -> Outcome {
    let vaddr = region(1) + 0x4000_0000;
    let chain = Chain::install(ctx, vaddr)?;
    let frame = ctx.create(ObjectType::Frame)?;
    // The level-1 table comes from an untyped of exactly its size, so that its memory is
    // what the next retype from that untyped hands out.
    let untyped = ctx.res.retype(ObjectType::Untyped, PAGE_TABLE_SIZE_BITS)?;
    let lowest = ctx.empty_slot()?;
    ok(
        "retype the level-1 table",
        substrate::untyped_retype(untyped, ObjectType::PageTable, 0, ROOT_CNODE, lowest.0),
    )?;
    ok(
        "install the level-1 table",
        substrate::vspace_map_table(ROOT_VSPACE, lowest, vaddr + 0x20_0000, 1),
    )?;
    ok(
        "map a frame",
        substrate::vspace_map_frame(ROOT_VSPACE, frame, vaddr + 0x20_0000, READ_WRITE),
    )?;
    let middle = chain.level(2);
    let spare = ctx.copy_with_rights(middle, Rights::ALL)?;
    ctx.delete(middle)?;
    err(
        "unmap the level-1 table below the detached one",
        substrate::page_table_unmap(lowest),
        Error::NotMapped,
    )?;
    err(
        "unmap the frame below the detached tables",
        substrate::vspace_unmap_frame(ROOT_VSPACE, frame),
        Error::NotMapped,
    )?;
    // Destroy both level-1 tables and reuse one's memory as a CNode.
    ctx.delete(lowest)?;
    ctx.delete(chain.level(1))?;
    let cnode = ctx.empty_slot()?;
    let cnode_bits = PAGE_TABLE_SIZE_BITS - CNODE_SLOT_BITS;
    ok(
        "retype the table's memory as a CNode",
        substrate::untyped_retype(untyped, ObjectType::CNode, cnode_bits, ROOT_CNODE, cnode.0),
    )?;
    ok(
        "re-install the level-2 table",
        substrate::vspace_map_table(ROOT_VSPACE, spare, vaddr, 2),
    )?;
    err(
        "map through the re-installed level-2 table",
        substrate::vspace_map_frame(ROOT_VSPACE, frame, vaddr + 0x20_0000, Rights::READ),
        Error::MissingTable,
    )?;
    // The CNode holds no forged capability: every slot is empty.
    for index in 1..(1u64 << cnode_bits) {
        err(
            "delete in the reused CNode",
            substrate::cnode_delete(cnode, index),
            Error::SlotEmpty,
        )?;
    }
    ctx.delete(cnode)?;
    ctx.delete(untyped)?;
    ctx.delete(frame)?;
    ctx.delete(spare)?;
    ctx.delete(chain.level(3))
}

/// Finding 4: after a table was detached, a frame capability kept a stale record, and
/// unmapping it removed another capability's mapping of the same frame at the same place.
pub fn unmap_removes_only_its_own_mapping(ctx: &mut Ctx) -> Outcome {
    let vaddr = region(2) + 0x60_0000;
    let mut chain = Chain::install(ctx, vaddr)?;
    let a = ctx.create(ObjectType::Frame)?;
    let b = ctx.copy_with_rights(a, Rights::ALL)?;
    ok(
        "map through capability A",
        substrate::vspace_map_frame(ROOT_VSPACE, a, vaddr, READ_WRITE),
    )?;
    let leaf = chain.level(1);
    let spare = ctx.copy_with_rights(leaf, Rights::ALL)?;
    ctx.delete(leaf)?;
    ok(
        "install the spare table at the same place",
        substrate::vspace_map_table(ROOT_VSPACE, spare, vaddr, 1),
    )?;
    chain.caps[2] = spare;
    ok(
        "map through capability B at the same address",
        substrate::vspace_map_frame(ROOT_VSPACE, b, vaddr, READ_WRITE),
    )?;
    err(
        "unmap through A, which no longer maps anything",
        substrate::vspace_unmap_frame(ROOT_VSPACE, a),
        Error::NotMapped,
    )?;
    ok(
        "B's mapping survives",
        substrate::vspace_lookup(ROOT_VSPACE, vaddr),
    )?;
    ok(
        "unmap through B",
        substrate::vspace_unmap_frame(ROOT_VSPACE, b),
    )?;
    ctx.delete(b)?;
    ctx.delete(a)?;
    chain.delete(ctx)
}

/// A mapped capability that moves keeps its mapping, and deleting it from its new slot
/// removes the mapping (the owner record follows the capability).
pub fn moved_mapping_is_removed_by_its_new_slot(ctx: &mut Ctx) -> Outcome {
    let vaddr = ctx.unmapped_address()?;
    let frame = ctx.create(ObjectType::Frame)?;
    ok(
        "map",
        substrate::vspace_map_frame(ROOT_VSPACE, frame, vaddr, READ_WRITE),
    )?;
    let moved = ctx.empty_slot()?;
    ok(
        "move the mapped frame capability",
        substrate::cnode_move_cap(ROOT_CNODE, moved.0, frame),
    )?;
    ctx.release_slot(frame);
    ok(
        "check_mappings after the move",
        substrate::kernel_debug_check_mappings(KERNEL_DEBUG),
    )?;
    ok(
        "still mapped after the move",
        substrate::vspace_lookup(ROOT_VSPACE, vaddr),
    )?;
    ctx.delete(moved)?;
    err(
        "lookup after deleting the moved capability",
        substrate::vspace_lookup(ROOT_VSPACE, vaddr),
        Error::NotMapped,
    )
}

/// A VSpace with mappings stays (its mappings hold it); deleting a detached, empty table
/// returns it; hostile levels and addresses are refused without a trace.
pub fn mapping_boundaries(ctx: &mut Ctx) -> Outcome {
    let vspace = ctx.create(ObjectType::VSpace)?;
    let table = ctx.create(ObjectType::PageTable)?;
    let vaddr = region(3);
    ok(
        "install a top table in a second VSpace",
        substrate::vspace_map_table(vspace, table, vaddr, 3),
    )?;
    err(
        "delete a VSpace that a table is installed in",
        substrate::cnode_delete(ROOT_CNODE, vspace.0),
        Error::Busy,
    )?;
    err(
        "install the same table twice",
        substrate::vspace_map_table(ROOT_VSPACE, table, vaddr, 3),
        Error::AlreadyMapped,
    )?;
    let copy = ctx.copy_with_rights(table, Rights::ALL)?;
    err(
        "install a copy of an installed table",
        substrate::vspace_map_table(ROOT_VSPACE, copy, vaddr, 3),
        Error::AlreadyMapped,
    )?;
    ctx.delete(copy)?;
    for (what, vaddr, level) in [
        ("level 4", vaddr, 4),
        ("user top", trona::uapi::USER_TOP, 3),
        ("kernel half", crate::tests::KERNEL_ADDRESS, 3),
        ("all ones", u64::MAX, 1),
    ] {
        let fresh = ctx.create(ObjectType::PageTable)?;
        let result = substrate::vspace_map_table(ROOT_VSPACE, fresh, vaddr, level);
        ctx.delete(fresh)?;
        err(what, result, Error::InvalidArgument)?;
    }
    let frame = ctx.create(ObjectType::Frame)?;
    for (what, vaddr) in [
        ("unaligned", region(4) + 8),
        ("last user page", trona::uapi::USER_TOP),
        ("kernel half", crate::tests::KERNEL_ADDRESS),
    ] {
        err_one_of(
            what,
            substrate::vspace_map_frame(ROOT_VSPACE, frame, vaddr, Rights::READ),
            &[Error::InvalidArgument],
        )?;
    }
    err(
        "map a frame into a page that needs a missing table",
        substrate::vspace_map_frame(vspace, frame, vaddr, Rights::READ),
        Error::MissingTable,
    )?;
    ctx.delete(frame)?;
    ctx.delete(table)?;
    ctx.delete(vspace)
}

/// Finding 7: a CNode that still held capabilities could never be reclaimed. Deleting its
/// last capability empties it by the usual rules: a mapped frame in it is unmapped and
/// destroyed, a CNode whose last capability it holds is emptied in turn, and all of their
/// memory goes back to the untyped.
pub fn deleting_a_cnode_empties_it(ctx: &mut Ctx) -> Outcome {
    let before = crate::tests::kdebug::counts()?;
    let notification = ctx.create(ObjectType::Notification)?;
    let frame = ctx.create(ObjectType::Frame)?;
    let vaddr = ctx.unmapped_address()?;
    ok(
        "map the frame",
        substrate::vspace_map_frame(ROOT_VSPACE, frame, vaddr, READ_WRITE),
    )?;
    let outer = ctx.res.retype(ObjectType::CNode, 2)?;
    let inner = ctx.res.retype(ObjectType::CNode, 2)?;
    ok(
        "copy the notification into the inner CNode",
        substrate::cnode_copy(inner, 1, notification, Rights::ALL),
    )?;
    for (what, index, cap) in [
        ("move the mapped frame into the outer CNode", 1, frame),
        ("move the inner CNode into the outer one", 2, inner),
    ] {
        ok(what, substrate::cnode_move_cap(outer, index, cap))?;
        ctx.release_slot(cap);
    }
    ok(
        "delete the outer CNode",
        substrate::cnode_delete(ROOT_CNODE, outer.0),
    )?;
    ctx.release_slot(outer);
    err(
        "lookup of the frame that was in the CNode",
        substrate::vspace_lookup(ROOT_VSPACE, vaddr),
        Error::NotMapped,
    )?;
    ok(
        "signal the notification whose copy went",
        substrate::notification_signal(notification),
    )?;
    ctx.delete(notification)?;
    let after = crate::tests::kdebug::counts()?;
    ensure!(
        after == before,
        "frame counts {after:?} after everything was deleted, {before:?} before"
    );
    Ok(())
}

/// A chain of CNodes, each holding the next one's only capability, is emptied down to
/// `MAX_CNODE_NESTING` levels; one more non-empty level is refused with `Busy`, and the
/// refusal leaves everything consistent (the checkers run after the test). The refused
/// chain stays unreachable until revoke exists: a few hundred bytes of the suite's memory.
pub fn cnode_nesting_is_bounded(ctx: &mut Ctx) -> Outcome {
    for (levels, expected) in [
        (MAX_CNODE_NESTING, Ok(())),
        (MAX_CNODE_NESTING + 1, Err(Error::Busy)),
    ] {
        let innermost = ctx.res.retype(ObjectType::CNode, 1)?;
        let notification = ctx.create(ObjectType::Notification)?;
        ok(
            "copy into the innermost CNode",
            substrate::cnode_copy(innermost, 1, notification, Rights::ALL),
        )?;
        ctx.delete(notification)?;
        let mut chain = innermost;
        for _ in 0..levels {
            let outer = ctx.res.retype(ObjectType::CNode, 1)?;
            ok(
                "move the chain into a new outer CNode",
                substrate::cnode_move_cap(outer, 1, chain),
            )?;
            ctx.release_slot(chain);
            chain = outer;
        }
        let result = substrate::cnode_delete(ROOT_CNODE, chain.0);
        if result.is_ok() {
            ctx.release_slot(chain);
        }
        ensure!(
            result == expected,
            "deleting a chain {levels} CNodes deep gave {result:?}, expected {expected:?}"
        );
    }
    Ok(())
}

/// Finding 5: any TCB capability with write could set priority 63 (the caller's own
/// included) and starve everything below. Priorities and MCPs are now bounded by an
/// authority thread's maximum controlled priority (MCP): a new thread's MCP is 0, the
/// suite's (the root thread's) the highest.
pub fn priorities_are_bounded_by_mcp(ctx: &mut Ctx) -> Outcome {
    let target = ctx.create(ObjectType::Tcb)?;
    let low = ctx.create(ObjectType::Tcb)?;
    let result = mcp_checks(ctx, target, low);
    ctx.delete(low)?;
    ctx.delete(target)?;
    result
}

fn mcp_checks(ctx: &mut Ctx, target: CPtr, low: CPtr) -> Outcome {
    let top = NUM_PRIORITIES - 1;
    err(
        "a new thread as authority (MCP 0) gives priority 1",
        substrate::tcb_set_priority(target, 1, low),
        Error::AboveMcp,
    )?;
    ok(
        "a new thread as authority gives priority 0",
        substrate::tcb_set_priority(target, 0, low),
    )?;
    err(
        "raise the suite's own priority with a new thread as authority",
        substrate::tcb_set_priority(SELF_TCB, top, low),
        Error::AboveMcp,
    )?;
    ok(
        "the suite gives a thread MCP 10",
        substrate::tcb_set_mcp(low, 10, SELF_TCB),
    )?;
    ok(
        "priority 10 under an MCP-10 authority",
        substrate::tcb_set_priority(target, 10, low),
    )?;
    err(
        "priority 11 under an MCP-10 authority",
        substrate::tcb_set_priority(target, 11, low),
        Error::AboveMcp,
    )?;
    err(
        "an MCP-10 authority raises its own MCP",
        substrate::tcb_set_mcp(low, top, low),
        Error::AboveMcp,
    )?;
    err(
        "MCP NUM_PRIORITIES",
        substrate::tcb_set_mcp(target, NUM_PRIORITIES, SELF_TCB),
        Error::InvalidArgument,
    )?;
    let unreadable = ctx.copy_with_rights(SELF_TCB, Rights::WRITE)?;
    let denied = substrate::tcb_set_priority(target, 1, unreadable);
    ctx.delete(unreadable)?;
    err(
        "an authority capability without read",
        denied,
        Error::InsufficientRights,
    )?;
    let notification = ctx.create(ObjectType::Notification)?;
    let wrong = substrate::tcb_set_mcp(target, 1, notification);
    ctx.delete(notification)?;
    err("a Notification as authority", wrong, Error::WrongObjectType)?;
    let read_only = ctx.copy_with_rights(target, Rights::READ)?;
    let denied = substrate::tcb_set_mcp(read_only, 1, SELF_TCB);
    ctx.delete(read_only)?;
    err(
        "set_mcp through a read-only TCB",
        denied,
        Error::InsufficientRights,
    )
}

/// A closed set of objects (an untyped and everything retyped from it: a VSpace with
/// tables and a mapped frame, a thread running in it with a bound notification) put into
/// one CNode in the worst slot order is reclaimed whole by deleting that CNode: emptying
/// deletes mappings, then threads, then other objects, then untyped regions.
pub fn cnode_deletion_reclaims_a_closed_set(ctx: &mut Ctx) -> Outcome {
    let before = crate::tests::kdebug::counts()?;
    let untyped = ctx.res.retype(ObjectType::Untyped, 17)?;
    let mut made = [CPtr(0); 7];
    for (cap, object_type) in made.iter_mut().zip([
        ObjectType::VSpace,
        ObjectType::Tcb,
        ObjectType::Notification,
        ObjectType::PageTable,
        ObjectType::PageTable,
        ObjectType::PageTable,
        ObjectType::Frame,
    ]) {
        *cap = ctx.empty_slot()?;
        ok(
            "retype from the untyped",
            substrate::untyped_retype(untyped, object_type, 0, ROOT_CNODE, cap.0),
        )?;
    }
    let [vspace, tcb, notification, top, middle, lowest, frame] = made;
    let vaddr = region(5);
    for (table, level) in [(top, 3), (middle, 2), (lowest, 1)] {
        ok(
            "install a table",
            substrate::vspace_map_table(vspace, table, vaddr, level),
        )?;
    }
    ok(
        "map the frame",
        substrate::vspace_map_frame(vspace, frame, vaddr, READ_WRITE),
    )?;
    ok(
        "configure the thread in the VSpace",
        substrate::tcb_configure(tcb, ROOT_CNODE, vspace),
    )?;
    ok(
        "bind the notification",
        substrate::tcb_bind_notification(tcb, notification),
    )?;
    let holder = ctx.res.retype(ObjectType::CNode, 4)?;
    // Dependents after what they depend on: the worst order for a single pass.
    for (index, cap) in [
        untyped,
        vspace,
        tcb,
        notification,
        top,
        middle,
        lowest,
        frame,
    ]
    .into_iter()
    .enumerate()
    {
        ok(
            "move into the holder CNode",
            substrate::cnode_move_cap(holder, index as u64 + 1, cap),
        )?;
        ctx.release_slot(cap);
    }
    ok(
        "delete the holder CNode",
        substrate::cnode_delete(ROOT_CNODE, holder.0),
    )?;
    ctx.release_slot(holder);
    let after = crate::tests::kdebug::counts()?;
    ensure!(
        after == before,
        "frame counts {after:?} after deleting the holder, {before:?} before"
    );
    Ok(())
}
