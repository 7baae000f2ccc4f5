//! `cargo xtask ci`: exactly what CI runs — formatting, clippy on every crate for its targets, then every test.

use crate::build::{BuildRequest, ImageMode, build};
use crate::cargo::{Profile, cargo, run_checked};
use crate::targets::{Program, ensure_rust_targets, user_crates};
use crate::test::{Plan, Scope, default_arches, run_plan};
use anyhow::Result;
use std::time::Duration;

/// Exactly what CI runs.
#[derive(clap::Args)]
pub struct Args {}

pub fn run(_args: Args) -> Result<()> {
    run_checked(cargo().args(["fmt", "--all", "--check"]))?;
    run_checked(cargo().args(["clippy", "--all-targets", "--", "-D", "warnings"]))?;

    let arches = default_arches();
    let user_crates = user_crates()?.all;
    for &arch in &arches {
        ensure_rust_targets(&[arch.user_target(), arch.kernel_target()])?;
        let mut user = cargo();
        user.args(["clippy", "--target", arch.user_target()]);
        for package in &user_crates {
            user.args(["-p", package]);
        }
        run_checked(user.args(["--", "-D", "warnings"]))?;

        // The kernel links a boot image, so lint it with a real one in place.
        let request = BuildRequest {
            arch,
            profile: Profile::Dev,
            root: Program::Init,
            mode: ImageMode::Normal,
        };
        let image = build(request)?.image;
        run_checked(
            cargo()
                .args(["clippy", "-p", "kernel", "--target", arch.kernel_target()])
                .args(["--", "-D", "warnings"])
                .env("KERNITE_BOOT_IMAGE", image),
        )?;
    }

    run_plan(&Plan {
        scope: Scope::Everything,
        arches,
        timeout: Duration::from_secs(60),
        profile: Profile::Dev,
    })
}
