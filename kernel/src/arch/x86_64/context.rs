//! Kernel thread contexts: `KernelContext`, `switch_context` and fresh user-thread stacks.

use super::frame::UserFrame;
use super::{gdt, percpu};
use core::mem::offset_of;

/// The callee-saved kernel state of a thread that is not running.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct KernelContext {
    rsp: u64,
    rip: u64,
    rbx: u64,
    rbp: u64,
    r12: u64,
    r13: u64,
    r14: u64,
    r15: u64,
}

impl KernelContext {
    /// A context to save into: switching *to* it before a `switch_context` saved into it is
    /// a kernel bug.
    pub const fn empty() -> Self {
        Self {
            rsp: 0,
            rip: 0,
            rbx: 0,
            rbp: 0,
            r12: 0,
            r13: 0,
            r14: 0,
            r15: 0,
        }
    }

    /// A context that, switched to, returns to user mode through `frame` at the top of a
    /// fresh kernel stack (`crate::arch::prepare_user_thread` lays the stack out).
    pub fn entering_user(frame: *mut UserFrame) -> Self {
        Self {
            rsp: frame as u64,
            rip: trap_return as *const () as u64,
            ..Self::default()
        }
    }
}

/// Saves the running kernel context into `from` and resumes `to`. Returns when something
/// later switches back to `from`. Interrupts stay as they are (off, in the kernel); FPU
/// state is the caller's business ([`super::FpuArea`]).
///
/// # Safety
/// `from` must be writable; `to` must hold a context saved by `switch_context` or made by
/// [`KernelContext::entering_user`], whose stack is still alive and not in use by anyone
/// else.
#[unsafe(naked)]
pub unsafe extern "C" fn switch_context(from: *mut KernelContext, to: *const KernelContext) {
    core::arch::naked_asm!(
        "mov rax, [rsp]",
        "mov [rdi + {rip}], rax",
        "lea rax, [rsp + 8]",
        "mov [rdi + {rsp}], rax",
        "mov [rdi + {rbx}], rbx",
        "mov [rdi + {rbp}], rbp",
        "mov [rdi + {r12}], r12",
        "mov [rdi + {r13}], r13",
        "mov [rdi + {r14}], r14",
        "mov [rdi + {r15}], r15",
        "mov rbx, [rsi + {rbx}]",
        "mov rbp, [rsi + {rbp}]",
        "mov r12, [rsi + {r12}]",
        "mov r13, [rsi + {r13}]",
        "mov r14, [rsi + {r14}]",
        "mov r15, [rsi + {r15}]",
        "mov rsp, [rsi + {rsp}]",
        "jmp qword ptr [rsi + {rip}]",
        rsp = const offset_of!(KernelContext, rsp),
        rip = const offset_of!(KernelContext, rip),
        rbx = const offset_of!(KernelContext, rbx),
        rbp = const offset_of!(KernelContext, rbp),
        r12 = const offset_of!(KernelContext, r12),
        r13 = const offset_of!(KernelContext, r13),
        r14 = const offset_of!(KernelContext, r14),
        r15 = const offset_of!(KernelContext, r15),
    )
}

unsafe extern "C" {
    /// The return-to-user path in `trap.S`.
    fn trap_return();
}

/// Makes `tcb_addr` the current thread: the next entry from user mode uses the kernel
/// stack ending at `kernel_stack_top` (per-CPU `kernel_rsp` for `syscall`, TSS.RSP0 for
/// interrupts and exceptions). Call it before switching to the thread.
pub fn set_current_thread(tcb_addr: u64, kernel_stack_top: u64) {
    percpu::set_current(tcb_addr, kernel_stack_top);
    gdt::set_kernel_stack(kernel_stack_top);
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
            "mov rsp, {top}",
            "xor ebp, ebp",
            "call {f}",
            "ud2",
            top = in(reg) stack_top,
            f = in(reg) f,
            options(noreturn)
        )
    }
}
