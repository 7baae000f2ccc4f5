//! The CPUs of the machine: bringing up the secondary CPUs the firmware lists, per-CPU tick counts, and the requests CPUs send each other by IPI (reschedule, stall, TLB shootdown).
//!
//! The boot CPU is CPU 0; the others get the indices 1.. in the order the firmware lists
//! them (ACPI MADT on x86_64, the device tree's `/cpus` on aarch64), up to [`MAX_CPUS`].
//! [`start_secondaries`] starts them one at a time: it takes a kernel stack with a guard
//! page below it (the layout of every thread's kernel stack, `arch/kstack.rs`) from `Free`
//! memory, asks the port to start the CPU on it, and waits until the CPU checks in. A
//! secondary CPU sets up its own registers, per-CPU block, exception entry, interrupt
//! controller and timer (the port's part), then runs [`secondary_main`], which enters the
//! scheduler's idle loop (`sched::start_secondary`): from then on it runs the threads
//! whose affinity it is (docs/ARCHITECTURE.md, "SMP and the big kernel lock").
//!
//! Requests between CPUs ([`kick`], [`stall`], [`shootdown`]) are flags in the target's
//! [`Cpu`] plus one IPI. The sender holds the big kernel lock, so at most one stall or
//! shootdown is in flight; a synchronous one waits for the target to clear its flag. The
//! target clears it without the lock ([`handle_requests`]): in its IPI handler, or while
//! it spins for the lock (`bkl::acquire`), so a target that waits for the sender's lock
//! still answers. A CPU with interrupts disabled is always about to do one of the two.

use core::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, AtomicUsize, Ordering};

use abi::{PAGE_BITS, PAGE_SIZE};
use kerncore::FrameRange;

use crate::arch::{self, KERNEL_STACK_GUARD_SIZE, KERNEL_STACK_SIZE};
use crate::object::frames;
use crate::println;

/// The most CPUs the kernel runs on (the schema's `NUM_CPUS`); more listed by the
/// firmware stay off. GICv2 (the aarch64 interrupt controller) addresses at most 8 CPUs.
pub const MAX_CPUS: usize = abi::NUM_CPUS as usize;
const _: () = assert!(MAX_CPUS >= 1 && MAX_CPUS <= 8);

/// The index of the boot CPU.
pub const BOOT_CPU: usize = 0;

/// How long a starting CPU may take to check in (milliseconds are the rule; QEMU on a
/// loaded host may take far longer).
const START_TIMEOUT_MICROS: u64 = 5_000_000;

/// What the kernel knows of one CPU.
struct Cpu {
    /// Set by the CPU itself once it runs its idle loop.
    online: AtomicBool,
    /// Timer ticks the CPU has taken.
    ticks: AtomicU64,
    /// A TLB shootdown of [`SHOOTDOWN`] waits for this CPU; it clears the flag when done.
    shootdown: AtomicBool,
    /// A stall of this thread (its TCB address) waits for this CPU, 0 for none; cleared
    /// once the thread's user registers are saved and it runs no user code until the
    /// CPU holds the lock again.
    stall: AtomicU64,
    /// Set when this CPU answered a stall of its current thread: the entry it waits in
    /// is abandoned once it holds the lock ([`take_abandoned`]).
    abandoned: AtomicBool,
    /// What the current entry from user mode is (an [`Entry`]), for a stall.
    entry: AtomicU8,
    /// The user root this CPU loaded last (it may still cache its translations).
    loaded_root: AtomicU64,
    /// Set when a thread was queued for this CPU while it idled: its idle loop takes the
    /// lock again only then.
    work: AtomicBool,
}

static CPUS: [Cpu; MAX_CPUS] = [const {
    Cpu {
        online: AtomicBool::new(false),
        ticks: AtomicU64::new(0),
        shootdown: AtomicBool::new(false),
        stall: AtomicU64::new(0),
        abandoned: AtomicBool::new(false),
        entry: AtomicU8::new(0),
        loaded_root: AtomicU64::new(0),
        work: AtomicBool::new(false),
    }
}; MAX_CPUS];

/// What a TLB shootdown does on the CPUs that loaded the root.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TlbAction {
    /// Drop the root's cached translations (after an unmap).
    Flush,
    /// Stop using the root, whose frame is about to be freed (VSpace destruction).
    Retire,
}

/// The shootdown in flight: the user root whose translations go, and whether the root
/// itself is retired. Written only by the CPU holding the big kernel lock, before it
/// raises the targets' flags.
static SHOOTDOWN: Shootdown = Shootdown {
    root: AtomicU64::new(0),
    retire: AtomicBool::new(false),
};

struct Shootdown {
    root: AtomicU64,
    retire: AtomicBool,
}

/// The kind of an entry from user mode, recorded before the lock is taken: a stalled
/// syscall is restarted, anything else is dropped (an exception recurs when the
/// instruction runs again).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Entry {
    /// A `syscall` / `svc`.
    Syscall = 1,
    /// An exception or interrupt.
    Other = 2,
}

/// How many CPUs run (the boot CPU and every secondary CPU that checked in).
static RUNNING: AtomicUsize = AtomicUsize::new(1);

/// Set just before the first secondary CPU starts: from then on the console takes its lock.
static MULTIPROCESSOR: AtomicBool = AtomicBool::new(false);

/// The index of the running CPU.
pub fn this_cpu() -> usize {
    arch::cpu_index()
}

/// How many CPUs run: 1 until [`start_secondaries`] has started the others.
pub fn running() -> usize {
    RUNNING.load(Ordering::Acquire)
}

/// Whether another CPU may run kernel code at the same time as this one (secondary CPUs
/// are being started or run).
pub fn multiprocessor() -> bool {
    MULTIPROCESSOR.load(Ordering::Relaxed)
}

/// The timer ticks CPU `cpu` has taken (0 for a CPU that does not run).
pub fn ticks(cpu: usize) -> u64 {
    CPUS.get(cpu)
        .map_or(0, |cpu| cpu.ticks.load(Ordering::Relaxed))
}

/// Whether CPU `cpu` runs (is online).
pub fn is_online(cpu: usize) -> bool {
    cpu == BOOT_CPU
        || CPUS
            .get(cpu)
            .is_some_and(|cpu| cpu.online.load(Ordering::Acquire))
}

/// Records the kind of entry from user mode the running CPU makes (before it takes the
/// big kernel lock).
pub fn note_entry(entry: Entry) {
    CPUS[this_cpu()].entry.store(entry as u8, Ordering::Relaxed);
}

/// Records that the running CPU loaded the user root `root` (under the big kernel lock).
pub fn note_loaded_root(root: u64) {
    CPUS[this_cpu()].loaded_root.store(root, Ordering::Relaxed);
}

/// Asks CPU `cpu` (another one) to look at its scheduler: an IPI, answered by the
/// scheduler once the target holds the lock.
pub fn kick(cpu: usize) {
    debug_assert!(cpu != this_cpu(), "a CPU kicks itself");
    arch::send_ipi(cpu);
}

/// Tells idling CPU `cpu` that a thread was queued for it (then [`kick`] it).
pub fn note_work(cpu: usize) {
    CPUS[cpu].work.store(true, Ordering::Release);
}

/// Whether a thread was queued for the running CPU since it last asked (clears the note).
pub fn take_work() -> bool {
    CPUS[this_cpu()].work.swap(false, Ordering::Acquire)
}

/// Stops `thread`, which runs on CPU `cpu` (another one), from running user code: waits
/// until `cpu` has its user registers saved and waits for the lock the caller holds; the
/// entry it waits in is then abandoned (a syscall is made again later) and the CPU
/// reschedules. Caller holds the big kernel lock.
pub fn stall(cpu: usize, thread: u64) {
    let target = &CPUS[cpu];
    target.stall.store(thread, Ordering::Release);
    arch::send_ipi(cpu);
    wait_for(cpu, || target.stall.load(Ordering::Acquire) == 0, "stall");
}

/// Does `action` to the translations of the user root `root` on every other CPU that
/// loaded it last, and waits until each has. Caller holds the big kernel lock and has done
/// the same on its own CPU.
pub fn shootdown(root: u64, action: TlbAction) {
    if !multiprocessor() {
        return;
    }
    SHOOTDOWN.root.store(root, Ordering::Relaxed);
    SHOOTDOWN
        .retire
        .store(action == TlbAction::Retire, Ordering::Relaxed);
    let me = this_cpu();
    let targets = (0..running()).filter(|&cpu| {
        cpu != me && is_online(cpu) && CPUS[cpu].loaded_root.load(Ordering::Relaxed) == root
    });
    let mut sent = [false; MAX_CPUS];
    for cpu in targets {
        CPUS[cpu].shootdown.store(true, Ordering::Release);
        arch::send_ipi(cpu);
        sent[cpu] = true;
    }
    for (cpu, _) in sent.iter().enumerate().filter(|(_, sent)| **sent) {
        let flag = &CPUS[cpu].shootdown;
        wait_for(cpu, || !flag.load(Ordering::Acquire), "TLB shootdown");
    }
}

/// How long a synchronous request may wait for its target (QEMU on a loaded host may
/// deschedule a virtual CPU for long).
const REQUEST_TIMEOUT_MICROS: u64 = 10_000_000;

/// Spins until `done`, panicking after [`REQUEST_TIMEOUT_MICROS`]: a CPU that never
/// answers breaks the rule that every CPU either takes IPIs or spins for the lock.
fn wait_for(cpu: usize, mut done: impl FnMut() -> bool, what: &str) {
    let mut spins: u64 = 0;
    let start = arch::cycles();
    while !done() {
        core::hint::spin_loop();
        spins += 1;
        if spins.is_multiple_of(1 << 16)
            && arch::cycles().wrapping_sub(start) > REQUEST_TIMEOUT_MICROS.saturating_mul(1_000)
        {
            panic!(
                "cpu {cpu} did not answer a {what} request: every CPU must take IPIs or answer \
                 requests while it spins for the big kernel lock"
            );
        }
    }
}

/// Answers the requests other CPUs made of the running one (lock-free): a TLB shootdown
/// (flush, or retire the root), a stall of the current thread. Called from the IPI
/// handler and from the spin loop of `bkl::acquire`, with interrupts disabled.
pub fn handle_requests() {
    let cpu = &CPUS[this_cpu()];
    if cpu.shootdown.load(Ordering::Acquire) {
        let root = SHOOTDOWN.root.load(Ordering::Relaxed);
        let action = if SHOOTDOWN.retire.load(Ordering::Relaxed) {
            TlbAction::Retire
        } else {
            TlbAction::Flush
        };
        arch::mmu::remote_flush(root, action);
        cpu.shootdown.store(false, Ordering::Release);
    }
    let thread = cpu.stall.load(Ordering::Acquire);
    if thread != 0 {
        let current = arch::running_thread();
        // A second stall of the same entry (the lock holder stalls again before this CPU
        // got the lock) finds it abandoned already: the syscall is rewound only once.
        if current == thread && !cpu.abandoned.load(Ordering::Relaxed) {
            if cpu.entry.load(Ordering::Relaxed) == Entry::Syscall as u8 {
                // The thread's frame is saved on its kernel stack, and the stalling CPU
                // touches it only once the flag below is clear.
                crate::object::tcb::with_user_frame(thread, |frame| frame.restart_syscall());
            }
            cpu.abandoned.store(true, Ordering::Relaxed);
        }
        cpu.stall.store(0, Ordering::Release);
    }
}

/// Whether the entry the running CPU holds the lock for was abandoned by a stall (and
/// clears the mark).
pub fn take_abandoned() -> bool {
    let abandoned = &CPUS[this_cpu()].abandoned;
    // A plain load on the common path: no atomic read-modify-write on every entry.
    abandoned.load(Ordering::Relaxed) && {
        abandoned.store(false, Ordering::Relaxed);
        true
    }
}

/// Counts a timer tick on the running CPU (every port's timer interrupt, through
/// `arch::hooks::timer_tick`).
pub fn count_tick() {
    CPUS[this_cpu()].ticks.fetch_add(1, Ordering::Relaxed);
}

/// Prints every running CPU's tick count on one line (`smp: timer ticks per cpu: 0: 812,
/// 1: 809`), when more than one CPU runs: the record that the secondary CPUs kept taking
/// their ticks.
pub fn report_ticks() {
    let cpus = running();
    if cpus < 2 {
        return;
    }
    struct Counts(usize);
    impl core::fmt::Display for Counts {
        fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
            for cpu in 0..self.0 {
                let separator = if cpu == 0 { "" } else { "," };
                write!(f, "{separator} {cpu}: {}", ticks(cpu))?;
            }
            Ok(())
        }
    }
    println!("smp: timer ticks per cpu:{}", Counts(cpus));
}

/// Starts every secondary CPU the firmware lists and waits for each to check in; prints
/// one line per CPU and then `smp: <N> CPUs running`. Runs on the boot CPU with the big
/// kernel lock held, after the frame table and the 4 KiB direct map exist.
pub fn start_secondaries() {
    let cpus = arch::discover_cpus();
    println!(
        "smp: {} CPUs listed by {}; cpu 0 (boot) is {}",
        cpus.listed(),
        arch::CPU_LIST_SOURCE,
        cpus.boot()
    );
    if cpus.listed() > MAX_CPUS {
        println!(
            "warning: the kernel runs on at most {MAX_CPUS} CPUs; {} stay off",
            cpus.listed() - MAX_CPUS
        );
    }
    for (index, cpu) in cpus.secondaries() {
        MULTIPROCESSOR.store(true, Ordering::Relaxed);
        let stack_top = allocate_stack(index);
        arch::start_cpu(index, cpu, stack_top);
        let online = &CPUS[index].online;
        if !arch::spin_wait(START_TIMEOUT_MICROS, || online.load(Ordering::Acquire)) {
            panic!(
                "cpu {index} ({cpu}) did not come up within {} ms",
                START_TIMEOUT_MICROS / 1000
            );
        }
        RUNNING.fetch_add(1, Ordering::AcqRel);
        println!("smp: cpu {index} up ({cpu})");
    }
    println!("smp: {} CPUs running", running());
}

/// Where a secondary CPU goes once the port has set it up: records its kernel stack (so a
/// fault handler can tell an overflow of it), checks in, takes the big kernel lock and
/// enters the scheduler's idle loop, which runs the threads whose affinity it is.
pub fn secondary_main(cpu: usize, stack_top: u64) -> ! {
    debug_assert!(
        cpu == this_cpu(),
        "CPU {cpu} runs with another per-CPU block"
    );
    arch::set_current_thread(0, stack_top);
    CPUS[cpu].online.store(true, Ordering::Release);
    crate::bkl::acquire();
    crate::sched::start_secondary(stack_top)
}

/// A kernel stack for CPU `cpu`: `KERNEL_STACK_SIZE` bytes of `Free` RAM claimed for the
/// kernel, with the page below unmapped from the direct map as its guard. Returns the
/// stack's top (a direct-map address).
fn allocate_stack(cpu: usize) -> u64 {
    let pages = ((KERNEL_STACK_GUARD_SIZE + KERNEL_STACK_SIZE) as u64).div_ceil(PAGE_SIZE);
    let first = frames::with_table(|table| {
        let mut from = 0;
        while let Some(run) = table.next_free_run(from) {
            if run.count >= pages {
                let range = FrameRange {
                    first: run.first,
                    count: pages,
                };
                table.claim_for_kernel(range).ok()?;
                return Some(run.first);
            }
            from = run.first + run.count;
        }
        None
    })
    .unwrap_or_else(|| panic!("no free memory for the kernel stack of cpu {cpu}"));
    let base = first << PAGE_BITS;
    arch::guard_kernel_stack(base);
    arch::phys_to_virt(base + pages * PAGE_SIZE) as u64
}
