//! abitest, the in-QEMU test suite: runs every syscall and invocation of schema.toml through trona, success and error paths.
//!
//! It runs as the root task. Each test prints `TEST <name> ... ok` or `... FAILED: <why>`
//! and, first, one `COVERS <entry>` line per schema entry it exercises; the run ends with
//! `RESULT <passed> passed, <failed> failed` and `KernelDebug.shutdown` with status 0 only
//! when nothing failed (see docs/CONTRACTS.md, "In-QEMU test protocol").
//!
//! When the boot information lists a module named `bench` (or the `bench` feature is on),
//! it runs the benchmarks in [`bench`] instead. A module named `filter` holds text: only
//! the tests whose names contain it run, and the schema-coverage check is skipped.
//!
//! Single-threaded bookkeeping (A2): only the main thread touches the [`Ctx`]; the helper
//! threads tests start share nothing with it but atomics in statics.
#![no_std]
#![no_main]
// There is no allocator: a failure carries its message inline (about 200 bytes). Failures
// are rare and never on a measured path, so the size of `Result<_, Failure>` is fine.
#![allow(clippy::result_large_err)]

mod arch;
mod bench;
mod ctx;
mod harness;
mod tests;

use rootlib::{Resources, SlotAllocator, UntypedPool, VirtualRange};
use trona::uapi::{ROOT_CNODE_BITS, Rights};
use trona::{println, substrate};

use crate::ctx::{Ctx, KERNEL_DEBUG, PRIORITY, SELF_TCB};
use crate::harness::Tally;

trona::entry!(main);

/// Virtual addresses the suite hands out for its own mappings.
const VA_START: u64 = 0x0000_1000_0000_0000;
const VA_END: u64 = 0x0000_1100_0000_0000;

fn main(arg: u64) -> ! {
    // SAFETY: abitest runs as the root task and never unmaps the boot-information page.
    let info = match unsafe { trona::boot_info(arg) } {
        Ok(info) => info,
        Err(error) => {
            println!("abitest: no usable boot information: {error:?}");
            finish(&Tally {
                passed: 0,
                failed: 1,
            })
        }
    };
    let mut ctx = Ctx {
        res: Resources {
            slots: SlotAllocator::new(info.first_free_slot, 1 << ROOT_CNODE_BITS),
            untyped: UntypedPool::from_boot_info(info),
            va: VirtualRange::new(VA_START, VA_END),
        },
        info,
        peer: None,
        ipc_buffer: None,
        process_server: None,
    };
    let mut tally = Tally::default();
    // Every test assumes the main thread runs at PRIORITY, the helpers' default.
    tally.record(
        "set_own_priority",
        harness::ok(
            "Tcb.set_priority",
            substrate::tcb_set_priority(SELF_TCB, PRIORITY, SELF_TCB),
        ),
    );
    if cfg!(feature = "bench") || info.module("bench").is_some() {
        bench::run_all(&mut ctx, &mut tally);
    } else {
        println!(
            "abitest: {} tests, kernite ABI fingerprint {:#018x}",
            tests::TESTS.len(),
            trona::uapi::ABI_FINGERPRINT
        );
        let filter = info.module("filter").map(module_text);
        harness::run_all(&mut ctx, tests::TESTS, filter, &mut tally);
    }
    finish(&tally)
}

/// A boot module's bytes as text (up to the first byte that is not UTF-8).
fn module_text(module: &trona::boot::BootModule) -> &str {
    // SAFETY: the kernel maps every boot module read-only in the root task's address space
    // (boot::BootModule), and abitest never unmaps it.
    unsafe { module.text() }
}

/// Prints the `RESULT` line and powers the machine off: status 0 only when nothing failed.
fn finish(tally: &Tally) -> ! {
    println!("RESULT {} passed, {} failed", tally.passed, tally.failed);
    let status = if tally.failed == 0 { 0 } else { 1 };
    let error = substrate::kernel_debug_shutdown(KERNEL_DEBUG, status);
    println!("abitest: shutdown returned {error:?}");
    trona::exit()
}

/// Read and write: the rights of ordinary data pages.
pub const READ_WRITE: Rights = Rights::READ.union(Rights::WRITE);
