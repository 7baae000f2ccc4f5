// Interrupt and exception entry: one 16-byte stub per IDT vector, the common save/restore
// path, and the checks made on every return to user mode (also used by syscall.S).
//
// Every stub leaves the same shape on the stack: the hardware frame (rip, cs, rflags,
// rsp, ss), an error code (the CPU's, or 0), the vector; trap_common then pushes the
// general registers, completing a UserFrame (frame.rs pins the offsets used here).

.macro PUSH_GPRS
    pushq %rax
    pushq %rbx
    pushq %rcx
    pushq %rdx
    pushq %rsi
    pushq %rdi
    pushq %rbp
    pushq %r8
    pushq %r9
    pushq %r10
    pushq %r11
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
.endm

.macro POP_GPRS
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %r11
    popq %r10
    popq %r9
    popq %r8
    popq %rbp
    popq %rdi
    popq %rsi
    popq %rdx
    popq %rcx
    popq %rbx
    popq %rax
.endm

// With %rsp at a UserFrame about to be restored to user mode: check the kernel stack
// canary (the bottom word of the current thread's kernel stack must equal the per-CPU
// canary), then make sure the user rip is canonical, since returning to a non-canonical
// rip would fault in ring 0, and last give up the big kernel lock (leave_to_user).
// Clobbers the caller-saved registers (all saved in the frame).
.macro CHECK_USER_RETURN
    movq %gs:PERCPU_KERNEL_RSP, %rax
    subq ${kernel_stack_size}, %rax
    movq (%rax), %rax
    cmpq %gs:PERCPU_STACK_CANARY, %rax
    jne kernel_stack_canary_failed
77:
    movq {frame_rip}(%rsp), %rax
    shrq $47, %rax
    jz 78f
    movq %rsp, %rdi
    call {bad_user_return}
    jmp 77b
78:
    call {leave_to_user}
.endm

// Each stub sits at trap_stubs + vector * {stub_size}; .org fails the build if one outgrows
// its slot.
.macro TRAP_STUB vector, has_error_code
    .org trap_stubs + \vector * {stub_size}
    .if \has_error_code == 0
    pushq $0
    .endif
    pushq $\vector
    jmp trap_common
.endm

.section .text, "ax"
.p2align 4
.global trap_stubs
trap_stubs:
    TRAP_STUB 0, 0
    TRAP_STUB 1, 0
    TRAP_STUB 2, 0
    TRAP_STUB 3, 0
    TRAP_STUB 4, 0
    TRAP_STUB 5, 0
    TRAP_STUB 6, 0
    TRAP_STUB 7, 0
    TRAP_STUB 8, 1
    TRAP_STUB 9, 0
    TRAP_STUB 10, 1
    TRAP_STUB 11, 1
    TRAP_STUB 12, 1
    TRAP_STUB 13, 1
    TRAP_STUB 14, 1
    TRAP_STUB 15, 0
    TRAP_STUB 16, 0
    TRAP_STUB 17, 1
    TRAP_STUB 18, 0
    TRAP_STUB 19, 0
    TRAP_STUB 20, 0
    TRAP_STUB 21, 1
    TRAP_STUB 22, 0
    TRAP_STUB 23, 0
    TRAP_STUB 24, 0
    TRAP_STUB 25, 0
    TRAP_STUB 26, 0
    TRAP_STUB 27, 0
    TRAP_STUB 28, 0
    TRAP_STUB 29, 1
    TRAP_STUB 30, 1
    TRAP_STUB 31, 0
    TRAP_STUB 32, 0
    TRAP_STUB 33, 0
    TRAP_STUB 34, 0
    TRAP_STUB 35, 0
    TRAP_STUB 36, 0
    TRAP_STUB 37, 0
    TRAP_STUB 38, 0
    TRAP_STUB 39, 0
    TRAP_STUB 40, 0
    TRAP_STUB 41, 0
    TRAP_STUB 42, 0
    TRAP_STUB 43, 0
    TRAP_STUB 44, 0
    TRAP_STUB 45, 0
    TRAP_STUB 46, 0
    TRAP_STUB 47, 0
    TRAP_STUB 48, 0
    TRAP_STUB 49, 0
    TRAP_STUB 50, 0
    TRAP_STUB 51, 0
    TRAP_STUB 52, 0
    TRAP_STUB 53, 0
    TRAP_STUB 54, 0
    TRAP_STUB 55, 0
    TRAP_STUB 56, 0
    TRAP_STUB 57, 0
    TRAP_STUB 58, 0
    TRAP_STUB 59, 0
    TRAP_STUB 60, 0
    TRAP_STUB 61, 0
    TRAP_STUB 62, 0
    TRAP_STUB 63, 0
    .org trap_stubs + {stub_count} * {stub_size}

// The unwind information marks the return address undefined, as in syscall.S: this is
// the outermost kernel frame of every interrupt and exception, so backtraces end here.
trap_common:
    .cfi_startproc
    .cfi_undefined rip
    // From user mode the GS base is the user's: switch to the per-CPU block. User mode may
    // also have set RFLAGS.AC, which would switch SMAP off in the kernel: clear it (the
    // frame keeps the user's value).
    testb $3, {frame_cs} - {frame_vector}(%rsp)
    jz 1f
    swapgs
    pushfq
    andq $~{rflags_ac}, (%rsp)
    popfq
1:
    PUSH_GPRS
    movq %rsp, %rdi
    cld
    call {trap_dispatch}

// Restores the UserFrame at %rsp and returns from the interrupt. Fresh user threads start
// here too (prepare_user_thread points their KernelContext at it).
.global trap_return
trap_return:
    testb $3, {frame_cs}(%rsp)
    jz 2f
    CHECK_USER_RETURN
    POP_GPRS
    addq $16, %rsp
    swapgs
    iretq
2:
    POP_GPRS
    addq $16, %rsp
    iretq
    .cfi_endproc

kernel_stack_canary_failed:
    call {canary_failed}
    ud2
