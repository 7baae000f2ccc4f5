//! CPUs: the boot information says how many run; the suite prints the count (`CPUS <n>`) for xtask, which compares it with the `-smp` count it booted QEMU with.

use trona::println;

use crate::ctx::Ctx;
use crate::harness::{Outcome, ensure};

/// `BootInfo.cpu_count` names at least the CPU the suite runs on; the `CPUS` line hands
/// it to xtask (docs/CONTRACTS.md, "In-QEMU test protocol").
pub fn cpu_count(ctx: &mut Ctx) -> Outcome {
    let count = ctx.info.cpu_count;
    ensure!(
        count >= 1,
        "BootInfo.cpu_count is {count}: the kernel counts no CPU (one that predates the field?)"
    );
    println!("CPUS {count}");
    Ok(())
}
