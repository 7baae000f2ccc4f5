//! Arch self test (feature `arch-selftest`): the arch-independent driver for user mode, syscalls, faults, timer and eager FPU.
//!
//! It stands in for the scheduler and the syscall layer: two user threads in one small
//! address space exercise the syscall path (argument and result registers), thread
//! switches with FPU state, a user write to an unmapped address, timer interrupts from
//! user and kernel mode, and a return to an address user mode cannot execute; before that,
//! every CPU the kernel brought up must take timer ticks of its own. Each port's
//! `arch::selftest` supplies the user code and its own checks (x86_64: RFLAGS.AC never
//! leaks into the kernel; aarch64: write-xor-execute kernel mappings and a user read of
//! the virtual counter). Success prints `arch selftest: OK` and shuts down with code 0
//! (QEMU exit status 1); any failure panics (status 3). `cargo xtask test` boots it on
//! both architectures; by hand on x86_64:
//!
//! ```text
//! KERNITE_BOOT_IMAGE=/dev/null cargo build -p kernel --target x86_64-unknown-none --features arch-selftest
//! qemu-system-x86_64 -accel tcg -machine q35 -cpu max -m 256M -display none -serial stdio \
//!     -no-reboot -device isa-debug-exit,iobase=0xf4,iosize=0x04 \
//!     -kernel target/x86_64-unknown-none/debug/kernel
//! ```

use crate::arch::{
    self, EntryFrame, FaultInfo, FpuArea, KERNEL_STACK_SIZE, KernelContext, MemoryRegion, mmu,
};
use crate::cell::BklCell;
use crate::object::frames;
use crate::smp::{self, MAX_CPUS};
use core::sync::atomic::{AtomicU64, Ordering};
use kerncore::FrameState;

/// Where the user code is mapped; thread A starts here.
const USER_CODE: u64 = 0x40_0000;
/// Thread B's entry point, relative to the start of the user code.
pub const THREAD_B_OFFSET: u64 = 0x100;
const USER_STACK_A: u64 = 0x40_2000;
const USER_STACK_B: u64 = 0x40_4000;
/// The address thread A writes to; nothing is mapped there.
pub const UNMAPPED: u64 = 0x1000;
/// Where thread B asks to return to: non-canonical on x86_64, outside the 48-bit user
/// range on aarch64. Either way the fault must come from user mode.
const BAD_RETURN: u64 = 1 << 63;

// Selftest syscall numbers (this harness's own, not the kernite ABI). The user code of
// each port uses them as `const` operands.
/// Checks the six argument registers; the result is their sum.
pub const SYS_CHECK_ARGS: u64 = 0;
/// Switches to the other thread.
pub const SYS_YIELD: u64 = 1;
/// Returns the number of timer ticks seen in user mode.
pub const SYS_TICKS: u64 = 2;
/// Makes the thread return to [`BAD_RETURN`].
pub const SYS_BAD_RETURN: u64 = 3;
/// The user code found a wrong register value.
pub const SYS_FAIL: u64 = 4;
/// How many user-mode timer ticks thread B waits for.
pub const USER_TICKS_WANTED: u64 = 3;

unsafe extern "C" {
    // Each port's `arch::selftest` places its user code between these two symbols.
    static selftest_user_start: u8;
    static selftest_user_end: u8;
}

/// The user code both threads run (thread B from [`THREAD_B_OFFSET`]): the port's
/// `global_asm!` between `selftest_user_start` and `selftest_user_end`, in .rodata.
pub fn user_code() -> &'static [u8] {
    // SAFETY: The linker places both symbols around the user code in .rodata.
    unsafe {
        let start = &raw const selftest_user_start;
        let len = (&raw const selftest_user_end) as usize - start as usize;
        core::slice::from_raw_parts(start, len)
    }
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

/// The test's state; the boot CPU alone runs the test, under the big kernel lock.
static STATE: BklCell<State> = BklCell::new(State {
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
    // SAFETY: Only the boot CPU runs the test, with the big kernel lock held and interrupts
    // off in the kernel; each hook takes the reference fresh and drops it before switching
    // threads.
    unsafe { &mut *STATE.get() }
}

fn phys<T>(p: &T) -> u64 {
    arch::virt_to_phys(p as *const T as usize)
}

/// Runs the self test; never returns.
pub fn run(regions: &[MemoryRegion]) -> ! {
    for r in regions.iter().filter(|r| r.usable) {
        let word = r.base + r.len - 8;
        // Only a frame nothing was built in yet (the frame table, the direct map's tables
        // and the secondary CPUs' stacks came from free memory).
        let free = frames::with_table(|table| {
            table.state(word >> abi::PAGE_BITS) == Some(FrameState::Free)
        });
        if !free {
            continue;
        }
        let last = arch::phys_to_virt(word) as *mut u64;
        // SAFETY: The word is free RAM that nothing uses (the test owns the machine),
        // reached through the direct map.
        let seen = unsafe {
            last.write_volatile(0x5a5a_1234_8765_a5a5);
            last.read_volatile()
        };
        assert!(
            seen == 0x5a5a_1234_8765_a5a5,
            "direct map of {word:#x} does not reach RAM"
        );
    }
    arch::selftest::check_kernel(regions, STATE.get() as u64);
    crate::println!("arch selftest: idle until two timer ticks");
    while KERNEL_TICKS.load(Ordering::Relaxed) < 2 {
        arch::enable_interrupts_and_halt();
    }
    check_every_cpu_ticks();
    let s = state();
    // Address space: four levels of tables covering 0x400000..0x600000 (level 0 maps
    // pages).
    let [root, l2, l1, l0] = &mut s.tables;
    // SAFETY: root is a page-aligned table owned by this test.
    unsafe { mmu::new_root(root.0.as_mut_ptr().cast()) };
    let set = |table: &mut Page, index: usize, entry: u64| {
        // SAFETY: index < 512 and the table is 4 KiB of u64 entries.
        unsafe { table.0.as_mut_ptr().cast::<u64>().add(index).write(entry) };
    };
    set(root, mmu::index(USER_CODE, 3), mmu::table_entry(phys(l2)));
    set(l2, mmu::index(USER_CODE, 2), mmu::table_entry(phys(l1)));
    set(l1, mmu::index(USER_CODE, 1), mmu::table_entry(phys(l0)));
    let rx = abi::Rights::READ.union(abi::Rights::EXECUTE);
    let rw = abi::Rights::READ.union(abi::Rights::WRITE);
    set(
        l0,
        mmu::index(USER_CODE, 0),
        mmu::page_entry(phys(&s.code), rx),
    );
    set(
        l0,
        mmu::index(USER_STACK_A - 1, 0),
        mmu::page_entry(phys(&s.stacks), rw),
    );
    set(
        l0,
        mmu::index(USER_STACK_B - 1, 0),
        mmu::page_entry(phys(&s.stacks_b), rw),
    );
    for rights in [rx, rw, abi::Rights::READ] {
        assert!(
            mmu::entry_rights(mmu::page_entry(0x1000, rights)) == rights,
            "entry_rights does not invert page_entry for {rights:?}"
        );
    }

    let code = user_code();
    s.code.0[..code.len()].copy_from_slice(code);

    let entries = [
        (USER_CODE, USER_STACK_A),
        (USER_CODE + THREAD_B_OFFSET, USER_STACK_B),
    ];
    for (i, (ip, sp)) in entries.into_iter().enumerate() {
        let thread = &mut s.threads[i];
        thread.fpu = FpuArea::init();
        // SAFETY: The stack belongs to this thread for the rest of the test.
        let (context, frame) =
            unsafe { arch::prepare_user_thread(thread.stack.0.as_mut_ptr(), KERNEL_STACK_SIZE) };
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
    unsafe { mmu::activate(phys(root)) };
    crate::println!("arch selftest: entering user mode");
    s.current = 0;
    let (from, to) = (&raw mut s.boot, &raw const s.threads[0].context);
    s.boot_fpu.save();
    s.threads[0].fpu.restore();
    enter(0);
    // SAFETY: Both contexts are valid; the boot context is resumed by nothing (the test
    // ends with a shutdown).
    unsafe { arch::switch_context(from, to) };
    unreachable!("the boot context is never resumed");
}

/// How many ticks every CPU must take while the boot CPU waits for them.
const CPU_TICKS_WANTED: u64 = 3;
/// How many boot-CPU ticks that may take.
const CPU_TICKS_TIMEOUT: u64 = 3 * abi::TICKS_PER_SEC;

/// Every CPU the kernel brought up takes timer ticks of its own: each CPU's count advances
/// by [`CPU_TICKS_WANTED`] while the boot CPU idles (with the big kernel lock released, so
/// the secondary CPUs' tick handlers can take it).
fn check_every_cpu_ticks() {
    let cpus = smp::running();
    let start: [u64; MAX_CPUS] = core::array::from_fn(smp::ticks);
    let deadline = KERNEL_TICKS.load(Ordering::Relaxed) + CPU_TICKS_TIMEOUT;
    let behind = || (0..cpus).find(|&cpu| smp::ticks(cpu) < start[cpu] + CPU_TICKS_WANTED);
    while let Some(cpu) = behind() {
        assert!(
            KERNEL_TICKS.load(Ordering::Relaxed) < deadline,
            "arch selftest: cpu {cpu} took {} timer ticks in {CPU_TICKS_TIMEOUT} ticks of the boot CPU",
            smp::ticks(cpu) - start[cpu]
        );
        arch::enable_interrupts_and_halt();
    }
    crate::println!("arch selftest: {cpus} CPUs running, each took {CPU_TICKS_WANTED} timer ticks");
}

fn enter(i: usize) {
    let s = state();
    let top = s.threads[i].stack.0.as_ptr() as u64 + KERNEL_STACK_SIZE as u64;
    arch::set_current_thread(i as u64 + 1, top);
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
    unsafe { arch::switch_context(from, to) };
}

/// Stands in for `crate::syscall::handle_syscall`.
pub fn handle_syscall(entry: EntryFrame) {
    arch::selftest::check_kernel_entry();
    // SAFETY: The self-test threads have no TCBs: nothing else reaches their frames.
    let frame = unsafe { &mut *entry.as_ptr() };
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
            frame.set_ip(BAD_RETURN);
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
    arch::selftest::check_kernel_entry();
    if from_user {
        USER_TICKS.fetch_add(1, Ordering::Relaxed);
    } else {
        KERNEL_TICKS.fetch_add(1, Ordering::Relaxed);
    }
}

/// Stands in for `crate::sched::user_fault`.
pub fn user_fault(entry: EntryFrame, info: FaultInfo) {
    // SAFETY: As in `handle_syscall`.
    let frame = unsafe { &mut *entry.as_ptr() };
    let s = state();
    crate::println!(
        "arch selftest: thread {} {} at ip {:#x}, address {:#x}",
        s.current,
        info.name(),
        frame.ip(),
        info.address
    );
    match s.current {
        0 if info.vector == arch::selftest::UNMAPPED_WRITE_FAULT => {
            assert!(
                info.address == UNMAPPED && arch::selftest::fault_was_user_write(&info),
                "wrong unmapped-write fault details {info:x?}"
            );
            assert!(s.stage == 1, "thread A faulted before checking its syscall");
            // Thread A is done; it is never resumed.
            switch_to(1);
            unreachable!("a faulted thread was resumed");
        }
        1 if info.vector == arch::selftest::BAD_RETURN_FAULT => {
            assert!(
                info.address == BAD_RETURN,
                "wrong bad-return details {info:x?}"
            );
            crate::println!("arch selftest: OK");
            crate::power_off(0);
        }
        _ => panic!(
            "arch selftest: unexpected user fault {info:x?} in thread {}",
            s.current
        ),
    }
}
