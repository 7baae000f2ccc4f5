//! The GDT (kernel and user segments, one TSS) and the TSS with RSP0 and the IST stacks.

use crate::cell::CpuLocal;
use core::arch::asm;
use core::mem::size_of;

/// Kernel code selector (also what `syscall` loads into CS).
pub const KERNEL_CS: u16 = 0x08;
/// Kernel data selector (`syscall` loads it into SS).
pub const KERNEL_DS: u16 = 0x10;
/// User data selector with RPL 3 (`sysret` loads it into SS).
pub const USER_DS: u16 = 0x18 | 3;
/// User 64-bit code selector with RPL 3 (`sysret` loads it into CS).
pub const USER_CS: u16 = 0x20 | 3;
/// TSS selector.
const TSS_SELECTOR: u16 = 0x28;
/// The selector base `sysret` adds 8 (SS) and 16 (CS) to; see `STAR`.
pub const SYSRET_SELECTOR_BASE: u16 = 0x10;
const _: () = assert!(
    USER_DS == (SYSRET_SELECTOR_BASE + 8) | 3 && USER_CS == (SYSRET_SELECTOR_BASE + 16) | 3
);

/// IST slot (1-based) of the double-fault stack.
pub const IST_DOUBLE_FAULT: u8 = 1;
/// IST slot (1-based) of the NMI and machine-check stack.
pub const IST_NMI: u8 = 2;
const IST_STACK_SIZE: usize = 16 * 1024;

/// The 64-bit task state segment: only the stack pointers matter.
#[repr(C, packed(4))]
struct Tss {
    reserved0: u32,
    rsp: [u64; 3],
    reserved1: u64,
    ist: [u64; 7],
    reserved2: u64,
    reserved3: u16,
    io_map_base: u16,
}

const _: () = assert!(size_of::<Tss>() == 104);

#[repr(C, align(16))]
struct IstStack([u8; IST_STACK_SIZE]);

static TSS: CpuLocal<Tss> = CpuLocal::new(Tss {
    reserved0: 0,
    rsp: [0; 3],
    reserved1: 0,
    ist: [0; 7],
    reserved2: 0,
    reserved3: 0,
    // An I/O map base at the end of the segment means no I/O permission bitmap: user port
    // I/O always faults.
    io_map_base: size_of::<Tss>() as u16,
});
static DOUBLE_FAULT_STACK: CpuLocal<IstStack> = CpuLocal::new(IstStack([0; IST_STACK_SIZE]));
static NMI_STACK: CpuLocal<IstStack> = CpuLocal::new(IstStack([0; IST_STACK_SIZE]));

static GDT: CpuLocal<[u64; 7]> = CpuLocal::new([
    0,
    0x00af_9a00_0000_ffff, // 0x08 kernel code: 64-bit, DPL 0.
    0x00cf_9200_0000_ffff, // 0x10 kernel data.
    0x00cf_f200_0000_ffff, // 0x18 user data: DPL 3.
    0x00af_fa00_0000_ffff, // 0x20 user code: 64-bit, DPL 3.
    0,                     // 0x28 TSS, low half (filled in by init).
    0,                     // 0x30 TSS, high half.
]);

#[repr(C, packed)]
struct DescriptorPointer {
    limit: u16,
    base: u64,
}

/// Loads the GDT and TSS and reloads every segment register.
pub fn init() {
    let tss = TSS.get() as u64;
    let limit = (size_of::<Tss>() - 1) as u64;
    // SAFETY: Runs once during early boot, before anything else uses these statics.
    unsafe {
        (*TSS.get()).ist[usize::from(IST_DOUBLE_FAULT) - 1] =
            DOUBLE_FAULT_STACK.get() as u64 + IST_STACK_SIZE as u64;
        (*TSS.get()).ist[usize::from(IST_NMI) - 1] = NMI_STACK.get() as u64 + IST_STACK_SIZE as u64;
        let gdt = &mut *GDT.get();
        // Available 64-bit TSS (type 9), present.
        gdt[5] = (limit & 0xffff)
            | ((tss & 0xff_ffff) << 16)
            | (0x89 << 40)
            | (((limit >> 16) & 0xf) << 48)
            | (((tss >> 24) & 0xff) << 56);
        gdt[6] = tss >> 32;
    }
    let pointer = DescriptorPointer {
        limit: (size_of::<[u64; 7]>() - 1) as u16,
        base: GDT.get() as u64,
    };
    // SAFETY: The new GDT keeps the boot GDT's kernel selectors, so reloading CS (through a
    // far return), the data segments and the task register leaves the kernel running.
    unsafe {
        asm!(
            "lgdt [{ptr}]",
            "push {cs}",
            "lea {tmp}, [rip + 2f]",
            "push {tmp}",
            "retfq",
            "2:",
            "mov ds, {ds:e}",
            "mov es, {ds:e}",
            "mov ss, {ds:e}",
            "ltr {tss:x}",
            ptr = in(reg) &raw const pointer,
            cs = const KERNEL_CS as u64,
            tmp = out(reg) _,
            ds = in(reg) u32::from(KERNEL_DS),
            tss = in(reg) TSS_SELECTOR,
        );
    }
}

/// Sets the stack the CPU switches to on an interrupt or exception from user mode.
pub fn set_kernel_stack(top: u64) {
    // SAFETY: Single CPU with interrupts off in the kernel: nothing else touches the TSS
    // now, and the CPU reads RSP0 only on the next entry from user mode.
    unsafe { (*TSS.get()).rsp[0] = top };
}
