//! The CPUs of the machine: bringing up the secondary CPUs the firmware lists, their idle loop, and per-CPU tick counts.
//!
//! The boot CPU is CPU 0; the others get the indices 1.. in the order the firmware lists
//! them (ACPI MADT on x86_64, the device tree's `/cpus` on aarch64), up to [`MAX_CPUS`].
//! [`start_secondaries`] starts them one at a time: it takes a kernel stack with a guard
//! page below it (the layout of every thread's kernel stack, `arch/kstack.rs`) from `Free`
//! memory, asks the port to start the CPU on it, and waits until the CPU checks in. A
//! secondary CPU sets up its own registers, per-CPU block, exception entry, interrupt
//! controller and timer (the port's part), then runs [`secondary_main`]: an idle loop
//! that takes its timer ticks with interrupts enabled and counts them. It never touches
//! the scheduler; user threads run on the boot CPU only (docs/ARCHITECTURE.md, "SMP and
//! the big kernel lock").

use core::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use abi::{PAGE_BITS, PAGE_SIZE};
use kerncore::FrameRange;

use crate::arch::{self, KERNEL_STACK_GUARD_SIZE, KERNEL_STACK_SIZE};
use crate::object::frames;
use crate::println;

/// The most CPUs the kernel runs on; more listed by the firmware stay off. GICv2 (the
/// aarch64 interrupt controller) addresses at most 8 CPUs.
pub const MAX_CPUS: usize = 8;

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
}

static CPUS: [Cpu; MAX_CPUS] = [const {
    Cpu {
        online: AtomicBool::new(false),
        ticks: AtomicU64::new(0),
    }
}; MAX_CPUS];

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
/// fault handler can tell an overflow of it), checks in, and idles with interrupts enabled
/// forever. Its timer ticks are counted (`arch::hooks::timer_tick`); nothing else runs here.
pub fn secondary_main(cpu: usize, stack_top: u64) -> ! {
    debug_assert!(
        cpu == this_cpu(),
        "CPU {cpu} runs with another per-CPU block"
    );
    arch::set_current_thread(0, stack_top);
    CPUS[cpu].online.store(true, Ordering::Release);
    loop {
        arch::halt_until_interrupt();
    }
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
