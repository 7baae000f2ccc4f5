//! Synchronous IPC: send, receive, call and reply through endpoints, capability transfer,
//! reply links, faults delivered as messages, and the direct switch.
//!
//! The model is seL4's without MCS (docs/ipc.md): a message is an `abi::MessageInfo` word,
//! `abi::MESSAGE_REGISTERS` words in registers and the rest in the thread's IPC buffer; a
//! call leaves the caller waiting on a one-shot reply link held by the receiving thread
//! ([`IpcState::reply_to`]), which `reply` (or `reply_recv`) consumes.
//!
//! Each thread runs its syscall on its own kernel stack, so a blocked thread simply waits
//! inside its handler: whoever completes the rendezvous copies the message into the other
//! thread's [`IpcState`] and IPC buffer, sets its [`Wake`] and makes it runnable (or
//! switches to it directly). A thread that is suspended while queued on an endpoint is
//! taken off the queue and, once resumed, restarts its syscall from user mode, looking its
//! capability up again (the endpoint may be gone by then: queued threads do not hold it).

use abi::kernel_message::{self, FaultReply};
use abi::{
    Error, IpcBuffer, IpcMessage, MESSAGE_REGISTERS, MSG_MAX_CAPS, MSG_MAX_LENGTH, MessageInfo,
    ObjectType, Received, Rights,
};
use kerncore::{Cap, cdt};

use crate::object::cnode::{self, PhysSlots};
use crate::object::endpoint::{self, Queue};
use crate::object::tcb::{self, IpcState, Syscall, ThreadState, Wake};
use crate::sched;
use crate::usermem::{self, Access};

/// An endpoint capability as the IPC paths use it.
#[derive(Clone, Copy, Debug)]
pub struct Target {
    /// The endpoint's physical address.
    pub endpoint: u64,
    /// The capability's badge, which the receiver gets.
    pub badge: u64,
    /// Whether the capability has the grant right (capabilities may travel).
    pub grant: bool,
}

impl Target {
    /// The endpoint that `cap` (an Endpoint capability) names.
    pub fn of(cap: &Cap) -> Target {
        Target::new(cap.object, cap.rights, cap.badge)
    }

    /// The endpoint `object` through a capability with `rights` and `badge`.
    fn new(object: kerncore::ObjectRef, rights: Rights, badge: u64) -> Target {
        debug_assert_eq!(object.object_type, ObjectType::Endpoint);
        Target {
            endpoint: object.paddr,
            badge,
            grant: rights.contains(Rights::GRANT),
        }
    }
}

/// Whether an operation may wait.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Blocking {
    /// Wait for the other side.
    Yes,
    /// Fail with `WouldBlock` when nobody waits on the other side.
    No,
}

/// A message on its way: what the sender staged.
#[derive(Clone, Copy, Debug)]
struct Staged {
    message: IpcMessage,
    badge: u64,
    /// Capabilities may travel (the sender's capability has grant).
    grant: bool,
    /// A kernel message: registers only, from no thread's IPC buffer.
    kernel: bool,
}

// The info word can name every capability count a message may carry, and no more.
const _: () = assert!(MessageInfo::CAPS_MAX as u64 == MSG_MAX_CAPS);
const _: () = assert!(MessageInfo::LENGTH_MAX as u64 >= MSG_MAX_LENGTH);

impl Staged {
    /// A message the running thread sends through `target`.
    fn sent(message: IpcMessage, target: &Target) -> Staged {
        Staged {
            message,
            badge: target.badge,
            grant: target.grant,
            kernel: false,
        }
    }
}

/// Checks a message that the running thread is about to send: length and capability
/// count within the schema's bounds, no receive-only field set, capabilities only with
/// `grant`, and an IPC buffer when the message needs one.
fn check_outgoing(thread: u64, message: &IpcMessage, grant: bool) -> Result<(), Error> {
    let info = message.info;
    if u64::from(info.length()) > MSG_MAX_LENGTH
        || u64::from(info.caps()) > MSG_MAX_CAPS
        || info.caps_unwrapped() != 0
    {
        return Err(Error::InvalidArgument);
    }
    if info.caps() > 0 && !grant {
        return Err(Error::InsufficientRights);
    }
    let needs_buffer = usize::from(info.length()) > MESSAGE_REGISTERS || info.caps() > 0;
    if needs_buffer && usermem::ipc_buffer(thread, Access::Read).is_none() {
        return Err(Error::NoIpcBuffer);
    }
    Ok(())
}

/// Copies a staged message from `sender` into `receiver`'s IPC state and IPC buffer.
///
/// The words beyond the message registers travel only if both threads have an IPC buffer
/// mapped (the receiver's writable); otherwise the message is cut to its registers.
/// Capabilities travel one by one in order until one cannot (see [`transfer_caps`]); the
/// receiver's info word says how many did. `endpoint` is the endpoint the message came
/// through (none for a reply): a badged capability to it arrives unwrapped, as its badge.
fn transfer(sender: u64, receiver: u64, staged: &Staged, endpoint: Option<u64>) {
    let info = staged.message.info;
    let mut length = usize::from(info.length());
    let with_caps = staged.grant && info.caps() > 0;
    // A register-only message (the common case) walks no page tables.
    let (from, to) = if length <= MESSAGE_REGISTERS && !with_caps {
        (None, None)
    } else if staged.kernel {
        (None, usermem::ipc_buffer(receiver, Access::Write))
    } else {
        (
            usermem::ipc_buffer(sender, Access::Read),
            usermem::ipc_buffer(receiver, Access::Write),
        )
    };
    if length > MESSAGE_REGISTERS {
        match (from, to) {
            (Some(from), Some(to)) if from != to => {
                // SAFETY: Both pointers come from `ipc_buffer` (mapped, the receiver's
                // writable, each one whole page of direct-mapped RAM) and are distinct; the
                // range lies inside `msg`, whose length bounds `length` (check_outgoing).
                unsafe {
                    let src = &(&(*from).msg)[MESSAGE_REGISTERS..length];
                    (&mut (*to).msg)[MESSAGE_REGISTERS..length].copy_from_slice(src);
                }
            }
            (Some(_), Some(_)) => {}
            _ => length = MESSAGE_REGISTERS,
        }
    }
    let (caps, unwrapped) = match (from, to) {
        (Some(from), Some(to)) if with_caps => {
            transfer_caps(sender, receiver, from, to, info.caps(), endpoint)
        }
        _ => (0, 0),
    };
    // The sender's info word holds no receive-only bits (check_outgoing), so a message
    // that arrives whole and without capabilities keeps it as it is.
    let info = if usize::from(info.length()) == length && caps == 0 && info.caps() == 0 {
        info
    } else {
        MessageInfo::new()
            .with_label(info.label())
            .with_length(length as u8)
            .with_caps(caps)
            .with_caps_unwrapped(unwrapped)
    };
    let received = IpcMessage {
        info,
        regs: staged.message.regs,
    };
    tcb::with_tcb(receiver, |tcb| {
        tcb.ipc.message = received;
        tcb.ipc.badge = staged.badge;
    });
}

/// Moves up to `count` capabilities named in the sender's buffer (`caps[i]`, addresses in
/// the sender's CSpace) to the receiver: capability `i` lands in slot
/// `receive_slot + i` of the receiver's CSpace root as a copy (a child of the sender's on
/// the derivation tree), or, if it is a badged capability to `endpoint`, arrives unwrapped
/// as `badges[i]` with bit `i` of the returned mask set.
///
/// The transfer stops at the first capability that cannot travel: an empty or invalid
/// address, a capability without the grant right, no receive slot, a slot outside the
/// receiver's CSpace or already occupied. Returns how many travelled and the unwrapped
/// mask. Nothing is moved or duplicated: the sender keeps its capabilities, the receiver
/// gets derived copies exactly as `CNode.copy` makes them.
fn transfer_caps(
    sender: u64,
    receiver: u64,
    from: *mut IpcBuffer,
    to: *mut IpcBuffer,
    count: u8,
    endpoint: Option<u64>,
) -> (u8, u8) {
    // SAFETY: `from` and `to` are live IPC buffers (see `transfer`); fields are plain words.
    let (cptrs, receive_slot) = unsafe { ((*from).caps, (*to).receive_slot) };
    let mut unwrapped = 0u8;
    for i in 0..count {
        let Ok(source) = cnode::cspace_slot(sender, cptrs[usize::from(i)]) else {
            return (i, unwrapped);
        };
        let Some(cap) = cnode::get(source) else {
            return (i, unwrapped);
        };
        if cap.object.object_type == ObjectType::Endpoint
            && Some(cap.object.paddr) == endpoint
            && cap.badge != 0
        {
            // SAFETY: As above.
            unsafe { (*to).badges[usize::from(i)] = cap.badge };
            unwrapped |= 1 << i;
            continue;
        }
        let Ok(copy) = kerncore::cap::derive_copy(&cap, cap.rights) else {
            return (i, unwrapped);
        };
        if receive_slot == 0 {
            return (i, unwrapped);
        }
        let placed = receive_slot
            .checked_add(u64::from(i))
            .ok_or(Error::InvalidCapability)
            .and_then(|index| cnode::cspace_slot(receiver, index))
            .and_then(|dest| cnode::check_empty(dest).map(|()| dest))
            .and_then(|dest| cnode::set(dest, Some(copy)).map(|()| dest));
        match placed {
            Ok(dest) => cdt::insert_after(&mut PhysSlots, source.paddr(), dest.paddr(), true),
            Err(_) => return (i, unwrapped),
        }
    }
    (count, unwrapped)
}

/// Records that `server` received the call of `caller`: the caller now waits for the reply.
fn link_reply(caller: u64, server: u64, grant: bool, fault: bool) {
    abort_reply(server);
    tcb::with_tcb(caller, |tcb| {
        tcb.state = ThreadState::AwaitingReply;
        tcb.ipc.replier = server;
        tcb.ipc.reply_grant = grant;
        tcb.ipc.fault = fault;
    });
    tcb::with_tcb(server, |tcb| tcb.ipc.reply_to = caller);
}

/// Drops the reply link `server` holds, if any: that caller's call can never be answered
/// now and fails with `Cancelled` (a faulting caller stops).
fn abort_reply(server: u64) {
    let caller = tcb::with_tcb(server, |tcb| core::mem::take(&mut tcb.ipc.reply_to));
    if caller != 0 {
        tcb::with_tcb(caller, |tcb| {
            tcb.ipc.replier = 0;
            tcb.wake = Wake::Aborted;
        });
        sched::make_runnable(caller);
    }
}

/// Stores the message the running thread sends, for a receiver that comes later.
fn stage(thread: u64, staged: &Staged, call: bool) {
    tcb::with_tcb(thread, |tcb| {
        tcb.ipc.message = staged.message;
        tcb.ipc.badge = staged.badge;
        tcb.ipc.call = call;
        tcb.ipc.grant = staged.grant;
        tcb.ipc.kernel = staged.kernel;
    });
}

/// The staged message of a blocked sender.
fn staged_of(ipc: &IpcState) -> Staged {
    Staged {
        message: ipc.message,
        badge: ipc.badge,
        grant: ipc.grant,
        kernel: ipc.kernel,
    }
}

/// How a blocked IPC of the running thread ended.
enum Woken {
    /// It completed (see [`Wake::Delivered`]).
    Delivered,
    /// The syscall fails with this error (its result is discarded if it was abandoned).
    Failed(Error),
}

/// Queues the running thread on `endpoint` to do `what`, blocks it, and says how the wait
/// ended. A thread suspended while queued restarts its syscall once resumed
/// ([`Syscall::Restart`]); one whose registers were rewritten abandons it.
fn wait_on(thread: u64, endpoint: u64, what: Queue) -> Woken {
    queue_and_block(thread, endpoint, what, None);
    woken(thread)
}

/// Queues the running thread on `endpoint` to do `what` and blocks it until it is woken;
/// `then_run` is a thread just woken by this one, which runs directly (else the best
/// runnable thread runs).
fn queue_and_block(thread: u64, endpoint: u64, what: Queue, then_run: Option<u64>) {
    endpoint::enqueue(endpoint, thread, what);
    tcb::with_tcb(thread, |tcb| {
        tcb.wake = Wake::Pending;
        tcb.state = match what {
            Queue::Receiving => ThreadState::Receiving(endpoint),
            Queue::Sending | Queue::Idle => ThreadState::Sending(endpoint),
        };
    });
    match then_run {
        Some(next) => sched::run_woken(next),
        None => sched::block_current(),
    }
}

/// Sends `staged` from the running thread as a call on `endpoint` (a fault's, with
/// `fault`) and blocks it until the call ends; how it ended is left in its `Wake`. With a
/// receiver waiting, the caller switches straight to it.
fn call_and_block(thread: u64, endpoint: u64, staged: &Staged, fault: bool) {
    tcb::with_tcb(thread, |tcb| tcb.ipc.taken = false);
    match endpoint::take(endpoint, Queue::Receiving) {
        Some(receiver) => {
            transfer(thread, receiver, staged, Some(endpoint));
            tcb::with_tcb(receiver, |tcb| tcb.wake = Wake::Delivered);
            link_reply(thread, receiver, staged.grant, fault);
            tcb::with_tcb(thread, |tcb| {
                tcb.wake = Wake::Pending;
                tcb.ipc.taken = true;
            });
            sched::run_woken(receiver);
        }
        None => {
            stage(thread, staged, true);
            queue_and_block(thread, endpoint, Queue::Sending, None);
        }
    }
}

/// Reads (and resets) how the running thread's wait ended.
fn woken(thread: u64) -> Woken {
    tcb::with_tcb(thread, |tcb| {
        match core::mem::replace(&mut tcb.wake, Wake::Pending) {
            Wake::Delivered => Woken::Delivered,
            Wake::Cancelled if tcb.syscall == Syscall::Active && !tcb.ipc.taken => {
                tcb.syscall = Syscall::Restart;
                Woken::Failed(Error::Cancelled)
            }
            Wake::Cancelled | Wake::Aborted | Wake::Pending | Wake::Signaled(_) => {
                Woken::Failed(Error::Cancelled)
            }
        }
    })
}

/// `send` / `nb_send`: delivers `message` to a receiver waiting on the endpoint, or waits
/// for one (`Blocking::Yes`). The sender continues once the message is taken.
pub fn send(target: Target, message: IpcMessage, blocking: Blocking) -> Result<(), Error> {
    let thread = sched::current();
    check_outgoing(thread, &message, target.grant)?;
    let staged = Staged::sent(message, &target);
    if let Some(receiver) = endpoint::take(target.endpoint, Queue::Receiving) {
        transfer(thread, receiver, &staged, Some(target.endpoint));
        tcb::with_tcb(receiver, |tcb| tcb.wake = Wake::Delivered);
        sched::make_runnable(receiver);
        return Ok(());
    }
    if blocking == Blocking::No {
        return Err(Error::WouldBlock);
    }
    stage(thread, &staged, false);
    tcb::with_tcb(thread, |tcb| tcb.ipc.taken = false);
    match wait_on(thread, target.endpoint, Queue::Sending) {
        Woken::Delivered => Ok(()),
        Woken::Failed(error) => Err(error),
    }
}

/// `call`: sends `message` and waits for the reply, which is returned. With a receiver
/// waiting, the caller switches straight to it.
pub fn call(target: Target, message: IpcMessage) -> Result<Received, Error> {
    let thread = sched::current();
    check_outgoing(thread, &message, target.grant)?;
    let staged = Staged::sent(message, &target);
    call_and_block(thread, target.endpoint, &staged, false);
    match woken(thread) {
        Woken::Delivered => Ok(received(thread)),
        Woken::Failed(error) => Err(error),
    }
}

/// The message the running thread received.
fn received(thread: u64) -> Received {
    tcb::with_tcb(thread, |tcb| Received {
        badge: tcb.ipc.badge,
        message: tcb.ipc.message,
    })
}

/// `recv` / `nb_recv` (and the receive half of `reply_recv`): takes a message from a
/// sender waiting on the endpoint, or waits for one (`Blocking::Yes`).
///
/// A pending signal of the thread's bound notification comes first, as a message with the
/// `Notification` kernel-message label whose badge is the signal word. Receiving a call
/// makes this thread the holder of the caller's reply; a reply link it still held is
/// dropped (that caller fails with `Cancelled`). `then_run` is a thread the caller just
/// woke (the one `reply_recv` answered): if this thread blocks, it switches to that one
/// directly.
pub fn receive(
    endpoint: u64,
    blocking: Blocking,
    then_run: Option<u64>,
) -> Result<Received, Error> {
    let thread = sched::current();
    let pending = match tcb::with_tcb(thread, |tcb| tcb.bound_notification) {
        0 => None,
        notification => crate::object::notification::poll(notification).ok(),
    };
    if let Some(word) = pending {
        run_later(then_run);
        return Ok(notification_message(word));
    }
    if let Some(sender) = endpoint::take(endpoint, Queue::Sending) {
        let ipc = tcb::with_tcb(sender, |tcb| tcb.ipc);
        transfer(sender, thread, &staged_of(&ipc), Some(endpoint));
        if ipc.call {
            link_reply(sender, thread, ipc.grant, ipc.kernel);
            tcb::with_tcb(sender, |tcb| tcb.ipc.taken = true);
        } else {
            tcb::with_tcb(sender, |tcb| tcb.wake = Wake::Delivered);
            sched::make_runnable(sender);
        }
        run_later(then_run);
        return Ok(received(thread));
    }
    if blocking == Blocking::No {
        run_later(then_run);
        return Err(Error::WouldBlock);
    }
    abort_reply(thread);
    queue_and_block(thread, endpoint, Queue::Receiving, then_run);
    match woken(thread) {
        Woken::Delivered => Ok(received(thread)),
        Woken::Failed(error) => Err(error),
    }
}

/// Makes a thread that was woken, but not yet queued to run, runnable.
fn run_later(thread: Option<u64>) {
    if let Some(thread) = thread {
        sched::make_runnable(thread);
    }
}

/// The message a bound notification's signal `word` arrives as.
fn notification_message(word: u64) -> Received {
    Received {
        badge: word,
        message: IpcMessage {
            info: MessageInfo::new().with_label(kernel_message::NOTIFICATION),
            regs: [0; MESSAGE_REGISTERS],
        },
    }
}

/// Delivers a signal to the notification's bound thread if it waits in a receive on an
/// endpoint; returns whether it did (the word is then consumed).
pub fn deliver_signal(thread: u64, word: u64) -> bool {
    let ThreadState::Receiving(endpoint) = tcb::with_tcb(thread, |tcb| tcb.state) else {
        return false;
    };
    endpoint::remove(endpoint, thread);
    let message = notification_message(word);
    tcb::with_tcb(thread, |tcb| {
        tcb.ipc.message = message.message;
        tcb.ipc.badge = message.badge;
        tcb.wake = Wake::Delivered;
    });
    sched::make_runnable(thread);
    true
}

/// `reply`: answers the call whose reply link the running thread holds. Returns the caller,
/// woken but not yet runnable: the caller of this function decides how it runs.
///
/// `IllegalOperation` without a reply link. Capabilities travel only if the caller's
/// endpoint capability had the grant right. A reply to a fault resumes the faulting thread,
/// at the instruction pointer the reply names if it carries `abi::FaultReply`'s words.
pub fn reply(message: IpcMessage) -> Result<u64, Error> {
    let thread = sched::current();
    let caller = tcb::with_tcb(thread, |tcb| tcb.ipc.reply_to);
    if caller == 0 {
        return Err(Error::IllegalOperation);
    }
    let (grant, fault) = tcb::with_tcb(caller, |tcb| (tcb.ipc.reply_grant, tcb.ipc.fault));
    check_outgoing(thread, &message, grant)?;
    tcb::with_tcb(thread, |tcb| tcb.ipc.reply_to = 0);
    if fault {
        let length = usize::from(message.info.length()).min(MESSAGE_REGISTERS);
        if let Some(resume) = FaultReply::decode(&message.regs[..length]) {
            tcb::with_user_frame(caller, |frame| frame.set_ip(resume.ip));
        }
    } else {
        let staged = Staged {
            message,
            badge: 0,
            grant,
            kernel: false,
        };
        transfer(thread, caller, &staged, None);
    }
    tcb::with_tcb(caller, |tcb| {
        tcb.ipc.replier = 0;
        tcb.wake = Wake::Delivered;
    });
    Ok(caller)
}

/// `reply_recv`: answers the call whose reply link the running thread holds (if it holds
/// one: without, it only receives) and waits for the next message on `endpoint`; the
/// answered caller runs directly if this thread blocks.
pub fn reply_recv(endpoint: u64, message: IpcMessage) -> Result<Received, Error> {
    let caller = match reply(message) {
        Ok(caller) => Some(caller),
        Err(Error::IllegalOperation) => None,
        Err(error) => return Err(error),
    };
    receive(endpoint, Blocking::Yes, caller)
}

/// Whether a trap with syscall number `number` may take the [`fastpath`].
#[inline(always)]
pub fn fastpath_candidate(number: u64) -> bool {
    number == abi::sys::CALL || number == abi::sys::REPLY_RECV
}

/// The IPC fast path (for a [`fastpath_candidate`]): `call` and `reply_recv` of a register-only message through an
/// endpoint capability with the right it needs, taken before the generated dispatcher.
///
/// It resolves the capability from the slot's words alone (no per-type state) and goes
/// straight to [`call`] or [`reply_recv`], the same code the dispatcher reaches. Anything
/// else, including every case that fails a check, returns `None` and takes the slow path,
/// which reports the error.
#[inline(never)]
pub fn fastpath(
    thread: u64,
    number: u64,
    input: &abi::IpcInput,
) -> Option<Result<Received, Error>> {
    let is_call = number == abi::sys::CALL;
    let info = input.message.info;
    if usize::from(info.length()) > MESSAGE_REGISTERS
        || info.caps() != 0
        || info.caps_unwrapped() != 0
    {
        return None;
    }
    let slot = cnode::cspace_slot(thread, input.capability).ok()?;
    let (object, rights, badge) = cnode::peek(slot)?;
    let needed = if is_call { Rights::WRITE } else { Rights::READ };
    if object.object_type != ObjectType::Endpoint || !rights.contains(needed) {
        return None;
    }
    Some(if is_call {
        call(Target::new(object, rights, badge), input.message)
    } else {
        reply_recv(object.paddr, input.message)
    })
}

/// How a fault went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultOutcome {
    /// The thread has no usable fault handler (none named, or the address does not name an
    /// endpoint capability with the write right in its CSpace).
    NoHandler,
    /// The handler replied (or the thread was suspended and resumed meanwhile): return to
    /// user mode and carry on.
    Resumed,
    /// The fault can never be answered (the endpoint or the handler is gone): the thread stops.
    Stopped,
}

/// Sends the kernel message `label` with `words` to the running thread's fault handler, as
/// a call, and waits for the reply.
pub fn deliver_fault(label: u64, words: &[u64]) -> FaultOutcome {
    let thread = sched::current();
    let cptr = tcb::with_tcb(thread, |tcb| tcb.fault_handler);
    let handler = cnode::cspace_slot(thread, cptr)
        .ok()
        .and_then(cnode::get)
        .filter(|cap| {
            cap.object.object_type == ObjectType::Endpoint && cap.rights.contains(Rights::WRITE)
        });
    let Some(cap) = handler else {
        return FaultOutcome::NoHandler;
    };
    let target = Target::of(&cap);
    let mut regs = [0; MESSAGE_REGISTERS];
    let length = words.len().min(MESSAGE_REGISTERS);
    regs[..length].copy_from_slice(&words[..length]);
    let staged = Staged {
        message: IpcMessage {
            info: MessageInfo::new()
                .with_label(label)
                .with_length(length as u8),
            regs,
        },
        badge: target.badge,
        grant: false,
        kernel: true,
    };
    call_and_block(thread, target.endpoint, &staged, true);
    match tcb::with_tcb(thread, |tcb| {
        core::mem::replace(&mut tcb.wake, Wake::Pending)
    }) {
        Wake::Aborted => FaultOutcome::Stopped,
        _ => FaultOutcome::Resumed,
    }
}

/// Takes a blocked thread out of its IPC (it is suspended or its registers are rewritten):
/// off the endpoint queue, or off its reply link. It wakes with [`Wake::Cancelled`].
pub fn cancel(thread: u64, state: ThreadState) {
    match state {
        ThreadState::Sending(endpoint) | ThreadState::Receiving(endpoint) => {
            endpoint::remove(endpoint, thread);
        }
        ThreadState::AwaitingReply => {
            let server = tcb::with_tcb(thread, |tcb| core::mem::take(&mut tcb.ipc.replier));
            if server != 0 {
                tcb::with_tcb(server, |tcb| {
                    if tcb.ipc.reply_to == thread {
                        tcb.ipc.reply_to = 0;
                    }
                });
            }
        }
        ThreadState::Inactive | ThreadState::Runnable | ThreadState::Blocked(_) => return,
    }
    tcb::with_tcb(thread, |tcb| tcb.wake = Wake::Cancelled);
}

/// Drops every IPC link of a thread that is being destroyed (already suspended, so off
/// every queue): the caller whose reply it held fails with `Cancelled`.
pub fn forget_thread(thread: u64) {
    abort_reply(thread);
}
