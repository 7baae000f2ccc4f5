//! KernelDebug: the frame-state checker and counts, which must move exactly as retype and delete say.

use trona::substrate;
use trona::uapi::{ObjectType, PAGE_BITS, TCB_SIZE_BITS};

use crate::ctx::{Ctx, KERNEL_DEBUG};
use crate::harness::{Failure, Outcome, ensure, ok};

/// The frame states `KernelDebug.frame_count` takes: Free, UntypedReserved, typed owner.
const STATES: [u8; 3] = [0, 1, 2];

/// The frames in each state.
pub fn counts() -> Result<[u64; 3], Failure> {
    let mut counts = [0; 3];
    for (count, state) in counts.iter_mut().zip(STATES) {
        *count = ok(
            "frame_count",
            substrate::kernel_debug_frame_count(KERNEL_DEBUG, state),
        )?;
    }
    Ok(counts)
}

/// Checks that the counts moved by `typed` frames from UntypedReserved to typed owners.
fn expect_moved(what: &str, before: [u64; 3], now: [u64; 3], typed: u64) -> Outcome {
    let expected = [
        before[0],
        before[1].wrapping_sub(typed),
        before[2].wrapping_add(typed),
    ];
    ensure!(
        now == expected,
        "{what}: frame counts {now:?}, expected {expected:?} (before {before:?})"
    );
    Ok(())
}

/// Every frame is in exactly one state, and retype and delete move frames between
/// UntypedReserved and typed owners only, never to or from Free.
pub fn frame_states(ctx: &mut Ctx) -> Outcome {
    let checked = ok(
        "check_frames",
        substrate::kernel_debug_check_frames(KERNEL_DEBUG),
    )?;
    let before = counts()?;
    let total: u64 = before.iter().sum();
    ensure!(
        checked == total,
        "the checker verified {checked} frames but the states hold {total}"
    );
    ensure!(
        before[1] > 0,
        "no frame is UntypedReserved although the suite holds untyped memory"
    );

    let frame = ctx.create(ObjectType::Frame)?;
    let with_frame = counts()?;
    let tcb = ctx.create(ObjectType::Tcb)?;
    let with_tcb = counts()?;
    ctx.delete(tcb)?;
    let tcb_deleted = counts()?;
    ctx.delete(frame)?;
    let all_deleted = counts()?;
    let child = ctx.res.retype(ObjectType::Untyped, 16)?;
    let with_child = counts()?;
    ctx.delete(child)?;
    let child_deleted = counts()?;

    let tcb_frames = 1 << (u64::from(TCB_SIZE_BITS) - PAGE_BITS);
    expect_moved("after retyping a frame", before, with_frame, 1)?;
    expect_moved("after retyping a TCB", before, with_tcb, 1 + tcb_frames)?;
    expect_moved("after deleting the TCB", before, tcb_deleted, 1)?;
    expect_moved("after deleting the frame", before, all_deleted, 0)?;
    expect_moved("after retyping a child untyped", before, with_child, 0)?;
    expect_moved("after deleting the child untyped", before, child_deleted, 0)?;
    let again = ok(
        "check_frames",
        substrate::kernel_debug_check_frames(KERNEL_DEBUG),
    )?;
    ensure!(
        again == checked,
        "the checker verified {checked} frames, then {again}"
    );
    Ok(())
}

/// Run last: after everything the suite did, the frame table is still consistent.
pub fn check_frames_at_end(_: &mut Ctx) -> Outcome {
    let checked = ok(
        "check_frames",
        substrate::kernel_debug_check_frames(KERNEL_DEBUG),
    )?;
    let total: u64 = counts()?.iter().sum();
    ensure!(
        checked == total,
        "the checker verified {checked} frames but the states hold {total}"
    );
    Ok(())
}
