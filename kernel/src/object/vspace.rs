//! Address spaces: VSpace roots, user-supplied page tables, frame mappings and the page-table walk.
//!
//! Levels follow the schema: a level-`L` PageTable (1 = last level, covering 2 MiB; 3 =
//! the top-but-one, covering 512 GiB) is installed in an entry of the table one level up,
//! the VSpace root being level 4. The kernel never allocates page tables for user space:
//! `map_frame` and `map_table` fail with `MissingTable` naming the level that is needed.
//! Every mapping (frame or table) holds its VSpace, so a VSpace with mappings cannot be
//! destroyed.
//!
//! Lifetime rules (docs/CONTRACTS.md, "Kernel object semantics"):
//! * Every present user entry has exactly one *owner*: the capability slot whose mapping
//!   record names the entry, kept in the table's second page beside the entry
//!   ([`owner`]), or [`BOOT_OWNER`] for the root task's boot mappings, which no capability
//!   names. A record and its entry are made and removed together, and moving the
//!   capability moves the owner ([`rehome`]); so a record is never stale, and removing a
//!   mapping removes exactly the entry its own capability made.
//! * A page table has entries only while it is installed. Detaching it (deleting its
//!   installed capability) empties it first, clearing the records of the capabilities
//!   that mapped into it ([`unmap_table_mapping`]); `PageTable.unmap` refuses a table that
//!   maps anything. So no page table can reach memory once its object is gone, and a
//!   table installed anew maps nothing.

use abi::{Error, ObjectType, PAGE_SIZE, Rights, USER_TOP};
use kerncore::{Mapping, ObjectRef};

use super::phys_ptr;
use crate::arch::mmu;

/// Highest level a user-supplied page table can have.
pub const MAX_TABLE_LEVEL: u8 = (mmu::LEVELS - 1) as u8;

/// A failed walk: the schema level of the table that is missing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MissingTable(pub u8);

pub fn read_entry(table: u64, index: usize) -> u64 {
    debug_assert!(index < mmu::ENTRIES);
    // SAFETY: `table` is a live page table (a VSpace root or an installed PageTable) of
    // ENTRIES u64 entries, reached through the direct map.
    unsafe { phys_ptr::<u64>(table).add(index).read_volatile() }
}

fn write_entry(table: u64, index: usize, entry: u64) {
    debug_assert!(index < mmu::ENTRIES);
    // SAFETY: As in read_entry; the kernel is the only writer of page tables.
    unsafe { phys_ptr::<u64>(table).add(index).write_volatile(entry) };
}

/// The owner of a present user entry: the physical address of the capability slot that
/// records the mapping, or [`BOOT_OWNER`].
pub type Owner = u64;

/// The owner of the root task's boot mappings, which no capability names. Slots are
/// 32-byte aligned, so no slot has this address.
pub const BOOT_OWNER: Owner = 1;

/// The owner recorded for entry `index` of `table` (0 when the entry is empty).
pub fn owner(table: u64, index: usize) -> Owner {
    debug_assert!(index < mmu::ENTRIES);
    // SAFETY: Page tables and VSpace roots are PAGE_TABLE_SIZE_BITS objects: the hardware
    // table, then ENTRIES owner words, all reached through the direct map.
    unsafe { phys_ptr::<u64>(table + PAGE_SIZE).add(index).read() }
}

fn set_entry(table: u64, index: usize, entry: u64, owner: Owner) {
    write_entry(table, index, entry);
    // SAFETY: As in `owner`.
    unsafe { phys_ptr::<u64>(table + PAGE_SIZE).add(index).write(owner) };
}

/// Clears the mapping record of the capability in the slot at `owner` (after the kernel
/// removed the entry the record names).
fn clear_record(owner: Owner) {
    if owner != BOOT_OWNER {
        super::cnode::clear_mapping_record(owner);
    }
}

/// Initialises a freshly zeroed VSpace root: empty user half, the kernel half shared.
pub fn init(paddr: u64) {
    // SAFETY: The caller just retyped this page-aligned 4 KiB object and owns it.
    unsafe { mmu::new_root(phys_ptr::<u64>(paddr)) };
}

/// Walks from `root` to the table at `mmu_level` (0 = last level) that translates `vaddr`.
fn walk_to(root: u64, vaddr: u64, mmu_level: usize) -> Result<u64, MissingTable> {
    let mut table = root;
    for level in (mmu_level + 1..mmu::LEVELS).rev() {
        let entry = read_entry(table, mmu::index(vaddr, level));
        if !mmu::entry_present(entry) || mmu::entry_is_huge(entry) {
            // The entry at mmu level `level` would point at a schema-level-`level` table.
            return Err(MissingTable(level as u8));
        }
        table = mmu::entry_paddr(entry);
    }
    Ok(table)
}

/// The leaf entry that maps `vaddr` in `root`, if the page is mapped.
pub fn leaf(root: u64, vaddr: u64) -> Option<u64> {
    let table = walk_to(root, vaddr, 0).ok()?;
    let entry = read_entry(table, mmu::index(vaddr, 0));
    mmu::entry_present(entry).then_some(entry)
}

/// Whether a page table maps nothing.
pub fn table_is_empty(table: u64) -> bool {
    (0..mmu::ENTRIES).all(|index| !mmu::entry_present(read_entry(table, index)))
}

fn vspace_ref(root: u64) -> ObjectRef {
    ObjectRef {
        object_type: ObjectType::VSpace,
        paddr: root,
    }
}

/// Why a map operation failed: an ABI error, or a missing table at a level.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MapError {
    /// The operation failed with this error.
    Error(Error),
    /// A table of this schema level is missing.
    Missing(u8),
}

impl From<Error> for MapError {
    fn from(error: Error) -> MapError {
        MapError::Error(error)
    }
}

/// Maps the frame at `frame` into `root` at `vaddr` with `rights` on behalf of `owner`;
/// returns the mapping to record in the owner's capability.
pub fn map_frame(
    root: u64,
    frame: u64,
    vaddr: u64,
    rights: Rights,
    owner: Owner,
) -> Result<Mapping, MapError> {
    if !vaddr.is_multiple_of(PAGE_SIZE) || vaddr >= USER_TOP {
        return Err(Error::InvalidArgument.into());
    }
    let table = walk_to(root, vaddr, 0).map_err(|MissingTable(level)| MapError::Missing(level))?;
    let index = mmu::index(vaddr, 0);
    if mmu::entry_present(read_entry(table, index)) {
        return Err(Error::AlreadyMapped.into());
    }
    super::hold(vspace_ref(root))?;
    set_entry(table, index, mmu::page_entry(frame, rights), owner);
    Ok(Mapping {
        vspace: root,
        vaddr,
        level: 0,
    })
}

/// Where the entry a mapping record names lies: its table and index. A record is never
/// stale (see the module documentation), so a walk that fails is a broken invariant.
fn entry_of(mapping: Mapping) -> (u64, usize) {
    let level = usize::from(mapping.level);
    let table = walk_to(mapping.vspace, mapping.vaddr, level).unwrap_or_else(|MissingTable(missing)| {
        panic!(
            "invariant broken: mapping record {mapping:?} names no entry (level {missing} table missing)"
        )
    });
    (table, mmu::index(mapping.vaddr, level))
}

/// The entry a mapping record of `owner` names, checked against the object it maps.
fn owned_entry(object: u64, mapping: Mapping, owner: Owner) -> (u64, usize) {
    let (table, index) = entry_of(mapping);
    let entry = read_entry(table, index);
    if !mmu::entry_present(entry)
        || mmu::entry_paddr(entry) != object
        || self::owner(table, index) != owner
    {
        panic!(
            "invariant broken: mapping record {mapping:?} of slot {owner:#x} does not match entry {entry:#x} (owner {:#x})",
            self::owner(table, index)
        );
    }
    (table, index)
}

/// Removes the frame mapping recorded in `owner`'s capability, flushes it and drops the
/// VSpace hold. The caller clears the record.
pub fn unmap_frame_mapping(frame: u64, mapping: Mapping, owner: Owner) {
    let (table, index) = owned_entry(frame, mapping, owner);
    set_entry(table, index, 0, 0);
    flush(mapping.vspace, mapping.vaddr);
    super::unhold(vspace_ref(mapping.vspace));
}

/// Records that the capability recording `mapping` moved from the slot at `from` to `to`.
pub fn rehome(object: u64, mapping: Mapping, from: Owner, to: Owner) {
    let (table, index) = owned_entry(object, mapping, from);
    set_entry(table, index, read_entry(table, index), to);
}

/// Installs the page table at `table` (schema `level`, 1..=3) in `root` so that it covers
/// `vaddr`, on behalf of `owner`; returns the mapping to record in the owner's capability.
pub fn map_table(
    root: u64,
    table: u64,
    vaddr: u64,
    level: u8,
    owner: Owner,
) -> Result<Mapping, MapError> {
    if !(1..=MAX_TABLE_LEVEL).contains(&level) || vaddr >= USER_TOP {
        return Err(Error::InvalidArgument.into());
    }
    let table_ref = ObjectRef {
        object_type: ObjectType::PageTable,
        paddr: table,
    };
    if super::with_counts(table_ref, |counts| counts.holders).unwrap_or(0) != 0 {
        // Installed through another capability already: a table has one place.
        return Err(Error::AlreadyMapped.into());
    }
    let parent_level = usize::from(level);
    let parent = walk_to(root, vaddr, parent_level)
        .map_err(|MissingTable(level)| MapError::Missing(level))?;
    let index = mmu::index(vaddr, parent_level);
    if mmu::entry_present(read_entry(parent, index)) {
        return Err(Error::AlreadyMapped.into());
    }
    assert!(
        table_is_empty(table),
        "invariant broken: detached page table {table:#x} still maps something"
    );
    super::hold(vspace_ref(root))?;
    if let Err(error) = super::hold(table_ref) {
        super::unhold(vspace_ref(root));
        return Err(error.into());
    }
    set_entry(parent, index, mmu::table_entry(table), owner);
    let covered = 1u64 << (12 + 9 * parent_level);
    Ok(Mapping {
        vspace: root,
        vaddr: vaddr & !(covered - 1),
        level,
    })
}

/// Detaches the installed page table recorded in `owner`'s capability: removes its entry,
/// empties it (see [`empty_table`]), flushes the address space and drops the holds. The
/// caller clears the record.
pub fn unmap_table_mapping(table: u64, mapping: Mapping, owner: Owner) {
    let (parent, index) = owned_entry(table, mapping, owner);
    set_entry(parent, index, 0, 0);
    empty_table(table, mapping.level, mapping.vspace);
    // Translations through the table (and whatever it mapped) must not outlive it, on any
    // CPU.
    mmu::flush_address_space(mapping.vspace);
    crate::smp::shootdown(mapping.vspace, crate::smp::TlbAction::Flush);
    super::unhold(ObjectRef {
        object_type: ObjectType::PageTable,
        paddr: table,
    });
    super::unhold(vspace_ref(mapping.vspace));
}

/// Removes every entry of the just-detached table `table` (schema `level`) of `vspace`:
/// each owner's record is cleared, each mapping's VSpace hold dropped, and tables it held
/// are detached and emptied in turn (at most two levels further down).
fn empty_table(table: u64, level: u8, vspace: u64) {
    for index in 0..mmu::ENTRIES {
        let entry = read_entry(table, index);
        if !mmu::entry_present(entry) {
            continue;
        }
        let owner = owner(table, index);
        set_entry(table, index, 0, 0);
        clear_record(owner);
        if level > 1 {
            let child = mmu::entry_paddr(entry);
            empty_table(child, level - 1, vspace);
            super::unhold(ObjectRef {
                object_type: ObjectType::PageTable,
                paddr: child,
            });
        }
        super::unhold(vspace_ref(vspace));
    }
}

/// Tears a VSpace root down before its frame returns to the untyped. It maps nothing by
/// now (every mapping holds it), but it may still be the loaded root, with translations
/// cached from earlier mappings; a new root in the same frame must not find them, so it is
/// switched away from and flushed, here and on every other CPU that loaded it last. The
/// running thread's own address space is loaded again (it is a different one: a VSpace
/// that a thread uses cannot be destroyed).
pub fn destroy(root: u64) {
    mmu::retire_root(root);
    crate::smp::shootdown(root, crate::smp::TlbAction::Retire);
    crate::sched::activate_current_vspace();
}

/// The rights of the mapping of `vaddr` in `root`; `NotMapped` when there is none.
pub fn lookup(root: u64, vaddr: u64) -> Result<Rights, Error> {
    if vaddr >= USER_TOP {
        return Err(Error::InvalidArgument);
    }
    leaf(root, vaddr)
        .map(mmu::entry_rights)
        .ok_or(Error::NotMapped)
}

/// Drops stale translations of `vaddr` after a change in `root`, on every CPU, before the
/// syscall returns. Only a CPU's active address space can have live ones (see
/// `mmu::flush_address_space`: x86_64 reloads CR3 on every switch, aarch64 hands out a
/// fresh ASID): this CPU flushes the page, the others that loaded `root` last flush it
/// whole (`smp::shootdown`).
fn flush(root: u64, vaddr: u64) {
    if mmu::current_root() == root {
        mmu::flush_page(vaddr);
    }
    crate::smp::shootdown(root, crate::smp::TlbAction::Flush);
}
