//! Bookkeeping for root tasks that build kernel objects out of untyped memory: slots, untyped retype, mappings and threads.
//!
//! A root task starts with a CNode full of untyped capabilities and nothing else. Every
//! object it wants (frames, page tables, threads, address spaces) it must carve out of
//! those untyped regions into empty slots of its own CNode, and every frame it maps may
//! first need page tables. This crate keeps that bookkeeping in one place, on top of
//! trona's generated substrate wrappers, for `init` and the test suite alike.
//!
//! Single-threaded (A2): a [`Resources`] value is owned by one thread; other threads of
//! the task never touch it.
#![no_std]

mod arch;

pub mod peer;
pub mod process;
pub mod procsrv;
pub mod slots;
pub mod thread;
pub mod untyped;
pub mod vspace;

use core::fmt;

use trona::uapi::{CPtr, Error, ROOT_SLOT_CNODE, ROOT_SLOT_TCB, ROOT_SLOT_VSPACE};

pub use arch::entry_stack_pointer;
pub use slots::SlotAllocator;
pub use thread::{Thread, ThreadSpec};
pub use untyped::UntypedPool;
pub use vspace::{Region, VirtualRange};

/// The root task's own CNode, which is also the root of its CSpace.
pub const ROOT_CNODE: CPtr = CPtr(ROOT_SLOT_CNODE);

/// The root task's own address space.
pub const ROOT_VSPACE: CPtr = CPtr(ROOT_SLOT_VSPACE);

/// The root thread's TCB; its maximum controlled priority is the highest, so it is the
/// authority the root task gives priorities with.
pub const ROOT_TCB: CPtr = CPtr(ROOT_SLOT_TCB);

/// Why building an object or a mapping failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BuildError {
    /// The kernel refused an invocation.
    Kernel(Error),
    /// The slot allocator has no empty slot left.
    OutOfSlots,
    /// No untyped region has room for the object.
    OutOfUntyped,
    /// The virtual address range handed to the allocator is used up.
    OutOfAddressSpace,
    /// A request was larger than the fixed-size bookkeeping can describe.
    TooLarge,
}

impl From<Error> for BuildError {
    fn from(error: Error) -> BuildError {
        BuildError::Kernel(error)
    }
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BuildError::Kernel(error) => write!(f, "kernel error {}", error.name()),
            BuildError::OutOfSlots => f.write_str("no empty capability slot left"),
            BuildError::OutOfUntyped => f.write_str("no untyped region has room left"),
            BuildError::OutOfAddressSpace => f.write_str("virtual address range used up"),
            BuildError::TooLarge => f.write_str("request exceeds the bookkeeping capacity"),
        }
    }
}

/// Everything a root task allocates from: slots, untyped memory and a virtual address range.
pub struct Resources {
    /// Empty slots of the root CNode.
    pub slots: SlotAllocator,
    /// The untyped capabilities objects are retyped from.
    pub untyped: UntypedPool,
    /// Free virtual addresses in the task's own address space.
    pub va: VirtualRange,
}
