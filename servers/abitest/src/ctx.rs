//! The state tests share: the allocators, and helpers for objects, threads, waiting and capabilities.

use rootlib::{Region, Resources, Thread, ThreadSpec};
use trona::boot::BootInfo;
use trona::substrate;
use trona::uapi::{
    CPtr, NUM_PRIORITIES, ObjectType, ROOT_SLOT_KERNEL_DEBUG, ROOT_SLOT_TCB, Rights,
};

use crate::arch;
use crate::harness::{Failure, ok};

/// The priority the suite's main thread runs at, and the default for the threads it starts.
pub const PRIORITY: u8 = NUM_PRIORITIES / 2;

/// Stack pages of a helper thread.
const THREAD_STACK_PAGES: usize = 4;

/// How long [`Ctx::wait_until`] waits by default, in timer ticks.
pub const DEFAULT_TIMEOUT_TICKS: u64 = 300;

/// The KernelDebug capability the kernel gives the root task.
pub const KERNEL_DEBUG: CPtr = CPtr(ROOT_SLOT_KERNEL_DEBUG);

/// The suite's own TCB.
pub const SELF_TCB: CPtr = CPtr(ROOT_SLOT_TCB);

/// What every test gets.
pub struct Ctx {
    /// Slots, untyped memory and virtual addresses to build objects from.
    pub res: Resources,
    /// The boot information (boot modules: the IPC peer's image).
    pub info: &'static BootInfo,
    /// The IPC peer process, once a test started it (it then serves the rest of the suite).
    pub peer: Option<Peer>,
    /// The address of the main thread's IPC buffer, once a test set one up.
    pub ipc_buffer: Option<u64>,
}

/// The IPC peer (`ipcpeer`, in its own address space) and the suite's capabilities to it.
#[derive(Clone, Copy, Debug)]
pub struct Peer {
    /// The endpoint minted with write and [`PEER_BADGE`]: what the suite calls with.
    pub client: CPtr,
    /// The endpoint minted with write, grant and [`PEER_GRANT_BADGE`]: for capability transfer.
    pub granting: CPtr,
}

/// The badge of [`Peer::client`].
pub const PEER_BADGE: u64 = 0x42;
/// The badge of [`Peer::granting`].
pub const PEER_GRANT_BADGE: u64 = 0x43;
/// The slot of the peer's CNode that holds its endpoint capability.
const PEER_ENDPOINT_SLOT: u64 = 1;

impl Ctx {
    /// A new object of a fixed-size type.
    pub fn create(&mut self, object_type: ObjectType) -> Result<CPtr, Failure> {
        Ok(self.res.retype(object_type, 0)?)
    }

    /// Deletes a capability the test created.
    pub fn delete(&mut self, cap: CPtr) -> Result<(), Failure> {
        Ok(self.res.delete(cap)?)
    }

    /// An empty slot of the root CNode; give it back with [`Ctx::release_slot`].
    pub fn empty_slot(&mut self) -> Result<CPtr, Failure> {
        Ok(self.res.slots.alloc()?)
    }

    /// Returns a slot obtained from [`Ctx::empty_slot`] that is empty again.
    pub fn release_slot(&mut self, slot: CPtr) {
        self.res.slots.free(slot);
    }

    /// A copy of `source` with only `rights`, in a fresh slot.
    pub fn copy_with_rights(&mut self, source: CPtr, rights: Rights) -> Result<CPtr, Failure> {
        self.derive("copying", |slot| {
            substrate::cnode_copy(rootlib::ROOT_CNODE, slot.0, source, rights)
        })
    }

    /// Makes a capability in a fresh slot with `make`; the slot goes back if it fails.
    fn derive(
        &mut self,
        what: &str,
        make: impl FnOnce(CPtr) -> Result<(), trona::uapi::Error>,
    ) -> Result<CPtr, Failure> {
        let slot = self.empty_slot()?;
        match make(slot) {
            Ok(()) => Ok(slot),
            Err(error) => {
                self.release_slot(slot);
                Err(Failure::new(format_args!(
                    "{what} a capability: {}",
                    error.name()
                )))
            }
        }
    }

    /// Fresh zeroed pages mapped in the suite's address space.
    pub fn pages(&mut self, count: usize, rights: Rights) -> Result<Region, Failure> {
        Ok(self.res.map_new_region(count, rights)?)
    }

    /// Unmaps and deletes pages from [`Ctx::pages`].
    pub fn release_pages(&mut self, region: Region) -> Result<(), Failure> {
        Ok(self.res.release_region(region)?)
    }

    /// A virtual address in the suite's address space that nothing is mapped at.
    pub fn unmapped_address(&mut self) -> Result<u64, Failure> {
        Ok(self.res.va.take(1)?)
    }

    /// Starts a thread at the suite's priority running `entry(arg)`.
    pub fn spawn(&mut self, entry: extern "C" fn(u64) -> !, arg: u64) -> Result<Thread, Failure> {
        self.spawn_at(entry, arg, PRIORITY)
    }

    /// Starts a thread at `priority` running `entry(arg)`.
    pub fn spawn_at(
        &mut self,
        entry: extern "C" fn(u64) -> !,
        arg: u64,
        priority: u8,
    ) -> Result<Thread, Failure> {
        let spec = ThreadSpec {
            entry,
            arg,
            priority,
            stack_pages: THREAD_STACK_PAGES,
        };
        Ok(self.res.spawn_thread(spec)?)
    }

    /// Creates a thread like [`Ctx::spawn`] without resuming it.
    pub fn create_thread(
        &mut self,
        entry: extern "C" fn(u64) -> !,
        arg: u64,
    ) -> Result<Thread, Failure> {
        let spec = ThreadSpec {
            entry,
            arg,
            priority: PRIORITY,
            stack_pages: THREAD_STACK_PAGES,
        };
        Ok(self.res.create_thread(spec)?)
    }

    /// Stops a thread and frees its TCB and stack.
    pub fn destroy(&mut self, thread: Thread) -> Result<(), Failure> {
        Ok(self.res.destroy_thread(thread)?)
    }

    /// Yields until `done()` holds or `timeout_ticks` timer ticks pass; whether it held.
    ///
    /// Yielding lets threads of the suite's priority run. A cycle-counter bound stops
    /// the wait even if the timer never ticks.
    pub fn wait_until(&self, timeout_ticks: u64, mut done: impl FnMut() -> bool) -> bool {
        let start = now();
        let cycle_limit = arch::cycles()
            .saturating_add(timeout_ticks.saturating_mul(arch::CYCLES_PER_TICK_BOUND));
        loop {
            if done() {
                return true;
            }
            if now().saturating_sub(start) >= timeout_ticks || arch::cycles() > cycle_limit {
                return done();
            }
            let _ = substrate::sched_yield();
        }
    }

    /// The IPC peer, built from its boot module and started the first time it is asked for.
    pub fn peer(&mut self) -> Result<Peer, Failure> {
        if let Some(peer) = self.peer {
            return Ok(peer);
        }
        let module = self
            .info
            .module("ipcpeer")
            .ok_or_else(|| Failure::new(format_args!("no `ipcpeer` boot module")))?;
        // SAFETY: the kernel maps every boot module read-only at `vaddr` for `len` bytes
        // in the root task's address space, and the suite never unmaps it.
        let image = unsafe { module.bytes() };
        let endpoint = self.create(ObjectType::Endpoint)?;
        let write = Rights::WRITE;
        let client = self.mint(endpoint, write, PEER_BADGE)?;
        let granting = self.mint(endpoint, write.union(Rights::GRANT), PEER_GRANT_BADGE)?;
        let spec = rootlib::process::ProcessSpec {
            image,
            cnode_bits: 4,
            priority: PRIORITY,
            start: rootlib::process::Start::Word(PEER_ENDPOINT_SLOT),
        };
        let grant = |child: &rootlib::process::Process| {
            substrate::cnode_copy(child.cnode, PEER_ENDPOINT_SLOT, endpoint, Rights::READ)?;
            substrate::cnode_copy(
                child.cnode,
                rootlib::peer::OWN_CNODE_SLOT,
                child.cnode,
                Rights::READ.union(Rights::WRITE),
            )?;
            Ok(())
        };
        rootlib::process::create(&mut self.res, &spec, grant)
            .map_err(|error| Failure::new(format_args!("starting ipcpeer: {error}")))?;
        let peer = Peer { client, granting };
        self.peer = Some(peer);
        Ok(peer)
    }

    /// A minted copy of `source` with `rights` and `badge`, in a fresh slot.
    pub fn mint(&mut self, source: CPtr, rights: Rights, badge: u64) -> Result<CPtr, Failure> {
        self.derive("minting", |slot| {
            substrate::cnode_mint(rootlib::ROOT_CNODE, slot.0, source, rights, badge)
        })
    }

    /// The KernelDebug fault counter.
    pub fn fault_count(&self) -> Result<u64, Failure> {
        ok(
            "KernelDebug.fault_count",
            substrate::kernel_debug_fault_count(KERNEL_DEBUG),
        )
    }
}

/// Timer ticks since boot, or 0 if the syscall fails (tests that need ticks check them separately).
pub fn now() -> u64 {
    substrate::ticks().unwrap_or(0)
}

/// Spins without yielding until `ticks` timer ticks have passed; false if the timer did not
/// advance within a cycle-counter bound.
pub fn spin_ticks(ticks: u64) -> bool {
    let start = now();
    let cycle_limit =
        arch::cycles().saturating_add((ticks + 2).saturating_mul(arch::CYCLES_PER_TICK_BOUND));
    while now().saturating_sub(start) < ticks {
        if arch::cycles() > cycle_limit {
            return false;
        }
    }
    true
}
