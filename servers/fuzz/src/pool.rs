//! The resource pool: the capabilities the fuzzer believes live in its slots of the root CNode, by object type.
//!
//! The fuzzer owns the slots `base..end` of its root CNode. Calls that create a
//! capability (the table's `creates`) add it; a probe that finds a slot empty removes
//! it and remembers it as stale, so later calls can name destroyed objects on purpose.
//! The belief may be wrong for a while (a capability moved or deleted by a call that
//! does not say so); probes correct it.

use abi::ObjectType;

/// Slots of the root CNode the pool can describe.
pub const SLOTS: usize = 1 << abi::ROOT_CNODE_BITS;

/// How many recently emptied slots are remembered.
const STALE: usize = 16;

/// What the fuzzer believes a slot holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Held {
    /// The capability's object type.
    pub object: ObjectType,
    /// Whether it is a capability to the root CNode itself (new capabilities stored
    /// through it land in slots the pool can see).
    pub root_cnode: bool,
}

/// The live capabilities the fuzzer may use, and recently emptied slots.
pub struct Pool {
    base: u64,
    end: u64,
    held: [Option<Held>; SLOTS],
    live: [u16; SLOTS],
    live_count: usize,
    stale: [u64; STALE],
    stale_next: usize,
}

impl Pool {
    /// An empty pool over the slots `base..end`.
    pub const fn new(base: u64, end: u64) -> Pool {
        Pool {
            base,
            end,
            held: [None; SLOTS],
            live: [0; SLOTS],
            live_count: 0,
            stale: [0; STALE],
            stale_next: 0,
        }
    }

    /// The first slot the pool owns.
    pub fn base(&self) -> u64 {
        self.base
    }

    /// One past the last slot the pool owns.
    pub fn end(&self) -> u64 {
        self.end
    }

    /// Whether `slot` is one of the pool's own slots.
    pub fn owns(&self, slot: u64) -> bool {
        (self.base..self.end).contains(&slot)
    }

    /// What `slot` holds, as far as the pool knows.
    pub fn get(&self, slot: u64) -> Option<Held> {
        if self.owns(slot) {
            self.held[slot as usize]
        } else {
            None
        }
    }

    /// Records that `slot` now holds `held`.
    pub fn insert(&mut self, slot: u64, held: Held) {
        if !self.owns(slot) {
            return;
        }
        if self.held[slot as usize].is_none() {
            self.live[self.live_count] = slot as u16;
            self.live_count += 1;
        }
        self.held[slot as usize] = Some(held);
    }

    /// Records that `slot` is empty now.
    pub fn remove(&mut self, slot: u64) {
        if self.get(slot).is_none() {
            return;
        }
        self.held[slot as usize] = None;
        if let Some(position) = self.live[..self.live_count]
            .iter()
            .position(|&s| u64::from(s) == slot)
        {
            self.live_count -= 1;
            self.live[position] = self.live[self.live_count];
        }
        self.stale[self.stale_next] = slot;
        self.stale_next = (self.stale_next + 1) % STALE;
    }

    /// Number of live capabilities.
    pub fn len(&self) -> usize {
        self.live_count
    }

    /// The `i`-th live slot (`i < len()`).
    pub fn live(&self, i: usize) -> u64 {
        u64::from(self.live[i])
    }

    /// A slot that was emptied recently (0 when none was).
    pub fn stale(&self, choice: u64) -> u64 {
        self.stale[(choice as usize) % STALE]
    }

    /// How many live capabilities of `object` the pool holds.
    pub fn count_of(&self, object: ObjectType) -> usize {
        self.live[..self.live_count]
            .iter()
            .filter(|&&s| self.held[s as usize].is_some_and(|h| h.object == object))
            .count()
    }
}
