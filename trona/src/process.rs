//! A process's view of the process server: its start page and arguments, spawn, wait, exit and console output over the generated Process and Console clients.
//!
//! A program the process server spawned starts with the address of its
//! [`StartInfo`](crate::uapi::StartInfo) page in its first argument register and the
//! endpoints of the start convention in its CSpace (`START_SLOT_*` in schema.toml):
//!
//! ```ignore
//! fn main(arg: u64) -> ! {
//!     let me = trona::process::Process::connect(arg).unwrap_or_else(|_| trona::exit());
//!     let child = me.spawn("hello", b"from a parent", &[])?;
//!     let status = me.wait(child)?;
//!     me.exit(0)
//! }
//! ```
//!
//! The root task, which has no start page, builds a [`Process`] from the capabilities the
//! process server handed it ([`Process::with_endpoints`]).

use core::fmt;

use crate::ipc::Buffer;
use crate::protocols::console::{ConsoleClient, ConsoleError};
use crate::protocols::process::{ProcessClient, ProcessError};
use crate::substrate;
use crate::uapi::{
    CPtr, Error, START_ARGS_MAX, START_INFO_VADDR, START_SLOT_CHILD_EXIT, START_SLOT_CONSOLE,
    START_SLOT_FIRST_CAP, START_SLOT_PROCESS, StartInfo,
};

/// Why [`Process::connect`] failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnectError {
    /// The argument is not `START_INFO_VADDR`: the program was not spawned by the process
    /// server (or is the root task).
    NoStartInfo,
    /// The start page's counts do not fit their arrays.
    Corrupt,
    /// The Process protocol handshake failed (a major version mismatch, say).
    Process(ProcessError),
    /// The Console protocol handshake failed.
    Console(ConsoleError),
}

/// This process, as the process server sees it: its clients, its start page.
pub struct Process {
    process: ProcessClient,
    console: ConsoleClient,
    child_exit: CPtr,
    info: Option<&'static StartInfo>,
}

impl Process {
    /// Reads the start page whose address `arg` (the first argument register) is, and
    /// connects to the Process and Console servers of the start convention.
    pub fn connect(arg: u64) -> Result<Process, ConnectError> {
        let info = start_info(arg)?;
        // SAFETY: the process server maps the IPC buffer read-write at `ipc_buffer` for the
        // process's first thread (the caller, by the start convention), and sets it.
        let buffer = unsafe { Buffer::at(info.ipc_buffer) };
        let mut process = Process::with_endpoints(
            CPtr(START_SLOT_PROCESS),
            CPtr(START_SLOT_CONSOLE),
            CPtr(START_SLOT_CHILD_EXIT),
            buffer,
        )?;
        process.info = Some(info);
        Ok(process)
    }

    /// Connects through explicit capabilities: a Process endpoint (write and grant), a
    /// Console endpoint and the child-exit notification (read), using `buffer`.
    pub fn with_endpoints(
        process: CPtr,
        console: CPtr,
        child_exit: CPtr,
        buffer: Buffer,
    ) -> Result<Process, ConnectError> {
        Ok(Process {
            process: ProcessClient::connect(process, buffer.clone())
                .map_err(ConnectError::Process)?,
            console: ConsoleClient::connect(console, buffer).map_err(ConnectError::Console)?,
            child_exit,
            info: None,
        })
    }

    /// The start page (`None` for the root task).
    pub fn info(&self) -> Option<&'static StartInfo> {
        self.info
    }

    /// The arguments this process was spawned with (empty for the root task).
    pub fn args(&self) -> &'static [u8] {
        self.info
            .map_or(&[], |info| &info.args[..info.args_len as usize])
    }

    /// The capabilities passed at spawn: slots from `START_SLOT_FIRST_CAP` on.
    pub fn caps(&self) -> impl Iterator<Item = CPtr> {
        let count = self.info.map_or(0, |info| info.cap_count);
        (START_SLOT_FIRST_CAP..START_SLOT_FIRST_CAP + count).map(CPtr)
    }

    /// This process's pid, as the server knows it.
    pub fn pid(&self) -> Result<u64, ProcessError> {
        self.process.pid()
    }

    /// The Process client, for calls this module does not wrap.
    pub fn client(&self) -> &ProcessClient {
        &self.process
    }

    /// Spawns `program` (a boot module's name) with `args`, handing it copies of up to two
    /// of this process's capabilities (each needs the grant right); the child's pid.
    pub fn spawn(&self, program: &str, args: &[u8], caps: &[CPtr]) -> Result<u64, ProcessError> {
        if caps.len() > 2 {
            return Err(ProcessError::Shared(Error::InvalidArgument));
        }
        self.process
            .spawn(program, args, caps.first().copied(), caps.get(1).copied())
    }

    /// Waits until child `pid` has ended; its exit status (`EXIT_STATUS_FAULTED` set
    /// when a fault ended it).
    pub fn wait(&self, pid: u64) -> Result<u64, ProcessError> {
        loop {
            match self.process.wait(pid) {
                Err(ProcessError::Shared(Error::WouldBlock)) => {
                    // A child that ends after this check has signalled the notification, so
                    // this wait returns at once.
                    substrate::notification_wait(self.child_exit).map_err(ProcessError::Shared)?;
                }
                result => return result,
            }
        }
    }

    /// Writes `text` to the console.
    pub fn write(&self, text: &[u8]) -> Result<(), ConsoleError> {
        for chunk in text.chunks(CONSOLE_CHUNK) {
            self.console.write(chunk)?;
        }
        Ok(())
    }

    /// Ends this process with `status`.
    pub fn exit(&self, status: u32) -> ! {
        let _ = self.process.exit(status);
        // The server destroys the process when it takes the message; should the send
        // fail, the thread ends anyway.
        crate::exit()
    }
}

/// Bytes of console text per Console.write (the message's maximum).
const CONSOLE_CHUNK: usize = crate::protocols::console::WRITE_TEXT_MAX;

impl fmt::Write for &Process {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        Process::write(self, text.as_bytes()).map_err(|_| fmt::Error)
    }
}

/// The start page at `arg`, checked.
fn start_info(arg: u64) -> Result<&'static StartInfo, ConnectError> {
    if arg != START_INFO_VADDR {
        return Err(ConnectError::NoStartInfo);
    }
    // SAFETY: by the start convention the process server maps a StartInfo read-only at
    // START_INFO_VADDR, the address arrived as `arg`, and nothing unmaps it.
    let info = unsafe { &*(START_INFO_VADDR as usize as *const StartInfo) };
    if info.args_len > START_ARGS_MAX {
        return Err(ConnectError::Corrupt);
    }
    Ok(info)
}
