//! The protocol of `ipcpeer`, the test suite's IPC partner in its own address space: labels and what each asks.
//!
//! A test protocol between two test programs, not part of the kernel ABI (server
//! protocols join the schema separately). The peer serves one endpoint whose slot in its
//! CNode arrives as its argument, with its IPC buffer at
//! [`crate::process::IPC_BUFFER_VADDR`], and answers every message (a plain send's
//! answer goes nowhere) for as long as the suite runs.

/// Reply with the badge the request arrived with, then the request's words (as many as
/// still fit a message).
pub const ECHO: u64 = 0x1000;

/// The request carries capabilities; the peer receives them from [`RECEIVE_SLOT`] on.
/// It signals each one (they are meant to be Notification capabilities), deletes them, and
/// replies with how many arrived and the unwrapped mask.
pub const SIGNAL_RECEIVED: u64 = 0x1001;

/// Reply with no words (the benchmarks' round trip).
pub const EMPTY: u64 = 0x1002;

/// The first slot of the peer's CNode that received capabilities go to.
pub const RECEIVE_SLOT: u64 = 8;

/// The slot of the peer's CNode that holds its own CNode capability (to delete what it
/// received).
pub const OWN_CNODE_SLOT: u64 = 2;

/// The slot of the peer's CNode that holds the Notification capability its Echo server
/// hands out (`Echo.give`); the suite puts it there.
pub const GIVE_SLOT: u64 = 3;
