//! The process server: spawns programs from boot modules into processes of their own, ends them, tells parents, and serves the console (the Process and Console protocols of schema.toml).
//!
//! It runs as a thread of the root task ([`start`]), in the root task's address space and
//! CSpace, with resources the root task hands it: a range of root CNode slots, untyped
//! memory and a virtual address range for its own mappings. Every process gets a table
//! entry with an untyped region of its own ([`PROCESS_MEMORY_BITS`]) and a range of
//! [`SLOTS_PER_PROCESS`] slots, retyped and filled when the entry is first used; all of the
//! process's objects (VSpace, page tables, CNode, TCB, frames, the notification its
//! children's exits signal) are retyped from that region into those slots. When the
//! process ends, by `Process.exit` or by a fault, revoking the region destroys them all and
//! leaves the region empty for the next process the entry holds. The entry keeps the exit
//! status until the parent collects it with `Process.wait`, so memory stays bounded by
//! the table.
//!
//! Authority comes only from capabilities (docs/protocols.md): a process's Process and
//! Console endpoints are badged with its pid, the server is its fault handler through a
//! third badge, and it sees nothing but what the start convention (`START_SLOT_*` in
//! schema.toml) and `spawn`'s capabilities put in its CSpace.

use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicBool, Ordering};

use boot::BootInfo;
use trona::ipc::Buffer;
use trona::proto::{self, Answer, Incoming, Outgoing, Request, ServeConfig};
use trona::protocols::console::{self, ConsoleError, ConsoleServer};
use trona::protocols::process::{self, ProcessError, ProcessServer};
use trona::substrate;
use trona::uapi::kernel_message::{UnknownSyscall, UserException, VmFault};
use trona::uapi::{
    CPtr, EXIT_STATUS_FAULTED, Error, ObjectType, PAGE_SIZE, Rights, START_ARGS_MAX,
    START_SLOT_CHILD_EXIT, START_SLOT_CNODE, START_SLOT_CONSOLE, START_SLOT_FAULT,
    START_SLOT_FIRST_CAP, START_SLOT_PROCESS, StartInfo,
};

use crate::process::{self as builder, LoadError, ProcessSpec, Start};
use crate::{BuildError, ROOT_CNODE, ROOT_VSPACE, Resources, SlotAllocator, ThreadSpec};
use crate::{UntypedPool, VirtualRange};

/// log2 of the bytes of untyped memory each process is built from.
pub const PROCESS_MEMORY_BITS: u8 = 19;

/// Root CNode slots each table entry uses: its untyped region and the capabilities of
/// the objects retyped from it.
pub const SLOTS_PER_PROCESS: u64 = 48;

/// Most processes (running, or ended and not yet waited for) at once.
pub const MAX_PROCESSES: usize = 6;

// `spawn`'s arguments go to `StartInfo.args` whole: the message's bound (the dispatcher
// checks it) is the start page's.
const _: () = assert!(process::SPAWN_ARGS_MAX as u64 == START_ARGS_MAX);

/// The pid of the root task, the parent of the processes it spawns.
pub const ROOT_PID: u64 = 1;

/// log2 of the slot count of a spawned process's CNode.
const PROCESS_CNODE_BITS: u8 = 6;

/// The badge bit of fault-handler capabilities (the low bits are the pid).
const FAULT_BADGE: u64 = 1 << 40;

/// The slot the first capability of a request lands in: two in a row for `spawn`'s.
const RECEIVE_SLOTS: u64 = 2;

/// Pages of the server thread's stack.
const STACK_PAGES: usize = 8;

/// What the root task gives the server.
pub struct Config {
    /// The boot information: the programs are its boot modules.
    pub info: &'static BootInfo,
    /// Root CNode slots, untyped memory and virtual addresses that are the server's alone.
    pub resources: Resources,
    /// The priority of the server thread and of the processes it spawns.
    pub priority: u8,
}

/// What the root task uses the server through: capabilities in its CSpace.
#[derive(Clone, Copy, Debug)]
pub struct RootClient {
    /// The server's endpoint, unbadged: the root task owns the server and may mint more
    /// clients (tests pose as callers the server never handed a capability to).
    pub endpoint: CPtr,
    /// The Process endpoint, badged [`ROOT_PID`], with write and grant.
    pub process: CPtr,
    /// The Console endpoint, badged [`ROOT_PID`].
    pub console: CPtr,
    /// The notification (read) the server signals when a child of the root task ends.
    pub child_exit: CPtr,
}

/// Why the server did not start.
#[derive(Debug)]
pub enum StartError {
    /// A server already runs in this address space.
    AlreadyRunning,
    /// Creating its objects or its thread failed.
    Build(BuildError),
}

impl From<BuildError> for StartError {
    fn from(error: BuildError) -> StartError {
        StartError::Build(error)
    }
}

impl From<Error> for StartError {
    fn from(error: Error) -> StartError {
        StartError::Build(BuildError::Kernel(error))
    }
}

/// Starts the server thread; returns the root task's capabilities to it.
pub fn start(config: Config) -> Result<RootClient, StartError> {
    if STATE.taken.swap(true, Ordering::AcqRel) {
        return Err(StartError::AlreadyRunning);
    }
    let Config {
        info,
        mut resources,
        priority,
    } = config;
    let res = &mut resources;
    let endpoint = res.retype(ObjectType::Endpoint, 0)?;
    let root_exit = res.retype(ObjectType::Notification, 0)?;
    let client = RootClient {
        endpoint,
        process: mint(res, endpoint, Rights::WRITE.union(Rights::GRANT), ROOT_PID)?,
        console: mint(res, endpoint, Rights::WRITE, ROOT_PID)?,
        child_exit: mint(res, root_exit, Rights::READ, 0)?,
    };
    // The scratch pages where the server fills a process's pages; their page tables are
    // created now, from the server's own memory, so that no process's region holds them.
    let scratch = res.va.take(SCRATCH_PAGES)?;
    let probe = res.retype(ObjectType::Frame, 0)?;
    res.map_frame(ROOT_VSPACE, probe, scratch, Rights::READ)?;
    substrate::vspace_unmap_frame(ROOT_VSPACE, probe)?;
    res.delete(probe)?;
    let receive = res.slots.alloc_range(RECEIVE_SLOTS)?;
    let buffer_page = res.map_new_region(1, Rights::READ.union(Rights::WRITE))?;
    let buffer_address = buffer_page.vaddr;
    let mut table: [Entry; MAX_PROCESSES] = core::array::from_fn(|_| Entry::default());
    for entry in &mut table {
        entry.first_slot = res.slots.alloc_range(SLOTS_PER_PROCESS)?;
    }
    let thread = res.create_thread(ThreadSpec {
        entry: server_main,
        arg: 0,
        priority,
        stack_pages: STACK_PAGES,
    })?;
    substrate::tcb_set_ipc_buffer(thread.tcb, buffer_address)?;
    let server = Server {
        info,
        res: resources,
        endpoint,
        root_exit,
        scratch,
        priority,
        table,
        next_pid: ROOT_PID + 1,
    };
    let config = ServeConfig {
        endpoint,
        // SAFETY: the page was mapped read-write for this buffer just above, and only the
        // server thread, whose IPC buffer it is, uses it.
        buffer: unsafe { Buffer::at(buffer_address) },
        cspace: ROOT_CNODE,
        receive_slot: receive,
    };
    // SAFETY: `taken` was false, so no one else has written or read the cell; the thread
    // that reads it is not running yet.
    unsafe { *STATE.cell.get() = Some((server, config)) };
    substrate::tcb_resume(thread.tcb)?;
    Ok(client)
}

/// Virtual pages the server reserves for filling pages (the loader takes two ranges of
/// one page and a guard page per process).
const SCRATCH_PAGES: u64 = 4;

/// The one server of this address space, handed from [`start`] to its thread.
struct StateCell {
    taken: AtomicBool,
    cell: UnsafeCell<Option<(Server, ServeConfig)>>,
}

// SAFETY: `start` writes the cell once, before the server thread runs, and only that thread
// touches it afterwards (`taken` keeps a second `start` out).
unsafe impl Sync for StateCell {}

static STATE: StateCell = StateCell {
    taken: AtomicBool::new(false),
    cell: UnsafeCell::new(None),
};

extern "C" fn server_main(_: u64) -> ! {
    // SAFETY: See `StateCell`: `start` filled the cell before resuming this thread, and
    // this thread is the only one that touches it from now on.
    let state = unsafe { &mut *STATE.cell.get() };
    let Some((server, config)) = state.as_mut() else {
        panic!("invariant broken: the process server thread ran before its state was set");
    };
    proto::serve_loop_into(config, |incoming, out| server.handle(incoming, out))
}

/// What a table entry holds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum State {
    /// Nothing: the entry's region is empty.
    #[default]
    Free,
    /// A process runs.
    Running,
    /// The process ended with this status; its parent has not waited for it yet.
    Exited(u64),
}

/// One process.
#[derive(Default)]
struct Entry {
    state: State,
    pid: u64,
    parent: u64,
    /// The first of the entry's root CNode slots.
    first_slot: u64,
    /// The entry's untyped region (slot `first_slot`), once created.
    memory: Option<CPtr>,
    /// The notification the process's children's exits signal (the server's capability).
    child_exit: CPtr,
}

struct Server {
    info: &'static BootInfo,
    res: Resources,
    endpoint: CPtr,
    /// The root task's child-exit notification.
    root_exit: CPtr,
    scratch: u64,
    priority: u8,
    table: [Entry; MAX_PROCESSES],
    next_pid: u64,
}

impl Server {
    /// Answers one message, into `out`: a request of either protocol or a child's fault.
    fn handle(&mut self, incoming: &Incoming, out: &mut Outgoing) -> Answer {
        if let Some(answer) = process::dispatch_into(self, incoming, out) {
            return answer;
        }
        if let Some(answer) = console::dispatch_into(self, incoming, out) {
            return answer;
        }
        let label = incoming.label();
        let fault = [VmFault::LABEL, UserException::LABEL, UnknownSyscall::LABEL];
        if incoming.badge() & FAULT_BADGE != 0 && fault.contains(&label) {
            // The faulting thread waits for a reply it will never get: ending the process
            // destroys it.
            self.end(incoming.badge() & !FAULT_BADGE, EXIT_STATUS_FAULTED | label);
            return Answer::Silent;
        }
        out.reset(Error::InvalidLabel.code());
        Answer::Send
    }

    /// The running process with `pid`.
    fn running(&mut self, pid: u64) -> Option<&mut Entry> {
        self.table
            .iter_mut()
            .find(|entry| entry.state == State::Running && entry.pid == pid)
    }

    /// Whether `pid` may make requests: the root task or a running process.
    fn known(&mut self, pid: u64) -> bool {
        pid == ROOT_PID || self.running(pid).is_some()
    }

    /// The notification to signal when a child of `pid` ends.
    fn exit_notification(&mut self, pid: u64) -> Option<CPtr> {
        if pid == ROOT_PID {
            return Some(self.root_exit);
        }
        self.running(pid).map(|entry| entry.child_exit)
    }

    /// Ends process `pid` with `status`: destroys its objects, tells its parent, and
    /// hands its children to the root task.
    fn end(&mut self, pid: u64, status: u64) {
        let Some(index) = self
            .table
            .iter()
            .position(|entry| entry.state == State::Running && entry.pid == pid)
        else {
            return;
        };
        if let Some(memory) = self.table[index].memory {
            revoke_all(memory);
        }
        self.table[index].state = State::Exited(status);
        let parent = self.table[index].parent;
        for entry in &mut self.table {
            if entry.parent == pid {
                entry.parent = ROOT_PID;
                if let State::Exited(_) = entry.state {
                    entry.state = State::Free;
                }
            }
        }
        if let Some(notification) = self.exit_notification(parent) {
            let _ = substrate::notification_signal(notification);
        }
    }

    /// Builds and starts a process in table entry `index`.
    fn build(
        &mut self,
        index: usize,
        parent: u64,
        image: &[u8],
        args: &[u8],
        caps: &[CPtr],
    ) -> Result<u64, ProcessError> {
        let first_slot = self.table[index].first_slot;
        let memory = match self.table[index].memory {
            Some(memory) => memory,
            None => {
                let memory = CPtr(first_slot);
                self.res
                    .retype_into(ObjectType::Untyped, PROCESS_MEMORY_BITS, memory)
                    .map_err(out_of_memory)?;
                self.table[index].memory = Some(memory);
                memory
            }
        };
        let pid = self.next_pid;
        let mut res = Resources {
            slots: SlotAllocator::new(first_slot + 1, first_slot + SLOTS_PER_PROCESS),
            untyped: UntypedPool::single(memory),
            va: VirtualRange::new(self.scratch, self.scratch + SCRATCH_PAGES * PAGE_SIZE),
        };
        let child_exit = res
            .retype(ObjectType::Notification, 0)
            .map_err(out_of_memory)?;
        let mut info = StartInfo {
            pid,
            parent,
            cnode_bits: u64::from(PROCESS_CNODE_BITS),
            first_free_slot: START_SLOT_FIRST_CAP + caps.len() as u64,
            cap_count: caps.len() as u64,
            ipc_buffer: builder::IPC_BUFFER_VADDR,
            args_len: args.len() as u64,
            ..StartInfo::default()
        };
        info.args[..args.len()].copy_from_slice(args);
        let spec = ProcessSpec {
            image,
            cnode_bits: PROCESS_CNODE_BITS,
            priority: self.priority,
            start: Start::Info(&info),
        };
        let endpoint = self.endpoint;
        let grant = |child: &builder::Process| {
            let cnode = child.cnode;
            let read_write = Rights::READ.union(Rights::WRITE);
            substrate::cnode_copy(cnode, START_SLOT_CNODE, cnode, read_write)?;
            let process_rights = Rights::WRITE.union(Rights::GRANT);
            substrate::cnode_mint(cnode, START_SLOT_PROCESS, endpoint, process_rights, pid)?;
            substrate::cnode_mint(cnode, START_SLOT_CONSOLE, endpoint, Rights::WRITE, pid)?;
            substrate::cnode_copy(cnode, START_SLOT_CHILD_EXIT, child_exit, Rights::READ)?;
            let fault = FAULT_BADGE | pid;
            substrate::cnode_mint(cnode, START_SLOT_FAULT, endpoint, Rights::WRITE, fault)?;
            substrate::tcb_set_fault_handler(child.tcb, START_SLOT_FAULT)?;
            for (offset, &cap) in (0u64..).zip(caps) {
                substrate::cnode_move_cap(cnode, START_SLOT_FIRST_CAP + offset, cap)?;
            }
            Ok(())
        };
        match builder::create(&mut res, &spec, grant) {
            Ok(_) => {
                self.next_pid += 1;
                let entry = &mut self.table[index];
                entry.state = State::Running;
                entry.pid = pid;
                entry.parent = parent;
                entry.child_exit = child_exit;
                Ok(pid)
            }
            Err(error) => {
                revoke_all(memory);
                Err(match error {
                    LoadError::Elf(_) => ProcessError::BadImage,
                    LoadError::Build(error) => out_of_memory(error),
                })
            }
        }
    }
}

impl ProcessServer for Server {
    fn spawn(
        &mut self,
        request: &Request,
        program: &str,
        args: &[u8],
        cap0: Option<CPtr>,
        cap1: Option<CPtr>,
    ) -> Result<u64, ProcessError> {
        let parent = request.badge;
        if !self.known(parent) {
            return Err(ProcessError::UnknownCaller);
        }
        let module = self
            .info
            .module(program)
            .ok_or(ProcessError::NoSuchProgram)?;
        // SAFETY: the kernel maps every boot module read-only in the root task for as long
        // as it runs, and nothing unmaps it.
        let image = unsafe { module.bytes() };
        let index = self
            .table
            .iter()
            .position(|entry| entry.state == State::Free)
            .ok_or(ProcessError::TooManyProcesses)?;
        let mut caps = [CPtr(0); 2];
        let mut count = 0;
        for cap in [cap0, cap1].into_iter().flatten() {
            caps[count] = cap;
            count += 1;
        }
        self.build(index, parent, image, args, &caps[..count])
    }

    fn exit(&mut self, request: &Request, status: u32) {
        self.end(request.badge, u64::from(status));
    }

    fn wait(&mut self, request: &Request, pid: u64) -> Result<u64, ProcessError> {
        let parent = request.badge;
        if !self.known(parent) {
            return Err(ProcessError::UnknownCaller);
        }
        let entry = self
            .table
            .iter_mut()
            .find(|entry| entry.state != State::Free && entry.pid == pid && entry.parent == parent)
            .ok_or(ProcessError::NotAChild)?;
        match entry.state {
            State::Exited(status) => {
                entry.state = State::Free;
                Ok(status)
            }
            _ => Err(ProcessError::Shared(Error::WouldBlock)),
        }
    }

    fn pid(&mut self, request: &Request) -> Result<u64, ProcessError> {
        if !self.known(request.badge) {
            return Err(ProcessError::UnknownCaller);
        }
        Ok(request.badge)
    }
}

impl ConsoleServer for Server {
    fn write(&mut self, _request: &Request, text: &[u8]) -> Result<u64, ConsoleError> {
        // The text is the server's own copy of the message, so the kernel console takes
        // all of it (DEBUG_WRITE_MAX at a time).
        let mut written = 0;
        while written < text.len() {
            let rest = &text[written..];
            let address = trona::uapi::UserAddr(rest.as_ptr() as u64);
            match substrate::debug_write(address, rest.len() as u64) {
                Ok(count) if count > 0 => written += count as usize,
                _ => break,
            }
        }
        Ok(written as u64)
    }
}

/// A minted copy of `source` in a fresh slot of the server's.
fn mint(res: &mut Resources, source: CPtr, rights: Rights, badge: u64) -> Result<CPtr, BuildError> {
    let slot = res.slots.alloc()?;
    let minted = if badge == 0 {
        substrate::cnode_copy(ROOT_CNODE, slot.0, source, rights)
    } else {
        substrate::cnode_mint(ROOT_CNODE, slot.0, source, rights, badge)
    };
    match minted {
        Ok(()) => Ok(slot),
        Err(error) => {
            res.slots.free(slot);
            Err(BuildError::Kernel(error))
        }
    }
}

/// What a spawn that could not build its process reports: the entry's region or slots ran
/// out (an image too large for them), or the kernel refused a step, which the server's own
/// checks make a resource shortage too.
fn out_of_memory(error: BuildError) -> ProcessError {
    trona::println!("procsrv: building a process failed: {error}");
    ProcessError::Shared(Error::OutOfMemory)
}

/// Destroys everything retyped from `memory` (in batches of `REVOKE_BATCH`).
fn revoke_all(memory: CPtr) {
    loop {
        match substrate::cnode_revoke(ROOT_CNODE, memory.0) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
    }
}
