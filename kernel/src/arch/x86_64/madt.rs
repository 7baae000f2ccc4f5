//! The CPUs the firmware lists in the ACPI MADT, read with the `acpi` crate from the RSDP the PVH start info names (or the BIOS area).

use core::ptr::NonNull;

use acpi::madt::{Madt, MadtEntry};
use acpi::{AcpiHandler, AcpiTables, PhysicalMapping};

use super::phys_to_virt;

/// MADT Local APIC / Local x2APIC flags: the CPU can be used now. (A CPU only marked
/// online-capable is absent until hot-plugged, so it is not started.)
const FLAG_ENABLED: u32 = 1 << 0;

/// The `acpi` crate reaches tables through the direct map, which covers them (QEMU places
/// them in RAM below 4 GiB); nothing needs unmapping.
#[derive(Clone, Copy, Debug)]
struct DirectMap;

impl AcpiHandler for DirectMap {
    unsafe fn map_physical_region<T>(&self, paddr: usize, size: usize) -> PhysicalMapping<Self, T> {
        let virt = NonNull::new(phys_to_virt(paddr as u64) as *mut T)
            .expect("the direct map never maps a table at address 0");
        // SAFETY: The direct map maps every physical address below its end, `size` bytes
        // from `paddr` included (phys_to_virt panics beyond it).
        unsafe { PhysicalMapping::new(paddr, virt, size, size, *self) }
    }

    fn unmap_physical_region<T>(_region: &PhysicalMapping<Self, T>) {}
}

/// Calls `cpu` with the APIC ID of every usable processor the MADT lists, in table
/// order (the boot CPU among them). `rsdp` is the RSDP's physical address from the PVH
/// start info, 0 if it named none (then the BIOS area is searched). Panics without a
/// usable MADT: a machine without one cannot be brought up.
pub fn for_each_apic_id(rsdp: u64, mut cpu: impl FnMut(u32)) {
    // SAFETY: The PVH start info names the RSDP (checked by the crate), or this is a BIOS
    // machine whose RSDP lies in the areas the crate searches; both are in the direct map.
    let tables = unsafe {
        if rsdp != 0 {
            AcpiTables::from_rsdp(DirectMap, rsdp as usize)
        } else {
            AcpiTables::search_for_rsdp_bios(DirectMap)
        }
    }
    .unwrap_or_else(|error| panic!("no usable ACPI tables (RSDP {rsdp:#x}): {error:?}"));
    let madt = tables
        .find_table::<Madt>()
        .unwrap_or_else(|error| panic!("no usable ACPI MADT: {error:?}"));
    for entry in madt.get().entries() {
        let (id, flags) = match entry {
            MadtEntry::LocalApic(entry) => (u32::from(entry.apic_id), entry.flags),
            MadtEntry::LocalX2Apic(entry) => (entry.x2apic_id, entry.flags),
            _ => continue,
        };
        if flags & FLAG_ENABLED != 0 {
            cpu(id);
        }
    }
}
