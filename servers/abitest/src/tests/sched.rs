//! Scheduling: timer preemption between threads that never yield, and FPU/SIMD state that survives it.

use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use trona::uapi::CpuTimes;
use trona::{println, substrate};

use crate::arch::{self, SIMD_REGISTERS};
use crate::ctx::{Ctx, spin_ticks};
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

/// Two threads at the suite's priority that never yield both make progress while the
/// suite itself spins without yielding: only the timer can be switching between them.
pub fn preemption(ctx: &mut Ctx) -> Outcome {
    STOP.store(false, Ordering::Relaxed);
    for counter in &SPIN_COUNTS {
        counter.store(0, Ordering::Relaxed);
    }
    let first = ctx.spawn(spinner, 0)?;
    let second = ctx.spawn(spinner, 1)?;
    let start = substrate::ticks().unwrap_or(0);
    let ticked = spin_ticks(10);
    let middle = spin_counts();
    let ticked_again = ticked && spin_ticks(10);
    let end = spin_counts();
    let elapsed = substrate::ticks().unwrap_or(0).saturating_sub(start);
    STOP.store(true, Ordering::Relaxed);
    let mut times = [CpuTimes::default(); 2];
    let read = [&first, &second]
        .into_iter()
        .zip(times.iter_mut())
        .try_for_each(|(thread, times)| {
            substrate::tcb_get_cpu_times(thread.tcb, address_of_mut(times))
        });
    ctx.destroy(second)?;
    ctx.destroy(first)?;
    println!(
        "abitest: preemption: spinner counts {middle:?} after 10 ticks, {end:?} after {elapsed}"
    );
    ensure!(
        ticked && ticked_again,
        "the timer did not tick while the suite spun"
    );
    ensure!(
        middle[0] > 0 && middle[1] > 0,
        "spinners did not both run in the first 10 ticks: counts {middle:?}"
    );
    ensure!(
        end[0] > middle[0] && end[1] > middle[1],
        "spinners stalled in the next 10 ticks: {middle:?} -> {end:?}"
    );
    ensure!(elapsed >= 20, "only {elapsed} ticks passed");
    ok("get_cpu_times of the spinners", read)?;
    for (index, times) in times.iter().enumerate() {
        let ticks = times.user_ticks + times.system_ticks;
        ensure!(
            ticks >= 2 && times.user_cycles > 0,
            "spinner {index} was charged only {times:?}"
        );
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
/// Holds during which the wall clock ran well past the hold's own length: another thread ran in between.
static FPU_PREEMPTED: AtomicU64 = AtomicU64::new(0);
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
        let start = substrate::ticks().unwrap_or(0);
        let held = arch::hold_simd(&pattern, iterations);
        let elapsed = substrate::ticks().unwrap_or(0).saturating_sub(start);
        if elapsed > HOLD_TICKS * 3 / 2 {
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
pub fn fpu_state_survives_preemption(ctx: &mut Ctx) -> Outcome {
    ITERATIONS_PER_TICK.store(calibrate()?, Ordering::Relaxed);
    FPU_PREEMPTED.store(0, Ordering::Relaxed);
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
    let finished = ctx.wait_until(FPU_ROUNDS * HOLD_TICKS * 10, done);
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
        "abitest: fpu: {preempted} of {holds} register holds ran across another thread's time slice"
    );
    ensure!(
        preempted > 0,
        "no hold was ever preempted, so nothing was tested"
    );
    Ok(())
}
