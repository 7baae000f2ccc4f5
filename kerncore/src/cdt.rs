//! The capability derivation tree: every capability's slot on one list in depth-first order, with parenthood decided from the capabilities themselves.
//!
//! Each slot carries a [`Link`]: the previous and next slot on the list (0 = none) and
//! whether the capability was *derived* (made by copy or mint). A capability made by
//! retype, or by the kernel at boot, is an *original*. A new capability goes directly after
//! the slot it came from, so the descendants of a capability are exactly the run of slots
//! that follow it and that [`is_parent_of`] accepts:
//!
//! - an original Untyped capability is the parent of every capability to an object inside
//!   its region (so of everything retyped from it, transitively), of untypeds nested
//!   deeper, and of its own copies;
//! - an original capability to any other object is the parent of every other capability
//!   to the same object (its copies and mints, and their copies);
//! - a derived capability is the parent of nothing: copies of copies are siblings.
//!
//! Deleting a slot unlinks it in constant time; its children then follow its predecessor,
//! which is its parent or a capability that accepts none of them, so the runs stay right.
//! All capabilities to one non-untyped object are adjacent on the list (a derivation goes
//! right after its source, a retype right after its untyped), which makes "is this the
//! last capability?" a look at the two neighbours ([`is_final`]).
//!
//! Slots are named by an address (the kernel uses the slot's physical address; 0 is never
//! a slot); the kernel supplies the storage through [`SlotStore`].

use abi::ObjectType;

use crate::cap::{Cap, CapState};

/// A slot's node on the derivation list.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Link {
    /// The previous slot, 0 if none.
    pub prev: u64,
    /// The next slot, 0 if none.
    pub next: u64,
    /// Made by copy or mint (false: an original, made by retype or at boot).
    pub derived: bool,
}

/// Access to the slots the list threads through.
pub trait SlotStore {
    /// The capability in `slot`, if any.
    fn cap(&self, slot: u64) -> Option<Cap>;
    /// The node of `slot`.
    fn link(&self, slot: u64) -> Link;
    /// Sets the node of `slot`.
    fn set_link(&mut self, slot: u64, link: Link);
}

/// Puts the capability just stored in `slot` on the list right after `source`, the slot it
/// was derived (`derived`) or retyped from.
pub fn insert_after(store: &mut impl SlotStore, source: u64, slot: u64, derived: bool) {
    let next = store.link(source).next;
    store.set_link(
        slot,
        Link {
            prev: source,
            next,
            derived,
        },
    );
    store.set_link(
        source,
        Link {
            next: slot,
            ..store.link(source)
        },
    );
    if next != 0 {
        store.set_link(
            next,
            Link {
                prev: slot,
                ..store.link(next)
            },
        );
    }
}

/// Takes `slot` off the list (before its capability is removed); its node is cleared.
pub fn unlink(store: &mut impl SlotStore, slot: u64) {
    let Link { prev, next, .. } = store.link(slot);
    if prev != 0 {
        store.set_link(
            prev,
            Link {
                next,
                ..store.link(prev)
            },
        );
    }
    if next != 0 {
        store.set_link(
            next,
            Link {
                prev,
                ..store.link(next)
            },
        );
    }
    store.set_link(slot, Link::default());
}

/// Moves the node of `from` to `to` (the capability moved between the two slots): `to`
/// takes the same place on the list, `from`'s node is cleared.
pub fn move_node(store: &mut impl SlotStore, from: u64, to: u64) {
    let link = store.link(from);
    store.set_link(from, Link::default());
    store.set_link(to, link);
    if link.prev != 0 {
        store.set_link(
            link.prev,
            Link {
                next: to,
                ..store.link(link.prev)
            },
        );
    }
    if link.next != 0 {
        store.set_link(
            link.next,
            Link {
                prev: to,
                ..store.link(link.next)
            },
        );
    }
}

/// Whether two capabilities name the same object (for untypeds: the same region).
pub fn same_object(a: &Cap, b: &Cap) -> bool {
    a.object == b.object
        && match (a.state, b.state) {
            (CapState::Untyped(x), CapState::Untyped(y)) => x.size_bits == y.size_bits,
            _ => true,
        }
}

/// Whether `child` (with node `child_link`) descends from `parent` (with `parent_link`),
/// given that it follows it on the list with only descendants of `parent` in between.
pub fn is_parent_of(parent: &Cap, parent_link: Link, child: &Cap, child_link: Link) -> bool {
    if parent_link.derived {
        return false;
    }
    let CapState::Untyped(region) = parent.state else {
        return same_object(parent, child);
    };
    if child.object.object_type == ObjectType::KernelDebug {
        return false;
    }
    let end = region.base + (1u64 << region.size_bits);
    let inside = (region.base..end).contains(&child.object.paddr);
    match child.state {
        CapState::Untyped(nested) => {
            inside
                && (nested.depth > region.depth
                    || (child_link.derived && same_object(parent, child)))
        }
        _ => inside,
    }
}

/// The descendant of `root` that follows `slot` on the list (`slot` = `root` for the
/// first), if any.
pub fn next_descendant(store: &impl SlotStore, root: u64, slot: u64) -> Option<u64> {
    let root_cap = store.cap(root)?;
    let root_link = store.link(root);
    let next = store.link(slot).next;
    if next == 0 {
        return None;
    }
    let next_cap = store.cap(next)?;
    is_parent_of(&root_cap, root_link, &next_cap, store.link(next)).then_some(next)
}

/// Whether the capability in `root` has descendants.
pub fn has_descendants(store: &impl SlotStore, root: u64) -> bool {
    next_descendant(store, root, root).is_some()
}

/// The descendants of `root`, in list order.
pub fn descendants<S: SlotStore>(store: &S, root: u64) -> impl Iterator<Item = u64> + '_ {
    let mut at = root;
    core::iter::from_fn(move || {
        let next = next_descendant(store, root, at)?;
        at = next;
        Some(next)
    })
}

/// Whether deleting the capability in `slot` ends its object: for an untyped, whether it
/// is the original (its copies are its descendants, gone first); for any other object,
/// whether no neighbour on the list names the same object.
pub fn is_final(store: &impl SlotStore, slot: u64) -> bool {
    let Some(cap) = store.cap(slot) else {
        return false;
    };
    let link = store.link(slot);
    if cap.object.object_type == ObjectType::Untyped {
        return !link.derived;
    }
    let names_it =
        |other: u64| other != 0 && store.cap(other).is_some_and(|c| same_object(&cap, &c));
    !names_it(link.prev) && !names_it(link.next)
}

/// The descendant of `root` a revoke deletes next: the last one, in list order, in the
/// lowest pass (`pass_of` ranks object types so that users go before what they use).
/// Taking the last one deletes copies before their original and, among untypeds (the
/// last pass), nested regions before the regions they came from, so the deletion of an
/// untyped within a revoke never has descendants left to revoke itself.
pub fn next_to_revoke(
    store: &impl SlotStore,
    root: u64,
    pass_of: impl Fn(ObjectType) -> u8,
) -> Option<u64> {
    let mut best: Option<(u8, u64)> = None;
    for slot in descendants(store, root) {
        let pass = store
            .cap(slot)
            .map_or(u8::MAX, |cap| pass_of(cap.object.object_type));
        if best.is_none_or(|(lowest, _)| pass <= lowest) {
            best = Some((pass, slot));
        }
    }
    best.map(|(_, slot)| slot)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cap::{Cap, ObjectRef};
    use crate::untyped::UntypedState;
    use abi::Rights;
    use std::collections::{BTreeMap, BTreeSet};

    /// Slots in a map, addressed by small numbers.
    #[derive(Default)]
    struct Store {
        slots: BTreeMap<u64, (Cap, Link)>,
    }

    impl SlotStore for Store {
        fn cap(&self, slot: u64) -> Option<Cap> {
            self.slots.get(&slot).map(|(cap, _)| *cap)
        }
        fn link(&self, slot: u64) -> Link {
            self.slots.get(&slot).map(|(_, link)| *link).unwrap()
        }
        fn set_link(&mut self, slot: u64, link: Link) {
            self.slots.get_mut(&slot).unwrap().1 = link;
        }
    }

    fn untyped(base: u64, size_bits: u8, depth: u32) -> Cap {
        Cap::new_untyped(UntypedState::new(base, size_bits, depth).unwrap())
    }

    fn object(object_type: ObjectType, paddr: u64) -> Cap {
        Cap::new_object(ObjectRef { object_type, paddr }, 4)
    }

    /// A model of the tree: each capability's parent, kept explicitly.
    struct Model {
        store: Store,
        parent: BTreeMap<u64, Option<u64>>,
        next_slot: u64,
        next_object: BTreeMap<u64, u64>,
    }

    /// Root untyped regions of the model: (base, size_bits).
    const REGIONS: [(u64, u8); 2] = [(0x10_0000, 20), (0x40_0000, 16)];

    impl Model {
        fn new() -> Model {
            let mut model = Model {
                store: Store::default(),
                parent: BTreeMap::new(),
                next_slot: 1,
                next_object: BTreeMap::new(),
            };
            for (base, bits) in REGIONS {
                let slot = model.add(untyped(base, bits, 1), None);
                model.next_object.insert(slot, base);
            }
            // An object from no listed untyped, as the root task's boot objects are.
            model.add(object(ObjectType::Tcb, 0x1000), None);
            model
        }

        fn add(&mut self, cap: Cap, parent: Option<u64>) -> u64 {
            let slot = self.next_slot;
            self.next_slot += 1;
            self.store.slots.insert(slot, (cap, Link::default()));
            self.parent.insert(slot, parent);
            slot
        }

        fn model_descendants(&self, root: u64) -> BTreeSet<u64> {
            let mut found = BTreeSet::new();
            let mut changed = true;
            while changed {
                changed = false;
                for (&slot, &parent) in &self.parent {
                    if let Some(parent) = parent
                        && (parent == root || found.contains(&parent))
                        && found.insert(slot)
                    {
                        changed = true;
                    }
                }
            }
            found
        }

        fn slots(&self) -> Vec<u64> {
            self.parent.keys().copied().collect()
        }

        fn pick(&self, n: usize) -> Option<u64> {
            let slots = self.slots();
            (!slots.is_empty()).then(|| slots[n % slots.len()])
        }

        /// Retype from the original untyped in `slot` (by the model's rules).
        fn retype(&mut self, source: u64, nested: bool) {
            let (cap, link) = self.store.slots[&source];
            let CapState::Untyped(region) = cap.state else {
                return;
            };
            if link.derived {
                return;
            }
            let bits: u8 = if nested { 14 } else { 12 };
            let next = self
                .next_object
                .get(&source)
                .copied()
                .unwrap_or(region.base);
            let next = next.next_multiple_of(1 << bits);
            if next + (1 << bits) > region.base + (1 << region.size_bits) {
                return;
            }
            let new = if nested && region.size_bits > bits {
                untyped(next, bits, region.depth + 1)
            } else {
                object(ObjectType::Notification, next)
            };
            self.next_object.insert(source, next + (1 << bits));
            let slot = self.add(new, Some(source));
            if let CapState::Untyped(state) = new.state {
                self.next_object.insert(slot, state.base);
            }
            insert_after(&mut self.store, source, slot, false);
        }

        fn copy(&mut self, source: u64, badge: u64) {
            let (cap, link) = self.store.slots[&source];
            if badge != 0 && cap.object.object_type == ObjectType::Untyped {
                return;
            }
            let copy = Cap {
                badge: cap.badge | badge,
                rights: Rights::READ,
                ..cap
            };
            let parent = if link.derived {
                self.parent[&source]
            } else {
                Some(source)
            };
            let slot = self.add(copy, parent);
            insert_after(&mut self.store, source, slot, true);
        }

        fn delete(&mut self, slot: u64) {
            if self.store.cap(slot).unwrap().object.object_type == ObjectType::Untyped
                && !self.store.link(slot).derived
            {
                self.revoke(slot);
            }
            let parent = self.parent[&slot];
            for p in self.parent.values_mut() {
                if *p == Some(slot) {
                    *p = parent;
                }
            }
            unlink(&mut self.store, slot);
            self.store.slots.remove(&slot);
            self.parent.remove(&slot);
            self.next_object.remove(&slot);
        }

        fn revoke(&mut self, root: u64) {
            let expected = self.model_descendants(root);
            let before = self.parent.len();
            while let Some(slot) = next_to_revoke(&self.store, root, |t| t as u8) {
                assert!(
                    expected.contains(&slot),
                    "revoke reached {slot}, not a descendant"
                );
                self.delete(slot);
            }
            assert_eq!(
                before - self.parent.len(),
                expected.len(),
                "revoke of {root}"
            );
            for slot in expected {
                assert!(
                    !self.parent.contains_key(&slot),
                    "{slot} survived revoke of {root}"
                );
            }
            // A revoked untyped starts again from its base.
            self.next_object.remove(&root);
        }

        fn move_slot(&mut self, from: u64) {
            let to = self.next_slot;
            self.next_slot += 1;
            let entry = self.store.slots.remove(&from).unwrap();
            self.store.slots.insert(to, entry);
            // Neighbours still name `from` until the node moves; give them a stand-in.
            self.store.slots.insert(from, entry);
            move_node(&mut self.store, from, to);
            self.store.slots.remove(&from);
            let parent = self.parent.remove(&from).unwrap();
            self.parent.insert(to, parent);
            for p in self.parent.values_mut() {
                if *p == Some(from) {
                    *p = Some(to);
                }
            }
            if let Some(next) = self.next_object.remove(&from) {
                self.next_object.insert(to, next);
            }
        }

        /// Every query the kernel asks agrees with the model.
        fn check(&self) {
            for slot in self.slots() {
                let got: BTreeSet<u64> = descendants(&self.store, slot).collect();
                assert_eq!(got, self.model_descendants(slot), "descendants of {slot}");
                let cap = self.store.cap(slot).unwrap();
                let others = self
                    .slots()
                    .into_iter()
                    .filter(|&other| {
                        other != slot && same_object(&cap, &self.store.cap(other).unwrap())
                    })
                    .count();
                let expected_final = if cap.object.object_type == ObjectType::Untyped {
                    !self.store.link(slot).derived
                } else {
                    others == 0
                };
                assert_eq!(is_final(&self.store, slot), expected_final, "final {slot}");
                let link = self.store.link(slot);
                if link.next != 0 {
                    assert_eq!(self.store.link(link.next).prev, slot, "back link");
                }
            }
        }
    }

    #[test]
    fn parenthood_rules() {
        let region = untyped(0x10_0000, 20, 1);
        let nested = untyped(0x10_0000, 16, 2);
        let same_depth = untyped(0x18_0000, 16, 1);
        let inside = object(ObjectType::Tcb, 0x14_0000);
        let outside = object(ObjectType::Tcb, 0x20_0000);
        let badged = Cap { badge: 3, ..inside };
        let debug = object(ObjectType::KernelDebug, 0x10_0000);
        let original = Link::default();
        let derived = Link {
            derived: true,
            ..Link::default()
        };
        let cases = [
            (
                "an untyped: an object in its region",
                region,
                original,
                inside,
                original,
                true,
            ),
            (
                "an untyped: an object outside it",
                region,
                original,
                outside,
                original,
                false,
            ),
            (
                "an untyped: a deeper untyped",
                region,
                original,
                nested,
                original,
                true,
            ),
            (
                "an untyped: its own copy",
                region,
                original,
                region,
                derived,
                true,
            ),
            (
                "an untyped: an original at its depth",
                region,
                original,
                same_depth,
                original,
                false,
            ),
            (
                "an untyped: KernelDebug",
                region,
                original,
                debug,
                original,
                false,
            ),
            (
                "an untyped copy: nothing",
                region,
                derived,
                inside,
                original,
                false,
            ),
            (
                "an object: its copy",
                inside,
                original,
                inside,
                derived,
                true,
            ),
            (
                "an object: its mint",
                inside,
                original,
                badged,
                derived,
                true,
            ),
            (
                "an object: another object",
                inside,
                original,
                outside,
                derived,
                false,
            ),
            (
                "a copy: another copy",
                inside,
                derived,
                inside,
                derived,
                false,
            ),
        ];
        for (what, parent, parent_link, child, child_link, expected) in cases {
            assert_eq!(
                is_parent_of(&parent, parent_link, &child, child_link),
                expected,
                "{what}"
            );
        }
    }

    #[derive(Clone, Copy, Debug)]
    enum Op {
        Retype(usize, bool),
        Copy(usize),
        Mint(usize, u64),
        Delete(usize),
        Revoke(usize),
        Move(usize),
    }

    fn apply(model: &mut Model, op: Op) {
        match op {
            Op::Retype(n, nested) => {
                if let Some(slot) = model.pick(n) {
                    model.retype(slot, nested);
                }
            }
            Op::Copy(n) => {
                if let Some(slot) = model.pick(n) {
                    model.copy(slot, 0);
                }
            }
            Op::Mint(n, badge) => {
                if let Some(slot) = model.pick(n)
                    && model.store.cap(slot).unwrap().badge == 0
                {
                    model.copy(slot, badge);
                }
            }
            Op::Delete(n) => {
                if let Some(slot) = model.pick(n) {
                    model.delete(slot);
                }
            }
            Op::Revoke(n) => {
                if let Some(slot) = model.pick(n) {
                    model.revoke(slot);
                }
            }
            Op::Move(n) => {
                if let Some(slot) = model.pick(n) {
                    model.move_slot(slot);
                }
            }
        }
        model.check();
    }

    fn check_ops(ops: &[Op]) {
        let mut model = Model::new();
        model.check();
        for &op in ops {
            apply(&mut model, op);
        }
    }

    #[test]
    fn scripted_trees() {
        use Op::*;
        let cases: &[&[Op]] = &[
            // Retype, copy the object, copy the copy, revoke the untyped.
            &[Retype(0, false), Copy(3), Copy(4), Revoke(0)],
            // The original goes first: its copies become the untyped's children.
            &[Retype(0, false), Copy(3), Delete(3), Revoke(0)],
            // A nested untyped with an object, an untyped copy, revoke from the top.
            &[
                Retype(0, true),
                Retype(3, false),
                Copy(3),
                Copy(0),
                Revoke(0),
            ],
            // Mints of a copy are children of the original, not of the copy.
            &[Retype(1, false), Copy(3), Mint(4, 7), Revoke(4), Revoke(3)],
            // Moving a slot keeps its place on the list.
            &[Retype(0, false), Copy(3), Move(3), Move(0), Revoke(0)],
            // Deleting an untyped's original destroys what was retyped from it.
            &[Retype(0, true), Retype(3, false), Delete(3)],
        ];
        for ops in cases {
            check_ops(ops);
        }
    }

    fn any_op() -> impl proptest::strategy::Strategy<Value = Op> {
        use proptest::prelude::*;
        prop_oneof![
            3 => (any::<usize>(), any::<bool>()).prop_map(|(n, nested)| Op::Retype(n, nested)),
            3 => any::<usize>().prop_map(Op::Copy),
            1 => (any::<usize>(), 1u64..4).prop_map(|(n, badge)| Op::Mint(n, badge)),
            2 => any::<usize>().prop_map(Op::Delete),
            1 => any::<usize>().prop_map(Op::Revoke),
            1 => any::<usize>().prop_map(Op::Move),
        ]
    }

    proptest::proptest! {
        #[test]
        fn random_trees_agree_with_the_model(ops in proptest::collection::vec(any_op(), 0..60)) {
            check_ops(&ops);
        }
    }

    #[test]
    fn revoke_goes_in_pass_order() {
        let mut model = Model::new();
        model.retype(1, false);
        model.retype(1, false);
        let first = model.slots()[3];
        let frame = first + 1;
        let paddr = model.store.cap(frame).unwrap().object.paddr;
        model.store.slots.get_mut(&frame).unwrap().0 = object(ObjectType::Frame, paddr);
        // The frame, retyped last, comes first on the list and has the lower pass; with
        // one pass for all, the last on the list goes first.
        let pass = |t: ObjectType| u8::from(t != ObjectType::Frame);
        assert_eq!(next_to_revoke(&model.store, 1, pass), Some(frame));
        let same = |_: ObjectType| 0;
        assert_eq!(
            next_to_revoke(&model.store, 1, same),
            Some(first),
            "the last one"
        );
        assert_eq!(
            descendants(&model.store, 1).collect::<Vec<_>>(),
            vec![first + 1, first]
        );
    }
}
