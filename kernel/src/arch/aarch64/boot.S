// Boot entry on QEMU virt: EL2 to EL1, .bss, boot page tables, MMU on, then kmain at the
// kernel's link address; and the entry of secondary CPUs (PSCI CPU_ON), which turn their
// MMU on with the same tables and call secondary_start.
//
// QEMU jumps to the ELF entry (the physical address of _start) with the MMU off and x0 =
// 0 (the device tree sits at the start of RAM). Until the MMU is on the code runs at
// physical addresses; `adrp`/`adr` are PC-relative and so yield physical addresses there,
// while `ldr =symbol` yields a link (virtual) address.
//
// The tables, all in .bss:
// - TTBR0 (only until init_early replaces it with an empty table): an identity map of the
//   GiB the kernel was loaded in, so the instructions right after the MMU comes on can be
//   fetched.
// - TTBR1 entry 0, the direct map at {direct_map_base}: the first GiB (devices) as
//   Device-nGnRE, GiB 1..{direct_map_gib} (RAM) as Normal write-back memory, in 1 GiB
//   blocks, none of it executable.
// - TTBR1 entry {image_l0_index}, the kernel image at {virt_base} + its physical address,
//   in 4 KiB pages through {image_l3_tables} last-level tables: text read-only and
//   executable, rodata read-only, data and .bss writable.

// Entered at EL2: run EL1 in AArch64 with the timers and FP/SIMD untrapped, then drop to
// EL1h with every exception masked. At EL1 only masks the exceptions. Clobbers x1.
.macro DROP_TO_EL1
    mrs     x1, CurrentEL
    lsr     x1, x1, #2
    cmp     x1, #2
    b.ne    91f
    ldr     x1, ={hcr_el2}
    msr     hcr_el2, x1
    mov     x1, #{cnthctl_el2}
    msr     cnthctl_el2, x1
    msr     cntvoff_el2, xzr
    ldr     x1, ={cptr_el2}
    msr     cptr_el2, x1
    msr     hstr_el2, xzr
    mov     x1, #{spsr_el1h}
    msr     spsr_el2, x1
    adr     x1, 91f
    msr     elr_el2, x1
    eret
91: msr     daifset, #0xf
.endm

// With the boot tables built: memory attributes, translation control (the physical
// address size the CPU has, 16-bit ASIDs when it has them), TTBR0 on the identity map and
// TTBR1 on the kernel's tables, MMU on, and on at the link address. Clobbers x1-x3.
.macro ENABLE_MMU
    ldr     x1, ={mair}
    msr     mair_el1, x1
    ldr     x1, ={tcr}
    mrs     x2, id_aa64mmfr0_el1
    and     x3, x2, #7
    bfi     x1, x3, #32, #3
    ubfx    x3, x2, #4, #4
    cmp     x3, #2
    b.ne    92f
    orr     x1, x1, #{tcr_as}
92: msr     tcr_el1, x1
    adrp    x1, boot_identity_l0
    msr     ttbr0_el1, x1
    adrp    x1, boot_l0
    msr     ttbr1_el1, x1
    isb
    tlbi    vmalle1
    dsb     nsh
    isb
    ldr     x1, ={sctlr}
    msr     sctlr_el1, x1
    isb
    ldr     x1, =93f
    br      x1
93:
.endm

.section .text.boot, "ax"
.global _start
_start:
    mov     x19, x0
    DROP_TO_EL1
    // Zero .bss (16-byte aligned at both ends: the linker script aligns it to pages).
    adrp    x1, __bss_start
    add     x1, x1, :lo12:__bss_start
    adrp    x2, __bss_end
    add     x2, x2, :lo12:__bss_end
2:  cmp     x1, x2
    b.hs    3f
    stp     xzr, xzr, [x1], #16
    b       2b

    // The identity map of the GiB holding the image.
3:  adrp    x1, boot_identity_l0
    adrp    x2, boot_identity_l1
    orr     x3, x2, #{table_desc}
    str     x3, [x1]
    adrp    x4, __kernel_virt_start
    lsr     x4, x4, #30
    ldr     x3, ={identity_block}
    orr     x3, x3, x4, lsl #30
    str     x3, [x2, x4, lsl #3]

    // The direct map.
    adrp    x1, boot_l0
    adrp    x2, boot_l1
    orr     x3, x2, #{table_desc}
    str     x3, [x1]
    ldr     x3, ={device_block}
    str     x3, [x2]
    ldr     x3, ={normal_block}
    mov     x5, #0x40000000
    add     x3, x3, x5
    mov     x4, #1
4:  str     x3, [x2, x4, lsl #3]
    add     x3, x3, x5
    add     x4, x4, #1
    cmp     x4, #{direct_map_gib}
    b.lo    4b

    // The image: L0 -> L1 -> L2, whose consecutive entries from the image's first 2 MiB on
    // point at the consecutive L3 tables.
    adrp    x2, boot_image_l1
    orr     x3, x2, #{table_desc}
    str     x3, [x1, #{image_l0_index} * 8]
    adrp    x10, __kernel_virt_start
    ubfx    x5, x10, #30, #9
    adrp    x6, boot_image_l2
    orr     x3, x6, #{table_desc}
    str     x3, [x2, x5, lsl #3]
    ubfx    x5, x10, #21, #9
    adrp    x7, boot_image_l3
    orr     x3, x7, #{table_desc}
    mov     x8, #0
5:  add     x9, x5, x8
    str     x3, [x6, x9, lsl #3]
    add     x3, x3, #4096
    add     x8, x8, #1
    cmp     x8, #{image_l3_tables}
    b.lo    5b
    // The image must fit the L3 tables and stay inside one GiB; otherwise stop here.
    and     x11, x10, #0xffffffffffe00000
    adrp    x12, __kernel_virt_end
    sub     x9, x12, x11
    ldr     x3, ={image_l3_span}
    cmp     x9, x3
    b.hi    8f
    add     x9, x5, #{image_l3_tables}
    cmp     x9, #512
    b.hi    8f
    // One L3 entry per image page, x10 walking the physical pages.
    adrp    x13, __rodata_start
    adrp    x14, __data_start
6:  ldr     x3, ={image_text_page}
    cmp     x10, x13
    b.lo    7f
    ldr     x3, ={image_rodata_page}
    cmp     x10, x14
    b.lo    7f
    ldr     x3, ={image_data_page}
7:  orr     x3, x3, x10
    sub     x9, x10, x11
    lsr     x9, x9, #12
    str     x3, [x7, x9, lsl #3]
    add     x10, x10, #4096
    cmp     x10, x12
    b.lo    6b

    ENABLE_MMU
    b       9f

    // The image is too large for the boot tables.
8:  wfi
    b       8b

    // Now at the link address.
9:  adrp    x1, boot_stack
    add     x1, x1, :lo12:boot_stack
    add     x1, x1, #{boot_stack_size}
    mov     sp, x1
    mov     x0, x19
    bl      kmain
10: wfi
    b       10b

// A secondary CPU, started by PSCI CPU_ON with the MMU off, x0 = its index (the context
// ID smp::start_cpu passed): the boot tables are built, so it only needs EL1,
// the MMU, its stack (the boot CPU put its top in {stack_tops}[index]) and SP_EL1.
.global secondary_entry
secondary_entry:
    mov     x19, x0
    DROP_TO_EL1
    ENABLE_MMU
    msr     spsel, #1
    adrp    x1, {stack_tops}
    add     x1, x1, :lo12:{stack_tops}
    ldr     x1, [x1, x19, lsl #3]
    mov     sp, x1
    mov     x29, xzr
    mov     x0, x19
    mov     x1, sp
    bl      {secondary_start}
11: wfi
    b       11b

.section .bss.boot_tables, "aw", %nobits
.balign 4096
.global boot_l0
boot_l0:
    .space 4096
boot_l1:
    .space 4096
boot_image_l1:
    .space 4096
boot_image_l2:
    .space 4096
boot_image_l3:
    .space 4096 * {image_l3_tables}
boot_identity_l0:
    .space 4096
boot_identity_l1:
    .space 4096
// TTBR0 once the identity map is gone and before a user address space is active.
.global boot_empty_l0
boot_empty_l0:
    .space 4096

.section .bss.boot_stack, "aw", %nobits
.balign 16
boot_stack:
    .space {boot_stack_size}
