//! x86_64 part of the arch self test (feature `arch-selftest`): the user code, the fault vectors, and the RFLAGS.AC check.
//!
//! The driver is `crate::selftest`. This port adds: a `sysretq` return with the syscall
//! argument and result registers checked in user mode, SSE state across a thread switch,
//! and RFLAGS.AC (set by user mode) never reaching the kernel, where it would lift SMAP.

use crate::arch::{FaultInfo, MemoryRegion};
use crate::selftest::{
    SYS_BAD_RETURN, SYS_CHECK_ARGS, SYS_FAIL, SYS_TICKS, SYS_YIELD, THREAD_B_OFFSET, UNMAPPED,
    USER_TICKS_WANTED,
};

/// The fault thread A's write to [`UNMAPPED`] raises: `#PF`.
pub const UNMAPPED_WRITE_FAULT: u8 = 14;
/// The fault the return to a non-canonical address raises: `#GP`.
pub const BAD_RETURN_FAULT: u8 = 13;
/// Page fault error code: a write (bit 1) from user mode (bit 2).
const PF_USER_WRITE: u64 = 0b110;

core::arch::global_asm!(
    ".section .rodata.selftest_user, \"a\"",
    ".p2align 4",
    ".global selftest_user_start",
    ".global selftest_user_end",
    "selftest_user_start:",
    // Thread A.
    "    mov ${check_args}, %eax",
    "    mov $0x11, %edi",
    "    mov $0x22, %esi",
    "    mov $0x33, %edx",
    "    mov $0x44, %r10d",
    "    mov $0x55, %r8d",
    "    mov $0x66, %r9d",
    "    mov $0x7777, %ebx",
    "    syscall",
    "    test %rax, %rax",
    "    jnz 9f",
    "    cmp $0x165, %rdx",
    "    jne 9f",
    "    cmp $0x7777, %rbx",
    "    jne 9f",
    "    movabs $0xaaaa5555aaaa5555, %rax",
    "    movq %rax, %xmm0",
    "    mov ${yield_}, %eax",
    "    syscall",
    "    movq %xmm0, %rax",
    "    movabs $0xaaaa5555aaaa5555, %rcx",
    "    cmp %rcx, %rax",
    "    jne 9f",
    // Page fault at an unmapped address; the kernel ends this thread.
    "    movq $1, {unmapped}",
    "    ud2",
    // Thread B starts at its offset.
    ".org selftest_user_start + {thread_b}",
    "    movabs $0x5555aaaa5555aaaa, %rax",
    "    movq %rax, %xmm0",
    "    mov ${yield_}, %eax",
    "    syscall",
    "    movq %xmm0, %rax",
    "    movabs $0x5555aaaa5555aaaa, %rcx",
    "    cmp %rcx, %rax",
    "    jne 9f",
    // Set RFLAGS.AC (harmless in user mode), then spin until the timer has interrupted
    // user mode a few times; the kernel must never run with AC set (it would lift SMAP).
    "    pushfq",
    "    orq $0x40000, (%rsp)",
    "    popfq",
    "1:  pause",
    "    mov ${ticks_call}, %eax",
    "    syscall",
    "    cmp ${ticks}, %rdx",
    "    jb 1b",
    "    mov ${bad_return}, %eax",
    "    syscall",
    "    ud2",
    "9:  mov ${fail}, %eax",
    "    syscall",
    "    ud2",
    "selftest_user_end:",
    ticks = const USER_TICKS_WANTED,
    check_args = const SYS_CHECK_ARGS,
    yield_ = const SYS_YIELD,
    ticks_call = const SYS_TICKS,
    bad_return = const SYS_BAD_RETURN,
    fail = const SYS_FAIL,
    unmapped = const UNMAPPED,
    thread_b = const THREAD_B_OFFSET,
    options(att_syntax)
);

/// Whether a page fault was a user-mode write.
pub fn fault_was_user_write(info: &FaultInfo) -> bool {
    info.error_code & PF_USER_WRITE == PF_USER_WRITE
}

/// Checks of the kernel's own state before user mode starts: none on x86_64 beyond the
/// driver's (`writable` is the address of a kernel static, unused here).
pub fn check_kernel(_regions: &[MemoryRegion], _writable: u64) {}

/// Panics if RFLAGS.AC is set in the kernel; the driver calls it on every kernel entry.
pub fn check_kernel_entry() {
    let rflags: u64;
    // SAFETY: Reads RFLAGS through the stack; no other effect.
    unsafe {
        core::arch::asm!("pushfq", "pop {}", out(reg) rflags, options(nomem, preserves_flags))
    };
    assert!(
        rflags & (1 << 18) == 0,
        "the kernel runs with RFLAGS.AC set: SMAP is off"
    );
}
