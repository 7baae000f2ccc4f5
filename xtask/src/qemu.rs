//! Booting a kernel in QEMU: interactively (`run`) or captured with a timeout (`test`, `bench`).

use crate::cargo::command_line;
use crate::targets::{Arch, MachineExit, ensure_qemu};
use anyhow::{Context, Result};
use std::io::{BufRead, BufReader};
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

/// Boots `kernel` with the serial console on this terminal and returns how it ended.
pub fn boot_interactive(arch: Arch, kernel: &Path, debugger: Debugger) -> Result<MachineExit> {
    ensure_qemu(arch)?;
    let mut command = Command::new(arch.qemu_binary());
    command.args(arch.qemu_args(kernel));
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
    let status = command
        .status()
        .with_context(|| format!("starting {}", arch.qemu_binary()))?;
    Ok(arch.decode_exit(status.code()))
}

/// Boots `kernel` headless with no stdin, streams the serial output to this terminal
/// (each line prefixed with `label`), and kills QEMU after `timeout`.
pub fn boot_captured(
    arch: Arch,
    kernel: &Path,
    label: &str,
    timeout: Duration,
) -> Result<CapturedBoot> {
    ensure_qemu(arch)?;
    let mut command = Command::new(arch.qemu_binary());
    command.args(arch.qemu_args(kernel));
    command.stdin(Stdio::null()).stdout(Stdio::piped());
    eprintln!("xtask: {}", command_line(&command));
    let mut child = command
        .spawn()
        .with_context(|| format!("starting {}", arch.qemu_binary()))?;
    let stdout = child.stdout.take().context("QEMU has no stdout pipe")?;

    // A reader thread forwards lines, so the wait below can time out even while QEMU
    // prints nothing. The channel closes when QEMU closes its output.
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

    let deadline = Instant::now() + timeout;
    let mut lines = Vec::new();
    let mut timed_out = false;
    loop {
        let remaining = deadline.saturating_duration_since(Instant::now());
        match receiver.recv_timeout(remaining) {
            Ok(line) => {
                println!("[{label}] {line}");
                lines.push(line);
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                timed_out = true;
                break;
            }
        }
    }
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
