//! Stand-in for trona's `proto` in scratch crates that type-check the generated protocols: trona's real wire format (`proto/wire.rs`, copied next to this file, with `proto/common.rs`) and a transport that sends nothing.

mod common;
mod wire;

pub use common::*;
pub use wire::*;

use abi::{CPtr, Error};

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
