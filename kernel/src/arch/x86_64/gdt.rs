//! Each CPU's GDT (kernel and user segments, its TSS) and TSS with RSP0 and the IST stacks, built with the `x86_64` crate's descriptor types.

use x86_64::VirtAddr;
use x86_64::instructions::segmentation::{CS, DS, ES, SS, Segment};
use x86_64::instructions::tables::load_tss;
use x86_64::structures::gdt::{Descriptor, GlobalDescriptorTable, SegmentSelector};
use x86_64::structures::tss::TaskStateSegment;

use crate::cell::PerCpu;
use crate::smp::MAX_CPUS;

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

#[repr(C, align(16))]
struct IstStack([u8; IST_STACK_SIZE]);

/// Each CPU's TSS. `TaskStateSegment::new` puts the I/O map base at the end of the
/// segment: no I/O permission bitmap, so user port I/O always faults.
static TSS: PerCpu<TaskStateSegment> = PerCpu::new([const { TaskStateSegment::new() }; MAX_CPUS]);
static DOUBLE_FAULT_STACK: PerCpu<IstStack> =
    PerCpu::new([const { IstStack([0; IST_STACK_SIZE]) }; MAX_CPUS]);
static NMI_STACK: PerCpu<IstStack> =
    PerCpu::new([const { IstStack([0; IST_STACK_SIZE]) }; MAX_CPUS]);
static GDT: PerCpu<GlobalDescriptorTable> =
    PerCpu::new([const { GlobalDescriptorTable::new() }; MAX_CPUS]);

/// Builds and loads the GDT and TSS of CPU `cpu` (the running one) and reloads every
/// segment register.
pub fn init(cpu: usize) {
    // SAFETY: Runs once per CPU, on that CPU, before anything else uses its entries; they
    // are statics, so the descriptors' 'static requirements hold.
    unsafe {
        let tss = &mut *TSS.get(cpu);
        tss.interrupt_stack_table[usize::from(IST_DOUBLE_FAULT) - 1] =
            VirtAddr::new(DOUBLE_FAULT_STACK.get(cpu) as u64 + IST_STACK_SIZE as u64);
        tss.interrupt_stack_table[usize::from(IST_NMI) - 1] =
            VirtAddr::new(NMI_STACK.get(cpu) as u64 + IST_STACK_SIZE as u64);
        let gdt = &mut *GDT.get(cpu);
        let selectors = [
            gdt.append(Descriptor::kernel_code_segment()),
            gdt.append(Descriptor::kernel_data_segment()),
            gdt.append(Descriptor::user_data_segment()),
            gdt.append(Descriptor::user_code_segment()),
            gdt.append(Descriptor::tss_segment(&*TSS.get(cpu))),
        ];
        let expected = [KERNEL_CS, KERNEL_DS, USER_DS, USER_CS, TSS_SELECTOR];
        assert!(
            selectors.iter().map(|s| s.0).eq(expected),
            "GDT selectors {selectors:?} differ from the ones syscall/sysret and the entry code use"
        );
        (*GDT.get(cpu)).load_unsafe();
        // The new GDT keeps the boot GDT's kernel selectors, so reloading CS, the data
        // segments and the task register leaves the kernel running.
        CS::set_reg(SegmentSelector(KERNEL_CS));
        for set in [DS::set_reg, ES::set_reg, SS::set_reg] {
            set(SegmentSelector(KERNEL_DS));
        }
        load_tss(SegmentSelector(TSS_SELECTOR));
    }
}

/// Sets the stack the running CPU switches to on an interrupt or exception from user mode.
pub fn set_kernel_stack(top: u64) {
    // SAFETY: The TSS is the running CPU's, with interrupts off in the kernel: nothing else
    // touches it now, and the CPU reads RSP0 only on the next entry from user mode.
    unsafe { (*TSS.get(super::cpu_index())).privilege_stack_table[0] = VirtAddr::new(top) };
}
