//! The untyped capabilities a root task retypes objects from, and object creation and deletion.

use boot::{BootInfo, MAX_UNTYPED};
use trona::substrate;
use trona::uapi::{CPtr, Error, ObjectType};

use crate::{BuildError, ROOT_CNODE, Resources};

/// The untyped capabilities of the boot information, largest region first.
pub struct UntypedPool {
    caps: [CPtr; MAX_UNTYPED],
    count: usize,
}

impl UntypedPool {
    /// The pool of every untyped capability the boot information lists.
    pub fn from_boot_info(info: &BootInfo) -> UntypedPool {
        let mut descs = [boot::UntypedDesc::default(); MAX_UNTYPED];
        let listed = info.untyped();
        descs[..listed.len()].copy_from_slice(listed);
        let descs = &mut descs[..listed.len()];
        descs.sort_unstable_by_key(|desc| core::cmp::Reverse(desc.size_bits));
        let mut pool = UntypedPool {
            caps: [CPtr(0); MAX_UNTYPED],
            count: descs.len(),
        };
        for (cap, desc) in pool.caps.iter_mut().zip(descs.iter()) {
            *cap = CPtr(desc.slot);
        }
        pool
    }

    /// A pool of one untyped capability.
    pub fn single(cap: CPtr) -> UntypedPool {
        let mut caps = [CPtr(0); MAX_UNTYPED];
        caps[0] = cap;
        UntypedPool { caps, count: 1 }
    }

    /// A second pool of the same capabilities, for another thread that retypes from them
    /// too (the kernel serializes retypes; each thread keeps its own slots).
    pub fn share(&self) -> UntypedPool {
        UntypedPool {
            caps: self.caps,
            count: self.count,
        }
    }

    /// The capabilities in the order retype tries them.
    pub fn caps(&self) -> &[CPtr] {
        &self.caps[..self.count]
    }

    /// Removes the smallest region from the pool and hands its capability to the caller.
    pub fn take_smallest(&mut self) -> Option<CPtr> {
        if self.count == 0 {
            return None;
        }
        self.count -= 1;
        Some(self.caps[self.count])
    }
}

impl Resources {
    /// Creates an object in a fresh slot of the root CNode and returns that slot.
    ///
    /// Tries each untyped region in turn; `size_bits` is the object's size parameter as
    /// `Untyped.retype` defines it (0 for fixed-size types).
    pub fn retype(&mut self, object_type: ObjectType, size_bits: u8) -> Result<CPtr, BuildError> {
        let slot = self.slots.alloc()?;
        match self.retype_into(object_type, size_bits, slot) {
            Ok(()) => Ok(slot),
            Err(error) => {
                self.slots.free(slot);
                Err(error)
            }
        }
    }

    /// Creates an object in `slot`, an empty root CNode slot the caller owns, trying each
    /// untyped region in turn as [`Resources::retype`] does.
    pub fn retype_into(
        &mut self,
        object_type: ObjectType,
        size_bits: u8,
        slot: CPtr,
    ) -> Result<(), BuildError> {
        for &untyped in self.untyped.caps() {
            match substrate::untyped_retype(untyped, object_type, size_bits, ROOT_CNODE, slot.0) {
                Ok(()) => return Ok(()),
                Err(Error::OutOfMemory) => continue,
                Err(error) => return Err(BuildError::Kernel(error)),
            }
        }
        Err(BuildError::OutOfUntyped)
    }

    /// Deletes the capability in `slot` (destroying the object if it was the last one) and frees the slot.
    pub fn delete(&mut self, slot: CPtr) -> Result<(), BuildError> {
        substrate::cnode_delete(ROOT_CNODE, slot.0)?;
        self.slots.free(slot);
        Ok(())
    }
}
