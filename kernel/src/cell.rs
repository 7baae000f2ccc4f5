//! Interior-mutable kernel statics: `PerCpu<T>` (one value per CPU) and `BklCell<T>` (one value for the machine, under the big kernel lock).

use core::cell::UnsafeCell;

use crate::smp::MAX_CPUS;

/// One value per CPU: each CPU reaches only its own (`get(arch::cpu_index())`), except
/// that the boot CPU may fill a secondary CPU's value before starting that CPU.
///
/// Kernel code runs with interrupts disabled (interrupt handlers included), so at most
/// one execution context of a CPU touches its value at a time. Callers still go through
/// `unsafe` and promise not to hold two live mutable references at once.
#[repr(transparent)]
pub struct PerCpu<T>(UnsafeCell<[T; MAX_CPUS]>);

// SAFETY: See the type documentation: every CPU touches only its own element, with
// interrupts off, apart from the hand-over before a CPU starts.
unsafe impl<T> Sync for PerCpu<T> {}

impl<T> PerCpu<T> {
    /// Wraps the initial values, one per CPU index.
    pub const fn new(values: [T; MAX_CPUS]) -> Self {
        Self(UnsafeCell::new(values))
    }

    /// A raw pointer to the value of CPU `cpu`. Panics for an index beyond `MAX_CPUS`.
    pub fn get(&self, cpu: usize) -> *mut T {
        assert!(
            cpu < MAX_CPUS,
            "CPU index {cpu} is beyond the {MAX_CPUS} the kernel supports"
        );
        // SAFETY: `cpu` is inside the array; only the pointer is computed.
        unsafe { self.0.get().cast::<T>().add(cpu) }
    }
}

/// A global value for kernel state of the whole machine, touched only while the running
/// CPU holds the big kernel lock (`crate::bkl`), or while the boot CPU is the only one
/// running (early boot) or the value is never written again (set once at boot).
///
/// The lock serialises kernel code across CPUs and interrupts are disabled in kernel code,
/// so at most one execution context touches the value at a time. Callers still go through
/// `unsafe` and promise not to hold two live mutable references at once. Each static of
/// this type says which of the three cases applies to it.
pub struct BklCell<T>(UnsafeCell<T>);

// SAFETY: See the type documentation: the big kernel lock (or boot order) excludes
// concurrent access.
unsafe impl<T> Sync for BklCell<T> {}

impl<T> BklCell<T> {
    /// Wraps an initial value.
    pub const fn new(value: T) -> Self {
        Self(UnsafeCell::new(value))
    }

    /// A raw pointer to the value.
    pub const fn get(&self) -> *mut T {
        self.0.get()
    }
}
