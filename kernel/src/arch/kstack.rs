//! Kernel stacks of user threads, the same on every port: their size, the canary, the guard page below them and the layout of a fresh one.

use super::directmap::{remap_direct_page, unmap_direct_page};
use super::percpu::stack_canary;
use super::{KernelContext, UserFrame, current_thread};

/// Size of every thread's kernel stack; [`prepare_user_thread`] insists on it because the
/// return-to-user path finds the stack canary at `kernel_stack_top - KERNEL_STACK_SIZE`.
pub const KERNEL_STACK_SIZE: usize = 16 * 1024;

/// Size of the guard page right below every thread's kernel stack: unmapped from the
/// direct map while the thread exists, so running off the stack's bottom faults at once
/// instead of overwriting what lies below (the thread's own TCB).
pub const KERNEL_STACK_GUARD_SIZE: usize = abi::PAGE_SIZE as usize;

/// Unmaps the guard page at physical `guard_paddr` (the page right below a new thread's
/// kernel stack) from the direct map. The kernel never touches it until
/// [`unguard_kernel_stack`].
pub fn guard_kernel_stack(guard_paddr: u64) {
    unmap_direct_page(guard_paddr);
}

/// Maps the guard page at `guard_paddr` back, when its thread is destroyed and before its
/// frames go back to their untyped (whose next retype zeroes them).
pub fn unguard_kernel_stack(guard_paddr: u64) {
    remap_direct_page(guard_paddr);
}

/// A kernel stack overflow, as a fault handler found it: the running thread's stack (or,
/// on a CPU that runs no thread, the CPU's own idle stack) ran into its guard page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StackOverflow {
    /// The running thread (its TCB's physical address), or 0 for a CPU's idle stack.
    pub thread: u64,
    /// The kernel virtual address of its guard page.
    pub guard: u64,
}

/// Whether any of `addresses` (a fault address, a stack pointer) lies in the guard page of
/// the running thread's kernel stack, or of the running CPU's idle stack when it runs no
/// thread (`set_current_thread(0, top)` on secondary CPUs). Never panics, so fault
/// handlers may call it.
pub fn current_stack_overflow(addresses: &[u64]) -> Option<StackOverflow> {
    let (thread, top) = current_thread();
    if top == 0 {
        return None;
    }
    let guard = top.checked_sub((KERNEL_STACK_SIZE + KERNEL_STACK_GUARD_SIZE) as u64)?;
    let in_guard =
        |address: &u64| (guard..guard + KERNEL_STACK_GUARD_SIZE as u64).contains(address);
    addresses
        .iter()
        .any(in_guard)
        .then_some(StackOverflow { thread, guard })
}

/// Panics for a kernel stack overflow the fault handler of a port found, naming the thread
/// (or the CPU whose idle stack it was).
pub fn stack_overflow_panic(overflow: StackOverflow, pc: u64, sp: u64, address: u64) -> ! {
    if overflow.thread == 0 {
        panic!(
            "kernel stack overflow on the idle stack of cpu {}: it ran into the guard page at {:#x} \
             (pc {pc:#x}, sp {sp:#x}, fault address {address:#x})",
            super::cpu_index(),
            overflow.guard
        );
    }
    panic!(
        "kernel stack overflow in thread TCB {:#x}: its kernel stack ran into the guard page at {:#x} \
         (pc {pc:#x}, sp {sp:#x}, fault address {address:#x})",
        overflow.thread, overflow.guard
    );
}

/// Lays out a fresh kernel stack so that switching to the returned context enters user
/// mode through the returned `UserFrame` (all registers zero, instruction and stack
/// pointer 0, interrupts enabled): set at least its ip and sp before the first switch.
/// Writes the stack canary into the bottom word.
///
/// # Safety
/// `kstack_base` must point to `kstack_size` writable bytes, 16-byte aligned, owned by the
/// new thread for as long as it exists.
pub unsafe fn prepare_user_thread(
    kstack_base: *mut u8,
    kstack_size: usize,
) -> (KernelContext, *mut UserFrame) {
    assert!(
        kstack_size == KERNEL_STACK_SIZE,
        "kernel stacks must be arch::KERNEL_STACK_SIZE bytes (the canary check relies on it), got {kstack_size}"
    );
    assert!(
        (kstack_base as usize).is_multiple_of(16),
        "kernel stack at {kstack_base:p} is not 16-byte aligned"
    );
    let top = kstack_base as usize + kstack_size;
    let frame = (top - size_of::<UserFrame>()) as *mut UserFrame;
    // SAFETY: Both writes lie inside the stack the caller hands over; the frame is aligned
    // because the top is 16-byte aligned and UserFrame's size is a multiple of 16.
    unsafe {
        kstack_base.cast::<u64>().write(stack_canary());
        frame.write(UserFrame::new_user());
    }
    (KernelContext::entering_user(frame), frame)
}
