//! What both host stand-ins for trona's `proto` share (copied next to them as `proto/common.rs`): trona's buffer, server configuration, reply and answer types, and `call_into` over the stand-in's `call`.

use abi::{CPtr, Error};

use super::{Incoming, Outgoing, call};

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
