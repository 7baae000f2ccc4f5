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

/// The files of a host `proto` module, as (path under the crate's `src/`, contents):
/// `transport` (a stand-in `proto.rs` from this directory), the types the stand-ins
/// share, and trona's real wire format.
pub fn proto_module(transport: &str) -> [(&'static str, String); 3] {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let wire = std::fs::read_to_string(root.join("trona/src/proto/wire.rs"))
        .expect("trona/src/proto/wire.rs");
    [
        ("proto.rs", transport.to_owned()),
        (
            "proto/common.rs",
            include_str!("proto_common.rs").to_owned(),
        ),
        ("proto/wire.rs", wire),
    ]
}
