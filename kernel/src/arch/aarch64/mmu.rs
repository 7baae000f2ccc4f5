//! aarch64 4 KiB-granule, four-level translation: descriptors and address spaces (the geometry and `index` come from `arch/paging.rs`).
//!
//! The kernel half is TTBR1: the direct map of physical memory at
//! [`super::DIRECT_MAP_BASE`], which also holds the kernel image, shared by every address
//! space without being copied. User address spaces are TTBR0 roots, each switched in with
//! an ASID so that a switch needs no TLB flush. [`activate`] hands out a fresh ASID every
//! time it switches to a different root and flushes the whole TLB only when the ASIDs run
//! out (each CPU has its own ASIDs); a root therefore never meets stale entries of an
//! earlier address space whose table happened to live in the same frame.

pub use crate::arch::paging::{ENTRIES, LEVELS, PAGE_SIZE, index};
use core::sync::atomic::{AtomicU64, Ordering};

use crate::cell::PerCpu;
use crate::smp::MAX_CPUS;
use aarch64_cpu::asm::barrier;
use aarch64_cpu::registers::{ID_AA64MMFR0_EL1, Readable, TTBR0_EL1, TTBR1_EL1, Writeable};
use abi::Rights;

/// The first root entry user space may not use. The kernel lives in TTBR1, so a user root
/// holds no kernel entries; user mappings are kept below 2^47 as on x86_64, and
/// [`new_root`] leaves these entries empty.
pub const KERNEL_HALF_FIRST: usize = 256;

// Every user mapping lies in the root entries below KERNEL_HALF_FIRST.
const _: () = assert!(abi::USER_TOP <= (KERNEL_HALF_FIRST as u64) << 39);

/// Descriptor bits [1:0] of a next-level table (and of an L3 page).
pub const DESC_TABLE: u64 = 0b11;
const DESC_VALID: u64 = 0b01;
const DESC_TYPE_MASK: u64 = 0b11;
/// Descriptor bits [1:0] of a block at L1 or L2.
const DESC_BLOCK: u64 = 0b01;
const DESC_PAGE: u64 = 0b11;
/// MAIR index of Device-nGnRE memory.
const ATTR_DEVICE: u64 = 0;
/// MAIR index of Normal write-back memory.
const ATTR_NORMAL: u64 = 1;
/// MAIR_EL1: index 0 Device-nGnRE (0x04), index 1 Normal inner/outer write-back
/// read/write-allocate (0xff).
pub const MAIR: u64 = 0x04 | (0xff << 8);
const ATTR_INDEX_SHIFT: u64 = 2;
/// AP[1]: EL0 may access.
const AP_EL0: u64 = 1 << 6;
/// AP[2]: read-only.
const AP_READ_ONLY: u64 = 1 << 7;
const SH_INNER: u64 = 0b11 << 8;
const ACCESS_FLAG: u64 = 1 << 10;
const NOT_GLOBAL: u64 = 1 << 11;
const PXN: u64 = 1 << 53;
const UXN: u64 = 1 << 54;
/// Output address bits [47:12] of a descriptor.
const ADDRESS_MASK: u64 = ((1 << 48) - 1) & !(PAGE_SIZE - 1);

/// A kernel 1 GiB block of device memory (the first GiB of the virt machine): EL1 only,
/// never executable.
pub const KERNEL_DEVICE_BLOCK: u64 =
    DESC_BLOCK | (ATTR_DEVICE << ATTR_INDEX_SHIFT) | ACCESS_FLAG | PXN | UXN;
/// A kernel 1 GiB block of RAM in the direct map: EL1 read/write, never executable.
pub const KERNEL_NORMAL_BLOCK: u64 =
    DESC_BLOCK | (ATTR_NORMAL << ATTR_INDEX_SHIFT) | SH_INNER | ACCESS_FLAG | PXN | UXN;
/// The boot identity map's 1 GiB block around the image: EL1 read/write/execute, for the
/// few instructions between turning the MMU on and jumping to the link address.
pub const IDENTITY_BLOCK: u64 =
    DESC_BLOCK | (ATTR_NORMAL << ATTR_INDEX_SHIFT) | SH_INNER | ACCESS_FLAG | UXN;
const KERNEL_PAGE: u64 = DESC_PAGE | (ATTR_NORMAL << ATTR_INDEX_SHIFT) | SH_INNER | ACCESS_FLAG;
/// A page of kernel text: read-only, executable by EL1 only.
pub const IMAGE_TEXT_PAGE: u64 = KERNEL_PAGE | AP_READ_ONLY | UXN;
/// A page of kernel rodata: read-only, never executable.
pub const IMAGE_RODATA_PAGE: u64 = KERNEL_PAGE | AP_READ_ONLY | PXN | UXN;
/// A page of kernel data or .bss: read/write, never executable.
pub const IMAGE_DATA_PAGE: u64 = KERNEL_PAGE | PXN | UXN;

const TCR_T0SZ: u64 = 16;
const TCR_T1SZ: u64 = 16 << 16;
/// Inner and outer write-back write-allocate, inner shareable walks for TTBR0 and TTBR1.
const TCR_WALK0: u64 = (0b01 << 8) | (0b01 << 10) | (0b11 << 12);
const TCR_WALK1: u64 = (0b01 << 24) | (0b01 << 26) | (0b11 << 28);
/// TG1 = 4 KiB (TG0 = 0 is 4 KiB already).
const TCR_TG1_4K: u64 = 0b10 << 30;
/// TCR_EL1 without IPS (boot.S copies the CPU's PARange there) and AS.
pub const TCR: u64 = TCR_T0SZ | TCR_T1SZ | TCR_WALK0 | TCR_WALK1 | TCR_TG1_4K;
/// TCR_EL1.AS: 16-bit ASIDs (boot.S sets it when ID_AA64MMFR0_EL1 says they exist).
pub const TCR_AS: u64 = 1 << 36;
const TTBR_ASID_SHIFT: u64 = 48;

/// An entry pointing at the next-level table at `paddr`: the leaf entry alone decides the
/// page's rights.
pub fn table_entry(paddr: u64) -> u64 {
    assert!(
        paddr & !ADDRESS_MASK == 0,
        "page table address {paddr:#x} is not page-aligned"
    );
    paddr | DESC_TABLE
}

/// A user page entry (L3) for the frame at `paddr`: readable by EL0, writable only with
/// `Rights::WRITE`, executable by EL0 only with `Rights::EXECUTE`, never executable by the
/// kernel, tagged with the address space's ASID (not global).
pub fn page_entry(paddr: u64, rights: Rights) -> u64 {
    assert!(
        paddr & !ADDRESS_MASK == 0,
        "frame address {paddr:#x} is not page-aligned"
    );
    let mut entry = paddr
        | DESC_PAGE
        | (ATTR_NORMAL << ATTR_INDEX_SHIFT)
        | SH_INNER
        | ACCESS_FLAG
        | NOT_GLOBAL
        | AP_EL0
        | PXN;
    if !rights.contains(Rights::WRITE) {
        entry |= AP_READ_ONLY;
    }
    if !rights.contains(Rights::EXECUTE) {
        entry |= UXN;
    }
    entry
}

/// The rights a present leaf entry grants (READ always, WRITE, EXECUTE).
pub fn entry_rights(entry: u64) -> Rights {
    let mut rights = Rights::READ;
    if entry & AP_READ_ONLY == 0 {
        rights = rights.union(Rights::WRITE);
    }
    if entry & UXN == 0 {
        rights = rights.union(Rights::EXECUTE);
    }
    rights
}

/// Whether the entry maps something.
pub fn entry_present(entry: u64) -> bool {
    entry & DESC_VALID != 0
}

/// Whether a present non-leaf-level entry maps a block rather than a table.
pub fn entry_is_huge(entry: u64) -> bool {
    entry & DESC_TYPE_MASK == DESC_BLOCK
}

/// The physical address an entry points at.
pub fn entry_paddr(entry: u64) -> u64 {
    entry & ADDRESS_MASK
}

unsafe extern "C" {
    static boot_l0: u8;
    static boot_empty_l0: u8;
}

/// Physical address of the kernel's own root (the TTBR1 table of the direct map).
pub fn kernel_root() -> u64 {
    super::virt_to_phys((&raw const boot_l0) as usize)
}

/// Initialises a new user root table: every entry empty. The kernel half is TTBR1 and is
/// not part of user roots.
///
/// # Safety
/// `root_virt` must point to a writable, page-aligned 4 KiB table owned by the caller.
pub unsafe fn new_root(root_virt: *mut u64) {
    for i in 0..ENTRIES {
        // SAFETY: The caller owns the 512-entry table.
        unsafe { root_virt.add(i).write(0) };
    }
}

/// ASID bookkeeping of one CPU: the next ASID to hand out. Each CPU has its own: a TLB
/// holds only the translations its own CPU walked, so an ASID needs to be unique per
/// CPU only, and a CPU that runs out flushes its own TLB (`flush_all`) and starts over.
/// Broadcast invalidations by ASID (`tlbi aside1is`) then may also hit another CPU's
/// unrelated entries under the same number, which only costs a walk.
struct Asids {
    next: u64,
}

/// Each CPU touches only its own, with interrupts off.
static ASIDS: PerCpu<Asids> = PerCpu::new([const { Asids { next: 1 } }; MAX_CPUS]);

/// How many ASIDs the CPUs have (8 or 16 bits), set once in [`init`].
static ASID_COUNT: AtomicU64 = AtomicU64::new(0);

/// Sets up ASID allocation from what the CPU supports and leaves TTBR0 on an empty table
/// (the boot identity map is gone from then on). Call once in `init_early`.
pub fn init() {
    let asid_bits = if ID_AA64MMFR0_EL1.matches_all(ID_AA64MMFR0_EL1::ASIDBits::Bits_16) {
        16
    } else {
        8
    };
    ASID_COUNT.store(1 << asid_bits, Ordering::Relaxed);
    assert!(
        TTBR1_EL1.get() & ADDRESS_MASK == kernel_root(),
        "TTBR1 does not hold the boot direct-map table"
    );
    drop_identity_map();
}

/// Leaves TTBR0 on the empty boot table (ASID 0): the boot identity map, which a CPU
/// turns its MMU on with, is gone for it from then on. Call on every CPU.
pub fn drop_identity_map() {
    let empty = super::virt_to_phys((&raw const boot_empty_l0) as usize);
    // The kernel runs only from TTBR1 addresses by now; an empty TTBR0 table (ASID 0) only
    // removes the identity map, whose entries the flush below drops from the TLB.
    load_ttbr0(empty);
    flush_all();
}

/// Drops every cached stage-1 EL1&0 translation of this CPU, in every ASID.
fn flush_all() {
    // SAFETY: Flushing the TLB only drops cached translations.
    unsafe {
        core::arch::asm!(
            "dsb ishst",
            "tlbi vmalle1",
            "dsb ish",
            "isb",
            options(nostack, preserves_flags)
        )
    };
}

/// Switches to the user address space whose root is at `root_paddr`, under a fresh ASID.
///
/// # Safety
/// `root_paddr` must be a table made by [`new_root`] that stays alive while it is active.
pub unsafe fn activate(root_paddr: u64) {
    if current_root() == root_paddr {
        return;
    }
    // SAFETY: The running CPU's own allocator, with interrupts off in the kernel.
    let asids = unsafe { &mut *ASIDS.get(super::cpu_index()) };
    if asids.next >= ASID_COUNT.load(Ordering::Relaxed) {
        // Every ASID was used since the last flush: start over with a clean TLB. ASID 0
        // stays with the empty boot table.
        flush_all();
        asids.next = 1;
    }
    let asid = asids.next;
    asids.next += 1;
    // The caller guarantees a valid root; the kernel half is TTBR1 and unaffected.
    load_ttbr0(root_paddr | (asid << TTBR_ASID_SHIFT));
}

/// Loads TTBR0_EL1 (root address and ASID) and synchronises the context.
fn load_ttbr0(value: u64) {
    TTBR0_EL1.set(value);
    barrier::isb(barrier::SY);
}

/// The physical address of the active user root.
pub fn current_root() -> u64 {
    TTBR0_EL1.get() & ADDRESS_MASK
}

/// The ASID the loaded user root runs under.
fn current_asid() -> u64 {
    TTBR0_EL1.get() >> TTBR_ASID_SHIFT
}

/// Drops every cached translation (TLB and walk caches) tagged with `asid`, after making
/// earlier page-table writes visible to the table walker.
fn flush_asid(asid: u64) {
    // SAFETY: TLB maintenance only invalidates cached translations.
    unsafe {
        core::arch::asm!(
            "dsb ishst",
            "tlbi aside1is, {}",
            "dsb ish",
            "isb",
            in(reg) asid << TTBR_ASID_SHIFT,
            options(nostack, preserves_flags)
        )
    };
}

/// Drops every cached translation of the user address space whose root is at
/// `root_paddr`. Only its current ASID can hold live ones: [`activate`] gives a root a
/// fresh ASID on every switch and reuses none before flushing the whole TLB, so entries
/// tagged with its earlier ASIDs can never be used again. So this flushes the loaded
/// root's ASID if `root_paddr` is loaded and does nothing otherwise.
pub fn flush_address_space(root_paddr: u64) {
    if current_root() == root_paddr {
        flush_asid(current_asid());
    }
}

/// Stops using the root at `root_paddr`, whose frame is about to be freed: if it is loaded,
/// switches TTBR0 to the empty boot table (ASID 0) and flushes the ASID it ran under.
/// Afterwards no translation of that address space can be used, so a new root in the same
/// frame starts clean even though [`activate`] skips loading an already loaded root.
pub fn retire_root(root_paddr: u64) {
    if current_root() != root_paddr {
        return;
    }
    let asid = current_asid();
    let empty = super::virt_to_phys((&raw const boot_empty_l0) as usize);
    // The kernel runs from TTBR1 addresses; the empty table only removes user
    // translations, and the caller activates a live address space again before user
    // memory is touched.
    load_ttbr0(empty);
    flush_asid(asid);
}

/// Drops the TLB entries for `vaddr` (in every ASID), after making earlier page-table
/// writes visible to the table walker.
pub fn flush_page(vaddr: u64) {
    // SAFETY: TLB maintenance only invalidates cached translations.
    unsafe {
        core::arch::asm!(
            "dsb ishst",
            "tlbi vaae1is, {}",
            "dsb ish",
            "isb",
            in(reg) (vaddr >> 12) & ((1 << 44) - 1),
            options(nostack, preserves_flags)
        )
    };
}

/// A kernel entry pointing at the next-level table at `paddr`: for the kernel's own
/// tables, such as the direct map's (the same encoding as [`table_entry`]).
pub fn kernel_table_entry(paddr: u64) -> u64 {
    table_entry(paddr)
}

/// The direct map's leaf entry for physical `paddr` in a level-`level` table (0: a 4 KiB
/// page, 1: a 2 MiB block, 2: a 1 GiB block): Normal memory, EL1 read/write, never
/// executable.
pub fn direct_leaf_entry(paddr: u64, level: usize) -> u64 {
    if level == 0 {
        paddr | IMAGE_DATA_PAGE
    } else {
        paddr | KERNEL_NORMAL_BLOCK
    }
}

/// Replaces a live entry of the kernel's direct map that maps a block with one pointing
/// at a table mapping the same memory with the same attributes, by break-before-make:
/// the entry is invalidated and the whole TLB flushed before the table goes in. Until
/// then the block's memory is unmapped, so the entry is written through the kernel
/// image's mapping when it lies in the image (the boot tables do), and it must not lie in
/// the memory the block maps otherwise; the code between the two writes touches neither
/// memory nor the stack.
///
/// # Safety
/// `entry` must be a live direct-map entry of a block whose memory nothing uses while
/// this runs (apart from the kernel image, which has its own mapping) and `new` must
/// translate every address it covers exactly as the old entry did.
pub unsafe fn replace_direct_entry(entry: *mut u64, new: u64) {
    let entry_paddr = super::virt_to_phys(entry as usize);
    let image = super::kernel_phys_range();
    let writable = if image.contains(&entry_paddr) {
        super::KERNEL_VIRT_BASE + entry_paddr
    } else {
        entry as u64
    };
    // SAFETY: `writable` is the entry, through a mapping that the break does not remove
    // (the image mapping, or a direct-map page outside the block, as the caller
    // guarantees). Nothing between the two stores accesses memory. Interrupts are masked
    // in the kernel.
    unsafe {
        core::arch::asm!(
            "str xzr, [{entry}]",
            "dsb ishst",
            "tlbi vmalle1is",
            "dsb ish",
            "isb",
            "str {new}, [{entry}]",
            "dsb ishst",
            "isb",
            entry = in(reg) writable,
            new = in(reg) new,
            options(nostack, preserves_flags)
        )
    };
}

/// Drops every cached translation of this CPU (the kernel half included).
pub fn flush_kernel() {
    flush_all();
}

/// Another CPU's TLB shootdown of the user root `root` (`crate::smp::shootdown`), on this
/// CPU: if `root` is loaded here, flushes its translations or retires it.
pub fn remote_flush(root: u64, action: crate::smp::TlbAction) {
    if current_root() != root {
        return;
    }
    match action {
        crate::smp::TlbAction::Flush => flush_address_space(root),
        crate::smp::TlbAction::Retire => retire_root(root),
    }
}
