//! The worker thread: issues the calls, updates the pool from their results, counts coverage and runs the invariant checkers.

use abi::{Error, ObjectType};
use trona::{println, substrate};

use crate::call::{self, Buffers, Call};
use crate::generated::table::{ArgKind, Created, Destination, ENTRIES, Target};
use crate::pool::Held;
use crate::{KERNEL_DEBUG, STATE, State};

/// Label that no object type's block contains: invoking a capability with it tells a
/// live slot (the unknown-label error) from an empty one (`InvalidCapability`).
const PROBE_LABEL: u64 = u64::MAX;

/// Calls between two probes of random pool slots.
const PROBE_EVERY: u64 = 16;

/// The worker's entry point; it runs until the configured number of calls is done.
pub extern "C" fn run(_arg: u64) -> ! {
    // SAFETY: the supervisor starts a worker only after the previous one stopped, and
    // runs (touching the state) only while this one cannot run (crate::shared).
    let state = unsafe { &mut *STATE.ptr() };
    while state.calls < state.config.iterations {
        step(state);
    }
    state.done = true;
    trona::exit()
}

/// One fuzzing call and its bookkeeping.
fn step(state: &mut State) {
    let buffers = scratch_buffers(state);
    let call = call::generate(&mut state.rng, &state.pool, &buffers);
    let n = state.calls;
    state.calls += 1;
    if n >= state.config.log_from {
        log_call(n, &call);
    }
    // Counted first: a call that never returns (`thread_exit`) still counts.
    stats_of(state, call.entry).calls += 1;
    let status = match call.entry.map(|index| ENTRIES[index].target) {
        Some(Target::Ipc(_)) => {
            let mut words = [0; abi::MESSAGE_REGISTERS];
            for (word, reg) in words.iter_mut().zip(&call.regs[2..]) {
                *word = *reg;
            }
            let (status, ..) = trona::raw::ipc_trap(call.number, call.regs[0], call.regs[1], words);
            status
        }
        _ => trona::raw::trap(call.number, call.regs)[0],
    };
    let stats = stats_of(state, call.entry);
    if status == 0 {
        stats.ok += 1;
    } else if status < 64 {
        stats.errors |= 1 << status;
    }
    if let Some(index) = call.entry {
        learn(state, index, &call, status == 0);
    }
    if state.calls.is_multiple_of(PROBE_EVERY) {
        probe_random(state);
    }
    if state.calls.is_multiple_of(state.config.check_every) {
        check_invariants(state);
    }
    if state.calls.is_multiple_of(state.config.progress_every) {
        println!(
            "FUZZ PROGRESS calls={} pool={} restarts={}",
            state.calls,
            state.pool.len(),
            state.restarts
        );
    }
}

/// The counters of the entry at `index` (`None`: a syscall number outside the ABI).
fn stats_of(state: &mut State, index: Option<usize>) -> &mut crate::EntryStats {
    match index {
        Some(index) => &mut state.stats[index],
        None => &mut state.unknown_syscall,
    }
}

/// The scratch buffer, refilled with hostile words so that no register file a call
/// loads from it can run the fuzzer's own code.
fn scratch_buffers(state: &mut State) -> Buffers {
    // SAFETY: only the worker touches the scratch area, and the kernel writes it only
    // inside this thread's own syscalls.
    let scratch = unsafe { &mut *crate::SCRATCH.ptr() };
    let image = (run as *const () as u64) & !0xf_ffff;
    for word in scratch.words.iter_mut() {
        let value = state.rng.next();
        // Keep addresses out of the program image's megabyte.
        *word = if value & !0xf_ffff == image {
            value | (1 << 63)
        } else {
            value
        };
    }
    Buffers {
        scratch: scratch.words.as_ptr() as u64,
        // The words refilled above, not the whole (page-aligned) area: bytes the fill
        // skips could keep registers a `Tcb.read_registers` stored.
        scratch_len: core::mem::size_of_val(&scratch.words) as u64,
        read_only: run as *const () as u64,
    }
}

/// Prints a call before it is made, for replays.
fn log_call(n: u64, call: &Call) {
    let name = call
        .entry
        .map_or("(unknown syscall)", |i| ENTRIES[i].name());
    let r = &call.regs;
    println!(
        "FUZZ CALL {n} {name} number={:#x} regs={:#x} {:#x} {:#x} {:#x} {:#x} {:#x}",
        call.number, r[0], r[1], r[2], r[3], r[4], r[5]
    );
}

/// Updates the pool from a call's outcome: a created capability joins it, and the
/// slots a successful call may have emptied (moved or deleted) are probed.
fn learn(state: &mut State, index: usize, call: &Call, ok: bool) {
    let entry = &ENTRIES[index];
    let first = entry.first_arg_register();
    let target = match entry.target {
        Target::Invocation(_) => Some(call.regs[0]),
        Target::Syscall(_) | Target::Ipc(_) => None,
    };
    if !ok {
        // An invoked capability that names nothing is gone (a call with capability
        // arguments cannot say which one failed, so only the target is judged).
        if let Some(slot) = target
            && state.pool.get(slot).is_some()
            && !entry
                .args
                .iter()
                .any(|a| matches!(a.kind, ArgKind::Cap { .. }))
        {
            probe(state, slot);
        }
        return;
    }
    if let Some(creates) = entry.creates {
        let cnode = match creates.cnode {
            Destination::Argument(arg) => Some(call.regs[first + arg]),
            Destination::Invoked => target,
        };
        let object = match creates.object {
            Created::OfType(arg) => ObjectType::try_from(call.regs[first + arg]).ok(),
            Created::LikeArgument(arg) => state
                .pool
                .get(call.regs[first + arg])
                .map(|held| held.object),
        };
        let into_root = cnode
            .and_then(|slot| state.pool.get(slot))
            .is_some_and(|held| held.root_cnode);
        if let (true, Some(object)) = (into_root, object) {
            let root_cnode = match creates.object {
                Created::LikeArgument(arg) => state
                    .pool
                    .get(call.regs[first + arg])
                    .is_some_and(|held| held.root_cnode),
                Created::OfType(_) => false,
            };
            state.pool.insert(
                call.regs[first + creates.index],
                Held { object, root_cnode },
            );
        }
    }
    for (i, arg) in entry.args.iter().enumerate() {
        let slot = call.regs[first + i];
        let names_slot = match arg.kind {
            ArgKind::Cap { object: None, .. } => true,
            ArgKind::Int { .. } => arg.name.ends_with("index") && entry.creates.is_none(),
            _ => false,
        };
        if names_slot && state.pool.get(slot).is_some() {
            probe(state, slot);
        }
    }
}

/// Checks whether `slot` still holds a capability; forgets it when not.
fn probe(state: &mut State, slot: u64) {
    state.housekeeping += 1;
    if let Err(Error::InvalidCapability) = substrate::invoke(abi::CPtr(slot), PROBE_LABEL, [0; 4]) {
        state.pool.remove(slot);
    }
}

/// Probes a random live slot, and deletes one when the pool is nearly full.
fn probe_random(state: &mut State) {
    if state.pool.len() == 0 {
        return;
    }
    let slot = state
        .pool
        .live(state.rng.below(state.pool.len() as u64) as usize);
    probe(state, slot);
    let span = (state.pool.end() - state.pool.base()) as usize;
    if state.pool.len() * 4 > span * 3 {
        let slot = state
            .pool
            .live(state.rng.below(state.pool.len() as u64) as usize);
        if state.pool.get(slot).is_some_and(|held| held.root_cnode) {
            return;
        }
        state.housekeeping += 1;
        match substrate::cnode_delete(rootlib::ROOT_CNODE, slot) {
            Ok(()) | Err(Error::SlotEmpty) => state.pool.remove(slot),
            Err(_) => {}
        }
    }
}

/// A KernelDebug checker's substrate function.
type Checker = fn(abi::CPtr) -> Result<u64, Error>;

/// Runs both invariant checkers through the fuzzer's own KernelDebug capability.
pub fn check_invariants(state: &mut State) {
    let checks: [(abi::Invocation, Checker); 2] = [
        (
            abi::Invocation::KernelDebugCheckFrames,
            substrate::kernel_debug_check_frames,
        ),
        (
            abi::Invocation::KernelDebugCheckMappings,
            substrate::kernel_debug_check_mappings,
        ),
    ];
    for (invocation, check) in checks {
        state.housekeeping += 1;
        match check(KERNEL_DEBUG) {
            Ok(_) => state.checks += 1,
            // The worker's CSpace is no longer the root CNode (a fuzzed `Tcb.configure`
            // of itself): end this worker, the supervisor starts a fresh one.
            Err(Error::InvalidCapability) => trona::exit(),
            Err(error) => {
                state.invariant_failures += 1;
                println!(
                    "FUZZ INVARIANT {} failed with {error} after call {}",
                    invocation.name(),
                    state.calls
                );
            }
        }
    }
}
