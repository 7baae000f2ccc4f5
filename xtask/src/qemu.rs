//! Booting a kernel in QEMU: interactively (`run`) or captured with a timeout (`test`, `bench`).

use crate::cargo::command_line;
use crate::protocol::shutdown_request;
use crate::targets::{Arch, MachineExit, ensure_qemu};
use anyhow::{Context, Result};
use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// What a captured boot produced.
pub struct CapturedBoot {
    /// How QEMU ended; `None` when xtask killed it at the timeout.
    pub exit: Option<MachineExit>,
    /// Every line of serial output, without line endings.
    pub lines: Vec<String>,
}

/// Extra QEMU arguments for waiting on a debugger.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Debugger {
    Off,
    /// `-s -S`: gdb server on port 1234, CPU halted until the debugger continues.
    WaitForGdb,
}

/// What an interactive boot produced.
pub struct InteractiveBoot {
    /// How QEMU ended, decoded from its exit status alone.
    pub exit: MachineExit,
    /// The code of the kernel's last `shutdown requested with code <N>` line, if any.
    pub shutdown_requested: Option<u32>,
}

/// Boots `kernel` on `cpus` CPUs with the serial console on this terminal and returns how
/// it ended.
///
/// QEMU reads the terminal directly; its output passes through xtask unchanged, which
/// watches it for the kernel's shutdown line.
pub fn boot_interactive(
    arch: Arch,
    kernel: &Path,
    cpus: u32,
    debugger: Debugger,
) -> Result<InteractiveBoot> {
    ensure_qemu(arch)?;
    let mut command = Command::new(arch.qemu_binary());
    command.args(arch.qemu_args(kernel, cpus));
    if debugger == Debugger::WaitForGdb {
        command.args(["-s", "-S"]);
        let gdb = match arch {
            Arch::X86_64 => "gdb",
            Arch::Aarch64 => "gdb-multiarch",
        };
        eprintln!(
            "xtask: QEMU waits for a debugger on localhost:1234. In another terminal:\n  \
             {gdb} {} -ex 'target remote localhost:1234'",
            kernel.display()
        );
    }
    eprintln!("xtask: {}", command_line(&command));
    command.stdout(Stdio::piped());
    let mut child = command
        .spawn()
        .with_context(|| format!("starting {}", arch.qemu_binary()))?;
    let stdout = child.stdout.take().context("QEMU has no stdout pipe")?;
    let forwarded = forward_serial(stdout);
    // Reap QEMU even when forwarding failed; it ends once its output has nowhere to go.
    if forwarded.is_err() {
        let _ = child.kill();
    }
    let status = child.wait().context("waiting for QEMU")?;
    Ok(InteractiveBoot {
        exit: arch.decode_exit(status.code()),
        shutdown_requested: forwarded?,
    })
}

/// Copies QEMU's serial output to this process's stdout as it arrives (partial lines
/// too, so prompts show), and returns the code of the last shutdown line in it.
fn forward_serial(mut serial: impl Read) -> Result<Option<u32>> {
    let mut out = std::io::stdout();
    let mut chunk = [0; 4096];
    let mut line = Vec::new();
    let mut requested = None;
    loop {
        let read = match serial.read(&mut chunk) {
            Ok(0) => return Ok(requested),
            Ok(read) => read,
            Err(error) if error.kind() == ErrorKind::Interrupted => continue,
            Err(error) => return Err(error).context("reading QEMU's output"),
        };
        out.write_all(&chunk[..read])
            .and_then(|()| out.flush())
            .context("writing QEMU's output to stdout")?;
        for &byte in &chunk[..read] {
            if byte != b'\n' {
                line.push(byte);
                continue;
            }
            if let Some(code) = shutdown_request(&String::from_utf8_lossy(&line)) {
                requested = Some(code);
            }
            line.clear();
        }
    }
}

/// Boots `kernel` on `cpus` CPUs headless with no stdin, streams the serial output to
/// this terminal (each line prefixed with `label`), and kills QEMU after `timeout`.
pub fn boot_captured(
    arch: Arch,
    kernel: &Path,
    cpus: u32,
    label: &str,
    timeout: Duration,
) -> Result<CapturedBoot> {
    boot_captured_with(arch, kernel, cpus, &[], label, timeout)
}

/// [`boot_captured`] with `extra` QEMU options after the architecture's own (`bench
/// --icount` adds `-icount shift=N`).
pub fn boot_captured_with(
    arch: Arch,
    kernel: &Path,
    cpus: u32,
    extra: &[String],
    label: &str,
    timeout: Duration,
) -> Result<CapturedBoot> {
    ensure_qemu(arch)?;
    let (mut child, receiver) = spawn(arch, kernel, cpus, extra)?;

    let deadline = Instant::now() + timeout;
    let mut lines = Vec::new();
    let mut timed_out = false;
    loop {
        let remaining = deadline.saturating_duration_since(Instant::now());
        match receiver.recv_timeout(remaining) {
            Ok(line) => {
                // With `--trace`, records are decoded and taken out of the user's lines.
                for line in crate::trace::serial_line(label, line) {
                    println!("[{label}] {line}");
                    lines.push(line);
                }
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                timed_out = true;
                break;
            }
        }
    }
    crate::trace::end_of_boot(label);
    if timed_out {
        eprintln!(
            "xtask: [{label}] no shutdown after {} s; killing QEMU",
            timeout.as_secs()
        );
        // The child may have exited on its own just now; either way it is gone after wait.
        let _ = child.kill();
        child.wait().context("waiting for QEMU after killing it")?;
        return Ok(CapturedBoot { exit: None, lines });
    }
    let status = child.wait().context("waiting for QEMU")?;
    Ok(CapturedBoot {
        exit: Some(arch.decode_exit(status.code())),
        lines,
    })
}

/// Starts QEMU on `kernel` with `cpus` CPUs and its serial console on a pipe, and a reader thread that
/// forwards each line (without its line ending) on the returned channel, so that a caller
/// can time out even while QEMU prints nothing. The channel closes with QEMU's output.
pub fn spawn_with_lines(
    arch: Arch,
    kernel: &Path,
    cpus: u32,
) -> Result<(std::process::Child, mpsc::Receiver<String>)> {
    spawn(arch, kernel, cpus, &[])
}

/// [`spawn_with_lines`] with `extra` QEMU options after the architecture's own.
fn spawn(
    arch: Arch,
    kernel: &Path,
    cpus: u32,
    extra: &[String],
) -> Result<(std::process::Child, mpsc::Receiver<String>)> {
    let mut command = Command::new(arch.qemu_binary());
    command.args(arch.qemu_args(kernel, cpus)).args(extra);
    command.stdin(Stdio::null()).stdout(Stdio::piped());
    eprintln!("xtask: {}", command_line(&command));
    let mut child = command
        .spawn()
        .with_context(|| format!("starting {}", arch.qemu_binary()))?;
    let stdout = child.stdout.take().context("QEMU has no stdout pipe")?;
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stdout);
        let mut buffer = Vec::new();
        while let Ok(read) = reader.read_until(b'\n', &mut buffer) {
            if read == 0 {
                break;
            }
            let line = String::from_utf8_lossy(&buffer);
            if sender
                .send(line.trim_end_matches(['\n', '\r']).to_string())
                .is_err()
            {
                break;
            }
            buffer.clear();
        }
    });
    Ok((child, receiver))
}
