//! Kernel stack guard test (feature `kstack-guard-test`): a real TCB's guard page is unmapped, mapped back on destruction, and an overflow of its kernel stack panics as one.
//!
//! It runs in place of the root task, after the frame table and the 4 KiB direct map are
//! built: it retypes two TCBs from an untyped region through the ordinary retype path,
//! checks the direct-map entries around the first one's guard page, destroys it and checks
//! that the guard page is mapped again, then makes the second one the running thread and
//! recurses on its kernel stack until the stack runs into the guard page. The boot passes
//! when the kernel panics with `kernel stack overflow in thread TCB <address>` naming that
//! thread (`cargo xtask test` judges it; see docs/CONTRACTS.md, "In-QEMU test protocol").

use abi::{ObjectType, PAGE_BITS, PAGE_SIZE, TCB_SIZE_BITS};
use kerncore::{FrameRange, FrameState, UntypedState};

use crate::arch::{self, KERNEL_STACK_SIZE};
use crate::object::{frames, tcb, untyped};
use crate::println;

/// The untyped region the test retypes its TCBs from: room for two.
const UNTYPED_BITS: u8 = TCB_SIZE_BITS + 1;

/// Runs the test; ends in the expected kernel panic (or in another one, which fails it).
pub fn run() -> ! {
    let mut region = untyped_region();
    let first = new_tcb(&mut region);
    check_guard_unmapped(first);
    tcb::destroy(first);
    assert!(
        arch::direct_page_is_mapped(first + tcb::GUARD_OFFSET as u64),
        "kstack guard test: destroying TCB {first:#x} did not map its guard page back"
    );
    println!("kstack guard: TCB {first:#x} destroyed, its guard page is mapped again");
    let thread = new_tcb(&mut region);
    check_guard_unmapped(thread);
    let top = tcb::kernel_stack_top(thread);
    arch::set_current_thread(thread, top);
    println!("kstack guard: overflowing the kernel stack of TCB {thread:#x}");
    // SAFETY: The stack is the new thread's own kernel stack, which nothing uses (it never
    // ran); `overflow` never returns.
    unsafe { arch::run_on_stack(top, overflow) }
}

/// A top-level untyped over the first free, aligned run of `2^UNTYPED_BITS` bytes.
fn untyped_region() -> UntypedState {
    let frames_wanted = 1u64 << (UNTYPED_BITS - PAGE_BITS as u8);
    let span = frames::with_table(|table| table.span());
    let first = (span.first.next_multiple_of(frames_wanted)..span.first + span.count)
        .step_by(frames_wanted as usize)
        .find(|&first| {
            frames::with_table(|table| {
                (first..first + frames_wanted).all(|f| table.state(f) == Some(FrameState::Free))
            })
        })
        .expect("kstack guard test: no free, aligned region for two TCBs");
    frames::with_table(|table| {
        table.reserve_for_untyped(FrameRange {
            first,
            count: frames_wanted,
        })
    })
    .expect("kstack guard test: the region was checked free");
    UntypedState::new(first << PAGE_BITS, UNTYPED_BITS, 1).expect("the region is aligned")
}

/// Retypes a TCB from `region` the way `Untyped.retype` does; returns its address.
fn new_tcb(region: &mut UntypedState) -> u64 {
    let cap = untyped::create(region, ObjectType::Tcb, 0)
        .unwrap_or_else(|error| panic!("kstack guard test: retype of a TCB failed: {error:?}"));
    cap.object.paddr
}

/// Checks through the direct map's own entries that the guard page of the TCB at `thread`
/// is unmapped and that the pages on either side (the control block's side and the
/// stack's bottom page) are still mapped.
fn check_guard_unmapped(thread: u64) {
    let guard = thread + tcb::GUARD_OFFSET as u64;
    let stack_base = tcb::kernel_stack_top(thread) - KERNEL_STACK_SIZE as u64;
    assert!(
        arch::virt_to_phys(stack_base as usize) == guard + PAGE_SIZE,
        "kstack guard test: the guard page of TCB {thread:#x} is not right below its kernel stack"
    );
    assert!(
        !arch::direct_page_is_mapped(guard),
        "kstack guard test: the guard page {guard:#x} of TCB {thread:#x} is mapped"
    );
    assert!(
        arch::direct_page_is_mapped(guard - PAGE_SIZE)
            && arch::direct_page_is_mapped(guard + PAGE_SIZE),
        "kstack guard test: a page next to the guard page {guard:#x} is unmapped too"
    );
    println!("kstack guard: TCB {thread:#x} has its guard page {guard:#x} unmapped");
}

/// Recurses on the current kernel stack until it overflows.
extern "C" fn overflow() -> ! {
    let depth = recurse(0);
    panic!("kstack guard test: a recursion {depth} calls deep returned instead of overflowing");
}

/// Uses a few hundred bytes of stack per call and never returns early.
#[inline(never)]
fn recurse(depth: u64) -> u64 {
    let mut frame = [0u8; 256];
    core::hint::black_box(&mut frame);
    if core::hint::black_box(depth) == u64::MAX {
        return depth;
    }
    recurse(depth + 1) + u64::from(core::hint::black_box(&frame)[0])
}
