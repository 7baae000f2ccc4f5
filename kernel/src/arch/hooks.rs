//! Where the architecture ports call into the rest of the kernel (or into the arch self test), the same for every port, and where every kernel entry takes the big kernel lock.
//!
//! Each port calls [`enter_from_user`] first on every entry from user mode, and
//! [`leave_to_user`] (from its entry assembly) last on every return to user mode; an
//! interrupt taken in kernel mode (only idle loops take them) runs its handler through
//! [`interrupt_in_kernel`], under the lock on the boot CPU. Exceptions in kernel mode are
//! kernel bugs and panic without touching the lock (`crate::bkl`).

use super::UserFrame;
use crate::{bkl, smp};

#[cfg(not(feature = "arch-selftest"))]
pub use crate::sched::user_fault;
#[cfg(feature = "arch-selftest")]
pub use crate::selftest::{handle_syscall, user_fault};
#[cfg(not(feature = "arch-selftest"))]
pub use crate::syscall::handle_syscall;

#[cfg(not(feature = "arch-selftest"))]
use crate::sched::timer_tick as boot_cpu_tick;
#[cfg(feature = "arch-selftest")]
use crate::selftest::timer_tick as boot_cpu_tick;

/// The first thing every entry from user mode does (syscall, exception or interrupt):
/// takes the big kernel lock.
pub fn enter_from_user() {
    bkl::acquire();
}

/// The last thing every return to user mode does, called from the entry assembly after
/// its final checks: gives up the big kernel lock.
pub extern "C" fn leave_to_user() {
    bkl::release();
}

/// Runs the handler of an interrupt taken in kernel mode. Only idle loops take interrupts
/// in kernel mode, and they do not hold the big kernel lock meanwhile. On the boot CPU,
/// whose idle loop is the scheduler's, the handler runs under the lock. A secondary CPU
/// idles outside the scheduler and its handlers touch nothing but its own tick count, so
/// it takes no lock: an idle CPU then never waits for one. (Waiting costs a host core
/// under QEMU: with the lock taken there too, the suite on `-smp 4` ran past 120 s
/// instead of 26 s on the 2-core test machine.)
pub fn interrupt_in_kernel(handle: impl FnOnce()) {
    if smp::this_cpu() != smp::BOOT_CPU {
        handle();
        return;
    }
    bkl::acquire();
    handle();
    bkl::release();
}

/// A timer tick on the running CPU: counted per CPU; on the boot CPU it also drives the
/// scheduler (or the arch self test). Secondary CPUs only idle, so their ticks stop there.
pub fn timer_tick(from_user: bool) {
    smp::count_tick();
    if smp::this_cpu() == smp::BOOT_CPU {
        boot_cpu_tick(from_user);
    }
}

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
        // touches the frame (the big kernel lock, and `f` does not switch threads).
        f(unsafe { &mut *self.0 })
    }
}
