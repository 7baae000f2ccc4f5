// PVH entry: 32-bit protected mode to 64-bit long mode in the higher half, then kmain.
//
// QEMU enters at the physical address named in the Xen ELF note with paging off, flat
// 32-bit segments and EBX = physical address of the hvm_start_info block. The code
// below zeroes .bss, builds the boot page tables, enables long mode and jumps to the
// kernel's link address. Until it runs in the higher half every symbol is used at its
// physical address, that is, minus {virt_base}.

.section .note.Xen, "a", @note
.p2align 2
.long 4                                 // Name size ("Xen\0").
.long 8                                 // Descriptor size: one 64-bit address.
.long 18                                // XEN_ELFNOTE_PHYS32_ENTRY.
.asciz "Xen"
.p2align 2
.quad pvh_entry - {virt_base}
.p2align 2

.section .text.boot, "ax"
.code32
.global pvh_entry
pvh_entry:
    cli
    cld
    // EBX (start info) survives everything below; rep stosl uses EAX, ECX and EDI.
    movl $(__bss_start - {virt_base}), %edi
    movl $(__bss_end - {virt_base}), %ecx
    subl %edi, %ecx
    shrl $2, %ecx
    xorl %eax, %eax
    rep stosl

    // Four page directories map the first 4 GiB with 2 MiB pages (present, writable, large).
    movl $(boot_pd - {virt_base}), %edi
    movl $0x83, %eax
    xorl %edx, %edx
    movl $2048, %ecx
1:  movl %eax, (%edi)
    movl %edx, 4(%edi)
    addl $0x200000, %eax
    adcl $0, %edx
    addl $8, %edi
    loop 1b

    // The low PDPT points at the four directories: identity map and direct map share it.
    movl $(boot_pdpt_low - {virt_base}), %edi
    movl $(boot_pd - {virt_base} + 0x003), (%edi)
    movl $(boot_pd - {virt_base} + 0x1003), 8(%edi)
    movl $(boot_pd - {virt_base} + 0x2003), 16(%edi)
    movl $(boot_pd - {virt_base} + 0x3003), 24(%edi)

    // The high PDPT maps the last 2 GiB: entry 510 is the first GiB of physical memory.
    movl $(boot_pdpt_high - {virt_base}), %edi
    movl $(boot_pd - {virt_base} + 0x003), 510 * 8(%edi)

    // PML4: entry 0 identity (removed once in the higher half), entry {direct_map_slot} the
    // direct map, entry 511 the kernel image.
    movl $(boot_pml4 - {virt_base}), %edi
    movl $(boot_pdpt_low - {virt_base} + 0x003), (%edi)
    movl $(boot_pdpt_low - {virt_base} + 0x003), {direct_map_slot} * 8(%edi)
    movl $(boot_pdpt_high - {virt_base} + 0x003), 511 * 8(%edi)

    // CR4.PAE, CR3, EFER.LME and EFER.NXE, then CR0.PG and CR0.WP.
    movl %cr4, %eax
    orl $(1 << 5), %eax
    movl %eax, %cr4
    movl $(boot_pml4 - {virt_base}), %eax
    movl %eax, %cr3
    movl $0xc0000080, %ecx
    rdmsr
    orl $((1 << 8) | (1 << 11)), %eax
    wrmsr
    movl %cr0, %eax
    orl $((1 << 31) | (1 << 16) | 1), %eax
    movl %eax, %cr0

    lgdt (boot_gdt_pointer - {virt_base})
    ljmp $0x08, $(pvh_long_mode - {virt_base})

.code64
pvh_long_mode:
    movabsq $pvh_higher_half, %rax
    jmp *%rax

.section .text, "ax"
pvh_higher_half:
    movl $0x10, %eax
    movl %eax, %ds
    movl %eax, %es
    movl %eax, %ss
    xorl %eax, %eax
    movl %eax, %fs
    movl %eax, %gs
    leaq boot_stack_top(%rip), %rsp
    xorl %ebp, %ebp
    movl %ebx, %edi
    call kmain
2:  cli
    hlt
    jmp 2b

.section .rodata, "a"
.p2align 3
boot_gdt:
    .quad 0
    .quad 0x00af9a000000ffff            // 0x08: 64-bit kernel code.
    .quad 0x00cf92000000ffff            // 0x10: kernel data.
boot_gdt_end:
boot_gdt_pointer:
    .word boot_gdt_end - boot_gdt - 1
    .long boot_gdt - {virt_base}

.section .bss, "aw", @nobits
.p2align 12
.global boot_pml4
boot_pml4:
    .skip 4096
boot_pdpt_low:
    .skip 4096
.global boot_pdpt_high
boot_pdpt_high:
    .skip 4096
.global boot_pd
boot_pd:
    .skip 4 * 4096
// Left unmapped once the kernel image is remapped in 4 KiB pages (kimage.rs): a boot
// stack overflow then faults instead of overwriting the page directories above.
.global boot_stack_guard
boot_stack_guard:
    .skip 4096
boot_stack:
    .skip {boot_stack_size}
boot_stack_top:
