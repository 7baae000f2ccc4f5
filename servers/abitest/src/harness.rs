//! The test harness: the test table's entry type, failures, expectation helpers and the runner that prints the protocol.

use core::fmt::{self, Write};

use rootlib::BuildError;
use trona::protocols::Message;
use trona::uapi::{Error, Invocation, Syscall};
use trona::{println, substrate};

use crate::ctx::Ctx;

/// One test of the table.
pub struct Test {
    /// The name printed in `TEST <name> ...`.
    pub name: &'static str,
    /// The schema entries the test exercises, printed as `COVERS` lines.
    pub covers: &'static [Entry],
    /// The test itself.
    pub run: fn(&mut Ctx) -> Outcome,
}

/// A schema entry a test exercises.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Entry {
    /// A plain syscall.
    Sys(Syscall),
    /// An invocation.
    Inv(Invocation),
    /// A message of a server protocol.
    Msg(Message),
}

/// What a test returns.
pub type Outcome = Result<(), Failure>;

/// Why a test failed: a short message, truncated to fit a fixed buffer.
pub struct Failure {
    text: [u8; FAILURE_LEN],
    len: usize,
}

const FAILURE_LEN: usize = 200;

impl Failure {
    /// A failure with a formatted message.
    pub fn new(args: fmt::Arguments<'_>) -> Failure {
        let mut failure = Failure {
            text: [0; FAILURE_LEN],
            len: 0,
        };
        // `write_str` below never fails; it truncates instead.
        let _ = failure.write_fmt(args);
        failure
    }
}

impl Write for Failure {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        for ch in text.chars() {
            let mut buf = [0; 4];
            let encoded = ch.encode_utf8(&mut buf).as_bytes();
            if self.len + encoded.len() > FAILURE_LEN {
                break;
            }
            self.text[self.len..self.len + encoded.len()].copy_from_slice(encoded);
            self.len += encoded.len();
        }
        Ok(())
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Only whole UTF-8 characters are ever stored, so this cannot fail.
        f.write_str(core::str::from_utf8(&self.text[..self.len]).unwrap_or("<garbled>"))
    }
}

impl From<BuildError> for Failure {
    fn from(error: BuildError) -> Failure {
        Failure::new(format_args!("setup failed: {error}"))
    }
}

/// Returns a [`Failure`] from the enclosing test unless the condition holds.
macro_rules! ensure {
    ($cond:expr, $($arg:tt)+) => {
        if !$cond {
            return Err($crate::harness::Failure::new(format_args!($($arg)+)));
        }
    };
}
pub(crate) use ensure;

/// The value of a call that must succeed.
pub fn ok<T>(what: impl fmt::Display, result: Result<T, Error>) -> Result<T, Failure> {
    result.map_err(|error| Failure::new(format_args!("{what}: unexpected error {}", error.name())))
}

/// Checks that a call failed with exactly `expected`.
pub fn err<T: fmt::Debug>(
    what: impl fmt::Display,
    result: Result<T, Error>,
    expected: Error,
) -> Outcome {
    match result {
        Err(error) if error == expected => Ok(()),
        Err(error) => Err(Failure::new(format_args!(
            "{what}: expected {}, got {}",
            expected.name(),
            error.name()
        ))),
        Ok(value) => Err(Failure::new(format_args!(
            "{what}: expected {}, got Ok({value:?})",
            expected.name()
        ))),
    }
}

/// Checks that a protocol call succeeded; its error type is the protocol's.
pub fn done<T, E: fmt::Debug>(what: impl fmt::Display, result: Result<T, E>) -> Result<T, Failure> {
    result.map_err(|error| Failure::new(format_args!("{what}: unexpected error {error:?}")))
}

/// Checks that a protocol call failed with exactly `expected`.
pub fn refused<T: fmt::Debug, E: fmt::Debug + PartialEq>(
    what: impl fmt::Display,
    result: Result<T, E>,
    expected: E,
) -> Outcome {
    match result {
        Err(error) if error == expected => Ok(()),
        Err(error) => Err(Failure::new(format_args!(
            "{what}: expected {expected:?}, got {error:?}"
        ))),
        Ok(value) => Err(Failure::new(format_args!(
            "{what}: expected {expected:?}, got Ok({value:?})"
        ))),
    }
}

/// Checks that a call failed with one of `allowed` (where the schema leaves the choice to the kernel).
pub fn err_one_of<T: fmt::Debug>(
    what: impl fmt::Display,
    result: Result<T, Error>,
    allowed: &[Error],
) -> Outcome {
    match result {
        Err(error) if allowed.contains(&error) => Ok(()),
        Err(error) => Err(Failure::new(format_args!(
            "{what}: unexpected error {}",
            error.name()
        ))),
        Ok(value) => Err(Failure::new(format_args!(
            "{what}: expected an error, got Ok({value:?})"
        ))),
    }
}

impl Entry {
    /// Prints the entry's `COVERS` line.
    fn print_covers(self) {
        match self {
            Entry::Sys(syscall) => println!("COVERS sys.{}", syscall.name()),
            Entry::Inv(invocation) => println!("COVERS {}", invocation.name()),
            Entry::Msg(message) => println!("COVERS {}", message.name()),
        }
    }
}

/// Pass and fail counts of a run.
#[derive(Default)]
pub struct Tally {
    /// Tests that passed.
    pub passed: u64,
    /// Tests that failed.
    pub failed: u64,
}

impl Tally {
    /// Records and prints one test's result.
    pub fn record(&mut self, name: &str, outcome: Outcome) {
        match outcome {
            Ok(()) => {
                self.passed += 1;
                println!("TEST {name} ... ok");
            }
            Err(failure) => {
                self.failed += 1;
                println!("TEST {name} ... FAILED: {failure}");
            }
        }
    }
}

/// Runs every test of the table in order, then checks that the table covers the whole schema.
///
/// With a `filter` (boot module `filter`), runs only the tests whose names contain it and
/// skips the coverage check, which only the whole table can pass; it says so, and a filter
/// that selects nothing is a failure.
pub fn run_all(ctx: &mut Ctx, tests: &[Test], filter: Option<&str>, tally: &mut Tally) {
    let selected = |test: &&Test| filter.is_none_or(|filter| test.name.contains(filter));
    if let Some(filter) = filter {
        let count = tests.iter().filter(selected).count();
        println!(
            "abitest: filter `{filter}` selects {count} of {} tests; schema coverage is not checked",
            tests.len()
        );
        if count == 0 {
            let failure = Failure::new(format_args!("no test name contains `{filter}`"));
            tally.record("filter", Err(failure));
        }
    }
    for test in tests.iter().filter(selected) {
        for &entry in test.covers {
            entry.print_covers();
        }
        let outcome = (test.run)(ctx).and_then(|()| check_invariants());
        tally.record(test.name, outcome);
    }
    if filter.is_none() {
        tally.record("schema_coverage", check_coverage(tests));
    }
}

/// Runs the kernel's invariant checkers (frame states and mappings), as after every test.
pub fn check_invariants() -> Outcome {
    let debug = crate::ctx::KERNEL_DEBUG;
    ok(
        "check_frames after the test",
        substrate::kernel_debug_check_frames(debug),
    )?;
    ok(
        "check_mappings after the test",
        substrate::kernel_debug_check_mappings(debug),
    )?;
    Ok(())
}

/// Fails naming the first syscalls and invocations that no test in the table covers.
fn check_coverage(tests: &[Test]) -> Outcome {
    let covered = |entry: Entry| tests.iter().any(|test| test.covers.contains(&entry));
    let mut missing = Failure::new(format_args!("not covered:"));
    let mut any_missing = false;
    for &syscall in Syscall::ALL {
        if !covered(Entry::Sys(syscall)) {
            any_missing = true;
            let _ = write!(missing, " sys.{}", syscall.name());
        }
    }
    for &invocation in Invocation::ALL {
        if !covered(Entry::Inv(invocation)) {
            any_missing = true;
            let _ = write!(missing, " {}", invocation.name());
        }
    }
    for &message in Message::ALL {
        if !covered(Entry::Msg(message)) {
            any_missing = true;
            let _ = write!(missing, " {}", message.name());
        }
    }
    if any_missing { Err(missing) } else { Ok(()) }
}
