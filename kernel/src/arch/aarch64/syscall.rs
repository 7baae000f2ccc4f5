//! The `svc #0` path: schema.toml's aarch64 convention (number x8, arguments x0-x5, results x0 x1).
//!
//! `svc` arrives as a synchronous exception from EL0 (`trap.S` saves the frame and
//! `trap::el0_sync` sends exception class 0x15 here). ELR_EL1 already points past the
//! `svc`, so returning resumes after it.

use crate::arch::hooks::{self, EntryFrame};

/// Hands the frame of an `svc` to the syscall layer, which reads the number and arguments
/// and writes the results through the `UserFrame` accessors.
pub fn dispatch(frame: EntryFrame) {
    hooks::handle_syscall(frame);
}
