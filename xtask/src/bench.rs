//! `cargo xtask bench`: boots abitest in bench mode and prints its measurements as a table.

use crate::build::{BuildRequest, ImageMode, build};
use crate::cargo::Profile;
use crate::protocol::SerialReport;
use crate::qemu::boot_captured;
use crate::targets::{Arch, DEFAULT_CPUS, Program, ensure_qemu};
use anyhow::{Result, bail};
use std::time::Duration;

/// Measure syscall, invocation and context-switch costs inside QEMU.
#[derive(clap::Args)]
pub struct Args {
    /// Target architecture.
    #[arg(long, value_enum, default_value = "x86_64")]
    pub arch: Arch,
    /// Seconds the benchmark boot may run before it counts as hung.
    #[arg(long, default_value_t = 120)]
    pub timeout: u64,
}

pub fn run(args: Args) -> Result<()> {
    // Benchmarks of unoptimized code measure the compiler, not the kernel: always release.
    let request = BuildRequest {
        arch: args.arch,
        profile: Profile::Release,
        root: Program::Abitest,
        mode: ImageMode::Bench,
    };
    ensure_qemu(args.arch)?;
    let kernel = build(request)?.kernel;
    let label = format!("{} bench", args.arch);
    let boot = boot_captured(
        args.arch,
        &kernel,
        DEFAULT_CPUS,
        &label,
        Duration::from_secs(args.timeout),
    )?;
    let report = SerialReport::parse(boot.lines.iter().map(String::as_str));

    println!();
    let unit = match args.arch {
        Arch::X86_64 => "time-stamp counter cycles (rdtsc)",
        Arch::Aarch64 => "generic timer ticks (cntvct_el0)",
    };
    println!("benchmarks on {} under QEMU TCG, in {unit}:", args.arch);
    let width = report
        .benches
        .iter()
        .map(|bench| bench.name.len())
        .max()
        .unwrap_or(0)
        .max(9);
    println!(
        "  {:<width$}  {:>14}  {:>10}",
        "benchmark", "median", "iterations"
    );
    for bench in &report.benches {
        println!(
            "  {:<width$}  {:>14}  {:>10}",
            bench.name, bench.median_cycles, bench.iterations
        );
    }
    let verdict = report.judge_drift(report.judge_bench(boot.exit));
    if !verdict.problems.is_empty() {
        bail!("benchmark run failed: {}", verdict.problems.join("; "));
    }
    Ok(())
}
