//! Extra threads in the caller's address space: statically allocated stacks and the call that starts a thread on one.
//!
//! Creating the TCB is the caller's job (retype one from an untyped capability, set its
//! priority); [`spawn`] then configures it to share the caller's CSpace and VSpace, loads
//! its registers and resumes it:
//!
//! ```ignore
//! static WORKER_STACK: ThreadStack<16384> = ThreadStack::new();
//!
//! extern "C" fn worker(arg: u64) {
//!     trona::println!("worker got {arg}");
//! } // returning ends the thread
//!
//! let stack = WORKER_STACK.take().expect("stack used once");
//! let spaces = Spaces { cspace: CPtr(ROOT_SLOT_CNODE), vspace: CPtr(ROOT_SLOT_VSPACE) };
//! thread::spawn(tcb, spaces, ThreadStart { entry: worker, arg: 7, stack })?;
//! ```

use crate::{arch, substrate};
use abi::{CPtr, Error, UserAddr, UserRegisters};
use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicBool, Ordering};

/// Stack alignment both architectures' calling conventions require.
const STACK_ALIGN: usize = 16;

/// Memory for one thread's stack, meant to be a `static`; handed out at most once.
#[repr(C, align(16))]
pub struct ThreadStack<const SIZE: usize> {
    bytes: UnsafeCell<[u8; SIZE]>,
    taken: AtomicBool,
}

// SAFETY: the bytes are never accessed through the `ThreadStack`; `take` hands their
// address out once (guarded by the atomic flag), after which only the one thread that
// runs on the stack touches them.
unsafe impl<const SIZE: usize> Sync for ThreadStack<SIZE> {}

/// The initial stack pointer of a stack that no other thread uses.
#[derive(Debug)]
pub struct StackTop(u64);

/// Where a new thread starts and on which stack.
pub struct ThreadStart {
    /// The thread's code; it receives `arg`. When it returns, the thread ends.
    pub entry: extern "C" fn(arg: u64),
    /// The word passed to `entry`.
    pub arg: u64,
    /// The thread's stack.
    pub stack: StackTop,
}

/// The CSpace root and VSpace a new thread runs in: the caller's own, since the
/// stack and the entry function are addresses in the caller's address space.
pub struct Spaces {
    /// The caller's CSpace root CNode capability.
    pub cspace: CPtr,
    /// The caller's VSpace capability.
    pub vspace: CPtr,
}

impl<const SIZE: usize> ThreadStack<SIZE> {
    /// A fresh, unused stack.
    pub const fn new() -> ThreadStack<SIZE> {
        ThreadStack {
            bytes: UnsafeCell::new([0; SIZE]),
            taken: AtomicBool::new(false),
        }
    }

    /// The stack's initial stack pointer, the first time it is asked for; `None` after.
    pub fn take(&'static self) -> Option<StackTop> {
        if self.taken.swap(true, Ordering::AcqRel) {
            return None;
        }
        let end = self.bytes.get() as usize + SIZE;
        Some(StackTop((end & !(STACK_ALIGN - 1)) as u64))
    }
}

impl<const SIZE: usize> Default for ThreadStack<SIZE> {
    fn default() -> ThreadStack<SIZE> {
        ThreadStack::new()
    }
}

impl StackTop {
    /// The stack pointer value.
    pub fn address(&self) -> u64 {
        self.0
    }
}

/// Starts `tcb` in the caller's address space: configures it with `spaces`, loads
/// `start` into its registers and makes it runnable.
pub fn spawn(tcb: CPtr, spaces: Spaces, start: ThreadStart) -> Result<(), Error> {
    substrate::tcb_configure(tcb, spaces.cspace, spaces.vspace)?;
    let registers = UserRegisters {
        ip: arch::thread_entry_address(),
        sp: start.stack.0,
        arg0: start.arg,
        arg1: start.entry as usize as u64,
        ..UserRegisters::default()
    };
    let address = UserAddr(&raw const registers as usize as u64);
    substrate::tcb_write_registers(tcb, address)?;
    substrate::tcb_resume(tcb)
}
