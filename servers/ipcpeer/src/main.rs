//! ipcpeer, the test suite's IPC partner in its own address space and CSpace: serves the `rootlib::peer` protocol on one endpoint.
//!
//! abitest builds it from its boot module with `rootlib::process`, puts an endpoint
//! capability (badged, so replies can prove which capability a request came through) in
//! the slot whose index arrives as the argument, and calls it. Single-threaded.
#![no_std]
#![no_main]

use rootlib::peer::{ECHO, EMPTY, OWN_CNODE_SLOT, RECEIVE_SLOT, SIGNAL_RECEIVED};
use rootlib::process::IPC_BUFFER_VADDR;
use trona::ipc::{self, Buffer, Message};
use trona::uapi::{CPtr, Error, IpcMessage, Received};
use trona::{println, substrate};

trona::entry!(main);

fn main(endpoint: u64) -> ! {
    let endpoint = CPtr(endpoint);
    // SAFETY: rootlib::process maps this page read-write for this, the only thread, and
    // sets it as the thread's IPC buffer.
    let mut buffer = unsafe { Buffer::at(IPC_BUFFER_VADDR) };
    buffer.set_receive_slot(CPtr(RECEIVE_SLOT));
    let mut incoming = substrate::recv(endpoint);
    loop {
        let request = match incoming {
            Ok(request) => request,
            Err(error) => {
                println!("ipcpeer: receive failed: {}", error.name());
                trona::exit()
            }
        };
        if ipc::label(&request) == EMPTY {
            // The benchmarks' round trip: nothing to build.
            incoming = substrate::reply_recv(endpoint, &IpcMessage::default());
            continue;
        }
        let answer = match answer(&request, &mut buffer) {
            Ok(answer) => answer,
            Err(error) => ipc::short(error.code(), &[]).unwrap_or_default(),
        };
        incoming = substrate::reply_recv(endpoint, &answer);
    }
}

/// The reply to one request.
fn answer(request: &Received, buffer: &mut Buffer) -> Result<IpcMessage, Error> {
    let label = ipc::label(request);
    let mut reply = Message::new(label);
    match label {
        ECHO => {
            reply.push(request.badge)?;
            let length = usize::from(request.message.info.length());
            for index in 0..length {
                let Some(word) = ipc::word(request, index, Some(buffer)) else {
                    break;
                };
                if reply.push(word).is_err() {
                    break;
                }
            }
        }
        SIGNAL_RECEIVED => {
            let info = request.message.info;
            for index in 0..u64::from(info.caps()) {
                if info.caps_unwrapped() & (1 << index) != 0 {
                    continue;
                }
                let cap = CPtr(RECEIVE_SLOT + index);
                substrate::notification_signal(cap)?;
                substrate::cnode_delete(CPtr(OWN_CNODE_SLOT), cap.0)?;
            }
            reply.push(u64::from(info.caps()))?;
            reply.push(u64::from(info.caps_unwrapped()))?;
        }
        _ => return Err(Error::InvalidLabel),
    }
    reply.registers(Some(buffer))
}
