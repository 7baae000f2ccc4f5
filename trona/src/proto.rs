//! The runtime of the generated protocol code (`trona::protocols`): the wire format (re-exported from `wire`), and the transport over IPC: a client's call and send, a server's loop.
//!
//! Nothing here has numbers of its own: labels, error codes and layouts come from the
//! generated code, message bounds from the `abi` crate.
//!
//! A server runs one loop per endpoint:
//!
//! ```ignore
//! let config = proto::ServeConfig { endpoint, buffer, cspace: ROOT_CNODE, receive_slot: 20 };
//! protocols::echo::serve(&mut EchoImpl::default(), &config)
//! ```
//!
//! or, for several protocols on one endpoint, [`serve_loop`] with a handler that offers
//! each message to each protocol's `dispatch` in turn.

mod wire;

pub use wire::*;

use abi::{CPtr, CapIdentity, Error, Received};

pub use crate::ipc::Buffer;
use crate::{ipc, substrate};

/// What a server loop needs: its endpoint, its thread's IPC buffer, a capability to its
/// own CSpace root (to identify and delete received capabilities) and where received
/// capabilities land.
#[derive(Clone, Debug)]
pub struct ServeConfig {
    /// The endpoint to receive on (needs `read`).
    pub endpoint: CPtr,
    /// The serving thread's IPC buffer.
    pub buffer: Buffer,
    /// The serving thread's CSpace root CNode (needs `read` and `write`).
    pub cspace: CPtr,
    /// First slot of the CSpace root for received capabilities; `MAX_CAPS` slots from it
    /// must be free. 0 receives none.
    pub receive_slot: u64,
}

/// What a handler answers to one message.
// A reply is built once per message and sent from the loop's stack; there is no allocator
// to box it into.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug)]
pub enum Reply {
    /// No reply: a oneway message (or one whose sender cannot be answered).
    None,
    /// The reply to send.
    Message(Outgoing),
}

impl Reply {
    /// A reply that carries only the error `code` as its label.
    pub fn error(code: u64) -> Reply {
        Reply::Message(Outgoing::new(code))
    }
}

/// Sends `message` on `endpoint` and waits for the reply, copied out of the registers and
/// `buffer`. Capabilities in the reply land from `receive` on (`None`: none are received).
pub fn call(
    endpoint: CPtr,
    buffer: &Buffer,
    message: &Outgoing,
    receive: Option<CPtr>,
) -> Result<Incoming, Error> {
    let mut reply = Incoming::new(0, 0);
    call_into(endpoint, buffer, message, receive, &mut reply)?;
    Ok(reply)
}

/// [`call`], copying the reply into `reply` in place (what the generated clients use: a
/// message is a kilobyte, and returning one copies it).
pub fn call_into(
    endpoint: CPtr,
    buffer: &Buffer,
    message: &Outgoing,
    receive: Option<CPtr>,
    reply: &mut Incoming,
) -> Result<(), Error> {
    let mut buffer = buffer.clone();
    let receive = receive.unwrap_or(CPtr(0));
    buffer.set_receive_slot(receive);
    let registers = outgoing_registers(message, &mut buffer)?;
    let received = substrate::call(endpoint, &registers)?;
    copy_in(&received, &buffer, reply, |i| ReceivedCap {
        slot: CPtr(receive.0 + i as u64),
        identity: CapIdentity::new(),
    })
}

/// Sends `message` on `endpoint` without waiting for a reply (a oneway message).
pub fn send(endpoint: CPtr, buffer: &Buffer, message: &Outgoing) -> Result<(), Error> {
    let mut buffer = buffer.clone();
    let registers = outgoing_registers(message, &mut buffer)?;
    substrate::send(endpoint, &registers)
}

/// Reports that a server method returned an error its message does not declare; the
/// reply carries it anyway. `cargo xtask test` fails on this line.
pub fn drift(protocol: &str, message: &str, error: &str) {
    crate::println!("PROTOCOL DRIFT: {protocol}.{message} returned {error}");
}

/// What a handler that writes its reply in place did with it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answer {
    /// Send the message it wrote.
    Send,
    /// Send nothing: a oneway message, or one whose sender cannot be answered.
    Silent,
}

/// Serves `config.endpoint` forever with a handler that returns its reply, as
/// [`serve_loop_into`] does with one that writes it in place.
pub fn serve_loop(config: &ServeConfig, mut handler: impl FnMut(&Incoming) -> Reply) -> ! {
    serve_loop_into(config, |incoming, out| answer(handler(incoming), out))
}

/// Serves `config.endpoint` forever: receives a message and answers it with
/// [`serve_one_into`], with `reply_recv` (or only receives when there is no reply).
///
/// A failed receive is printed and the loop goes on.
pub fn serve_loop_into(
    config: &ServeConfig,
    mut handler: impl FnMut(&Incoming, &mut Outgoing) -> Answer,
) -> ! {
    let mut incoming = Incoming::new(0, 0);
    let mut reply = Outgoing::new(0);
    let mut pending: Option<abi::IpcMessage> = None;
    loop {
        let mut buffer = config.buffer.clone();
        buffer.set_receive_slot(CPtr(config.receive_slot));
        let received = match pending.take() {
            Some(registers) => match substrate::reply_recv(config.endpoint, &registers) {
                Ok(received) => Ok(received),
                Err(error) => {
                    // The reply did not go (the sender did not call, or the reply was
                    // refused); nothing was received.
                    crate::println!("proto: reply failed: {}", error.name());
                    substrate::recv(config.endpoint)
                }
            },
            None => substrate::recv(config.endpoint),
        };
        match received {
            Ok(received) => {
                pending = serve_one_into(config, &received, &mut incoming, &mut reply, &mut handler)
            }
            Err(error) => crate::println!("proto: receive failed: {}", error.name()),
        }
    }
}

/// Answers one received message with a handler that returns its reply, as
/// [`serve_one_into`] does with one that writes it in place.
pub fn serve_one(
    config: &ServeConfig,
    received: &Received,
    mut handler: impl FnMut(&Incoming) -> Reply,
) -> Option<abi::IpcMessage> {
    let mut incoming = Incoming::new(0, 0);
    let mut reply = Outgoing::new(0);
    serve_one_into(
        config,
        received,
        &mut incoming,
        &mut reply,
        |incoming, out| answer(handler(incoming), out),
    )
}

/// Answers one received message: copies it into `incoming`, identifies the capabilities
/// that came with it, hands it to `handler` with `reply` to write its answer into,
/// deletes whatever capabilities are still in the receive slots (a handler that keeps one
/// moves it first), and returns the registers of the reply (written into the buffer
/// beyond them), or `None` when there is none.
///
/// For a hand-written loop that serves protocol messages and others on one endpoint; the
/// receive slot must be `config.receive_slot`. `incoming` and `reply` are the loop's own,
/// reused for every message.
pub fn serve_one_into(
    config: &ServeConfig,
    received: &Received,
    incoming: &mut Incoming,
    reply: &mut Outgoing,
    mut handler: impl FnMut(&Incoming, &mut Outgoing) -> Answer,
) -> Option<abi::IpcMessage> {
    let mut buffer = config.buffer.clone();
    let slot = |i: usize| config.receive_slot + i as u64;
    let copied = copy_in(received, &buffer, incoming, |i| ReceivedCap {
        slot: CPtr(slot(i)),
        identity: substrate::cnode_identify(config.cspace, slot(i)).unwrap_or_default(),
    });
    reply.reset(0);
    let answer = match copied {
        Ok(()) => handler(incoming, reply),
        // More words or capabilities than a message holds: the kernel never sends one.
        Err(error) => {
            crate::println!("proto: received an unreadable message: {}", error.name());
            Answer::Silent
        }
    };
    for i in 0..usize::from(received.message.info.caps()) {
        match substrate::cnode_delete(config.cspace, slot(i)) {
            Ok(()) | Err(Error::SlotEmpty) => {}
            Err(error) => {
                crate::println!(
                    "proto: deleting received slot {}: {}",
                    slot(i),
                    error.name()
                );
            }
        }
    }
    match answer {
        Answer::Silent => None,
        Answer::Send => match outgoing_registers(reply, &mut buffer) {
            Ok(registers) => Some(registers),
            Err(error) => {
                crate::println!("proto: reply not sent: {}", error.name());
                None
            }
        },
    }
}

/// Puts a returned reply where an in-place handler's goes.
fn answer(reply: Reply, out: &mut Outgoing) -> Answer {
    match reply {
        Reply::None => Answer::Silent,
        Reply::Message(message) => {
            *out = message;
            Answer::Send
        }
    }
}

/// The registers of `message`, its other words and capabilities written into `buffer`.
fn outgoing_registers(message: &Outgoing, buffer: &mut Buffer) -> Result<abi::IpcMessage, Error> {
    if message.overflowed() {
        return Err(Error::InvalidArgument);
    }
    ipc::encode(
        message.label(),
        message.words(),
        message.caps(),
        Some(buffer),
    )
}

/// Copies a received message out of the registers and `buffer` into `incoming`; `cap(i)`
/// says where capability `i` landed and what it is.
fn copy_in(
    received: &Received,
    buffer: &Buffer,
    incoming: &mut Incoming,
    cap: impl Fn(usize) -> ReceivedCap,
) -> Result<(), Error> {
    incoming.reset(ipc::label(received), received.badge);
    let length = usize::from(received.message.info.length());
    for index in 0..length {
        let word = ipc::word(received, index, Some(buffer)).ok_or(Error::InvalidArgument)?;
        incoming
            .push_word(word)
            .map_err(|_| Error::InvalidArgument)?;
    }
    for index in 0..usize::from(received.message.info.caps()) {
        incoming
            .push_cap(cap(index))
            .map_err(|_| Error::InvalidArgument)?;
    }
    Ok(())
}
