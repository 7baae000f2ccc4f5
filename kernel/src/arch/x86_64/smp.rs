//! Starting secondary CPUs: the CPUs of the ACPI MADT, INIT and STARTUP IPIs, the real-mode trampoline that takes a CPU to long mode, and its per-CPU setup.
//!
//! The trampoline (below) is copied to the fixed low page [`TRAMPOLINE_PADDR`], which a
//! STARTUP IPI can name. A CPU starts there in real mode; the trampoline loads its own
//! small GDT, turns on PAE, long mode, no-execute and paging at once with a page table of
//! its own ([`TrampolineTables`]: the kernel half of the kernel's root plus an executable
//! identity map of the first 2 MiB), jumps to 64-bit code, takes the stack the boot CPU
//! left in the trampoline's parameters and calls [`secondary_entry`] in the higher half
//! with the CPU's index and stack top.
//! The boot CPU starts one CPU at a time, so one set of parameters serves them all.

use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use super::mmu::{ENTRIES, KERNEL_HALF_FIRST, PAGE_SIZE};
use super::{apic, cpu, fpu, gdt, madt, percpu, phys_to_virt, syscall, trap, virt_to_phys};
use crate::arch::CpuList;
use crate::smp::MAX_CPUS;

/// The physical page the trampoline runs in: below 1 MiB (a STARTUP IPI names a page
/// there), in conventional memory nothing else uses once the kernel runs.
const TRAMPOLINE_PADDR: u64 = 0x8000;
const _: () = assert!(TRAMPOLINE_PADDR.is_multiple_of(PAGE_SIZE) && TRAMPOLINE_PADDR < 0x10_0000);

/// Control-register bits the trampoline sets: CR4.PAE; EFER.LME and EFER.NXE (the
/// kernel's tables use no-execute bits); CR0.PG, WP, ET and PE (clearing CD and NW, which
/// INIT leaves set).
const CR4_PAE: u32 = 1 << 5;
const EFER_MSR: u32 = 0xc000_0080;
const EFER_LME_NXE: u32 = (1 << 8) | (1 << 11);
const CR0_LONG_MODE: u32 = (1 << 31) | (1 << 16) | (1 << 4) | 1;

/// Page-table entry bits for the trampoline's tables: present and writable; `LARGE` maps
/// 2 MiB (executable: no NX bit).
const PRESENT_WRITABLE: u64 = 0b11;
const LARGE: u64 = 1 << 7;

// The trampoline's GDT holds kernel code and data in its second and third entries.
const _: () = assert!(gdt::KERNEL_CS == 0x08 && gdt::KERNEL_DS == 0x10);

/// The local APIC ID of each CPU index, for IPIs; filled before the CPU starts.
static APIC_IDS: [AtomicU32; MAX_CPUS] = [const { AtomicU32::new(0) }; MAX_CPUS];

/// Sends the request IPI to CPU `cpu` (`crate::smp`).
pub fn send_ipi(cpu: usize) {
    apic::send_request(APIC_IDS[cpu].load(Ordering::Relaxed));
}

/// The RSDP address from the PVH start info, kept by `init_early`.
static RSDP: AtomicU64 = AtomicU64::new(0);

core::arch::global_asm!(
    ".section .rodata.ap_trampoline, \"a\"",
    ".p2align 4",
    ".global ap_trampoline_start",
    "ap_trampoline_start:",
    ".code16",
    "    cli",
    "    cld",
    "    xorw %ax, %ax",
    "    movw %ax, %ds",
    "    lgdtl {base} + (ap_gdt_pointer - ap_trampoline_start)",
    "    movl %cr4, %eax",
    "    orl ${cr4_pae}, %eax",
    "    movl %eax, %cr4",
    "    movl {base} + (ap_cr3 - ap_trampoline_start), %eax",
    "    movl %eax, %cr3",
    "    movl ${efer}, %ecx",
    "    rdmsr",
    "    orl ${efer_bits}, %eax",
    "    wrmsr",
    "    movl ${cr0}, %eax",
    "    movl %eax, %cr0",
    "    ljmpl ${kernel_cs}, ${base} + (ap_long_mode - ap_trampoline_start)",
    ".code64",
    "ap_long_mode:",
    "    movl ${kernel_ds}, %eax",
    "    movl %eax, %ds",
    "    movl %eax, %es",
    "    movl %eax, %ss",
    "    xorl %eax, %eax",
    "    movl %eax, %fs",
    "    movl %eax, %gs",
    "    movq {base} + (ap_stack - ap_trampoline_start), %rsp",
    "    movq %rsp, %rsi",
    "    movq {base} + (ap_cpu - ap_trampoline_start), %rdi",
    "    movq {base} + (ap_entry - ap_trampoline_start), %rax",
    "    xorl %ebp, %ebp",
    "    callq *%rax",
    "    ud2",
    // Null, then 64-bit kernel code and kernel data at the kernel's selectors (as in the
    // boot GDT of boot.S; `gdt::init` replaces it).
    ".p2align 3",
    "ap_gdt:",
    "    .quad 0",
    "    .quad 0x00af9a000000ffff",
    "    .quad 0x00cf92000000ffff",
    "ap_gdt_pointer:",
    "    .word ap_gdt_pointer - ap_gdt - 1",
    "    .long {base} + (ap_gdt - ap_trampoline_start)",
    ".p2align 3",
    ".global ap_cr3",
    "ap_cr3: .quad 0",
    ".global ap_stack",
    "ap_stack: .quad 0",
    ".global ap_cpu",
    "ap_cpu: .quad 0",
    ".global ap_entry",
    "ap_entry: .quad 0",
    ".global ap_trampoline_end",
    "ap_trampoline_end:",
    ".text",
    base = const TRAMPOLINE_PADDR,
    kernel_cs = const gdt::KERNEL_CS,
    kernel_ds = const gdt::KERNEL_DS,
    cr4_pae = const CR4_PAE,
    efer = const EFER_MSR,
    efer_bits = const EFER_LME_NXE,
    cr0 = const CR0_LONG_MODE,
    options(att_syntax)
);

unsafe extern "C" {
    static ap_trampoline_start: u8;
    static ap_trampoline_end: u8;
    static ap_cr3: u8;
    static ap_stack: u8;
    static ap_cpu: u8;
    static ap_entry: u8;
}

/// The trampoline's page tables: a root whose kernel half is the kernel root's and whose
/// first entry leads to an executable identity map of the first 2 MiB (where the
/// trampoline runs). In the kernel image, so below 4 GiB as the 32-bit CR3 load needs.
#[repr(C, align(4096))]
struct TrampolineTables {
    root: [u64; ENTRIES],
    pdpt: [u64; ENTRIES],
    pd: [u64; ENTRIES],
}

/// Only the boot CPU writes them, once, before starting the first secondary CPU.
static TABLES: crate::cell::BklCell<TrampolineTables> =
    crate::cell::BklCell::new(TrampolineTables {
        root: [0; ENTRIES],
        pdpt: [0; ENTRIES],
        pd: [0; ENTRIES],
    });

/// One CPU of the MADT: its local APIC ID.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HardwareCpu {
    apic_id: u32,
}

impl core::fmt::Display for HardwareCpu {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "APIC ID {}, {}", self.apic_id, apic::mode_name())
    }
}

/// Keeps the RSDP address the PVH start info names (0 for none).
pub fn set_rsdp(rsdp: u64) {
    RSDP.store(rsdp, Ordering::Relaxed);
}

/// The CPUs of the MADT, the boot CPU (the one running) first; sets the boot CPU's APIC
/// up for starting the others.
pub fn discover_cpus() -> CpuList {
    apic::init_boot_cpu();
    let boot = HardwareCpu {
        apic_id: apic::id(),
    };
    APIC_IDS[crate::smp::BOOT_CPU].store(boot.apic_id, Ordering::Relaxed);
    let mut cpus = CpuList::new(boot);
    madt::for_each_apic_id(RSDP.load(Ordering::Relaxed), |apic_id| {
        if apic_id != boot.apic_id {
            cpus.push(HardwareCpu { apic_id });
        }
    });
    cpus
}

/// Starts `target` as CPU `index` on the kernel stack ending at `stack_top`: copies the
/// trampoline with its parameters to low memory and sends INIT, STARTUP, STARTUP (the
/// MP specification's sequence and delays). The CPU then runs [`secondary_entry`].
pub fn start_cpu(index: usize, target: HardwareCpu, stack_top: u64) {
    APIC_IDS[index].store(target.apic_id, Ordering::Relaxed);
    let trampoline = trampoline_bytes();
    let page = phys_to_virt(TRAMPOLINE_PADDR) as *mut u8;
    // SAFETY: The trampoline page is conventional memory below 1 MiB that only the
    // trampoline uses (the frame table never hands it out), and the CPU started before
    // this one has left it (it checked in from the higher half).
    unsafe { core::ptr::copy_nonoverlapping(trampoline.as_ptr(), page, trampoline.len()) };
    let parameter = |symbol: *const u8, value: u64| {
        let offset = symbol as usize - trampoline.as_ptr() as usize;
        // SAFETY: The parameter lies inside the copy just made, 8-byte aligned in it.
        unsafe { page.add(offset).cast::<u64>().write_volatile(value) };
    };
    parameter(&raw const ap_cr3, tables_root());
    parameter(&raw const ap_stack, stack_top);
    parameter(&raw const ap_cpu, index as u64);
    parameter(&raw const ap_entry, secondary_entry as *const () as u64);
    let vector = (TRAMPOLINE_PADDR / PAGE_SIZE) as u8;
    apic::send_init(target.apic_id);
    super::spin_wait(10_000, || false);
    for _ in 0..2 {
        apic::send_startup(target.apic_id, vector);
        super::spin_wait(200, || false);
    }
}

/// The trampoline's code and parameters, as assembled into .rodata.
fn trampoline_bytes() -> &'static [u8] {
    // SAFETY: Both symbols delimit the trampoline in .rodata.
    unsafe {
        let start = &raw const ap_trampoline_start;
        let len = (&raw const ap_trampoline_end) as usize - start as usize;
        core::slice::from_raw_parts(start, len)
    }
}

/// Fills the trampoline's page tables (the same content for every CPU) and returns the
/// root's physical address.
fn tables_root() -> u64 {
    // SAFETY: Only the boot CPU, starting a CPU, writes the tables, and no CPU is in the
    // trampoline meanwhile (the previous one checked in).
    let tables = unsafe { &mut *TABLES.get() };
    let kernel = phys_to_virt(super::mmu::kernel_root()) as *const u64;
    for (i, entry) in tables.root.iter_mut().enumerate().skip(KERNEL_HALF_FIRST) {
        // SAFETY: The kernel root is a live 512-entry table; only read.
        *entry = unsafe { kernel.add(i).read() };
    }
    tables.pd[0] = LARGE | PRESENT_WRITABLE;
    tables.pdpt[0] = virt_to_phys(tables.pd.as_ptr() as usize) | PRESENT_WRITABLE;
    tables.root[0] = virt_to_phys(tables.pdpt.as_ptr() as usize) | PRESENT_WRITABLE;
    let root = virt_to_phys(tables.root.as_ptr() as usize);
    assert!(
        root < 1 << 32,
        "the trampoline's page tables lie above 4 GiB"
    );
    root
}

/// Where the trampoline lands, in the higher half on the CPU's kernel stack: the kernel's
/// own root, this CPU's GDT and TSS, the IDT, the per-CPU block, `syscall`, the FPU, the
/// free protections and the local APIC with its timer; then the arch-independent idle
/// loop.
extern "C" fn secondary_entry(index: u64, stack_top: u64) -> ! {
    let cpu = index as usize;
    // SAFETY: The kernel root maps the whole kernel half, where this code and its stack
    // run; dropping the trampoline's identity map leaves nothing in use unmapped.
    unsafe { cpu::write_cr3(super::mmu::kernel_root()) };
    gdt::init(cpu);
    trap::load();
    percpu::init(cpu);
    syscall::init();
    fpu::init();
    cpu::enable_protections();
    apic::init_secondary();
    crate::smp::secondary_main(cpu, stack_top)
}
