//! The architectures and user programs xtask knows: Rust target triples, QEMU machines, exit-code conventions.

use anyhow::{Context, Result, bail};
use std::fmt;
use std::path::Path;
use std::process::Command;

/// A CPU architecture kernite runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Arch {
    #[value(name = "x86_64")]
    X86_64,
    #[value(name = "aarch64")]
    Aarch64,
}

/// How many CPUs a boot gets unless asked otherwise.
pub const DEFAULT_CPUS: u32 = 1;

/// The CPU count of the multiprocessor boots of `cargo xtask test`.
pub const SMP_TEST_CPUS: u32 = 4;

/// A user program that can be the root task. Every program in `servers/` is packed
/// into the boot image; this one goes first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Program {
    /// The normal root task.
    #[value(name = "init")]
    Init,
    /// The in-QEMU test suite and benchmarks.
    #[value(name = "abitest")]
    Abitest,
    /// The in-VM fuzzer (`cargo xtask fuzz`).
    #[value(name = "fuzz")]
    Fuzz,
}

/// How the machine ended, decoded from QEMU's exit status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MachineExit {
    /// The kernel powered off with this code (`KernelDebug.shutdown`).
    Shutdown(u32),
    /// QEMU exited with status 0, which no kernel shutdown produces: with `-no-reboot` a
    /// reset or triple fault (x86_64), a PSCI power-off or reset (aarch64).
    Reset,
    /// A status that no kernel shutdown produces: QEMU itself failed or was killed.
    Abnormal(Option<i32>),
}

impl Arch {
    /// Every architecture, in the order tests run them.
    pub const ALL: [Arch; 2] = [Arch::X86_64, Arch::Aarch64];

    /// The name used on the command line and in paths (`x86_64`, `aarch64`).
    pub fn name(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64",
            Arch::Aarch64 => "aarch64",
        }
    }

    /// Rust target of the kernel (soft-float: the kernel never touches FP/SIMD registers).
    pub fn kernel_target(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64-unknown-none",
            Arch::Aarch64 => "aarch64-unknown-none-softfloat",
        }
    }

    /// Rust target of user programs (on aarch64 they may use FP/SIMD).
    pub fn user_target(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64-unknown-none",
            Arch::Aarch64 => "aarch64-unknown-none",
        }
    }

    /// The QEMU system emulator for this architecture.
    pub fn qemu_binary(self) -> &'static str {
        match self {
            Arch::X86_64 => "qemu-system-x86_64",
            Arch::Aarch64 => "qemu-system-aarch64",
        }
    }

    /// QEMU arguments that boot `kernel` on a machine with `cpus` CPUs (`-smp`), with the
    /// serial console on stdio.
    pub fn qemu_args(self, kernel: &Path, cpus: u32) -> Vec<String> {
        let machine: &[&str] = match self {
            Arch::X86_64 => &[
                "-machine",
                "q35",
                "-cpu",
                "max",
                "-device",
                "isa-debug-exit,iobase=0xf4,iosize=0x04",
            ],
            Arch::Aarch64 => &["-M", "virt", "-cpu", "cortex-a72", "-semihosting"],
        };
        let common = [
            "-accel", "tcg", "-m", "256M", "-display", "none", "-serial", "stdio",
        ];
        let mut args: Vec<String> = machine
            .iter()
            .chain(&common)
            .map(|s| s.to_string())
            .collect();
        args.extend(["-smp".to_string(), cpus.to_string()]);
        args.extend(["-no-reboot".to_string(), "-kernel".to_string()]);
        args.push(kernel.display().to_string());
        args
    }

    /// Decodes QEMU's exit status (`None` when it was killed by a signal).
    ///
    /// Both architectures make QEMU exit with `(value << 1) | 1`, so the kernel's
    /// `shutdown(0)` is status 1 and an even status is never a shutdown: x86_64 through
    /// the isa-debug-exit device, aarch64 by passing that value to semihosting `SYS_EXIT`
    /// (which QEMU hands through unchanged). Status 0 is a reset or power-off.
    pub fn decode_exit(self, status: Option<i32>) -> MachineExit {
        let Some(code) = status else {
            return MachineExit::Abnormal(None);
        };
        match code {
            0 => MachineExit::Reset,
            code if code & 1 == 1 => MachineExit::Shutdown((code as u32) >> 1),
            code => MachineExit::Abnormal(Some(code)),
        }
    }

    /// Whether the kernel has an implementation for this architecture yet.
    pub fn kernel_exists(self, root: &Path) -> bool {
        match self {
            Arch::X86_64 => true,
            Arch::Aarch64 => root.join("kernel/src/arch/aarch64/mod.rs").exists(),
        }
    }
}

impl fmt::Display for Arch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl Program {
    /// The cargo package (and binary, and boot-module) name.
    pub fn name(self) -> &'static str {
        match self {
            Program::Init => "init",
            Program::Abitest => "abitest",
            Program::Fuzz => "fuzz",
        }
    }
}

impl fmt::Display for Program {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl fmt::Display for MachineExit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MachineExit::Shutdown(code) => write!(f, "kernel shut down with code {code}"),
            MachineExit::Reset => {
                write!(
                    f,
                    "machine reset without a shutdown (triple fault or reboot)"
                )
            }
            MachineExit::Abnormal(Some(code)) => {
                write!(
                    f,
                    "QEMU exited with status {code}, which no kernel shutdown produces"
                )
            }
            MachineExit::Abnormal(None) => write!(f, "QEMU was killed by a signal"),
        }
    }
}

/// User-target crates: trona and every workspace member under `servers/`, by name.
pub struct UserCrates {
    /// Members with a binary: the programs packed into the boot image, sorted by name.
    pub programs: Vec<String>,
    /// Every user-target crate, libraries included.
    pub all: Vec<String>,
}

/// Finds the user-target crates among the workspace members.
pub fn user_crates() -> Result<UserCrates> {
    let servers = crate::cargo::workspace_root().join("servers");
    let mut programs = Vec::new();
    let mut all = vec!["trona".to_string()];
    for package in crate::cargo::workspace_packages()? {
        if !package.dir.starts_with(&servers) {
            continue;
        }
        if package.has_binary {
            programs.push(package.name.clone());
        }
        all.push(package.name);
    }
    programs.sort();
    all.sort();
    Ok(UserCrates { programs, all })
}

/// Installs any of `targets` that rustup does not have yet.
pub fn ensure_rust_targets(targets: &[&str]) -> Result<()> {
    let listed = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output();
    let installed = match listed {
        Ok(output) if output.status.success() => {
            String::from_utf8_lossy(&output.stdout).into_owned()
        }
        // Without rustup the toolchain manages targets some other way; let cargo report
        // a missing one.
        _ => return Ok(()),
    };
    let missing: Vec<&str> = targets
        .iter()
        .copied()
        .filter(|target| !installed.lines().any(|line| line.trim() == *target))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    eprintln!("xtask: installing Rust targets: {}", missing.join(" "));
    let status = Command::new("rustup")
        .args(["target", "add"])
        .args(&missing)
        .status()
        .context("running `rustup target add`")?;
    if !status.success() {
        bail!("`rustup target add {}` failed", missing.join(" "));
    }
    Ok(())
}

/// Fails with installation instructions when QEMU for `arch` is not on the PATH.
pub fn ensure_qemu(arch: Arch) -> Result<()> {
    let binary = arch.qemu_binary();
    match Command::new(binary).arg("--version").output() {
        Ok(output) if output.status.success() => Ok(()),
        _ => bail!(
            "{binary} was not found. Install QEMU:\n  \
             Debian/Ubuntu: sudo apt-get install qemu-system-x86 qemu-system-arm\n  \
             Fedora:        sudo dnf install qemu-system-x86 qemu-system-aarch64\n  \
             macOS:         brew install qemu"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_decode() {
        let cases = [
            (Arch::X86_64, Some(1), MachineExit::Shutdown(0)),
            (Arch::X86_64, Some(3), MachineExit::Shutdown(1)),
            (Arch::X86_64, Some(0), MachineExit::Reset),
            (Arch::X86_64, Some(2), MachineExit::Abnormal(Some(2))),
            (Arch::X86_64, None, MachineExit::Abnormal(None)),
            (Arch::Aarch64, Some(1), MachineExit::Shutdown(0)),
            (Arch::Aarch64, Some(3), MachineExit::Shutdown(1)),
            (Arch::Aarch64, Some(0), MachineExit::Reset),
            (Arch::Aarch64, Some(2), MachineExit::Abnormal(Some(2))),
            (Arch::Aarch64, None, MachineExit::Abnormal(None)),
        ];
        for (arch, status, expected) in cases {
            assert_eq!(arch.decode_exit(status), expected, "{arch} {status:?}");
        }
    }

    #[test]
    fn qemu_args_end_with_the_kernel() {
        for arch in Arch::ALL {
            let args = arch.qemu_args(Path::new("/k.elf"), 4);
            assert_eq!(args[args.len() - 2..], ["-kernel", "/k.elf"]);
            assert!(args.windows(2).any(|w| w == ["-smp", "4"]));
            assert!(args.windows(2).any(|w| w == ["-accel", "tcg"]));
            assert!(args.contains(&"-no-reboot".to_string()));
        }
    }
}
