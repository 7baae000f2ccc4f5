//! Kernel thread contexts: `KernelContext`, `switch_context` and fresh user-thread stacks.

use super::frame::UserFrame;
use super::percpu;
use core::mem::offset_of;

/// The callee-saved kernel state of a thread that is not running (AAPCS64: x19-x29, the
/// stack pointer, and the address to resume at).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct KernelContext {
    sp: u64,
    pc: u64,
    x19: u64,
    x20: u64,
    x21: u64,
    x22: u64,
    x23: u64,
    x24: u64,
    x25: u64,
    x26: u64,
    x27: u64,
    x28: u64,
    x29: u64,
}

// switch_context moves the registers in pairs starting at x19.
const _: () = assert!(offset_of!(KernelContext, pc) == offset_of!(KernelContext, sp) + 8);
const _: () = assert!(offset_of!(KernelContext, x29) == offset_of!(KernelContext, x19) + 80);

impl KernelContext {
    /// A context to save into: switching *to* it before a `switch_context` saved into it is
    /// a kernel bug.
    pub const fn empty() -> Self {
        Self {
            sp: 0,
            pc: 0,
            x19: 0,
            x20: 0,
            x21: 0,
            x22: 0,
            x23: 0,
            x24: 0,
            x25: 0,
            x26: 0,
            x27: 0,
            x28: 0,
            x29: 0,
        }
    }

    /// A context that, switched to, returns to user mode through `frame` at the top of a
    /// fresh kernel stack (`crate::arch::prepare_user_thread` lays the stack out).
    pub fn entering_user(frame: *mut UserFrame) -> Self {
        Self {
            sp: frame as u64,
            pc: trap_return as *const () as u64,
            ..Self::default()
        }
    }
}

/// Saves the running kernel context into `from` and resumes `to`. Returns when something
/// later switches back to `from`. Interrupts stay as they are (masked, in the kernel);
/// FP/SIMD state is the caller's business ([`super::FpuArea`]).
///
/// # Safety
/// `from` must be writable; `to` must hold a context saved by `switch_context` or made by
/// [`KernelContext::entering_user`], whose stack is still alive and not in use by anyone
/// else.
#[unsafe(naked)]
pub unsafe extern "C" fn switch_context(from: *mut KernelContext, to: *const KernelContext) {
    core::arch::naked_asm!(
        "mov x9, sp",
        "stp x9, x30, [x0, #{sp}]",
        "stp x19, x20, [x0, #{x19} + 0]",
        "stp x21, x22, [x0, #{x19} + 16]",
        "stp x23, x24, [x0, #{x19} + 32]",
        "stp x25, x26, [x0, #{x19} + 48]",
        "stp x27, x28, [x0, #{x19} + 64]",
        "str x29, [x0, #{x19} + 80]",
        "ldp x19, x20, [x1, #{x19} + 0]",
        "ldp x21, x22, [x1, #{x19} + 16]",
        "ldp x23, x24, [x1, #{x19} + 32]",
        "ldp x25, x26, [x1, #{x19} + 48]",
        "ldp x27, x28, [x1, #{x19} + 64]",
        "ldr x29, [x1, #{x19} + 80]",
        "ldp x9, x30, [x1, #{sp}]",
        "mov sp, x9",
        "ret",
        sp = const offset_of!(KernelContext, sp),
        x19 = const offset_of!(KernelContext, x19),
    )
}

unsafe extern "C" {
    /// The return-to-user path in `trap.S`.
    fn trap_return();
}

/// Makes `tcb_addr` the current thread: the return to user mode checks that it leaves from
/// the top of the kernel stack ending at `kernel_stack_top` (the per-CPU `kernel_sp`), and
/// the next entry from user mode lands there. Call it before switching to the thread.
pub fn set_current_thread(tcb_addr: u64, kernel_stack_top: u64) {
    percpu::set_current(tcb_addr, kernel_stack_top);
}

/// Calls `f` on a fresh stack whose top is `stack_top`, abandoning the current one (for the
/// kernel stack guard test, which overflows a thread's kernel stack on purpose).
///
/// # Safety
/// `stack_top` must be the 16-byte aligned top of a kernel stack nothing else uses.
#[cfg(feature = "kstack-guard-test")]
pub unsafe fn run_on_stack(stack_top: u64, f: extern "C" fn() -> !) -> ! {
    // SAFETY: The caller hands over the stack; `f` never returns, so nothing needs the
    // old stack again.
    unsafe {
        core::arch::asm!(
            "mov sp, {top}",
            "mov x29, xzr",
            "blr {f}",
            "brk #0",
            top = in(reg) stack_top,
            f = in(reg) f,
            options(noreturn)
        )
    }
}
