//! CNode objects: tables of capability slots in untyped memory, and slot access by location.
//!
//! A CNode of `2^slot_bits` slots occupies `2^(slot_bits + CNODE_SLOT_BITS)` bytes. Slot 0
//! is the null slot and never holds a capability; the kernel keeps the CNode's header
//! ([`CNodeHeader`], its holds) in that slot's memory. Every other slot holding a
//! capability is a node of the derivation tree (kerncore's `cdt`), reached by physical
//! address through [`PhysSlots`], and records its CNode in its home word so that a slot
//! found on the tree can be named as a [`SlotRef`] again ([`slot_at`]).

use abi::{Error, ObjectType};
use kerncore::{Cap, CapState, Link, ObjectCounts, Slot, SlotStore};

use core::sync::atomic::{AtomicU64, Ordering};

use super::phys_ptr;

/// The header of a CNode, in the memory of its slot 0.
#[repr(C)]
pub struct CNodeHeader {
    /// Threads using the CNode as their CSpace root.
    pub counts: ObjectCounts,
    /// log2 of the slot count.
    pub slot_bits: u64,
    reserved: [u64; 6],
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

/// Initialises a freshly zeroed CNode's header.
pub fn init(paddr: u64, slot_bits: u8) {
    with_header(paddr, |header| {
        header.counts = ObjectCounts::UNHELD;
        header.slot_bits = u64::from(slot_bits);
    });
}

/// The slots of every CNode as the derivation tree sees them: by physical address.
///
/// Only addresses on the tree are passed in (slots holding a capability, or a slot that is
/// just receiving one); a slot leaves the tree before it is emptied, and a CNode is
/// destroyed only once all its slots are empty, so every address names a live slot.
pub struct PhysSlots;

/// Runs `f` on the slot at physical address `slot`, which callers know to be live (on the
/// derivation tree, or a mapping owner).
fn with_slot<R>(slot: u64, f: impl FnOnce(&mut Slot) -> R) -> R {
    // SAFETY: `slot` names a live slot (see `PhysSlots`), reached through the direct map;
    // no other reference to it exists while `f` runs (callers never nest these calls
    // inside `with_slots` or another `with_slot`).
    f(unsafe { &mut *phys_ptr::<Slot>(slot) })
}

impl SlotStore for PhysSlots {
    fn cap(&self, slot: u64) -> Option<Cap> {
        with_slot(slot, |slot| slot.get())
    }

    fn link(&self, slot: u64) -> Link {
        with_slot(slot, |slot| slot.link())
    }

    fn set_link(&mut self, slot: u64, link: Link) {
        with_slot(slot, |slot| slot.set_link(link));
    }
}

/// The slot at physical address `slot`, which holds a capability: its CNode, from the home
/// word that [`set`] wrote. Panics if the word is missing (a broken invariant).
pub fn slot_at(slot: u64) -> SlotRef {
    let home = with_slot(slot, |slot| slot.home());
    let slot_bits = (home & HOME_BITS_MASK) as u8;
    let cnode = home & !HOME_BITS_MASK;
    if cnode == 0 || slot < cnode || (slot - cnode) >> abi::CNODE_SLOT_BITS >> slot_bits != 0 {
        panic!("invariant broken: slot {slot:#x} on the derivation tree has home {home:#x}");
    }
    SlotRef {
        cnode,
        slot_bits,
        index: (slot - cnode) >> abi::CNODE_SLOT_BITS,
    }
}

/// The slot that capability address `cptr` names in `thread`'s CSpace root:
/// `InvalidCapability` for address 0, an index outside the CNode, or a thread without a
/// CSpace.
pub fn cspace_slot(thread: u64, cptr: u64) -> Result<SlotRef, Error> {
    let (cnode, slot_bits) = super::tcb::with_tcb(thread, |tcb| (tcb.cspace, tcb.cspace_bits));
    if cnode == 0 || cptr == 0 || cptr >> slot_bits != 0 {
        return Err(Error::InvalidCapability);
    }
    Ok(SlotRef {
        cnode,
        slot_bits,
        index: cptr,
    })
}

/// The node of the slot `slot` on the derivation tree.
pub fn link_of(slot: SlotRef) -> Link {
    with_slot(slot.paddr(), |slot| slot.link())
}

/// The bits of the home word that hold the CNode's `slot_bits` (CNodes are aligned to at
/// least 2 slots = 128 bytes).
const HOME_BITS_MASK: u64 = 0x3f;

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

/// The object, rights and badge of the capability in a slot, without its state (see
/// `kerncore::Slot::peek`); `None` for an empty slot.
pub fn peek(slot: SlotRef) -> Option<(kerncore::ObjectRef, abi::Rights, u64)> {
    with_slots(slot.cnode, slot.slot_bits, |slots| {
        usize::try_from(slot.index)
            .ok()
            .and_then(|index| slots.get(index))
            .and_then(kerncore::Slot::peek)
    })
}

/// Stores a capability in a slot (or empties it) and records the slot's home. A slot is
/// emptied only once it is off the derivation tree (panics otherwise: the tree would keep
/// a dangling node).
pub fn set(slot: SlotRef, cap: Option<Cap>) -> Result<(), Error> {
    with_slots(slot.cnode, slot.slot_bits, |slots| {
        match usize::try_from(slot.index) {
            Ok(index) if index != 0 && index < slots.len() => {
                let target = &mut slots[index];
                if cap.is_none() && target.link() != Link::default() {
                    panic!(
                        "invariant broken: slot {:#x} emptied while on the derivation tree",
                        slot.paddr()
                    );
                }
                store(target, cap)?;
                if cap.is_some() {
                    target.set_home(slot.cnode | u64::from(slot.slot_bits));
                }
                Ok(())
            }
            _ => Err(Error::InvalidArgument),
        }
    })
}

/// Clears the mapping record of the Frame or PageTable capability in the slot at physical
/// address `slot` (the owner of an entry the kernel just removed). Panics if the slot does
/// not hold a mappable capability: an owner always names one (a broken invariant).
pub fn clear_mapping_record(slot: u64) {
    // Owners name live slots (see `object::vspace`).
    with_slot(slot, |slot_ref| {
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
    });
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
