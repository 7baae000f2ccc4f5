//! Benchmarks: median cycle counts of a null syscall, a trivial invocation and a yield round trip.
//!
//! Cycles come from [`arch::cycles`]: `rdtsc` on x86_64, the generic timer's `CNTVCT_EL0`
//! on aarch64 (a fixed-frequency counter, not CPU cycles). Two benchmarks calibrate the
//! others: `counter_read` times an empty bracket (included in every other median), and
//! `spin_2000_instructions` the counter's advance over 2,000 instructions, which under
//! `cargo xtask bench --icount` must read exactly 2000.

use core::sync::atomic::{AtomicBool, Ordering};

use trona::uapi::{ObjectType, PAGE_SIZE};
use trona::{println, substrate};

use crate::arch;
use crate::ctx::Ctx;
use crate::harness::{Failure, Outcome, Tally, ensure, ok};

/// Samples per benchmark.
const ITERATIONS: usize = 10_000;

/// Pages that hold the samples.
const SAMPLE_PAGES: usize = (ITERATIONS * 8).div_ceil(PAGE_SIZE as usize);

/// One benchmark: its name and the operation it times (which must succeed).
struct Bench {
    name: &'static str,
    run: fn(&mut Ctx, &mut [u64]) -> Outcome,
}

const BENCHES: &[Bench] = &[
    Bench {
        name: "counter_read",
        run: counter_read,
    },
    Bench {
        name: "spin_2000_instructions",
        run: spin_2000_instructions,
    },
    Bench {
        name: "null_syscall",
        run: null_syscall,
    },
    Bench {
        name: "frame_physical_address",
        run: trivial_invocation,
    },
    Bench {
        name: "yield_round_trip",
        run: yield_round_trip,
    },
];

/// Runs every benchmark and prints its `BENCH` line.
pub fn run_all(ctx: &mut Ctx, tally: &mut Tally) {
    println!("abitest: benchmarks, counter {}", arch::CYCLE_COUNTER);
    let region = match ctx.pages(SAMPLE_PAGES, crate::READ_WRITE) {
        Ok(region) => region,
        Err(failure) => return tally.record("bench_setup", Err(failure)),
    };
    // SAFETY: the region is freshly mapped read-write, `SAMPLE_PAGES` pages long (enough
    // for `ITERATIONS` u64 values, page-aligned), and used only through this slice until
    // it is released below.
    let samples =
        unsafe { core::slice::from_raw_parts_mut(region.vaddr as usize as *mut u64, ITERATIONS) };
    for bench in BENCHES {
        let outcome = (bench.run)(ctx, samples).map(|()| {
            samples.sort_unstable();
            println!(
                "BENCH {} median={} iterations={}",
                bench.name,
                samples[ITERATIONS / 2],
                ITERATIONS
            );
        });
        tally.record(bench.name, outcome);
    }
    if let Err(failure) = ctx.release_pages(region) {
        tally.record("bench_teardown", Err(failure));
    }
}

/// Times `op` once per sample; the first error ends the benchmark.
fn measure(samples: &mut [u64], mut op: impl FnMut() -> Result<(), Failure>) -> Outcome {
    for sample in samples.iter_mut() {
        let start = arch::cycles();
        op()?;
        *sample = arch::cycles().wrapping_sub(start);
    }
    Ok(())
}

/// One sample: two counter reads with nothing between them.
fn counter_read(_: &mut Ctx, samples: &mut [u64]) -> Outcome {
    measure(samples, || Ok(()))
}

/// One sample: how far the counter advances over 2,000 instructions, the difference
/// between a loop of 2,000 and one of 1,000 iterations of two instructions each (`dec; jnz`,
/// `subs; b.ne`), bracketed by the same code, so that nothing but the 2,000 extra
/// instructions separates them.
fn spin_2000_instructions(_: &mut Ctx, samples: &mut [u64]) -> Outcome {
    for sample in samples.iter_mut() {
        let short = spin_bracketed(core::hint::black_box(1_000));
        let long = spin_bracketed(core::hint::black_box(2_000));
        *sample = long.saturating_sub(short);
    }
    Ok(())
}

/// The counter's advance over `arch::spin(iterations)`; never inlined, so both calls above
/// run the same instructions but for the loop's iterations.
#[inline(never)]
fn spin_bracketed(iterations: u64) -> u64 {
    let start = arch::cycles();
    arch::spin(iterations);
    arch::cycles().wrapping_sub(start)
}

fn null_syscall(_: &mut Ctx, samples: &mut [u64]) -> Outcome {
    measure(samples, || ok("null", substrate::null()))
}

fn trivial_invocation(ctx: &mut Ctx, samples: &mut [u64]) -> Outcome {
    let frame = ctx.create(ObjectType::Frame)?;
    let result = measure(samples, || {
        ok(
            "Frame.physical_address",
            substrate::frame_physical_address(frame),
        )
        .map(|_| ())
    });
    ctx.delete(frame)?;
    result
}

static PARTNER_RUNNING: AtomicBool = AtomicBool::new(false);

extern "C" fn yield_partner(_: u64) -> ! {
    PARTNER_RUNNING.store(true, Ordering::Release);
    loop {
        let _ = substrate::sched_yield();
    }
}

/// One sample: the suite yields to a partner at the same priority, which yields straight back.
fn yield_round_trip(ctx: &mut Ctx, samples: &mut [u64]) -> Outcome {
    PARTNER_RUNNING.store(false, Ordering::Relaxed);
    let partner = ctx.spawn(yield_partner, 0)?;
    let started = ctx.wait_until(100, || PARTNER_RUNNING.load(Ordering::Acquire));
    let result = if started {
        measure(samples, || ok("sched_yield", substrate::sched_yield()))
    } else {
        Ok(())
    };
    ctx.destroy(partner)?;
    ensure!(started, "the yield partner never ran");
    result
}
