//! Address spaces: VSpace roots, user-supplied page tables, frame mappings and the page-table walk.
//!
//! Levels follow the schema: a level-`L` PageTable (1 = last level, covering 2 MiB; 3 =
//! the top-but-one, covering 512 GiB) is installed in an entry of the table one level up,
//! the VSpace root being level 4. The kernel never allocates page tables for user space:
//! `map_frame` and `map_table` fail with `MissingTable` naming the level that is needed.
//! Every mapping (frame or table) holds its VSpace, so a VSpace with mappings cannot be
//! destroyed; a page table that maps anything cannot be unmapped (but deleting its
//! capability detaches it, see [`unmap_table_mapping`]).

use abi::{Error, ObjectType, PAGE_SIZE, Rights, USER_TOP};
use kerncore::{Mapping, ObjectRef};

use super::phys_ptr;
use crate::arch::mmu;

/// Highest level a user-supplied page table can have.
pub const MAX_TABLE_LEVEL: u8 = (mmu::LEVELS - 1) as u8;

/// A failed walk: the schema level of the table that is missing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MissingTable(pub u8);

fn read_entry(table: u64, index: usize) -> u64 {
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

/// Maps the frame at `frame` into `root` at `vaddr` with `rights`; returns the mapping to
/// record in the frame capability.
pub fn map_frame(root: u64, frame: u64, vaddr: u64, rights: Rights) -> Result<Mapping, MapError> {
    if !vaddr.is_multiple_of(PAGE_SIZE) || vaddr >= USER_TOP {
        return Err(Error::InvalidArgument.into());
    }
    let table = walk_to(root, vaddr, 0).map_err(|MissingTable(level)| MapError::Missing(level))?;
    let index = mmu::index(vaddr, 0);
    if mmu::entry_present(read_entry(table, index)) {
        return Err(Error::AlreadyMapped.into());
    }
    super::hold(vspace_ref(root))?;
    write_entry(table, index, mmu::page_entry(frame, rights));
    Ok(Mapping {
        vspace: root,
        vaddr,
        level: 0,
    })
}

/// Removes a frame mapping recorded in a capability, flushes it and drops the VSpace hold.
pub fn unmap_frame_mapping(frame: u64, mapping: Mapping) {
    if let Ok(table) = walk_to(mapping.vspace, mapping.vaddr, 0) {
        let index = mmu::index(mapping.vaddr, 0);
        let entry = read_entry(table, index);
        if mmu::entry_present(entry) && mmu::entry_paddr(entry) == frame {
            write_entry(table, index, 0);
            flush(mapping.vspace, mapping.vaddr);
        }
    }
    super::unhold(vspace_ref(mapping.vspace));
}

/// Installs the page table at `table` (schema `level`, 1..=3) in `root` so that it covers
/// `vaddr`; returns the mapping to record in the table capability.
pub fn map_table(root: u64, table: u64, vaddr: u64, level: u8) -> Result<Mapping, MapError> {
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
    super::hold(vspace_ref(root))?;
    if let Err(error) = super::hold(table_ref) {
        super::unhold(vspace_ref(root));
        return Err(error.into());
    }
    write_entry(parent, index, mmu::table_entry(table));
    let covered = 1u64 << (12 + 9 * parent_level);
    Ok(Mapping {
        vspace: root,
        vaddr: vaddr & !(covered - 1),
        level,
    })
}

/// Removes an installed page table recorded in a capability, flushes, and drops the holds.
///
/// `PageTable.unmap` insists that the table maps nothing; deleting a mapped table's
/// capability detaches it even when it still maps something. That is safe: whatever it
/// maps becomes unreachable from the VSpace, and the capabilities of those frames and
/// tables still record their mappings, whose removal later finds no table and only drops
/// the holds.
pub fn unmap_table_mapping(table: u64, mapping: Mapping) {
    let parent_level = usize::from(mapping.level);
    if let Ok(parent) = walk_to(mapping.vspace, mapping.vaddr, parent_level) {
        let index = mmu::index(mapping.vaddr, parent_level);
        let entry = read_entry(parent, index);
        if mmu::entry_present(entry) && mmu::entry_paddr(entry) == table {
            write_entry(parent, index, 0);
            // The table may still map pages (a deleted capability detaches it anyway), and
            // their cached translations would outlive the frames: flush the whole space.
            mmu::flush_address_space(mapping.vspace);
        }
    }
    super::unhold(ObjectRef {
        object_type: ObjectType::PageTable,
        paddr: table,
    });
    super::unhold(vspace_ref(mapping.vspace));
}

/// Tears a VSpace root down before its frame returns to the untyped. It maps nothing by
/// now (every mapping holds it), but it may still be the loaded root, with translations
/// cached from earlier mappings; a new root in the same frame must not find them, so it is
/// switched away from and flushed. The running thread's own address space is loaded again
/// (it is a different one: a VSpace that a thread uses cannot be destroyed).
pub fn destroy(root: u64) {
    mmu::retire_root(root);
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

/// Drops stale translations of `vaddr` after a change in `root`. Only the active address
/// space can have live ones (see `mmu::flush_address_space`: x86_64 reloads CR3 on every
/// switch, aarch64 hands out a fresh ASID).
fn flush(root: u64, vaddr: u64) {
    if mmu::current_root() == root {
        mmu::flush_page(vaddr);
    }
}
