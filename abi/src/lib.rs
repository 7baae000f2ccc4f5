//! The kernite ABI shared by the kernel and userland: the generated numbers and types plus the few hand-written wrappers.
#![no_std]

/// A capability address: a slot index in the caller's CSpace root.
#[repr(transparent)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct CPtr(pub u64);

/// An unvalidated user virtual address; the kernel checks it before every access.
#[repr(transparent)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct UserAddr(pub u64);

mod generated;

pub use generated::*;
