//! Address spaces: mapping frames and tables, lookup, unmapping, Frame.physical_address and PageTable.unmap.

use rootlib::ROOT_VSPACE;
use trona::substrate;
use trona::uapi::{CPtr, Error, Invocation, ObjectType, PAGE_SIZE, Rights, Syscall};

use crate::READ_WRITE;
use crate::ctx::Ctx;
use crate::harness::{Outcome, ensure, err, err_one_of, ok};

/// A value written through one mapping and read back.
const PROBE: u64 = 0x6b65_726e_6974_6521;

/// Map, use, look up and unmap a frame; the refusals of map_frame and unmap_frame.
pub fn map_lookup_unmap(ctx: &mut Ctx) -> Outcome {
    let frame = ctx.create(ObjectType::Frame)?;
    let other = ctx.create(ObjectType::Frame)?;
    let result = map_checks(ctx, frame, other);
    let _ = substrate::vspace_unmap_frame(ROOT_VSPACE, frame);
    let _ = substrate::vspace_unmap_frame(ROOT_VSPACE, other);
    ctx.delete(other)?;
    ctx.delete(frame)?;
    result
}

fn map_checks(ctx: &mut Ctx, frame: CPtr, other: CPtr) -> Outcome {
    let vaddr = ctx.unmapped_address()?;
    err(
        "lookup before mapping",
        substrate::vspace_lookup(ROOT_VSPACE, vaddr),
        Error::NotMapped,
    )?;
    ctx.res.map_frame(ROOT_VSPACE, frame, vaddr, READ_WRITE)?;
    expect_rights("lookup", vaddr, READ_WRITE)?;
    expect_rights(
        "lookup of the page's last byte",
        vaddr + PAGE_SIZE - 1,
        READ_WRITE,
    )?;

    let word = vaddr as usize as *mut u64;
    // SAFETY: `vaddr` is a page this test just mapped read-write and nothing else uses.
    let (fresh, probe) = unsafe {
        let fresh = word.read_volatile();
        word.write_volatile(PROBE);
        (fresh, word.read_volatile())
    };
    ensure!(fresh == 0, "a fresh frame holds {fresh:#x}, not zero");
    ensure!(
        probe == PROBE,
        "read back {probe:#x} after writing {PROBE:#x}"
    );

    let second = ctx.unmapped_address()?;
    let twice = substrate::vspace_map_frame(ROOT_VSPACE, frame, second, Rights::READ);
    err("map a mapped frame again", twice, Error::AlreadyMapped)?;
    err(
        "map another frame over it",
        substrate::vspace_map_frame(ROOT_VSPACE, other, vaddr, Rights::READ),
        Error::AlreadyMapped,
    )?;

    ok("unmap", substrate::vspace_unmap_frame(ROOT_VSPACE, frame))?;
    err(
        "lookup after unmapping",
        substrate::vspace_lookup(ROOT_VSPACE, vaddr),
        Error::NotMapped,
    )?;
    err(
        "unmap again",
        substrate::vspace_unmap_frame(ROOT_VSPACE, frame),
        Error::NotMapped,
    )?;

    // The frame keeps its contents across mappings.
    ctx.res
        .map_frame(ROOT_VSPACE, frame, second, Rights::READ)?;
    expect_rights("lookup the read-only mapping", second, Rights::READ)?;
    // SAFETY: `second` is mapped readable to the frame written above.
    let kept = unsafe { (second as usize as *const u64).read_volatile() };
    ensure!(
        kept == PROBE,
        "the frame holds {kept:#x} after remapping, expected {PROBE:#x}"
    );
    ok("unmap", substrate::vspace_unmap_frame(ROOT_VSPACE, frame))?;

    // Mapping rights cannot exceed the frame capability's.
    let read_only = ctx.copy_with_rights(other, Rights::READ.union(Rights::GRANT))?;
    let widened = substrate::vspace_map_frame(ROOT_VSPACE, read_only, vaddr, READ_WRITE);
    ctx.delete(read_only)?;
    err(
        "map a read-only frame capability writable",
        widened,
        Error::InsufficientRights,
    )
}

/// Looks `vaddr` up in the root VSpace and checks that it is mapped with `expected`.
fn expect_rights(what: &str, vaddr: u64, expected: Rights) -> Outcome {
    let rights = ok(what, substrate::vspace_lookup(ROOT_VSPACE, vaddr))?;
    ensure!(
        rights == expected.bits(),
        "{what}: rights {rights:#x}, expected {:#x}",
        expected.bits()
    );
    Ok(())
}

/// Frames report distinct, page-aligned physical addresses.
pub fn physical_address(ctx: &mut Ctx) -> Outcome {
    let first = ctx.create(ObjectType::Frame)?;
    let second = ctx.create(ObjectType::Frame)?;
    let a = substrate::frame_physical_address(first);
    let b = substrate::frame_physical_address(second);
    ctx.delete(second)?;
    ctx.delete(first)?;
    let a = ok("physical_address", a)?;
    let b = ok("physical_address", b)?;
    ensure!(
        a % PAGE_SIZE == 0 && b % PAGE_SIZE == 0,
        "unaligned physical addresses {a:#x}, {b:#x}"
    );
    ensure!(a != b, "two frames share the physical address {a:#x}");
    Ok(())
}

/// A fresh 512 GiB region needs tables level by level; tables unmap only when empty.
pub fn tables(ctx: &mut Ctx) -> Outcome {
    let frame = ctx.create(ObjectType::Frame)?;
    let mut tables = [CPtr(0); 3];
    let mut made = 0;
    let result = table_checks(ctx, frame, &mut tables, &mut made);
    let _ = substrate::vspace_unmap_frame(ROOT_VSPACE, frame);
    for &table in tables[..made].iter().rev() {
        let _ = substrate::page_table_unmap(table);
        ctx.delete(table)?;
    }
    ctx.delete(frame)?;
    result
}

/// A user address in a 512 GiB region nothing else in the suite uses.
const FRESH_REGION: u64 = 0x0000_2000_0000_0000;

/// An operation on [`FRESH_REGION`] of the root VSpace, one step of [`table_checks`].
#[derive(Clone, Copy)]
enum Op {
    MapFrame,
    UnmapFrame,
    MapTable(CPtr, u8),
    UnmapTable(CPtr),
}

/// What a step must return.
#[derive(Clone, Copy)]
enum Expect {
    Ok,
    Fails(Error),
    FailsOneOf(&'static [Error]),
}

impl Op {
    fn run(self, frame: CPtr) -> Result<(), Error> {
        match self {
            Op::MapFrame => {
                substrate::vspace_map_frame(ROOT_VSPACE, frame, FRESH_REGION, Rights::READ)
            }
            Op::UnmapFrame => substrate::vspace_unmap_frame(ROOT_VSPACE, frame),
            Op::MapTable(table, level) => {
                substrate::vspace_map_table(ROOT_VSPACE, table, FRESH_REGION, level)
            }
            Op::UnmapTable(table) => substrate::page_table_unmap(table),
        }
    }
}

fn table_checks(ctx: &mut Ctx, frame: CPtr, tables: &mut [CPtr; 3], made: &mut usize) -> Outcome {
    for slot in tables.iter_mut() {
        *slot = ctx.create(ObjectType::PageTable)?;
        *made += 1;
    }
    let [lowest, middle, top] = *tables;
    let steps = [
        (
            "map into an empty region",
            Op::MapFrame,
            Expect::Fails(Error::MissingTable),
        ),
        (
            "a level-1 table without its parents",
            Op::MapTable(lowest, 1),
            Expect::Fails(Error::MissingTable),
        ),
        (
            "table level 0",
            Op::MapTable(lowest, 0),
            Expect::Fails(Error::InvalidArgument),
        ),
        (
            "table level 255",
            Op::MapTable(lowest, u8::MAX),
            Expect::Fails(Error::InvalidArgument),
        ),
        ("map the level-3 table", Op::MapTable(top, 3), Expect::Ok),
        (
            "map a table over it",
            Op::MapTable(middle, 3),
            Expect::Fails(Error::AlreadyMapped),
        ),
        ("map the level-2 table", Op::MapTable(middle, 2), Expect::Ok),
        ("map the level-1 table", Op::MapTable(lowest, 1), Expect::Ok),
        ("map the frame", Op::MapFrame, Expect::Ok),
        (
            "unmap a table that maps a frame",
            Op::UnmapTable(lowest),
            Expect::FailsOneOf(&[Error::Busy, Error::IllegalOperation]),
        ),
        ("unmap the frame", Op::UnmapFrame, Expect::Ok),
        (
            "unmap the emptied level-1 table",
            Op::UnmapTable(lowest),
            Expect::Ok,
        ),
        (
            "unmap it again",
            Op::UnmapTable(lowest),
            Expect::Fails(Error::NotMapped),
        ),
        (
            "map where the level-1 table was",
            Op::MapFrame,
            Expect::Fails(Error::MissingTable),
        ),
    ];
    for (what, op, expect) in steps {
        let result = op.run(frame);
        match expect {
            Expect::Ok => ok(what, result)?,
            Expect::Fails(error) => err(what, result, error)?,
            Expect::FailsOneOf(errors) => err_one_of(what, result, errors)?,
        }
    }
    Ok(())
}

/// `MissingTable` carries the level of the missing table in the value register.
pub fn missing_table_level(ctx: &mut Ctx) -> Outcome {
    let frame = ctx.create(ObjectType::Frame)?;
    let vaddr = FRESH_REGION + (1 << 39);
    let args = [
        ROOT_VSPACE.0,
        Invocation::VSpaceMapFrame.label(),
        frame.0,
        vaddr,
        Rights::READ.bits(),
        0,
    ];
    let [status, level] = trona::raw::trap(Syscall::Invoke.number(), args);
    ctx.delete(frame)?;
    let expected = Error::MissingTable.code();
    ensure!(
        status == expected,
        "status {status}, expected MissingTable ({expected})"
    );
    ensure!(
        level == 3,
        "MissingTable names level {level}, expected 3 for an empty 512 GiB region"
    );
    Ok(())
}

/// Two capabilities to one frame map it at two addresses: both show the same memory, and the
/// frame lives until its last capability goes.
pub fn shared_mapping(ctx: &mut Ctx) -> Outcome {
    let frame = ctx.create(ObjectType::Frame)?;
    let alias = ctx.copy_with_rights(frame, READ_WRITE)?;
    let first = ctx.unmapped_address()?;
    let second = ctx.unmapped_address()?;
    ctx.res.map_frame(ROOT_VSPACE, frame, first, READ_WRITE)?;
    ctx.res
        .map_frame(ROOT_VSPACE, alias, second, Rights::READ)?;
    // SAFETY: `first` is mapped read-write and `second` readable, both to the frame this
    // test owns; nothing else uses them.
    let seen = unsafe {
        (first as usize as *mut u64).write_volatile(PROBE);
        (second as usize as *const u64).read_volatile()
    };
    ctx.delete(frame)?;
    let first_gone = substrate::vspace_lookup(ROOT_VSPACE, first);
    let second_kept = substrate::vspace_lookup(ROOT_VSPACE, second);
    // SAFETY: `second` stays mapped to the frame while `alias` exists.
    let still = unsafe { (second as usize as *const u64).read_volatile() };
    ctx.delete(alias)?;
    let second_gone = substrate::vspace_lookup(ROOT_VSPACE, second);
    ensure!(
        seen == PROBE,
        "the alias shows {seen:#x}, expected {PROBE:#x}"
    );
    err(
        "lookup of the deleted capability's mapping",
        first_gone,
        Error::NotMapped,
    )?;
    ok("lookup of the alias's mapping", second_kept)?;
    ensure!(
        still == PROBE,
        "after deleting one capability the frame holds {still:#x}"
    );
    err(
        "lookup after deleting the last capability",
        second_gone,
        Error::NotMapped,
    )
}

/// A VSpace that something is mapped into cannot be destroyed until it is emptied.
pub fn vspace_in_use_is_busy(ctx: &mut Ctx) -> Outcome {
    let vspace = ctx.create(ObjectType::VSpace)?;
    let frame = ctx.create(ObjectType::Frame)?;
    let mut tables = [CPtr(0); 3];
    for (level, table) in (1u8..=3).zip(tables.iter_mut()).rev() {
        *table = ctx.create(ObjectType::PageTable)?;
        ok(
            "map_table in the new VSpace",
            substrate::vspace_map_table(vspace, *table, FRESH_REGION, level),
        )?;
    }
    ok(
        "map_frame in the new VSpace",
        substrate::vspace_map_frame(vspace, frame, FRESH_REGION, READ_WRITE),
    )?;
    let with_frame = substrate::cnode_delete(rootlib::ROOT_CNODE, vspace.0);
    ctx.delete(frame)?;
    let with_tables = substrate::cnode_delete(rootlib::ROOT_CNODE, vspace.0);
    for table in tables {
        ctx.delete(table)?;
    }
    ctx.delete(vspace)?;
    err(
        "delete a VSpace with a frame mapped",
        with_frame,
        Error::Busy,
    )?;
    err(
        "delete a VSpace with tables installed",
        with_tables,
        Error::Busy,
    )
}
