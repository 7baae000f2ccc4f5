//! aarch64 entry stubs: `_start` for a program's first thread and the entry for extra threads.

use crate::rt;

// The kernel (or the creating thread) starts a thread with `x0` = its argument word and
// `sp` = the top of its stack. The stubs end the frame-record chain (x29 = x30 = 0), align
// the stack to 16 bytes as AAPCS64 requires, and never return.
//
// `_start` calls `rt::start(arg)`. `trona_thread_entry` additionally receives the thread's
// entry function in `x1` (see `thread::spawn`), calls it, then ends the thread.
core::arch::global_asm!(
    ".section .text._start, \"ax\", %progbits",
    ".global _start",
    ".type _start, %function",
    "_start:",
    "    mov x29, xzr",
    "    mov x30, xzr",
    "    mov x9, sp",
    "    and x9, x9, #~15",
    "    mov sp, x9",
    "    bl {start}",
    "    brk #0",
    ".size _start, . - _start",
    "",
    ".section .text.trona_thread_entry, \"ax\", %progbits",
    ".global trona_thread_entry",
    ".type trona_thread_entry, %function",
    "trona_thread_entry:",
    "    mov x29, xzr",
    "    mov x30, xzr",
    "    mov x9, sp",
    "    and x9, x9, #~15",
    "    mov sp, x9",
    "    blr x1",
    "    bl {exit}",
    "    brk #0",
    ".size trona_thread_entry, . - trona_thread_entry",
    start = sym rt::start,
    exit = sym rt::exit_from_asm,
);
