//! Kernel objects built on kerncore: where they live, their holds, creation, deletion and revoke.
//!
//! Every object except KernelDebug lives in memory retyped from an untyped region (A1): a
//! capability names it by physical address, and the kernel reaches it through the direct
//! map. Objects never move, so an object's identity is stable while anything refers to it.
//! Capabilities are nodes of the derivation tree (kerncore's `cdt`, threaded through the
//! slots): it says whether a capability is the last one to its object and which
//! capabilities descend from one. Holds ([`ObjectCounts`]: kernel references that keep an
//! object in use) sit in the object's own header (TCB, CNode, Notification) or, for
//! objects whose memory belongs to the hardware or to user space (Frame, PageTable,
//! VSpace), in the frame table entry of their first frame.
//! The last capability's deletion destroys the object and returns its frames to
//! `UntypedReserved`; an object that still has holds cannot be destroyed (`Busy`).
//! A CNode whose last capability goes is emptied first: every capability in it is
//! deleted by the same rules (nested CNodes up to `abi::MAX_CNODE_NESTING` levels deep;
//! each level costs kernel stack). Revoke deletes a capability's descendants, at most
//! `abi::REVOKE_BATCH` per call, in dependency order; deleting an untyped's original
//! capability revokes it first.

pub mod cnode;
pub mod debug;
pub mod frames;
pub mod mapcheck;
pub mod notification;
pub mod tcb;
pub mod untyped;
pub mod vspace;

use abi::{Error, MAX_CNODE_NESTING, ObjectType, REVOKE_BATCH};
use kerncore::{Cap, CapState, ObjectCounts, ObjectFrames, ObjectRef, cdt, object_frames};

use cnode::PhysSlots;

use crate::arch;

/// A kernel-global value behind a lock (`spin::Mutex`).
///
/// The kernel runs on one CPU with interrupts disabled whenever it runs kernel code (the
/// idle loop takes interrupts only between its own accesses), so the lock is never
/// contended today; it is there so that the globals are already sound once more CPUs run.
/// [`Global::with`] hands out the mutable reference for the duration of a closure and
/// refuses (panics) if that closure re-enters the same global, which on one CPU would
/// otherwise deadlock.
pub struct Global<T>(spin::Mutex<T>);

impl<T> Global<T> {
    /// Wraps an initial value.
    pub const fn new(value: T) -> Global<T> {
        Global(spin::Mutex::new(value))
    }

    /// Runs `f` with exclusive access to the value. Panics if `f` calls `with` on the same
    /// global again (a kernel bug).
    pub fn with<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        let mut guard = self
            .0
            .try_lock()
            .expect("kernel global re-entered while in use");
        f(&mut guard)
    }
}

/// A kernel pointer to physical memory, through the direct map.
pub fn phys_ptr<T>(paddr: u64) -> *mut T {
    arch::phys_to_virt(paddr) as *mut T
}

/// Fills `len` bytes of physical memory at `paddr` with zeros.
pub fn zero_phys(paddr: u64, len: u64) {
    let ptr = phys_ptr::<u8>(paddr);
    // SAFETY: Callers pass memory the kernel owns and is just handing to a new object
    // (frames it has retyped); the direct map covers all RAM.
    unsafe { core::ptr::write_bytes(ptr, 0, len as usize) };
}

/// The size in bytes of an object as a capability names it (0 for KernelDebug).
pub fn object_bits(cap: &Cap) -> Option<u8> {
    let size_bits = match cap.state {
        CapState::Untyped(untyped) => untyped.size_bits,
        CapState::CNode { slot_bits } => slot_bits,
        _ => 0,
    };
    match cap.object.object_type {
        ObjectType::KernelDebug => None,
        object_type => kerncore::object_size_bits(object_type, size_bits).ok(),
    }
}

/// Runs `f` on the holds of an object (every type except Untyped, which nothing holds, and
/// KernelDebug, which has no memory).
pub fn with_counts<R>(object: ObjectRef, f: impl FnOnce(&mut ObjectCounts) -> R) -> Option<R> {
    match object.object_type {
        ObjectType::Tcb => Some(tcb::with_tcb(object.paddr, |tcb| f(&mut tcb.counts))),
        ObjectType::CNode => Some(cnode::with_header(object.paddr, |header| {
            f(&mut header.counts)
        })),
        ObjectType::Notification => {
            Some(notification::with(object.paddr, |ntfn| f(&mut ntfn.counts)))
        }
        ObjectType::Frame | ObjectType::PageTable | ObjectType::VSpace => {
            frames::with_table(|table| table.object_counts(object.paddr >> abi::PAGE_BITS).map(f))
        }
        // IPC: Endpoint holds are added by the kernel branch.
        ObjectType::Untyped | ObjectType::KernelDebug | ObjectType::Endpoint => None,
    }
}

/// Adds a holder to `object` (a thread using it, a mapping in it).
pub fn hold(object: ObjectRef) -> Result<(), Error> {
    with_counts(object, ObjectCounts::hold).unwrap_or(Ok(()))
}

/// Drops a holder of `object`.
pub fn unhold(object: ObjectRef) {
    with_counts(object, ObjectCounts::unhold);
}

/// What deleting one capability does to its object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Released {
    /// Other capabilities to the object remain.
    Remaining,
    /// That was the last capability: the object is destroyed.
    Last,
}

/// Whether deleting the capability `cap` in `slot` is allowed now, and whether it is the
/// last one. Checks everything that could refuse, so that the deletion itself cannot fail
/// halfway (a CNode's contents are deleted one by one before it, see [`delete`]).
fn check_delete(cap: &Cap, slot: cnode::SlotRef) -> Result<Released, Error> {
    if cap.object.object_type == ObjectType::KernelDebug || !cdt::is_final(&PhysSlots, slot.paddr())
    {
        return Ok(Released::Remaining);
    }
    if let Some(mut counts) = with_counts(cap.object, |counts| *counts) {
        if cap.object.object_type == ObjectType::PageTable && cap.mapping().is_some() {
            // This capability's own installation goes away with it.
            counts.unhold();
        }
        counts.check_unheld()?;
    }
    match cap.object.object_type {
        ObjectType::Untyped => untyped::check_destroy(cap)?,
        ObjectType::Tcb => tcb::check_destroy(cap.object.paddr)?,
        ObjectType::Notification => notification::check_destroy(cap.object.paddr)?,
        _ => {}
    }
    Ok(Released::Last)
}

/// Deletes the capability in `slot`: unmaps what it maps, takes it off the derivation tree
/// and, for the last capability, destroys the object.
///
/// An untyped's original capability is revoked first (at most `REVOKE_BATCH` deletions;
/// if descendants remain, the deletion stops with `Busy` and calling again continues).
/// For the last capability of a CNode, the CNode is emptied first, slot by slot, each
/// capability deleted by these same rules. If one of those deletions is refused, the
/// deletion stops with that error: the CNode and what is left in it stay, and the
/// deletions already made stand (calling again continues where it stopped).
pub fn delete(slot: cnode::SlotRef) -> Result<(), Error> {
    delete_nested(slot, 0)
}

fn delete_nested(slot: cnode::SlotRef, depth: u32) -> Result<(), Error> {
    let cap = cnode::get(slot).ok_or(Error::SlotEmpty)?;
    if cap.object.object_type == ObjectType::Untyped
        && !cnode::link_of(slot).derived
        && revoke_nested(slot, depth)? == Revoked::Pending
    {
        return Err(Error::Busy);
    }
    let released = check_delete(&cap, slot)?;
    if released == Released::Last && cap.object.object_type == ObjectType::CNode {
        empty_cnode(&cap, slot, depth)?;
    }
    if let Some(mapping) = cap.mapping() {
        match cap.object.object_type {
            ObjectType::Frame => {
                vspace::unmap_frame_mapping(cap.object.paddr, mapping, slot.paddr())
            }
            _ => vspace::unmap_table_mapping(cap.object.paddr, mapping, slot.paddr()),
        }
    }
    cdt::unlink(&mut PhysSlots, slot.paddr());
    cnode::set(slot, None)?;
    if released == Released::Last {
        destroy(&cap);
    }
    Ok(())
}

/// How far a revoke got.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Revoked {
    /// No descendants are left.
    Done,
    /// The batch ran out with descendants left: call again.
    Pending,
}

/// Deletes the descendants of the capability in `slot` ([`cdt::next_to_revoke`]: in
/// [`deletion_pass`] order, the last on the tree first), at most `REVOKE_BATCH` of them.
/// Each goes by the rules of [`delete`]; a refusal stops the revoke with that error (the
/// deletions made stand). A revoked untyped's watermark is reset once nothing is left.
pub fn revoke(slot: cnode::SlotRef) -> Result<Revoked, Error> {
    cnode::get(slot).ok_or(Error::SlotEmpty)?;
    revoke_nested(slot, 0)
}

fn revoke_nested(root: cnode::SlotRef, depth: u32) -> Result<Revoked, Error> {
    let mut budget = REVOKE_BATCH;
    while let Some(victim) = cdt::next_to_revoke(&PhysSlots, root.paddr(), deletion_pass) {
        if budget == 0 {
            return Ok(Revoked::Pending);
        }
        budget -= 1;
        if depth > MAX_CNODE_NESTING {
            return Err(Error::Busy);
        }
        let victim = cnode::slot_at(victim);
        if destroys_cnode_holding(victim, root) {
            // The revoked capability lies in a CNode it is about to destroy.
            return Err(Error::Busy);
        }
        delete_nested(victim, depth + 1)?;
    }
    if let Some(cap) = cnode::get(root)
        && cap.object.object_type == ObjectType::Untyped
    {
        untyped::reset(&cap, root)?;
    }
    Ok(Revoked::Done)
}

/// Whether deleting the capability in `victim` would destroy the CNode that holds `root`.
fn destroys_cnode_holding(victim: cnode::SlotRef, root: cnode::SlotRef) -> bool {
    let Some(cap) = cnode::get(victim) else {
        return false;
    };
    let CapState::CNode { slot_bits } = cap.state else {
        return false;
    };
    let size = 1u64 << (u32::from(slot_bits) + u32::from(abi::CNODE_SLOT_BITS));
    (cap.object.paddr..cap.object.paddr + size).contains(&root.paddr())
        && cdt::is_final(&PhysSlots, victim.paddr())
}

/// Deletes every capability in the CNode of `cap` except the one in `deleting` (which may
/// lie inside it), before the CNode is destroyed.
///
/// Capabilities go in dependency order ([`deletion_pass`]): mappings first (they hold
/// their VSpace), then threads (they hold their CSpace, VSpace and notification), then the
/// other objects, then untyped regions (whose children are gone by then). So a set of
/// objects that only refer to each other is reclaimed whatever slots they sit in.
fn empty_cnode(cap: &Cap, deleting: cnode::SlotRef, depth: u32) -> Result<(), Error> {
    let slot_bits = cnode::slot_bits(cap)?;
    for pass in 0..DELETION_PASSES {
        for index in 1..1u64 << slot_bits {
            let inner = cnode::SlotRef {
                cnode: cap.object.paddr,
                slot_bits,
                index,
            };
            if inner == deleting {
                continue;
            }
            match cnode::get(inner) {
                Some(held) if deletion_pass(held.object.object_type) == pass => {}
                _ => continue,
            }
            if depth > MAX_CNODE_NESTING {
                return Err(Error::Busy);
            }
            delete_nested(inner, depth + 1)?;
        }
    }
    Ok(())
}

/// How many passes [`empty_cnode`] makes.
const DELETION_PASSES: u8 = 4;

/// The pass of [`empty_cnode`] (and of a revoke) in which capabilities to `object_type`
/// are deleted.
fn deletion_pass(object_type: ObjectType) -> u8 {
    match object_type {
        ObjectType::Frame | ObjectType::PageTable => 0,
        ObjectType::Tcb => 1,
        ObjectType::VSpace
        | ObjectType::CNode
        | ObjectType::Notification
        | ObjectType::Endpoint
        | ObjectType::KernelDebug => 2,
        ObjectType::Untyped => 3,
    }
}

/// Destroys the object of `cap`, whose last capability was just deleted and for which
/// [`check_delete`] allowed it.
fn destroy(cap: &Cap) {
    match cap.object.object_type {
        ObjectType::Tcb => tcb::destroy(cap.object.paddr),
        ObjectType::VSpace => vspace::destroy(cap.object.paddr),
        ObjectType::Untyped => {
            untyped::destroy(cap);
            return;
        }
        ObjectType::KernelDebug => return,
        _ => {}
    }
    let Some(bits) = object_bits(cap) else { return };
    let result = frames::with_table(|table| match object_frames(cap.object.paddr, bits) {
        ObjectFrames::Whole(range) => table.untype(range),
        ObjectFrames::Shared(frame) => table.untype_small(frame),
    });
    if let Err(error) = result {
        panic!(
            "frame table refused to untype a destroyed {:?} at {:#x}: {error:?}",
            cap.object.object_type, cap.object.paddr
        );
    }
}
