//! User faults end the faulting thread, are counted by the kernel, and leave the kernel and the suite running.

use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use trona::uapi::Rights;

use crate::arch;
use crate::ctx::{Ctx, DEFAULT_TIMEOUT_TICKS};
use crate::harness::{Outcome, ensure};

/// Set by a faulting thread right before its faulting instruction.
static ABOUT_TO_FAULT: AtomicBool = AtomicBool::new(false);
/// Set if a faulting instruction returned.
static SURVIVED: AtomicBool = AtomicBool::new(false);
/// The address the memory faults use.
static TARGET: AtomicU64 = AtomicU64::new(0);

extern "C" fn read_unmapped(_: u64) -> ! {
    ABOUT_TO_FAULT.store(true, Ordering::Release);
    let _ = arch::read_word(TARGET.load(Ordering::Acquire));
    SURVIVED.store(true, Ordering::Release);
    trona::exit()
}

extern "C" fn invalid_instruction(_: u64) -> ! {
    ABOUT_TO_FAULT.store(true, Ordering::Release);
    arch::invalid_instruction();
    SURVIVED.store(true, Ordering::Release);
    trona::exit()
}

extern "C" fn write_read_only(_: u64) -> ! {
    ABOUT_TO_FAULT.store(true, Ordering::Release);
    arch::write_word(TARGET.load(Ordering::Acquire), u64::MAX);
    SURVIVED.store(true, Ordering::Release);
    trona::exit()
}

extern "C" fn kernel_timer(_: u64) -> ! {
    ABOUT_TO_FAULT.store(true, Ordering::Release);
    arch::touch_kernel_timer();
    SURVIVED.store(true, Ordering::Release);
    trona::exit()
}

/// Runs `body` on a new thread and checks that it faulted exactly once and never went on.
fn expect_fault(ctx: &mut Ctx, body: extern "C" fn(u64) -> !) -> Outcome {
    ABOUT_TO_FAULT.store(false, Ordering::Relaxed);
    SURVIVED.store(false, Ordering::Relaxed);
    let before = ctx.fault_count()?;
    let thread = ctx.spawn(body, 0)?;
    let counted = ctx.wait_until(DEFAULT_TIMEOUT_TICKS, || {
        ctx.fault_count().is_ok_and(|now| now > before)
    });
    // Give a wrongly resumed thread the chance to show itself.
    ctx.wait_until(2, || SURVIVED.load(Ordering::Acquire));
    let after = ctx.fault_count()?;
    ctx.destroy(thread)?;
    ensure!(
        ABOUT_TO_FAULT.load(Ordering::Acquire),
        "the thread never ran"
    );
    ensure!(counted, "fault_count stayed at {before}");
    ensure!(
        after == before + 1,
        "fault_count went from {before} to {after}, expected one fault"
    );
    ensure!(
        !SURVIVED.load(Ordering::Acquire),
        "the thread continued past its faulting instruction"
    );
    Ok(())
}

/// A load from an unmapped address is a contained fault.
pub fn unmapped_read(ctx: &mut Ctx) -> Outcome {
    TARGET.store(ctx.unmapped_address()?, Ordering::Release);
    expect_fault(ctx, read_unmapped)
}

/// User mode cannot touch the kernel's timer (aarch64: the kernel forces CNTKCTL_EL1 to
/// counters-only, whatever firmware left; x86_64: no I/O privilege for the PIT).
pub fn kernel_timer_access(ctx: &mut Ctx) -> Outcome {
    expect_fault(ctx, kernel_timer)
}

/// An undefined instruction is a contained fault.
pub fn undefined_instruction(ctx: &mut Ctx) -> Outcome {
    expect_fault(ctx, invalid_instruction)
}

/// A store to a read-only page is a contained fault and does not change the page.
pub fn read_only_write(ctx: &mut Ctx) -> Outcome {
    let page = ctx.pages(1, Rights::READ)?;
    TARGET.store(page.vaddr, Ordering::Release);
    let result = expect_fault(ctx, write_read_only);
    // SAFETY: the page is mapped readable until `release_pages` below.
    let value = unsafe { (page.vaddr as usize as *const u64).read_volatile() };
    ctx.release_pages(page)?;
    result?;
    ensure!(value == 0, "the read-only page now holds {value:#x}");
    Ok(())
}

/// A page read just before it is unmapped faults afterwards: the unmap flushed the stale
/// translation.
pub fn read_after_unmap(ctx: &mut Ctx) -> Outcome {
    let page = ctx.pages(1, crate::READ_WRITE)?;
    // Load the translation into the TLB.
    let _ = arch::read_word(page.vaddr);
    TARGET.store(page.vaddr, Ordering::Release);
    ctx.release_pages(page)?;
    expect_fault(ctx, read_unmapped)
}

/// Experiment: a page read through a level-1 table faults once the table is detached.
pub fn read_after_table_detach(ctx: &mut Ctx) -> Outcome {
    use trona::substrate;
    use trona::uapi::{CPtr, ObjectType};
    let base: u64 = 0x0000_2000_0000_0000 + (3 << 39);
    let vaddr = base + 0x5000;
    let frame = ctx.create(ObjectType::Frame)?;
    let mut tables = [CPtr(0); 3];
    for (level, table) in (1u8..=3).zip(tables.iter_mut()).rev() {
        *table = ctx.create(ObjectType::PageTable)?;
        ensure!(
            substrate::vspace_map_table(rootlib::ROOT_VSPACE, *table, base, level).is_ok(),
            "map table"
        );
    }
    ensure!(
        substrate::vspace_map_frame(rootlib::ROOT_VSPACE, frame, vaddr, crate::READ_WRITE).is_ok(),
        "map frame"
    );
    arch::write_word(vaddr, 0x1234);
    let seen = arch::read_word(vaddr);
    ensure!(seen == 0x1234, "probe");
    ctx.delete(tables[0])?;
    TARGET.store(vaddr, Ordering::Release);
    let result = expect_fault(ctx, read_unmapped);
    ctx.delete(frame)?;
    ctx.delete(tables[1])?;
    ctx.delete(tables[2])?;
    result
}
