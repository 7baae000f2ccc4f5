//! Pure kernel logic, independent of any architecture and unit-tested on the host: the
//! three-state frame table, the untyped allocator, capabilities and their slots, the
//! capability derivation tree, the scheduler's run queues, and the ELF reader that loads
//! the root task.
//!
//! Nothing here touches hardware or raw memory; the kernel supplies storage (the frame
//! table's entries, CNode slots, per-thread queue links) and applies the decisions.
#![cfg_attr(not(test), no_std)]

pub mod cap;
pub mod cdt;
pub mod elf;
pub mod frames;
pub mod runqueue;
pub mod untyped;

pub use cap::{Cap, CapState, Mapping, ObjectCounts, ObjectRef, Slot};
pub use cdt::{Link, SlotStore};
pub use frames::{
    CheckError, FrameCounts, FrameEntry, FrameError, FrameRange, FrameState, FrameTable, Owner,
    StateClass,
};
pub use runqueue::{Links, QueueError, QueueLink, RunQueues, ThreadId, ThreadList};
pub use untyped::{ObjectFrames, UntypedState, aligned_chunks, object_frames, object_size_bits};
