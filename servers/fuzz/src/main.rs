//! fuzz, the in-VM fuzzer: a root task that drives every syscall and invocation of schema.toml from its generated table against a pool of real capabilities.
//!
//! The root thread is the supervisor. It reads its configuration from the boot module
//! `fuzzconf` (`seed=S iterations=N log_from=L check_every=C progress_every=P`), fills
//! the pool with copies of its own capabilities (the root CNode and VSpace with every
//! right, KernelDebug read-only, so no call can shut the machine down), a read-only
//! authority thread whose MCP is the supervisor's priority (so no thread a call makes
//! runs above the worker) and child untypeds, then starts the worker thread
//! one priority above itself. The worker issues the calls ([`worker`]); whenever it
//! stops (it exited, faulted, blocked, suspended itself or lowered its priority) the
//! supervisor runs, replaces it by a fresh thread on the same stack and state, and goes
//! on until the calls are done. Then it runs the invariant checkers once more, prints
//! the coverage and shuts down (status 0 unless a checker failed).
//!
//! The supervisor's own slots (`first_free_slot..pool base`) and virtual range are never
//! named by a generated call: the fuzzer attacks the kernel, not its own bookkeeping.
//!
//! Output (parsed by `cargo xtask fuzz`): `FUZZ START …`, `FUZZ PROGRESS calls=N …`,
//! `FUZZ CALL n <entry> number=… regs=…` from call `log_from` on, `FUZZ INVARIANT …` on
//! a failed check, then `FUZZ ENTRY <entry> calls=… ok=… errors=<mask>` per entry,
//! `FUZZ UNKNOWN calls=… errors=<mask>` and `FUZZ DONE …` (docs/CONTRACTS.md).
#![no_std]
#![no_main]

mod call;
// The table's types cover every argument kind a schema can declare; this one may not use all.
#[allow(dead_code)]
mod generated;
mod pool;
mod rng;
mod shared;
mod worker;

use rootlib::{ROOT_CNODE, ROOT_TCB, ROOT_VSPACE, Resources, SlotAllocator, UntypedPool};
use rootlib::{Region, VirtualRange};
use trona::uapi::{
    CPtr, NUM_PRIORITIES, ObjectType, ROOT_CNODE_BITS, ROOT_SLOT_KERNEL_DEBUG, Rights, UserAddr,
    UserRegisters,
};
use trona::{println, substrate};

use crate::generated::table::ENTRIES;
use crate::pool::{Held, Pool, SLOTS};
use crate::rng::Rng;
use crate::shared::Shared;

trona::entry!(main);

/// The KernelDebug capability the kernel gives the root task (the pool gets a read-only copy).
pub const KERNEL_DEBUG: CPtr = CPtr(ROOT_SLOT_KERNEL_DEBUG);

/// The supervisor's priority; the worker runs one above.
const PRIORITY: u8 = NUM_PRIORITIES / 2;

/// Slots after the boot untypeds kept for the supervisor.
const SUPERVISOR_SLOTS: u64 = 64;

/// Child untypeds in the pool, and log2 of their size.
const POOL_UNTYPEDS: usize = 24;
const POOL_UNTYPED_BITS: u8 = 20;

/// Pages of the worker's stack.
const WORKER_STACK_PAGES: usize = 8;

/// Restarts after which the run is declared broken (the worker cannot make progress).
const MAX_RESTARTS: u64 = 1_000_000;

/// The supervisor's virtual range (the worker's stack).
const VA_START: u64 = 0x0000_1000_0000_0000;
const VA_END: u64 = 0x0000_1100_0000_0000;

/// What the boot module configures.
#[derive(Clone, Copy, Debug)]
pub struct Config {
    pub seed: u64,
    pub iterations: u64,
    /// The first call printed before it is made (`u64::MAX`: none).
    pub log_from: u64,
    pub check_every: u64,
    pub progress_every: u64,
}

/// Calls, successes and the error codes seen, for one entry.
#[derive(Clone, Copy, Debug, Default)]
pub struct EntryStats {
    pub calls: u64,
    pub ok: u64,
    /// Bit `c` is set when error code `c` came back.
    pub errors: u64,
}

/// Everything the worker keeps across restarts.
pub struct State {
    pub config: Config,
    pub rng: Rng,
    pub pool: Pool,
    pub stats: [EntryStats; ENTRIES.len()],
    pub unknown_syscall: EntryStats,
    /// Fuzzing calls made.
    pub calls: u64,
    /// Probes, housekeeping deletions and checker runs.
    pub housekeeping: u64,
    pub checks: u64,
    pub invariant_failures: u64,
    pub restarts: u64,
    pub done: bool,
}

/// The scratch area user-buffer arguments point into.
#[repr(C, align(4096))]
pub struct Scratch {
    pub words: [u64; 64],
}

pub static STATE: Shared<State> = Shared::new(State {
    config: Config {
        seed: 0,
        iterations: 0,
        log_from: u64::MAX,
        check_every: 10_000,
        progress_every: 10_000,
    },
    rng: Rng::new(0),
    pool: Pool::new(0, 0),
    stats: [EntryStats {
        calls: 0,
        ok: 0,
        errors: 0,
    }; ENTRIES.len()],
    unknown_syscall: EntryStats {
        calls: 0,
        ok: 0,
        errors: 0,
    },
    calls: 0,
    housekeeping: 0,
    checks: 0,
    invariant_failures: 0,
    restarts: 0,
    done: false,
});

pub static SCRATCH: Shared<Scratch> = Shared::new(Scratch { words: [0; 64] });

fn main(arg: u64) -> ! {
    // SAFETY: the fuzzer runs as the root task and never unmaps the boot-information page.
    let info = match unsafe { trona::boot_info(arg) } {
        Ok(info) => info,
        Err(error) => fail(format_args!("no usable boot information: {error:?}")),
    };
    let config = parse_config(info.module("fuzzconf").map(module_text).unwrap_or(""));
    let first = info.first_free_slot;
    let mut res = Resources {
        slots: SlotAllocator::new(first, first + SUPERVISOR_SLOTS),
        untyped: UntypedPool::from_boot_info(info),
        va: VirtualRange::new(VA_START, VA_END),
    };
    {
        // SAFETY: no worker exists yet.
        let state = unsafe { &mut *STATE.ptr() };
        state.config = config;
        state.rng = Rng::new(config.seed);
        state.pool = Pool::new(first + SUPERVISOR_SLOTS, SLOTS as u64);
        fill_pool(&mut res, &mut state.pool);
    }
    let stack = match res.map_new_region(WORKER_STACK_PAGES, Rights::READ.union(Rights::WRITE)) {
        Ok(stack) => stack,
        Err(error) => fail(format_args!("cannot map the worker's stack: {error}")),
    };
    println!(
        "FUZZ START seed={} iterations={} entries={} pool_slots={}",
        config.seed,
        config.iterations,
        ENTRIES.len(),
        SLOTS as u64 - first - SUPERVISOR_SLOTS
    );
    let tcb = match create_worker(&mut res) {
        Ok(tcb) => tcb,
        Err(error) => fail(format_args!("cannot create the worker: {error}")),
    };
    let start = substrate::ticks().unwrap_or(0);
    loop {
        replenish(&mut res);
        if let Err(error) = start_worker(tcb, &stack) {
            // SAFETY: no worker runs.
            let state = unsafe { &*STATE.ptr() };
            fail(format_args!(
                "cannot start the worker after {} calls and {} restarts: {error}",
                state.calls, state.restarts
            ));
        }
        // Here only when the worker stopped.
        let _ = substrate::tcb_suspend(tcb);
        // SAFETY: the worker is suspended.
        let state = unsafe { &mut *STATE.ptr() };
        if state.done {
            break;
        }
        state.restarts += 1;
        if state.restarts >= MAX_RESTARTS {
            fail(format_args!("the worker stopped {MAX_RESTARTS} times"));
        }
    }
    let ticks = substrate::ticks().unwrap_or(0) - start;
    // SAFETY: the worker is done and gone.
    let state = unsafe { &mut *STATE.ptr() };
    worker::check_invariants(state);
    report(state, ticks);
    let status = u32::from(state.invariant_failures != 0);
    let error = substrate::kernel_debug_shutdown(KERNEL_DEBUG, status);
    println!("fuzz: shutdown returned {error:?}");
    trona::exit()
}

/// Puts copies of the root task's capabilities and child untypeds into the pool.
fn fill_pool(res: &mut Resources, pool: &mut Pool) {
    let mut next = pool.base();
    // The authority for priorities: a thread whose MCP is the supervisor's priority, so
    // no thread the fuzzer makes can run above the worker or starve the supervisor.
    let authority = match res.retype(ObjectType::Tcb, 0) {
        Ok(tcb) => tcb,
        Err(error) => fail(format_args!("cannot create the authority thread: {error}")),
    };
    if let Err(error) = substrate::tcb_set_mcp(authority, PRIORITY, ROOT_TCB) {
        fail(format_args!("cannot set the authority's MCP: {error}"));
    }
    let copies = [
        (ROOT_CNODE, ObjectType::CNode, Rights::ALL, true),
        (ROOT_VSPACE, ObjectType::VSpace, Rights::ALL, false),
        (authority, ObjectType::Tcb, Rights::READ, false),
        (KERNEL_DEBUG, ObjectType::KernelDebug, Rights::READ, false),
    ];
    for (source, object, rights, root_cnode) in copies {
        if substrate::cnode_copy(ROOT_CNODE, next, source, rights).is_ok() {
            pool.insert(next, Held { object, root_cnode });
            next += 1;
        }
    }
    let mut made = 0;
    for &untyped in res.untyped.caps() {
        while made < POOL_UNTYPEDS {
            let retyped = substrate::untyped_retype(
                untyped,
                ObjectType::Untyped,
                POOL_UNTYPED_BITS,
                ROOT_CNODE,
                next,
            );
            if retyped.is_err() {
                break;
            }
            pool.insert(
                next,
                Held {
                    object: ObjectType::Untyped,
                    root_cnode: false,
                },
            );
            next += 1;
            made += 1;
        }
    }
}

/// Creates the worker's TCB (reused by every restart, so restarts take no memory) and
/// gives the pool a copy of it with every right.
fn create_worker(res: &mut Resources) -> Result<CPtr, rootlib::BuildError> {
    let tcb = res.retype(ObjectType::Tcb, 0)?;
    // SAFETY: no worker runs yet.
    let state = unsafe { &mut *STATE.ptr() };
    let pool = &mut state.pool;
    for _ in 0..64 {
        let slot = pool.base() + state.rng.below(pool.end() - pool.base());
        if pool.get(slot).is_none()
            && substrate::cnode_copy(ROOT_CNODE, slot, tcb, Rights::ALL).is_ok()
        {
            let held = Held {
                object: ObjectType::Tcb,
                root_cnode: false,
            };
            pool.insert(slot, held);
            break;
        }
    }
    Ok(tcb)
}

/// (Re)starts the worker from its entry point on `stack`, in the root task's spaces,
/// one priority above the supervisor, whatever fuzzed calls did to it.
fn start_worker(tcb: CPtr, stack: &Region) -> Result<(), trona::uapi::Error> {
    substrate::tcb_configure(tcb, ROOT_CNODE, ROOT_VSPACE)?;
    let regs = UserRegisters {
        ip: worker::run as *const () as u64,
        sp: rootlib::entry_stack_pointer(stack.end()),
        ..UserRegisters::default()
    };
    substrate::tcb_write_registers(tcb, UserAddr(&raw const regs as u64))?;
    substrate::tcb_set_priority(tcb, PRIORITY + 1, ROOT_TCB)?;
    substrate::tcb_resume(tcb)
}

/// Gives the pool a root CNode copy and child untypeds again when calls took them away.
fn replenish(res: &mut Resources) {
    // SAFETY: called only while no worker runs.
    let state = unsafe { &mut *STATE.ptr() };
    let pool = &mut state.pool;
    let mut has_root =
        (0..pool.len()).any(|i| pool.get(pool.live(i)).is_some_and(|h| h.root_cnode));
    let untypeds = pool.count_of(ObjectType::Untyped);
    if has_root && untypeds >= POOL_UNTYPEDS / 4 {
        return;
    }
    for _ in 0..64 {
        let slot = pool.base() + state.rng.below(pool.end() - pool.base());
        if pool.get(slot).is_some() {
            continue;
        }
        if !has_root {
            if substrate::cnode_copy(ROOT_CNODE, slot, ROOT_CNODE, Rights::ALL).is_ok() {
                pool.insert(
                    slot,
                    Held {
                        object: ObjectType::CNode,
                        root_cnode: true,
                    },
                );
                has_root = true;
            }
            continue;
        }
        if pool.count_of(ObjectType::Untyped) >= POOL_UNTYPEDS {
            return;
        }
        for &untyped in res.untyped.caps() {
            let made = substrate::untyped_retype(
                untyped,
                ObjectType::Untyped,
                POOL_UNTYPED_BITS,
                ROOT_CNODE,
                slot,
            );
            if made.is_ok() {
                pool.insert(
                    slot,
                    Held {
                        object: ObjectType::Untyped,
                        root_cnode: false,
                    },
                );
                break;
            }
        }
    }
}

/// Prints the coverage and the totals.
fn report(state: &State, ticks: u64) {
    for (entry, stats) in ENTRIES.iter().zip(&state.stats) {
        println!(
            "FUZZ ENTRY {} calls={} ok={} errors={:#x}",
            entry.name(),
            stats.calls,
            stats.ok,
            stats.errors
        );
    }
    println!(
        "FUZZ UNKNOWN calls={} errors={:#x}",
        state.unknown_syscall.calls, state.unknown_syscall.errors
    );
    println!(
        "FUZZ DONE calls={} housekeeping={} restarts={} checks={} invariant_failures={} ticks={} seed={}",
        state.calls,
        state.housekeeping,
        state.restarts,
        state.checks,
        state.invariant_failures,
        ticks,
        state.config.seed
    );
}

/// Reads `key=value` words; unknown keys and bad numbers keep the defaults.
fn parse_config(text: &str) -> Config {
    // SAFETY: no worker exists yet.
    let mut config = unsafe { (*STATE.ptr()).config };
    for word in text.split_ascii_whitespace() {
        let Some((key, value)) = word.split_once('=') else {
            continue;
        };
        let Ok(value) = value.parse::<u64>() else {
            continue;
        };
        match key {
            "seed" => config.seed = value,
            "iterations" => config.iterations = value,
            "log_from" => config.log_from = value,
            "check_every" => config.check_every = value.max(1),
            "progress_every" => config.progress_every = value.max(1),
            _ => {}
        }
    }
    config
}

/// A boot module's bytes as text (up to the first byte that is not UTF-8).
fn module_text(module: &trona::boot::BootModule) -> &str {
    // SAFETY: the kernel maps every boot module read-only in the root task's address space
    // (boot::BootModule), and the fuzzer never unmaps it.
    unsafe { module.text() }
}

/// Reports a broken fuzzer set-up and shuts down with status 1.
fn fail(why: core::fmt::Arguments<'_>) -> ! {
    println!("FUZZ SETUP FAILED: {why}");
    let _ = substrate::kernel_debug_shutdown(KERNEL_DEBUG, 1);
    trona::exit()
}

/// `ROOT_CNODE_BITS` must describe the pool's table.
const _: () = assert!(SLOTS == 1 << ROOT_CNODE_BITS);
