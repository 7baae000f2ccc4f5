//! `cargo xtask test`: host tests, the generated-files check, then per architecture the arch self test, the kernel stack guard test, the in-QEMU suite (abitest) and an init boot, the suite and init on one CPU and on four; `--filter`, `--smp` and `--compat` narrow it.

use crate::build::{
    ARCH_SELFTEST, BuildRequest, ImageMode, KERNEL_FAULT_TEST, KSTACK_GUARD_TEST, build,
    build_kernel_test,
};
use crate::cargo::{Profile, cargo, run_streaming, workspace_root};
use crate::compat::{self, Prepared};
use crate::coverage::expected_entries;
use crate::protocol::{Coverage, SerialReport, SuiteCpus, Verdict};
use crate::qemu::{CapturedBoot, boot_captured};
use crate::targets::{Arch, DEFAULT_CPUS, MachineExit, Program, SMP_TEST_CPUS, ensure_qemu};
use anyhow::{Context, Result, bail};
use std::time::Duration;

/// Run the host tests and the in-QEMU test suite.
#[derive(clap::Args)]
pub struct Args {
    /// Architecture to boot; default: every architecture the kernel implements.
    #[arg(long, value_enum)]
    pub arch: Option<Arch>,
    /// Only the host tests (`cargo test` and `cargo xtask gen --check`).
    #[arg(long, conflicts_with_all = ["qemu_only", "filter", "compat"])]
    pub host_only: bool,
    /// Only the in-QEMU boots.
    #[arg(long)]
    pub qemu_only: bool,
    /// Boot only the in-QEMU suite, running only the tests whose names contain NAME (no
    /// host tests, arch self test or init boot; the schema-coverage check is skipped).
    #[arg(long, value_name = "NAME")]
    pub filter: Option<String>,
    /// Only the compatibility check: the suite as of the latest `abi-v*` tag, booted on
    /// the current kernel (skipped when the ABI major version changed since).
    #[arg(long, conflicts_with_all = ["qemu_only", "filter"])]
    pub compat: bool,
    /// Boot the suite and init (and the arch self test) only with N CPUs; default: the
    /// suite and init with 1 and with 4, the arch self test with 4 (`--filter`: 1).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub smp: Option<u32>,
    /// Seconds each boot may run before it counts as hung.
    #[arg(long, default_value_t = 60)]
    pub timeout: u64,
    /// Build the kernel and the user programs optimized.
    #[arg(long)]
    pub release: bool,
    /// Print every trap of every boot decoded with the schema (debug kernels with feature
    /// `trace`); `--trace=Tcb,debug_write` shows only entries matching one of the words.
    #[arg(long, value_name = "FILTER", num_args = 0..=1, require_equals = true, default_missing_value = "", conflicts_with = "release")]
    pub trace: Option<String>,
}

/// Which in-QEMU boots to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Boots {
    None,
    /// The arch self test, the whole suite and init.
    All,
    /// Only the suite, only its tests whose names contain the text.
    Filtered(String),
}

/// A complete description of one test run.
#[derive(Clone, Debug)]
pub struct Plan {
    /// `cargo test` and `cargo xtask gen --check`.
    pub host: bool,
    pub boots: Boots,
    /// The compatibility check (the latest release's suite on the current kernel).
    pub compat: bool,
    pub arches: Vec<Arch>,
    /// The CPU counts the suite and init boot with, one boot each; the arch self test
    /// boots with the largest.
    pub cpus: Vec<u32>,
    pub timeout: Duration,
    pub profile: Profile,
}

/// One line of the closing summary.
struct Phase {
    name: String,
    verdict: Verdict,
    /// Said under the line: what the phase left out, or why it was skipped.
    note: Option<String>,
}

impl Phase {
    fn new(name: String, verdict: Verdict) -> Phase {
        Phase {
            name,
            verdict,
            note: None,
        }
    }
}

pub fn run(args: Args) -> Result<()> {
    if let Some(filter) = &args.trace {
        crate::trace::enable(filter)?;
    }
    let boots = match (&args.filter, args.host_only || args.compat) {
        (Some(filter), _) => Boots::Filtered(filter.clone()),
        (None, true) => Boots::None,
        (None, false) => Boots::All,
    };
    let cpus = match (args.smp, &boots) {
        (Some(cpus), _) => vec![cpus],
        (None, Boots::Filtered(_)) => vec![DEFAULT_CPUS],
        (None, _) => vec![DEFAULT_CPUS, SMP_TEST_CPUS],
    };
    let plan = Plan {
        host: !(args.qemu_only || args.compat || args.filter.is_some()),
        boots,
        compat: args.compat,
        arches: args.arch.map_or_else(default_arches, |arch| vec![arch]),
        cpus,
        timeout: Duration::from_secs(args.timeout),
        profile: Profile::from_release_flag(args.release),
    };
    run_plan(&plan)
}

/// Every architecture whose kernel exists in the tree.
pub fn default_arches() -> Vec<Arch> {
    let root = workspace_root();
    Arch::ALL
        .into_iter()
        .filter(|arch| arch.kernel_exists(&root))
        .collect()
}

/// Runs `plan`, prints the summary, and fails if anything failed.
pub fn run_plan(plan: &Plan) -> Result<()> {
    if plan.boots != Boots::None || plan.compat {
        let names: Vec<&str> = plan.arches.iter().map(|arch| arch.name()).collect();
        eprintln!("xtask test: booting on {}", names.join(", "));
        // Fail before any build when QEMU is missing; the error says what to install.
        for &arch in &plan.arches {
            ensure_qemu(arch)?;
        }
    }
    let mut phases = Vec::new();
    if plan.host {
        phases.push(host_tests()?);
        phases.push(generated_files_check()?);
    }
    let coverage = expected_entries(&workspace_root().join("schema.toml"))?;
    for &arch in &plan.arches {
        match &plan.boots {
            Boots::None => {}
            Boots::All => {
                phases.push(arch_selftest_phase(plan, arch));
                phases.push(kstack_guard_phase(plan, arch));
                phases.push(kernel_fault_phase(plan, arch));
                for program in [Program::Abitest, Program::Init] {
                    phases.extend(boot_phases(plan, arch, program, &coverage));
                }
                if plan.profile == Profile::Dev {
                    phases.push(trace_phase(plan, arch));
                }
            }
            Boots::Filtered(filter) => {
                for &cpus in &plan.cpus {
                    phases.push(filtered_phase(plan, arch, cpus, filter, &coverage));
                }
            }
        }
    }
    if plan.compat {
        phases.extend(compat_phases(plan));
    }
    print_summary(&phases)
}

/// Prints one line per phase, the names of every failed test, and the total; fails if
/// anything failed.
fn print_summary(phases: &[Phase]) -> Result<()> {
    println!();
    print!("{}", summary_text(phases));
    let failed: u64 = phases.iter().map(|phase| phase.verdict.failed).sum();
    if failed > 0 {
        bail!("{failed} failed");
    }
    Ok(())
}

/// The closing summary: one line per phase with its note and problems, the failed tests
/// by phase, and the total.
fn summary_text(phases: &[Phase]) -> String {
    let mut out = String::from("summary:\n");
    let (mut passed, mut failed) = (0, 0);
    for phase in phases {
        let verdict = &phase.verdict;
        let status = if !(verdict.problems.is_empty() && verdict.failed == 0) {
            "FAILED"
        } else if verdict.passed == 0 {
            "skipped"
        } else {
            "ok"
        };
        out.push_str(&format!(
            "  {:<34} {:>5} passed, {:>3} failed   {status}\n",
            phase.name, verdict.passed, verdict.failed
        ));
        if let Some(note) = &phase.note {
            out.push_str(&format!("      note: {note}\n"));
        }
        for problem in &verdict.problems {
            out.push_str(&format!("      - {problem}\n"));
        }
        passed += verdict.passed;
        failed += verdict.failed;
    }
    let failed_tests: Vec<String> = phases
        .iter()
        .flat_map(|phase| {
            let name = &phase.name;
            phase
                .verdict
                .failed_tests
                .iter()
                .map(move |test| format!("{name}: {test}"))
        })
        .collect();
    if !failed_tests.is_empty() {
        out.push_str("failed tests:\n");
        for test in &failed_tests {
            out.push_str(&format!("  {test}\n"));
        }
    }
    out.push_str(&format!(
        "total (host unit tests + checks + in-QEMU tests): {passed} passed, {failed} failed\n"
    ));
    out
}

/// `cargo test` over the host crates (the workspace's default members).
fn host_tests() -> Result<Phase> {
    let mut verdict = Verdict::default();
    let succeeded = run_streaming(cargo().args(["test", "--no-fail-fast"]), |line| {
        if let Some((passed, failed)) = parse_test_result(line) {
            verdict.passed += passed;
            verdict.failed += failed;
        } else if let Some(name) = failed_test_name(line) {
            verdict.failed_tests.push(name.to_string());
        }
    })?;
    if !succeeded {
        if verdict.failed_tests.is_empty() {
            verdict
                .problems
                .push("`cargo test` failed (see its output above)".to_string());
        }
        verdict.failed = verdict.failed.max(1);
    }
    Ok(Phase::new("host: cargo test".to_string(), verdict))
}

/// `cargo xtask gen --check`: the generated files match schema.toml.
fn generated_files_check() -> Result<Phase> {
    // A fresh `cargo xtask` rather than this process's own binary: `cargo test` may just
    // have rebuilt (and so replaced) the xtask executable on disk.
    let status = cargo()
        .args(["xtask", "gen", "--check"])
        .status()
        .context("running `cargo xtask gen --check`")?;
    let verdict = if status.success() {
        Verdict {
            passed: 1,
            ..Verdict::default()
        }
    } else {
        let problem = "generated files are stale; run `cargo xtask gen`".to_string();
        Verdict {
            failed: 1,
            problems: vec![problem],
            ..Verdict::default()
        }
    };
    Ok(Phase::new("host: xtask gen --check".to_string(), verdict))
}

/// Builds the kernel with the arch self test instead of the root server, boots it on the
/// most CPUs the plan names (every one must take timer ticks) and judges it by its exit
/// status, its `arch selftest: OK` line and the CPUs the kernel brought up.
fn arch_selftest_phase(plan: &Plan, arch: Arch) -> Phase {
    let cpus = plan.cpus.iter().copied().max().unwrap_or(SMP_TEST_CPUS);
    let label = format!("{arch} arch-selftest{}", smp_suffix(cpus));
    let booted = build_kernel_test(arch, plan.profile, ARCH_SELFTEST)
        .and_then(|built| boot_captured(arch, &built.kernel, cpus, &label, plan.timeout));
    let verdict = judge_boot(booted, cpus, SuiteCpus::IfPrinted, |report, exit| {
        report.judge_arch_selftest(exit)
    });
    Phase::new(
        format!("{arch}: arch selftest{}", smp_suffix(cpus)),
        verdict,
    )
}

/// What a phase's name adds for a boot on `cpus` CPUs: nothing for one, ` -smp N` else.
fn smp_suffix(cpus: u32) -> String {
    if cpus == DEFAULT_CPUS {
        String::new()
    } else {
        format!(" -smp {cpus}")
    }
}

/// Builds the kernel with the kernel stack guard test instead of the root task, boots it
/// and judges it by its expected panic: a kernel stack overflow of the thread it armed.
fn kstack_guard_phase(plan: &Plan, arch: Arch) -> Phase {
    let label = format!("{arch} kstack-guard");
    let booted = build_kernel_test(arch, plan.profile, KSTACK_GUARD_TEST)
        .and_then(|built| boot_captured(arch, &built.kernel, DEFAULT_CPUS, &label, plan.timeout));
    let verdict = judge_boot(
        booted,
        DEFAULT_CPUS,
        SuiteCpus::IfPrinted,
        |report, exit| report.judge_kstack_guard(exit),
    );
    Phase::new(format!("{arch}: kernel stack guard"), verdict)
}

/// Builds the kernel with the kernel fault test instead of the root task, boots it and
/// judges it by its expected panic: an exception in kernel mode, reported with registers.
fn kernel_fault_phase(plan: &Plan, arch: Arch) -> Phase {
    let label = format!("{arch} kernel-fault");
    let booted = build_kernel_test(arch, plan.profile, KERNEL_FAULT_TEST)
        .and_then(|built| boot_captured(arch, &built.kernel, DEFAULT_CPUS, &label, plan.timeout));
    let verdict = judge_boot(
        booted,
        DEFAULT_CPUS,
        SuiteCpus::IfPrinted,
        |report, exit| report.judge_kernel_fault(exit),
    );
    Phase::new(format!("{arch}: kernel fault"), verdict)
}

/// Builds the image with `program` as root task once, boots it with each CPU count of the
/// plan and judges the serial output of each boot.
fn boot_phases(plan: &Plan, arch: Arch, program: Program, coverage: &[String]) -> Vec<Phase> {
    let request = BuildRequest {
        arch,
        profile: plan.profile,
        root: program,
        mode: ImageMode::Normal,
    };
    let built = build(request);
    plan.cpus
        .iter()
        .map(|&cpus| {
            let label = format!("{arch} {program}{}", smp_suffix(cpus));
            let booted = match &built {
                Ok(built) => boot_captured(arch, &built.kernel, cpus, &label, plan.timeout),
                Err(error) => Err(anyhow::anyhow!("{error:#}")),
            };
            let verdict = match program {
                Program::Abitest => {
                    judge_boot(booted, cpus, SuiteCpus::Required, |report, exit| {
                        report.judge_suite(exit, Coverage::Every(coverage))
                    })
                }
                // Never booted by `test`: `cargo xtask fuzz` judges the fuzzer's boots.
                Program::Init | Program::Fuzz => {
                    judge_boot(booted, cpus, SuiteCpus::IfPrinted, |report, exit| {
                        report.judge_init(exit)
                    })
                }
            };
            Phase::new(format!("{arch}: {program}{}", smp_suffix(cpus)), verdict)
        })
        .collect()
}

/// Boots init on a tracing kernel and checks the decoded trace (`crate::trace`).
fn trace_phase(plan: &Plan, arch: Arch) -> Phase {
    let verdict = match crate::trace::check_init_trace(arch, plan.profile, plan.timeout) {
        Ok(problems) if problems.is_empty() => Verdict {
            passed: 1,
            ..Verdict::default()
        },
        Ok(problems) => Verdict {
            failed: 1,
            problems,
            ..Verdict::default()
        },
        Err(error) => Verdict {
            failed: 1,
            problems: vec![format!("{error:#}")],
            ..Verdict::default()
        },
    };
    Phase::new(format!("{arch}: init traced"), verdict)
}

/// Boots the suite on `cpus` CPUs with only the tests whose names contain `filter`.
fn filtered_phase(plan: &Plan, arch: Arch, cpus: u32, filter: &str, coverage: &[String]) -> Phase {
    let request = BuildRequest {
        arch,
        profile: plan.profile,
        root: Program::Abitest,
        mode: ImageMode::Filter(filter.to_string()),
    };
    let label = format!("{arch} abitest{}", smp_suffix(cpus));
    let booted = build(request)
        .and_then(|built| boot_captured(arch, &built.kernel, cpus, &label, plan.timeout));
    let verdict = judge_boot(booted, cpus, SuiteCpus::IfPrinted, |report, exit| {
        report.judge_suite(exit, Coverage::NoneUnknown(coverage))
    });
    Phase {
        name: format!("{arch}: abitest --filter {filter}{}", smp_suffix(cpus)),
        verdict,
        note: Some("schema coverage not checked: only the matching tests ran".to_string()),
    }
}

/// Per architecture, the latest release's suite on the current kernel; one skipped phase
/// when the check does not apply, one failed phase when it cannot be prepared.
fn compat_phases(plan: &Plan) -> Vec<Phase> {
    let suite = match compat::prepare(&workspace_root()) {
        Ok(Prepared::Ready(suite)) => suite,
        Ok(Prepared::Skipped(why)) => {
            return vec![Phase {
                name: "compat".to_string(),
                verdict: Verdict::default(),
                note: Some(format!("skipped: {why}")),
            }];
        }
        Err(error) => {
            let verdict = Verdict {
                failed: 1,
                problems: vec![format!("{error:#}")],
                ..Verdict::default()
            };
            return vec![Phase::new("compat".to_string(), verdict)];
        }
    };
    let mut phases = Vec::new();
    for &arch in &plan.arches {
        let label = format!("{arch} {} abitest", suite.tag);
        let booted = suite.build(arch, plan.profile).and_then(|built| {
            boot_captured(arch, &built.kernel, DEFAULT_CPUS, &label, plan.timeout)
        });
        // The release's suite may predate the `CPUS` line; the kernel's count is checked.
        let verdict = judge_boot(
            booted,
            DEFAULT_CPUS,
            SuiteCpus::IfPrinted,
            |report, exit| report.judge_suite(exit, Coverage::Every(&suite.coverage)),
        );
        phases.push(Phase {
            name: format!("{arch}: {} abitest (compat)", suite.tag),
            verdict,
            note: Some(format!(
                "the suite as of {} on the current kernel; coverage of its own schema",
                suite.tag
            )),
        });
    }
    phases
}

/// Judges a boot on `cpus` CPUs: its serial output with `judge`, then `ABI DRIFT` lines
/// and the CPU counts the kernel (and the suite, as `suite` says) reported; a failed build
/// or boot is one failure.
fn judge_boot(
    booted: Result<CapturedBoot>,
    cpus: u32,
    suite: SuiteCpus,
    judge: impl FnOnce(&SerialReport, Option<MachineExit>) -> Verdict,
) -> Verdict {
    match booted {
        Ok(boot) => {
            let report = SerialReport::parse(boot.lines.iter().map(String::as_str));
            let verdict = report.judge_drift(judge(&report, boot.exit));
            report.judge_cpus(verdict, cpus, suite)
        }
        Err(error) => Verdict {
            failed: 1,
            problems: vec![format!("{error:#}")],
            ..Verdict::default()
        },
    }
}

/// Reads libtest's `test <name> ... FAILED` line.
fn failed_test_name(line: &str) -> Option<&str> {
    let name = line
        .trim()
        .strip_prefix("test ")?
        .strip_suffix(" ... FAILED")?;
    Some(name)
}

/// Reads libtest's `test result: ok. 13 passed; 0 failed; ...` line.
fn parse_test_result(line: &str) -> Option<(u64, u64)> {
    let rest = line.trim().strip_prefix("test result: ")?;
    let mut passed = None;
    let mut failed = None;
    for part in rest.split(';') {
        let mut words = part.split_whitespace().rev();
        let (Some(what), Some(count)) = (words.next(), words.next()) else {
            continue;
        };
        match what {
            "passed" => passed = count.parse().ok(),
            "failed" => failed = count.parse().ok(),
            _ => {}
        }
    }
    Some((passed?, failed?))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The excerpt of a failed run's summary that docs/adding-a-syscall.md shows (the block
    /// after its `<!-- summary-excerpt -->` mark) is what the summary prints for a suite
    /// run that misses the entry.
    #[test]
    fn the_documented_summary_excerpt_is_what_a_run_prints() {
        let doc = std::fs::read_to_string(
            crate::cargo::workspace_root().join("docs/adding-a-syscall.md"),
        )
        .unwrap();
        let after = &doc[doc.find("<!-- summary-excerpt -->").expect("the mark")..];
        let start = after.find("```").unwrap();
        let start = start + after[start..].find('\n').unwrap() + 1;
        let excerpt = &after[start..start + after[start..].find("```").unwrap()];

        let serial = "COVERS sys.null\nTEST tcb_get_cpu_times ... ok\n\
                      TEST schema_coverage ... FAILED: not covered: Tcb.get_priority\n\
                      RESULT 1 passed, 1 failed\nshutdown requested with code 1\n";
        let entries = ["sys.null".to_string(), "Tcb.get_priority".to_string()];
        let verdict = SerialReport::parse(serial.lines())
            .judge_suite(Some(MachineExit::Shutdown(1)), Coverage::Every(&entries));
        let phases = [Phase::new("x86_64: abitest".to_string(), verdict)];
        let summary = summary_text(&phases);
        for line in excerpt.lines() {
            assert!(
                summary.lines().any(|printed| printed == line),
                "docs/adding-a-syscall.md shows `{line}`, the summary prints:\n{summary}"
            );
        }
    }

    #[test]
    fn libtest_result_lines_parse() {
        let ok = "test result: ok. 13 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.00s";
        let bad = "test result: FAILED. 2 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out";
        assert_eq!(parse_test_result(ok), Some((13, 0)));
        assert_eq!(parse_test_result(bad), Some((2, 1)));
        assert_eq!(parse_test_result("running 13 tests"), None);
        assert_eq!(
            failed_test_name("test tidy::no_todo ... FAILED"),
            Some("tidy::no_todo")
        );
        assert_eq!(failed_test_name("test tidy::no_todo ... ok"), None);
    }
}
