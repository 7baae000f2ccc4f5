//! CNode objects: tables of capability slots in untyped memory, and slot access by location.
//!
//! A CNode of `2^slot_bits` slots occupies `2^(slot_bits + CNODE_SLOT_BITS)` bytes. Slot 0
//! is the null slot and never holds a capability; the kernel keeps the CNode's header
//! ([`CNodeHeader`], its reference counts) in that slot's memory.

use abi::{Error, ObjectType};
use kerncore::{Cap, CapState, ObjectCounts, Slot};

use core::sync::atomic::{AtomicU64, Ordering};

use super::phys_ptr;

/// The header of a CNode, in the memory of its slot 0.
#[repr(C)]
pub struct CNodeHeader {
    /// Capabilities to the CNode, and threads using it as their CSpace root.
    pub counts: ObjectCounts,
    /// log2 of the slot count.
    pub slot_bits: u64,
    reserved: [u64; 2],
}

const _: () = assert!(core::mem::size_of::<CNodeHeader>() == core::mem::size_of::<Slot>());

/// Where a capability lives: a slot of a CNode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SlotRef {
    /// Physical address of the CNode.
    pub cnode: u64,
    /// log2 of the CNode's slot count.
    pub slot_bits: u8,
    /// The slot index; never 0.
    pub index: u64,
}

impl SlotRef {
    /// The physical address of the slot's memory: how page-table owner records name it.
    pub fn paddr(&self) -> u64 {
        self.cnode + (self.index << abi::CNODE_SLOT_BITS)
    }
}

/// Initialises a freshly zeroed CNode's header with one capability.
pub fn init(paddr: u64, slot_bits: u8) {
    with_header(paddr, |header| {
        header.counts = ObjectCounts::one_cap();
        header.slot_bits = u64::from(slot_bits);
    });
}

/// Runs `f` on the header of the CNode at `paddr`.
pub fn with_header<R>(paddr: u64, f: impl FnOnce(&mut CNodeHeader) -> R) -> R {
    // SAFETY: `paddr` names a live CNode (capabilities and TCBs only name live objects);
    // slot 0's memory is the header and no slot reference to it exists while `f` runs.
    f(unsafe { &mut *phys_ptr::<CNodeHeader>(paddr) })
}

/// Runs `f` on the slots of the CNode at `paddr` with `2^slot_bits` slots.
///
/// Slot 0 is part of the slice but kerncore's slot functions never touch it.
pub fn with_slots<R>(paddr: u64, slot_bits: u8, f: impl FnOnce(&mut [Slot]) -> R) -> R {
    let ptr = phys_ptr::<Slot>(paddr);
    // SAFETY: The CNode is live and has 2^slot_bits slots; no other reference into it
    // (header included) is held while `f` runs.
    f(unsafe { core::slice::from_raw_parts_mut(ptr, 1 << slot_bits) })
}

/// The location of slot `index` of the CNode capability `cnode`, validated as a
/// destination: `WrongObjectType` unless it is a CNode, `InvalidArgument` for slot 0 or an
/// index past the end.
pub fn dest_slot(cnode: &Cap, index: u64) -> Result<SlotRef, Error> {
    let CapState::CNode { slot_bits } = cnode.state else {
        return Err(Error::WrongObjectType);
    };
    if index == 0 || index >> slot_bits != 0 {
        return Err(Error::InvalidArgument);
    }
    Ok(SlotRef {
        cnode: cnode.object.paddr,
        slot_bits,
        index,
    })
}

/// The capability in a slot, if any.
pub fn get(slot: SlotRef) -> Option<Cap> {
    with_slots(slot.cnode, slot.slot_bits, |slots| {
        kerncore::cap::lookup(slots, slot.index).ok()
    })
}

/// Stores a capability in a slot (or empties it).
pub fn set(slot: SlotRef, cap: Option<Cap>) -> Result<(), Error> {
    with_slots(slot.cnode, slot.slot_bits, |slots| {
        match usize::try_from(slot.index) {
            Ok(index) if index != 0 && index < slots.len() => store(&mut slots[index], cap),
            _ => Err(Error::InvalidArgument),
        }
    })
}

/// Clears the mapping record of the Frame or PageTable capability in the slot at physical
/// address `slot` (the owner of an entry the kernel just removed). Panics if the slot does
/// not hold a mappable capability: an owner always names one (a broken invariant).
pub fn clear_mapping_record(slot: u64) {
    // SAFETY: Owners name live slots (see `object::vspace`), reached through the direct
    // map; no other reference to that slot is live.
    let slot_ref = unsafe { &mut *phys_ptr::<Slot>(slot) };
    let cap = slot_ref
        .get()
        .unwrap_or_else(|| panic!("invariant broken: mapping owner slot {slot:#x} is empty"));
    let cleared = Cap {
        state: CapState::Mappable(None),
        ..cap
    };
    if store(slot_ref, Some(cleared)).is_err() {
        panic!(
            "invariant broken: mapping owner slot {slot:#x} holds a {:?}",
            cap.object.object_type
        );
    }
}

/// Capabilities whose mapping record is set, in every CNode: kept by [`store`], the one
/// writer of slots, so that the mapping checker can compare it with the entries it finds
/// owned by capabilities (a record without its entry would make them differ).
static MAPPING_RECORDS: AtomicU64 = AtomicU64::new(0);

/// The number of capabilities that record a mapping.
pub fn mapping_records() -> u64 {
    MAPPING_RECORDS.load(Ordering::Relaxed)
}

/// Writes `cap` into `slot`, keeping [`MAPPING_RECORDS`] in step.
fn store(slot: &mut Slot, cap: Option<Cap>) -> Result<(), Error> {
    let had = slot.get().is_some_and(|old| old.mapping().is_some());
    let has = cap.is_some_and(|new| new.mapping().is_some());
    slot.set(cap)?;
    match (had, has) {
        (false, true) => MAPPING_RECORDS.fetch_add(1, Ordering::Relaxed),
        (true, false) => MAPPING_RECORDS.fetch_sub(1, Ordering::Relaxed),
        _ => 0,
    };
    Ok(())
}

/// Checks that a slot is empty.
pub fn check_empty(slot: SlotRef) -> Result<(), Error> {
    with_slots(slot.cnode, slot.slot_bits, |slots| {
        kerncore::cap::check_empty(slots, slot.index)
    })
}

/// Whether `cap` is a CNode capability (for `Tcb.configure`); its slot count.
pub fn slot_bits(cap: &Cap) -> Result<u8, Error> {
    match (cap.object.object_type, cap.state) {
        (ObjectType::CNode, CapState::CNode { slot_bits }) => Ok(slot_bits),
        _ => Err(Error::WrongObjectType),
    }
}
