//! The aarch64 port (QEMU virt): boot, console, exception vectors, GIC timer, syscalls, threads, FPU, MMU.
//!
//! # Interface for the rest of the kernel (re-exported as `crate::arch`)
//!
//! The same names and signatures as the x86_64 port; see `arch/x86_64/mod.rs`.
//!
//! Boot and memory
//! - [`init_early`]`(boot_arg)`: console, exception vectors, per-CPU block, FPU, MMU
//!   cleanup, GIC; parses the device tree (`boot_arg` is x0 at entry: its physical
//!   address, or 0 for QEMU's ELF boot, which puts it at the start of RAM) and returns its memory as [`MemoryRegion`]s (RAM below the kernel's load
//!   address, the device tree itself and RAM beyond the direct map are listed, but not
//!   `usable`).
//! - [`kernel_phys_range`]: the physical range the kernel image (with .bss) occupies.
//! - [`phys_to_virt`] / [`virt_to_phys`] (arch-independent, from [`direct_map_end`] and the
//!   constants here): the direct map of physical memory at
//!   [`DIRECT_MAP_BASE`] (TTBR1, never executable). The kernel image runs at
//!   [`KERNEL_VIRT_BASE`] + its load address, in 4 KiB pages with write-xor-execute
//!   (`boot.S` builds the tables with their final permissions, so nothing is remapped
//!   while in use).
//! - [`mmu`]: descriptor encoding and address-space switching (user roots in TTBR0, with
//!   ASIDs); the direct map's entries for the arch-independent 4 KiB remapping of RAM
//!   (`arch/directmap.rs`); each 1 GiB block is replaced by break-before-make.
//!
//! Console and machine
//! - [`console_put`] (PL011; the arch-independent `console_write` sends text through it),
//!   [`shutdown`] (semihosting `SYS_EXIT`; QEMU exits with `(code << 1) | 1`, as on
//!   x86_64), [`cycles`] (CNTVCT_EL0).
//! - [`timer_init`] (the running CPU's EL1 virtual timer, PPI 27, through the GICv2),
//!   [`halt_until_interrupt`] for idle loops (the arch-independent
//!   `enable_interrupts_and_halt` wraps it with the big kernel lock). IRQs are masked in
//!   the kernel everywhere else; they are unmasked in user mode.
//!
//! CPUs
//! - [`discover_cpus`]: the CPUs of the device tree's `/cpus`; [`start_cpu`]: PSCI
//!   `CPU_ON` (the `/psci` node's `hvc` or `smc`) into `secondary_entry` (`boot.S`) on a
//!   given kernel stack; the new CPU sets up its per-CPU block, vectors, TTBR0, FPU, PAN,
//!   GIC CPU interface and virtual timer at `abi::TICKS_PER_SEC`, then runs
//!   `crate::smp::secondary_main`. [`cpu_index`] (from the per-CPU block), [`spin_wait`]
//!   (busy wait timed by the virtual counter).
//!
//! Traps into the kernel (the callees live outside `arch`)
//! - `svc #0` → `crate::syscall::handle_syscall(&mut UserFrame)`.
//! - Every entry from user mode first takes the big kernel lock (`hooks::enter_from_user`);
//!   `trap_return` releases it (`hooks::leave_to_user`). IRQs in kernel mode (idle loops
//!   only) run under it (`hooks::interrupt_in_kernel`).
//! - Timer interrupt → `hooks::timer_tick(from_user)`, after the end-of-interrupt: counted
//!   per CPU, and on the boot CPU `crate::sched::timer_tick`.
//! - Synchronous exception in user mode → `crate::sched::user_fault(&mut UserFrame,
//!   FaultInfo)` with `vector` = the exception class (ESR_EL1.EC), `error_code` = ESR_EL1,
//!   `address` = FAR_EL1 for aborts ([`exception_name`] names the class). Exceptions in kernel mode, FP/SIMD traps (EC 0x07:
//!   "lazy FPU reintroduced"), FIQs and SErrors panic.
//!   Every EL1 vector first checks SP against the running thread's kernel stack: in its
//!   guard page (or a frame away from it), it switches to an emergency stack and panics
//!   as a kernel stack overflow.
//!
//! Threads
//! - [`UserFrame`]: the registers saved on the thread's kernel stack, one layout for every
//!   entry.
//! - [`KernelContext`] + [`switch_context`]: callee-saved kernel state of a thread.
//! - [`KernelContext::entering_user`] and `PerCpuData` (generated): what the
//!   arch-independent `prepare_user_thread` (`arch/kstack.rs`) and per-CPU block
//!   (`arch/percpu.rs`) need to lay out a fresh kernel stack of `KERNEL_STACK_SIZE` bytes,
//!   with its canary, that enters user mode through its `UserFrame`.
//! - `current_thread` (to the arch-independent layer): what [`set_current_thread`] recorded.
//! - [`set_current_thread`]: the TCB address and kernel stack top of the running thread
//!   (per-CPU block through TPIDR_EL1).
//! - [`FpuArea`]: q0-q31, FPSR and FPCR, saved and restored on every switch.

mod boot;
mod context;
mod cpu;
mod dtb;
mod fpu;
mod frame;
mod gic;
pub mod mmu;
mod percpu;
#[cfg(feature = "arch-selftest")]
pub mod selftest;
mod serial;
mod smp;
mod syscall;
mod timer;
mod trap;

mod generated;

use crate::arch::{MemoryRegion, phys_to_virt, virt_to_phys};
use crate::cell::BklCell;
use aarch64_cpu::registers::{CNTFRQ_EL0, Readable};
use core::sync::atomic::{AtomicBool, Ordering};

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
pub use smp::{HardwareCpu, discover_cpus, start_cpu};

/// Virtual address of physical address 0 in the direct map (TTBR1 root entry 0).
pub const DIRECT_MAP_BASE: u64 = 0xffff_0000_0000_0000;
/// Link address of the kernel image minus its physical load address (TTBR1 root entry
/// 511, mapped in 4 KiB pages with write-xor-execute).
pub const KERNEL_VIRT_BASE: u64 = 0xffff_ff80_0000_0000;
/// GiB of physical address space in the direct map: the first GiB (devices on virt),
/// then RAM from 1 GiB on with 1 GiB blocks.
const DIRECT_MAP_GIB: u64 = 64;
/// The end of the direct map.
const DIRECT_MAP_END: u64 = DIRECT_MAP_GIB << 30;
/// Where QEMU loads the kernel (`link-aarch64.ld`); RAM below it holds the device tree.
const KERNEL_PHYS_LOAD: u64 = 0x4020_0000;
/// The start of RAM on QEMU virt, where QEMU puts the device tree for an ELF kernel
/// loaded above it. QEMU passes the address in x0 only to Linux images; an ELF kernel
/// gets x0 = 0 and finds the tree here.
const VIRT_DTB_PADDR: u64 = 0x4000_0000;

/// The end of the direct map, for `crate::arch::phys_to_virt` and `virt_to_phys`.
pub(super) fn direct_map_end() -> u64 {
    DIRECT_MAP_END
}

/// The physical addresses the kernel image occupies, .bss and boot page tables included.
pub fn kernel_phys_range() -> core::ops::Range<u64> {
    unsafe extern "C" {
        static __kernel_virt_start: u8;
        static __kernel_virt_end: u8;
    }
    let start = (&raw const __kernel_virt_start) as usize;
    let end = (&raw const __kernel_virt_end) as usize;
    virt_to_phys(start)..virt_to_phys(end)
}

/// Whether Privileged Access Never is on (for the boot log).
static PAN: AtomicBool = AtomicBool::new(false);

/// What the device tree says; set once in `init_early`, only read afterwards.
static MACHINE: BklCell<Option<dtb::MachineInfo>> = BklCell::new(None);

/// What the firmware list of CPUs is called in the boot log.
pub const CPU_LIST_SOURCE: &str = "the device tree";

/// What `init_early` read from the device tree.
fn machine() -> &'static dtb::MachineInfo {
    // SAFETY: Written once in init_early, before any other CPU runs; only read afterwards.
    unsafe { (*MACHINE.get()).as_ref() }.expect("device tree read before init_early")
}

/// Brings up the CPU and returns the physical memory map.
///
/// `boot_arg` is what the boot assembly passes to `kmain`: the physical address of the
/// device tree. Call once, first thing in `kmain`.
pub fn init_early(boot_arg: usize) -> &'static [MemoryRegion] {
    serial::init();
    trap::init();
    mmu::init();
    percpu::init(crate::smp::BOOT_CPU);
    fpu::init();
    PAN.store(cpu::enable_pan(), Ordering::Relaxed);
    // The whole register is written, not OR-ed onto what firmware left: EL0 may read the
    // counters and nothing else (no EL0 timer access, no event stream).
    cpu::set_user_counter_access();
    assert!(
        kernel_phys_range().start == KERNEL_PHYS_LOAD,
        "the kernel was not loaded at {KERNEL_PHYS_LOAD:#x}"
    );
    let dtb_paddr = match boot_arg as u64 {
        0 => VIRT_DTB_PADDR,
        paddr => paddr,
    };
    // SAFETY: The device tree is where the boot protocol puts it (x0, or the start of RAM
    // for an ELF kernel), in RAM and so in the direct map; parse checks its header.
    let info = unsafe { dtb::parse(dtb_paddr, KERNEL_PHYS_LOAD, DIRECT_MAP_END) };
    gic::init(info.gic_distributor, info.gic_cpu_interface);
    // SAFETY: init_early runs once, before anything else reads MACHINE.
    let slot = unsafe { &mut *MACHINE.get() };
    slot.insert(info).regions()
}

/// One line describing the CPU setup, for the boot log.
pub fn describe_cpu() -> impl core::fmt::Display {
    struct Cpu;
    impl core::fmt::Display for Cpu {
        fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
            let (size, registers) = fpu::describe();
            write!(
                f,
                "aarch64: eager FPU with {registers}, {size}-byte area; timer CNTV at {} Hz via GICv2; PAN {}",
                CNTFRQ_EL0.get(),
                if PAN.load(Ordering::Relaxed) {
                    "on"
                } else {
                    "absent"
                }
            )
        }
    }
    Cpu
}

/// Starts the running CPU's periodic timer interrupt at `ticks_per_sec` (pass
/// `abi::TICKS_PER_SEC`). Each tick calls `hooks::timer_tick`. Interrupts are taken only
/// in user mode and in [`halt_until_interrupt`].
pub fn timer_init(ticks_per_sec: u64) {
    timer::init(ticks_per_sec);
}

/// Sends the request IPI (an SGI) to CPU `cpu` (`crate::smp`).
pub fn send_ipi(cpu: usize) {
    gic::send_sgi(cpu);
}

/// Idles until the next interrupt: waits with IRQs masked (`wfi` wakes on a pending
/// interrupt even then, so no wake-up is lost), then unmasks them briefly so the handler
/// runs, and masks them again.
pub fn halt_until_interrupt() {
    // SAFETY: The vector table handles IRQs from EL1; the handler returns here.
    unsafe {
        core::arch::asm!(
            "wfi",
            "msr daifclr, #2",
            "isb",
            "msr daifset, #2",
            options(nomem, nostack)
        )
    };
}

/// Spins until `done` holds or `micros` microseconds have passed on the virtual counter;
/// returns whether `done` held.
pub fn spin_wait(micros: u64, mut done: impl FnMut() -> bool) -> bool {
    let ticks = micros.saturating_mul(CNTFRQ_EL0.get()) / 1_000_000;
    let start = cpu::read_cntvct();
    loop {
        if done() {
            return true;
        }
        if cpu::read_cntvct().wrapping_sub(start) >= ticks {
            return false;
        }
        core::hint::spin_loop();
    }
}

/// The cycle counter: the virtual counter CNTVCT_EL0 (it ticks at CNTFRQ_EL0, 62.5 MHz on
/// QEMU virt, not at the CPU clock). User mode reads the same counter.
pub fn cycles() -> u64 {
    cpu::read_cntvct()
}

/// Semihosting operation `SYS_EXIT`.
const SEMIHOSTING_SYS_EXIT: u64 = 0x18;
/// `ADP_Stopped_ApplicationExit`: with it, QEMU exits with the subcode as its status.
const ADP_STOPPED_APPLICATION_EXIT: u64 = 0x20026;
/// PSCI `SYSTEM_OFF` (QEMU then exits with status 0, which no shutdown code produces).
const PSCI_SYSTEM_OFF: u64 = 0x8400_0008;

static SHUTTING_DOWN: AtomicBool = AtomicBool::new(false);

/// Ends the machine: semihosting `SYS_EXIT` makes QEMU exit with `(code << 1) | 1`, the
/// same status as x86_64's isa-debug-exit, so xtask judges both alike. Without
/// semihosting the `hlt` traps as an undefined instruction, and the exception handler
/// powers off through PSCI instead ([`power_off_without_semihosting`]; status 0: "no
/// shutdown").
pub fn shutdown(code: u32) -> ! {
    cpu::disable_interrupts();
    if !SHUTTING_DOWN.swap(true, Ordering::Relaxed) {
        let block = [ADP_STOPPED_APPLICATION_EXIT, (u64::from(code) << 1) | 1];
        // SAFETY: The semihosting call reads the two-word block and ends the VM; it has no
        // other effect.
        unsafe {
            core::arch::asm!(
                "hlt #0xf000",
                in("x0") SEMIHOSTING_SYS_EXIT,
                in("x1") block.as_ptr(),
                options(nostack, readonly)
            )
        };
    }
    power_off()
}

/// Called by the kernel exception handler for an undefined instruction: if it was the
/// semihosting `hlt` of [`shutdown`], QEMU runs without `-semihosting`; say so and power
/// off through PSCI. Returns otherwise (any other undefined instruction is a kernel bug,
/// which the caller reports with the registers).
fn power_off_without_semihosting(pc: u64) {
    /// The encoding of `hlt #0xf000`, the semihosting call of [`shutdown`].
    const HLT_SEMIHOSTING: u32 = 0xd440_0000 | (0xf000 << 5);
    // SAFETY: `pc` is the address of the kernel instruction that trapped, in the mapped
    // kernel image; reading the instruction word has no side effect.
    let instruction = unsafe { (pc as *const u32).read_volatile() };
    if SHUTTING_DOWN.load(Ordering::Relaxed) && instruction == HLT_SEMIHOSTING {
        crate::arch::console_write(
            b"shutdown: no semihosting (QEMU without -semihosting); PSCI power-off\n",
        );
        power_off();
    }
}

fn power_off() -> ! {
    // SAFETY: PSCI SYSTEM_OFF through the hypervisor call QEMU virt uses as its conduit;
    // it does not return.
    unsafe { core::arch::asm!("hvc #0", in("x0") PSCI_SYSTEM_OFF, options(nomem, nostack)) };
    cpu::halt_forever()
}
