//! `cargo xtask fuzz`: boots the in-VM fuzzer (servers/fuzz) and reports its speed, its coverage of entries and error codes, and how to replay a kernel panic or hang.

use crate::build::{BuildRequest, ImageMode, build};
use crate::cargo::{Profile, workspace_root};
use crate::protocol::drift_report;
use crate::targets::{Arch, DEFAULT_CPUS, MachineExit, Program, ensure_qemu};
use anyhow::{Context, Result, anyhow, bail};
use std::collections::{BTreeMap, VecDeque};
use std::fmt::Write as _;
use std::path::Path;
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Fuzz the kernel from inside the VM with calls generated from schema.toml.
#[derive(clap::Args)]
pub struct Args {
    /// Target architecture.
    #[arg(long, value_enum, default_value = "x86_64")]
    pub arch: Arch,
    /// Number of fuzzing calls.
    #[arg(long, default_value_t = 100_000)]
    pub iterations: u64,
    /// Seed of the call sequence (default: from the clock); the same seed replays a run.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Calls between two runs of the invariant checkers (KernelDebug.check_frames and
    /// check_mappings).
    #[arg(long, default_value_t = 10_000)]
    pub check_every: u64,
    /// Seconds without serial output after which the kernel counts as hung.
    #[arg(long, default_value_t = 60)]
    pub timeout: u64,
    /// Build optimized binaries (faster; the default debug kernel also checks overflow).
    #[arg(long)]
    pub release: bool,
}

/// Calls between two `FUZZ PROGRESS` lines: the window a replay prints.
const PROGRESS_EVERY: u64 = 10_000;

/// How many calls before a panic or hang the report shows.
const LAST_CALLS: usize = 12;

pub fn run(args: Args) -> Result<()> {
    let seed = args.seed.unwrap_or_else(clock_seed);
    let settings = Settings {
        arch: args.arch,
        profile: Profile::from_release_flag(args.release),
        seed,
        iterations: args.iterations,
        check_every: args.check_every.max(1),
        idle: Duration::from_secs(args.timeout),
    };
    let model = abigen::load(workspace_root().join("schema.toml"))
        .map_err(|diagnostics| anyhow!("{diagnostics}"))?;
    let outcome = fuzz(&settings, None)?;
    print!("{}", summary(&model, &settings, &outcome));
    let Some(failure) = outcome.failure() else {
        return Ok(());
    };
    if !outcome.kernel_died() {
        bail!("fuzzing failed: {failure}");
    }
    // Replay the seed, printing every call from the last progress line on, to show the
    // calls that led to the panic or hang.
    let from = outcome.report.progress;
    eprintln!("xtask: {failure}; replaying seed {seed} with every call from {from} printed");
    // Up to two progress windows past the last progress line: the failure came within one.
    let replay_settings = Settings {
        iterations: settings.iterations.min(from + 2 * PROGRESS_EVERY),
        ..settings.clone()
    };
    let replay = fuzz(&replay_settings, Some(from))?;
    let calls = &replay.report.last_calls;
    let mut text = String::new();
    let _ = writeln!(
        text,
        "replay ({}): the last {} calls before it:",
        replay
            .failure()
            .unwrap_or_else(|| "the replay did not fail".to_string()),
        calls.len()
    );
    for call in calls {
        let _ = writeln!(text, "  {call}");
    }
    let _ = writeln!(
        text,
        "reproduce: cargo xtask fuzz --arch {} --seed {seed} --iterations {}{}",
        settings.arch,
        settings.iterations,
        if args.release { " --release" } else { "" }
    );
    print!("{text}");
    bail!("fuzzing found a kernel failure: {failure}")
}

/// Calls and seed of the short fuzz `cargo xtask ci` runs per architecture.
pub const CI_ITERATIONS: u64 = 10_000;
pub const CI_SEED: u64 = 1;

/// The short, fixed-seed fuzz of `cargo xtask ci`: fails on a panic, hang, invariant
/// failure or ABI drift (no replay: the seed and the command are printed).
pub fn short_run(arch: Arch) -> Result<()> {
    let settings = Settings {
        arch,
        profile: Profile::Dev,
        seed: CI_SEED,
        iterations: CI_ITERATIONS,
        check_every: 2_500,
        idle: Duration::from_secs(60),
    };
    let model = abigen::load(workspace_root().join("schema.toml"))
        .map_err(|diagnostics| anyhow!("{diagnostics}"))?;
    let outcome = fuzz(&settings, None)?;
    print!("{}", summary(&model, &settings, &outcome));
    match outcome.failure() {
        None => Ok(()),
        Some(failure) => bail!(
            "{failure}; replay: cargo xtask fuzz --arch {arch} --seed {CI_SEED} --iterations {CI_ITERATIONS}"
        ),
    }
}

/// One fuzzing boot's parameters.
#[derive(Clone, Debug)]
pub struct Settings {
    pub arch: Arch,
    pub profile: Profile,
    pub seed: u64,
    pub iterations: u64,
    pub check_every: u64,
    pub idle: Duration,
}

/// How one fuzzing boot went.
#[derive(Debug)]
pub struct Outcome {
    /// How QEMU ended; `None` when xtask killed it after the idle timeout.
    pub exit: Option<MachineExit>,
    /// What the serial lines said.
    pub report: FuzzReport,
    /// Wall-clock time of the boot.
    pub elapsed: Duration,
}

/// What the fuzzer's serial lines said (docs/CONTRACTS.md, "Fuzzer protocol").
#[derive(Debug, Default, PartialEq, Eq)]
pub struct FuzzReport {
    /// Per entry from `FUZZ ENTRY` lines: calls, successes, mask of error codes.
    pub entries: BTreeMap<String, EntryCounts>,
    /// `FUZZ UNKNOWN`: calls with syscall numbers outside the ABI.
    pub unknown: EntryCounts,
    /// The `key=value` fields of `FUZZ DONE`, when it appeared.
    pub done: Option<BTreeMap<String, u64>>,
    /// The highest `calls=` of a `FUZZ PROGRESS` line (0 if none).
    pub progress: u64,
    /// `FUZZ INVARIANT` lines.
    pub invariant_failures: Vec<String>,
    /// `FUZZ SETUP FAILED` lines.
    pub setup_failures: Vec<String>,
    /// The kernel's `KERNEL PANIC` line, from the marker on.
    pub panic: Option<String>,
    /// `ABI DRIFT:` lines.
    pub abi_drift: Vec<String>,
    /// The last `FUZZ CALL` lines (without the prefix), oldest first.
    pub last_calls: VecDeque<String>,
}

/// Calls of one entry, how many succeeded, and which error codes came back.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EntryCounts {
    pub calls: u64,
    pub ok: u64,
    /// Bit `c` set: error code `c` was returned.
    pub errors: u64,
}

const PANIC_MARKER: &str = "KERNEL PANIC";

impl FuzzReport {
    /// Parses serial lines (the boot feeds them one by one through [`FuzzReport::add`]); a line may carry stray bytes a fuzzed `debug_write` printed
    /// before the marker.
    #[cfg(test)]
    pub fn parse<'a>(lines: impl IntoIterator<Item = &'a str>) -> FuzzReport {
        let mut report = FuzzReport::default();
        for line in lines {
            report.add(line);
        }
        report
    }

    /// Takes one serial line into account.
    pub fn add(&mut self, line: &str) {
        if let Some(at) = line.find(PANIC_MARKER) {
            self.panic.get_or_insert_with(|| line[at..].to_string());
            return;
        }
        if let Some(report) = drift_report(line) {
            self.abi_drift.push(report.to_string());
            return;
        }
        let Some(at) = line.find("FUZZ ") else {
            return;
        };
        let rest = &line[at + "FUZZ ".len()..];
        let (kind, rest) = rest.split_once(' ').unwrap_or((rest, ""));
        match kind {
            "ENTRY" => {
                let (name, fields) = rest.split_once(' ').unwrap_or((rest, ""));
                self.entries.insert(name.to_string(), counts(fields));
            }
            "UNKNOWN" => self.unknown = counts(rest),
            "DONE" => self.done = Some(fields(rest)),
            "PROGRESS" => {
                let calls = fields(rest).get("calls").copied().unwrap_or(0);
                self.progress = self.progress.max(calls);
            }
            "INVARIANT" => self.invariant_failures.push(rest.to_string()),
            "SETUP" => self.setup_failures.push(rest.to_string()),
            "CALL" => {
                if self.last_calls.len() == LAST_CALLS {
                    self.last_calls.pop_front();
                }
                self.last_calls.push_back(rest.to_string());
            }
            _ => {}
        }
    }
}

/// `key=value` words, values decimal or `0x` hex; others are skipped.
fn fields(text: &str) -> BTreeMap<String, u64> {
    text.split_ascii_whitespace()
        .filter_map(|word| {
            let (key, value) = word.split_once('=')?;
            let value = match value.strip_prefix("0x") {
                Some(hex) => u64::from_str_radix(hex, 16).ok()?,
                None => value.parse().ok()?,
            };
            Some((key.to_string(), value))
        })
        .collect()
}

fn counts(text: &str) -> EntryCounts {
    let fields = fields(text);
    let get = |key: &str| fields.get(key).copied().unwrap_or(0);
    EntryCounts {
        calls: get("calls"),
        ok: get("ok"),
        errors: get("errors"),
    }
}

impl Outcome {
    /// Why the run failed, or `None` when it passed.
    pub fn failure(&self) -> Option<String> {
        let report = &self.report;
        if let Some(panic) = &report.panic {
            return Some(format!("the kernel panicked ({panic})"));
        }
        let Some(exit) = self.exit else {
            return Some(format!(
                "the kernel hung: no serial output for the idle timeout after {} calls",
                report.progress
            ));
        };
        if let Some(line) = report.setup_failures.first() {
            return Some(format!("the fuzzer could not start: {line}"));
        }
        if !report.abi_drift.is_empty() {
            return Some(report.abi_drift.join("; "));
        }
        if !report.invariant_failures.is_empty() {
            return Some(format!(
                "invariant checks failed: {}",
                report.invariant_failures.join("; ")
            ));
        }
        match (exit, &report.done) {
            (MachineExit::Shutdown(0), Some(_)) => None,
            (exit, Some(_)) => Some(format!("the fuzzer finished but {exit}")),
            (exit, None) => Some(format!(
                "{exit} after {} calls without the fuzzer's FUZZ DONE line",
                report.progress
            )),
        }
    }

    /// Whether the failure is the kernel's own (a panic, a hang, a reset), which a
    /// replay of the seed can show.
    pub fn kernel_died(&self) -> bool {
        self.report.panic.is_some()
            || self.exit.is_none()
            || (self.report.done.is_none() && self.report.setup_failures.is_empty())
    }
}

/// Builds the fuzzer image, boots it and collects its report; `log_from` makes the
/// fuzzer print every call from that one on.
pub fn fuzz(settings: &Settings, log_from: Option<u64>) -> Result<Outcome> {
    ensure_qemu(settings.arch)?;
    let config = format!(
        "seed={} iterations={} check_every={} progress_every={PROGRESS_EVERY} log_from={}",
        settings.seed,
        settings.iterations,
        settings.check_every,
        log_from.unwrap_or(u64::MAX)
    );
    let request = BuildRequest {
        arch: settings.arch,
        profile: settings.profile,
        root: Program::Fuzz,
        mode: ImageMode::Fuzz(config),
    };
    let kernel = build(request)?.kernel;
    let label = format!("{} fuzz", settings.arch);
    boot(settings.arch, &kernel, &label, settings.idle)
}

/// Boots `kernel`, echoing the serial lines except `FUZZ CALL` and `FUZZ ENTRY` ones,
/// and kills QEMU after `idle` without output.
fn boot(arch: Arch, kernel: &Path, label: &str, idle: Duration) -> Result<Outcome> {
    let started = Instant::now();
    let (mut child, receiver) = crate::qemu::spawn_with_lines(arch, kernel, DEFAULT_CPUS)?;
    let mut report = FuzzReport::default();
    let mut hung = false;
    loop {
        match receiver.recv_timeout(idle) {
            Ok(line) => {
                if !line.contains("FUZZ CALL") && !line.contains("FUZZ ENTRY") {
                    println!("[{label}] {}", printable(&line));
                }
                report.add(&line);
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                hung = true;
                break;
            }
        }
    }
    let exit = if hung {
        eprintln!(
            "xtask: [{label}] no output for {} s; killing QEMU",
            idle.as_secs()
        );
        let _ = child.kill();
        child.wait().context("waiting for QEMU after killing it")?;
        None
    } else {
        let status = child.wait().context("waiting for QEMU")?;
        Some(arch.decode_exit(status.code()))
    };
    Ok(Outcome {
        exit,
        report,
        elapsed: started.elapsed(),
    })
}

/// The line without the control bytes a fuzzed `debug_write` may have sent.
fn printable(line: &str) -> String {
    line.chars()
        .filter(|c| !c.is_control() || *c == '\t')
        .collect()
}

/// The report: speed, coverage of entries and error codes, and the verdict.
pub fn summary(model: &abigen::Model, settings: &Settings, outcome: &Outcome) -> String {
    let report = &outcome.report;
    let mut out = String::new();
    let done = report.done.clone().unwrap_or_default();
    let calls = done.get("calls").copied().unwrap_or(report.progress);
    let seconds = outcome.elapsed.as_secs_f64();
    let _ = writeln!(
        out,
        "fuzz on {} with seed {}: {calls} calls in {seconds:.1} s of boot, {:.0} calls/s",
        settings.arch,
        settings.seed,
        calls as f64 / seconds.max(0.001)
    );
    if let Some(ticks) = done.get("ticks").filter(|&&t| t > 0) {
        let guest = *ticks as f64 / ticks_per_sec(model);
        let _ = writeln!(
            out,
            "  in the guest: {guest:.1} s of fuzzing, {:.0} calls/s; {} housekeeping calls, {} worker restarts, {} checker runs",
            calls as f64 / guest.max(0.001),
            done.get("housekeeping").copied().unwrap_or(0),
            done.get("restarts").copied().unwrap_or(0),
            done.get("checks").copied().unwrap_or(0)
        );
    }
    let names = entry_names(model);
    let called = names
        .iter()
        .filter(|n| report.entries.get(*n).is_some_and(|c| c.calls > 0))
        .count();
    let succeeded: Vec<&String> = names
        .iter()
        .filter(|n| report.entries.get(*n).is_some_and(|c| c.ok > 0))
        .collect();
    let _ = writeln!(
        out,
        "  entries: {called} of {} called, {} of them succeeded at least once",
        names.len(),
        succeeded.len()
    );
    let never: Vec<&str> = names
        .iter()
        .filter(|n| !succeeded.contains(n))
        .map(String::as_str)
        .collect();
    if !never.is_empty() && report.done.is_some() {
        let _ = writeln!(out, "  never succeeded: {}", never.join(", "));
    }
    let mask = report
        .entries
        .values()
        .chain([&report.unknown])
        .fold(0, |mask, counts| mask | counts.errors);
    let seen: Vec<&str> = model
        .errors
        .iter()
        .filter(|e| e.code < 64 && mask & (1 << e.code) != 0)
        .map(|e| e.name.as_str())
        .collect();
    let missing: Vec<&str> = model
        .errors
        .iter()
        .filter(|e| e.code >= 64 || mask & (1 << e.code) == 0)
        .map(|e| e.name.as_str())
        .collect();
    let _ = writeln!(
        out,
        "  error codes: {} of {} returned ({}){}",
        seen.len(),
        model.errors.len(),
        seen.join(", "),
        if missing.is_empty() || report.done.is_none() {
            String::new()
        } else {
            format!("; never: {}", missing.join(", "))
        }
    );
    match outcome.failure() {
        None => {
            let _ = writeln!(out, "  no kernel panic, hang or invariant failure");
        }
        Some(failure) => {
            let _ = writeln!(out, "  FAILED: {failure}");
            if !report.last_calls.is_empty() {
                let _ = writeln!(out, "  last calls printed:");
                for call in &report.last_calls {
                    let _ = writeln!(out, "    {call}");
                }
            }
        }
    }
    out
}

/// Every entry, spelled as the fuzzer prints it (`abi::Syscall::name`, `Invocation::name`).
fn entry_names(model: &abigen::Model) -> Vec<String> {
    let syscalls = model.syscalls.iter().map(|s| s.name.clone());
    let invocations = model.invocations.iter().map(|i| i.display_name());
    syscalls.chain(invocations).collect()
}

/// The schema's `TICKS_PER_SEC` (100 if it has none).
fn ticks_per_sec(model: &abigen::Model) -> f64 {
    model
        .constants
        .iter()
        .find(|c| c.name == "TICKS_PER_SEC")
        .map_or(100.0, |c| c.value as f64)
}

/// A seed from the clock, for runs that name none.
fn clock_seed() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| d.as_nanos() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model() -> abigen::Model {
        abigen::load(workspace_root().join("schema.toml")).expect("schema.toml is valid")
    }

    fn settings() -> Settings {
        Settings {
            arch: Arch::X86_64,
            profile: Profile::Dev,
            seed: 7,
            iterations: 20,
            check_every: 10,
            idle: Duration::from_secs(1),
        }
    }

    /// Recorded runs (serial lines, how QEMU ended) and what the verdict must say.
    #[test]
    fn recorded_runs_are_judged() {
        let clean = "FUZZ START seed=7 iterations=20 entries=37 pool_slots=900\n\
                     FUZZ PROGRESS calls=10 pool=30 restarts=0\n\
                     \0\0FUZZ PROGRESS calls=20 pool=31 restarts=1\n\
                     FUZZ ENTRY null calls=2 ok=2 errors=0x0\n\
                     FUZZ ENTRY Tcb.set_priority calls=3 ok=1 errors=0x50\n\
                     FUZZ UNKNOWN calls=1 errors=0x2\n\
                     FUZZ DONE calls=20 housekeeping=5 restarts=1 checks=4 invariant_failures=0 ticks=50 seed=7\n\
                     shutdown requested with code 0";
        let panic = "FUZZ PROGRESS calls=10 pool=30 restarts=0\n\
                     FUZZ CALL 11 Tcb.resume number=0x1 regs=0x12 0x41 0x0 0x0 0x0 0x0\n\
                     KERNEL PANIC: panicked at kernel/src/sched.rs:1:1: broken";
        let invariant = "FUZZ INVARIANT KernelDebug.check_frames failed with IllegalOperation after call 10\n\
                         FUZZ DONE calls=20 ticks=5";
        let model = model();
        let called = format!("2 of {} called", entry_names(&model).len());
        let returned = format!("3 of {} returned", model.errors.len());
        // (serial lines, how QEMU ended, the failure expected, fragments of the summary)
        type Case<'a> = (&'a str, Option<MachineExit>, Option<&'a str>, &'a [&'a str]);
        let cases: [Case<'_>; 4] = [
            (
                clean,
                Some(MachineExit::Shutdown(0)),
                None,
                &[
                    "20 calls",
                    &called,
                    "2 of them succeeded",
                    "never succeeded: invoke",
                    &returned,
                    "InvalidSyscall",
                ],
            ),
            (
                panic,
                Some(MachineExit::Shutdown(1)),
                Some("the kernel panicked (KERNEL PANIC: panicked at"),
                &["FAILED", "11 Tcb.resume number=0x1"],
            ),
            (panic, None, Some("panicked"), &["FAILED"]),
            (
                invariant,
                Some(MachineExit::Shutdown(1)),
                Some("invariant checks failed: KernelDebug.check_frames"),
                &["FAILED"],
            ),
        ];
        for (lines, exit, failure, fragments) in cases {
            let outcome = Outcome {
                exit,
                report: FuzzReport::parse(lines.lines()),
                elapsed: Duration::from_secs(2),
            };
            match (outcome.failure(), failure) {
                (None, None) => {}
                (Some(got), Some(want)) => assert!(got.contains(want), "`{got}` lacks `{want}`"),
                (got, want) => panic!("failure {got:?}, expected {want:?}"),
            }
            let text = summary(&model, &settings(), &outcome);
            for fragment in fragments {
                assert!(
                    text.contains(fragment),
                    "summary lacks `{fragment}`:\n{text}"
                );
            }
        }
    }

    #[test]
    fn a_silent_kernel_is_a_hang_replayed_from_the_last_progress() {
        let outcome = Outcome {
            exit: None,
            report: FuzzReport::parse(["FUZZ PROGRESS calls=30000 pool=1 restarts=0"]),
            elapsed: Duration::from_secs(2),
        };
        let failure = outcome.failure().expect("a hang fails");
        assert!(
            failure.contains("hung") && failure.contains("30000"),
            "{failure}"
        );
        assert!(outcome.kernel_died());
        assert_eq!(outcome.report.progress, 30_000);
    }
}
