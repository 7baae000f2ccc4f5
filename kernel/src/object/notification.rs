//! Notification objects: a word of signal bits, the threads waiting on it, and the thread bound to it.

use abi::{Error, NOTIFICATION_SIZE_BITS};
use kerncore::{ObjectCounts, ThreadList};

use super::phys_ptr;
use super::tcb::{self, Syscall, ThreadState, Wake};
use crate::sched;

/// A notification, at the start of its `2^NOTIFICATION_SIZE_BITS`-byte object.
#[repr(C)]
pub struct Notification {
    /// Pending signal bits.
    pub word: u64,
    /// Threads blocked in `wait`, in arrival order. Each one holds the notification.
    pub waiters: ThreadList,
    /// Holders: waiting threads and the bound thread.
    pub counts: ObjectCounts,
    /// The TCB bound to this notification (physical address), 0 when none.
    pub bound_tcb: u64,
}

const _: () = assert!(core::mem::size_of::<Notification>() <= 1 << NOTIFICATION_SIZE_BITS);

/// Runs `f` on the notification at `paddr`.
pub fn with<R>(paddr: u64, f: impl FnOnce(&mut Notification) -> R) -> R {
    // SAFETY: `paddr` names a live notification (from a capability or a thread that holds
    // it); no other reference to it is live while `f` runs.
    f(unsafe { &mut *phys_ptr::<Notification>(paddr) })
}

/// Initialises a freshly zeroed notification with one capability.
pub fn init(paddr: u64) {
    let ntfn = Notification {
        word: 0,
        waiters: ThreadList::new(),
        counts: ObjectCounts::UNHELD,
        bound_tcb: 0,
    };
    // SAFETY: The caller just retyped the object and owns its memory.
    unsafe { phys_ptr::<Notification>(paddr).write(ntfn) };
}

/// ORs `bits` into the word; if a thread waits, hands it the whole word and wakes it.
/// Otherwise, if the bound thread waits in a receive on an endpoint, the word is delivered
/// to it there (`crate::ipc::deliver_signal`).
pub fn signal(paddr: u64, bits: u64) {
    let (woken, bound) = with(paddr, |ntfn| {
        ntfn.word |= bits;
        let Some(thread) = ntfn.waiters.pop_front(&mut sched::TcbLinks) else {
            return (None, ntfn.bound_tcb);
        };
        let word = core::mem::take(&mut ntfn.word);
        ntfn.counts.unhold();
        (Some((thread, word)), 0)
    });
    if let Some((thread, word)) = woken {
        tcb::with_tcb(thread, |tcb| {
            tcb.wake = Wake::Signaled(word);
            tcb.wait_object = 0;
        });
        sched::make_runnable(thread);
    } else if bound != 0 {
        let word = with(paddr, |ntfn| ntfn.word);
        if crate::ipc::deliver_signal(bound, word) {
            with(paddr, |ntfn| ntfn.word = 0);
        }
    }
}

/// Takes and clears the word; `WouldBlock` when it is zero.
pub fn poll(paddr: u64) -> Result<u64, Error> {
    match with(paddr, |ntfn| core::mem::take(&mut ntfn.word)) {
        0 => Err(Error::WouldBlock),
        word => Ok(word),
    }
}

/// Takes and clears the word, blocking the current thread until it is non-zero.
///
/// The waiting thread holds the notification from the first block until the wait ends,
/// also while it is suspended: a suspended waiter is taken off the queue, and when it is
/// resumed it waits again (the wait restarts), so the notification must still exist.
pub fn wait(paddr: u64) -> Result<u64, Error> {
    if let Ok(word) = poll(paddr) {
        return Ok(word);
    }
    let thread = sched::current();
    with(paddr, |ntfn| ntfn.counts.hold())?;
    tcb::with_tcb(thread, |tcb| tcb.wait_object = paddr);
    loop {
        if let Ok(word) = poll(paddr) {
            with(paddr, |ntfn| ntfn.counts.unhold());
            tcb::with_tcb(thread, |tcb| tcb.wait_object = 0);
            return Ok(word);
        }
        with(paddr, |ntfn| {
            if let Err(error) = ntfn.waiters.push_back(&mut sched::TcbLinks, thread) {
                panic!("running thread {thread:#x} was already in a queue: {error:?}");
            }
        });
        tcb::with_tcb(thread, |tcb| {
            tcb.wake = Wake::Pending;
            tcb.state = ThreadState::Blocked(paddr);
        });
        sched::block_current();
        // Signaled: `signal` took the word and the hold. Cancelled: suspended and resumed
        // since, still holding the notification; wait again, unless the thread's registers
        // were rewritten meanwhile: then the syscall is abandoned and its result discarded.
        let (wake, syscall) = tcb::with_tcb(thread, |tcb| {
            (
                core::mem::replace(&mut tcb.wake, Wake::Pending),
                tcb.syscall,
            )
        });
        match wake {
            Wake::Signaled(word) => return Ok(word),
            Wake::Cancelled if syscall == Syscall::Abandoned => {
                with(paddr, |ntfn| ntfn.counts.unhold());
                tcb::with_tcb(thread, |tcb| tcb.wait_object = 0);
                return Err(Error::WouldBlock);
            }
            Wake::Cancelled | Wake::Pending | Wake::Delivered | Wake::Aborted => {}
        }
    }
}

/// Takes a blocked thread off the notification's wait queue (it is being suspended or
/// destroyed, or its registers are rewritten). The thread keeps its hold until its wait ends or it is destroyed.
pub fn cancel_wait(paddr: u64, thread: u64) {
    with(paddr, |ntfn| {
        let _ = ntfn.waiters.remove(&mut sched::TcbLinks, thread);
    });
    tcb::with_tcb(thread, |tcb| tcb.wake = Wake::Cancelled);
}

/// Drops the hold of a thread that is being destroyed in the middle of a wait.
pub fn abandon_wait(paddr: u64) {
    with(paddr, |ntfn| ntfn.counts.unhold());
}

/// Binds the notification to a thread: `IllegalOperation` when either is already bound.
pub fn bind(paddr: u64, thread: u64) -> Result<(), Error> {
    if tcb::with_tcb(thread, |tcb| tcb.bound_notification) != 0 {
        return Err(Error::IllegalOperation);
    }
    with(paddr, |ntfn| {
        if ntfn.bound_tcb != 0 {
            return Err(Error::IllegalOperation);
        }
        ntfn.counts.hold()?;
        ntfn.bound_tcb = thread;
        Ok(())
    })?;
    tcb::with_tcb(thread, |tcb| tcb.bound_notification = paddr);
    Ok(())
}

/// Undoes [`bind`] for `thread` (which must be the bound thread).
pub fn unbind(paddr: u64, thread: u64) {
    with(paddr, |ntfn| {
        if ntfn.bound_tcb == thread {
            ntfn.bound_tcb = 0;
            ntfn.counts.unhold();
        }
    });
    tcb::with_tcb(thread, |tcb| {
        if tcb.bound_notification == paddr {
            tcb.bound_notification = 0;
        }
    });
}

/// Whether the notification may be destroyed: no waiter and no bound thread (they hold it,
/// so the counts already refuse; this re-checks the structure itself).
pub fn check_destroy(paddr: u64) -> Result<(), Error> {
    with(paddr, |ntfn| {
        if ntfn.waiters.is_empty() && ntfn.bound_tcb == 0 {
            Ok(())
        } else {
            Err(Error::Busy)
        }
    })
}
