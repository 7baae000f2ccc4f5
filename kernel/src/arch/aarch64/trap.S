// Exception vectors (VBAR_EL1), the common save/restore of a UserFrame, and the checks made
// on every return to user mode.
//
// Every entry builds the same UserFrame (frame.rs) on the current SP_EL1 stack. From EL0
// that is the top of the running thread's kernel stack: a thread always returns to user
// mode from an empty kernel stack, so SP_EL1 points at its top again when the next
// exception arrives (trap_return checks this against the per-CPU kernel_sp). Every
// per-CPU access goes through a PERCPU_* equate from generated/percpu.S.

.macro SAVE_FRAME kind
    sub     sp, sp, #{frame_size}
    stp     x0, x1, [sp, #16 * 0]
    stp     x2, x3, [sp, #16 * 1]
    stp     x4, x5, [sp, #16 * 2]
    stp     x6, x7, [sp, #16 * 3]
    stp     x8, x9, [sp, #16 * 4]
    stp     x10, x11, [sp, #16 * 5]
    stp     x12, x13, [sp, #16 * 6]
    stp     x14, x15, [sp, #16 * 7]
    stp     x16, x17, [sp, #16 * 8]
    stp     x18, x19, [sp, #16 * 9]
    stp     x20, x21, [sp, #16 * 10]
    stp     x22, x23, [sp, #16 * 11]
    stp     x24, x25, [sp, #16 * 12]
    stp     x26, x27, [sp, #16 * 13]
    stp     x28, x29, [sp, #16 * 14]
    mrs     x21, sp_el0
    stp     x30, x21, [sp, #{frame_x30}]
    mrs     x22, elr_el1
    mrs     x23, spsr_el1
    stp     x22, x23, [sp, #{frame_pc}]
    mrs     x24, tpidr_el0
    mrs     x25, esr_el1
    stp     x24, x25, [sp, #{frame_tpidr}]
    mrs     x26, far_el1
    mov     x27, #\kind
    stp     x26, x27, [sp, #{frame_far}]
    mov     x0, sp
.endm

.macro RESTORE_FRAME
    ldp     x22, x23, [sp, #{frame_pc}]
    msr     elr_el1, x22
    msr     spsr_el1, x23
    ldp     x30, x21, [sp, #{frame_x30}]
    msr     sp_el0, x21
    ldr     x24, [sp, #{frame_tpidr}]
    msr     tpidr_el0, x24
    ldp     x0, x1, [sp, #16 * 0]
    ldp     x2, x3, [sp, #16 * 1]
    ldp     x4, x5, [sp, #16 * 2]
    ldp     x6, x7, [sp, #16 * 3]
    ldp     x8, x9, [sp, #16 * 4]
    ldp     x10, x11, [sp, #16 * 5]
    ldp     x12, x13, [sp, #16 * 6]
    ldp     x14, x15, [sp, #16 * 7]
    ldp     x16, x17, [sp, #16 * 8]
    ldp     x18, x19, [sp, #16 * 9]
    ldp     x20, x21, [sp, #16 * 10]
    ldp     x22, x23, [sp, #16 * 11]
    ldp     x24, x25, [sp, #16 * 12]
    ldp     x26, x27, [sp, #16 * 13]
    ldp     x28, x29, [sp, #16 * 14]
    add     sp, sp, #{frame_size}
.endm

// First thing on every exception taken from EL1 with SP_EL1, before the frame is saved
// there: if the running thread's kernel stack has run into its guard page (SP in the
// guard, or too close to the stack's bottom for a frame), saving the frame would fault
// again, and again, forever. Then switch to the emergency stack instead and report the
// overflow. x0 waits in TPIDRRO_EL0 meanwhile, which is cleared again since EL0 can read
// it.
.macro CHECK_KERNEL_SP
    msr     tpidrro_el0, x0
    mrs     x0, tpidr_el1
    ldr     x0, [x0, #PERCPU_KERNEL_SP]
    sub     x0, x0, #({stack_and_guard} >> 12), lsl #12
    sub     x0, sp, x0
    cmp     x0, #({guard_size} >> 12), lsl #12
    b.lo    kernel_stack_overflow
    sub     x0, x0, #({guard_size} >> 12), lsl #12
    cmp     x0, #{frame_size}
    b.lo    kernel_stack_overflow
    mrs     x0, tpidrro_el0
    msr     tpidrro_el0, xzr
.endm

// One 128-byte vector slot that branches to its handler.
.macro VECTOR target
    .balign 0x80
    b       \target
.endm

.section .text, "ax"
.balign 2048
.global exception_vectors
exception_vectors:
    // Current EL with SP_EL0: never used, the kernel always runs on SP_EL1.
    VECTOR  el1_sp0_entry
    VECTOR  el1_sp0_entry
    VECTOR  el1_sp0_entry
    VECTOR  el1_sp0_entry
    // Current EL with SP_EL1: the kernel.
    VECTOR  el1_sync_entry
    VECTOR  el1_irq_entry
    VECTOR  el1_fiq_entry
    VECTOR  el1_serror_entry
    // Lower EL in AArch64: user mode.
    VECTOR  el0_sync_entry
    VECTOR  el0_irq_entry
    VECTOR  el0_fiq_entry
    VECTOR  el0_serror_entry
    // Lower EL in AArch32: never used, user mode is AArch64 only.
    VECTOR  el0_aarch32_entry
    VECTOR  el0_aarch32_entry
    VECTOR  el0_aarch32_entry
    VECTOR  el0_aarch32_entry
    .balign 0x80

// The entries from user mode are the outermost kernel frames: their unwind information
// marks the return address (x30) undefined, so debuggers' backtraces end here instead of
// unwinding into this code again and again. The linker scripts discard .eh_frame, so the
// directives go to .debug_frame, which debuggers read.
.cfi_sections .debug_frame
el0_sync_entry:
    .cfi_startproc
    .cfi_undefined x30
    SAVE_FRAME {kind_sync}
    bl      {el0_sync}
    b       trap_return
    .cfi_endproc

el0_irq_entry:
    .cfi_startproc
    .cfi_undefined x30
    SAVE_FRAME {kind_irq}
    bl      {el0_irq}
    b       trap_return
    .cfi_endproc

el0_fiq_entry:
    SAVE_FRAME {kind_fiq}
    bl      {unexpected}
el0_serror_entry:
    SAVE_FRAME {kind_serror}
    bl      {unexpected}
el0_aarch32_entry:
    SAVE_FRAME {kind_sync}
    bl      {unexpected}
el1_sp0_entry:
    SAVE_FRAME {kind_sync}
    bl      {unexpected}

el1_sync_entry:
    CHECK_KERNEL_SP
    SAVE_FRAME {kind_sync}
    bl      {el1_sync}

el1_irq_entry:
    CHECK_KERNEL_SP
    SAVE_FRAME {kind_irq}
    bl      {el1_irq}
    RESTORE_FRAME
    eret

el1_fiq_entry:
    CHECK_KERNEL_SP
    SAVE_FRAME {kind_fiq}
    bl      {unexpected}
el1_serror_entry:
    CHECK_KERNEL_SP
    SAVE_FRAME {kind_serror}
    bl      {unexpected}

// A kernel stack overflow found by CHECK_KERNEL_SP (x0 clobbered, the interrupted x0 in
// TPIDRRO_EL0). The overflowed SP goes to TPIDR_EL0 (user state at EL1: the thread's EL0
// frame holds the user's value), so the frame saved on the emergency stack holds it in its
// tpidr field. Each CPU has its own emergency stack: the one at index cpu_id, whose top
// is {emergency_stack} + (cpu_id + 1) << {emergency_stack_shift}, computed in SP, since x0
// is the only free register.
kernel_stack_overflow:
    mov     x0, sp
    msr     tpidr_el0, x0
    mrs     x0, tpidr_el1
    ldr     x0, [x0, #PERCPU_CPU_ID]
    add     x0, x0, #1
    lsl     x0, x0, #{emergency_stack_shift}
    mov     sp, x0
    adrp    x0, {emergency_stack}
    add     x0, x0, :lo12:{emergency_stack}
    add     sp, sp, x0
    mrs     x0, tpidrro_el0
    msr     tpidrro_el0, xzr
    SAVE_FRAME {kind_sync}
    bl      {stack_overflow}

// Restores the UserFrame at sp and returns to user mode. Fresh user threads start here too
// (prepare_user_thread points their KernelContext at it).
//
// Before that: the frame must sit at the top of the current thread's kernel stack (the
// per-CPU kernel_sp), the bottom word of that stack must hold the per-CPU stack canary,
// and the saved PSTATE must be EL0t; last, the big kernel lock is given up
// (leave_to_user). The caller-saved registers are free: the frame holds the user's values.
.global trap_return
trap_return:
    mrs     x0, tpidr_el1
    ldr     x1, [x0, #PERCPU_KERNEL_SP]
    add     x2, sp, #{frame_size}
    cmp     x1, x2
    b.ne    1f
    sub     x1, x1, #{kernel_stack_size}
    ldr     x1, [x1]
    ldr     x2, [x0, #PERCPU_STACK_CANARY]
    cmp     x1, x2
    b.ne    2f
    ldr     x1, [sp, #{frame_pc} + 8]
    tst     x1, #{spsr_mode_mask}
    b.ne    3f
    bl      {leave_to_user}
    // Page-table writes made in the kernel reach the table walker before user mode runs.
    dsb     ish
    RESTORE_FRAME
    eret

1:  mov     x0, sp
    bl      {kernel_sp_mismatch}
2:  bl      {canary_failed}
3:  mov     x0, sp
    bl      {not_a_user_frame}
