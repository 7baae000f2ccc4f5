//! Threads that share the root task's CSpace and address space, each with its own stack.

use trona::substrate;
use trona::uapi::{CPtr, ObjectType, Rights, UserAddr, UserRegisters};

use crate::{BuildError, ROOT_CNODE, ROOT_TCB, ROOT_VSPACE, Region, Resources, arch};

/// What a new thread runs.
#[derive(Clone, Copy)]
pub struct ThreadSpec {
    /// The function the thread enters; it receives `arg` and must never return
    /// (it ends with `thread_exit` or loops).
    pub entry: extern "C" fn(u64) -> !,
    /// The value of the first argument register.
    pub arg: u64,
    /// Scheduling priority, below `NUM_PRIORITIES`.
    pub priority: u8,
    /// Stack size in pages.
    pub stack_pages: usize,
}

/// A thread made by [`Resources::create_thread`]: its TCB and its stack.
pub struct Thread {
    /// The thread's TCB capability.
    pub tcb: CPtr,
    /// The thread's stack.
    pub stack: Region,
}

impl Resources {
    /// Creates a configured but not yet resumed thread in the root task's CSpace and address space.
    pub fn create_thread(&mut self, spec: ThreadSpec) -> Result<Thread, BuildError> {
        let stack = self.map_new_region(spec.stack_pages, Rights::READ.union(Rights::WRITE))?;
        let tcb = match self.retype(ObjectType::Tcb, 0) {
            Ok(tcb) => tcb,
            Err(error) => {
                let _ = self.release_region(stack);
                return Err(error);
            }
        };
        let thread = Thread { tcb, stack };
        match prepare(&thread, spec) {
            Ok(()) => Ok(thread),
            Err(error) => {
                let _ = self.destroy_thread(thread);
                Err(error)
            }
        }
    }

    /// Creates a thread (see [`Resources::create_thread`]) and makes it runnable.
    pub fn spawn_thread(&mut self, spec: ThreadSpec) -> Result<Thread, BuildError> {
        let thread = self.create_thread(spec)?;
        if let Err(error) = substrate::tcb_resume(thread.tcb) {
            let _ = self.destroy_thread(thread);
            return Err(BuildError::Kernel(error));
        }
        Ok(thread)
    }

    /// Stops a thread and gives back its TCB and stack.
    pub fn destroy_thread(&mut self, thread: Thread) -> Result<(), BuildError> {
        // A thread that already exited or faulted may refuse to be suspended; deleting its
        // TCB is what matters.
        let _ = substrate::tcb_suspend(thread.tcb);
        let deleted = self.delete(thread.tcb);
        let released = self.release_region(thread.stack);
        deleted.and(released)
    }
}

/// Points a fresh TCB at the root task's CSpace and address space and loads its registers.
fn prepare(thread: &Thread, spec: ThreadSpec) -> Result<(), BuildError> {
    substrate::tcb_configure(thread.tcb, ROOT_CNODE, ROOT_VSPACE)?;
    let regs = UserRegisters {
        ip: spec.entry as usize as u64,
        sp: arch::entry_stack_pointer(thread.stack.end()),
        arg0: spec.arg,
        ..UserRegisters::default()
    };
    substrate::tcb_write_registers(thread.tcb, UserAddr(&regs as *const UserRegisters as u64))?;
    substrate::tcb_set_priority(thread.tcb, spec.priority, ROOT_TCB)?;
    Ok(())
}
