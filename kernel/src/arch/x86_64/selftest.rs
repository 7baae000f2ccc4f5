//! Arch self test (feature `arch-selftest`): user mode, syscalls, faults, timer and eager FPU.
//!
//! It stands in for the scheduler and the syscall layer: two user threads in one small
//! address space exercise the syscall path (argument and result registers, `sysretq`),
//! thread switches with FPU state, a user page fault, timer interrupts from user and
//! kernel mode, RFLAGS.AC never leaking into the kernel, and a non-canonical return
//! address. Success prints `arch selftest: OK` and shuts down with code 0 (QEMU exit
//! status 1); any failure panics (status 3). Run it with:
//!
//! ```text
//! KERNITE_BOOT_IMAGE=/dev/null cargo build -p kernel --target x86_64-unknown-none --features arch-selftest
//! qemu-system-x86_64 -accel tcg -machine q35 -cpu max -m 256M -display none -serial stdio \
//!     -no-reboot -device isa-debug-exit,iobase=0xf4,iosize=0x04 \
//!     -kernel target/x86_64-unknown-none/debug/kernel
//! ```

use super::{FaultInfo, FpuArea, KERNEL_STACK_SIZE, KernelContext, UserFrame, mmu};
use crate::cell::CpuLocal;
use core::sync::atomic::{AtomicU64, Ordering};

const USER_CODE: u64 = 0x40_0000;
const USER_STACK_A: u64 = 0x40_2000;
const USER_STACK_B: u64 = 0x40_4000;
const UNMAPPED: u64 = 0x1000;
const NON_CANONICAL: u64 = 1 << 63;

// Selftest syscall numbers (this harness's own, not the kernite ABI).
const SYS_CHECK_ARGS: u64 = 0;
const SYS_YIELD: u64 = 1;
const SYS_TICKS: u64 = 2;
const SYS_BAD_RETURN: u64 = 3;
const SYS_FAIL: u64 = 4;
const USER_TICKS_WANTED: u64 = 3;

core::arch::global_asm!(
    ".section .rodata.selftest_user, \"a\"",
    ".p2align 4",
    "selftest_user_start:",
    // Thread A.
    "    mov $0, %eax",
    "    mov $0x11, %edi",
    "    mov $0x22, %esi",
    "    mov $0x33, %edx",
    "    mov $0x44, %r10d",
    "    mov $0x55, %r8d",
    "    mov $0x66, %r9d",
    "    mov $0x7777, %ebx",
    "    syscall",
    "    test %rax, %rax",
    "    jnz 9f",
    "    cmp $0x165, %rdx",
    "    jne 9f",
    "    cmp $0x7777, %rbx",
    "    jne 9f",
    "    movabs $0xaaaa5555aaaa5555, %rax",
    "    movq %rax, %xmm0",
    "    mov $1, %eax",
    "    syscall",
    "    movq %xmm0, %rax",
    "    movabs $0xaaaa5555aaaa5555, %rcx",
    "    cmp %rcx, %rax",
    "    jne 9f",
    // Page fault at an unmapped address; the kernel ends this thread.
    "    movq $1, 0x1000",
    "    ud2",
    // Thread B starts at offset 0x100.
    ".org selftest_user_start + 0x100",
    "    movabs $0x5555aaaa5555aaaa, %rax",
    "    movq %rax, %xmm0",
    "    mov $1, %eax",
    "    syscall",
    "    movq %xmm0, %rax",
    "    movabs $0x5555aaaa5555aaaa, %rcx",
    "    cmp %rcx, %rax",
    "    jne 9f",
    // Set RFLAGS.AC (harmless in user mode), then spin until the timer has interrupted
    // user mode a few times; the kernel must never run with AC set (it would lift SMAP).
    "    pushfq",
    "    orq $0x40000, (%rsp)",
    "    popfq",
    "1:  pause",
    "    mov $2, %eax",
    "    syscall",
    "    cmp ${ticks}, %rdx",
    "    jb 1b",
    "    mov $3, %eax",
    "    syscall",
    "    ud2",
    "9:  mov $4, %eax",
    "    syscall",
    "    ud2",
    "selftest_user_end:",
    ticks = const USER_TICKS_WANTED,
    options(att_syntax)
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
    crate::println!("arch selftest: idle until two timer ticks");
    while KERNEL_TICKS.load(Ordering::Relaxed) < 2 {
        super::enable_interrupts_and_halt();
    }
    let s = state();
    // Address space: PML4 -> PDPT -> PD -> PT covering 0x400000..0x600000.
    let [pml4, pdpt, pd, pt] = &mut s.tables;
    // SAFETY: pml4 is a page-aligned table owned by this test.
    unsafe { mmu::new_root(pml4.0.as_mut_ptr().cast()) };
    let set = |table: &mut Page, index: usize, entry: u64| {
        // SAFETY: index < 512 and the table is 4 KiB of u64 entries.
        unsafe { table.0.as_mut_ptr().cast::<u64>().add(index).write(entry) };
    };
    set(pml4, mmu::index(USER_CODE, 3), mmu::table_entry(phys(pdpt)));
    set(pdpt, mmu::index(USER_CODE, 2), mmu::table_entry(phys(pd)));
    set(pd, mmu::index(USER_CODE, 1), mmu::table_entry(phys(pt)));
    let rx = abi::Rights::READ.union(abi::Rights::EXECUTE);
    let rw = abi::Rights::READ.union(abi::Rights::WRITE);
    set(
        pt,
        mmu::index(USER_CODE, 0),
        mmu::page_entry(phys(&s.code), rx),
    );
    set(
        pt,
        mmu::index(USER_STACK_A - 1, 0),
        mmu::page_entry(phys(&s.stacks), rw),
    );
    set(
        pt,
        mmu::index(USER_STACK_B - 1, 0),
        mmu::page_entry(phys(&s.stacks_b), rw),
    );
    assert!(
        mmu::entry_rights(mmu::page_entry(0x1000, rx)) == rx,
        "entry_rights does not invert page_entry"
    );

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
    unsafe { mmu::activate(phys(pml4)) };
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
    assert_no_alignment_check_override();
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

/// Panics if RFLAGS.AC is set in the kernel.
fn assert_no_alignment_check_override() {
    let rflags: u64;
    // SAFETY: Reads RFLAGS through the stack; no other effect.
    unsafe {
        core::arch::asm!("pushfq", "pop {}", out(reg) rflags, options(nomem, preserves_flags))
    };
    assert!(
        rflags & (1 << 18) == 0,
        "the kernel runs with RFLAGS.AC set: SMAP is off"
    );
}

/// Stands in for `crate::sched::timer_tick`.
pub fn timer_tick(from_user: bool) {
    assert_no_alignment_check_override();
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
        "arch selftest: thread {} {} at rip {:#x}, address {:#x}",
        s.current,
        info.name(),
        frame.ip(),
        info.address
    );
    match (s.current, info.vector) {
        (0, 14) => {
            assert!(
                info.address == UNMAPPED && info.error_code & 0b110 == 0b110,
                "wrong page fault details {info:?}"
            );
            assert!(s.stage == 1, "thread A faulted before checking its syscall");
            // Thread A is done; it is never resumed.
            switch_to(1);
            unreachable!("a faulted thread was resumed");
        }
        (1, 13) => {
            assert!(
                info.address == NON_CANONICAL,
                "wrong bad-return details {info:?}"
            );
            crate::println!("arch selftest: OK");
            super::shutdown(0);
        }
        _ => panic!(
            "arch selftest: unexpected user fault {info:?} in thread {}",
            s.current
        ),
    }
}
