//! Capabilities: what a slot holds, how slots are packed into CNode memory, slot lookup,
//! the copy/mint derivation rules, and the holds that keep an object in use.
//!
//! CSpaces are single-level: a capability address (`CPtr`) is a slot index in the
//! thread's root CNode. Slot 0 of every CNode is the null slot: it never holds a
//! capability (the kernel keeps the CNode's own header there), so `CPtr(0)` is never valid.

use abi::{CNODE_SLOT_BITS, Error, ObjectType, Rights};

use crate::cdt::Link;
use crate::untyped::UntypedState;

/// Index of the null slot.
pub const NULL_SLOT: u64 = 0;

/// A kernel object: its type and the physical address of its memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ObjectRef {
    /// The object's type.
    pub object_type: ObjectType,
    /// Physical address of the object (0 for KernelDebug, which has no memory).
    pub paddr: u64,
}

/// Where a Frame or PageTable capability is mapped. Each such capability maps at most once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mapping {
    /// Physical address of the VSpace's top-level table.
    pub vspace: u64,
    /// The mapped virtual address (for a page table, the start of the range it covers).
    pub vaddr: u64,
    /// 0 for a frame; the page-table level (1 to 3) for a page table.
    pub level: u8,
}

/// Per-capability state beyond object, rights and badge; which variant a capability holds
/// is fixed by its object type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CapState {
    /// Nothing more (Tcb, VSpace, Notification, Endpoint, KernelDebug).
    Plain,
    /// The allocation state of an Untyped (meaningful in the original capability only:
    /// copies cannot retype).
    Untyped(UntypedState),
    /// A CNode's size as log2 of its slot count.
    CNode {
        /// log2 of the slot count.
        slot_bits: u8,
    },
    /// A Frame or PageTable, and where this capability maps it.
    Mappable(Option<Mapping>),
}

/// A capability: an object, the rights it grants, a badge (0 = unbadged) and per-type state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cap {
    /// The object.
    pub object: ObjectRef,
    /// The rights the holder has.
    pub rights: Rights,
    /// The badge, 0 when unbadged; signals on a badged Notification capability OR it in.
    pub badge: u64,
    /// Per-type state.
    pub state: CapState,
}

impl Cap {
    /// A fresh capability with all rights and no badge, with the initial state for its type.
    ///
    /// `slot_bits` is used for CNodes only.
    pub fn new_object(object: ObjectRef, slot_bits: u8) -> Cap {
        let state = match object.object_type {
            ObjectType::CNode => CapState::CNode { slot_bits },
            ObjectType::Frame | ObjectType::PageTable => CapState::Mappable(None),
            _ => CapState::Plain,
        };
        Cap {
            object,
            rights: Rights::ALL,
            badge: 0,
            state,
        }
    }

    /// A capability to a fresh untyped region with all rights.
    pub fn new_untyped(untyped: UntypedState) -> Cap {
        Cap {
            object: ObjectRef {
                object_type: ObjectType::Untyped,
                paddr: untyped.base,
            },
            rights: Rights::ALL,
            badge: 0,
            state: CapState::Untyped(untyped),
        }
    }

    /// The mapping of a Frame or PageTable capability, if any.
    pub fn mapping(&self) -> Option<Mapping> {
        match self.state {
            CapState::Mappable(mapping) => mapping,
            _ => None,
        }
    }
}

/// One CNode slot as it lies in CNode memory: eight words, `2^CNODE_SLOT_BITS` bytes.
///
/// Word 0 is the object address OR-ed with the type id (0 = empty slot; addresses are
/// aligned to at least 32 bytes); word 1 the rights (bits 0..8), a small per-type field
/// (bits 8..16) and a large one (bits 16..64); word 2 the badge; word 3 a per-type word.
/// Words 4 to 6 are the slot's node in the derivation tree ([`Link`]: previous slot, next
/// slot, flags) and word 7 the slot's home (where the kernel records which CNode holds
/// it). [`Slot::set`] of a capability leaves words 4 to 7 alone; emptying clears them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct Slot([u64; 8]);

const _: () = assert!(core::mem::size_of::<Slot>() == 1 << CNODE_SLOT_BITS);

const TYPE_MASK: u64 = 0x1f;
const MAPPED_FLAG: u64 = 0x80;
const DERIVED_FLAG: u64 = 1;

impl Slot {
    /// An empty slot.
    pub const EMPTY: Slot = Slot([0; 8]);

    /// Whether the slot is empty.
    pub fn is_empty(&self) -> bool {
        self.0[0] == 0
    }

    /// The object, rights and badge of the capability in the slot, if any, without its
    /// per-type state (the IPC fast path needs no more).
    pub fn peek(&self) -> Option<(ObjectRef, Rights, u64)> {
        let [w0, w1, badge, ..] = self.0;
        if w0 == 0 {
            return None;
        }
        // Slots are written only by `Slot::set`, so an undecodable slot is kernel corruption.
        let object_type =
            ObjectType::try_from(w0 & TYPE_MASK).expect("corrupt capability slot: bad type id");
        let object = ObjectRef {
            object_type,
            paddr: w0 & !TYPE_MASK,
        };
        let rights = Rights::from_bits(w1 & 0xff).expect("corrupt capability slot: bad rights");
        Some((object, rights, badge))
    }

    /// The capability in the slot, if any.
    pub fn get(&self) -> Option<Cap> {
        let (object, rights, badge) = self.peek()?;
        let [_, w1, _, w3, ..] = self.0;
        let object_type = object.object_type;
        let small = (w1 >> 8) & 0xff;
        let large = w1 >> 16;
        let state = match object_type {
            ObjectType::Untyped => CapState::Untyped(UntypedState {
                base: object.paddr,
                size_bits: small as u8,
                watermark: w3,
                depth: large as u32,
            }),
            ObjectType::CNode => CapState::CNode {
                slot_bits: small as u8,
            },
            ObjectType::Frame | ObjectType::PageTable => {
                CapState::Mappable((small & MAPPED_FLAG != 0).then_some(Mapping {
                    vspace: large << 12,
                    vaddr: w3,
                    level: (small & !MAPPED_FLAG) as u8,
                }))
            }
            _ => CapState::Plain,
        };
        Some(Cap {
            object,
            rights,
            badge,
            state,
        })
    }

    /// Stores `cap` (or empties the slot). Refuses a capability whose state does not match
    /// its type or whose addresses cannot be packed; those are kernel bugs, reported as
    /// `IllegalOperation`.
    pub fn set(&mut self, cap: Option<Cap>) -> Result<(), Error> {
        let Some(cap) = cap else {
            *self = Slot::EMPTY;
            return Ok(());
        };
        let paddr = cap.object.paddr;
        if paddr & TYPE_MASK != 0 {
            return Err(Error::IllegalOperation);
        }
        let w0 = paddr | cap.object.object_type as u64;
        let rights = cap.rights.bits();
        let (small, large, w3) = match (cap.object.object_type, cap.state) {
            (ObjectType::Untyped, CapState::Untyped(untyped)) if untyped.base == paddr => (
                u64::from(untyped.size_bits),
                u64::from(untyped.depth),
                untyped.watermark,
            ),
            (ObjectType::CNode, CapState::CNode { slot_bits }) => (u64::from(slot_bits), 0, 0),
            (ObjectType::Frame | ObjectType::PageTable, CapState::Mappable(None)) => (0, 0, 0),
            (ObjectType::Frame | ObjectType::PageTable, CapState::Mappable(Some(mapping))) => {
                if mapping.vspace & 0xfff != 0 || mapping.vspace >> 60 != 0 || mapping.level > 0x7f
                {
                    return Err(Error::IllegalOperation);
                }
                (
                    u64::from(mapping.level) | MAPPED_FLAG,
                    mapping.vspace >> 12,
                    mapping.vaddr,
                )
            }
            (
                ObjectType::Tcb
                | ObjectType::VSpace
                | ObjectType::Notification
                | ObjectType::Endpoint
                | ObjectType::KernelDebug,
                CapState::Plain,
            ) => (0, 0, 0),
            _ => return Err(Error::IllegalOperation),
        };
        if rights > 0xff || large >> 48 != 0 {
            return Err(Error::IllegalOperation);
        }
        self.0[..4].copy_from_slice(&[w0, rights | small << 8 | large << 16, cap.badge, w3]);
        Ok(())
    }

    /// The slot's node in the derivation tree.
    pub fn link(&self) -> Link {
        Link {
            prev: self.0[4],
            next: self.0[5],
            derived: self.0[6] & DERIVED_FLAG != 0,
        }
    }

    /// Sets the slot's node in the derivation tree.
    pub fn set_link(&mut self, link: Link) {
        self.0[4] = link.prev;
        self.0[5] = link.next;
        self.0[6] = if link.derived { DERIVED_FLAG } else { 0 };
    }

    /// The slot's home word (the kernel keeps the address and size of the CNode holding it).
    pub fn home(&self) -> u64 {
        self.0[7]
    }

    /// Sets the slot's home word.
    pub fn set_home(&mut self, home: u64) {
        self.0[7] = home;
    }
}

/// Resolves a capability address: the capability in slot `index`.
///
/// The null slot, an index outside the CNode and an empty slot are `InvalidCapability`.
pub fn lookup(slots: &[Slot], index: u64) -> Result<Cap, Error> {
    if index == NULL_SLOT {
        return Err(Error::InvalidCapability);
    }
    let slot = usize::try_from(index)
        .ok()
        .and_then(|index| slots.get(index))
        .ok_or(Error::InvalidCapability)?;
    slot.get().ok_or(Error::InvalidCapability)
}

/// Validates a slot index given as an argument: the null slot and indices outside the
/// CNode are `InvalidArgument`. Returns the index as `usize`.
pub fn slot_index(slots: &[Slot], index: u64) -> Result<usize, Error> {
    match usize::try_from(index) {
        Ok(index) if index != 0 && index < slots.len() => Ok(index),
        _ => Err(Error::InvalidArgument),
    }
}

/// Places `cap` in the empty slot `index`.
pub fn insert(slots: &mut [Slot], index: u64, cap: Cap) -> Result<(), Error> {
    let index = slot_index(slots, index)?;
    if !slots[index].is_empty() {
        return Err(Error::SlotOccupied);
    }
    slots[index].set(Some(cap))
}

/// Checks that slot `index` can receive a capability, without changing anything.
pub fn check_empty(slots: &[Slot], index: u64) -> Result<(), Error> {
    let index = slot_index(slots, index)?;
    if slots[index].is_empty() {
        Ok(())
    } else {
        Err(Error::SlotOccupied)
    }
}

/// Takes the capability out of slot `index`, leaving it empty.
pub fn remove(slots: &mut [Slot], index: u64) -> Result<Cap, Error> {
    let index = slot_index(slots, index)?;
    let cap = slots[index].get().ok_or(Error::SlotEmpty)?;
    slots[index] = Slot::EMPTY;
    Ok(cap)
}

/// The capability a copy of `source` with `rights` yields.
///
/// The source needs the grant right; the copy's rights must be a subset of the source's;
/// the badge is kept; a copy of a Frame or PageTable capability starts unmapped. A copy of
/// an Untyped capability names the same region (the kernel lets only the original retype).
pub fn derive_copy(source: &Cap, rights: Rights) -> Result<Cap, Error> {
    if !source.rights.contains(Rights::GRANT) || !source.rights.contains(rights) {
        return Err(Error::InsufficientRights);
    }
    let state = match source.state {
        CapState::Mappable(_) => CapState::Mappable(None),
        other => other,
    };
    Ok(Cap {
        rights,
        state,
        ..*source
    })
}

/// The capability a mint of `source` with `rights` and `badge` yields: as
/// [`derive_copy`], and the source must be unbadged and the badge non-zero. Untyped
/// capabilities have no use for a badge and cannot be minted.
pub fn derive_mint(source: &Cap, rights: Rights, badge: u64) -> Result<Cap, Error> {
    if source.object.object_type == ObjectType::Untyped {
        return Err(Error::IllegalOperation);
    }
    let copy = derive_copy(source, rights)?;
    if badge == 0 {
        return Err(Error::InvalidArgument);
    }
    if source.badge != 0 {
        return Err(Error::IllegalOperation);
    }
    Ok(Cap { badge, ..copy })
}

/// The holds on one object: kernel references that keep it in use (a thread running in a
/// VSpace or using a CNode as its CSpace, a mapping in a VSpace, an installed page table, a
/// thread bound to or waiting on a notification).
///
/// Capabilities are not counted: the derivation tree answers whether a capability is the
/// last one ([`crate::cdt::is_final`]). Deleting the last capability of an object with
/// holds is refused with `Busy`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct ObjectCounts {
    /// Kernel references that keep the object in use.
    pub holders: u32,
    reserved: u32,
}

impl ObjectCounts {
    /// No holds.
    pub const UNHELD: ObjectCounts = ObjectCounts {
        holders: 0,
        reserved: 0,
    };

    /// Adds a holder.
    pub fn hold(&mut self) -> Result<(), Error> {
        self.holders = self.holders.checked_add(1).ok_or(Error::IllegalOperation)?;
        Ok(())
    }

    /// Drops a holder.
    pub fn unhold(&mut self) {
        // A holder that was never added is a kernel bug; saturate rather than wrap.
        self.holders = self.holders.saturating_sub(1);
    }

    /// Whether the object may be destroyed now: `Busy` while it has holders.
    pub fn check_unheld(&self) -> Result<(), Error> {
        if self.holders == 0 {
            Ok(())
        } else {
            Err(Error::Busy)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const R: Rights = Rights::READ;
    const RW: Rights = Rights::READ.union(Rights::WRITE);
    const RWG: Rights = RW.union(Rights::GRANT);

    fn object(object_type: ObjectType, paddr: u64) -> ObjectRef {
        ObjectRef { object_type, paddr }
    }

    fn cap(object_type: ObjectType, rights: Rights, badge: u64) -> Cap {
        Cap {
            rights,
            badge,
            ..Cap::new_object(object(object_type, 0x20_0000), 4)
        }
    }

    fn mapped_frame() -> Cap {
        let mapping = Mapping {
            vspace: 0x30_0000,
            vaddr: 0x40_1000,
            level: 0,
        };
        Cap {
            state: CapState::Mappable(Some(mapping)),
            ..cap(ObjectType::Frame, Rights::ALL, 0)
        }
    }

    fn untyped() -> Cap {
        let mut state = UntypedState::new(0x100_0000, 20, 3).unwrap();
        state.allocate(12).unwrap();
        Cap {
            rights: RW,
            ..Cap::new_untyped(state)
        }
    }

    #[test]
    fn slots_round_trip_every_kind_of_capability() {
        let table_mapping = Mapping {
            vspace: 0xfff_ffff_f000,
            vaddr: 0x7f_ffe0_0000,
            level: 2,
        };
        let caps = [
            cap(ObjectType::Tcb, Rights::ALL, 0),
            cap(ObjectType::Notification, Rights::WRITE, u64::MAX),
            cap(ObjectType::CNode, RW, 0),
            cap(ObjectType::VSpace, R, 7),
            cap(ObjectType::Frame, Rights::empty(), 0),
            mapped_frame(),
            Cap {
                state: CapState::Mappable(Some(table_mapping)),
                ..cap(ObjectType::PageTable, RW, 0)
            },
            Cap::new_object(object(ObjectType::KernelDebug, 0), 0),
            untyped(),
        ];
        for cap in caps {
            let mut slot = Slot::EMPTY;
            assert_eq!(slot.set(Some(cap)), Ok(()), "{cap:?}");
            assert!(!slot.is_empty());
            assert_eq!(slot.get(), Some(cap));
            slot.set(None).unwrap();
            assert_eq!(slot.get(), None);
        }
    }

    fn any_cap() -> impl proptest::strategy::Strategy<Value = Cap> {
        use proptest::prelude::*;
        let object_type = proptest::sample::select(ObjectType::ALL.to_vec());
        let paddr = (0u64..1 << 40).prop_map(|paddr| paddr << 5);
        let mapping = proptest::option::of((0u64..1 << 40, any::<u64>(), 0u8..4).prop_map(
            |(vspace, vaddr, level)| Mapping {
                vspace: vspace << 12,
                vaddr,
                level,
            },
        ));
        (
            object_type,
            paddr,
            0u64..16,
            any::<u64>(),
            1u8..13,
            any::<u64>(),
            mapping,
        )
            .prop_map(
                |(object_type, paddr, rights, badge, bits, watermark, mapping)| {
                    let object = ObjectRef { object_type, paddr };
                    let state = match object_type {
                        ObjectType::Untyped => CapState::Untyped(UntypedState {
                            base: paddr,
                            size_bits: bits + 20,
                            watermark,
                            depth: 1,
                        }),
                        ObjectType::CNode => CapState::CNode { slot_bits: bits },
                        ObjectType::Frame | ObjectType::PageTable => CapState::Mappable(mapping),
                        _ => CapState::Plain,
                    };
                    Cap {
                        object,
                        rights: Rights::from_bits(rights).unwrap(),
                        badge,
                        state,
                    }
                },
            )
    }

    proptest::proptest! {
        #[test]
        fn any_well_formed_capability_survives_a_slot(cap in any_cap()) {
            let mut slot = Slot::EMPTY;
            proptest::prop_assert_eq!(slot.set(Some(cap)), Ok(()));
            proptest::prop_assert_eq!(slot.get(), Some(cap));
        }
    }

    #[test]
    fn slots_refuse_malformed_capabilities() {
        let bad = [
            Cap {
                object: object(ObjectType::Tcb, 0x1010),
                ..cap(ObjectType::Tcb, R, 0)
            },
            Cap {
                state: CapState::Plain,
                ..cap(ObjectType::Frame, R, 0)
            },
            Cap {
                state: CapState::CNode { slot_bits: 3 },
                ..cap(ObjectType::Tcb, R, 0)
            },
            Cap {
                state: CapState::Mappable(Some(Mapping {
                    vspace: 0x123,
                    vaddr: 0,
                    level: 0,
                })),
                ..cap(ObjectType::Frame, R, 0)
            },
        ];
        for cap in bad {
            let mut slot = Slot::EMPTY;
            assert_eq!(slot.set(Some(cap)), Err(Error::IllegalOperation), "{cap:?}");
            assert!(slot.is_empty());
        }
    }

    /// A CNode of 8 slots with a capability in slot 3.
    fn cnode() -> Vec<Slot> {
        let mut slots = vec![Slot::EMPTY; 8];
        slots[3].set(Some(cap(ObjectType::Tcb, RWG, 0))).unwrap();
        slots
    }

    #[test]
    fn lookup_rules() {
        let slots = cnode();
        let cases = [
            (3, Ok(cap(ObjectType::Tcb, RWG, 0))),
            (0, Err(Error::InvalidCapability)),
            (2, Err(Error::InvalidCapability)),
            (8, Err(Error::InvalidCapability)),
            (u64::MAX, Err(Error::InvalidCapability)),
        ];
        for (index, expected) in cases {
            assert_eq!(lookup(&slots, index), expected, "index {index}");
        }
    }

    #[test]
    fn insert_and_remove_rules() {
        let new = cap(ObjectType::Notification, R, 0);
        let cases = [
            (4, Ok(())),
            (3, Err(Error::SlotOccupied)),
            (0, Err(Error::InvalidArgument)),
            (8, Err(Error::InvalidArgument)),
        ];
        for (index, expected) in cases {
            let mut slots = cnode();
            assert_eq!(check_empty(&slots, index), expected, "check_empty {index}");
            assert_eq!(insert(&mut slots, index, new), expected, "insert {index}");
            if expected.is_ok() {
                assert_eq!(lookup(&slots, index), Ok(new));
            }
        }
        let removals = [
            (3, Ok(cap(ObjectType::Tcb, RWG, 0))),
            (2, Err(Error::SlotEmpty)),
            (0, Err(Error::InvalidArgument)),
        ];
        for (index, expected) in removals {
            let mut slots = cnode();
            assert_eq!(remove(&mut slots, index), expected, "remove {index}");
            assert!(slots[usize::try_from(index).unwrap()].is_empty() || expected.is_err());
        }
    }

    fn check_derive(source: Cap, rights: Rights, badge: Option<u64>, expected: Result<Cap, Error>) {
        let got = match badge {
            None => derive_copy(&source, rights),
            Some(badge) => derive_mint(&source, rights, badge),
        };
        assert_eq!(
            got, expected,
            "source {source:?}, rights {rights:?}, badge {badge:?}"
        );
    }

    #[test]
    fn copy_rules() {
        let tcb = cap(ObjectType::Tcb, RWG, 0);
        check_derive(tcb, R, None, Ok(cap(ObjectType::Tcb, R, 0)));
        check_derive(tcb, RWG, None, Ok(tcb));
        check_derive(tcb, Rights::ALL, None, Err(Error::InsufficientRights));
        check_derive(
            cap(ObjectType::Tcb, RW, 0),
            R,
            None,
            Err(Error::InsufficientRights),
        );
        check_derive(
            cap(ObjectType::Notification, RWG, 5),
            R,
            None,
            Ok(cap(ObjectType::Notification, R, 5)),
        );
        check_derive(mapped_frame(), RW, None, Ok(cap(ObjectType::Frame, RW, 0)));
        let untyped = Cap {
            rights: Rights::ALL,
            ..untyped()
        };
        check_derive(
            untyped,
            R,
            None,
            Ok(Cap {
                rights: R,
                ..untyped
            }),
        );
        check_derive(untyped, R, Some(1), Err(Error::IllegalOperation));
    }

    #[test]
    fn mint_rules() {
        let notification = cap(ObjectType::Notification, RWG, 0);
        check_derive(
            notification,
            Rights::WRITE,
            Some(0x10),
            Ok(cap(ObjectType::Notification, Rights::WRITE, 0x10)),
        );
        check_derive(
            notification,
            Rights::WRITE,
            Some(0),
            Err(Error::InvalidArgument),
        );
        check_derive(
            notification,
            Rights::ALL,
            Some(1),
            Err(Error::InsufficientRights),
        );
        check_derive(
            cap(ObjectType::Notification, RWG, 3),
            R,
            Some(1),
            Err(Error::IllegalOperation),
        );
        check_derive(
            cap(ObjectType::Notification, RW, 0),
            R,
            Some(1),
            Err(Error::InsufficientRights),
        );
    }

    #[test]
    fn holds() {
        let mut counts = ObjectCounts::default();
        assert_eq!(counts.check_unheld(), Ok(()));
        assert_eq!(counts.hold(), Ok(()));
        assert_eq!(counts.check_unheld(), Err(Error::Busy));
        counts.unhold();
        assert_eq!(counts.check_unheld(), Ok(()));
        counts.unhold();
        assert_eq!(counts.holders, 0, "an unmatched unhold saturates");
        let mut full = ObjectCounts {
            holders: u32::MAX,
            ..ObjectCounts::UNHELD
        };
        assert_eq!(full.hold(), Err(Error::IllegalOperation));
    }

    #[test]
    fn capability_writes_keep_the_tree_node() {
        let link = Link {
            prev: 0x1000,
            next: 0x2040,
            derived: true,
        };
        let mut slot = Slot::EMPTY;
        slot.set_link(link);
        slot.set_home(0x8000 | 4);
        slot.set(Some(cap(ObjectType::Tcb, R, 0))).unwrap();
        slot.set(Some(cap(ObjectType::Notification, RW, 9)))
            .unwrap();
        assert_eq!((slot.link(), slot.home()), (link, 0x8000 | 4));
        slot.set(None).unwrap();
        assert_eq!((slot.link(), slot.home()), (Link::default(), 0));
    }
}
