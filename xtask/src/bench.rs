//! `cargo xtask bench`: boots abitest in bench mode, under wall-clock TCG or QEMU's icount or both, and prints the medians side by side.

use crate::build::{BuildRequest, ImageMode, build};
use crate::cargo::Profile;
use crate::protocol::{Bench, SerialReport};
use crate::qemu::boot_captured_with;
use crate::targets::{Arch, DEFAULT_CPUS, Program, ensure_qemu};
use anyhow::{Result, bail};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// Measure syscall, invocation and context-switch costs inside QEMU.
///
/// Without options: one boot under plain TCG, where the counter follows host time (noisy:
/// compare ratios within one run). With `--icount`: two boots under QEMU's `-icount`,
/// where the counter advances once per guest instruction; their medians must be identical.
#[derive(clap::Args)]
pub struct Args {
    /// Target architecture.
    #[arg(long, value_enum, default_value = "x86_64")]
    pub arch: Arch,
    /// Count guest instructions instead of host time: boot twice under `-icount`
    /// (shift=0 on x86_64, shift=4 on aarch64) and require identical medians.
    #[arg(long, conflicts_with = "both")]
    pub icount: bool,
    /// One wall-clock boot and the two icount boots, in one table.
    #[arg(long)]
    pub both: bool,
    /// Seconds each benchmark boot may run before it counts as hung.
    #[arg(long, default_value_t = 120)]
    pub timeout: u64,
    /// CPUs to boot with (`-smp N`); the cross-CPU benchmarks need 2, the busy-CPU ones 4.
    /// Wall-clock only: under `-icount` QEMU runs the CPUs in turn on one host thread, so a
    /// CPU that waits for another (a lock, an IPI) waits out whole time slices.
    #[arg(long, default_value_t = DEFAULT_CPUS, conflicts_with_all = ["icount", "both"])]
    pub smp: u32,
}

/// How the counter of a benchmark boot runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// Plain TCG: the counter follows host time.
    WallClock,
    /// `-icount shift=N`: the counter advances once per guest instruction.
    Icount,
}

/// Boots per icount run, whose medians must be identical.
const ICOUNT_BOOTS: usize = 2;

/// The benchmark that checks the icount counter: `servers/abitest/src/bench.rs` measures
/// how far the counter advances over [`CALIBRATION_INSTRUCTIONS`] instructions.
const CALIBRATION_BENCH: &str = "spin_2000_instructions";

/// What [`CALIBRATION_BENCH`] must read under icount.
const CALIBRATION_INSTRUCTIONS: u64 = 2000;

/// The `-icount shift=N` under which `arch`'s benchmark counter advances once per guest
/// instruction: QEMU's virtual clock then advances 2^N ns per instruction.
fn icount_shift(arch: Arch) -> u32 {
    match arch {
        // Under icount the TSC counts virtual nanoseconds.
        Arch::X86_64 => 0,
        // CNTVCT_EL0 runs at CNTFRQ_EL0, 62.5 MHz on QEMU's virt board: one tick per 16 ns.
        Arch::Aarch64 => 4,
    }
}

impl Mode {
    fn boots(self) -> usize {
        match self {
            Mode::WallClock => 1,
            Mode::Icount => ICOUNT_BOOTS,
        }
    }

    fn qemu_options(self, arch: Arch) -> Vec<String> {
        match self {
            Mode::WallClock => Vec::new(),
            Mode::Icount => vec![
                "-icount".to_string(),
                format!("shift={}", icount_shift(arch)),
            ],
        }
    }

    fn heading(self) -> &'static str {
        match self {
            Mode::WallClock => "wall-clock TCG",
            Mode::Icount => "icount",
        }
    }

    /// What the figures count, for the legend under the table.
    fn legend(self, arch: Arch) -> String {
        let counter = match arch {
            Arch::X86_64 => "rdtsc",
            Arch::Aarch64 => "CNTVCT_EL0",
        };
        match self {
            Mode::WallClock => {
                let unit = match arch {
                    Arch::X86_64 => "time-stamp counter cycles (rdtsc)",
                    Arch::Aarch64 => "generic timer ticks (CNTVCT_EL0, 62.5 MHz)",
                };
                format!("{unit} of host time; noisy, compare ratios within one run")
            }
            Mode::Icount => format!(
                "guest instructions ({counter} under -icount shift={}), identical in {ICOUNT_BOOTS} \
                 boots; {CALIBRATION_BENCH} checks the counter",
                icount_shift(arch)
            ),
        }
    }
}

/// One column of the table: a mode's figure per benchmark.
#[derive(Debug, PartialEq, Eq)]
struct Column {
    heading: &'static str,
    /// (benchmark, figure), in the order the boots printed them.
    figures: Vec<(String, String)>,
}

pub fn run(args: Args) -> Result<()> {
    let modes: &[Mode] = if args.both {
        &[Mode::WallClock, Mode::Icount]
    } else if args.icount {
        &[Mode::Icount]
    } else {
        &[Mode::WallClock]
    };
    // Benchmarks of unoptimized code measure the compiler, not the kernel: always release.
    let request = BuildRequest {
        arch: args.arch,
        profile: Profile::Release,
        root: Program::Abitest,
        mode: ImageMode::Bench,
    };
    ensure_qemu(args.arch)?;
    let kernel = build(request)?.kernel;

    let mut columns = Vec::new();
    let mut iterations = Vec::new();
    let mut problems = Vec::new();
    for &mode in modes {
        let mut boots = Vec::new();
        for boot in 1..=mode.boots() {
            let benches = boot_once(&args, &kernel, mode, boot)?;
            for bench in &benches {
                if !iterations.iter().any(|(name, _)| name == &bench.name) {
                    iterations.push((bench.name.clone(), bench.iterations));
                }
            }
            boots.push(benches);
        }
        let (column, found) = column(mode, &boots);
        columns.push(column);
        problems.extend(found);
    }

    println!();
    println!(
        "benchmarks on {} in {}, medians:",
        args.arch,
        qemu_version(args.arch)
    );
    print!("{}", render(&columns, &iterations));
    for &mode in modes {
        println!("  {}: {}", mode.heading(), mode.legend(args.arch));
    }
    if !problems.is_empty() {
        bail!("benchmark run failed: {}", problems.join("; "));
    }
    Ok(())
}

/// Boots the benchmark kernel once in `mode` and returns its `BENCH` lines, or fails with
/// what went wrong.
fn boot_once(args: &Args, kernel: &Path, mode: Mode, boot: usize) -> Result<Vec<Bench>> {
    let label = match mode {
        Mode::WallClock => format!("{} bench", args.arch),
        Mode::Icount => format!("{} bench icount {boot}/{}", args.arch, mode.boots()),
    };
    let captured = boot_captured_with(
        args.arch,
        kernel,
        args.smp,
        &mode.qemu_options(args.arch),
        &label,
        Duration::from_secs(args.timeout),
    )?;
    let report = SerialReport::parse(captured.lines.iter().map(String::as_str));
    let verdict = report.judge_drift(report.judge_bench(captured.exit));
    if !verdict.problems.is_empty() {
        bail!(
            "benchmark boot `{label}` failed: {}",
            verdict.problems.join("; ")
        );
    }
    Ok(report.benches)
}

/// The column of `mode` from its boots, and the problems found: under icount, medians
/// that differ between boots, and a calibration benchmark that does not read
/// [`CALIBRATION_INSTRUCTIONS`].
fn column(mode: Mode, boots: &[Vec<Bench>]) -> (Column, Vec<String>) {
    let mut names: Vec<&str> = Vec::new();
    for bench in boots.iter().flatten() {
        if !names.contains(&bench.name.as_str()) {
            names.push(&bench.name);
        }
    }
    let mut problems = Vec::new();
    let mut figures = Vec::new();
    for name in names {
        let medians: Vec<Option<u64>> = boots
            .iter()
            .map(|benches| {
                benches
                    .iter()
                    .find(|bench| bench.name == name)
                    .map(|bench| bench.median_cycles)
            })
            .collect();
        let agreed = medians.iter().all(|median| *median == medians[0]);
        let figure = if agreed {
            medians[0].map_or("-".to_string(), |median| median.to_string())
        } else {
            let each: Vec<String> = medians
                .iter()
                .map(|median| median.map_or("-".to_string(), |median| median.to_string()))
                .collect();
            problems.push(format!(
                "`{name}` is not deterministic under icount: the boots measured {}",
                each.join(", ")
            ));
            each.join(" / ")
        };
        let miscounted = medians[0].filter(|&median| median != CALIBRATION_INSTRUCTIONS);
        if let (Mode::Icount, CALIBRATION_BENCH, true, Some(median)) =
            (mode, name, agreed, miscounted)
        {
            problems.push(format!(
                "under icount `{CALIBRATION_BENCH}` must read {CALIBRATION_INSTRUCTIONS} (the \
                 counter advancing once per instruction) but read {median}: does the counter \
                 run at another frequency than `icount_shift` in xtask/src/bench.rs expects?"
            ));
        }
        figures.push((name.to_string(), figure));
    }
    if mode == Mode::Icount && !figures.iter().any(|(name, _)| name == CALIBRATION_BENCH) {
        problems.push(format!(
            "no `{CALIBRATION_BENCH}` benchmark to check that the counter counts instructions"
        ));
    }
    let column = Column {
        heading: mode.heading(),
        figures,
    };
    (column, problems)
}

/// The table: one row per benchmark any column has, in the order they first appear, one
/// column per mode, then the iterations.
fn render(columns: &[Column], iterations: &[(String, u64)]) -> String {
    let mut names: Vec<&str> = Vec::new();
    for (name, _) in columns.iter().flat_map(|column| &column.figures) {
        if !names.contains(&name.as_str()) {
            names.push(name);
        }
    }
    let name_width = names
        .iter()
        .map(|name| name.len())
        .chain(["benchmark".len()])
        .max()
        .unwrap_or(0);
    let widths: Vec<usize> = columns
        .iter()
        .map(|column| {
            column
                .figures
                .iter()
                .map(|(_, figure)| figure.len())
                .chain([column.heading.len(), 10])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut text = format!("  {:<name_width$}", "benchmark");
    for (column, width) in columns.iter().zip(&widths) {
        text += &format!("  {:>width$}", column.heading);
    }
    text += &format!("  {:>10}\n", "iterations");
    for name in names {
        text += &format!("  {name:<name_width$}");
        for (column, width) in columns.iter().zip(&widths) {
            let figure = column
                .figures
                .iter()
                .find(|(row, _)| row == name)
                .map_or("-", |(_, figure)| figure.as_str());
            text += &format!("  {figure:>width$}");
        }
        let count = iterations
            .iter()
            .find(|(row, _)| row == name)
            .map_or("-".to_string(), |(_, count)| count.to_string());
        text += &format!("  {count:>10}\n");
    }
    text
}

/// `QEMU 7.2.22 (...)` from `qemu-system-* --version`, for the table's heading.
fn qemu_version(arch: Arch) -> String {
    let output = Command::new(arch.qemu_binary()).arg("--version").output();
    let text = output
        .map(|output| String::from_utf8_lossy(&output.stdout).into_owned())
        .unwrap_or_default();
    match text.lines().next() {
        Some(line) if !line.is_empty() => line.replace("QEMU emulator version", "QEMU"),
        _ => format!("{} (version unknown)", arch.qemu_binary()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bench(name: &str, median: u64) -> Bench {
        Bench {
            name: name.to_string(),
            median_cycles: median,
            iterations: 10,
        }
    }

    /// Checks the column and problems built from `boots`, and the table of that column.
    fn check(mode: Mode, boots: &[&[(&str, u64)]], table: &str, problems: &[&str]) {
        let boots: Vec<Vec<Bench>> = boots
            .iter()
            .map(|boot| boot.iter().map(|&(name, m)| bench(name, m)).collect())
            .collect();
        let (column, found) = column(mode, &boots);
        let iterations = [("null_syscall".to_string(), 10)];
        assert_eq!(render(&[column], &iterations), table);
        assert_eq!(found.len(), problems.len(), "{found:?}");
        for (found, expected) in found.iter().zip(problems) {
            assert!(found.contains(expected), "{found:?} lacks {expected:?}");
        }
    }

    #[test]
    fn columns_and_checks() {
        // A new benchmark needs no code here: every name any boot prints gets a row.
        check(
            Mode::WallClock,
            &[&[("null_syscall", 956), ("ipc_call_reply_rtt", 4000)]],
            "  benchmark           wall-clock TCG  iterations\n  \
             null_syscall                   956          10\n  \
             ipc_call_reply_rtt            4000           -\n",
            &[],
        );
        check(
            Mode::Icount,
            &[
                &[("null_syscall", 231), ("spin_2000_instructions", 2000)],
                &[("null_syscall", 231), ("spin_2000_instructions", 2000)],
            ],
            "  benchmark                   icount  iterations\n  \
             null_syscall                   231          10\n  \
             spin_2000_instructions        2000           -\n",
            &[],
        );
        check(
            Mode::Icount,
            &[
                &[("null_syscall", 231), ("spin_2000_instructions", 125)],
                &[("null_syscall", 232), ("spin_2000_instructions", 125)],
            ],
            "  benchmark                   icount  iterations\n  \
             null_syscall             231 / 232          10\n  \
             spin_2000_instructions         125           -\n",
            &[
                "`null_syscall` is not deterministic under icount: the boots measured 231, 232",
                "must read 2000 (the counter advancing once per instruction) but read 125",
            ],
        );
        check(
            Mode::Icount,
            &[&[("null_syscall", 231)], &[]],
            "  benchmark         icount  iterations\n  \
             null_syscall     231 / -          10\n",
            &["the boots measured 231, -", "no `spin_2000_instructions`"],
        );
    }
}
