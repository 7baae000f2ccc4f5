//! `cargo xtask ci`: exactly what CI runs — formatting, clippy on every crate for its targets, then every test, a short fuzz and the gdb batch check per architecture.

use crate::abi_diff::{BaseKind, NO_BASE, compare, default_base};
use crate::build::{
    ARCH_SELFTEST, BuildRequest, ImageMode, KERNEL_FAULT_TEST, KSTACK_GUARD_TEST,
    arch_selftest_image, build,
};
use crate::cargo::{Profile, cargo, run_checked, workspace_root};
use crate::targets::{
    Arch, DEFAULT_CPUS, Program, SMP_TEST_CPUS, ensure_rust_targets, user_crates,
};
use crate::test::{Boots, Plan, default_arches, run_plan};
use anyhow::{Result, bail};
use std::path::Path;
use std::time::Duration;

/// Exactly what CI runs.
#[derive(clap::Args)]
pub struct Args {}

/// Every step runs even after an earlier one failed, so one CI run reports every problem.
pub fn run(_args: Args) -> Result<()> {
    let arches = default_arches();
    let mut failures = Vec::new();
    let mut step = |name: String, outcome: Result<()>| {
        if let Err(error) = outcome {
            eprintln!("xtask ci: {name} FAILED: {error:#}");
            failures.push(name);
        }
    };

    step(
        "cargo fmt --check".to_string(),
        run_checked(cargo().args(["fmt", "--all", "--check"])),
    );
    step("cargo xtask abi-diff".to_string(), abi_review());
    step(
        "clippy (host crates)".to_string(),
        run_checked(cargo().args(["clippy", "--all-targets", "--", "-D", "warnings"])),
    );
    for &arch in &arches {
        step(format!("clippy ({arch} user crates)"), clippy_user(arch));
        step(format!("clippy ({arch} kernel)"), clippy_kernel(arch));
        for test in [ARCH_SELFTEST, KSTACK_GUARD_TEST, KERNEL_FAULT_TEST] {
            step(
                format!("clippy ({arch} kernel, {})", test.feature),
                clippy_kernel_test_build(arch, test.feature),
            );
        }
    }
    let plan = Plan {
        host: true,
        boots: Boots::All,
        compat: true,
        arches: arches.clone(),
        cpus: vec![DEFAULT_CPUS, SMP_TEST_CPUS],
        timeout: Duration::from_secs(60),
        profile: Profile::Dev,
    };
    step("cargo xtask test".to_string(), run_plan(&plan));
    for &arch in &arches {
        step(
            format!("cargo xtask fuzz ({arch}, short)"),
            crate::fuzz::short_run(arch),
        );
        step(
            format!("cargo xtask gdb --check ({arch})"),
            crate::gdb::batch_check(arch),
        );
    }

    if !failures.is_empty() {
        bail!("CI failed: {}", failures.join(", "));
    }
    println!("xtask ci: all steps passed");
    Ok(())
}

/// `cargo xtask abi-diff` with its default base: fails on a change the version rule
/// refuses (a breaking change without a major bump); skipped, saying so, when there is no
/// base to judge committed changes against (no tag, and no upstream but the branch
/// itself, as in a shallow clone), since that says nothing about the change.
fn abi_review() -> Result<()> {
    let root = workspace_root();
    let base = match default_base(&root)? {
        Some(base) if base.kind != BaseKind::MergeBaseIsHead => base,
        // A fresh clone of the branch itself: its merge base is its own HEAD.
        Some(_) | None => {
            eprintln!("xtask ci: abi-diff SKIPPED: {NO_BASE}");
            return Ok(());
        }
    };
    eprintln!("xtask ci: abi-diff against {base}");
    let report = compare(&root, &base.revision, None)?;
    print!("{}", report.to_markdown());
    if report.is_refused() {
        bail!("{}", report.verdict);
    }
    Ok(())
}

/// Clippy over trona and every crate under `servers/`, for the user target.
fn clippy_user(arch: Arch) -> Result<()> {
    ensure_rust_targets(&[arch.user_target()])?;
    let mut command = cargo();
    command.args(["clippy", "--target", arch.user_target()]);
    for package in user_crates()?.all {
        command.args(["-p", &package]);
    }
    run_checked(command.args(["--", "-D", "warnings"]))
}

/// Clippy over the kernel (plain and with the `trace` feature), which links a boot image:
/// build a real one first.
fn clippy_kernel(arch: Arch) -> Result<()> {
    let request = BuildRequest {
        arch,
        profile: Profile::Dev,
        root: Program::Init,
        mode: ImageMode::Normal,
    };
    let image = build(request)?.image;
    kernel_clippy(arch, &image, &[])?;
    kernel_clippy(arch, &image, &[crate::trace::KERNEL_FEATURE])
}

/// Clippy over the kernel built with `feature`, a test (the arch self test, the kernel
/// stack guard test) that replaces the root task and links the empty boot image.
fn clippy_kernel_test_build(arch: Arch, feature: &str) -> Result<()> {
    ensure_rust_targets(&[arch.kernel_target()])?;
    let image = arch_selftest_image(arch)?;
    kernel_clippy(arch, &image, &[feature])
}

/// Runs clippy over the kernel with `features`, linking the boot image at `image`.
fn kernel_clippy(arch: Arch, image: &Path, features: &[&str]) -> Result<()> {
    let mut command = cargo();
    command.args(["clippy", "-p", "kernel", "--target", arch.kernel_target()]);
    if !features.is_empty() {
        command.args(["--features", &features.join(",")]);
    }
    run_checked(
        command
            .args(["--", "-D", "warnings"])
            .env("KERNITE_BOOT_IMAGE", image),
    )
}
