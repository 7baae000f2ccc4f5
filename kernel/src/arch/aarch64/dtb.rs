//! The device tree QEMU hands over in x0: RAM ranges, reservations, the GIC, the CPUs and PSCI, read with the `fdt` crate.

use super::phys_to_virt;
use crate::arch::{MemoryMap, MemoryRegion};
use crate::smp::MAX_CPUS;

/// How many ranges inside RAM may be excluded (device tree reservations plus the kernel's own).
const MAX_RESERVED: usize = 16;

/// PSCI 0.2's `CPU_ON` for 64-bit callers (the ID every PSCI version from 0.2 on uses).
const PSCI_CPU_ON_64: u32 = 0xc400_0003;

/// How the kernel calls PSCI: the instruction the device tree's `/psci` `method` names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PsciConduit {
    /// `hvc #0` (QEMU virt without EL2 for the guest).
    Hvc,
    /// `smc #0`.
    Smc,
}

/// The PSCI firmware interface, from the device tree's `/psci` node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Psci {
    pub conduit: PsciConduit,
    /// The function ID of `CPU_ON`.
    pub cpu_on: u32,
}

/// What the kernel takes from the device tree, kept for the lifetime of the kernel.
pub struct MachineInfo {
    /// The memory map: RAM split into usable and reserved parts, in device-tree order.
    memory: MemoryMap,
    /// Physical address of the GIC distributor.
    pub gic_distributor: u64,
    /// Physical address of the GIC CPU interface.
    pub gic_cpu_interface: u64,
    /// The MPIDR affinity values (the `reg` of each `/cpus/cpu` node that is not
    /// disabled), in device-tree order, as far as `MAX_CPUS` goes.
    cpus: [u64; MAX_CPUS],
    /// How many CPU nodes are not disabled (possibly more than `MAX_CPUS`).
    pub cpu_count: usize,
    /// The PSCI interface, if the tree has a `/psci` node with a known method.
    pub psci: Option<Psci>,
}

impl MachineInfo {
    /// The memory map: RAM split into usable and reserved parts, in device-tree order.
    pub fn regions(&self) -> &[MemoryRegion] {
        self.memory.regions()
    }

    /// The MPIDR affinity values of the CPUs, in device-tree order (the boot CPU among them).
    pub fn cpus(&self) -> &[u64] {
        &self.cpus[..self.cpu_count.min(MAX_CPUS)]
    }
}

/// Reads the device tree at physical address `dtb_paddr`.
///
/// RAM is `usable` except below `low_reserved_end` (QEMU's device tree and boot data sit
/// under the kernel's load address), the device tree itself, `/memreserve/` entries, and
/// anything at or above `direct_map_end`, which the kernel cannot reach; those parts are
/// listed as not usable.
///
/// # Safety
/// `dtb_paddr` must be the x0 QEMU passed at entry, inside the direct map.
pub unsafe fn parse(dtb_paddr: u64, low_reserved_end: u64, direct_map_end: u64) -> MachineInfo {
    // SAFETY: The caller guarantees a device tree at this address; from_ptr checks its
    // magic and reads no further than the size in its header.
    let fdt = match unsafe { fdt::Fdt::from_ptr(phys_to_virt(dtb_paddr) as *const u8) } {
        Ok(fdt) => fdt,
        Err(error) => panic!("no valid device tree at {dtb_paddr:#x} (x0 at entry): {error:?}"),
    };

    let mut reserved = Reserved::default();
    reserved.add(0, low_reserved_end);
    reserved.add(dtb_paddr, dtb_paddr + fdt.total_size() as u64);
    for reservation in fdt.memory_reservations() {
        let base = reservation.address() as u64;
        reserved.add(base, base + reservation.size() as u64);
    }
    reserved.add(direct_map_end, u64::MAX);

    let mut info = MachineInfo {
        memory: MemoryMap::new("the device tree"),
        gic_distributor: 0,
        gic_cpu_interface: 0,
        cpus: [0; MAX_CPUS],
        cpu_count: 0,
        psci: None,
    };
    let memory_nodes = fdt
        .all_nodes()
        .filter(|node| node.property("device_type").and_then(|p| p.as_str()) == Some("memory"));
    for node in memory_nodes {
        for region in node.reg().into_iter().flatten() {
            let base = region.starting_address as u64;
            let end = base.saturating_add(region.size.unwrap_or(0) as u64);
            push_ram(&mut info.memory, &reserved, base, end);
        }
    }
    assert!(
        !info.memory.regions().is_empty(),
        "the device tree lists no memory"
    );

    let gic = fdt
        .find_compatible(&["arm,cortex-a15-gic", "arm,gic-400"])
        .expect("the device tree has no GICv2 (QEMU virt without gic-version=3 has one)");
    let mut frames = gic
        .reg()
        .into_iter()
        .flatten()
        .map(|r| r.starting_address as u64);
    match (frames.next(), frames.next()) {
        (Some(distributor), Some(cpu_interface)) => {
            info.gic_distributor = distributor;
            info.gic_cpu_interface = cpu_interface;
        }
        _ => panic!("the GIC node lacks its distributor and CPU interface registers"),
    }

    let enabled = |cpu: &fdt::standard_nodes::Cpu<'_, '_>| {
        cpu.property("status").and_then(|p| p.as_str()) != Some("disabled")
    };
    for cpu in fdt.cpus().filter(enabled) {
        if let Some(slot) = info.cpus.get_mut(info.cpu_count) {
            *slot = cpu.ids().first() as u64;
        }
        info.cpu_count += 1;
    }
    info.psci = fdt.find_node("/psci").and_then(|node| {
        let conduit = match node.property("method").and_then(|p| p.as_str()) {
            Some("hvc") => PsciConduit::Hvc,
            Some("smc") => PsciConduit::Smc,
            _ => return None,
        };
        // PSCI 0.2 and later fix the function IDs; only the first version's binding
        // ("arm,psci" alone) names them in properties.
        let standard_ids = node
            .compatible()
            .is_some_and(|compatible| compatible.all().any(|c| c != "arm,psci"));
        let cpu_on = match node.property("cpu_on").and_then(|p| p.as_usize()) {
            Some(id) if !standard_ids => id as u32,
            _ => PSCI_CPU_ON_64,
        };
        Some(Psci { conduit, cpu_on })
    });
    info
}

/// Physical ranges inside RAM that are not handed out.
#[derive(Default)]
struct Reserved {
    ranges: [(u64, u64); MAX_RESERVED],
    count: usize,
}

impl Reserved {
    fn add(&mut self, base: u64, end: u64) {
        if end <= base {
            return;
        }
        assert!(
            self.count < MAX_RESERVED,
            "more than {MAX_RESERVED} reserved ranges in RAM (device tree reservations)"
        );
        self.ranges[self.count] = (base, end);
        self.count += 1;
    }

    /// The first reserved range that overlaps `[base, end)`, lowest base first.
    fn first_overlap(&self, base: u64, end: u64) -> Option<(u64, u64)> {
        self.ranges[..self.count]
            .iter()
            .copied()
            .filter(|&(b, e)| b < end && e > base)
            .min_by_key(|&(b, _)| b)
    }
}

/// Lists RAM `[base, end)`: the parts outside every reserved range usable, the rest not.
fn push_ram(map: &mut MemoryMap, reserved: &Reserved, base: u64, end: u64) {
    let mut cursor = base;
    while cursor < end {
        match reserved.first_overlap(cursor, end) {
            None => {
                map.push(cursor, end, true);
                cursor = end;
            }
            Some((b, _)) if b > cursor => {
                map.push(cursor, b, true);
                cursor = b;
            }
            Some(_) => {
                // The reservation covers cursor: skip to where no reservation covers it.
                let mut stop = cursor;
                while let Some((_, e)) = reserved.first_overlap(stop, stop + 1) {
                    stop = e.min(end);
                    if stop == end {
                        break;
                    }
                }
                map.push(cursor, stop, false);
                cursor = stop;
            }
        }
    }
}
