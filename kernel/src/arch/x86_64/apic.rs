//! The local APIC of each CPU, in x2APIC mode where the CPU has it and xAPIC mode otherwise: its ID, end of interrupt, the INIT and STARTUP IPIs that start a CPU, and the per-CPU timer.
//!
//! The boot CPU's APIC stays in the virtual-wire mode the firmware left (the 8259 PIC's
//! interrupts arrive through its LINT0, so its tick keeps coming from the PIT); it is
//! only software-enabled, for sending IPIs, and measures the APIC timer's rate against the
//! PIT once. Every secondary CPU runs its APIC timer periodically at `abi::TICKS_PER_SEC`.
//! Register offsets are the xAPIC MMIO ones; in x2APIC mode register `offset` is MSR
//! `0x800 + offset / 16`.

use core::sync::atomic::{AtomicU8, AtomicU32, AtomicUsize, Ordering};

use x86_64::registers::model_specific::Msr;

use super::{cpu, mmu, phys_to_virt, timer};
use crate::arch::hooks;

/// The first vector the local APIC delivers (below it: exceptions and the 8259 PIC).
pub const FIRST_VECTOR: u8 = 48;
/// The timer interrupt of every secondary CPU.
const TIMER_VECTOR: u8 = FIRST_VECTOR;
/// The IPI every CPU sends another for its requests (`crate::smp`).
pub const IPI_VECTOR: u8 = FIRST_VECTOR + 1;
/// The APIC's spurious-interrupt vector (its low four bits must be set on old APICs).
const SPURIOUS_VECTOR: u8 = 63;
/// The last vector with an entry stub (`trap::STUB_COUNT`).
pub const LAST_VECTOR: u8 = SPURIOUS_VECTOR;

const IA32_APIC_BASE: u32 = 0x1b;
const APIC_BASE_GLOBAL_ENABLE: u64 = 1 << 11;
const APIC_BASE_X2APIC: u64 = 1 << 10;
const APIC_BASE_ADDRESS: u64 = 0x000f_ffff_ffff_f000;
/// The first x2APIC register MSR.
const X2APIC_MSR_BASE: u32 = 0x800;

const REG_ID: u32 = 0x020;
const REG_TPR: u32 = 0x080;
const REG_EOI: u32 = 0x0b0;
const REG_SVR: u32 = 0x0f0;
const REG_ICR_LOW: u32 = 0x300;
const REG_ICR_HIGH: u32 = 0x310;
const REG_LVT_TIMER: u32 = 0x320;
const REG_TIMER_INITIAL: u32 = 0x380;
const REG_TIMER_CURRENT: u32 = 0x390;
const REG_TIMER_DIVIDE: u32 = 0x3e0;

const SVR_SOFTWARE_ENABLE: u32 = 1 << 8;
/// The spurious-interrupt vector field of the SVR.
const SVR_VECTOR: u32 = 0xff;
const LVT_MASKED: u32 = 1 << 16;
const LVT_TIMER_PERIODIC: u32 = 1 << 17;
/// The timer counts the bus clock divided by 16.
const TIMER_DIVIDE_BY_16: u32 = 0b0011;
const ICR_FIXED: u32 = 0;
const ICR_INIT: u32 = 0b101 << 8;
const ICR_STARTUP: u32 = 0b110 << 8;
const ICR_LEVEL_ASSERT: u32 = 1 << 14;
const ICR_DELIVERY_PENDING: u32 = 1 << 12;
/// CPUID.1:ECX.x2APIC.
const CPUID_X2APIC: u32 = 1 << 21;

/// How long the boot CPU measures the APIC timer against the PIT, in timer ticks.
const CALIBRATION_TICKS: u64 = 2;

/// Which mode every APIC runs in; the boot CPU decides it in [`init_boot_cpu`].
static MODE: AtomicU8 = AtomicU8::new(MODE_UNSET);
const MODE_UNSET: u8 = 0;
const MODE_XAPIC: u8 = 1;
const MODE_X2APIC: u8 = 2;

/// The direct-map address of the xAPIC registers (xAPIC mode only).
static XAPIC_BASE: AtomicUsize = AtomicUsize::new(0);

/// APIC timer counts per scheduler tick, measured by the boot CPU.
static TIMER_COUNT: AtomicU32 = AtomicU32::new(0);

/// The mode the APICs run in, for the boot log.
pub fn mode_name() -> &'static str {
    match MODE.load(Ordering::Relaxed) {
        MODE_X2APIC => "x2APIC",
        MODE_XAPIC => "xAPIC",
        _ => "not set up",
    }
}

/// Sets up the boot CPU's APIC for starting the others: x2APIC mode where the CPU has it,
/// software-enabled with the spurious vector, and the timer's rate measured against the
/// PIT (running, from `timer::init`). Leaves its LVT entries (LINT0: the PIC) and its
/// timer (masked) as they are. Call once, before [`send_init`].
pub fn init_boot_cpu() {
    let x2apic = cpu::cpuid(1, 0).ecx & CPUID_X2APIC != 0;
    MODE.store(
        if x2apic { MODE_X2APIC } else { MODE_XAPIC },
        Ordering::Relaxed,
    );
    let base = enable_mode();
    if !x2apic {
        mmu::uncache_direct_map(base);
        XAPIC_BASE.store(phys_to_virt(base), Ordering::Relaxed);
    }
    let svr = read(REG_SVR) & !SVR_VECTOR;
    write(
        REG_SVR,
        svr | SVR_SOFTWARE_ENABLE | u32::from(SPURIOUS_VECTOR),
    );
    TIMER_COUNT.store(measure_timer(), Ordering::Relaxed);
}

/// Sets up a secondary CPU's APIC (the boot CPU's [`init_boot_cpu`] ran): the same mode,
/// software-enabled, every priority accepted, and the timer interrupting periodically at
/// `abi::TICKS_PER_SEC`.
pub fn init_secondary() {
    enable_mode();
    write(REG_SVR, SVR_SOFTWARE_ENABLE | u32::from(SPURIOUS_VECTOR));
    write(REG_TPR, 0);
    write(REG_TIMER_DIVIDE, TIMER_DIVIDE_BY_16);
    write(REG_LVT_TIMER, LVT_TIMER_PERIODIC | u32::from(TIMER_VECTOR));
    write(REG_TIMER_INITIAL, TIMER_COUNT.load(Ordering::Relaxed));
}

/// The running CPU's APIC ID.
pub fn id() -> u32 {
    match MODE.load(Ordering::Relaxed) {
        MODE_X2APIC => read(REG_ID),
        _ => read(REG_ID) >> 24,
    }
}

/// Sends an INIT IPI to the CPU with APIC ID `target`.
pub fn send_init(target: u32) {
    send_ipi(target, ICR_INIT | ICR_LEVEL_ASSERT);
}

/// Sends a STARTUP IPI to the CPU with APIC ID `target`: it starts in real mode at
/// physical address `page << 12`.
pub fn send_startup(target: u32, page: u8) {
    send_ipi(target, ICR_STARTUP | ICR_LEVEL_ASSERT | u32::from(page));
}

/// Sends the request IPI ([`IPI_VECTOR`]) to the CPU with APIC ID `target`.
pub fn send_request(target: u32) {
    send_ipi(target, ICR_FIXED | ICR_LEVEL_ASSERT | u32::from(IPI_VECTOR));
}

/// Handles a local APIC vector.
pub fn interrupt(vector: u64, from_user: bool) {
    match vector {
        vector if vector == u64::from(TIMER_VECTOR) => {
            // Acknowledge first, as the PIC's handler does.
            write(REG_EOI, 0);
            hooks::timer_tick(from_user);
        }
        vector if vector == u64::from(IPI_VECTOR) => {
            write(REG_EOI, 0);
            hooks::ipi(from_user);
        }
        // A spurious interrupt needs no end of interrupt.
        vector if vector == u64::from(SPURIOUS_VECTOR) => {}
        vector => {
            crate::println!("warning: unexpected local APIC vector {vector}");
            write(REG_EOI, 0);
        }
    }
}

/// Puts the running CPU's APIC in the chosen mode (globally enabled, x2APIC if chosen)
/// and returns the physical address of its xAPIC registers.
fn enable_mode() -> u64 {
    let mut msr = Msr::new(IA32_APIC_BASE);
    // SAFETY: IA32_APIC_BASE exists on every CPU with an APIC (all x86_64 CPUs); enabling
    // the APIC (and x2APIC mode where CPUID reports it) keeps its configuration.
    unsafe {
        let mut value = msr.read() | APIC_BASE_GLOBAL_ENABLE;
        if MODE.load(Ordering::Relaxed) == MODE_X2APIC {
            value |= APIC_BASE_X2APIC;
        }
        msr.write(value);
        value & APIC_BASE_ADDRESS
    }
}

/// Counts of the APIC timer (divided by 16) in one scheduler tick, measured against the
/// PIT on the boot CPU with the timer masked.
fn measure_timer() -> u32 {
    write(REG_TIMER_DIVIDE, TIMER_DIVIDE_BY_16);
    write(REG_LVT_TIMER, LVT_MASKED | u32::from(TIMER_VECTOR));
    write(REG_TIMER_INITIAL, u32::MAX);
    let micros = CALIBRATION_TICKS * 1_000_000 / abi::TICKS_PER_SEC;
    timer::spin_wait(micros, || false);
    let elapsed = u32::MAX - read(REG_TIMER_CURRENT);
    write(REG_TIMER_INITIAL, 0);
    let count = elapsed / CALIBRATION_TICKS as u32;
    assert!(
        count > 0,
        "the local APIC timer did not count while the PIT ran"
    );
    count
}

fn send_ipi(target: u32, command: u32) {
    if MODE.load(Ordering::Relaxed) == MODE_X2APIC {
        let mut icr = Msr::new(X2APIC_MSR_BASE + REG_ICR_LOW / 16);
        // SAFETY: The x2APIC ICR takes the destination in its high half; writing it sends
        // the IPI the caller asked for.
        unsafe { icr.write((u64::from(target) << 32) | u64::from(command)) };
        return;
    }
    write(REG_ICR_HIGH, target << 24);
    write(REG_ICR_LOW, command);
    while read(REG_ICR_LOW) & ICR_DELIVERY_PENDING != 0 {
        core::hint::spin_loop();
    }
}

fn read(register: u32) -> u32 {
    match MODE.load(Ordering::Relaxed) {
        // SAFETY: Reading an x2APIC register MSR has no side effect (the callers read only
        // ID, SVR, ICR and the timer count).
        MODE_X2APIC => unsafe { Msr::new(X2APIC_MSR_BASE + register / 16).read() as u32 },
        // SAFETY: The xAPIC registers lie in the uncached direct-map page `init_boot_cpu`
        // set up; each CPU reaches its own APIC there.
        _ => unsafe { (xapic_register(register) as *const u32).read_volatile() },
    }
}

fn write(register: u32, value: u32) {
    match MODE.load(Ordering::Relaxed) {
        // SAFETY: The callers write only the registers this module programs (SVR, TPR,
        // EOI, ICR, timer), each with a value valid for it.
        MODE_X2APIC => unsafe { Msr::new(X2APIC_MSR_BASE + register / 16).write(value.into()) },
        // SAFETY: As in `read`, and as for the x2APIC registers.
        _ => unsafe { (xapic_register(register) as *mut u32).write_volatile(value) },
    }
}

fn xapic_register(register: u32) -> usize {
    let base = XAPIC_BASE.load(Ordering::Relaxed);
    assert!(base != 0, "local APIC used before apic::init_boot_cpu");
    base + register as usize
}
