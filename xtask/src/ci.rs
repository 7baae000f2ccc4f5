//! `cargo xtask ci`: exactly what CI runs — formatting, clippy on every crate for its targets, then every test.

use crate::build::{ARCH_SELFTEST_FEATURE, BuildRequest, ImageMode, arch_selftest_image, build};
use crate::cargo::{Profile, cargo, run_checked};
use crate::targets::{Arch, Program, ensure_rust_targets, user_crates};
use crate::test::{Plan, Scope, default_arches, run_plan};
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
    step(
        "clippy (host crates)".to_string(),
        run_checked(cargo().args(["clippy", "--all-targets", "--", "-D", "warnings"])),
    );
    for &arch in &arches {
        step(format!("clippy ({arch} user crates)"), clippy_user(arch));
        step(format!("clippy ({arch} kernel)"), clippy_kernel(arch));
        step(
            format!("clippy ({arch} kernel, {ARCH_SELFTEST_FEATURE})"),
            clippy_kernel_arch_selftest(arch),
        );
    }
    let plan = Plan {
        scope: Scope::Everything,
        arches,
        timeout: Duration::from_secs(60),
        profile: Profile::Dev,
    };
    step("cargo xtask test".to_string(), run_plan(&plan));

    if !failures.is_empty() {
        bail!("CI failed: {}", failures.join(", "));
    }
    println!("xtask ci: all steps passed");
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

/// Clippy over the kernel, which links a boot image: build a real one first.
fn clippy_kernel(arch: Arch) -> Result<()> {
    let request = BuildRequest {
        arch,
        profile: Profile::Dev,
        root: Program::Init,
        mode: ImageMode::Normal,
    };
    let image = build(request)?.image;
    kernel_clippy(arch, &image, &[])
}

/// Clippy over the kernel built with the arch self test in place of the root server.
fn clippy_kernel_arch_selftest(arch: Arch) -> Result<()> {
    ensure_rust_targets(&[arch.kernel_target()])?;
    let image = arch_selftest_image(arch)?;
    kernel_clippy(arch, &image, &[ARCH_SELFTEST_FEATURE])
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
