// Boot entry on QEMU virt: EL2 to EL1, .bss, boot page tables, MMU on, then kmain in the
// direct map.
//
// QEMU jumps to the ELF entry (the physical address of _start) with the MMU off and
// x0 = physical address of the device tree. Until the MMU is on the code runs at physical
// addresses; `adrp`/`adr` are PC-relative and so yield physical addresses there, while
// `ldr =symbol` yields a link (virtual) address.
//
// One L0 and one L1 table serve both TTBR0 (the identity map used while the MMU comes on)
// and TTBR1 (the direct map at {virt_base}, where the kernel image itself lives): L1 entry
// 0 maps the first GiB (devices) as Device-nGnRE, entries 1..{direct_map_gib} map RAM as
// Normal write-back memory with 1 GiB blocks. init_early later points TTBR0 at an empty
// table.

.section .text.boot, "ax"
.global _start
_start:
    mov     x19, x0
    mrs     x1, CurrentEL
    lsr     x1, x1, #2
    cmp     x1, #2
    b.ne    1f

    // Entered at EL2: run EL1 in AArch64 with the timers and FP/SIMD untrapped, then drop
    // to EL1h with every exception masked.
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
    adr     x1, 1f
    msr     elr_el2, x1
    eret

1:  msr     daifset, #0xf
    // Zero .bss (16-byte aligned at both ends: the linker script aligns it to pages).
    adrp    x1, __bss_start
    add     x1, x1, :lo12:__bss_start
    adrp    x2, __bss_end
    add     x2, x2, :lo12:__bss_end
2:  cmp     x1, x2
    b.hs    3f
    stp     xzr, xzr, [x1], #16
    b       2b

3:  adrp    x1, boot_l0
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

    ldr     x1, ={mair}
    msr     mair_el1, x1
    // TCR: the physical address size the CPU has, 16-bit ASIDs when it has them.
    ldr     x1, ={tcr}
    mrs     x2, id_aa64mmfr0_el1
    and     x3, x2, #7
    bfi     x1, x3, #32, #3
    ubfx    x3, x2, #4, #4
    cmp     x3, #2
    b.ne    5f
    orr     x1, x1, #{tcr_as}
5:  msr     tcr_el1, x1
    adrp    x1, boot_l0
    msr     ttbr0_el1, x1
    msr     ttbr1_el1, x1
    isb
    tlbi    vmalle1
    dsb     nsh
    isb
    ldr     x1, ={sctlr}
    msr     sctlr_el1, x1
    isb
    ldr     x1, =6f
    br      x1

    // Now at the link address in the direct map.
6:  adrp    x1, boot_stack
    add     x1, x1, :lo12:boot_stack
    add     x1, x1, #{boot_stack_size}
    mov     sp, x1
    mov     x0, x19
    bl      kmain
7:  wfi
    b       7b

.section .bss.boot_tables, "aw", %nobits
.balign 4096
.global boot_l0
boot_l0:
    .space 4096
boot_l1:
    .space 4096
// TTBR0 once the identity map is gone and before a user address space is active.
.global boot_empty_l0
boot_empty_l0:
    .space 4096

.section .bss.boot_stack, "aw", %nobits
.balign 16
boot_stack:
    .space {boot_stack_size}
