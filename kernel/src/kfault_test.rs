//! Kernel fault test (feature `kernel-fault-test`): an undefined instruction executed in kernel mode ends in a panic that dumps the registers, never in a silent power-off.
//!
//! It runs in place of the root task. The boot passes when, after the line below, the
//! kernel panics naming an unexpected exception "in kernel mode at" an address, with the
//! panic's exit status (`cargo xtask test` judges it; docs/CONTRACTS.md, "In-QEMU test
//! protocol"). On aarch64 this is the path that once powered off without a word: an
//! undefined instruction at EL1 may end the machine quietly only when it is the
//! semihosting `hlt` of `shutdown`.

use crate::{arch, println};

/// Prints the line the judge looks for, then executes the undefined instruction.
pub fn run() -> ! {
    println!("kernel fault test: executing an undefined instruction in kernel mode");
    arch::undefined_instruction()
}
