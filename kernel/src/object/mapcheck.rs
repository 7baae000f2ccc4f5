//! The mapping checker behind `KernelDebug.check_mappings`: page tables reach only live objects that record the mapping.
//!
//! Beside the frame checker (which verifies frame *states*), this one verifies what user
//! space can *reach*. It finds every VSpace, PageTable and TCB through the frame table and
//! checks the lifetime rules of `object::vspace`:
//!
//! * every present user entry points at a live object of the kind its level needs (a
//!   Frame at the last level, a PageTable above), never at free, untyped or retyped memory;
//! * its owner is a live slot whose capability names that object and records exactly this
//!   mapping (VSpace, address, level), or the root task's boot mappings' owner;
//! * an empty entry has no owner; an installed table is reachable exactly once and holds
//!   one hold; a detached table maps nothing;
//! * a VSpace's holds are its mappings plus the threads that run in it, and the number of
//!   capabilities that record a mapping (counted where slots are written,
//!   `cnode::mapping_records`) equals the entries they own, so no mapping record exists
//!   without its entry;
//! * every live TCB's kernel-stack guard page is unmapped from the kernel's direct map.

use core::fmt;

use abi::{Error, ObjectType, PAGE_BITS, PAGE_SIZE, PAGE_TABLE_SIZE_BITS, TCB_SIZE_BITS, USER_TOP};
use kerncore::{FrameState, Mapping, ObjectRef, Owner, Slot};

use super::vspace::{self, BOOT_OWNER};
use super::{frames, phys_ptr, tcb};
use crate::arch::mmu;

/// A broken mapping invariant, with where it was found.
#[derive(Clone, Copy, Debug)]
pub enum MappingError {
    /// An empty entry still names an owner.
    StaleOwner { table: u64, index: usize },
    /// A present user entry maps a large page; kernite never makes one.
    HugeEntry { table: u64, index: usize },
    /// A present entry points at memory that is not a live object of the right kind.
    DeadTarget {
        vaddr: u64,
        level: usize,
        target: u64,
        found: Option<FrameState>,
    },
    /// The owner is not a live capability slot.
    BadOwner {
        vaddr: u64,
        level: usize,
        owner: u64,
    },
    /// The owner's capability does not record this mapping of this object.
    RecordMismatch {
        vaddr: u64,
        level: usize,
        owner: u64,
    },
    /// An installed table does not hold exactly one hold.
    TableHolds { table: u64, holders: u32 },
    /// A table that is not installed maps something.
    DetachedNotEmpty { table: u64 },
    /// Installed tables found by walking differ from tables that count an installation.
    InstalledCount { reached: u64, installed: u64 },
    /// Capabilities that record a mapping differ from the entries capabilities own.
    RecordCount { records: u64, owned: u64 },
    /// A live TCB's kernel-stack guard page is mapped in the direct map.
    GuardMapped { thread: u64 },
    /// A VSpace's holds differ from its mappings plus the threads in it.
    VSpaceHolds {
        root: u64,
        holders: u32,
        mappings: u64,
        threads: u64,
    },
}

impl fmt::Display for MappingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            MappingError::StaleOwner { table, index } => {
                write!(
                    f,
                    "empty entry {index} of table {table:#x} still names an owner"
                )
            }
            MappingError::HugeEntry { table, index } => {
                write!(f, "entry {index} of table {table:#x} maps a large page")
            }
            MappingError::DeadTarget {
                vaddr,
                level,
                target,
                found,
            } => write!(
                f,
                "level-{level} entry for {vaddr:#x} points at {target:#x}, which is {found:?}, not a live object of its kind"
            ),
            MappingError::BadOwner {
                vaddr,
                level,
                owner,
            } => write!(
                f,
                "level-{level} entry for {vaddr:#x} has owner {owner:#x}, which is not a live capability slot"
            ),
            MappingError::RecordMismatch {
                vaddr,
                level,
                owner,
            } => write!(
                f,
                "level-{level} entry for {vaddr:#x}: the capability in slot {owner:#x} does not record it"
            ),
            MappingError::TableHolds { table, holders } => {
                write!(f, "installed table {table:#x} has {holders} holds, not 1")
            }
            MappingError::DetachedNotEmpty { table } => {
                write!(f, "detached table {table:#x} still maps something")
            }
            MappingError::InstalledCount { reached, installed } => write!(
                f,
                "{reached} installed tables reachable from VSpaces, but {installed} count an installation"
            ),
            MappingError::RecordCount { records, owned } => write!(
                f,
                "{records} capabilities record a mapping, but capabilities own {owned} entries"
            ),
            MappingError::GuardMapped { thread } => write!(
                f,
                "the kernel-stack guard page of TCB {thread:#x} is mapped in the direct map"
            ),
            MappingError::VSpaceHolds {
                root,
                holders,
                mappings,
                threads,
            } => write!(
                f,
                "VSpace {root:#x} has {holders} holds, but {mappings} mappings and {threads} threads"
            ),
        }
    }
}

/// Runs the checker; returns the number of present user entries it verified. A failure is
/// a broken kernel invariant: it is reported on the console and to the caller.
pub fn check_mappings() -> Result<u64, Error> {
    check().map_err(|error| {
        crate::println!("mapping check FAILED: {error}");
        Error::IllegalOperation
    })
}

fn check() -> Result<u64, MappingError> {
    let mut entries = 0;
    let mut owned = 0;
    let mut reached_tables = 0;
    for root in objects(ObjectType::VSpace, PAGE_TABLE_SIZE_BITS) {
        let mut walk = Walk {
            root,
            entries: 0,
            owned: 0,
            tables: 0,
        };
        walk.table(root, mmu::LEVELS - 1, 0)?;
        let threads = objects(ObjectType::Tcb, TCB_SIZE_BITS)
            .filter(|&thread| tcb::with_tcb(thread, |tcb| tcb.vspace) == root)
            .count() as u64;
        let holders = holders(ObjectType::VSpace, root);
        if u64::from(holders) != walk.entries + threads {
            return Err(MappingError::VSpaceHolds {
                root,
                holders,
                mappings: walk.entries,
                threads,
            });
        }
        entries += walk.entries;
        owned += walk.owned;
        reached_tables += walk.tables;
    }
    for thread in objects(ObjectType::Tcb, TCB_SIZE_BITS) {
        if crate::arch::direct_page_is_mapped(thread + tcb::GUARD_OFFSET as u64) {
            return Err(MappingError::GuardMapped { thread });
        }
    }
    let mut installed = 0;
    for table in objects(ObjectType::PageTable, PAGE_TABLE_SIZE_BITS) {
        match holders(ObjectType::PageTable, table) {
            0 if (0..mmu::ENTRIES).all(|index| vspace::owner(table, index) == 0)
                && vspace::table_is_empty(table) => {}
            0 => return Err(MappingError::DetachedNotEmpty { table }),
            1 => installed += 1,
            holders => return Err(MappingError::TableHolds { table, holders }),
        }
    }
    let records = super::cnode::mapping_records();
    if records != owned {
        return Err(MappingError::RecordCount { records, owned });
    }
    if installed != reached_tables {
        return Err(MappingError::InstalledCount {
            reached: reached_tables,
            installed,
        });
    }
    Ok(entries)
}

/// One VSpace's walk.
struct Walk {
    root: u64,
    /// Present entries.
    entries: u64,
    /// Present entries a capability owns (not boot mappings).
    owned: u64,
    /// Installed tables reached.
    tables: u64,
}

impl Walk {
    /// Checks the table at `table`, whose entries are at mmu level `level` (0 = pages) and
    /// start at `base`.
    fn table(&mut self, table: u64, level: usize, base: u64) -> Result<(), MappingError> {
        let span = 1u64 << (PAGE_BITS as usize + 9 * level);
        for index in 0..mmu::ENTRIES {
            let vaddr = base + index as u64 * span;
            if vaddr >= USER_TOP {
                break;
            }
            let entry = vspace::read_entry(table, index);
            let owner = vspace::owner(table, index);
            if !mmu::entry_present(entry) {
                if owner != 0 {
                    return Err(MappingError::StaleOwner { table, index });
                }
                continue;
            }
            if level > 0 && mmu::entry_is_huge(entry) {
                return Err(MappingError::HugeEntry { table, index });
            }
            let target = mmu::entry_paddr(entry);
            let (kind, bits) = if level == 0 {
                (ObjectType::Frame, PAGE_BITS as u8)
            } else {
                (ObjectType::PageTable, PAGE_TABLE_SIZE_BITS)
            };
            if !is_object(kind, bits, target) {
                let found = frames::with_table(|frames| frames.state(target >> PAGE_BITS));
                return Err(MappingError::DeadTarget {
                    vaddr,
                    level,
                    target,
                    found,
                });
            }
            let mapping = Mapping {
                vspace: self.root,
                vaddr,
                level: level as u8,
            };
            check_owner(
                ObjectRef {
                    object_type: kind,
                    paddr: target,
                },
                mapping,
                owner,
            )?;
            self.entries += 1;
            if owner != BOOT_OWNER {
                self.owned += 1;
            }
            if level > 0 {
                match holders(ObjectType::PageTable, target) {
                    1 => {}
                    holders => {
                        return Err(MappingError::TableHolds {
                            table: target,
                            holders,
                        });
                    }
                }
                self.tables += 1;
                self.table(target, level - 1, vaddr)?;
            }
        }
        Ok(())
    }
}

/// Checks that `owner` is a live slot whose capability names `object` and records `mapping`.
fn check_owner(object: ObjectRef, mapping: Mapping, owner: u64) -> Result<(), MappingError> {
    if owner == BOOT_OWNER {
        return Ok(());
    }
    let (vaddr, level) = (mapping.vaddr, usize::from(mapping.level));
    let slot_size = core::mem::size_of::<Slot>() as u64;
    let live_slot = owner != 0
        && owner.is_multiple_of(slot_size)
        && matches!(
            frames::with_table(|frames| frames.state(owner >> PAGE_BITS)),
            Some(FrameState::Typed(
                Owner::Object(ObjectType::CNode) | Owner::SmallObjects
            ))
        );
    if !live_slot {
        return Err(MappingError::BadOwner {
            vaddr,
            level,
            owner,
        });
    }
    // SAFETY: The slot lies in a live typed frame that holds CNodes (checked above), read
    // through the direct map; the checker only reads it.
    let cap = unsafe { phys_ptr::<Slot>(owner).read() }.get();
    match cap {
        Some(cap) if cap.object == object && cap.mapping() == Some(mapping) => Ok(()),
        _ => Err(MappingError::RecordMismatch {
            vaddr,
            level,
            owner,
        }),
    }
}

/// Whether `paddr` is the start of a live object of `object_type` and `2^bits` bytes.
fn is_object(object_type: ObjectType, bits: u8, paddr: u64) -> bool {
    let frames = 1u64 << (bits - PAGE_BITS as u8);
    let first = paddr >> PAGE_BITS;
    paddr.is_multiple_of(PAGE_SIZE)
        && first.is_multiple_of(frames)
        && (first..first + frames).all(|frame| {
            frames::with_table(|table| table.state(frame))
                == Some(FrameState::Typed(Owner::Object(object_type)))
        })
}

/// The physical addresses of every live object of `object_type`, each `2^bits` bytes and
/// at least a frame, as the frame table records them.
fn objects(object_type: ObjectType, bits: u8) -> impl Iterator<Item = u64> {
    let span = frames::with_table(|table| table.span());
    let step = 1usize << (bits - PAGE_BITS as u8);
    (span.first.next_multiple_of(step as u64)..span.first + span.count)
        .step_by(step)
        .map(|frame| frame << PAGE_BITS)
        .filter(move |&paddr| is_object(object_type, bits, paddr))
}

fn holders(object_type: ObjectType, paddr: u64) -> u32 {
    super::with_counts(ObjectRef { object_type, paddr }, |counts| counts.holders).unwrap_or(0)
}
