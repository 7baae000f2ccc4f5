//! `cargo xtask run`: builds the image with init as root task and boots it in QEMU on this terminal.

use crate::build::{BuildRequest, ImageMode, build};
use crate::cargo::Profile;
use crate::qemu::{Debugger, boot_interactive};
use crate::targets::{Arch, MachineExit, Program, ensure_qemu};
use anyhow::{Result, bail};

/// Build everything and boot it in QEMU with the serial console on this terminal.
#[derive(clap::Args)]
pub struct Args {
    /// Target architecture.
    #[arg(long, value_enum, default_value = "x86_64")]
    pub arch: Arch,
    /// Build optimized binaries.
    #[arg(long)]
    pub release: bool,
    /// The user program that runs as the root task.
    #[arg(long, value_enum, default_value = "init")]
    pub root: Program,
    /// Halt the CPU at the first instruction and wait for gdb on localhost:1234.
    #[arg(long)]
    pub gdb: bool,
}

pub fn run(args: Args) -> Result<()> {
    let request = BuildRequest {
        arch: args.arch,
        profile: Profile::from_release_flag(args.release),
        root: args.root,
        mode: ImageMode::Normal,
    };
    ensure_qemu(args.arch)?;
    let kernel = build(request)?.kernel;
    let debugger = if args.gdb {
        Debugger::WaitForGdb
    } else {
        Debugger::Off
    };
    let exit = boot_interactive(args.arch, &kernel, debugger)?;
    eprintln!("xtask: {exit}");
    match exit {
        MachineExit::Shutdown(0) => Ok(()),
        _ => bail!("{exit}"),
    }
}
