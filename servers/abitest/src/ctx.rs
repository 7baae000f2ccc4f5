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
    /// The kernel's boot information page.
    pub info: &'static BootInfo,
}

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
        let slot = self.empty_slot()?;
        match substrate::cnode_copy(rootlib::ROOT_CNODE, slot.0, source, rights) {
            Ok(()) => Ok(slot),
            Err(error) => {
                self.release_slot(slot);
                Err(Failure::new(format_args!(
                    "copying a capability: {}",
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
