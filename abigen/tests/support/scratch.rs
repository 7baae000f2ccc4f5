//! Runs cargo in a scratch workspace of generated code, warnings denied and isolated from the outer build's flags, and fails the test with cargo's output when it fails.

use std::path::Path;
use std::process::Command;

/// Runs `cargo args` in `scratch` with its own target directory, warnings denied
/// (`RUSTFLAGS=-D warnings`) and none of the outer build's flags or wrappers; panics with
/// `what` and cargo's output if it fails.
pub fn run_cargo(scratch: &Path, args: &[&str], what: &str) {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let mut command = Command::new(&cargo);
    command
        .args(args)
        .current_dir(scratch)
        .env("CARGO_TARGET_DIR", scratch.join("target"))
        .env("RUSTFLAGS", "-D warnings")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_BUILD_TARGET")
        .env_remove("RUSTC_WRAPPER")
        .env_remove("RUSTC_WORKSPACE_WRAPPER");
    let output = command.output().expect("run cargo");
    assert!(
        output.status.success(),
        "{what} (cargo {}):\n{}\n{}",
        args.join(" "),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
