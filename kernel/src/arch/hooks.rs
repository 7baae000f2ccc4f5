//! Where the architecture ports call into the rest of the kernel (or into the arch self test), the same for every port.

use super::UserFrame;

#[cfg(not(feature = "arch-selftest"))]
pub use crate::sched::{timer_tick, user_fault};
#[cfg(feature = "arch-selftest")]
pub use crate::selftest::{handle_syscall, timer_tick, user_fault};
#[cfg(not(feature = "arch-selftest"))]
pub use crate::syscall::handle_syscall;

/// The saved user registers of the thread that entered the kernel, where the entry path
/// put them.
///
/// Deliberately a raw pointer, not a reference: the handler may switch threads, and the
/// scheduler and `Tcb.write_registers` reach the same registers through the thread's TCB
/// meanwhile. Every access goes through [`EntryFrame::with`], so no reference to the
/// registers outlives one access and at most one path to them is live at a time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EntryFrame(*mut UserFrame);

impl EntryFrame {
    /// Wraps the frame the entry assembly built.
    ///
    /// # Safety
    /// `frame` must point to the running thread's saved user registers on its kernel
    /// stack, which stay there while the thread exists.
    pub unsafe fn new(frame: *mut UserFrame) -> EntryFrame {
        EntryFrame(frame)
    }

    /// The raw pointer (to compare with the one the TCB keeps).
    pub fn as_ptr(self) -> *mut UserFrame {
        self.0
    }

    /// Runs `f` on the registers; `f` must not switch threads or reach them another way.
    pub fn with<R>(self, f: impl FnOnce(&mut UserFrame) -> R) -> R {
        // SAFETY: See `new`; the reference lives only for `f`, during which nothing else
        // touches the frame (one CPU, and `f` does not switch threads).
        f(unsafe { &mut *self.0 })
    }
}
