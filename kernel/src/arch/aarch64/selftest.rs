//! Arch self test (feature `arch-selftest`): user mode, syscalls, faults, timer and eager FPU.
//!
//! It stands in for the scheduler and the syscall layer: two user threads in one small
//! address space exercise the `svc` path (argument and result registers), thread switches
//! with FP/SIMD state, a user data abort, timer interrupts from user and kernel mode, a
//! user read of the virtual counter, and a return to an address user mode cannot execute.
//! Success shuts down with code 0 (QEMU exit status 1); any failure panics.

use super::frame::ec;
use super::{FaultInfo, FpuArea, KERNEL_STACK_SIZE, KernelContext, UserFrame, mmu};
use crate::cell::CpuLocal;
use core::sync::atomic::{AtomicU64, Ordering};

const USER_CODE: u64 = 0x40_0000;
const USER_STACK_A: u64 = 0x40_2000;
const USER_STACK_B: u64 = 0x40_4000;
const UNMAPPED: u64 = 0x1000;
/// Outside the 48-bit user range: `eret` there faults in user mode.
const NON_CANONICAL: u64 = 1 << 63;
/// ESR_EL1.ISS.WnR of a data abort: the access was a write.
const ESR_WNR: u64 = 1 << 6;

// Selftest syscall numbers (this harness's own, not the kernite ABI).
const SYS_CHECK_ARGS: u64 = 0;
const SYS_YIELD: u64 = 1;
const SYS_TICKS: u64 = 2;
const SYS_BAD_RETURN: u64 = 3;
const SYS_FAIL: u64 = 4;
const USER_TICKS_WANTED: u64 = 3;

core::arch::global_asm!(
    ".section .rodata.selftest_user, \"a\"",
    ".arch_extension fp",
    ".arch_extension simd",
    ".p2align 4",
    "selftest_user_start:",
    // Thread A.
    "    mov x8, #0",
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
    "    mov x8, #1",
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
    ".org selftest_user_start + 0x100",
    "    movz x0, #0xaaaa",
    "    movk x0, #0x5555, lsl #16",
    "    movk x0, #0xaaaa, lsl #32",
    "    movk x0, #0x5555, lsl #48",
    "    fmov d0, x0",
    "    mov x8, #1",
    "    svc #0",
    "    fmov x0, d0",
    "    movz x1, #0xaaaa",
    "    movk x1, #0x5555, lsl #16",
    "    movk x1, #0xaaaa, lsl #32",
    "    movk x1, #0x5555, lsl #48",
    "    cmp x0, x1",
    "    b.ne 9f",
    // Spin in user mode until the timer has interrupted user mode a few times.
    "1:  mov x8, #2",
    "    svc #0",
    "    cmp x1, #{ticks}",
    "    b.lo 1b",
    "    mov x8, #3",
    "    svc #0",
    "    udf #0",
    "9:  mov x8, #4",
    "    svc #0",
    "    udf #0",
    "selftest_user_end:",
    ".text",
    ticks = const USER_TICKS_WANTED,
    unmapped = const UNMAPPED,
);

unsafe extern "C" {
    static selftest_user_start: u8;
    static selftest_user_end: u8;
}

#[repr(C, align(4096))]
struct Page([u8; 4096]);

#[repr(C, align(16))]
struct KernelStack([u8; KERNEL_STACK_SIZE]);

struct Thread {
    context: KernelContext,
    fpu: FpuArea,
    stack: KernelStack,
}

struct State {
    tables: [Page; 4],
    code: Page,
    stacks: Page,
    stacks_b: Page,
    boot: KernelContext,
    boot_fpu: FpuArea,
    threads: [Thread; 2],
    current: usize,
    stage: u32,
}

static STATE: CpuLocal<State> = CpuLocal::new(State {
    tables: [const { Page([0; 4096]) }; 4],
    code: Page([0; 4096]),
    stacks: Page([0; 4096]),
    stacks_b: Page([0; 4096]),
    boot: KernelContext::empty(),
    boot_fpu: FpuArea::init(),
    threads: [const {
        Thread {
            context: KernelContext::empty(),
            fpu: FpuArea::init(),
            stack: KernelStack([0; KERNEL_STACK_SIZE]),
        }
    }; 2],
    current: 0,
    stage: 0,
});

static KERNEL_TICKS: AtomicU64 = AtomicU64::new(0);
static USER_TICKS: AtomicU64 = AtomicU64::new(0);

fn state() -> &'static mut State {
    // SAFETY: Single CPU with interrupts off in the kernel; each hook takes the reference
    // fresh and drops it before switching threads.
    unsafe { &mut *STATE.get() }
}

fn phys<T>(p: &T) -> u64 {
    super::virt_to_phys(p as *const T as usize)
}

/// Runs the self test; never returns.
pub fn run(regions: &[crate::arch::MemoryRegion]) -> ! {
    for r in regions.iter().filter(|r| r.usable) {
        let last = super::phys_to_virt(r.base + r.len - 8) as *mut u64;
        // SAFETY: The word is usable RAM that nothing else uses yet (the test owns the
        // machine), reached through the direct map.
        let seen = unsafe {
            last.write_volatile(0x5a5a_1234_8765_a5a5);
            last.read_volatile()
        };
        assert!(
            seen == 0x5a5a_1234_8765_a5a5,
            "direct map of {:#x} does not reach RAM",
            r.base + r.len - 8
        );
    }
    check_kernel_mappings(regions);
    crate::println!("arch selftest: idle until two timer ticks");
    while KERNEL_TICKS.load(Ordering::Relaxed) < 2 {
        super::enable_interrupts_and_halt();
    }
    let s = state();
    // Address space: L0 -> L1 -> L2 -> L3 covering 0x400000..0x600000.
    let [l0, l1, l2, l3] = &mut s.tables;
    // SAFETY: l0 is a page-aligned table owned by this test.
    unsafe { mmu::new_root(l0.0.as_mut_ptr().cast()) };
    let set = |table: &mut Page, index: usize, entry: u64| {
        // SAFETY: index < 512 and the table is 4 KiB of u64 entries.
        unsafe { table.0.as_mut_ptr().cast::<u64>().add(index).write(entry) };
    };
    set(l0, mmu::index(USER_CODE, 3), mmu::table_entry(phys(l1)));
    set(l1, mmu::index(USER_CODE, 2), mmu::table_entry(phys(l2)));
    set(l2, mmu::index(USER_CODE, 1), mmu::table_entry(phys(l3)));
    let rx = abi::Rights::READ.union(abi::Rights::EXECUTE);
    let rw = abi::Rights::READ.union(abi::Rights::WRITE);
    set(
        l3,
        mmu::index(USER_CODE, 0),
        mmu::page_entry(phys(&s.code), rx),
    );
    set(
        l3,
        mmu::index(USER_STACK_A - 1, 0),
        mmu::page_entry(phys(&s.stacks), rw),
    );
    set(
        l3,
        mmu::index(USER_STACK_B - 1, 0),
        mmu::page_entry(phys(&s.stacks_b), rw),
    );
    for rights in [rx, rw, abi::Rights::READ] {
        assert!(
            mmu::entry_rights(mmu::page_entry(0x1000, rights)) == rights,
            "entry_rights does not invert page_entry for {rights:?}"
        );
    }

    // SAFETY: The linker places both symbols around the user code in .rodata.
    let code = unsafe {
        let start = &raw const selftest_user_start;
        let len = (&raw const selftest_user_end) as usize - start as usize;
        core::slice::from_raw_parts(start, len)
    };
    s.code.0[..code.len()].copy_from_slice(code);

    for (i, (ip, sp)) in [(USER_CODE, USER_STACK_A), (USER_CODE + 0x100, USER_STACK_B)]
        .into_iter()
        .enumerate()
    {
        let thread = &mut s.threads[i];
        thread.fpu = FpuArea::init();
        // SAFETY: The stack belongs to this thread for the rest of the test.
        let (context, frame) =
            unsafe { super::prepare_user_thread(thread.stack.0.as_mut_ptr(), KERNEL_STACK_SIZE) };
        thread.context = context;
        // SAFETY: prepare_user_thread returned a frame inside the thread's stack.
        let frame = unsafe { &mut *frame };
        frame.set_ip(ip);
        frame.set_sp(sp);
        frame.set_arg(0, i as u64);
        assert!(
            frame.arg(0) == i as u64 && frame.ip() == ip && frame.sp() == sp,
            "UserFrame accessors disagree"
        );
    }
    // SAFETY: The root was built above and lives in a static.
    unsafe { mmu::activate(phys(l0)) };
    crate::println!("arch selftest: entering user mode");
    s.current = 0;
    let (from, to) = (&raw mut s.boot, &raw const s.threads[0].context);
    s.boot_fpu.save();
    s.threads[0].fpu.restore();
    enter(0);
    // SAFETY: Both contexts are valid; the boot context is resumed by nothing (the test
    // ends with a shutdown).
    unsafe { super::switch_context(from, to) };
    unreachable!("the boot context is never resumed");
}

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
fn check_kernel_mappings(regions: &[crate::arch::MemoryRegion]) {
    let ram = regions.iter().find(|r| r.usable).expect("no usable RAM");
    let cases = [
        ("text", run as *const () as u64, 0, mmu::IMAGE_TEXT_PAGE),
        (
            "rodata",
            (&raw const selftest_user_start) as u64,
            0,
            mmu::IMAGE_RODATA_PAGE,
        ),
        ("data", STATE.get() as u64, 0, mmu::IMAGE_DATA_PAGE),
        (
            "direct map",
            super::phys_to_virt(ram.base) as u64,
            2,
            mmu::KERNEL_NORMAL_BLOCK,
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

fn enter(i: usize) {
    let s = state();
    let top = s.threads[i].stack.0.as_ptr() as u64 + KERNEL_STACK_SIZE as u64;
    super::set_current_thread(i as u64 + 1, top);
    s.current = i;
}

/// Switches from the current thread to `next`, with the FPU state.
fn switch_to(next: usize) {
    let s = state();
    let prev = s.current;
    s.threads[prev].fpu.save();
    s.threads[next].fpu.restore();
    enter(next);
    let from = &raw mut s.threads[prev].context;
    let to = &raw const s.threads[next].context;
    // SAFETY: Both contexts belong to live test threads with their own stacks.
    unsafe { super::switch_context(from, to) };
}

/// Stands in for `crate::syscall::handle_syscall`.
pub fn handle_syscall(frame: &mut UserFrame) {
    let s = state();
    match frame.syscall_number() {
        SYS_CHECK_ARGS => {
            let args = frame.syscall_args();
            assert!(
                args == [0x11, 0x22, 0x33, 0x44, 0x55, 0x66],
                "syscall arguments arrived as {args:x?}"
            );
            frame.set_results([0, args.iter().sum()]);
            s.stage = 1;
        }
        SYS_YIELD => {
            frame.set_results([0, 0]);
            let next = 1 - s.current;
            switch_to(next);
        }
        SYS_TICKS => frame.set_results([0, USER_TICKS.load(Ordering::Relaxed)]),
        SYS_BAD_RETURN => {
            crate::println!(
                "arch selftest: {} user-mode timer ticks seen",
                USER_TICKS.load(Ordering::Relaxed)
            );
            frame.set_ip(NON_CANONICAL);
        }
        SYS_FAIL => panic!(
            "arch selftest: user thread {} reported a wrong register value",
            s.current
        ),
        n => panic!("arch selftest: unknown selftest syscall {n}"),
    }
}

/// Stands in for `crate::sched::timer_tick`.
pub fn timer_tick(from_user: bool) {
    if from_user {
        USER_TICKS.fetch_add(1, Ordering::Relaxed);
    } else {
        KERNEL_TICKS.fetch_add(1, Ordering::Relaxed);
    }
}

/// Stands in for `crate::sched::user_fault`.
pub fn user_fault(frame: &mut UserFrame, info: FaultInfo) {
    let s = state();
    crate::println!(
        "arch selftest: thread {} {} at pc {:#x}, address {:#x}",
        s.current,
        info.name(),
        frame.ip(),
        info.address
    );
    match (s.current, info.vector) {
        (0, ec::DATA_ABORT_LOWER) => {
            assert!(
                info.address == UNMAPPED && info.error_code & ESR_WNR != 0,
                "wrong data abort details {info:x?}"
            );
            assert!(s.stage == 1, "thread A faulted before checking its syscall");
            // Thread A is done; it is never resumed.
            switch_to(1);
            unreachable!("a faulted thread was resumed");
        }
        (1, ec::INSTRUCTION_ABORT_LOWER) => {
            assert!(
                info.address == NON_CANONICAL,
                "wrong bad-return details {info:x?}"
            );
            crate::println!("arch selftest: OK");
            super::shutdown(0);
        }
        _ => panic!(
            "arch selftest: unexpected user fault {info:x?} in thread {}",
            s.current
        ),
    }
}
