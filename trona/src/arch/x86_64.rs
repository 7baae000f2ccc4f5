//! x86_64 entry stubs: `_start` for a program's first thread and the entry for extra threads.

use crate::rt;

// The kernel (or the creating thread) starts a thread with `rdi` = its argument word and
// `rsp` = the top of its stack. The stubs end the frame-pointer chain, align the stack to
// 16 bytes so the `call` leaves it as the SysV ABI expects, and never return.
//
// `_start` calls `rt::start(arg)`. `trona_thread_entry` additionally receives the thread's
// entry function in `rsi` (see `thread::spawn`), calls it, then ends the thread.
core::arch::global_asm!(
    ".section .text._start, \"ax\", @progbits",
    ".global _start",
    ".type _start, @function",
    "_start:",
    "    xor ebp, ebp",
    "    and rsp, -16",
    "    call {start}",
    "    ud2",
    ".size _start, . - _start",
    "",
    ".section .text.trona_thread_entry, \"ax\", @progbits",
    ".global trona_thread_entry",
    ".type trona_thread_entry, @function",
    "trona_thread_entry:",
    "    xor ebp, ebp",
    "    and rsp, -16",
    "    call rsi",
    "    call {exit}",
    "    ud2",
    ".size trona_thread_entry, . - trona_thread_entry",
    start = sym rt::start,
    exit = sym rt::exit_from_asm,
);
