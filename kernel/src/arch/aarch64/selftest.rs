//! aarch64 part of the arch self test (feature `arch-selftest`): the user code, the fault classes, and the kernel mapping check.
//!
//! The driver is `crate::selftest`. This port adds: the `svc` argument and result
//! registers checked in user mode (x9 and x19 preserved), FP/SIMD state across a thread
//! switch, a user read of the virtual counter, and write-xor-execute kernel mappings.

use super::frame::ec;
use super::mmu;
use crate::arch::{FaultInfo, MemoryRegion};
use crate::selftest::{
    SYS_BAD_RETURN, SYS_CHECK_ARGS, SYS_FAIL, SYS_TICKS, SYS_YIELD, THREAD_B_OFFSET, UNMAPPED,
    USER_TICKS_WANTED,
};

/// The fault thread A's write to [`UNMAPPED`] raises: a data abort from EL0.
pub const UNMAPPED_WRITE_FAULT: u8 = ec::DATA_ABORT_LOWER;
/// The fault the return to an address outside the user range raises: an instruction
/// abort from EL0.
pub const BAD_RETURN_FAULT: u8 = ec::INSTRUCTION_ABORT_LOWER;
/// ESR_EL1.ISS.WnR of a data abort: the access was a write.
const ESR_WNR: u64 = 1 << 6;

core::arch::global_asm!(
    ".section .rodata.selftest_user, \"a\"",
    ".arch_extension fp",
    ".arch_extension simd",
    ".p2align 4",
    ".global selftest_user_start",
    ".global selftest_user_end",
    "selftest_user_start:",
    // Thread A.
    "    mov x8, #{check_args}",
    "    mov x0, #0x11",
    "    mov x1, #0x22",
    "    mov x2, #0x33",
    "    mov x3, #0x44",
    "    mov x4, #0x55",
    "    mov x5, #0x66",
    "    mov x19, #0x777",
    "    mov x9, #0x999",
    "    svc #0",
    "    cbnz x0, 9f",
    "    cmp x1, #0x165",
    "    b.ne 9f",
    "    cmp x19, #0x777",
    "    b.ne 9f",
    "    cmp x9, #0x999",
    "    b.ne 9f",
    "    mrs x20, cntvct_el0",
    "    movz x0, #0x5555",
    "    movk x0, #0xaaaa, lsl #16",
    "    movk x0, #0x5555, lsl #32",
    "    movk x0, #0xaaaa, lsl #48",
    "    fmov d0, x0",
    "    mov x8, #{yield_}",
    "    svc #0",
    "    fmov x0, d0",
    "    movz x1, #0x5555",
    "    movk x1, #0xaaaa, lsl #16",
    "    movk x1, #0x5555, lsl #32",
    "    movk x1, #0xaaaa, lsl #48",
    "    cmp x0, x1",
    "    b.ne 9f",
    "    mrs x21, cntvct_el0",
    "    cmp x21, x20",
    "    b.ls 9f",
    // A write to an unmapped address; the kernel ends this thread.
    "    mov x0, #{unmapped}",
    "    str x0, [x0]",
    "    udf #0",
    // Thread B starts at offset 0x100.
    ".org selftest_user_start + {thread_b}",
    "    movz x0, #0xaaaa",
    "    movk x0, #0x5555, lsl #16",
    "    movk x0, #0xaaaa, lsl #32",
    "    movk x0, #0x5555, lsl #48",
    "    fmov d0, x0",
    "    mov x8, #{yield_}",
    "    svc #0",
    "    fmov x0, d0",
    "    movz x1, #0xaaaa",
    "    movk x1, #0x5555, lsl #16",
    "    movk x1, #0xaaaa, lsl #32",
    "    movk x1, #0x5555, lsl #48",
    "    cmp x0, x1",
    "    b.ne 9f",
    // Spin in user mode until the timer has interrupted user mode a few times.
    "1:  mov x8, #{ticks_call}",
    "    svc #0",
    "    cmp x1, #{ticks}",
    "    b.lo 1b",
    "    mov x8, #{bad_return}",
    "    svc #0",
    "    udf #0",
    "9:  mov x8, #{fail}",
    "    svc #0",
    "    udf #0",
    "selftest_user_end:",
    ".text",
    ticks = const USER_TICKS_WANTED,
    unmapped = const UNMAPPED,
    check_args = const SYS_CHECK_ARGS,
    yield_ = const SYS_YIELD,
    ticks_call = const SYS_TICKS,
    bad_return = const SYS_BAD_RETURN,
    fail = const SYS_FAIL,
    thread_b = const THREAD_B_OFFSET,
);

/// Whether a data abort from EL0 was a write.
pub fn fault_was_user_write(info: &FaultInfo) -> bool {
    info.error_code & ESR_WNR != 0
}

/// Checks on every kernel entry: none on aarch64.
pub fn check_kernel_entry() {}

/// The leaf entry that maps kernel address `vaddr` in TTBR1, and its level.
fn kernel_leaf(vaddr: u64) -> (u64, usize) {
    let mut table = super::phys_to_virt(mmu::kernel_root()) as *const u64;
    for level in (0..mmu::LEVELS).rev() {
        // SAFETY: `table` is a live kernel page table reached through the direct map.
        let entry = unsafe { table.add(mmu::index(vaddr, level)).read() };
        assert!(
            mmu::entry_present(entry),
            "kernel address {vaddr:#x} is not mapped at level {level}"
        );
        if level == 0 || mmu::entry_is_huge(entry) {
            return (entry, level);
        }
        table = super::phys_to_virt(mmu::entry_paddr(entry)) as *const u64;
    }
    unreachable!("level 0 always returns")
}

/// Write-xor-execute: text pages read-only and executable, rodata read-only, data
/// writable, both not executable, the direct map not executable.
///
/// The driver calls it before user mode starts; `writable` is the address of a kernel
/// static in .data or .bss.
pub fn check_kernel(regions: &[MemoryRegion], writable: u64) {
    let ram = regions.iter().find(|r| r.usable).expect("no usable RAM");
    let cases = [
        (
            "text",
            kernel_leaf as *const () as u64,
            0,
            mmu::IMAGE_TEXT_PAGE,
        ),
        (
            "rodata",
            crate::selftest::user_code().as_ptr() as u64,
            0,
            mmu::IMAGE_RODATA_PAGE,
        ),
        ("data", writable, 0, mmu::IMAGE_DATA_PAGE),
        // Usable RAM is mapped in 4 KiB pages by now (`arch::map_ram_in_pages`).
        (
            "direct map",
            super::phys_to_virt(ram.base) as u64,
            0,
            mmu::direct_leaf_entry(0, 0),
        ),
    ];
    for (what, vaddr, want_level, want_attributes) in cases {
        let (entry, level) = kernel_leaf(vaddr);
        assert!(
            level == want_level && entry == mmu::entry_paddr(entry) | want_attributes,
            "kernel {what} at {vaddr:#x}: entry {entry:#x} at level {level}, expected attributes {want_attributes:#x} at level {want_level}"
        );
    }
}
