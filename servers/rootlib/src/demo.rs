//! The protocol between init and hello, the demonstration process: labels and the address hello faults on.
//!
//! A demonstration protocol, not part of the kernel ABI (server protocols join the schema
//! separately). hello calls init with [`QUESTION`] through the endpoint capability in its
//! CNode slot [`HELLO_ENDPOINT_SLOT`], touches [`FAULT_ADDRESS`], which nothing maps (its
//! fault handler is the capability in [`HELLO_FAULT_SLOT`]: init is its pager), and
//! finally sends [`DONE`].

/// Request: two words; the reply holds their product.
pub const QUESTION: u64 = 0x2000;

/// One-way: hello is finished.
pub const DONE: u64 = 0x2001;

/// The slot of hello's CNode that holds its endpoint capability to init.
pub const HELLO_ENDPOINT_SLOT: u64 = 1;

/// The slot of hello's CNode that holds its fault endpoint capability.
pub const HELLO_FAULT_SLOT: u64 = 2;

/// An address in hello's address space that is unmapped until init handles the fault.
pub const FAULT_ADDRESS: u64 = 0x0000_2000_0000_0000;
