//! The per-CPU block's storage and stack canary, the same on every port; each port's generated `PerCpuData` and the register that finds it differ.

use super::PerCpuData;
use crate::cell::CpuLocal;

static PERCPU: CpuLocal<PerCpuData> = CpuLocal::new(PerCpuData::ZERO);

/// The block of the one CPU; the port points its per-CPU register at it in `init_early`.
pub fn block() -> *mut PerCpuData {
    PERCPU.get()
}

/// A stack canary derived from a cycle counter read at boot. It only has to be a value an
/// overflowing stack is unlikely to write; it is odd, so never zero.
pub fn canary_from(counter: u64) -> u64 {
    (counter.rotate_left(29) ^ 0x6b65_726e_6974_65c0) | 1
}

/// The value the bottom word of every thread's kernel stack must hold.
pub fn stack_canary() -> u64 {
    // SAFETY: A plain read of a field only this CPU writes, with interrupts off.
    unsafe { (*PERCPU.get()).stack_canary }
}
