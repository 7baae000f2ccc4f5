//! Starting secondary CPUs: the CPUs of the device tree, PSCI `CPU_ON` (through `hvc` or `smc`, as the tree's `/psci` node says), and each CPU's own setup.
//!
//! A started CPU enters `secondary_entry` in `boot.S` with the MMU off: it drops to EL1,
//! turns the MMU on with the boot tables, takes the stack the boot CPU left in
//! [`SECONDARY_STACK_TOPS`] and calls [`secondary_start`] at the link address.

use core::sync::atomic::{AtomicU64, Ordering};

use aarch64_cpu::registers::{MPIDR_EL1, Readable};

use super::dtb::{Psci, PsciConduit};
use super::{cpu, fpu, gic, mmu, percpu, timer, trap, virt_to_phys};
use crate::arch::CpuList;
use crate::smp::MAX_CPUS;

/// MPIDR_EL1's affinity fields (Aff3 at bits 32..40, Aff2..Aff0 at bits 0..24): the
/// CPU's identity in the device tree and for PSCI.
const MPIDR_AFFINITY: u64 = 0xff_00ff_ffff;

/// The kernel stack top of each secondary CPU, by index: the boot CPU writes a CPU's entry
/// before starting it, and `secondary_entry` loads its stack from there.
pub static SECONDARY_STACK_TOPS: [AtomicU64; MAX_CPUS] = [const { AtomicU64::new(0) }; MAX_CPUS];

unsafe extern "C" {
    /// The secondary CPUs' entry in `boot.S` (run at its physical address, MMU off).
    fn secondary_entry();
}

/// One CPU of the device tree: its MPIDR affinity value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HardwareCpu {
    mpidr: u64,
}

impl core::fmt::Display for HardwareCpu {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "MPIDR {:#x}", self.mpidr)
    }
}

/// The CPUs of the device tree, the boot CPU (the one running) first.
pub fn discover_cpus() -> CpuList {
    let boot = HardwareCpu {
        mpidr: MPIDR_EL1.get() & MPIDR_AFFINITY,
    };
    let mut cpus = CpuList::new(boot);
    for &mpidr in super::machine().cpus() {
        if mpidr != boot.mpidr {
            cpus.push(HardwareCpu { mpidr });
        }
    }
    cpus
}

/// Starts `target` as CPU `index` on the kernel stack ending at `stack_top` with PSCI
/// `CPU_ON`; it then runs [`secondary_start`]. Panics when the firmware refuses (or the
/// device tree names no PSCI): the CPU it lists cannot be started.
pub fn start_cpu(index: usize, target: HardwareCpu, stack_top: u64) {
    let psci = super::machine()
        .psci
        .unwrap_or_else(|| panic!("the device tree lists {target} but no usable /psci node"));
    SECONDARY_STACK_TOPS[index].store(stack_top, Ordering::Release);
    let entry = virt_to_phys(secondary_entry as *const () as usize);
    let status = psci_call(psci, target.mpidr, entry, index as u64);
    assert!(
        status == 0,
        "PSCI CPU_ON for {target} failed with status {status}"
    );
}

/// Calls PSCI function `psci.cpu_on` with three arguments; returns its status (x0).
fn psci_call(psci: Psci, arg1: u64, arg2: u64, arg3: u64) -> i64 {
    let status: u64;
    // SAFETY: The device tree names the conduit and the function; a PSCI call touches no
    // memory of the caller. Under SMC Calling Convention 1.0 the callee may clobber x0-x17.
    unsafe {
        match psci.conduit {
            PsciConduit::Hvc => core::arch::asm!(
                "hvc #0",
                inout("x0") u64::from(psci.cpu_on) => status,
                inout("x1") arg1 => _,
                inout("x2") arg2 => _,
                inout("x3") arg3 => _,
                clobber_abi("C"),
                options(nostack)
            ),
            PsciConduit::Smc => core::arch::asm!(
                "smc #0",
                inout("x0") u64::from(psci.cpu_on) => status,
                inout("x1") arg1 => _,
                inout("x2") arg2 => _,
                inout("x3") arg3 => _,
                clobber_abi("C"),
                options(nostack)
            ),
        }
    }
    status as i64
}

/// Where `secondary_entry` lands, at the link address on the CPU's kernel stack: the
/// per-CPU block, exception vectors, TTBR0 without the identity map, FPU access, PAN,
/// counter access for EL0, the GIC CPU interface and the virtual timer; then the
/// arch-independent idle loop.
pub extern "C" fn secondary_start(index: u64, stack_top: u64) -> ! {
    let cpu = index as usize;
    percpu::init(cpu);
    trap::init();
    mmu::drop_identity_map();
    fpu::init();
    cpu::enable_pan();
    cpu::set_user_counter_access();
    gic::init_cpu_interface();
    timer::init(abi::TICKS_PER_SEC);
    crate::smp::secondary_main(cpu, stack_top)
}
