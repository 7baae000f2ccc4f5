//! trona, the kernite userland runtime: program entry, panic handler, debug console, thread start, and the generated syscall substrate.
//!
//! # What is here
//!
//! * [`uapi`] — the ABI crate (`abi`) re-exported: syscall numbers, object types, labels,
//!   errors, constants, flags and structs, all generated from `schema.toml`.
//! * [`substrate`] — one safe, typed function per syscall and per invocation (generated),
//!   over the one raw trap (`syscall` on x86_64, `svc #0` on aarch64). User code never
//!   writes a syscall number or label by hand.
//! * [`print!`] / [`println!`] — formatted output on the kernel debug console.
//! * [`entry!`] — declares the program's `main`; trona's `_start` calls it.
//! * A panic handler that prints the panic on the console and ends the thread.
//! * [`thread`] — stacks for extra threads and the call that starts one.
//! * [`ipc`] — messages to build and read over the generated IPC stubs, and the IPC buffer.
//! * [`protocols`] — per server protocol of the schema a typed client, a server trait,
//!   `dispatch` and `serve` (generated), over the runtime in [`proto`].
//! * [`boot_info`] — the root task's view of the kernel's boot handoff page.
//!
//! # Writing a program
//!
//! A user program is a `#![no_std]`, `#![no_main]` binary that depends on trona and names
//! its entry function with [`entry!`]:
//!
//! ```ignore
//! #![no_std]
//! #![no_main]
//!
//! trona::entry!(main);
//!
//! fn main(arg: u64) -> ! {
//!     trona::println!("hello from user space, arg = {arg:#x}");
//!     trona::exit()
//! }
//! ```
//!
//! `main` receives the first argument register (`rdi` on x86_64, `x0` on aarch64) that
//! the kernel or the creating thread set: for the root task it is the address of the
//! [`BootInfo`](boot::BootInfo) page (read it with [`boot_info`]); for other programs it is
//! whatever word their creator chose. `main` does not return; end the thread with
//! [`exit`] (or power the machine off through the `KernelDebug` capability).
//!
//! # Linking
//!
//! Programs are static ELF files for `x86_64-unknown-none` or `aarch64-unknown-none`
//! (the static relocation model for x86_64 is set in `.cargo/config.toml`), linked with
//! trona's script `user.ld`: base address `0x400000`, one page-aligned segment each for
//! code (RX), read-only data (R) and data+bss (RW). trona's build script publishes the
//! script's absolute path, so each program needs this `build.rs`:
//!
//! ```ignore
//! //! Build script: links this program with trona's user linker script.
//! fn main() {
//!     let script = std::env::var("DEP_TRONA_USER_LD").expect("trona publishes user.ld");
//!     println!("cargo:rustc-link-arg-bins=-T{script}");
//!     println!("cargo:rustc-link-arg-bins=-zmax-page-size=4096");
//!     println!("cargo:rerun-if-changed={script}");
//! }
//! ```
//!
//! `-zmax-page-size=4096` keeps segment alignment at one page on aarch64, where the
//! linker's default is 64 KiB.
//!
//! # Floating point
//!
//! `aarch64-unknown-none` allows FP/SIMD in user code; `x86_64-unknown-none` is a
//! soft-float target, so x86_64 user code touches SSE registers only through inline
//! assembly. The kernel saves and restores the full FPU/SIMD state on every thread switch.
#![no_std]

mod arch;
mod console;
pub mod ipc;
#[cfg(target_os = "none")]
mod panic;
pub mod process;
pub mod proto;
mod rt;
pub mod thread;

/// Code generated from `schema.toml` by `cargo xtask gen`; never edited by hand.
#[rustfmt::skip]
mod generated;

/// The kernite ABI: every number, type and constant the kernel and userland share.
pub use abi as uapi;
/// The boot handoff types (`BootInfo`, boot modules) the root task reads.
pub use boot;
pub use generated::{protocols, substrate};

/// The raw traps (generated from the schema's register conventions: plain and IPC), for
/// callers that must send what the typed substrate cannot express, such as a test of an
/// unknown syscall number. Everything else goes through [`substrate`].
pub mod raw {
    pub use crate::generated::trap::{ipc_trap, trap};
}

pub use console::{_print, Console};
pub use rt::{BootInfoError, boot_info, exit};
