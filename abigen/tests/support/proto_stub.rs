//! Stand-in for trona's `proto` in scratch crates that type-check the generated protocols: trona's real wire format (`proto/wire.rs`, copied next to this file) and a transport that sends nothing.

mod wire;

pub use wire::*;

use abi::{CPtr, Error};

/// Stands in for trona's IPC buffer.
#[derive(Clone, Debug)]
pub struct Buffer;

/// trona's server configuration, field for field.
#[derive(Clone, Debug)]
pub struct ServeConfig {
    pub endpoint: CPtr,
    pub buffer: Buffer,
    pub cspace: CPtr,
    pub receive_slot: u64,
}

/// trona's reply, variant for variant.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug)]
pub enum Reply {
    None,
    Message(Outgoing),
}

impl Reply {
    pub fn error(code: u64) -> Reply {
        Reply::Message(Outgoing::new(code))
    }
}

/// trona's in-place answer, variant for variant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answer {
    Send,
    Silent,
}

/// trona's `call_into`: `call`, the reply written into `reply`.
pub fn call_into(
    endpoint: CPtr,
    buffer: &Buffer,
    message: &Outgoing,
    receive: Option<CPtr>,
    reply: &mut Incoming,
) -> Result<(), Error> {
    *reply = call(endpoint, buffer, message, receive)?;
    Ok(())
}

pub fn call(
    _endpoint: CPtr,
    _buffer: &Buffer,
    message: &Outgoing,
    _receive: Option<CPtr>,
) -> Result<Incoming, Error> {
    Ok(Incoming::new(message.label(), 0))
}

pub fn send(_endpoint: CPtr, _buffer: &Buffer, _message: &Outgoing) -> Result<(), Error> {
    Ok(())
}

pub fn drift(_protocol: &str, _message: &str, _error: &str) {}

pub fn serve_loop(_config: &ServeConfig, mut handler: impl FnMut(&Incoming) -> Reply) -> ! {
    loop {
        let _ = handler(&Incoming::new(0, 0));
    }
}

pub fn serve_loop_into(
    _config: &ServeConfig,
    mut handler: impl FnMut(&Incoming, &mut Outgoing) -> Answer,
) -> ! {
    let mut out = Outgoing::new(0);
    loop {
        let _ = handler(&Incoming::new(0, 0), &mut out);
    }
}
