//! ipcpeer, the test suite's IPC partner in its own address space and CSpace: serves the raw `rootlib::peer` test protocol and the schema's Echo protocol on one endpoint.
//!
//! abitest builds it from its boot module with `rootlib::process`, puts an endpoint
//! capability (badged, so replies can prove which capability a request came through) in
//! the slot whose index arrives as the argument, and calls it. Labels of the raw protocol
//! are answered by hand (the IPC tests and the raw benchmarks measure the kernel alone);
//! every other message goes through the generated Echo dispatch, which answers malformed
//! and unknown ones with the schema's errors. Single-threaded.
#![no_std]
#![no_main]

use rootlib::peer::{ECHO, EMPTY, GIVE_SLOT, OWN_CNODE_SLOT, RECEIVE_SLOT, SIGNAL_RECEIVED};
use rootlib::process::IPC_BUFFER_VADDR;
use trona::ipc::{self, Buffer, Message};
use trona::proto::{self, Bytes, Request, ServeConfig};
use trona::protocols::echo::{self, EchoError, EchoScalarsReply, EchoServer};
use trona::uapi::{CPtr, CpuTimes, Error, IpcMessage, MessageInfo, ObjectType, Received, Rights};
use trona::{println, substrate};

trona::entry!(main);

fn main(endpoint: u64) -> ! {
    let endpoint = CPtr(endpoint);
    // SAFETY: rootlib::process maps this page read-write for this, the only thread, and
    // sets it as the thread's IPC buffer.
    let mut buffer = unsafe { Buffer::at(IPC_BUFFER_VADDR) };
    buffer.set_receive_slot(CPtr(RECEIVE_SLOT));
    let config = ServeConfig {
        endpoint,
        buffer: buffer.clone(),
        cspace: CPtr(OWN_CNODE_SLOT),
        receive_slot: RECEIVE_SLOT,
    };
    let mut server = Echo::default();
    // The Echo messages in and out, reused for every one (a message is a kilobyte).
    let mut message_in = proto::Incoming::new(0, 0);
    let mut message_out = proto::Outgoing::new(0);
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
        if ![ECHO, SIGNAL_RECEIVED].contains(&ipc::label(&request)) {
            let reply = proto::serve_one_into(
                &config,
                &request,
                &mut message_in,
                &mut message_out,
                |incoming, out| {
                    echo::dispatch_into(&mut server, incoming, out).unwrap_or_else(|| {
                        out.reset(Error::InvalidLabel.code());
                        proto::Answer::Send
                    })
                },
            );
            incoming = match reply {
                Some(reply) => substrate::reply_recv(endpoint, &reply),
                None => substrate::recv(endpoint),
            };
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

/// The Echo protocol's server: echoes, signals, and remembers one note.
#[derive(Default)]
struct Echo {
    note: u64,
}

impl EchoServer for Echo {
    fn ping(&mut self, _: &Request) -> Result<(), EchoError> {
        Ok(())
    }

    fn scalars(
        &mut self,
        _: &Request,
        a: u8,
        b: u16,
        c: u32,
        d: u64,
        flag: bool,
        kind: ObjectType,
        rights: Rights,
        info: MessageInfo,
    ) -> Result<EchoScalarsReply, EchoError> {
        Ok(EchoScalarsReply {
            a,
            b,
            c,
            d,
            flag,
            kind,
            rights,
            info,
        })
    }

    fn record(&mut self, _: &Request, times: &CpuTimes) -> Result<CpuTimes, EchoError> {
        Ok(*times)
    }

    fn key(&mut self, _: &Request, key: &[u8; 16]) -> Result<[u8; 16], EchoError> {
        Ok(*key)
    }

    fn bytes(&mut self, _: &Request, data: &[u8]) -> Result<Bytes<256>, EchoError> {
        // The dispatcher checked the length against the same maximum.
        Bytes::new(data).ok_or(EchoError::Shared(Error::InvalidArgument))
    }

    fn text(&mut self, _: &Request, text: &str) -> Result<u64, EchoError> {
        Ok(text.chars().count() as u64)
    }

    fn signal(&mut self, _: &Request, target: CPtr) -> Result<(), EchoError> {
        substrate::notification_signal(target).map_err(EchoError::Shared)
    }

    fn give(&mut self, _: &Request) -> Result<CPtr, EchoError> {
        Ok(CPtr(GIVE_SLOT))
    }

    fn maybe(&mut self, _: &Request, target: Option<CPtr>) -> Result<bool, EchoError> {
        Ok(target.is_some())
    }

    fn note(&mut self, _: &Request, value: u64) {
        self.note = value;
    }

    fn last_note(&mut self, _: &Request) -> Result<u64, EchoError> {
        Ok(self.note)
    }

    fn refuse(&mut self, _: &Request, _code: u64) -> Result<(), EchoError> {
        Err(EchoError::Refused)
    }
}
