//! `syscall` MSR setup and the assembly entry paths (`trap.S`, `syscall.S`) with their constants.

use super::frame::{self, SYSCALL_VECTOR, UserFrame};
use super::gdt::{KERNEL_CS, SYSRET_SELECTOR_BASE, USER_CS, USER_DS};
use super::trap;
use crate::arch::KERNEL_STACK_SIZE;
use crate::arch::hooks;
use x86_64::VirtAddr;
use x86_64::registers::model_specific::{Efer, EferFlags, LStar, SFMask, Star};
use x86_64::registers::rflags::RFlags;

core::arch::global_asm!(
    include_str!("generated/percpu.S"),
    include_str!("trap.S"),
    include_str!("syscall.S"),
    kernel_stack_size = const KERNEL_STACK_SIZE,
    frame_vector = const frame::FRAME_VECTOR,
    frame_rip = const frame::FRAME_RIP,
    frame_cs = const frame::FRAME_CS,
    frame_rflags = const frame::FRAME_RFLAGS,
    frame_rsp = const frame::FRAME_RSP,
    frame_rcx = const frame::FRAME_RCX,
    frame_r11 = const frame::FRAME_R11,
    stub_count = const trap::STUB_COUNT,
    stub_size = const trap::STUB_SIZE,
    user_cs = const USER_CS,
    user_ds = const USER_DS,
    syscall_vector = const SYSCALL_VECTOR,
    rflags_ac = const RFLAGS_AC,
    trap_dispatch = sym trap::trap_dispatch,
    bad_user_return = sym trap::bad_user_return,
    canary_failed = sym trap::kernel_stack_canary_failed,
    leave_to_user = sym hooks::leave_to_user,
    syscall_dispatch = sym syscall_dispatch,
    options(att_syntax)
);

unsafe extern "C" {
    fn syscall_entry();
}

/// RFLAGS.AC: when set, SMAP lets the kernel touch user pages.
const RFLAGS_AC: u64 = 1 << 18;
/// RFLAGS bits cleared on `syscall`: TF, IF, DF, NT and AC.
const SYSCALL_RFLAGS_MASK: u64 = (1 << 8) | (1 << 9) | (1 << 10) | (1 << 14) | RFLAGS_AC;

/// Enables `syscall`/`sysret` (and keeps NX on) and points LSTAR at the entry.
pub fn init() {
    // SAFETY: The MSRs exist on every x86_64 CPU; the selectors match the loaded GDT and the
    // entry point is the assembly above, which needs GS set up (done before this call).
    unsafe {
        Star::write_raw(SYSRET_SELECTOR_BASE, KERNEL_CS);
        Efer::update(|efer| {
            efer.insert(EferFlags::SYSTEM_CALL_EXTENSIONS | EferFlags::NO_EXECUTE_ENABLE)
        });
    }
    LStar::write(VirtAddr::new(syscall_entry as *const () as u64));
    SFMask::write(RFlags::from_bits_truncate(SYSCALL_RFLAGS_MASK));
}

/// Called by `syscall_entry` with the frame it built on the thread's kernel stack: takes
/// the big kernel lock (the return path releases it) and hands the frame on.
extern "C" fn syscall_dispatch(frame: *mut UserFrame) {
    if !hooks::enter_from_user(crate::smp::Entry::Syscall) {
        hooks::abandon_entry();
        return;
    }
    // SAFETY: `syscall_entry` passes the frame it just pushed on the thread's kernel stack.
    hooks::handle_syscall(unsafe { hooks::EntryFrame::new(frame) });
}
