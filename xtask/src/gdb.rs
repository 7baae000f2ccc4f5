//! `cargo xtask gdb`: boots QEMU halted with its gdb stub on a free port and starts the right gdb attached, with kernite's schema-driven commands loaded (xtask/gdb/kernite.py).

use crate::build::{BuildRequest, ImageMode, build};
use crate::cargo::{Profile, command_line, workspace_root};
use crate::protocol::shutdown_request;
use crate::targets::{Arch, DEFAULT_CPUS, MachineExit, Program, ensure_qemu};
use anyhow::{Context, Result, bail};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Boot QEMU halted and debug the kernel with gdb.
#[derive(clap::Args)]
pub struct Args {
    /// Target architecture.
    #[arg(long, value_enum, default_value = "x86_64")]
    pub arch: Arch,
    /// TCP port of QEMU's gdb stub (default: a free one, so sessions can run side by side).
    #[arg(long)]
    pub port: Option<u16>,
    /// The user program that runs as the root task.
    #[arg(long, value_enum, default_value = "init")]
    pub root_task: Program,
    /// Instead of a session: the batch check CI runs (break in the syscall handler,
    /// backtrace, decoded trap and PerCpuData, continue to a clean shutdown).
    #[arg(long)]
    pub check: bool,
}

/// The script that defines kernite's commands, relative to the repository root.
pub const SCRIPT: &str = "xtask/gdb/kernite.py";

pub fn run(args: Args) -> Result<()> {
    if args.check {
        return batch_check(args.arch);
    }
    let gdb = find_gdb(args.arch)?;
    let port = match args.port {
        Some(port) => port,
        None => free_port()?,
    };
    let kernel = build_kernel(args.arch, args.root_task)?;
    let mut session = Session::start(args.arch, &kernel, port)?;
    eprintln!(
        "xtask: QEMU halted with its gdb stub on 127.0.0.1:{port}; serial console in {}",
        session.serial.display()
    );
    let mut command = gdb_command(&gdb, args.arch, &kernel, port);
    eprintln!("xtask: {}", command_line(&command));
    let status = command
        .status()
        .with_context(|| format!("starting {gdb}"))?;
    let ended = session.finish()?;
    eprintln!("xtask: gdb exited ({status}); {ended}");
    Ok(())
}

/// Builds the kernel with `root` as root task.
fn build_kernel(arch: Arch, root: Program) -> Result<PathBuf> {
    let request = BuildRequest {
        arch,
        profile: Profile::Dev,
        root,
        mode: ImageMode::Normal,
    };
    Ok(build(request)?.kernel)
}

/// A port nobody listens on now.
fn free_port() -> Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("finding a free TCP port")?;
    Ok(listener.local_addr()?.port())
}

/// The gdb that can debug `arch`: gdb-multiarch, or gdb when it knows the architecture.
pub fn find_gdb(arch: Arch) -> Result<String> {
    let candidates: &[&str] = match arch {
        Arch::X86_64 => &["gdb", "gdb-multiarch"],
        Arch::Aarch64 => &["gdb-multiarch", "gdb"],
    };
    let mut found = Vec::new();
    for &gdb in candidates {
        let probe = Command::new(gdb)
            .args(["-nx", "-batch", "-ex"])
            .arg(format!("set architecture {}", gdb_architecture(arch)))
            .output();
        let Ok(output) = probe else { continue };
        found.push(gdb);
        let stderr = String::from_utf8_lossy(&output.stderr);
        if output.status.success() && !stderr.contains("Undefined item") {
            return Ok(gdb.to_string());
        }
    }
    let hint = "  Debian/Ubuntu: sudo apt-get install gdb-multiarch\n  \
                Fedora:        sudo dnf install gdb (it debugs every architecture)\n  \
                Arch Linux:    sudo pacman -S gdb\n  \
                macOS:         brew install gdb (x86_64) or aarch64-elf-gdb";
    if found.is_empty() {
        bail!("no gdb was found. Install one that debugs {arch}:\n{hint}");
    }
    bail!(
        "{} cannot debug {arch} (it would fail with \"Truncated register\" on QEMU's \
         registers). Install a gdb for {arch}:\n{hint}",
        found.join(" and ")
    )
}

/// gdb's name of the architecture.
fn gdb_architecture(arch: Arch) -> &'static str {
    match arch {
        Arch::X86_64 => "i386:x86-64",
        Arch::Aarch64 => "aarch64",
    }
}

/// gdb on `kernel`, with kernite's commands, attached to QEMU's stub on `port`.
pub fn gdb_command(gdb: &str, arch: Arch, kernel: &Path, port: u16) -> Command {
    let script = workspace_root().join(SCRIPT);
    let mut command = Command::new(gdb);
    command
        .arg("-nx")
        .arg("-q")
        .arg(kernel)
        .args(["-ex", "set pagination off", "-ex", "set confirm off"])
        .args([
            "-ex",
            &format!("set architecture {}", gdb_architecture(arch)),
        ])
        .args(["-ex", &format!("source {}", script.display())])
        .args(["-ex", &format!("target remote 127.0.0.1:{port}")]);
    command
}

/// A QEMU waiting for gdb, its serial console going to a file.
pub struct Session {
    child: Child,
    /// Where the serial console goes.
    pub serial: PathBuf,
}

impl Session {
    /// Starts QEMU halted with its stub on `port`.
    pub fn start(arch: Arch, kernel: &Path, port: u16) -> Result<Session> {
        ensure_qemu(arch)?;
        let serial = kernel.with_extension(format!("gdb-{port}.log"));
        let mut args = arch.qemu_args(kernel, DEFAULT_CPUS);
        for arg in &mut args {
            if arg == "stdio" {
                *arg = format!("file:{}", serial.display());
            }
        }
        let mut command = Command::new(arch.qemu_binary());
        command
            .args(args)
            .args(["-gdb", &format!("tcp:127.0.0.1:{port}"), "-S"])
            .stdin(Stdio::null());
        eprintln!("xtask: {}", command_line(&command));
        let child = command
            .spawn()
            .with_context(|| format!("starting {}", arch.qemu_binary()))?;
        Ok(Session { child, serial })
    }

    /// After gdb ended: how QEMU ended (killing it if it still runs), in words that say
    /// whether the kernel or the debugger ended it.
    pub fn finish(&mut self) -> Result<String> {
        let deadline = Instant::now() + Duration::from_secs(2);
        let status = loop {
            if let Some(status) = self.child.try_wait()? {
                break Some(status);
            }
            if Instant::now() >= deadline {
                break None;
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let serial = std::fs::read_to_string(&self.serial).unwrap_or_default();
        let requested = serial.lines().rev().find_map(shutdown_request);
        let Some(status) = status else {
            let _ = self.child.kill();
            self.child.wait()?;
            return Ok("QEMU was still running; xtask stopped it".to_string());
        };
        if let Some(panic) = serial.lines().find(|line| line.contains("KERNEL PANIC")) {
            return Ok(format!("the kernel panicked: {}", panic.trim()));
        }
        Ok(match (status.code(), requested) {
            (Some(code), Some(requested)) if code & 1 == 1 => {
                format!("the kernel shut down with code {requested}")
            }
            // A kill from gdb ends QEMU at once, without a shutdown line; on x86_64 that
            // status would otherwise read as a triple fault.
            (_, None) => "the debugger ended QEMU (gdb `kill` or quit), not the kernel".to_string(),
            (code, _) => {
                let exit = MachineExit::Abnormal(code);
                format!("{exit}")
            }
        })
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The batch check CI runs per architecture: break in the syscall handler, a finite
/// backtrace that ends at the entry assembly, the decoded trap, PerCpuData and thread,
/// then continue to the kernel's clean shutdown.
pub fn batch_check(arch: Arch) -> Result<()> {
    let gdb = find_gdb(arch)?;
    let kernel = build_kernel(arch, Program::Init)?;
    let port = free_port()?;
    let mut session = Session::start(arch, &kernel, port)?;
    let mut command = gdb_command(&gdb, arch, &kernel, port);
    command.arg("-batch").args([
        "-ex",
        "set backtrace limit 64",
        "-ex",
        "kb-syscall",
        "-ex",
        "continue",
        "-ex",
        "bt",
        "-ex",
        "kernite-syscall",
        "-ex",
        "kernite-percpu",
        "-ex",
        "kernite-thread",
        "-ex",
        "delete",
        "-ex",
        "continue",
    ]);
    eprintln!("xtask: {}", command_line(&command));
    let output = command
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("starting {gdb}"))?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    for line in text.lines() {
        println!("[{arch} gdb] {line}");
    }
    let ended = session.finish()?;
    println!("[{arch} gdb] {ended}");
    let problems = judge_batch(arch, &text, &ended);
    if !problems.is_empty() {
        bail!("{}", problems.join("; "));
    }
    Ok(())
}

/// The entry assembly's symbol a syscall backtrace must end at.
fn entry_symbol(arch: Arch) -> &'static str {
    match arch {
        Arch::X86_64 => "syscall_entry",
        Arch::Aarch64 => "el0_sync_entry",
    }
}

/// What is wrong with a batch session's output (empty: nothing).
pub fn judge_batch(arch: Arch, text: &str, ended: &str) -> Vec<String> {
    let mut problems = Vec::new();
    let frames: Vec<&str> = text.lines().filter(|line| line.starts_with('#')).collect();
    if !frames
        .first()
        .is_some_and(|frame| frame.contains("handle_syscall"))
    {
        problems.push("the breakpoint in handle_syscall was not hit".to_string());
    }
    if frames.len() >= 64 {
        problems.push(format!(
            "the backtrace did not end ({} frames)",
            frames.len()
        ));
    }
    if !frames
        .last()
        .is_some_and(|frame| frame.contains(entry_symbol(arch)))
    {
        problems.push(format!(
            "the backtrace does not end at {}: {:?}",
            entry_symbol(arch),
            frames.last()
        ));
    }
    if text.contains("Backtrace stopped: previous frame identical")
        || text.contains("Backtrace stopped: Cannot access memory")
    {
        problems.push("the backtrace ran into a broken frame".to_string());
    }
    if !text.lines().any(|line| line.starts_with("trap: ")) {
        problems.push("kernite-syscall decoded no trap".to_string());
    }
    if !text.contains("PerCpuData (") || !text.contains("current_thread") {
        problems.push("kernite-percpu printed no PerCpuData".to_string());
    }
    if !text.contains("current TCB: physical") {
        problems.push("kernite-thread found no TCB".to_string());
    }
    if !ended.contains("shut down with code 0") {
        problems.push(format!("no clean shutdown: {ended}"));
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Recorded batch transcripts (trimmed) and the problems each must show.
    #[test]
    fn recorded_batch_sessions_are_judged() {
        let clean = "#0  kernel::syscall::handle_syscall (frame=...) at kernel/src/syscall.rs:33\n\
                     #1  0xffffffff80123f12 in kernel::arch::x86_64::syscall::syscall_dispatch (frame=0x1)\n\
                     #2  0xffffffff80123e5a in syscall_entry ()\n\
                     trap: debug_write(buf=0x7eeff4e0, len=55)\n\
                     PerCpuData (x86_64) at 0xffffffff80209480:\n  current_thread     0x410000\n\
                     current TCB: physical 0x410000, direct map 0xffff800000410000\n";
        let garbage = clean.replace(
            "#2  0xffffffff80123e5a in syscall_entry ()\n",
            "#2  0xffffffff80123e5a in syscall_entry ()\n#3  0x0000000000000002 in ?? ()\n",
        );
        let repeating = format!(
            "#0  kernel::syscall::handle_syscall (frame=...)\n{}",
            "#1  0xffffff804021d874 in el0_sync_entry ()\n".repeat(64)
        );
        let shutdown = "the kernel shut down with code 0";
        let cases: [(Arch, &str, &str, &[&str]); 4] = [
            (Arch::X86_64, clean, shutdown, &[]),
            (
                Arch::X86_64,
                &garbage,
                shutdown,
                &["does not end at syscall_entry"],
            ),
            (
                Arch::Aarch64,
                &repeating,
                shutdown,
                &[
                    "did not end (65 frames)",
                    "decoded no trap",
                    "no PerCpuData",
                    "found no TCB",
                ],
            ),
            (
                Arch::X86_64,
                clean,
                "the debugger ended QEMU (gdb `kill` or quit), not the kernel",
                &["no clean shutdown"],
            ),
        ];
        for (arch, text, ended, expected) in cases {
            let problems = judge_batch(arch, text, ended);
            assert_eq!(problems.len(), expected.len(), "{arch}: {problems:#?}");
            for (problem, want) in problems.iter().zip(expected) {
                assert!(problem.contains(want), "`{problem}` lacks `{want}`");
            }
        }
    }
}
