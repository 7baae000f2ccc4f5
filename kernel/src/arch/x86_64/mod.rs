//! The x86_64 port: boot, console, descriptor tables, traps, timer, syscalls, threads, FPU, MMU.
//!
//! # Interface for the rest of the kernel (re-exported as `crate::arch`)
//!
//! Boot and memory
//! - [`init_early`]`(boot_arg)`: console, GDT/TSS/IDT, per-CPU block (GS), syscall MSRs,
//!   FPU (XSAVE), SMEP/SMAP/UMIP; parses the PVH memory map and returns it as
//!   [`MemoryRegion`]s (RAM below 1 MiB or beyond the direct map is listed, but not
//!   `usable`). [`describe_cpu`] says what it set up.
//! - [`kernel_phys_range`]: the physical range the kernel image (with .bss) occupies.
//! - [`phys_to_virt`] / [`virt_to_phys`] (arch-independent, from [`direct_map_end`] and the
//!   constants here): the direct map of all physical RAM at [`DIRECT_MAP_BASE`].
//! - [`mmu`]: page-table entry encoding and address-space switching, and the direct map's
//!   entries for the arch-independent 4 KiB remapping of RAM (`arch/directmap.rs`).
//!
//! Console and machine
//! - [`console_put`] (COM1; the arch-independent `console_write` sends text through it),
//!   [`shutdown`] (QEMU isa-debug-exit; QEMU exits with `(code << 1) | 1`), [`cycles`]
//!   (TSC).
//! - [`timer_init`] (the boot CPU's tick: PIT at `abi::TICKS_PER_SEC` through the
//!   remapped 8259 PIC), [`halt_until_interrupt`] for idle loops (the arch-independent
//!   `enable_interrupts_and_halt` wraps it with the big kernel lock). Interrupts are off
//!   in the kernel everywhere else; they are on in user mode.
//!
//! CPUs
//! - [`discover_cpus`]: the CPUs of the ACPI MADT (`acpi` crate; the RSDP from the PVH
//!   start info), with the boot CPU's local APIC set up (x2APIC where present) and its
//!   timer measured against the PIT; [`start_cpu`]: INIT/STARTUP through the real-mode
//!   trampoline (`smp.rs`) onto a given kernel stack; the new CPU sets up its own GDT/TSS,
//!   IDT, per-CPU block, `syscall`, FPU, protections and local APIC timer at
//!   `abi::TICKS_PER_SEC`, then runs `crate::smp::secondary_main`. [`cpu_index`] (from
//!   the per-CPU block), [`spin_wait`] (busy wait timed by the PIT).
//!
//! Traps into the kernel (the callees live outside `arch`)
//! - `syscall` → `crate::syscall::handle_syscall(&mut UserFrame)`.
//! - Every entry from user mode first takes the big kernel lock (`hooks::enter_from_user`);
//!   the return path (`CHECK_USER_RETURN` in `trap.S`) releases it (`hooks::leave_to_user`).
//!   Interrupts in kernel mode (idle loops only) run under it (`hooks::interrupt_in_kernel`).
//! - Timer interrupt (PIT on the boot CPU, local APIC timer on the others) →
//!   `hooks::timer_tick(from_user)`, after the end-of-interrupt: counted per CPU, and on the
//!   boot CPU `crate::sched::timer_tick`.
//! - Exception in user mode → `crate::sched::user_fault(&mut UserFrame, FaultInfo)`
//!   (`FaultInfo` is arch-independent; [`exception_name`] names its vector).
//!   Exceptions in kernel mode, `#NM`, `#DF`, NMI and `#MC` panic; a `#PF` or `#DF` whose
//!   CR2 or rsp lies in the running thread's kernel-stack guard page panics as a kernel
//!   stack overflow (the `#DF` runs on its own IST stack).
//!
//! Threads
//! - [`UserFrame`]: the user registers saved at the top of the thread's kernel stack, one
//!   layout for syscall and interrupt entry; reached through its methods.
//! - [`KernelContext`] + [`switch_context`]: callee-saved kernel state of a thread.
//! - [`KernelContext::entering_user`] and `PerCpuData` (generated): what the
//!   arch-independent `prepare_user_thread` (`arch/kstack.rs`) and per-CPU block
//!   (`arch/percpu.rs`) need to lay out a fresh kernel stack of `KERNEL_STACK_SIZE` bytes,
//!   with its canary, that enters user mode through its `UserFrame`.
//! - `current_thread` (to the arch-independent layer): what [`set_current_thread`] recorded.
//! - [`set_current_thread`]: the TCB address and kernel stack top used by the next entry
//!   from user mode (per-CPU block and TSS.RSP0).
//! - [`FpuArea`]: eager XSAVE/XRSTOR area, saved and restored on every switch.

mod apic;
mod boot;
mod context;
mod cpu;
mod fpu;
mod frame;
mod gdt;
mod kimage;
mod madt;
pub mod mmu;
mod percpu;
mod pvh;
#[cfg(feature = "arch-selftest")]
pub mod selftest;
mod serial;
mod smp;
mod syscall;
mod timer;
mod trap;

mod generated;

use crate::arch::{MemoryMap, MemoryRegion, phys_to_virt, virt_to_phys};
use crate::cell::BklCell;
use core::sync::atomic::{AtomicU64, Ordering};

#[cfg(feature = "kstack-guard-test")]
pub use context::run_on_stack;
pub use context::{KernelContext, set_current_thread, switch_context};
#[cfg(feature = "kernel-fault-test")]
pub use cpu::undefined_instruction;
pub use fpu::FpuArea;
pub use frame::{UserFrame, exception_name, memory_fault_kind};
pub(super) use generated::percpu::PerCpuData;
pub use percpu::cpu_index;
pub(super) use percpu::current as current_thread;
pub(super) use serial::put as console_put;
pub use smp::{HardwareCpu, discover_cpus, send_ipi, start_cpu};
pub use timer::spin_wait;

/// Virtual address the kernel image is linked at, minus its physical load address.
pub const KERNEL_VIRT_BASE: u64 = 0xffff_ffff_8000_0000;
/// PML4 slot of the direct map.
const DIRECT_MAP_SLOT: usize = 256;
/// Virtual address of physical address 0 in the direct map.
pub const DIRECT_MAP_BASE: u64 = 0xffff_8000_0000_0000;
/// How much physical memory the boot page tables put in the direct map.
const BOOT_DIRECT_MAP_SIZE: u64 = 4 << 30;
/// The end of the direct map: [`BOOT_DIRECT_MAP_SIZE`], or more once `init_early` has
/// mapped RAM above 4 GiB.
static DIRECT_MAP_END: AtomicU64 = AtomicU64::new(BOOT_DIRECT_MAP_SIZE);

const _: () = assert!(DIRECT_MAP_BASE == 0xffff_0000_0000_0000 | ((DIRECT_MAP_SLOT as u64) << 39));

/// The end of the direct map, for `crate::arch::phys_to_virt` and `virt_to_phys`.
pub(super) fn direct_map_end() -> u64 {
    DIRECT_MAP_END.load(Ordering::Relaxed)
}

/// The physical addresses the kernel keeps for itself: its image (with .bss and the boot
/// page tables) and the page tables that map it.
pub fn kernel_phys_range() -> core::ops::Range<u64> {
    kimage::kernel_phys_range()
}

/// What the firmware list of CPUs is called in the boot log.
pub const CPU_LIST_SOURCE: &str = "the ACPI MADT";

/// Which protections are on, for [`describe_cpu`]; set once in `init_early`.
static PROTECTIONS: BklCell<cpu::Protections> = BklCell::new(cpu::Protections {
    smep: false,
    smap: false,
    umip: false,
});

/// The memory map; set once in `init_early`.
static MEMORY_MAP: BklCell<Option<MemoryMap>> = BklCell::new(None);

/// Brings up the CPU and returns the physical memory map.
///
/// `boot_arg` is what the boot assembly passes to `kmain`: the physical address of the
/// PVH start info. Call once, first thing in `kmain`.
pub fn init_early(boot_arg: usize) -> &'static [MemoryRegion] {
    serial::init();
    gdt::init(crate::smp::BOOT_CPU);
    trap::init();
    mmu::drop_identity_map();
    percpu::init(crate::smp::BOOT_CPU);
    syscall::init();
    fpu::init();
    let protections = cpu::enable_protections();
    // SAFETY: init_early runs once, before anything reads PROTECTIONS.
    unsafe { *PROTECTIONS.get() = protections };
    // SAFETY (both parses): The boot assembly passes EBX from the PVH entry, and the boot
    // page tables map the first 4 GiB, where QEMU places the start info and memory map.
    // The first parse only finds the end of RAM.
    let ram_end = unsafe { pvh::parse(boot_arg as u64, u64::MAX) }
        .regions()
        .iter()
        .filter(|r| r.usable)
        .map(|r| r.base + r.len)
        .max()
        .unwrap_or(0);
    let direct_map_end = mmu::extend_direct_map(BOOT_DIRECT_MAP_SIZE, ram_end);
    DIRECT_MAP_END.store(direct_map_end, Ordering::Relaxed);
    // SAFETY: As above.
    let map = unsafe { pvh::parse(boot_arg as u64, direct_map_end) };
    // SAFETY: As above; `parse` checked the block's magic.
    smp::set_rsdp(unsafe { pvh::rsdp(boot_arg as u64) });
    kimage::protect(map.regions());
    // SAFETY: init_early runs once, before anything else reads MEMORY_MAP.
    let slot = unsafe { &mut *MEMORY_MAP.get() };
    slot.insert(map).regions()
}

/// One line describing the CPU setup, for the boot log.
pub fn describe_cpu() -> impl core::fmt::Display {
    struct Cpu;
    impl core::fmt::Display for Cpu {
        fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
            let (size, insn) = fpu::describe();
            // SAFETY: Written once in init_early, only read afterwards.
            let p = unsafe { *PROTECTIONS.get() };
            let on = |b: bool| if b { "on" } else { "off" };
            write!(
                f,
                "x86_64: eager FPU with {insn}, {size}-byte XSAVE area; SMEP {}, SMAP {}, UMIP {}; timer PIT via 8259 PIC (boot CPU), local APIC (others)",
                on(p.smep),
                on(p.smap),
                on(p.umip)
            )
        }
    }
    Cpu
}

/// Starts the boot CPU's periodic timer interrupt at `ticks_per_sec` (pass
/// `abi::TICKS_PER_SEC`). Each tick calls `hooks::timer_tick`. Interrupts are taken only
/// in user mode and in [`halt_until_interrupt`].
pub fn timer_init(ticks_per_sec: u64) {
    timer::init(ticks_per_sec);
}

/// Idles until the next interrupt: enables interrupts, halts, and disables them again
/// after the interrupt was handled. The `sti; hlt` pair cannot miss a wake-up.
pub fn halt_until_interrupt() {
    // SAFETY: The IDT handles every interrupt that can arrive; the handlers run with
    // interrupts off and return here.
    unsafe { core::arch::asm!("sti", "hlt", "cli", options(nomem, nostack)) };
}

/// The cycle counter (TSC).
pub fn cycles() -> u64 {
    cpu::rdtsc()
}

const DEBUG_EXIT_PORT: u16 = 0xf4;

/// Ends the machine: QEMU's isa-debug-exit device makes QEMU exit with `(code << 1) | 1`.
/// Without that device the CPU halts forever.
pub fn shutdown(code: u32) -> ! {
    x86_64::instructions::interrupts::disable();
    // SAFETY: Port 0xf4 is the isa-debug-exit device; writing it only ends the VM.
    unsafe { x86_64::instructions::port::Port::<u32>::new(DEBUG_EXIT_PORT).write(code) };
    cpu::halt_forever()
}
