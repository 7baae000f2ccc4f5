//! The GICv2 interrupt controller of QEMU virt (distributor and CPU interface, found in the device tree).

use core::sync::atomic::{AtomicU8, AtomicUsize, Ordering};

use crate::smp::MAX_CPUS;

const GICD_CTLR: usize = 0x000;
const GICD_ISENABLER: usize = 0x100;
const GICD_IPRIORITYR: usize = 0x400;
const GICD_ITARGETSR: usize = 0x800;
const GICD_SGIR: usize = 0xf00;
/// The SGI every CPU sends another for its requests (`crate::smp`).
pub const IPI_SGI: u32 = 0;
const GICC_CTLR: usize = 0x000;
const GICC_PMR: usize = 0x004;
const GICC_IAR: usize = 0x00c;
const GICC_EOIR: usize = 0x010;
const ENABLE: u32 = 1;
/// Priority mask that lets every priority through.
const PRIORITY_ALL: u32 = 0xff;
/// Priority given to the interrupts the kernel enables.
const PRIORITY_DEFAULT: u8 = 0x80;
/// Interrupt IDs from here on are special (1023 = spurious).
pub const FIRST_SPECIAL_ID: u32 = 1020;
const INTERRUPT_ID_MASK: u32 = 0x3ff;

/// Each CPU's bit in an SGI's target list (its CPU interface number), read by the CPU
/// itself from the banked GICD_ITARGETSR0.
static CPU_MASKS: [AtomicU8; MAX_CPUS] = [const { AtomicU8::new(0) }; MAX_CPUS];

/// Virtual addresses (direct map) of the distributor and CPU interface.
static DISTRIBUTOR: AtomicUsize = AtomicUsize::new(0);
static CPU_INTERFACE: AtomicUsize = AtomicUsize::new(0);

fn distributor(offset: usize) -> *mut u32 {
    let base = DISTRIBUTOR.load(Ordering::Relaxed);
    assert!(base != 0, "GIC used before gic::init");
    (base + offset) as *mut u32
}

fn cpu_interface(offset: usize) -> *mut u32 {
    let base = CPU_INTERFACE.load(Ordering::Relaxed);
    assert!(base != 0, "GIC used before gic::init");
    (base + offset) as *mut u32
}

/// Enables the distributor and the boot CPU's interface with every priority unmasked.
/// Each interrupt stays disabled until [`enable`].
pub fn init(distributor_paddr: u64, cpu_interface_paddr: u64) {
    DISTRIBUTOR.store(super::phys_to_virt(distributor_paddr), Ordering::Relaxed);
    CPU_INTERFACE.store(super::phys_to_virt(cpu_interface_paddr), Ordering::Relaxed);
    // SAFETY: The device tree names these GIC register frames, which sit in the device
    // block of the direct map and which only the kernel programs.
    unsafe { distributor(GICD_CTLR).write_volatile(ENABLE) };
    init_cpu_interface();
}

/// Enables the running CPU's interface with every priority unmasked. Each CPU reaches its
/// own interface at the same address (the registers are banked per CPU); the boot CPU's
/// [`init`] ran first.
///
/// Also learns the CPU's bit for SGI target lists and enables the request SGI.
pub fn init_cpu_interface() {
    // SAFETY: As in `init`; the banked registers belong to the running CPU, and the first
    // byte of GICD_ITARGETSR0 (banked) reads as the running CPU's own target bit.
    let mask = unsafe {
        cpu_interface(GICC_PMR).write_volatile(PRIORITY_ALL);
        cpu_interface(GICC_CTLR).write_volatile(ENABLE);
        (distributor(GICD_ITARGETSR) as *const u8).read_volatile()
    };
    CPU_MASKS[super::cpu_index()].store(mask, Ordering::Relaxed);
    enable(IPI_SGI);
}

/// Sends the request SGI to CPU `cpu`, after making this CPU's earlier writes visible to
/// it.
pub fn send_sgi(cpu: usize) {
    let mask = u32::from(CPU_MASKS[cpu].load(Ordering::Relaxed));
    // SAFETY: `dsb ishst` only orders memory; writing GICD_SGIR with a target list (filter
    // 0) and an SGI number only raises that SGI on those CPUs.
    unsafe {
        core::arch::asm!("dsb ishst", options(nostack, preserves_flags));
        distributor(GICD_SGIR).write_volatile((mask << 16) | IPI_SGI);
    }
}

/// Enables interrupt `id` (an SGI, PPI or SPI number) at the default priority; for an SGI
/// or PPI, on the running CPU only (those registers are banked per CPU).
pub fn enable(id: u32) {
    let id = id as usize;
    // SAFETY: Byte-wide priority and bit-wide set-enable registers of the distributor;
    // writing them affects only interrupt `id`.
    unsafe {
        (distributor(GICD_IPRIORITYR + id) as *mut u8).write_volatile(PRIORITY_DEFAULT);
        distributor(GICD_ISENABLER + (id / 32) * 4).write_volatile(1 << (id % 32));
    }
}

/// Acknowledges the highest-priority pending interrupt: returns the raw IAR value (pass it
/// to [`end_of_interrupt`]) and the interrupt ID.
pub fn acknowledge() -> (u32, u32) {
    // SAFETY: Reading IAR acknowledges the interrupt; the caller ends it.
    let iar = unsafe { cpu_interface(GICC_IAR).read_volatile() };
    (iar, iar & INTERRUPT_ID_MASK)
}

/// Ends the interrupt `iar` came from.
pub fn end_of_interrupt(iar: u32) {
    // SAFETY: Writing EOIR with an acknowledged IAR value only ends that interrupt.
    unsafe { cpu_interface(GICC_EOIR).write_volatile(iar) };
}
