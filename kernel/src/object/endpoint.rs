//! Endpoint objects: a queue of threads waiting to send or to receive, never both at once.
//!
//! The rendezvous itself (message transfer, reply links, the direct switch) is in
//! `crate::ipc`; this module owns the queue. A queued thread does not hold the endpoint:
//! destroying the endpoint (its last capability deleted) wakes every queued thread with
//! [`Wake::Aborted`], and their syscalls fail with `Cancelled`.

use abi::ENDPOINT_SIZE_BITS;
use kerncore::ThreadList;

use super::phys_ptr;
use super::tcb::{self, ThreadState, Wake};
use crate::sched;

/// What the threads in an endpoint's queue wait to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Queue {
    /// Nobody waits.
    Idle,
    /// Senders (and callers, and faulting threads) wait for a receiver.
    Sending,
    /// Receivers wait for a sender.
    Receiving,
}

/// An endpoint, at the start of its `2^ENDPOINT_SIZE_BITS`-byte object.
#[repr(C)]
pub struct Endpoint {
    /// The waiting threads, in arrival order.
    pub queue: ThreadList,
    /// What they wait for; `Idle` exactly when `queue` is empty.
    pub state: Queue,
}

const _: () = assert!(core::mem::size_of::<Endpoint>() <= 1 << ENDPOINT_SIZE_BITS);

/// Runs `f` on the endpoint at `paddr`.
pub fn with<R>(paddr: u64, f: impl FnOnce(&mut Endpoint) -> R) -> R {
    // SAFETY: `paddr` names a live endpoint (from a capability, or a thread queued on it:
    // destroying the endpoint empties its queue first); no other reference to it is live
    // while `f` runs.
    f(unsafe { &mut *phys_ptr::<Endpoint>(paddr) })
}

/// Initialises a freshly zeroed endpoint.
pub fn init(paddr: u64) {
    let endpoint = Endpoint {
        queue: ThreadList::new(),
        state: Queue::Idle,
    };
    // SAFETY: The caller just retyped the object and owns its memory.
    unsafe { phys_ptr::<Endpoint>(paddr).write(endpoint) };
}

/// Takes the first thread waiting to do `what`, if the queue holds such threads.
pub fn take(paddr: u64, what: Queue) -> Option<u64> {
    with(paddr, |endpoint| {
        if endpoint.state != what {
            return None;
        }
        let thread = endpoint.queue.pop_front(&mut sched::TcbLinks);
        if endpoint.queue.is_empty() {
            endpoint.state = Queue::Idle;
        }
        thread
    })
}

/// Queues the running thread to do `what`. The caller then sets its state and blocks.
///
/// Panics if the queue holds threads waiting for the opposite (the caller must have taken
/// one of those instead) or the thread is already queued somewhere: both are kernel bugs.
pub fn enqueue(paddr: u64, thread: u64, what: Queue) {
    with(paddr, |endpoint| {
        assert!(
            endpoint.state == what || endpoint.state == Queue::Idle,
            "endpoint {paddr:#x} invariant broken: queueing a {what:?} thread behind {:?} ones",
            endpoint.state
        );
        if let Err(error) = endpoint.queue.push_back(&mut sched::TcbLinks, thread) {
            panic!("thread {thread:#x} was already in a queue: {error:?}");
        }
        endpoint.state = what;
    });
}

/// Takes a queued thread off the endpoint's queue (it is suspended, destroyed, or its
/// registers are rewritten).
pub fn remove(paddr: u64, thread: u64) {
    with(paddr, |endpoint| {
        let _ = endpoint.queue.remove(&mut sched::TcbLinks, thread);
        if endpoint.queue.is_empty() {
            endpoint.state = Queue::Idle;
        }
    });
}

/// Destroys an endpoint whose last capability is gone: every queued thread's IPC fails.
pub fn destroy(paddr: u64) {
    while let Some(thread) = with(paddr, |endpoint| {
        let thread = endpoint.queue.pop_front(&mut sched::TcbLinks);
        if thread.is_none() {
            endpoint.state = Queue::Idle;
        }
        thread
    }) {
        let state = tcb::with_tcb(thread, |tcb| tcb.state);
        debug_assert!(
            matches!(state, ThreadState::Sending(e) | ThreadState::Receiving(e) if e == paddr),
            "thread {thread:#x} queued on endpoint {paddr:#x} is {state:?}"
        );
        tcb::with_tcb(thread, |tcb| tcb.wake = Wake::Aborted);
        sched::make_runnable(thread);
    }
}
