//! State that the supervisor and the worker thread hand over to each other, never touching it at the same time.

use core::cell::UnsafeCell;

/// A value that one thread at a time uses, by a protocol outside the type system.
///
/// The fuzzer's protocol: the worker runs at a higher priority than the supervisor on
/// the one CPU, so the supervisor runs only while the worker is not runnable (blocked,
/// suspended, exited or faulted, always inside or after a syscall, never half-way
/// through an update), and a worker starts only after the supervisor has stopped the
/// previous one.
pub struct Shared<T> {
    value: UnsafeCell<T>,
}

// SAFETY: access is serialised by the protocol above (see `Shared::ptr`'s callers).
unsafe impl<T> Sync for Shared<T> {}

impl<T> Shared<T> {
    /// Wraps `value`.
    pub const fn new(value: T) -> Shared<T> {
        Shared {
            value: UnsafeCell::new(value),
        }
    }

    /// The value's address; dereference it only while the protocol gives this thread the value.
    pub fn ptr(&self) -> *mut T {
        self.value.get()
    }
}
