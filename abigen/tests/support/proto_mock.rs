//! A host stand-in for trona's `proto` transport: trona's real wire format (`proto/wire.rs`, copied next to this file, with `proto/common.rs`), and a `call` that hands the message to a server installed in this thread, as the kernel would (badge, received slots, capability identities).

mod common;
mod wire;

pub use common::*;
pub use wire::*;

use std::cell::RefCell;

use abi::{CPtr, CapIdentity, Error};

/// The badge every request arrives with.
pub const BADGE: u64 = 0xbad9e;

/// Where the server's received capabilities land.
pub const SERVER_RECEIVE_SLOT: u64 = 100;

type Handler = Box<dyn FnMut(&Incoming) -> Reply>;

thread_local! {
    static SERVER: RefCell<Option<Handler>> = RefCell::new(None);
    static IDENTITIES: RefCell<Vec<(CPtr, CapIdentity)>> = const { RefCell::new(Vec::new()) };
    static DRIFT: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
    static SENT: RefCell<Vec<u64>> = const { RefCell::new(Vec::new()) };
}

/// Makes `handler` the server every `call` and `send` of this thread reaches.
pub fn install(handler: impl FnMut(&Incoming) -> Reply + 'static) {
    SERVER.with(|s| *s.borrow_mut() = Some(Box::new(handler)));
}

/// What the kernel would say each capability is when it arrives.
pub fn set_identity(cap: CPtr, identity: CapIdentity) {
    IDENTITIES.with(|ids| ids.borrow_mut().push((cap, identity)));
}

/// The `PROTOCOL DRIFT` lines printed so far.
pub fn drifts() -> Vec<String> {
    DRIFT.with(|d| d.borrow().clone())
}

/// The labels of the messages sent so far (calls and sends).
pub fn sent() -> Vec<u64> {
    SENT.with(|s| s.borrow().clone())
}

/// `message` as the receiver sees it: capability `i` lands in `slot + i`, identified.
pub fn deliver(message: &Outgoing, badge: u64, slot: u64) -> Incoming {
    let mut incoming = Incoming::new(message.label(), badge);
    for &word in message.words() {
        incoming.push_word(word).expect("a message fits");
    }
    for (i, cap) in message.caps().iter().enumerate() {
        let identity = IDENTITIES.with(|ids| {
            ids.borrow()
                .iter()
                .find(|(c, _)| c == cap)
                .map_or_else(CapIdentity::new, |(_, id)| *id)
        });
        incoming
            .push_cap(ReceivedCap {
                slot: CPtr(slot + i as u64),
                identity,
            })
            .expect("the caps fit");
    }
    incoming
}

fn serve(message: &Outgoing) -> Result<Reply, Error> {
    if message.overflowed() {
        return Err(Error::InvalidArgument);
    }
    SENT.with(|s| s.borrow_mut().push(message.label()));
    let incoming = deliver(message, BADGE, SERVER_RECEIVE_SLOT);
    SERVER.with(|s| {
        let mut server = s.borrow_mut();
        let handler = server.as_mut().ok_or(Error::InvalidCapability)?;
        Ok(handler(&incoming))
    })
}

pub fn call(
    _endpoint: CPtr,
    _buffer: &Buffer,
    message: &Outgoing,
    receive: Option<CPtr>,
) -> Result<Incoming, Error> {
    match serve(message)? {
        // A call the server does not answer would block forever; the test says so.
        Reply::None => Err(Error::Cancelled),
        Reply::Message(reply) => Ok(deliver(&reply, 0, receive.map_or(0, |r| r.0))),
    }
}

pub fn send(_endpoint: CPtr, _buffer: &Buffer, message: &Outgoing) -> Result<(), Error> {
    serve(message).map(|_| ())
}

pub fn drift(protocol: &str, message: &str, error: &str) {
    DRIFT.with(|d| {
        d.borrow_mut()
            .push(format!("PROTOCOL DRIFT: {protocol}.{message} returned {error}"))
    });
}

pub fn serve_loop(_config: &ServeConfig, _handler: impl FnMut(&Incoming) -> Reply) -> ! {
    panic!("the host mock has no loop: install a handler and call");
}

pub fn serve_loop_into(
    _config: &ServeConfig,
    _handler: impl FnMut(&Incoming, &mut Outgoing) -> Answer,
) -> ! {
    panic!("the host mock has no loop: install a handler and call");
}
