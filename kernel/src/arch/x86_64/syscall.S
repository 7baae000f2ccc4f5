// The `syscall` entry (LSTAR): build a UserFrame on the thread's kernel stack, call the
// Rust handler, return with `sysretq` when that restores exactly the frame, else `iretq`.
//
// The per-CPU user_rsp_scratch slot holds the user rsp only between `swapgs` and the push
// onto the kernel stack: after a thread switch another thread's syscall overwrites it.
// Every %gs access goes through a PERCPU_* equate from generated/percpu.S.
//
// The unwind information marks the return address undefined: this is the outermost
// kernel frame, so debuggers' backtraces end here instead of reading user registers
// as frames.

.section .text, "ax"
.p2align 4
.global syscall_entry
syscall_entry:
    .cfi_startproc
    .cfi_undefined rip
    swapgs
    movq %rsp, %gs:PERCPU_USER_RSP_SCRATCH
    movq %gs:PERCPU_KERNEL_RSP, %rsp
    // The hardware-shaped part of the frame: ss, rsp, rflags (r11), cs, rip (rcx).
    pushq ${user_ds}
    pushq %gs:PERCPU_USER_RSP_SCRATCH
    pushq %r11
    pushq ${user_cs}
    pushq %rcx
    pushq $0
    pushq ${syscall_vector}
    PUSH_GPRS
    movq %rsp, %rdi
    call {syscall_dispatch}

    CHECK_USER_RETURN
    // sysretq loads rip from rcx and rflags from r11; it restores the frame exactly only
    // if those still match what the kernel left in the frame.
    movq {frame_rcx}(%rsp), %rax
    cmpq {frame_rip}(%rsp), %rax
    jne 1f
    movq {frame_r11}(%rsp), %rax
    cmpq {frame_rflags}(%rsp), %rax
    jne 1f
    POP_GPRS
    addq $16, %rsp
    movq {frame_rsp} - {frame_rip}(%rsp), %rsp
    swapgs
    sysretq
1:
    POP_GPRS
    addq $16, %rsp
    swapgs
    iretq
    .cfi_endproc
