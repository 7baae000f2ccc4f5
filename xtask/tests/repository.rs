//! One xtask binary, two checkouts: the binary works on the checkout it is started in, not the one it was built from.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The checkout this test was built from.
fn this_checkout() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives one level below the repository root")
        .to_path_buf()
}

/// Runs the xtask binary in `dir` with `args`; returns whether it succeeded and its output.
fn xtask(dir: &Path, args: &[&str]) -> (bool, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("running the xtask binary");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

#[test]
fn gen_writes_into_the_checkout_it_runs_in() {
    let scratch = tempfile::tempdir().expect("creating a scratch checkout");
    let other = scratch.path();
    std::fs::write(other.join("Cargo.toml"), "[workspace]\nmembers = []\n").unwrap();
    std::fs::copy(
        this_checkout().join("schema.toml"),
        other.join("schema.toml"),
    )
    .unwrap();
    let nested = other.join("docs");
    std::fs::create_dir_all(&nested).unwrap();

    // Started in a subdirectory of the scratch checkout, `gen --check` finds every file
    // missing there: it looks at the scratch checkout, not at this one.
    let (ok, output) = xtask(&nested, &["gen", "--check"]);
    assert!(
        !ok,
        "the scratch checkout has no generated files yet:\n{output}"
    );
    assert!(output.contains("stale: docs/abi.md"), "{output}");

    let (ok, output) = xtask(&nested, &["gen"]);
    assert!(ok, "{output}");
    let generated = std::fs::read_to_string(other.join("docs/abi.md"))
        .expect("gen wrote docs/abi.md into the scratch checkout");
    let ours = std::fs::read_to_string(this_checkout().join("docs/abi.md")).unwrap();
    assert_eq!(
        generated, ours,
        "the same schema generates the same reference"
    );
    let (ok, output) = xtask(other, &["gen", "--check"]);
    assert!(ok, "{output}");

    // Outside any checkout it says so instead of guessing.
    let outside = tempfile::tempdir().expect("creating a directory outside any checkout");
    let (ok, output) = xtask(outside.path(), &["gen", "--check"]);
    assert!(!ok);
    assert!(
        output.contains("is not inside a kernite checkout"),
        "{output}"
    );
}
