//! The per-CPU blocks' storage and the stack canary, the same on every port; each port's generated `PerCpuData` and the register that finds a CPU's block differ.

use core::sync::atomic::{AtomicU64, Ordering};

use super::PerCpuData;
use crate::cell::PerCpu;
use crate::smp::MAX_CPUS;

static BLOCKS: PerCpu<PerCpuData> = PerCpu::new([const { PerCpuData::ZERO }; MAX_CPUS]);

/// The stack canary of every CPU: one value, so a thread's stack (whose bottom word
/// holds it) passes the check on whichever CPU returns it to user mode.
static CANARY: AtomicU64 = AtomicU64::new(0);

/// Fills the block of CPU `cpu` (its index, its own address, the canary) and returns it;
/// the port then points its per-CPU register at it. `counter` is a cycle counter reading,
/// from which the boot CPU (the first to call this) derives the canary.
pub fn prepare(cpu: usize, counter: u64) -> *mut PerCpuData {
    if CANARY.load(Ordering::Relaxed) == 0 {
        CANARY.store(canary_from(counter), Ordering::Relaxed);
    }
    let block = BLOCKS.get(cpu);
    // SAFETY: The block belongs to `cpu`, which is the running CPU setting itself up, and
    // nothing reads the block before the per-CPU register points at it.
    unsafe {
        (*block).self_ptr = block as u64;
        (*block).cpu_id = cpu as u64;
        (*block).stack_canary = CANARY.load(Ordering::Relaxed);
    }
    block
}

/// A stack canary derived from a cycle counter read at boot. It only has to be a value an
/// overflowing stack is unlikely to write; it is odd, so never zero.
fn canary_from(counter: u64) -> u64 {
    (counter.rotate_left(29) ^ 0x6b65_726e_6974_65c0) | 1
}

/// The value the bottom word of every thread's kernel stack must hold.
pub fn stack_canary() -> u64 {
    CANARY.load(Ordering::Relaxed)
}
