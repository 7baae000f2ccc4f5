//! Kernel stacks of user threads, the same on every port: their size, the canary and the layout of a fresh one.

use super::percpu::stack_canary;
use super::{KernelContext, UserFrame};

/// Size of every thread's kernel stack; [`prepare_user_thread`] insists on it because the
/// return-to-user path finds the stack canary at `kernel_stack_top - KERNEL_STACK_SIZE`.
pub const KERNEL_STACK_SIZE: usize = 16 * 1024;

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
