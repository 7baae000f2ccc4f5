//! Thread queues: FIFO lists threaded through per-thread links, and the priority run queues.
//!
//! Threads are named by a non-zero [`ThreadId`] (the kernel uses the TCB's physical
//! address). The links live with each thread (in the kernel, inside the TCB), reached
//! through the [`Links`] trait, so queues never allocate and removing any thread is O(1).
//! A thread is in at most one list at a time: its run queue or one wait queue.

use abi::NUM_PRIORITIES;

/// A thread's name in the queues; never zero.
pub type ThreadId = u64;

/// The per-thread queue links, stored with the thread.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QueueLink {
    /// The next thread in the list, 0 at the tail.
    pub next: ThreadId,
    /// The previous thread in the list, 0 at the head.
    pub prev: ThreadId,
    /// Whether the thread is in a list.
    pub queued: bool,
}

/// Access to the links of threads by id.
pub trait Links {
    /// The links of `thread`.
    fn link(&mut self, thread: ThreadId) -> &mut QueueLink;
}

/// Why a queue operation was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QueueError {
    /// Thread id 0 names no thread.
    NullThread,
    /// The thread is already in a list.
    AlreadyQueued,
    /// The thread is not in this list.
    NotQueued,
    /// The priority is not below `NUM_PRIORITIES`.
    BadPriority,
}

/// A FIFO list of threads.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ThreadList {
    head: ThreadId,
    tail: ThreadId,
}

impl ThreadList {
    /// An empty list.
    pub const fn new() -> ThreadList {
        ThreadList { head: 0, tail: 0 }
    }

    /// Whether the list is empty.
    pub fn is_empty(&self) -> bool {
        self.head == 0
    }

    /// The first thread, if any.
    pub fn front(&self) -> Option<ThreadId> {
        (self.head != 0).then_some(self.head)
    }

    /// Appends `thread`, which must not be in any list.
    pub fn push_back(
        &mut self,
        links: &mut impl Links,
        thread: ThreadId,
    ) -> Result<(), QueueError> {
        if thread == 0 {
            return Err(QueueError::NullThread);
        }
        if links.link(thread).queued {
            return Err(QueueError::AlreadyQueued);
        }
        *links.link(thread) = QueueLink {
            next: 0,
            prev: self.tail,
            queued: true,
        };
        if self.tail == 0 {
            self.head = thread;
        } else {
            links.link(self.tail).next = thread;
        }
        self.tail = thread;
        Ok(())
    }

    /// Removes and returns the first thread.
    pub fn pop_front(&mut self, links: &mut impl Links) -> Option<ThreadId> {
        let thread = self.front()?;
        self.unlink(links, thread);
        Some(thread)
    }

    /// Removes `thread`, which the caller knows to be in this list (the kernel records which
    /// list a thread is in). Refuses a thread that is in no list.
    pub fn remove(&mut self, links: &mut impl Links, thread: ThreadId) -> Result<(), QueueError> {
        if thread == 0 {
            return Err(QueueError::NullThread);
        }
        let link = *links.link(thread);
        let head_ok = if link.prev == 0 {
            self.head == thread
        } else {
            links.link(link.prev).next == thread
        };
        let tail_ok = if link.next == 0 {
            self.tail == thread
        } else {
            links.link(link.next).prev == thread
        };
        let linked_here = link.queued && head_ok && tail_ok;
        if !linked_here {
            return Err(QueueError::NotQueued);
        }
        self.unlink(links, thread);
        Ok(())
    }

    fn unlink(&mut self, links: &mut impl Links, thread: ThreadId) {
        let link = *links.link(thread);
        if link.prev == 0 {
            self.head = link.next;
        } else {
            links.link(link.prev).next = link.next;
        }
        if link.next == 0 {
            self.tail = link.prev;
        } else {
            links.link(link.next).prev = link.prev;
        }
        *links.link(thread) = QueueLink::default();
    }
}

const PRIORITIES: usize = NUM_PRIORITIES as usize;
const _: () = assert!(PRIORITIES <= 64, "the ready bitmap is one u64");

/// The run queues: one FIFO per priority and a bitmap of the non-empty ones, so the
/// highest ready priority is found in O(1). Higher priorities run first; threads of one
/// priority take turns (round robin: a preempted or yielding thread goes to the back).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RunQueues {
    queues: [ThreadList; PRIORITIES],
    ready: u64,
}

impl Default for RunQueues {
    fn default() -> RunQueues {
        RunQueues::new()
    }
}

impl RunQueues {
    /// Empty run queues.
    pub const fn new() -> RunQueues {
        RunQueues {
            queues: [ThreadList::new(); PRIORITIES],
            ready: 0,
        }
    }

    /// Whether no thread is ready.
    pub fn is_empty(&self) -> bool {
        self.ready == 0
    }

    /// The highest priority with a ready thread.
    pub fn highest_priority(&self) -> Option<u8> {
        (self.ready != 0).then(|| 63 - self.ready.leading_zeros() as u8)
    }

    /// Keeps the ready bitmap true to the queues: clears `priority`'s bit once its queue is empty.
    fn clear_ready_if_empty(&mut self, priority: u8) {
        if self.queues[usize::from(priority)].is_empty() {
            self.ready &= !(1 << priority);
        }
    }

    /// Appends `thread` to the queue of `priority`.
    pub fn enqueue(
        &mut self,
        links: &mut impl Links,
        thread: ThreadId,
        priority: u8,
    ) -> Result<(), QueueError> {
        let queue = self.queue_mut(priority)?;
        queue.push_back(links, thread)?;
        self.ready |= 1 << priority;
        Ok(())
    }

    /// Removes and returns the first thread of the highest non-empty priority.
    pub fn dequeue_highest(&mut self, links: &mut impl Links) -> Option<(ThreadId, u8)> {
        let priority = self.highest_priority()?;
        let thread = self.queues[usize::from(priority)].pop_front(links)?;
        self.clear_ready_if_empty(priority);
        Some((thread, priority))
    }

    /// Removes `thread` from the queue of `priority` (the priority it was enqueued with).
    pub fn remove(
        &mut self,
        links: &mut impl Links,
        thread: ThreadId,
        priority: u8,
    ) -> Result<(), QueueError> {
        self.queue_mut(priority)?.remove(links, thread)?;
        self.clear_ready_if_empty(priority);
        Ok(())
    }

    /// The queue of `priority`, or `BadPriority` when there is none.
    fn queue_mut(&mut self, priority: u8) -> Result<&mut ThreadList, QueueError> {
        self.queues
            .get_mut(usize::from(priority))
            .ok_or(QueueError::BadPriority)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[derive(Default)]
    struct Table(HashMap<ThreadId, QueueLink>);

    impl Links for Table {
        fn link(&mut self, thread: ThreadId) -> &mut QueueLink {
            self.0.entry(thread).or_default()
        }
    }

    #[derive(Clone, Copy, Debug)]
    enum Op {
        Enqueue(ThreadId, u8),
        Dequeue,
        Remove(ThreadId, u8),
    }

    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    enum Outcome {
        Done,
        Picked(Option<(ThreadId, u8)>),
        Refused(QueueError),
    }

    use Op::*;
    use Outcome::*;

    /// Runs `steps` on empty run queues and compares every outcome.
    fn check(steps: &[(Op, Outcome)]) {
        let mut links = Table::default();
        let mut queues = RunQueues::new();
        for (index, &(op, expected)) in steps.iter().enumerate() {
            let outcome = match op {
                Enqueue(thread, priority) => queues
                    .enqueue(&mut links, thread, priority)
                    .map_or_else(Refused, |()| Done),
                Dequeue => Picked(queues.dequeue_highest(&mut links)),
                Remove(thread, priority) => queues
                    .remove(&mut links, thread, priority)
                    .map_or_else(Refused, |()| Done),
            };
            assert_eq!(outcome, expected, "step {index}: {op:?}");
        }
    }

    #[test]
    fn highest_priority_first() {
        check(&[
            (Dequeue, Picked(None)),
            (Enqueue(1, 3), Done),
            (Enqueue(2, 10), Done),
            (Enqueue(3, 0), Done),
            (Enqueue(4, 63), Done),
            (Dequeue, Picked(Some((4, 63)))),
            (Dequeue, Picked(Some((2, 10)))),
            (Dequeue, Picked(Some((1, 3)))),
            (Dequeue, Picked(Some((3, 0)))),
            (Dequeue, Picked(None)),
        ]);
    }

    #[test]
    fn round_robin_within_a_priority() {
        check(&[
            (Enqueue(1, 5), Done),
            (Enqueue(2, 5), Done),
            (Enqueue(3, 5), Done),
            (Dequeue, Picked(Some((1, 5)))),
            (Enqueue(1, 5), Done),
            (Dequeue, Picked(Some((2, 5)))),
            (Dequeue, Picked(Some((3, 5)))),
            (Dequeue, Picked(Some((1, 5)))),
        ]);
    }

    #[test]
    fn remove_any_thread() {
        check(&[
            (Enqueue(1, 5), Done),
            (Enqueue(2, 5), Done),
            (Enqueue(3, 5), Done),
            (Remove(2, 5), Done),
            (Remove(2, 5), Refused(QueueError::NotQueued)),
            (Remove(3, 5), Done),
            (Enqueue(4, 7), Done),
            (Remove(4, 7), Done),
            (Dequeue, Picked(Some((1, 5)))),
            (Dequeue, Picked(None)),
        ]);
        check(&[
            (Enqueue(1, 5), Done),
            (Enqueue(2, 5), Done),
            (Remove(1, 5), Done),
            (Dequeue, Picked(Some((2, 5)))),
        ]);
    }

    #[test]
    fn refusals() {
        check(&[
            (Enqueue(0, 1), Refused(QueueError::NullThread)),
            (Enqueue(1, NUM_PRIORITIES), Refused(QueueError::BadPriority)),
            (Enqueue(1, 1), Done),
            (Enqueue(1, 2), Refused(QueueError::AlreadyQueued)),
            (Remove(1, 2), Refused(QueueError::NotQueued)),
            (Remove(0, 2), Refused(QueueError::NullThread)),
            (Remove(1, 200), Refused(QueueError::BadPriority)),
            (Remove(9, 1), Refused(QueueError::NotQueued)),
            (Dequeue, Picked(Some((1, 1)))),
        ]);
    }

    #[test]
    fn wait_lists_are_fifo() {
        let mut links = Table::default();
        let mut list = ThreadList::new();
        for thread in [5, 6, 7] {
            list.push_back(&mut links, thread).unwrap();
        }
        assert_eq!(list.front(), Some(5));
        list.remove(&mut links, 6).unwrap();
        assert_eq!(list.pop_front(&mut links), Some(5));
        assert_eq!(list.pop_front(&mut links), Some(7));
        assert!(list.is_empty());
        assert_eq!(list.pop_front(&mut links), None);
    }

    #[test]
    fn removing_from_the_wrong_list_is_refused() {
        let mut links = Table::default();
        let mut first = ThreadList::new();
        let mut second = ThreadList::new();
        for thread in [1, 2, 3] {
            first.push_back(&mut links, thread).unwrap();
        }
        second.push_back(&mut links, 4).unwrap();
        for thread in [1, 3] {
            assert_eq!(
                second.remove(&mut links, thread),
                Err(QueueError::NotQueued),
                "thread {thread}"
            );
        }
        assert_eq!(first.remove(&mut links, 4), Err(QueueError::NotQueued));
        assert_eq!(first.pop_front(&mut links), Some(1));
        assert_eq!(second.pop_front(&mut links), Some(4));
    }
}
