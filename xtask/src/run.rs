//! `cargo xtask run`: builds the image with init as root task and boots it in QEMU on this terminal.

use crate::build;
use crate::protocol::SerialReport;
use crate::qemu::{Debugger, boot_captured, boot_interactive};
use crate::targets::{DEFAULT_CPUS, MachineExit, ensure_qemu};
use anyhow::{Result, bail};
use std::time::Duration;

/// How long a traced boot may run.
const TRACE_TIMEOUT: Duration = Duration::from_secs(600);

/// Build everything and boot it in QEMU with the serial console on this terminal.
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub build: build::Args,
    /// Halt the CPU at the first instruction and wait for gdb on localhost:1234.
    #[arg(long)]
    pub gdb: bool,
    /// Number of CPUs of the machine (QEMU `-smp`); the kernel brings up every one.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_CPUS, value_parser = clap::value_parser!(u32).range(1..))]
    pub smp: u32,
    /// Print every trap decoded with the schema (a debug kernel with feature `trace`);
    /// `--trace=Tcb,debug_write` shows only entries matching one of the words.
    #[arg(long, value_name = "FILTER", num_args = 0..=1, require_equals = true, default_missing_value = "")]
    pub trace: Option<String>,
}

pub fn run(args: Args) -> Result<()> {
    let arch = args.build.arch;
    ensure_qemu(arch)?;
    if let Some(filter) = &args.trace {
        if args.build.release {
            bail!("--trace needs a debug kernel: the trace feature is never built optimized");
        }
        crate::trace::enable(filter)?;
        let kernel = build::build(args.build.request())?.kernel;
        // The records must be taken out of the console stream, so the boot is captured
        // (no keyboard input) rather than attached to this terminal.
        let boot = boot_captured(arch, &kernel, args.smp, arch.name(), TRACE_TIMEOUT)?;
        let report = SerialReport::parse(boot.lines.iter().map(String::as_str));
        let Some(exit) = boot.exit else {
            bail!("no shutdown after {} s", TRACE_TIMEOUT.as_secs());
        };
        judge(exit, report.shutdown_requested)?;
        eprintln!("xtask: {exit}");
        return Ok(());
    }
    let kernel = build::build(args.build.request())?.kernel;
    let debugger = if args.gdb {
        Debugger::WaitForGdb
    } else {
        Debugger::Off
    };
    let boot = boot_interactive(arch, &kernel, args.smp, debugger)?;
    judge(boot.exit, boot.shutdown_requested)?;
    eprintln!("xtask: {}", boot.exit);
    Ok(())
}

/// Passes only a shutdown with code 0 that the kernel announced on the console.
///
/// QEMU exits with status 1 both for the kernel's shutdown(0) and when it fails by itself
/// (a bad argument, an unreadable kernel, a failed device), so status 1 counts as a clean
/// shutdown only after the kernel's `shutdown requested with code 0` line.
fn judge(exit: MachineExit, shutdown_requested: Option<u32>) -> Result<()> {
    match (exit, shutdown_requested) {
        (MachineExit::Shutdown(0), Some(0)) => Ok(()),
        (MachineExit::Shutdown(0), requested) => {
            let seen = match requested {
                Some(code) => format!("the kernel's last shutdown line asked for code {code}"),
                None => "the kernel never printed `shutdown requested with code 0`".to_string(),
            };
            bail!(
                "QEMU exited with status 1 but {seen}: QEMU itself failed (its message is \
                 above), this was not a clean shutdown"
            )
        }
        (exit, _) => bail!("{exit}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_announced_shutdown_zero_passes() {
        let cases = [
            (MachineExit::Shutdown(0), Some(0), None),
            (MachineExit::Shutdown(0), None, Some("never printed")),
            (MachineExit::Shutdown(0), Some(2), Some("asked for code 2")),
            (MachineExit::Shutdown(1), Some(1), Some("code 1")),
            (MachineExit::Shutdown(1), None, Some("code 1")),
            (MachineExit::Reset, Some(0), Some("reset")),
            (MachineExit::Abnormal(None), None, Some("signal")),
        ];
        for (exit, requested, expected) in cases {
            let outcome = judge(exit, requested);
            match expected {
                None => assert!(outcome.is_ok(), "{exit:?} {requested:?}: {outcome:?}"),
                Some(fragment) => {
                    let message = format!("{:#}", outcome.expect_err("must fail"));
                    assert!(message.contains(fragment), "`{message}` lacks `{fragment}`");
                }
            }
        }
    }
}
