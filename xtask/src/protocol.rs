//! The in-QEMU test protocol (docs/CONTRACTS.md): parsing `TEST`, `COVERS`, `RESULT`, `BENCH`, `CPUS`, `INIT OK`, `arch selftest: OK`, the kernel's CPU count, the kernel stack guard test's and `ABI DRIFT:` lines and judging a boot.

use crate::targets::MachineExit;
use std::collections::BTreeSet;

/// The line a kernel built with the `arch-selftest` feature prints when every check passed.
pub const ARCH_SELFTEST_OK: &str = "arch selftest: OK";

/// What a kernel built with the `kstack-guard-test` feature prints, followed by the TCB
/// address, right before it overflows that thread's kernel stack on purpose.
pub const KSTACK_GUARD_ARMED: &str = "kstack guard: overflowing the kernel stack of TCB ";

/// The start of the kernel's panic message for a kernel stack overflow, followed by the
/// TCB address of the thread whose stack ran into its guard page.
pub const KSTACK_OVERFLOW_PANIC: &str = "kernel stack overflow in thread TCB ";

/// What a kernel built with the `kernel-fault-test` feature prints right before it
/// executes an undefined instruction in kernel mode.
pub const KERNEL_FAULT_ARMED: &str =
    "kernel fault test: executing an undefined instruction in kernel mode";

/// What both ports' panic for an unexpected exception in kernel mode says, after the
/// exception's name and number (the register dump comes before it).
pub const KERNEL_MODE_EXCEPTION_PANIC: &str = " in kernel mode at ";

/// The shutdown code of a kernel panic (`kernel/src/panic.rs`).
const PANIC_SHUTDOWN_CODE: u32 = 1;

/// What the kernel prints when a handler returned an error its schema entry does not
/// declare; any boot that prints it fails.
pub const ABI_DRIFT: &str = "ABI DRIFT:";

/// What a generated protocol server prints when a method returned an error its message
/// does not declare (`PROTOCOL DRIFT: Echo.refuse returned OutOfMemory`); fails a boot like
/// [`ABI_DRIFT`].
pub const PROTOCOL_DRIFT: &str = "PROTOCOL DRIFT:";

/// The drift report in `line` ([`ABI_DRIFT`] or [`PROTOCOL_DRIFT`]), from its marker on;
/// found anywhere in the line, since output of another writer may precede it.
pub fn drift_report(line: &str) -> Option<&str> {
    [ABI_DRIFT, PROTOCOL_DRIFT]
        .iter()
        .find_map(|marker| line.find(marker))
        .map(|at| &line[at..])
}

/// What the kernel prints once it has brought up the CPUs: `smp: <N> CPUs running`.
pub const KERNEL_CPUS: (&str, &str) = ("smp: ", " CPUs running");

/// What abitest prints, followed by `BootInfo.cpu_count`.
pub const SUITE_CPUS: &str = "CPUS ";

/// What the kernel prints, followed by the code, when user space asks it to shut down.
const SHUTDOWN_REQUESTED: &str = "shutdown requested with code ";

/// Everything the protocol lines of one boot said.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct SerialReport {
    /// Names of tests that printed `ok`.
    pub passed: Vec<String>,
    /// Tests that printed `FAILED`, with the reason.
    pub failed: Vec<(String, String)>,
    /// Every `COVERS` entry.
    pub covers: BTreeSet<String>,
    /// The `RESULT <N> passed, <M> failed` numbers, if the line appeared.
    pub result: Option<(u64, u64)>,
    /// Every `BENCH` line.
    pub benches: Vec<Bench>,
    /// Whether init printed `INIT OK`.
    pub init_ok: bool,
    /// Whether an arch self-test kernel printed [`ARCH_SELFTEST_OK`].
    pub arch_selftest_ok: bool,
    /// The TCB address after [`KSTACK_GUARD_ARMED`], if the line appeared.
    pub kstack_guard_armed: Option<String>,
    /// The TCB address after every [`KSTACK_OVERFLOW_PANIC`].
    pub kstack_overflows: Vec<String>,
    /// Whether the [`KERNEL_FAULT_ARMED`] line appeared.
    pub kernel_fault_armed: bool,
    /// Lines holding [`KERNEL_MODE_EXCEPTION_PANIC`] after the kernel fault test armed.
    pub kernel_mode_exceptions: u64,
    /// Every [`ABI_DRIFT`] and [`PROTOCOL_DRIFT`] report, from the marker on (`ABI DRIFT:
    /// Tcb.resume returned ...`, `PROTOCOL DRIFT: Echo.refuse returned ...`).
    pub abi_drift: Vec<String>,
    /// The code of the kernel's last `shutdown requested with code <N>` line.
    pub shutdown_requested: Option<u32>,
    /// The name of the last test that printed a `TEST` line, whatever its outcome.
    pub last_test: Option<String>,
    /// The count of the kernel's [`KERNEL_CPUS`] line.
    pub kernel_cpus: Option<u32>,
    /// The count of the suite's [`SUITE_CPUS`] line.
    pub suite_cpus: Option<u32>,
}

/// Whether a boot must print the suite's [`SUITE_CPUS`] line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SuiteCpus {
    /// The whole current suite ran, whose `cpu_count` test prints it.
    Required,
    /// Checked only if printed: another program, a filtered or an older suite.
    IfPrinted,
}

/// How much of the schema a suite run must cover.
#[derive(Clone, Copy, Debug)]
pub enum Coverage<'a> {
    /// A `COVERS` line for every one of these entries, and for no other.
    Every(&'a [String]),
    /// Only some tests ran (`--filter`): `COVERS` lines may name only these entries.
    NoneUnknown(&'a [String]),
}

/// One `BENCH <name> median=<cycles> iterations=<n>` line.
#[derive(Debug, PartialEq, Eq)]
pub struct Bench {
    pub name: String,
    pub median_cycles: u64,
    pub iterations: u64,
}

/// The verdict on one boot: how many checks passed and what went wrong.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Verdict {
    pub passed: u64,
    pub failed: u64,
    /// One sentence per problem, for the summary.
    pub problems: Vec<String>,
    /// The names of the tests that failed, for the summary's list.
    pub failed_tests: Vec<String>,
}

impl SerialReport {
    /// Parses serial output; lines that are not part of the protocol are ignored.
    pub fn parse<'a>(lines: impl IntoIterator<Item = &'a str>) -> SerialReport {
        let mut report = SerialReport::default();
        for line in lines {
            report.add_line(line.trim());
        }
        report
    }

    fn add_line(&mut self, line: &str) {
        if let Some(code) = shutdown_request(line) {
            self.shutdown_requested = Some(code);
            return;
        }
        if let Some(report) = drift_report(line) {
            self.abi_drift.push(report.to_string());
            return;
        }
        if let Some(at) = line.find(KSTACK_OVERFLOW_PANIC) {
            self.kstack_overflows
                .push(first_word(&line[at + KSTACK_OVERFLOW_PANIC.len()..]));
            return;
        }
        if line.contains(KERNEL_FAULT_ARMED) {
            self.kernel_fault_armed = true;
        } else if self.kernel_fault_armed && line.contains(KERNEL_MODE_EXCEPTION_PANIC) {
            self.kernel_mode_exceptions += 1;
        }
        if let Some(rest) = line.strip_prefix(KSTACK_GUARD_ARMED) {
            self.kstack_guard_armed = Some(first_word(rest));
        } else if let Some(rest) = line.strip_prefix("TEST ") {
            if let Some((name, outcome)) = rest.split_once(" ... ") {
                let name = name.trim().to_string();
                self.last_test = Some(name.clone());
                match outcome.strip_prefix("FAILED") {
                    Some(why) => {
                        let why = why.trim_start_matches(':').trim().to_string();
                        self.failed.push((name, why));
                    }
                    None if outcome.trim() == "ok" => self.passed.push(name),
                    None => self
                        .failed
                        .push((name, format!("unrecognized outcome `{outcome}`"))),
                }
            }
        } else if let Some(entry) = line.strip_prefix("COVERS ") {
            self.covers.insert(entry.trim().to_string());
        } else if let Some(rest) = line.strip_prefix("RESULT ") {
            self.result = parse_result(rest);
        } else if let Some(count) = line.strip_prefix(SUITE_CPUS) {
            self.suite_cpus = count.trim().parse().ok();
        } else if let Some(count) = line
            .strip_prefix(KERNEL_CPUS.0)
            .and_then(|rest| rest.strip_suffix(KERNEL_CPUS.1))
        {
            self.kernel_cpus = count.trim().parse().ok();
        } else if let Some(rest) = line.strip_prefix("BENCH ") {
            if let Some(bench) = parse_bench(rest) {
                self.benches.push(bench);
            }
        } else if line == "INIT OK" {
            self.init_ok = true;
        } else if line == ARCH_SELFTEST_OK {
            self.arch_selftest_ok = true;
        }
    }

    /// Judges an abitest run: clean shutdown, a consistent `RESULT` line with no
    /// failures, and the `COVERS` lines `coverage` asks for.
    pub fn judge_suite(&self, exit: Option<MachineExit>, coverage: Coverage<'_>) -> Verdict {
        let mut verdict = Verdict {
            passed: self.passed.len() as u64,
            failed: self.failed.len() as u64,
            ..Verdict::default()
        };
        for (name, why) in &self.failed {
            verdict
                .problems
                .push(format!("test `{name}` failed: {why}"));
            verdict.failed_tests.push(name.clone());
        }
        let (expected_coverage, every) = match coverage {
            Coverage::Every(entries) => (entries, true),
            Coverage::NoneUnknown(entries) => (entries, false),
        };
        match self.result {
            None => verdict.problems.push("no `RESULT` line".to_string()),
            Some((passed, failed)) if passed != verdict.passed || failed != verdict.failed => {
                verdict.problems.push(format!(
                    "`RESULT {passed} passed, {failed} failed` disagrees with the TEST lines \
                     ({} ok, {} FAILED)",
                    verdict.passed, verdict.failed
                ));
            }
            Some(_) => {}
        }
        let missing: Vec<&str> = expected_coverage
            .iter()
            .filter(|entry| every && !self.covers.contains(*entry))
            .map(String::as_str)
            .collect();
        if !missing.is_empty() {
            verdict
                .problems
                .push(format!("no COVERS line for: {}", missing.join(", ")));
        }
        let unknown: Vec<&str> = self
            .covers
            .iter()
            .filter(|entry| !expected_coverage.contains(entry))
            .map(String::as_str)
            .collect();
        if !unknown.is_empty() {
            verdict.problems.push(format!(
                "COVERS names entries not in schema.toml: {}",
                unknown.join(", ")
            ));
        }
        check_exit(exit, self.shutdown_requested, &mut verdict);
        if exit.is_none() || self.result.is_none() {
            // The suite stopped early: the test after the last one that reported is the culprit.
            verdict.problems.push(match &self.last_test {
                Some(name) => format!(
                    "the suite stopped after test `{name}` (the last TEST line): the test that \
                     follows it in servers/abitest/src/tests/mod.rs hung or crashed"
                ),
                None => "the suite stopped before its first TEST line".to_string(),
            });
        }
        if !verdict.problems.is_empty() && verdict.failed == 0 {
            // The suite itself reported no failure, but the run is still wrong: count it.
            verdict.failed = 1;
        }
        verdict
    }

    /// Adds one problem per [`ABI_DRIFT`] line to `verdict` (any boot kind); a verdict with
    /// drift has at least one failure.
    pub fn judge_drift(&self, mut verdict: Verdict) -> Verdict {
        for line in &self.abi_drift {
            let who = if line.starts_with(PROTOCOL_DRIFT) {
                "a protocol server"
            } else {
                "the kernel"
            };
            verdict.problems.push(format!("{who} reported `{line}`"));
        }
        if !self.abi_drift.is_empty() && verdict.failed == 0 {
            verdict.failed = 1;
            verdict.passed = verdict.passed.saturating_sub(1);
        }
        verdict
    }

    /// Adds one problem to `verdict` (any boot kind) when the kernel did not say it runs
    /// `expected` CPUs (the `-smp` count QEMU got), and one when the suite's `CPUS` line
    /// (`BootInfo.cpu_count`) is missing where `suite` requires it or names another
    /// count; a verdict with such a problem has at least one failure.
    pub fn judge_cpus(&self, mut verdict: Verdict, expected: u32, suite: SuiteCpus) -> Verdict {
        let before = verdict.problems.len();
        let (prefix, suffix) = KERNEL_CPUS;
        match self.kernel_cpus {
            None => verdict.problems.push(format!(
                "the kernel never printed `{prefix}<N>{suffix}` (QEMU had {expected} CPUs)"
            )),
            Some(count) if count != expected => verdict.problems.push(format!(
                "the kernel runs {count} CPUs, but QEMU had {expected} (`-smp {expected}`)"
            )),
            Some(_) => {}
        }
        match (self.suite_cpus, suite) {
            (None, SuiteCpus::Required) => verdict.problems.push(format!(
                "the suite never printed `{SUITE_CPUS}<n>` (its cpu_count test did not run)"
            )),
            (Some(count), _) if count != expected => verdict.problems.push(format!(
                "BootInfo.cpu_count is {count}, but QEMU had {expected} CPUs"
            )),
            _ => {}
        }
        if verdict.problems.len() > before && verdict.failed == 0 {
            verdict.failed = 1;
            verdict.passed = verdict.passed.saturating_sub(1);
        }
        verdict
    }

    /// Judges an init boot: `INIT OK` and a clean shutdown; one check.
    pub fn judge_init(&self, exit: Option<MachineExit>) -> Verdict {
        judge_one_line(
            self.init_ok,
            "init never printed `INIT OK`",
            exit,
            self.shutdown_requested,
        )
    }

    /// Judges an arch self-test boot: [`ARCH_SELFTEST_OK`] and a clean shutdown; one check.
    pub fn judge_arch_selftest(&self, exit: Option<MachineExit>) -> Verdict {
        let missing = format!("the kernel never printed `{ARCH_SELFTEST_OK}`");
        judge_one_line(
            self.arch_selftest_ok,
            &missing,
            exit,
            self.shutdown_requested,
        )
    }

    /// Judges a kernel stack guard boot: it armed the overflow of one thread, then
    /// panicked with a kernel stack overflow naming that thread, and QEMU's status is the
    /// panic's. One check.
    pub fn judge_kstack_guard(&self, exit: Option<MachineExit>) -> Verdict {
        let mut verdict = Verdict::default();
        match (&self.kstack_guard_armed, self.kstack_overflows.first()) {
            (None, _) => verdict.problems.push(format!(
                "the kernel never printed `{KSTACK_GUARD_ARMED}<address>`"
            )),
            (Some(_), None) => verdict.problems.push(format!(
                "the kernel never panicked with `{KSTACK_OVERFLOW_PANIC}<address>`"
            )),
            (Some(armed), Some(found)) if armed != found => verdict.problems.push(format!(
                "the stack overflow panic names TCB {found}, but the test overflowed TCB {armed}"
            )),
            _ => {}
        }
        expected_panic(exit, verdict)
    }

    /// Judges the kernel fault test: after its armed line, a panic for an exception in
    /// kernel mode, and the panic's exit status (a silent power-off fails).
    pub fn judge_kernel_fault(&self, exit: Option<MachineExit>) -> Verdict {
        let mut verdict = Verdict::default();
        if !self.kernel_fault_armed {
            verdict
                .problems
                .push(format!("the kernel never printed `{KERNEL_FAULT_ARMED}`"));
        } else if self.kernel_mode_exceptions == 0 {
            verdict.problems.push(format!(
                "no panic for an exception `{}` an address after the undefined instruction",
                KERNEL_MODE_EXCEPTION_PANIC.trim()
            ));
        }
        expected_panic(exit, verdict)
    }

    /// Judges a benchmark run: at least one `BENCH` line and a clean shutdown.
    pub fn judge_bench(&self, exit: Option<MachineExit>) -> Verdict {
        let mut verdict = Verdict {
            passed: self.benches.len() as u64,
            ..Verdict::default()
        };
        if self.benches.is_empty() {
            verdict.problems.push("no `BENCH` lines".to_string());
        }
        for (name, why) in &self.failed {
            verdict
                .problems
                .push(format!("benchmark `{name}` failed: {why}"));
        }
        check_exit(exit, self.shutdown_requested, &mut verdict);
        verdict.failed = verdict.problems.len() as u64;
        verdict
    }
}

/// One check: the boot printed its success line (`printed`, else the problem `missing`)
/// and shut down cleanly.
fn judge_one_line(
    printed: bool,
    missing: &str,
    exit: Option<MachineExit>,
    requested: Option<u32>,
) -> Verdict {
    let mut verdict = Verdict::default();
    if !printed {
        verdict.problems.push(missing.to_string());
    }
    check_exit(exit, requested, &mut verdict);
    if verdict.problems.is_empty() {
        verdict.passed = 1;
    } else {
        verdict.failed = 1;
    }
    verdict
}

/// The code of the kernel's `shutdown requested with code <N>` line, if `line` is one.
pub fn shutdown_request(line: &str) -> Option<u32> {
    line.trim().strip_prefix(SHUTDOWN_REQUESTED)?.parse().ok()
}

/// A clean exit is shutdown code 0 that the kernel itself asked for: on x86_64 QEMU's own
/// start-up failures exit with the same status (1) as the kernel's shutdown(0).
fn check_exit(exit: Option<MachineExit>, requested: Option<u32>, verdict: &mut Verdict) {
    match exit {
        Some(MachineExit::Shutdown(0)) if requested != Some(0) => verdict.problems.push(format!(
            "QEMU's exit status means shutdown code 0, but the kernel never printed \
             `{SHUTDOWN_REQUESTED}0`: QEMU itself failed (see its messages above)"
        )),
        Some(MachineExit::Shutdown(0)) => {}
        Some(other) => verdict
            .problems
            .push(format!("{other} (expected shutdown code 0)")),
        None => verdict
            .problems
            .push("timed out without a shutdown".to_string()),
    }
}

/// The text up to the first whitespace or `:` (an address followed by the rest of a line).
fn first_word(text: &str) -> String {
    text.split(|c: char| c.is_whitespace() || c == ':')
        .next()
        .unwrap_or_default()
        .to_string()
}

/// Parses `<N> passed, <M> failed`.
fn parse_result(rest: &str) -> Option<(u64, u64)> {
    let (passed, failed) = rest.split_once(',')?;
    let passed = passed.trim().strip_suffix("passed")?.trim().parse().ok()?;
    let failed = failed.trim().strip_suffix("failed")?.trim().parse().ok()?;
    Some((passed, failed))
}

/// Parses `<name> median=<cycles> iterations=<n>`.
fn parse_bench(rest: &str) -> Option<Bench> {
    let mut words = rest.split_whitespace();
    let name = words.next()?.to_string();
    let mut median_cycles = None;
    let mut iterations = None;
    for word in words {
        match word.split_once('=')? {
            ("median", value) => median_cycles = value.parse().ok(),
            ("iterations", value) => iterations = value.parse().ok(),
            _ => {}
        }
    }
    Some(Bench {
        name,
        median_cycles: median_cycles?,
        iterations: iterations?,
    })
}

/// Finishes the verdict of a boot that must end in a kernel panic: the panic's exit
/// status, then one test passed or failed by the problems found.
fn expected_panic(exit: Option<MachineExit>, mut verdict: Verdict) -> Verdict {
    match exit {
        Some(MachineExit::Shutdown(PANIC_SHUTDOWN_CODE)) => {}
        Some(other) => verdict.problems.push(format!(
            "{other} (expected shutdown code {PANIC_SHUTDOWN_CODE}, a kernel panic)"
        )),
        None => verdict
            .problems
            .push("timed out without a shutdown".to_string()),
    }
    if verdict.problems.is_empty() {
        verdict.passed = 1;
    } else {
        verdict.failed = 1;
    }
    verdict
}

#[cfg(test)]
mod tests {
    use super::*;

    const CLEAN: Option<MachineExit> = Some(MachineExit::Shutdown(0));

    fn coverage(entries: &[&str]) -> Vec<String> {
        entries.iter().map(|entry| entry.to_string()).collect()
    }

    /// Parses `serial`, judges it as a suite run, and compares the verdict.
    fn check_suite(serial: &str, exit: Option<MachineExit>, expected: (u64, u64, &[&str])) {
        let report = SerialReport::parse(serial.lines());
        let entries = coverage(&["sys.null", "Tcb.resume"]);
        let verdict = report.judge_suite(exit, Coverage::Every(&entries));
        let (passed, failed, problems) = expected;
        assert_eq!(
            (verdict.passed, verdict.failed),
            (passed, failed),
            "{serial}\n{verdict:?}"
        );
        assert_eq!(verdict.problems.len(), problems.len(), "{verdict:?}");
        for (problem, fragment) in verdict.problems.iter().zip(problems) {
            assert!(problem.contains(fragment), "`{problem}` lacks `{fragment}`");
        }
    }

    #[test]
    fn suite_verdicts() {
        let good = "kernel banner\nTEST a ... ok\nCOVERS sys.null\nTEST b ... ok\r\n\
                    COVERS Tcb.resume\nRESULT 2 passed, 0 failed\nshutdown requested with code 0\n";
        check_suite(good, CLEAN, (2, 0, &[]));
        // The exit status alone is not a clean shutdown: QEMU's own failures look the same.
        let unrequested = good.replace("shutdown requested with code 0\n", "");
        check_suite(&unrequested, CLEAN, (2, 1, &["QEMU itself failed"]));
        check_suite(good, Some(MachineExit::Shutdown(1)), (2, 1, &["code 1"]));
        check_suite(good, Some(MachineExit::Reset), (2, 1, &["reset"]));
        check_suite(good, None, (2, 1, &["timed out", "stopped after test `b`"]));

        let failing = "TEST a ... FAILED: expected 3, got 4\nCOVERS sys.null\nCOVERS Tcb.resume\n\
                       RESULT 0 passed, 1 failed\nshutdown requested with code 1\n";
        check_suite(
            failing,
            Some(MachineExit::Shutdown(1)),
            (0, 1, &["expected 3, got 4", "code 1"]),
        );

        let uncovered = "TEST a ... ok\nCOVERS sys.null\nCOVERS Tcb.bogus\nRESULT 1 passed, 0 failed\n\
             shutdown requested with code 0\n";
        check_suite(uncovered, CLEAN, (1, 1, &["Tcb.resume", "Tcb.bogus"]));

        let inconsistent = "TEST a ... ok\nCOVERS sys.null\nCOVERS Tcb.resume\nRESULT 5 passed, 0 failed\n\
             shutdown requested with code 0\n";
        check_suite(inconsistent, CLEAN, (1, 1, &["disagrees"]));

        check_suite(
            "TEST a ... ok\nshutdown requested with code 0\n",
            CLEAN,
            (
                1,
                1,
                &[
                    "no `RESULT`",
                    "sys.null, Tcb.resume",
                    "stopped after test `a`",
                ],
            ),
        );
    }

    #[test]
    fn filtered_suite_verdicts() {
        let entries = coverage(&["sys.null", "Tcb.resume"]);
        let judge = |serial: &str| {
            SerialReport::parse(serial.lines()).judge_suite(CLEAN, Coverage::NoneUnknown(&entries))
        };
        // Entries the filtered-out tests cover may be missing...
        let partial = "COVERS sys.null\nTEST a ... ok\nRESULT 1 passed, 0 failed\n\
                       shutdown requested with code 0\n";
        assert_eq!(
            judge(partial),
            Verdict {
                passed: 1,
                ..Verdict::default()
            }
        );
        // ...but unknown ones still fail, and failed tests are listed by name.
        let bad = "COVERS Tcb.bogus\nTEST a ... FAILED: no\nTEST b ... ok\nTEST c ... FAILED: no\n\
                   RESULT 1 passed, 2 failed\nshutdown requested with code 1\n";
        let verdict = SerialReport::parse(bad.lines()).judge_suite(
            Some(MachineExit::Shutdown(1)),
            Coverage::NoneUnknown(&entries),
        );
        assert_eq!(verdict.failed_tests, ["a", "c"]);
        assert!(
            verdict.problems.iter().any(|p| p.contains("Tcb.bogus")),
            "{verdict:?}"
        );
    }

    #[test]
    fn init_verdicts() {
        let ok = SerialReport::parse(["booting", "INIT OK", "shutdown requested with code 0"]);
        assert_eq!(
            ok.judge_init(CLEAN),
            Verdict {
                passed: 1,
                ..Verdict::default()
            }
        );
        assert_eq!(ok.judge_init(Some(MachineExit::Reset)).failed, 1);
        let silent = SerialReport::parse(["booting", "shutdown requested with code 0"]);
        assert_eq!(
            silent.judge_init(CLEAN).problems,
            ["init never printed `INIT OK`"]
        );
    }

    #[test]
    fn arch_selftest_verdicts() {
        let ok = SerialReport::parse([
            "arch selftest: entering user mode",
            "arch selftest: OK\r",
            "shutdown requested with code 0",
        ]);
        assert_eq!(
            ok.judge_arch_selftest(CLEAN),
            Verdict {
                passed: 1,
                ..Verdict::default()
            }
        );
        // The OK line alone is not enough: the exit status must agree, and the other way round.
        let panicked = ok.judge_arch_selftest(Some(MachineExit::Shutdown(1)));
        assert_eq!((panicked.passed, panicked.failed), (0, 1));
        assert!(panicked.problems[0].contains("code 1"), "{panicked:?}");
        assert_eq!(ok.judge_arch_selftest(None).failed, 1);
        let silent = SerialReport::parse([
            "arch selftest: entering user mode",
            "shutdown requested with code 0",
        ]);
        assert_eq!(
            silent.judge_arch_selftest(CLEAN).problems,
            ["the kernel never printed `arch selftest: OK`"]
        );
        assert!(!SerialReport::parse(["INIT OK"]).arch_selftest_ok);
    }

    /// Checks a one-test verdict: passed without problems when `problems` is empty, else
    /// failed with exactly one problem per fragment, each containing it.
    fn expect_one_verdict(verdict: &Verdict, serial: &[&str], problems: &[&str]) {
        let expected = if problems.is_empty() { (1, 0) } else { (0, 1) };
        assert_eq!(
            (verdict.passed, verdict.failed),
            expected,
            "{serial:?}\n{verdict:?}"
        );
        assert_eq!(verdict.problems.len(), problems.len(), "{verdict:?}");
        for (problem, fragment) in verdict.problems.iter().zip(problems) {
            assert!(problem.contains(fragment), "`{problem}` lacks `{fragment}`");
        }
    }

    #[test]
    fn kernel_fault_verdicts() {
        const PANIC: &str = "unexpected Invalid opcode (vector 6) in kernel mode at rip 0xffffffff80001234, error code 0x0, cr2 0x0";
        for (serial, exit, problems) in [
            (
                &[
                    KERNEL_FAULT_ARMED,
                    "KERNEL PANIC: panicked at kernel/src/arch/x86_64/trap.rs:1:1:",
                    PANIC,
                ][..],
                Some(MachineExit::Shutdown(1)),
                &[][..],
            ),
            // The armed line is what makes an exception count.
            (
                &[PANIC][..],
                Some(MachineExit::Shutdown(1)),
                &["never printed"][..],
            ),
            // The old aarch64 behaviour: a quiet power-off after the undefined instruction.
            (
                &[KERNEL_FAULT_ARMED][..],
                Some(MachineExit::Shutdown(0)),
                &["no panic", "code 0"][..],
            ),
            (&[KERNEL_FAULT_ARMED, PANIC][..], None, &["timed out"][..]),
        ] {
            let verdict = SerialReport::parse(serial.iter().copied()).judge_kernel_fault(exit);
            expect_one_verdict(&verdict, serial, problems);
        }
    }

    #[test]
    fn kstack_guard_verdicts() {
        const ARMED: &str = "kstack guard: overflowing the kernel stack of TCB 0x378000";
        const PANIC_LINE: &str = "kernel stack overflow in thread TCB 0x378000: its kernel stack \
                                  ran into the guard page at 0xffff80000037b000 (pc 0x1)";
        const PANICKED: Option<MachineExit> = Some(MachineExit::Shutdown(1));
        let cases: [(&[&str], Option<MachineExit>, &[&str]); 6] = [
            (
                &[
                    ARMED,
                    "KERNEL PANIC: panicked at kernel/src/arch/kstack.rs:56:5:",
                    PANIC_LINE,
                ],
                PANICKED,
                &[],
            ),
            // The expected panic is the only way to pass: a clean shutdown is a failure.
            (
                &[ARMED, PANIC_LINE, "shutdown requested with code 0"],
                CLEAN,
                &["expected shutdown code 1"],
            ),
            (
                &[ARMED, "KERNEL PANIC: some other invariant"],
                PANICKED,
                &["never panicked with `kernel stack overflow"],
            ),
            (
                &[PANIC_LINE],
                PANICKED,
                &["never printed `kstack guard: overflowing"],
            ),
            (
                &[ARMED, "kernel stack overflow in thread TCB 0x370000: ..."],
                PANICKED,
                &["names TCB 0x370000, but the test overflowed TCB 0x378000"],
            ),
            (&[ARMED], None, &["never panicked", "timed out"]),
        ];
        for (serial, exit, problems) in cases {
            let verdict = SerialReport::parse(serial.iter().copied()).judge_kstack_guard(exit);
            expect_one_verdict(&verdict, serial, problems);
        }
    }

    #[test]
    fn abi_drift_fails_any_boot() {
        let serial = [
            "booting",
            "\u{1b}[0mABI DRIFT: Tcb.resume returned undeclared error Busy\r",
            "INIT OK",
            "shutdown requested with code 0",
        ];
        let report = SerialReport::parse(serial);
        assert_eq!(
            report.abi_drift,
            ["ABI DRIFT: Tcb.resume returned undeclared error Busy"]
        );
        let verdict = report.judge_drift(report.judge_init(CLEAN));
        assert_eq!((verdict.passed, verdict.failed), (0, 1), "{verdict:?}");
        assert_eq!(
            verdict.problems,
            ["the kernel reported `ABI DRIFT: Tcb.resume returned undeclared error Busy`"]
        );
        // A boot that already failed keeps its count and gains the drift problem.
        let failed = report.judge_drift(report.judge_init(None));
        assert_eq!((failed.failed, failed.problems.len()), (1, 2), "{failed:?}");
        // Without the line nothing changes.
        let clean = SerialReport::parse(["INIT OK", "shutdown requested with code 0"]);
        assert_eq!(
            clean.judge_drift(clean.judge_init(CLEAN)),
            clean.judge_init(CLEAN)
        );
    }

    #[test]
    fn protocol_drift_fails_any_boot() {
        let serial = [
            "booting",
            "echo: PROTOCOL DRIFT: Echo.refuse returned OutOfMemory\r",
            "INIT OK",
            "shutdown requested with code 0",
        ];
        let report = SerialReport::parse(serial);
        assert_eq!(
            report.abi_drift,
            ["PROTOCOL DRIFT: Echo.refuse returned OutOfMemory"]
        );
        let verdict = report.judge_drift(report.judge_init(CLEAN));
        assert_eq!((verdict.passed, verdict.failed), (0, 1), "{verdict:?}");
        assert_eq!(
            verdict.problems,
            ["a protocol server reported `PROTOCOL DRIFT: Echo.refuse returned OutOfMemory`"]
        );
    }

    #[test]
    fn cpu_counts_are_judged_against_the_machine() {
        const INIT: [&str; 2] = ["INIT OK", "shutdown requested with code 0"];
        let boot = |lines: &[&str]| {
            let serial: Vec<&str> = lines.iter().chain(&INIT).copied().collect();
            SerialReport::parse(serial)
        };
        let kernel4 = "smp: 4 CPUs running\r";
        let cases: [(&[&str], u32, SuiteCpus, &[&str]); 7] = [
            (&[kernel4], 4, SuiteCpus::IfPrinted, &[]),
            (&[kernel4, "CPUS 4"], 4, SuiteCpus::Required, &[]),
            (
                &["smp: 1 CPUs running"],
                4,
                SuiteCpus::IfPrinted,
                &["runs 1 CPUs"],
            ),
            (
                &[],
                1,
                SuiteCpus::IfPrinted,
                &["never printed `smp: <N> CPUs running`"],
            ),
            (
                &[kernel4],
                4,
                SuiteCpus::Required,
                &["never printed `CPUS <n>`"],
            ),
            (
                &[kernel4, "CPUS 1"],
                4,
                SuiteCpus::IfPrinted,
                &["cpu_count is 1"],
            ),
            (
                &["smp: 2 CPUs running", "CPUS 3"],
                4,
                SuiteCpus::Required,
                &["runs 2 CPUs", "cpu_count is 3"],
            ),
        ];
        for (lines, expected, suite, problems) in cases {
            let report = boot(lines);
            let verdict = report.judge_cpus(report.judge_init(CLEAN), expected, suite);
            let passed = u64::from(problems.is_empty());
            assert_eq!(
                (verdict.passed, verdict.failed),
                (passed, 1 - passed),
                "{lines:?}: {verdict:?}"
            );
            assert_eq!(verdict.problems.len(), problems.len(), "{verdict:?}");
            for (problem, fragment) in verdict.problems.iter().zip(problems) {
                assert!(problem.contains(fragment), "`{problem}` lacks `{fragment}`");
            }
        }
    }

    #[test]
    fn shutdown_requests_parse() {
        assert_eq!(
            shutdown_request("shutdown requested with code 0\r"),
            Some(0)
        );
        assert_eq!(shutdown_request("shutdown requested with code 7"), Some(7));
        assert_eq!(shutdown_request("shutdown requested with code x"), None);
        assert_eq!(shutdown_request("INIT OK"), None);
    }

    #[test]
    fn bench_lines_parse() {
        let report = SerialReport::parse([
            "BENCH null_syscall median=812 iterations=1000",
            "BENCH broken median=x iterations=3",
            "RESULT 1 passed, 0 failed",
            "shutdown requested with code 0",
        ]);
        let expected = Bench {
            name: "null_syscall".into(),
            median_cycles: 812,
            iterations: 1000,
        };
        assert_eq!(report.benches, [expected]);
        assert_eq!(report.result, Some((1, 0)));
        assert_eq!(report.judge_bench(CLEAN).failed, 0);
        assert_eq!(
            SerialReport::parse(["nothing", "shutdown requested with code 0"])
                .judge_bench(CLEAN)
                .failed,
            1
        );
    }
}
