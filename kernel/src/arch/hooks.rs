//! Where the architecture ports call into the rest of the kernel (or into the arch self test), the same for every port, and where every kernel entry takes the big kernel lock.
//!
//! Each port calls [`enter_from_user`] first on every entry from user mode, and
//! [`leave_to_user`] (from its entry assembly) last on every return to user mode; an
//! interrupt taken in kernel mode (only idle loops take them) runs its handler through
//! [`interrupt_in_kernel`], without the lock. The request IPI reaches [`ipi`]. Exceptions
//! in kernel mode are kernel bugs and panic without touching the lock (`crate::bkl`).

use super::UserFrame;
use crate::{bkl, smp};

#[cfg(not(feature = "arch-selftest"))]
pub use crate::sched::user_fault;
#[cfg(feature = "arch-selftest")]
pub use crate::selftest::{handle_syscall, user_fault};
#[cfg(not(feature = "arch-selftest"))]
pub use crate::syscall::handle_syscall;

#[cfg(not(feature = "arch-selftest"))]
use crate::sched::timer_tick as scheduler_tick;
#[cfg(feature = "arch-selftest")]
use crate::selftest::timer_tick as scheduler_tick;

/// The first thing every entry from user mode does (syscall, exception or interrupt):
/// takes the big kernel lock. Returns whether the entry goes on: `false` when another CPU
/// stalled the thread while this CPU waited for the lock (`smp::stall`); the caller then
/// handles only what the hardware needs (an interrupt's end) and calls [`abandon_entry`].
#[must_use]
pub fn enter_from_user(entry: smp::Entry) -> bool {
    smp::note_entry(entry);
    bkl::acquire();
    !smp::take_abandoned()
}

/// Ends an entry from user mode that a stall abandoned (see [`enter_from_user`]): the
/// thread's syscall was set up to be made again, and the scheduler runs whoever comes
/// next (the thread itself only if it is still runnable).
pub fn abandon_entry() {
    #[cfg(not(feature = "arch-selftest"))]
    crate::sched::abandoned_entry();
}

/// The request IPI (`crate::smp`), after its end of interrupt: answers the requests, and
/// from user mode lets the scheduler act on a pending preemption (a kick).
pub fn ipi(from_user: bool) {
    smp::handle_requests();
    #[cfg(not(feature = "arch-selftest"))]
    if from_user {
        crate::sched::preempt_if_pending();
    }
    #[cfg(feature = "arch-selftest")]
    let _ = from_user;
}

/// The last thing every return to user mode does, called from the entry assembly after
/// its final checks: gives up the big kernel lock.
pub extern "C" fn leave_to_user() {
    bkl::release();
}

/// Runs the handler of an interrupt taken in kernel mode. Only idle loops take interrupts
/// in kernel mode, and they do not hold the big kernel lock meanwhile. Their handlers
/// touch nothing but the CPU's own tick count and requests, so they take no lock: an idle
/// CPU then never waits for one. (In the arch self test the boot CPU's handler runs under
/// the lock: its ticks reach the test's counters.) (Waiting costs a host core
/// under QEMU: with the lock taken there too, the suite on `-smp 4` ran past 120 s
/// instead of 26 s on the 2-core test machine.)
pub fn interrupt_in_kernel(handle: impl FnOnce()) {
    if !cfg!(feature = "arch-selftest") || smp::this_cpu() != smp::BOOT_CPU {
        handle();
        return;
    }
    bkl::acquire();
    handle();
    bkl::release();
}

/// A timer tick on the running CPU: counted per CPU; from user mode it drives the
/// scheduler (time slices); in the arch self test the boot CPU's in-kernel ticks (under
/// the lock) reach it too. A tick in an idle loop, without the lock, stops at the count.
pub fn timer_tick(from_user: bool) {
    smp::count_tick();
    if from_user || (cfg!(feature = "arch-selftest") && smp::this_cpu() == smp::BOOT_CPU) {
        scheduler_tick(from_user);
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
