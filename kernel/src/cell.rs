//! `CpuLocal<T>`: a global the one CPU owns, mutated only with interrupts disabled.

use core::cell::UnsafeCell;

/// A global value for kernel state on the single CPU.
///
/// The kernel runs on one CPU and keeps interrupts disabled whenever it runs kernel code
/// (interrupt handlers included), so at most one execution context touches the value at a
/// time. Callers still go through `unsafe` and promise not to hold two live mutable
/// references at once.
pub struct CpuLocal<T>(UnsafeCell<T>);

// SAFETY: See the type documentation: one CPU, interrupts off in the kernel, so there is
// no concurrent access.
unsafe impl<T> Sync for CpuLocal<T> {}

impl<T> CpuLocal<T> {
    /// Wraps an initial value.
    pub const fn new(value: T) -> Self {
        Self(UnsafeCell::new(value))
    }

    /// A raw pointer to the value.
    pub const fn get(&self) -> *mut T {
        self.0.get()
    }
}
