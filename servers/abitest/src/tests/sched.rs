//! Scheduling: timer preemption between threads that never yield, and FPU/SIMD state that survives it.

use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use rootlib::Thread;
use trona::uapi::CpuTimes;
use trona::{println, substrate};

use crate::arch::{self, SIMD_REGISTERS};
use crate::ctx::{Ctx, now};
use crate::harness::{Failure, Outcome, ensure, ok};
use crate::tests::address_of_mut;

static SPIN_COUNTS: [AtomicU64; 2] = [AtomicU64::new(0), AtomicU64::new(0)];
static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn spinner(index: u64) -> ! {
    let counter = &SPIN_COUNTS[index as usize % SPIN_COUNTS.len()];
    while !STOP.load(Ordering::Relaxed) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
    trona::exit()
}

fn spin_counts() -> [u64; 2] {
    [
        SPIN_COUNTS[0].load(Ordering::Relaxed),
        SPIN_COUNTS[1].load(Ordering::Relaxed),
    ]
}

/// How long the scheduling tests wait for the event they test, in timer ticks: generous,
/// so that a slow or loaded host makes them slower, never failing.
const EVENT_BOUND_TICKS: u64 = 1000;

/// Spins without yielding until `done()` holds or `bound_ticks` pass; whether it held.
/// Only the timer can switch threads meanwhile. A cycle-counter bound ends the spin
/// even if the timer never ticks.
fn spin_until(bound_ticks: u64, mut done: impl FnMut() -> bool) -> bool {
    let start = now();
    let cycle_limit = arch::cycles()
        .saturating_add((bound_ticks + 2).saturating_mul(arch::CYCLES_PER_TICK_BOUND));
    while !done() {
        if now().saturating_sub(start) >= bound_ticks || arch::cycles() > cycle_limit {
            return done();
        }
    }
    true
}

/// The spinners' CPU times, or the error of reading them.
fn cpu_times(threads: [&Thread; 2]) -> Result<[CpuTimes; 2], trona::uapi::Error> {
    let mut times = [CpuTimes::default(); 2];
    for (thread, times) in threads.into_iter().zip(times.iter_mut()) {
        substrate::tcb_get_cpu_times(thread.tcb, address_of_mut(times))?;
    }
    Ok(times)
}

/// Two threads at the suite's priority that never yield both make progress while the
/// suite itself spins without yielding: only the timer can be switching between them.
///
/// Each step waits for its event (both spinners counted; both counted again; each was
/// charged two ticks) rather than for a fixed number of ticks.
pub fn preemption(ctx: &mut Ctx) -> Outcome {
    STOP.store(false, Ordering::Relaxed);
    for counter in &SPIN_COUNTS {
        counter.store(0, Ordering::Relaxed);
    }
    let first = ctx.spawn(spinner, 0)?;
    let second = ctx.spawn(spinner, 1)?;
    let start = now();
    let both_ran = spin_until(EVENT_BOUND_TICKS, || spin_counts().iter().all(|&c| c > 0));
    let middle = spin_counts();
    let both_again = both_ran
        && spin_until(EVENT_BOUND_TICKS, || {
            let counts = spin_counts();
            counts[0] > middle[0] && counts[1] > middle[1]
        });
    let end = spin_counts();
    let charged = |times: &[CpuTimes; 2]| {
        times
            .iter()
            .all(|t| t.user_ticks + t.system_ticks >= 2 && t.user_cycles > 0)
    };
    let mut read = cpu_times([&first, &second]);
    let both_charged = both_again
        && spin_until(EVENT_BOUND_TICKS, || {
            read = cpu_times([&first, &second]);
            read.as_ref().is_ok_and(charged)
        });
    STOP.store(true, Ordering::Relaxed);
    let elapsed = now().saturating_sub(start);
    ctx.destroy(second)?;
    ctx.destroy(first)?;
    println!(
        "abitest: preemption: spinner counts {middle:?} when both had run, {end:?} when both \
         had run again, {elapsed} ticks in all"
    );
    ensure!(
        both_ran,
        "spinners did not both run within {EVENT_BOUND_TICKS} ticks: counts {middle:?}"
    );
    ensure!(
        both_again,
        "spinners stalled for {EVENT_BOUND_TICKS} ticks: {middle:?} -> {end:?}"
    );
    let times = ok("get_cpu_times of the spinners", read)?;
    ensure!(
        both_charged,
        "spinners were not both charged two ticks within {EVENT_BOUND_TICKS} ticks: {times:?}"
    );
    for (index, times) in times.iter().enumerate() {
        let ticks = times.user_ticks + times.system_ticks;
        ensure!(
            ticks <= elapsed + 1,
            "spinner {index} was charged {ticks} ticks of {elapsed}"
        );
    }
    Ok(())
}

/// Holds per SIMD worker; each spans several ticks.
const FPU_ROUNDS: u64 = 6;
/// How long one hold lasts, in timer ticks of CPU time of the holding thread.
const HOLD_TICKS: u64 = 3;

/// 0 while running, 1 when every round matched, 2 + round at the first mismatch.
static FPU_RESULTS: [AtomicU64; 2] = [AtomicU64::new(0), AtomicU64::new(0)];
/// Holds during which another thread finished a hold: the holder was preempted.
static FPU_PREEMPTED: AtomicU64 = AtomicU64::new(0);
/// Holds finished by any thread: the workers' progress, and what shows a preemption.
static FPU_HOLDS_DONE: AtomicU64 = AtomicU64::new(0);
/// Spin iterations that take about one timer tick.
static ITERATIONS_PER_TICK: AtomicU64 = AtomicU64::new(0);

/// A register pattern unique to the thread, round and register.
fn simd_pattern(thread: u64, round: u64) -> [u128; SIMD_REGISTERS] {
    let mut pattern = [0u128; SIMD_REGISTERS];
    for (index, value) in pattern.iter_mut().enumerate() {
        let word =
            (thread + 1) << 56 | round << 40 | (index as u64) << 32 | 0x5a5a_0000 | index as u64;
        *value = u128::from(word) << 64 | u128::from(!word);
    }
    pattern
}

/// Loads, holds across preemptions and checks one thread's patterns; the result code of [`FPU_RESULTS`].
fn simd_rounds(thread: u64) -> u64 {
    let iterations = ITERATIONS_PER_TICK.load(Ordering::Relaxed) * HOLD_TICKS;
    for round in 0..FPU_ROUNDS {
        let pattern = simd_pattern(thread, round);
        let before = FPU_HOLDS_DONE.load(Ordering::Acquire);
        let held = arch::hold_simd(&pattern, iterations);
        // Only another thread can finish a hold while this one holds its registers.
        if FPU_HOLDS_DONE.fetch_add(1, Ordering::AcqRel) != before {
            FPU_PREEMPTED.fetch_add(1, Ordering::Relaxed);
        }
        if held != pattern {
            return 2 + round;
        }
    }
    1
}

extern "C" fn simd_worker(index: u64) -> ! {
    let result = simd_rounds(index + 1);
    FPU_RESULTS[index as usize % FPU_RESULTS.len()].store(result, Ordering::Release);
    trona::exit()
}

/// Measures how many spin iterations take about one tick.
fn calibrate() -> Result<u64, Failure> {
    let mut iterations = 1u64 << 16;
    loop {
        let start = substrate::ticks().unwrap_or(0);
        arch::spin(iterations);
        let elapsed = substrate::ticks().unwrap_or(0).saturating_sub(start);
        if elapsed >= 4 {
            return Ok(iterations / elapsed);
        }
        ensure!(
            iterations < 1 << 40,
            "{iterations} spin iterations took {elapsed} ticks: the timer is not ticking"
        );
        iterations *= 2;
    }
}

/// Three threads (the suite and two workers) hold distinct patterns in every vector
/// register across many preemptions; every pattern comes back intact.
///
/// The holds last about [`HOLD_TICKS`] by a calibrated spin, but nothing depends on how
/// long they really take: the suite waits for the workers as long as they keep finishing
/// holds, and a preemption is another thread finishing a hold during one's own.
pub fn fpu_state_survives_preemption(ctx: &mut Ctx) -> Outcome {
    ITERATIONS_PER_TICK.store(calibrate()?, Ordering::Relaxed);
    FPU_PREEMPTED.store(0, Ordering::Relaxed);
    FPU_HOLDS_DONE.store(0, Ordering::Relaxed);
    for result in &FPU_RESULTS {
        result.store(0, Ordering::Relaxed);
    }
    let first = ctx.spawn(simd_worker, 0)?;
    let second = ctx.spawn(simd_worker, 1)?;
    let own = simd_rounds(0);
    let done = || {
        FPU_RESULTS
            .iter()
            .all(|result| result.load(Ordering::Acquire) != 0)
    };
    // Wait while the workers make progress; give up only after a long stretch without a
    // finished hold (a worker that never ends).
    let mut finished = done();
    while !finished {
        let holds = FPU_HOLDS_DONE.load(Ordering::Acquire);
        finished = ctx.wait_until(EVENT_BOUND_TICKS, || {
            done() || FPU_HOLDS_DONE.load(Ordering::Acquire) != holds
        }) && done();
        if FPU_HOLDS_DONE.load(Ordering::Acquire) == holds {
            break;
        }
    }
    let results = [
        own,
        FPU_RESULTS[0].load(Ordering::Acquire),
        FPU_RESULTS[1].load(Ordering::Acquire),
    ];
    ctx.destroy(second)?;
    ctx.destroy(first)?;
    ensure!(
        finished,
        "the SIMD workers did not finish: results {results:?}"
    );
    for (thread, &result) in results.iter().enumerate() {
        ensure!(
            result == 1,
            "thread {thread} found its vector registers changed in round {}",
            result.saturating_sub(2)
        );
    }
    let preempted = FPU_PREEMPTED.load(Ordering::Relaxed);
    let holds = FPU_ROUNDS * 3;
    println!(
        "abitest: fpu: another thread finished a hold during {preempted} of {holds} register holds"
    );
    ensure!(
        preempted > 0,
        "no thread finished a hold during another's, so nothing was tested"
    );
    Ok(())
}
