//! IPC: send, receive, call and reply within and across address spaces, badges, long messages, capability transfer, and every refusal.

use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use rootlib::peer::{ECHO, EMPTY, SIGNAL_RECEIVED};
use trona::ipc::{self, Buffer, Message};
use trona::substrate;
use trona::uapi::{
    CPtr, Error, IpcMessage, MESSAGE_REGISTERS, MSG_MAX_LENGTH, MessageInfo, ObjectType, Received,
    Rights, kernel_message,
};

use crate::ctx::{Ctx, DEFAULT_TIMEOUT_TICKS, PEER_BADGE, PEER_GRANT_BADGE, SELF_TCB};
use crate::harness::{Failure, Outcome, ensure, err, ok};

/// The label the tests' own messages carry.
const LABEL: u64 = 0x5a5;

/// What a helper thread saw, for the main thread to check.
struct Seen {
    done: AtomicBool,
    status: AtomicU64,
    badge: AtomicU64,
    info: AtomicU64,
    words: [AtomicU64; 4],
}

impl Seen {
    const fn new() -> Seen {
        Seen {
            done: AtomicBool::new(false),
            status: AtomicU64::new(0),
            badge: AtomicU64::new(0),
            info: AtomicU64::new(0),
            words: [const { AtomicU64::new(0) }; 4],
        }
    }

    fn reset(&self) {
        self.done.store(false, Ordering::Relaxed);
        self.status.store(0, Ordering::Relaxed);
        self.badge.store(0, Ordering::Relaxed);
        self.info.store(0, Ordering::Relaxed);
        for word in &self.words {
            word.store(0, Ordering::Relaxed);
        }
    }

    /// Records a receive's outcome (status 0 and the message, or the error code).
    fn record(&self, result: Result<Received, Error>) {
        match result {
            Ok(received) => {
                self.badge.store(received.badge, Ordering::Relaxed);
                self.info
                    .store(received.message.info.bits(), Ordering::Relaxed);
                for (slot, word) in self.words.iter().zip(received.message.regs) {
                    slot.store(word, Ordering::Relaxed);
                }
            }
            Err(error) => self.status.store(error.code(), Ordering::Relaxed),
        }
        self.done.store(true, Ordering::Release);
    }

    fn info(&self) -> MessageInfo {
        MessageInfo::from_bits_truncate(self.info.load(Ordering::Relaxed))
    }

    fn status(&self) -> u64 {
        self.status.load(Ordering::Relaxed)
    }
}

static SEEN: Seen = Seen::new();

extern "C" fn receive_once(endpoint: u64) -> ! {
    SEEN.record(substrate::recv(CPtr(endpoint)));
    trona::exit()
}

extern "C" fn call_once(endpoint: u64) -> ! {
    let message = ipc::short(LABEL, &[7]).unwrap_or_default();
    SEEN.record(substrate::call(CPtr(endpoint), &message));
    trona::exit()
}

extern "C" fn send_once(endpoint: u64) -> ! {
    let message = ipc::short(LABEL, &[9]).unwrap_or_default();
    SEEN.record(substrate::send(CPtr(endpoint), &message).map(|()| Received::default()));
    trona::exit()
}

/// Starts a helper thread at `entry(arg)` whose IPC buffer is at `buffer`, and gives it
/// time to block; the second value is the outcome of setting the buffer and resuming.
fn start_with_buffer(
    ctx: &mut Ctx,
    entry: extern "C" fn(u64) -> !,
    arg: u64,
    buffer: u64,
) -> Result<(rootlib::Thread, Result<(), Error>), Failure> {
    let thread = ctx.create_thread(entry, arg)?;
    let setup = substrate::tcb_set_ipc_buffer(thread.tcb, buffer)
        .and_then(|()| substrate::tcb_resume(thread.tcb));
    ctx.wait_until(3, || false);
    Ok((thread, setup))
}

/// Waits until the helper thread recorded its outcome.
fn wait_seen(ctx: &Ctx, what: &str) -> Outcome {
    ensure!(
        ctx.wait_until(DEFAULT_TIMEOUT_TICKS, || SEEN.done.load(Ordering::Acquire)),
        "{what}: the helper thread never finished its IPC"
    );
    Ok(())
}

/// `send` to a thread blocked in `recv` in the same address space: label, words and the
/// badge of the sender's capability arrive; the sender continues.
pub fn send_and_receive(ctx: &mut Ctx) -> Outcome {
    SEEN.reset();
    let endpoint = ctx.create(ObjectType::Endpoint)?;
    let badged = ctx.mint(endpoint, Rights::WRITE, 0x55)?;
    let thread = ctx.spawn(receive_once, endpoint.0)?;
    // Let the receiver block first, so the send finds it waiting.
    ctx.wait_until(3, || false);
    let message = ipc::short(LABEL, &[1, 2, 3]).map_err(|e| fail("message", e))?;
    let sent = substrate::send(badged, &message);
    let seen = wait_seen(ctx, "send to a waiting receiver");
    ctx.destroy(thread)?;
    ctx.delete(badged)?;
    ctx.delete(endpoint)?;
    ok("send", sent)?;
    seen?;
    let info = SEEN.info();
    ensure!(
        SEEN.status() == 0,
        "recv failed with code {}",
        SEEN.status()
    );
    ensure!(
        info.label() == LABEL && info.length() == 3 && info.caps() == 0,
        "received info {info:?}, expected label {LABEL:#x} and 3 words"
    );
    let words: [u64; 3] = core::array::from_fn(|i| SEEN.words[i].load(Ordering::Relaxed));
    ensure!(words == [1, 2, 3], "received words {words:?}");
    let badge = SEEN.badge.load(Ordering::Relaxed);
    ensure!(badge == 0x55, "received badge {badge:#x}, expected 0x55");
    Ok(())
}

/// A `send` with nobody receiving waits for the receiver; `recv` then takes the queued
/// message at once; `nb_send` and `nb_recv` refuse with `WouldBlock` when nobody waits.
pub fn queued_send_and_non_blocking(ctx: &mut Ctx) -> Outcome {
    SEEN.reset();
    let endpoint = ctx.create(ObjectType::Endpoint)?;
    let message = ipc::short(LABEL, &[]).map_err(|e| fail("message", e))?;
    let nb_send = substrate::nb_send(endpoint, &message);
    let nb_recv = substrate::nb_recv(endpoint);
    let thread = ctx.spawn(send_once, endpoint.0)?;
    ctx.wait_until(3, || false);
    let received = substrate::recv(endpoint);
    let seen = wait_seen(ctx, "queued send");
    // The sender is gone now; a second receive finds nothing.
    let nb_after = substrate::nb_recv(endpoint);
    ctx.destroy(thread)?;
    ctx.delete(endpoint)?;
    err("nb_send without a receiver", nb_send, Error::WouldBlock)?;
    err("nb_recv without a sender", nb_recv, Error::WouldBlock)?;
    err("nb_recv after the one message", nb_after, Error::WouldBlock)?;
    let received = ok("recv of a queued send", received)?;
    seen?;
    ensure!(
        SEEN.status() == 0,
        "the send failed with code {}",
        SEEN.status()
    );
    ensure!(
        ipc::label(&received) == LABEL && ipc::word(&received, 0, None) == Some(9),
        "received {received:?}"
    );
    Ok(())
}

/// `call` from a helper thread, `recv` and `reply` here: the reply arrives in the caller;
/// a second `reply` has no call to answer.
pub fn call_and_reply_same_space(ctx: &mut Ctx) -> Outcome {
    SEEN.reset();
    let endpoint = ctx.create(ObjectType::Endpoint)?;
    let thread = ctx.spawn(call_once, endpoint.0)?;
    let request = substrate::recv(endpoint);
    let answer = ipc::short(LABEL + 1, &[70, 71]).map_err(|e| fail("message", e))?;
    let replied = substrate::reply(&answer);
    let again = substrate::reply(&answer);
    let seen = wait_seen(ctx, "call");
    ctx.destroy(thread)?;
    ctx.delete(endpoint)?;
    let request = ok("recv of a call", request)?;
    ensure!(
        ipc::word(&request, 0, None) == Some(7),
        "the call carried {request:?}"
    );
    ok("reply", replied)?;
    err("reply without a call", again, Error::IllegalOperation)?;
    seen?;
    ensure!(
        SEEN.status() == 0,
        "the call failed with code {}",
        SEEN.status()
    );
    let info = SEEN.info();
    ensure!(
        info.label() == LABEL + 1 && info.length() == 2,
        "reply info {info:?}"
    );
    let words = [
        SEEN.words[0].load(Ordering::Relaxed),
        SEEN.words[1].load(Ordering::Relaxed),
    ];
    ensure!(words == [70, 71], "reply words {words:?}");
    ensure!(
        SEEN.badge.load(Ordering::Relaxed) == 0,
        "a reply carries no badge"
    );
    Ok(())
}

/// Calls to the peer in its own address space: the reply proves the badge of the
/// capability used, and a second capability's badge differs.
pub fn call_across_address_spaces(ctx: &mut Ctx) -> Outcome {
    let peer = ctx.peer()?;
    let message = ipc::short(ECHO, &[10, 20]).map_err(|e| fail("message", e))?;
    let reply = ok("call ECHO", substrate::call(peer.client, &message))?;
    let got: [Option<u64>; 3] = core::array::from_fn(|i| ipc::word(&reply, i, None));
    ensure!(
        got == [Some(PEER_BADGE), Some(10), Some(20)],
        "ECHO replied {got:?}, expected the badge {PEER_BADGE:#x} then 10, 20"
    );
    let reply = ok(
        "call ECHO (grant)",
        substrate::call(peer.granting, &message),
    )?;
    ensure!(
        ipc::word(&reply, 0, None) == Some(PEER_GRANT_BADGE),
        "the second capability's badge did not arrive: {reply:?}"
    );
    for round in 0..100u64 {
        let message = ipc::short(ECHO, &[round]).map_err(|e| fail("message", e))?;
        let reply = ok("call ECHO (loop)", substrate::call(peer.client, &message))?;
        ensure!(
            ipc::word(&reply, 1, None) == Some(round),
            "round {round}: {reply:?}"
        );
    }
    Ok(())
}

/// The suite thread's IPC buffer, set up once.
pub fn own_ipc_buffer(ctx: &mut Ctx) -> Result<Buffer, Failure> {
    let address = match ctx.ipc_buffer {
        Some(address) => address,
        None => {
            let region = ctx.pages(1, crate::READ_WRITE)?;
            ok(
                "Tcb.set_ipc_buffer",
                substrate::tcb_set_ipc_buffer(SELF_TCB, region.vaddr),
            )?;
            ctx.ipc_buffer = Some(region.vaddr);
            region.vaddr
        }
    };
    // SAFETY: the page is mapped read-write for the suite's main thread alone and set as
    // its IPC buffer; the suite never unmaps it.
    Ok(unsafe { Buffer::at(address) })
}

/// A message longer than the registers travels through both IPC buffers, in both
/// directions, up to `MSG_MAX_LENGTH` words; longer ones and a buffer-less thread are refused.
pub fn long_messages(ctx: &mut Ctx) -> Outcome {
    let peer = ctx.peer()?;
    let too_long = IpcMessage {
        info: MessageInfo::new()
            .with_label(ECHO)
            .with_length(MSG_MAX_LENGTH as u8 + 1),
        regs: [0; MESSAGE_REGISTERS],
    };
    // Before the thread has a buffer: a long message cannot be sent.
    let long = IpcMessage {
        info: MessageInfo::new()
            .with_label(ECHO)
            .with_length(MESSAGE_REGISTERS as u8 + 1),
        regs: [0; MESSAGE_REGISTERS],
    };
    if ctx.ipc_buffer.is_none() {
        err(
            "a long message without an IPC buffer",
            substrate::call(peer.client, &long),
            Error::NoIpcBuffer,
        )?;
    }
    let mut buffer = own_ipc_buffer(ctx)?;
    err(
        "a message longer than MSG_MAX_LENGTH",
        substrate::call(peer.client, &too_long),
        Error::InvalidArgument,
    )?;
    for length in [MESSAGE_REGISTERS + 1, 64, MSG_MAX_LENGTH as usize - 1] {
        let mut message = Message::new(ECHO);
        for i in 0..length as u64 {
            message.push(0x1000 + i).map_err(|e| fail("push", e))?;
        }
        let registers = message
            .registers(Some(&mut buffer))
            .map_err(|e| fail("message", e))?;
        let reply = ok("call ECHO (long)", substrate::call(peer.client, &registers))?;
        ensure!(
            usize::from(reply.message.info.length()) == length + 1,
            "{length} words: reply length {}",
            reply.message.info.length()
        );
        for i in 0..length {
            let word = ipc::word(&reply, i + 1, Some(&buffer));
            ensure!(
                word == Some(0x1000 + i as u64),
                "{length} words: word {i} came back as {word:?}"
            );
        }
    }
    Ok(())
}

/// Capabilities travel with grant: the peer receives a Notification capability, signals
/// it and deletes its copy; a badged capability to the endpoint itself arrives unwrapped;
/// without grant the send is refused. (`MessageInfo.caps` cannot express more than
/// `MSG_MAX_CAPS`: a const assertion in the kernel ties the two.)
pub fn capability_transfer(ctx: &mut Ctx) -> Outcome {
    let peer = ctx.peer()?;
    let mut buffer = own_ipc_buffer(ctx)?;
    let notification = ctx.create(ObjectType::Notification)?;
    let result = transfer_checks(peer, notification, &mut buffer);
    let left = substrate::notification_poll(notification);
    ctx.delete(notification)?;
    result?;
    err("the peer's signals were all taken", left, Error::WouldBlock)
}

fn transfer_checks(peer: crate::ctx::Peer, notification: CPtr, buffer: &mut Buffer) -> Outcome {
    let mut message = Message::new(SIGNAL_RECEIVED);
    message.cap(notification).map_err(|e| fail("cap", e))?;
    let with_cap = message
        .registers(Some(buffer))
        .map_err(|e| fail("message", e))?;
    err(
        "a capability through an endpoint capability without grant",
        substrate::call(peer.client, &with_cap),
        Error::InsufficientRights,
    )?;
    let reply = ok(
        "call SIGNAL_RECEIVED with a capability",
        substrate::call(peer.granting, &with_cap),
    )?;
    let counts = [ipc::word(&reply, 0, None), ipc::word(&reply, 1, None)];
    ensure!(
        counts == [Some(1), Some(0)],
        "the peer saw (caps, unwrapped) = {counts:?}, expected one capability"
    );
    let word = ok(
        "poll the transferred notification",
        substrate::notification_poll(notification),
    )?;
    ensure!(word == 1, "the peer's signal gave {word:#x}");
    // A badged capability to the very endpoint arrives as its badge.
    let mut message = Message::new(SIGNAL_RECEIVED);
    message.cap(peer.client).map_err(|e| fail("cap", e))?;
    let unwrap = message
        .registers(Some(buffer))
        .map_err(|e| fail("message", e))?;
    let reply = ok(
        "call with the endpoint's own badged capability",
        substrate::call(peer.granting, &unwrap),
    )?;
    let counts = [ipc::word(&reply, 0, None), ipc::word(&reply, 1, None)];
    ensure!(
        counts == [Some(1), Some(1)],
        "the peer saw (caps, unwrapped) = {counts:?}, expected one unwrapped"
    );
    // A receive-only field set by the sender.
    let unwrapped = IpcMessage {
        info: MessageInfo::new().with_label(ECHO).with_caps_unwrapped(1),
        regs: [0; MESSAGE_REGISTERS],
    };
    err(
        "caps_unwrapped set by a sender",
        substrate::call(peer.client, &unwrapped),
        Error::InvalidArgument,
    )?;
    // Nothing was damaged: the peer still answers.
    let empty = ipc::short(EMPTY, &[]).map_err(|e| fail("message", e))?;
    ok("call EMPTY", substrate::call(peer.client, &empty)).map(|_| ())
}

/// A receiver whose receive slot is 0, or occupied, gets the message without the
/// capability (the transfer stops there), and nothing is duplicated.
pub fn transfer_stops_at_a_bad_receive_slot(ctx: &mut Ctx) -> Outcome {
    let mut buffer = own_ipc_buffer(ctx)?;
    let endpoint = ctx.create(ObjectType::Endpoint)?;
    let notification = ctx.create(ObjectType::Notification)?;
    let occupied = ctx.create(ObjectType::Notification)?;
    let thread_buffer = ctx.pages(1, crate::READ_WRITE)?;
    let mut outcomes = [(0u64, 0u8); 2];
    let mut failure = None;
    for (round, slot) in [0, occupied.0].into_iter().enumerate() {
        SEEN.reset();
        // SAFETY: the page is mapped read-write; the helper thread only starts below.
        let mut theirs = unsafe { Buffer::at(thread_buffer.vaddr) };
        theirs.set_receive_slot(CPtr(slot));
        let (thread, setup) =
            start_with_buffer(ctx, receive_once, endpoint.0, thread_buffer.vaddr)?;
        let mut message = Message::new(LABEL);
        let sent = message
            .cap(notification)
            .and_then(|m| m.push(5))
            .and_then(|m| m.registers(Some(&mut buffer)))
            .and_then(|registers| substrate::send(endpoint, &registers));
        let seen = wait_seen(ctx, "receive with a bad slot");
        ctx.destroy(thread)?;
        if let Err(error) = setup.and(sent) {
            failure = Some(fail("sending with a capability", error));
        }
        if let Err(f) = seen {
            failure = Some(f);
        }
        outcomes[round] = (SEEN.words[0].load(Ordering::Relaxed), SEEN.info().caps());
    }
    let still_there = substrate::notification_poll(occupied);
    ctx.release_pages(thread_buffer)?;
    ctx.delete(occupied)?;
    ctx.delete(notification)?;
    ctx.delete(endpoint)?;
    if let Some(failure) = failure {
        return Err(failure);
    }
    ensure!(
        outcomes == [(5, 0), (5, 0)],
        "(word, caps) received with slot 0 and an occupied slot: {outcomes:?}"
    );
    // The occupied slot still holds its own notification (unsignalled).
    err(
        "poll the occupying notification",
        still_there,
        Error::WouldBlock,
    )
}

/// Refusals: wrong rights, wrong object type, an empty slot, and nothing consumed.
pub fn refusals(ctx: &mut Ctx) -> Outcome {
    let endpoint = ctx.create(ObjectType::Endpoint)?;
    let read_only = ctx.copy_with_rights(endpoint, Rights::READ)?;
    let write_only = ctx.copy_with_rights(endpoint, Rights::WRITE)?;
    let notification = ctx.create(ObjectType::Notification)?;
    let empty = ctx.empty_slot()?;
    let message = ipc::short(LABEL, &[1]).map_err(|e| fail("message", e))?;
    let results = [
        (
            "send on a read-only capability",
            substrate::send(read_only, &message).map(|_| ()),
            Error::InsufficientRights,
        ),
        (
            "call on a read-only capability",
            substrate::call(read_only, &message).map(|_| ()),
            Error::InsufficientRights,
        ),
        (
            "nb_send on a read-only capability",
            substrate::nb_send(read_only, &message).map(|_| ()),
            Error::InsufficientRights,
        ),
        (
            "recv on a write-only capability",
            substrate::recv(write_only).map(|_| ()),
            Error::InsufficientRights,
        ),
        (
            "nb_recv on a write-only capability",
            substrate::nb_recv(write_only).map(|_| ()),
            Error::InsufficientRights,
        ),
        (
            "reply_recv on a write-only capability",
            substrate::reply_recv(write_only, &message).map(|_| ()),
            Error::InsufficientRights,
        ),
        (
            "send on a notification",
            substrate::send(notification, &message).map(|_| ()),
            Error::WrongObjectType,
        ),
        (
            "recv on a notification",
            substrate::recv(notification).map(|_| ()),
            Error::WrongObjectType,
        ),
        (
            "call on an empty slot",
            substrate::call(empty, &message).map(|_| ()),
            Error::InvalidCapability,
        ),
        (
            "recv on slot 0",
            substrate::recv(CPtr(0)).map(|_| ()),
            Error::InvalidCapability,
        ),
        (
            "reply with no caller",
            substrate::reply(&message),
            Error::IllegalOperation,
        ),
    ];
    ctx.release_slot(empty);
    ctx.delete(notification)?;
    ctx.delete(write_only)?;
    ctx.delete(read_only)?;
    ctx.delete(endpoint)?;
    for (what, result, expected) in results {
        err(what, result, expected)?;
    }
    Ok(())
}

/// Deleting an endpoint's last capability wakes its queued receivers and senders with
/// `Cancelled`; deleting a server thread that holds a reply fails the call the same way.
pub fn destruction_cancels_waiters(ctx: &mut Ctx) -> Outcome {
    for (what, body) in [
        ("receiver", receive_once as extern "C" fn(u64) -> !),
        ("sender", send_once),
        ("caller", call_once),
    ] {
        SEEN.reset();
        let endpoint = ctx.create(ObjectType::Endpoint)?;
        let thread = ctx.spawn(body, endpoint.0)?;
        ctx.wait_until(3, || false);
        let early = SEEN.done.load(Ordering::Acquire);
        ctx.delete(endpoint)?;
        let seen = wait_seen(ctx, what);
        ctx.destroy(thread)?;
        ensure!(
            !early,
            "the {what} finished before its endpoint was deleted"
        );
        seen?;
        ensure!(
            SEEN.status() == Error::Cancelled.code(),
            "the queued {what} ended with code {}, expected Cancelled",
            SEEN.status()
        );
    }
    // A server that received a call is destroyed before it replies.
    SEEN.reset();
    let endpoint = ctx.create(ObjectType::Endpoint)?;
    let server = ctx.spawn(receive_and_hold, endpoint.0)?;
    let caller = ctx.spawn(call_once, endpoint.0)?;
    let held = ctx.wait_until(DEFAULT_TIMEOUT_TICKS, || HOLDING.load(Ordering::Acquire));
    ctx.destroy(server)?;
    let seen = wait_seen(ctx, "caller of a destroyed server");
    ctx.destroy(caller)?;
    ctx.delete(endpoint)?;
    HOLDING.store(false, Ordering::Relaxed);
    ensure!(held, "the server never received the call");
    seen?;
    ensure!(
        SEEN.status() == Error::Cancelled.code(),
        "the caller of a destroyed server ended with code {}, expected Cancelled",
        SEEN.status()
    );
    Ok(())
}

static HOLDING: AtomicBool = AtomicBool::new(false);

extern "C" fn receive_and_hold(endpoint: u64) -> ! {
    if substrate::recv(CPtr(endpoint)).is_ok() {
        HOLDING.store(true, Ordering::Release);
    }
    loop {
        let _ = substrate::sched_yield();
    }
}

/// Revoking the untyped an endpoint came from destroys it with threads queued on it, and
/// they fail with `Cancelled`.
pub fn revoke_with_waiters(ctx: &mut Ctx) -> Outcome {
    SEEN.reset();
    let untyped = ctx
        .res
        .retype(ObjectType::Untyped, 16)
        .map_err(Failure::from)?;
    let slot = ctx.empty_slot()?;
    let retyped = substrate::untyped_retype(
        untyped,
        ObjectType::Endpoint,
        0,
        rootlib::ROOT_CNODE,
        slot.0,
    );
    if let Err(error) = retyped {
        ctx.release_slot(slot);
        ctx.delete(untyped)?;
        return Err(fail("retype an endpoint", error));
    }
    let thread = ctx.spawn(receive_once, slot.0)?;
    ctx.wait_until(3, || false);
    let revoked = substrate::cnode_revoke(rootlib::ROOT_CNODE, untyped.0);
    let seen = wait_seen(ctx, "receiver on a revoked endpoint");
    ctx.destroy(thread)?;
    ctx.release_slot(slot);
    ctx.delete(untyped)?;
    ensure!(
        ok("revoke the untyped", revoked)? == 0,
        "the revoke left descendants"
    );
    seen?;
    ensure!(
        SEEN.status() == Error::Cancelled.code(),
        "the receiver ended with code {}, expected Cancelled",
        SEEN.status()
    );
    Ok(())
}

/// A signal to the bound notification of a thread blocked in `recv` arrives there, as a
/// message with the Notification kernel-message label and the word as its badge.
pub fn bound_notification_through_recv(ctx: &mut Ctx) -> Outcome {
    SEEN.reset();
    let endpoint = ctx.create(ObjectType::Endpoint)?;
    let notification = ctx.create(ObjectType::Notification)?;
    let badged = ctx.mint(notification, Rights::WRITE, 0x30)?;
    let thread = ctx.create_thread(receive_once, endpoint.0)?;
    let bound = substrate::tcb_bind_notification(thread.tcb, notification)
        .and_then(|()| substrate::tcb_resume(thread.tcb));
    ctx.wait_until(3, || false);
    let signalled = substrate::notification_signal(badged);
    let seen = wait_seen(ctx, "recv with a bound notification");
    ctx.destroy(thread)?;
    ctx.delete(badged)?;
    ctx.delete(notification)?;
    ctx.delete(endpoint)?;
    ok("bind and resume", bound)?;
    ok("signal", signalled)?;
    seen?;
    let info = SEEN.info();
    ensure!(
        SEEN.status() == 0 && info.label() == kernel_message::NOTIFICATION && info.length() == 0,
        "recv returned status {} info {info:?}",
        SEEN.status()
    );
    let badge = SEEN.badge.load(Ordering::Relaxed);
    ensure!(badge == 0x30, "the signal word arrived as {badge:#x}");
    Ok(())
}

/// A receiver suspended while queued is off the queue; resumed, it makes its `recv` again
/// and gets the next message.
pub fn suspended_receiver_restarts(ctx: &mut Ctx) -> Outcome {
    SEEN.reset();
    let endpoint = ctx.create(ObjectType::Endpoint)?;
    let thread = ctx.spawn(receive_once, endpoint.0)?;
    ctx.wait_until(3, || false);
    let suspended = substrate::tcb_suspend(thread.tcb);
    let message = ipc::short(LABEL, &[3]).map_err(|e| fail("message", e))?;
    // Off the queue: nobody receives now.
    let nobody = substrate::nb_send(endpoint, &message);
    let resumed = substrate::tcb_resume(thread.tcb);
    ctx.wait_until(3, || false);
    let sent = substrate::nb_send(endpoint, &message);
    let seen = wait_seen(ctx, "restarted recv");
    ctx.destroy(thread)?;
    ctx.delete(endpoint)?;
    ok("suspend", suspended)?;
    err("nb_send to a suspended receiver", nobody, Error::WouldBlock)?;
    ok("resume", resumed)?;
    ok("nb_send to the resumed receiver", sent)?;
    seen?;
    ensure!(
        SEEN.status() == 0 && SEEN.words[0].load(Ordering::Relaxed) == 3,
        "the restarted recv ended with code {} and word {}",
        SEEN.status(),
        SEEN.words[0].load(Ordering::Relaxed)
    );
    Ok(())
}

static PAIR_ROUNDS: AtomicU64 = AtomicU64::new(0);
static SPINS: AtomicU64 = AtomicU64::new(0);
static SPIN_AT_START: AtomicU64 = AtomicU64::new(0);
static SPIN_AT_END: AtomicU64 = AtomicU64::new(0);
static STOP_SPINNING: AtomicBool = AtomicBool::new(false);

/// Timer ticks the ping-pong pair in [`pair_does_not_starve_others`] runs for: several
/// time slices.
const PAIR_TICKS: u64 = 8;

extern "C" fn spinner(_: u64) -> ! {
    while !STOP_SPINNING.load(Ordering::Relaxed) {
        SPINS.fetch_add(1, Ordering::Relaxed);
    }
    trona::exit()
}

extern "C" fn echo_server(endpoint: u64) -> ! {
    let mut incoming = substrate::recv(CPtr(endpoint));
    while let Ok(request) = incoming {
        incoming = substrate::reply_recv(CPtr(endpoint), &request.message);
    }
    trona::exit()
}

extern "C" fn pinger(endpoint: u64) -> ! {
    SPIN_AT_START.store(SPINS.load(Ordering::Relaxed), Ordering::Relaxed);
    let message = ipc::short(LABEL, &[1]).unwrap_or_default();
    let start = crate::ctx::now();
    while crate::ctx::now().saturating_sub(start) < PAIR_TICKS {
        if substrate::call(CPtr(endpoint), &message).is_err() {
            break;
        }
        PAIR_ROUNDS.fetch_add(1, Ordering::Relaxed);
    }
    SPIN_AT_END.store(SPINS.load(Ordering::Relaxed), Ordering::Relaxed);
    SEEN.done.store(true, Ordering::Release);
    trona::exit()
}

/// A client and a server passing calls back and forth (direct switches) still share the
/// CPU with a thread of their priority that never blocks: it runs while they do.
pub fn pair_does_not_starve_others(ctx: &mut Ctx) -> Outcome {
    SEEN.reset();
    PAIR_ROUNDS.store(0, Ordering::Relaxed);
    SPINS.store(0, Ordering::Relaxed);
    STOP_SPINNING.store(false, Ordering::Relaxed);
    let endpoint = ctx.create(ObjectType::Endpoint)?;
    let spin = ctx.spawn(spinner, 0)?;
    let server = ctx.spawn(echo_server, endpoint.0)?;
    let client = ctx.spawn(pinger, endpoint.0)?;
    let finished = ctx.wait_until(DEFAULT_TIMEOUT_TICKS * 4, || {
        SEEN.done.load(Ordering::Acquire)
    });
    STOP_SPINNING.store(true, Ordering::Relaxed);
    ctx.destroy(client)?;
    ctx.destroy(server)?;
    ctx.destroy(spin)?;
    ctx.delete(endpoint)?;
    let rounds = PAIR_ROUNDS.load(Ordering::Relaxed);
    ensure!(
        finished && rounds > 0,
        "the pair finished: {finished}, after {rounds} round trips"
    );
    let during = SPIN_AT_END.load(Ordering::Relaxed) - SPIN_AT_START.load(Ordering::Relaxed);
    ensure!(
        during > 0,
        "the spinning thread never ran while the pair passed {rounds} messages"
    );
    Ok(())
}

fn fail(what: &str, error: Error) -> Failure {
    Failure::new(format_args!("{what}: {}", error.name()))
}

/// A transferred capability is a child of the sender's on the derivation tree: revoking
/// the sender's capability deletes the receiver's copy; nothing else is left behind.
pub fn transferred_capability_is_revocable(ctx: &mut Ctx) -> Outcome {
    SEEN.reset();
    let mut buffer = own_ipc_buffer(ctx)?;
    let endpoint = ctx.create(ObjectType::Endpoint)?;
    let notification = ctx.create(ObjectType::Notification)?;
    let landing = ctx.empty_slot()?;
    let thread_buffer = ctx.pages(1, crate::READ_WRITE)?;
    // SAFETY: the page is mapped read-write; the helper thread only starts below.
    unsafe { Buffer::at(thread_buffer.vaddr) }.set_receive_slot(landing);
    let (thread, setup) = start_with_buffer(ctx, receive_once, endpoint.0, thread_buffer.vaddr)?;
    let mut message = Message::new(LABEL);
    let sent = message
        .cap(notification)
        .and_then(|m| m.registers(Some(&mut buffer)))
        .and_then(|registers| substrate::send(endpoint, &registers));
    let seen = wait_seen(ctx, "receive a capability");
    ctx.destroy(thread)?;
    let arrived = substrate::notification_signal(landing);
    let revoked = substrate::cnode_revoke(rootlib::ROOT_CNODE, notification.0);
    let gone = substrate::notification_signal(landing);
    ctx.release_slot(landing);
    ctx.release_pages(thread_buffer)?;
    ctx.delete(notification)?;
    ctx.delete(endpoint)?;
    ok("set up the receiver", setup)?;
    ok("send with a capability", sent)?;
    seen?;
    ensure!(SEEN.info().caps() == 1, "received info {:?}", SEEN.info());
    ok("signal through the received copy", arrived)?;
    ensure!(
        ok("revoke the sender's capability", revoked)? == 0,
        "the revoke left descendants"
    );
    err(
        "signal through the revoked copy",
        gone,
        Error::InvalidCapability,
    )
}

extern "C" fn send_long(endpoint: u64) -> ! {
    let mut message = Message::new(LABEL);
    let sent = message
        .extend(&[1; 2 * MESSAGE_REGISTERS])
        // SAFETY: the creating test maps this thread's IPC buffer at the address it passes
        // in LONG_SENDER_BUFFER before the thread starts, and only this thread uses it.
        .and_then(|m| {
            m.registers(Some(&mut unsafe {
                Buffer::at(LONG_SENDER_BUFFER.load(Ordering::Acquire))
            }))
        })
        .and_then(|registers| substrate::send(CPtr(endpoint), &registers));
    SEEN.record(sent.map(|()| Received::default()));
    trona::exit()
}

static LONG_SENDER_BUFFER: AtomicU64 = AtomicU64::new(0);

/// A sender whose IPC buffer is unmapped while its long message waits: the receiver gets
/// the message cut to its registers, and nothing else happens.
pub fn unmapped_sender_buffer_truncates(ctx: &mut Ctx) -> Outcome {
    SEEN.reset();
    // The receiver has a buffer, so a cut message can only be the sender's doing.
    own_ipc_buffer(ctx)?;
    let endpoint = ctx.create(ObjectType::Endpoint)?;
    let frame = ctx.create(ObjectType::Frame)?;
    let address = ctx.unmapped_address()?;
    ctx.res
        .map_frame(rootlib::ROOT_VSPACE, frame, address, crate::READ_WRITE)
        .map_err(Failure::from)?;
    LONG_SENDER_BUFFER.store(address, Ordering::Release);
    let (thread, setup) = start_with_buffer(ctx, send_long, endpoint.0, address)?;
    let unmapped = substrate::vspace_unmap_frame(rootlib::ROOT_VSPACE, frame);
    let received = substrate::recv(endpoint);
    let seen = wait_seen(ctx, "sender with an unmapped buffer");
    ctx.destroy(thread)?;
    ctx.delete(frame)?;
    ctx.delete(endpoint)?;
    ok("set up the sender", setup)?;
    ok("unmap the sender's buffer", unmapped)?;
    let received = ok("recv", received)?;
    seen?;
    ensure!(
        SEEN.status() == 0,
        "the send failed with code {}",
        SEEN.status()
    );
    ensure!(
        usize::from(received.message.info.length()) == MESSAGE_REGISTERS,
        "received {} words, expected the {MESSAGE_REGISTERS} registers",
        received.message.info.length()
    );
    Ok(())
}

/// `Tcb.set_ipc_buffer` refuses an address that is not page-aligned or not in user space;
/// a server whose caller was destroyed has no reply to send.
pub fn buffer_and_reply_refusals(ctx: &mut Ctx) -> Outcome {
    let thread = ctx.create_thread(receive_once, 0)?;
    let unaligned = substrate::tcb_set_ipc_buffer(thread.tcb, 0x1008);
    let kernel = substrate::tcb_set_ipc_buffer(thread.tcb, crate::tests::KERNEL_ADDRESS);
    let top = substrate::tcb_set_ipc_buffer(thread.tcb, trona::uapi::USER_TOP);
    ctx.destroy(thread)?;
    err("an unaligned IPC buffer", unaligned, Error::InvalidArgument)?;
    err("a kernel IPC buffer", kernel, Error::InvalidArgument)?;
    err("an IPC buffer at USER_TOP", top, Error::InvalidArgument)?;
    // The caller goes away after its call was received.
    SEEN.reset();
    let endpoint = ctx.create(ObjectType::Endpoint)?;
    let caller = ctx.spawn(call_once, endpoint.0)?;
    let request = substrate::recv(endpoint);
    ctx.destroy(caller)?;
    let message = ipc::short(LABEL, &[]).map_err(|e| fail("message", e))?;
    let replied = substrate::reply(&message);
    ctx.delete(endpoint)?;
    ok("recv the call", request)?;
    err(
        "reply to a destroyed caller",
        replied,
        Error::IllegalOperation,
    )
}
