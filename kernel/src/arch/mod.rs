//! Architecture selection (the one place that chooses the port) and the arch-independent pieces both ports share; everything else uses `crate::arch`.

#[cfg(target_arch = "x86_64")]
mod x86_64;
#[cfg(target_arch = "x86_64")]
pub use self::x86_64::*;

#[cfg(target_arch = "aarch64")]
mod aarch64;
#[cfg(target_arch = "aarch64")]
pub use self::aarch64::*;

mod console;
mod directmap;
pub mod hooks;
mod idle;
mod kstack;
mod memmap;
mod paging;
mod percpu;
pub use self::console::console_write;
pub use self::directmap::{
    direct_page_is_mapped, is_unmapped_direct_page, map_ram_in_pages, phys_to_virt, virt_to_phys,
};
pub use self::hooks::EntryFrame;
#[cfg(feature = "arch-selftest")]
pub use self::idle::enable_interrupts_and_halt;
pub use self::idle::idle_until;
pub use self::kstack::{
    KERNEL_STACK_GUARD_SIZE, KERNEL_STACK_SIZE, current_stack_overflow, guard_kernel_stack,
    prepare_user_thread, stack_overflow_panic, unguard_kernel_stack,
};
use self::memmap::MemoryMap;
use crate::smp::MAX_CPUS;

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
compile_error!("kernite has no port for this target architecture yet");

/// The TCB address the running CPU runs (what [`set_current_thread`] recorded; 0 in its
/// idle loop), read from its per-CPU block without the big kernel lock.
pub fn running_thread() -> u64 {
    current_thread().0
}

/// The ELF `e_machine` of user programs the kernel loads (EM_X86_64).
#[cfg(target_arch = "x86_64")]
pub const ELF_MACHINE: u16 = 62;
/// The ELF `e_machine` of user programs the kernel loads (EM_AARCH64).
#[cfg(target_arch = "aarch64")]
pub const ELF_MACHINE: u16 = 183;

/// One range of the physical memory map, as the boot firmware reported it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemoryRegion {
    /// First physical address.
    pub base: u64,
    /// Length in bytes.
    pub len: u64,
    /// RAM the kernel may hand out (minus its own image); `false` for reserved, device or
    /// unreachable ranges.
    pub usable: bool,
}

/// What a user-mode exception was, for `crate::sched::user_fault`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FaultInfo {
    /// What the port reports as the kind of exception: the exception vector on x86_64
    /// (e.g. 14 for a page fault), the exception class (ESR_EL1.EC, e.g. 0x24 for a data
    /// abort from EL0) on aarch64.
    pub vector: u8,
    /// The error code the CPU pushed, or 0 (x86_64); the whole syndrome ESR_EL1 (aarch64).
    pub error_code: u64,
    /// The faulting address where the CPU reports one (CR2 for a page fault, FAR_EL1 for
    /// aborts and alignment faults), otherwise 0.
    pub address: u64,
}

impl FaultInfo {
    /// The exception's name from the port, e.g. `"#PF page fault"` or `"data abort from EL0"`.
    pub fn name(&self) -> &'static str {
        exception_name(self.vector)
    }
}

/// Whether a user exception is a fault on memory access (delivered as `abi::VmFault`), and
/// if so whether it was an instruction fetch.
pub fn vm_fault_kind(info: &FaultInfo) -> Option<bool> {
    memory_fault_kind(info.vector, info.error_code)
}

/// The CPUs the firmware lists, the boot CPU first and the others in firmware order, as
/// far as `MAX_CPUS` allows (each port's `discover_cpus` fills it).
pub struct CpuList {
    cpus: [Option<HardwareCpu>; MAX_CPUS],
    listed: usize,
}

impl CpuList {
    /// A list holding only the boot CPU.
    pub fn new(boot: HardwareCpu) -> CpuList {
        let mut cpus = [None; MAX_CPUS];
        cpus[0] = Some(boot);
        CpuList { cpus, listed: 1 }
    }

    /// Adds a CPU other than the boot CPU; beyond `MAX_CPUS` it is only counted.
    pub fn push(&mut self, cpu: HardwareCpu) {
        if let Some(slot) = self.cpus.get_mut(self.listed) {
            *slot = Some(cpu);
        }
        self.listed += 1;
    }

    /// The boot CPU.
    pub fn boot(&self) -> HardwareCpu {
        self.cpus[0].expect("a CPU list always holds the boot CPU")
    }

    /// How many usable CPUs the firmware listed, the boot CPU included (possibly more than
    /// `MAX_CPUS`).
    pub fn listed(&self) -> usize {
        self.listed
    }

    /// The CPUs other than the boot CPU with the indices they get (1, 2, ...).
    pub fn secondaries(&self) -> impl Iterator<Item = (usize, HardwareCpu)> + '_ {
        self.cpus
            .iter()
            .enumerate()
            .skip(1)
            .filter_map(|(index, cpu)| cpu.map(|cpu| (index, cpu)))
    }
}
