//! CPUs: the boot count (`CPUS <n>` for xtask), affinity, migration, cross-CPU IPC and notification, TLB shootdown, FPU state across migrations, idle CPUs waking, control of a thread another CPU runs, and concurrent frame life cycles on every CPU.
//!
//! Each test runs on one CPU as well as on four. A test that needs a second CPU says
//! `skipped: needs 2 CPUs` on one and passes; the others place their helpers on the last
//! CPU, which on one CPU is the suite's own.

use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use trona::uapi::{CPtr, Error, NUM_CPUS, ObjectType, Rights};
use trona::{ipc, println, substrate};

use crate::arch::{self, SIMD_REGISTERS};
use crate::ctx::{Ctx, DEFAULT_TIMEOUT_TICKS, KERNEL_DEBUG, SELF_TCB};
use crate::harness::{Failure, Outcome, ensure, err, ok};

/// `BootInfo.cpu_count` names at least the CPU the suite runs on; the `CPUS` line hands
/// it to xtask (docs/CONTRACTS.md, "In-QEMU test protocol").
pub fn cpu_count(ctx: &mut Ctx) -> Outcome {
    let count = ctx.info.cpu_count;
    ensure!(
        count >= 1,
        "BootInfo.cpu_count is {count}: the kernel counts no CPU (one that predates the field?)"
    );
    ensure!(
        count <= u64::from(NUM_CPUS),
        "BootInfo.cpu_count is {count}, above NUM_CPUS ({NUM_CPUS})"
    );
    println!("CPUS {count}");
    Ok(())
}

/// The CPUs that run.
fn cpus(ctx: &Ctx) -> u32 {
    ctx.info.cpu_count as u32
}

/// The CPU the calling thread runs on.
fn here() -> Result<u32, Failure> {
    Ok(ok(
        "current_cpu",
        substrate::kernel_debug_current_cpu(KERNEL_DEBUG),
    )? as u32)
}

/// Whether the test can run: it needs a second CPU. Prints the reason when not.
fn needs_two(ctx: &Ctx, name: &str) -> bool {
    if cpus(ctx) >= 2 {
        return true;
    }
    println!("abitest: {name}: skipped: needs 2 CPUs, {} runs", cpus(ctx));
    false
}

/// Moves the calling thread to `cpu` and checks that it runs there.
fn move_self(cpu: u32) -> Outcome {
    ok(
        format_args!("set_affinity of the suite to {cpu}"),
        substrate::tcb_set_affinity(SELF_TCB, cpu),
    )?;
    let now = here()?;
    ensure!(
        now == cpu,
        "the suite runs on cpu {now} after moving to cpu {cpu}"
    );
    Ok(())
}

/// A created thread at `entry(arg)` pinned to `cpu`, then started; with a fault handler
/// when `fault_endpoint` names one.
fn start_on(
    ctx: &mut Ctx,
    entry: extern "C" fn(u64) -> !,
    arg: u64,
    cpu: u32,
    fault_endpoint: Option<CPtr>,
) -> Result<rootlib::Thread, Failure> {
    let thread = ctx.create_thread(entry, arg)?;
    let started = fault_endpoint
        .map_or(Ok(()), |endpoint| {
            substrate::tcb_set_fault_handler(thread.tcb, endpoint.0)
        })
        .and_then(|()| substrate::tcb_set_affinity(thread.tcb, cpu))
        .and_then(|()| substrate::tcb_resume(thread.tcb));
    if let Err(error) = started {
        ctx.destroy(thread)?;
        return Err(Failure::new(format_args!(
            "starting a helper on cpu {cpu}: {}",
            error.name()
        )));
    }
    Ok(thread)
}

/// Where each helper of [`affinity`] found itself (`u64::MAX` until it looked).
static REPORTED: [AtomicU64; NUM_CPUS as usize] =
    [const { AtomicU64::new(u64::MAX) }; NUM_CPUS as usize];

extern "C" fn report_cpu(index: u64) -> ! {
    let cpu = substrate::kernel_debug_current_cpu(KERNEL_DEBUG).unwrap_or(u64::MAX - 1);
    REPORTED[index as usize % REPORTED.len()].store(cpu, Ordering::Release);
    trona::exit()
}

/// `Tcb.set_affinity` for real: the suite moves itself to every CPU and back and
/// `KernelDebug.current_cpu` says it runs there; a thread started on each CPU finds itself
/// there. An affinity at or beyond `cpu_count` or `NUM_CPUS` is `InvalidArgument`, and
/// the thread stays where it was.
pub fn affinity(ctx: &mut Ctx) -> Outcome {
    let cpus = cpus(ctx);
    ensure!(here()? == 0, "the suite does not start on cpu 0");
    for bad in [cpus, NUM_CPUS, NUM_CPUS + 1, u32::MAX] {
        err(
            format_args!("set_affinity {bad} with {cpus} CPUs"),
            substrate::tcb_set_affinity(SELF_TCB, bad),
            Error::InvalidArgument,
        )?;
    }
    ensure!(here()? == 0, "a refused set_affinity moved the suite");
    let result = (0..cpus).chain([0]).try_for_each(move_self);
    // Back on cpu 0 whatever happened, for the tests that follow.
    let _ = substrate::tcb_set_affinity(SELF_TCB, 0);
    result?;
    for (cpu, slot) in REPORTED.iter().enumerate().take(cpus as usize) {
        slot.store(u64::MAX, Ordering::Relaxed);
        let thread = start_on(ctx, report_cpu, cpu as u64, cpu as u32, None)?;
        let seen = ctx.wait_until(DEFAULT_TIMEOUT_TICKS, || {
            slot.load(Ordering::Acquire) != u64::MAX
        });
        ctx.destroy(thread)?;
        let found = slot.load(Ordering::Acquire);
        ensure!(seen, "the helper pinned to cpu {cpu} never ran");
        ensure!(
            found == cpu as u64,
            "the helper pinned to cpu {cpu} ran on cpu {found}"
        );
    }
    Ok(())
}

/// The CPU the migrating spinner last found itself on, and how often it looked.
static SPINNER_CPU: AtomicU64 = AtomicU64::new(u64::MAX);
static SPINNER_LOOKS: AtomicU64 = AtomicU64::new(0);

extern "C" fn cpu_spinner(_: u64) -> ! {
    loop {
        if let Ok(cpu) = substrate::kernel_debug_current_cpu(KERNEL_DEBUG) {
            SPINNER_CPU.store(cpu, Ordering::Release);
        }
        SPINNER_LOOKS.fetch_add(1, Ordering::Relaxed);
    }
}

/// Moves in [`migration`].
const MIGRATIONS: u32 = 24;

/// A thread that never blocks is moved while it runs, from CPU to CPU in turn: each time it
/// next finds itself on the new CPU (the move takes effect at its next switch, which the
/// kernel asks for by IPI).
pub fn migration(ctx: &mut Ctx) -> Outcome {
    if !needs_two(ctx, "migration") {
        return Ok(());
    }
    let cpus = cpus(ctx);
    SPINNER_CPU.store(u64::MAX, Ordering::Relaxed);
    let spinner = start_on(ctx, cpu_spinner, 0, 1, None)?;
    let mut failed = None;
    for round in 0..MIGRATIONS {
        let target = (round + 2) % cpus;
        if let Err(error) = substrate::tcb_set_affinity(spinner.tcb, target) {
            failed = Some((round, target, Some(error)));
            break;
        }
        let arrived = ctx.wait_until(DEFAULT_TIMEOUT_TICKS, || {
            SPINNER_CPU.load(Ordering::Acquire) == u64::from(target)
        });
        if !arrived {
            failed = Some((round, target, None));
            break;
        }
    }
    let looks = SPINNER_LOOKS.load(Ordering::Relaxed);
    ctx.destroy(spinner)?;
    if let Some((round, target, error)) = failed {
        return Err(Failure::new(format_args!(
            "move {round} of the spinner to cpu {target}: {}",
            error.map_or("it never ran there", |error| error.name())
        )));
    }
    println!("abitest: migration: {MIGRATIONS} moves over {cpus} CPUs, {looks} looks");
    Ok(())
}

/// The label of the cross-CPU echo server's replies.
const ECHO_LABEL: u64 = 0x5c9;

/// Answers each call with its first word plus one and the CPU it runs on.
extern "C" fn echo_server(endpoint: u64) -> ! {
    let endpoint = CPtr(endpoint);
    let mut received = substrate::recv(endpoint);
    while let Ok(message) = received {
        let cpu = substrate::kernel_debug_current_cpu(KERNEL_DEBUG).unwrap_or(u64::MAX);
        let reply = ipc::short(ECHO_LABEL, &[message.message.regs[0] + 1, cpu]).unwrap_or_default();
        received = substrate::reply_recv(endpoint, &reply);
    }
    trona::exit()
}

/// Calls in [`cross_cpu_ipc`].
const CALLS: u64 = 100;

/// Call and reply between the suite on CPU 0 and a server on the last CPU, many times:
/// every reply is the right one and comes from the server's CPU, and the suite stays on
/// its own.
pub fn cross_cpu_ipc(ctx: &mut Ctx) -> Outcome {
    let server_cpu = cpus(ctx) - 1;
    let endpoint = ctx.create(ObjectType::Endpoint)?;
    let server = start_on(ctx, echo_server, endpoint.0, server_cpu, None)?;
    let mut outcome = Ok(());
    for word in 0..CALLS {
        let message = ok("message", ipc::short(0x5c8, &[word]))?;
        let reply = substrate::call(endpoint, &message);
        let checked = match reply {
            Ok(reply) => {
                let [value, cpu, ..] = reply.message.regs;
                if reply.message.info.label() != ECHO_LABEL || value != word + 1 {
                    Err(Failure::new(format_args!(
                        "call {word}: reply label {:#x} word {value}",
                        reply.message.info.label()
                    )))
                } else if cpu != u64::from(server_cpu) {
                    Err(Failure::new(format_args!(
                        "call {word}: the server pinned to cpu {server_cpu} answered from cpu {cpu}"
                    )))
                } else {
                    Ok(())
                }
            }
            Err(error) => Err(Failure::new(format_args!(
                "call {word}: unexpected error {}",
                error.name()
            ))),
        };
        if checked.is_err() {
            outcome = checked;
            break;
        }
    }
    let suite_cpu = here()?;
    ctx.destroy(server)?;
    ctx.delete(endpoint)?;
    outcome?;
    ensure!(suite_cpu == 0, "the suite ended on cpu {suite_cpu}");
    Ok(())
}

/// Wake-ups the notification waiter saw, and the CPU it saw the last one on.
static WAKEUPS: AtomicU64 = AtomicU64::new(0);
static WAKE_CPU: AtomicU64 = AtomicU64::new(u64::MAX);

extern "C" fn notification_waiter(notification: u64) -> ! {
    while substrate::notification_wait(CPtr(notification)).is_ok() {
        let cpu = substrate::kernel_debug_current_cpu(KERNEL_DEBUG).unwrap_or(u64::MAX);
        WAKE_CPU.store(cpu, Ordering::Relaxed);
        WAKEUPS.fetch_add(1, Ordering::Release);
    }
    trona::exit()
}

/// Signals in [`cross_cpu_notification`].
const SIGNALS: u64 = 50;

/// A waiter blocked on the last CPU is woken by the suite's signal from CPU 0, again and
/// again: each signal wakes it once, on its own CPU.
pub fn cross_cpu_notification(ctx: &mut Ctx) -> Outcome {
    let waiter_cpu = cpus(ctx) - 1;
    WAKEUPS.store(0, Ordering::Relaxed);
    let notification = ctx.create(ObjectType::Notification)?;
    let badged = ctx.mint(notification, Rights::WRITE, 1)?;
    let waiter = start_on(ctx, notification_waiter, notification.0, waiter_cpu, None)?;
    let mut missed = None;
    for signal in 0..SIGNALS {
        if let Err(error) = substrate::notification_signal(badged) {
            missed = Some(Failure::new(format_args!(
                "signal {signal}: unexpected error {}",
                error.name()
            )));
            break;
        }
        if !ctx.wait_until(DEFAULT_TIMEOUT_TICKS, || {
            WAKEUPS.load(Ordering::Acquire) > signal
        }) {
            missed = Some(Failure::new(format_args!(
                "signal {signal} did not wake the waiter on cpu {waiter_cpu}"
            )));
            break;
        }
    }
    let woken_on = WAKE_CPU.load(Ordering::Relaxed);
    ctx.destroy(waiter)?;
    ctx.delete(badged)?;
    ctx.delete(notification)?;
    if let Some(failure) = missed {
        return Err(failure);
    }
    let wakeups = WAKEUPS.load(Ordering::Relaxed);
    ensure!(
        wakeups == SIGNALS,
        "{SIGNALS} signals woke the waiter {wakeups} times"
    );
    ensure!(
        woken_on == u64::from(waiter_cpu),
        "the waiter pinned to cpu {waiter_cpu} woke on cpu {woken_on}"
    );
    Ok(())
}

/// The reads the TLB reader completed.
static READS: AtomicU64 = AtomicU64::new(0);

extern "C" fn page_reader(address: u64) -> ! {
    loop {
        let _ = arch::read_word(address);
        READS.fetch_add(1, Ordering::Release);
    }
}

/// TLB shootdown: a thread on the last CPU reads a page in a loop (its TLB holds the
/// translation); the suite unmaps the page from CPU 0, and the reader's next read faults
/// to its handler with the page's address, at most one read after the unmap returned.
pub fn tlb_shootdown(ctx: &mut Ctx) -> Outcome {
    let reader_cpu = cpus(ctx) - 1;
    READS.store(0, Ordering::Relaxed);
    let region = ctx.pages(1, Rights::READ.union(Rights::WRITE))?;
    let frame = region.frames()[0];
    let vaddr = region.vaddr;
    let endpoint = ctx.create(ObjectType::Endpoint)?;
    let reader = start_on(ctx, page_reader, region.vaddr, reader_cpu, Some(endpoint))?;
    let reading = ctx.wait_until(DEFAULT_TIMEOUT_TICKS, || {
        READS.load(Ordering::Acquire) > 1000
    });
    let unmapped = substrate::vspace_unmap_frame(rootlib::ROOT_VSPACE, frame);
    let at_unmap = READS.load(Ordering::Acquire);
    let mut fault = Err(Error::WouldBlock);
    let faulted = ctx.wait_until(DEFAULT_TIMEOUT_TICKS, || {
        fault = substrate::nb_recv(endpoint);
        fault.is_ok()
    });
    let after = READS.load(Ordering::Acquire);
    ctx.destroy(reader)?;
    let remapped = ctx.res.map_frame(
        rootlib::ROOT_VSPACE,
        frame,
        region.vaddr,
        Rights::READ.union(Rights::WRITE),
    );
    ctx.release_pages(region)?;
    ctx.delete(endpoint)?;
    ensure!(
        reading,
        "the reader on cpu {reader_cpu} never read its page"
    );
    ok("unmap the page", unmapped)?;
    remapped?;
    ensure!(
        faulted,
        "the reader on cpu {reader_cpu} went on reading the unmapped page ({at_unmap} reads at \
         the unmap, {after} later): a stale TLB entry"
    );
    let fault = ok("the reader's fault", fault)?;
    let vm = trona::uapi::kernel_message::VmFault::decode(
        &fault.message.regs
            [..usize::from(fault.message.info.length()).min(fault.message.regs.len())],
    );
    ensure!(
        fault.message.info.label() == trona::uapi::kernel_message::VmFault::LABEL
            && vm.is_some_and(|vm| vm.address == vaddr),
        "the reader's fault is label {:#x} ({vm:?}), not a VmFault at {vaddr:#x}",
        fault.message.info.label()
    );
    ensure!(
        after <= at_unmap + 1,
        "the reader completed {} reads after the unmap returned",
        after - at_unmap
    );
    Ok(())
}

/// Holds in [`fpu_across_migrations`].
const FPU_HOLDS: u64 = 24;

/// 0 while running, 1 when every hold matched, 2 + hold at the first mismatch.
static FPU_RESULT: AtomicU64 = AtomicU64::new(0);
/// Holds during which the holder changed CPU.
static FPU_MIGRATED: AtomicU64 = AtomicU64::new(0);
/// Holds finished.
static FPU_DONE: AtomicU64 = AtomicU64::new(0);
/// Spin iterations of one hold.
static FPU_ITERATIONS: AtomicU64 = AtomicU64::new(0);

/// A register pattern unique to the hold and register.
fn pattern(hold: u64) -> [u128; SIMD_REGISTERS] {
    core::array::from_fn(|index| {
        let word = 0xf0 << 56 | hold << 32 | (index as u64) << 16 | 0xa5a5;
        u128::from(word) << 64 | u128::from(!word.rotate_left(7))
    })
}

extern "C" fn simd_migrant(_: u64) -> ! {
    let iterations = FPU_ITERATIONS.load(Ordering::Relaxed);
    let mut result = 1;
    for hold in 0..FPU_HOLDS {
        let before = substrate::kernel_debug_current_cpu(KERNEL_DEBUG).unwrap_or(u64::MAX);
        let expected = pattern(hold);
        let held = arch::hold_simd(&expected, iterations);
        let after = substrate::kernel_debug_current_cpu(KERNEL_DEBUG).unwrap_or(u64::MAX);
        if before != after {
            FPU_MIGRATED.fetch_add(1, Ordering::Relaxed);
        }
        FPU_DONE.fetch_add(1, Ordering::Release);
        if held != expected {
            result = 2 + hold;
            break;
        }
    }
    FPU_RESULT.store(result, Ordering::Release);
    trona::exit()
}

/// Spin iterations that take about one timer tick.
fn iterations_per_tick() -> Result<u64, Failure> {
    let mut iterations = 1u64 << 16;
    loop {
        let start = substrate::ticks().unwrap_or(0);
        arch::spin(iterations);
        let elapsed = substrate::ticks().unwrap_or(0).saturating_sub(start);
        if elapsed >= 4 {
            return Ok(iterations / elapsed);
        }
        ensure!(
            iterations < 1 << 40,
            "{iterations} spin iterations took {elapsed} ticks: the timer is not ticking"
        );
        iterations *= 2;
    }
}

/// A thread holds a distinct pattern in every vector register while the suite keeps
/// moving it from CPU to CPU: its state is saved on the CPU it leaves and restored on the
/// one it reaches, and every pattern comes back intact across many migrations.
pub fn fpu_across_migrations(ctx: &mut Ctx) -> Outcome {
    if !needs_two(ctx, "fpu_across_migrations") {
        return Ok(());
    }
    let cpus = cpus(ctx);
    FPU_ITERATIONS.store(iterations_per_tick()?, Ordering::Relaxed);
    FPU_RESULT.store(0, Ordering::Relaxed);
    FPU_MIGRATED.store(0, Ordering::Relaxed);
    FPU_DONE.store(0, Ordering::Relaxed);
    let migrant = start_on(ctx, simd_migrant, 0, 1, None)?;
    let mut target = 1;
    let mut moves = 0u64;
    let mut stalled = false;
    while FPU_RESULT.load(Ordering::Acquire) == 0 {
        target = (target + 1) % cpus;
        if substrate::tcb_set_affinity(migrant.tcb, target).is_ok() {
            moves += 1;
        }
        let done = FPU_DONE.load(Ordering::Acquire);
        // Let it hold for a while on its new CPU; it must keep finishing holds.
        ctx.wait_until(1, || false);
        if !ctx.wait_until(DEFAULT_TIMEOUT_TICKS, || {
            FPU_DONE.load(Ordering::Acquire) != done || FPU_RESULT.load(Ordering::Acquire) != 0
        }) {
            stalled = true;
            break;
        }
    }
    let result = FPU_RESULT.load(Ordering::Acquire);
    let migrated = FPU_MIGRATED.load(Ordering::Relaxed);
    ctx.destroy(migrant)?;
    ensure!(!stalled, "the SIMD thread stopped finishing holds");
    ensure!(
        result == 1,
        "the SIMD thread found its vector registers changed in hold {}",
        result.saturating_sub(2)
    );
    println!(
        "abitest: fpu_across_migrations: {moves} moves, {migrated} of {FPU_HOLDS} holds spanned a migration"
    );
    ensure!(
        migrated > 0,
        "no hold spanned a migration, so nothing was tested"
    );
    Ok(())
}

/// Rounds of [`idle_and_wake`] and of [`concurrent_frames`].
const ROUNDS: u64 = 8;

/// Per waiter of [`idle_and_wake`]: its wake notification, the `done` capability it signals
/// (badge `1 << index`), where it woke last, and how often.
static IDLE_WAKE: [AtomicU64; NUM_CPUS as usize] = [const { AtomicU64::new(0) }; NUM_CPUS as usize];
static IDLE_DONE: [AtomicU64; NUM_CPUS as usize] = [const { AtomicU64::new(0) }; NUM_CPUS as usize];
static IDLE_CPU: [AtomicU64; NUM_CPUS as usize] =
    [const { AtomicU64::new(u64::MAX) }; NUM_CPUS as usize];
static IDLE_ROUNDS: [AtomicU64; NUM_CPUS as usize] =
    [const { AtomicU64::new(0) }; NUM_CPUS as usize];

extern "C" fn idle_waiter(index: u64) -> ! {
    let index = index as usize % IDLE_WAKE.len();
    let wake = CPtr(IDLE_WAKE[index].load(Ordering::Acquire));
    let done = CPtr(IDLE_DONE[index].load(Ordering::Acquire));
    while substrate::notification_wait(wake).is_ok() {
        if let Ok(cpu) = substrate::kernel_debug_current_cpu(KERNEL_DEBUG) {
            IDLE_CPU[index].store(cpu, Ordering::Relaxed);
        }
        IDLE_ROUNDS[index].fetch_add(1, Ordering::Relaxed);
        if substrate::notification_signal(done).is_err() {
            break;
        }
    }
    trona::exit()
}

/// All CPUs idle and wake: one waiter per CPU blocks on its notification, the suite blocks
/// too (every CPU then idles), and each round the suite wakes every waiter and waits until
/// all answered; each woke on its own CPU every time.
pub fn idle_and_wake(ctx: &mut Ctx) -> Outcome {
    let cpus = cpus(ctx) as usize;
    let done = ctx.create(ObjectType::Notification)?;
    let mut made: [Option<(CPtr, CPtr, rootlib::Thread)>; NUM_CPUS as usize] =
        [const { None }; NUM_CPUS as usize];
    let mut outcome = Ok(());
    for index in 0..cpus {
        let setup = (|| -> Result<(CPtr, CPtr, rootlib::Thread), Failure> {
            let wake = ctx.create(ObjectType::Notification)?;
            let answer = ctx.mint(done, Rights::WRITE, 1 << index)?;
            IDLE_WAKE[index].store(wake.0, Ordering::Release);
            IDLE_DONE[index].store(answer.0, Ordering::Release);
            IDLE_CPU[index].store(u64::MAX, Ordering::Relaxed);
            IDLE_ROUNDS[index].store(0, Ordering::Relaxed);
            let thread = start_on(ctx, idle_waiter, index as u64, index as u32, None)?;
            Ok((wake, answer, thread))
        })();
        match setup {
            Ok(parts) => made[index] = Some(parts),
            Err(failure) => {
                outcome = Err(failure);
                break;
            }
        }
    }
    let all = (1u64 << cpus) - 1;
    if outcome.is_ok() {
        outcome = (0..ROUNDS).try_for_each(|round| {
            for (wake, _, _) in made.iter().flatten() {
                ok("signal a waiter", substrate::notification_signal(*wake))?;
            }
            let mut seen = 0;
            let start = crate::ctx::now();
            while seen != all {
                // Blocks: every CPU may idle until a waiter answers.
                seen |= ok("wait for the waiters", substrate::notification_wait(done))?;
                ensure!(
                    crate::ctx::now().saturating_sub(start) < DEFAULT_TIMEOUT_TICKS,
                    "round {round}: waiters {seen:#b} of {all:#b} answered"
                );
            }
            Ok(())
        });
    }
    for (wake, answer, thread) in made.into_iter().flatten() {
        ctx.destroy(thread)?;
        ctx.delete(answer)?;
        ctx.delete(wake)?;
    }
    ctx.delete(done)?;
    outcome?;
    for index in 0..cpus {
        let (cpu, rounds) = (
            IDLE_CPU[index].load(Ordering::Relaxed),
            IDLE_ROUNDS[index].load(Ordering::Relaxed),
        );
        ensure!(
            cpu == index as u64 && rounds == ROUNDS,
            "the waiter pinned to cpu {index} woke {rounds} of {ROUNDS} times, last on cpu {cpu}"
        );
    }
    Ok(())
}

/// Workers of [`concurrent_frames`] (one per CPU, up to this many).
const WORKERS: usize = 4;
/// Frame life cycles per worker and round.
const CYCLES: u64 = 4;
/// log2 of the bytes of the untyped every worker retypes from.
const POOL_BITS: u8 = 17;

/// Per worker: its start notification, the `done` capability, its slot and address.
struct Worker {
    start: AtomicU64,
    done: AtomicU64,
    slot: AtomicU64,
    vaddr: AtomicU64,
    /// 0, or the first failure: step << 32 | error code.
    failure: AtomicU64,
}

static WORKER: [Worker; WORKERS] = [const {
    Worker {
        start: AtomicU64::new(0),
        done: AtomicU64::new(0),
        slot: AtomicU64::new(0),
        vaddr: AtomicU64::new(0),
        failure: AtomicU64::new(0),
    }
}; WORKERS];
static POOL: AtomicU64 = AtomicU64::new(0);
static STOP_WORKERS: AtomicBool = AtomicBool::new(false);

/// One frame's life: retype from the shared pool, map, write and read back, unmap,
/// delete. The step that failed and its error.
fn frame_cycle(worker: &Worker, value: u64) -> Result<(), (u64, Error)> {
    let pool = CPtr(POOL.load(Ordering::Acquire));
    let slot = worker.slot.load(Ordering::Relaxed);
    let vaddr = worker.vaddr.load(Ordering::Relaxed);
    let rights = Rights::READ.union(Rights::WRITE);
    substrate::untyped_retype(pool, ObjectType::Frame, 0, rootlib::ROOT_CNODE, slot)
        .map_err(|e| (1, e))?;
    let mapped = substrate::vspace_map_frame(rootlib::ROOT_VSPACE, CPtr(slot), vaddr, rights)
        .map_err(|e| (2, e));
    if mapped.is_ok() {
        let fresh = arch::read_word(vaddr);
        arch::write_word(vaddr, value);
        let read = arch::read_word(vaddr);
        let unmapped =
            substrate::vspace_unmap_frame(rootlib::ROOT_VSPACE, CPtr(slot)).map_err(|e| (3, e));
        let deleted = substrate::cnode_delete(rootlib::ROOT_CNODE, slot).map_err(|e| (4, e));
        unmapped?;
        deleted?;
        if fresh != 0 {
            return Err((5, Error::InvalidArgument));
        }
        if read != value {
            return Err((6, Error::InvalidArgument));
        }
        return Ok(());
    }
    let _ = substrate::cnode_delete(rootlib::ROOT_CNODE, slot);
    mapped
}

extern "C" fn frame_worker(index: u64) -> ! {
    let worker = &WORKER[index as usize % WORKERS];
    let start = CPtr(worker.start.load(Ordering::Acquire));
    let done = CPtr(worker.done.load(Ordering::Acquire));
    let mut value = index << 48;
    while substrate::notification_wait(start).is_ok() && !STOP_WORKERS.load(Ordering::Acquire) {
        for _ in 0..CYCLES {
            value += 1;
            if let Err((step, error)) = frame_cycle(worker, value) {
                let _ = worker.failure.compare_exchange(
                    0,
                    step << 32 | error.code(),
                    Ordering::AcqRel,
                    Ordering::Relaxed,
                );
            }
        }
        if substrate::notification_signal(done).is_err() {
            break;
        }
    }
    trona::exit()
}

/// The three-state frame invariant under real concurrency: workers on (up to) four CPUs
/// retype frames from one untyped, map, write, unmap and delete them in parallel; after
/// every round the frame and mapping checkers run, and no step of any worker failed.
pub fn concurrent_frames(ctx: &mut Ctx) -> Outcome {
    let cpus = cpus(ctx) as usize;
    STOP_WORKERS.store(false, Ordering::Relaxed);
    let pool = ctx.res.retype(ObjectType::Untyped, POOL_BITS)?;
    POOL.store(pool.0, Ordering::Release);
    let done = ctx.create(ObjectType::Notification)?;
    let mut made: [Option<(CPtr, CPtr, CPtr, rootlib::Thread)>; WORKERS] =
        [const { None }; WORKERS];
    let mut outcome = Ok(());
    for (index, worker) in WORKER.iter().enumerate() {
        let setup = (|| -> Result<(CPtr, CPtr, CPtr, rootlib::Thread), Failure> {
            let start = ctx.create(ObjectType::Notification)?;
            let answer = ctx.mint(done, Rights::WRITE, 1 << index)?;
            let slot = ctx.empty_slot()?;
            let vaddr = ctx.unmapped_address()?;
            // Page tables for the address, so that the workers' maps need none.
            let probe = ctx.create(ObjectType::Frame)?;
            let rights = Rights::READ.union(Rights::WRITE);
            let tables = ctx
                .res
                .map_frame(rootlib::ROOT_VSPACE, probe, vaddr, rights);
            let _ = substrate::vspace_unmap_frame(rootlib::ROOT_VSPACE, probe);
            ctx.delete(probe)?;
            tables?;
            worker.start.store(start.0, Ordering::Release);
            worker.done.store(answer.0, Ordering::Release);
            worker.slot.store(slot.0, Ordering::Release);
            worker.vaddr.store(vaddr, Ordering::Release);
            worker.failure.store(0, Ordering::Release);
            let cpu = (index % cpus) as u32;
            let thread = start_on(ctx, frame_worker, index as u64, cpu, None)?;
            Ok((start, answer, slot, thread))
        })();
        match setup {
            Ok(parts) => made[index] = Some(parts),
            Err(failure) => {
                outcome = Err(failure);
                break;
            }
        }
    }
    let all = (1u64 << WORKERS) - 1;
    if outcome.is_ok() {
        outcome = (0..ROUNDS).try_for_each(|round| {
            for (start, ..) in made.iter().flatten() {
                ok("start a worker", substrate::notification_signal(*start))?;
            }
            let mut seen = 0;
            let begun = crate::ctx::now();
            while seen != all {
                seen |= ok("wait for the workers", substrate::notification_wait(done))?;
                ensure!(
                    crate::ctx::now().saturating_sub(begun) < DEFAULT_TIMEOUT_TICKS * 4,
                    "round {round}: workers {seen:#b} of {all:#b} finished"
                );
            }
            crate::harness::check_invariants()
                .map_err(|failure| Failure::new(format_args!("after round {round}: {failure}")))?;
            for (index, worker) in WORKER.iter().enumerate() {
                let failure = worker.failure.load(Ordering::Acquire);
                ensure!(
                    failure == 0,
                    "round {round}: worker {index} failed at step {} with error code {}",
                    failure >> 32,
                    failure & 0xffff_ffff
                );
            }
            Ok(())
        });
    }
    STOP_WORKERS.store(true, Ordering::Release);
    for (start, answer, slot, thread) in made.into_iter().flatten() {
        ctx.destroy(thread)?;
        ctx.delete(answer)?;
        ctx.delete(start)?;
        ctx.release_slot(slot);
    }
    ctx.delete(done)?;
    let described = substrate::untyped_describe(pool);
    ctx.res.delete(pool)?;
    outcome?;
    let free = ok("describe the pool", described)?;
    ensure!(
        free == 1 << POOL_BITS,
        "the pool has {free:#x} bytes free after every frame was deleted, not {:#x}",
        1u64 << POOL_BITS
    );
    println!(
        "abitest: concurrent_frames: {WORKERS} workers on {} CPUs, {ROUNDS} rounds of {CYCLES} frames each, checkers after every round",
        cpus.min(WORKERS)
    );
    Ok(())
}

/// Set by the function [`remote_control`] redirects the running spinner to.
static REDIRECTED: AtomicU64 = AtomicU64::new(0);

extern "C" fn redirected(_: u64) -> ! {
    loop {
        if let Ok(cpu) = substrate::kernel_debug_current_cpu(KERNEL_DEBUG) {
            REDIRECTED.store(cpu + 1, Ordering::Release);
        }
    }
}

/// Suspend and resume cycles in [`remote_control`].
const SUSPENDS: u32 = 1000;

/// Controlling a thread while another CPU runs it: suspend and resume it again and again
/// (it keeps running), read its registers (they are its user registers, saved), write
/// them (it goes on at the new instruction pointer, on its CPU), and delete its last TCB
/// capability without suspending it first (the deletion succeeds; the kernel waits for
/// that CPU to switch away).
pub fn remote_control(ctx: &mut Ctx) -> Outcome {
    if !needs_two(ctx, "remote_control") {
        return Ok(());
    }
    let cpu = cpus(ctx) - 1;
    REDIRECTED.store(0, Ordering::Relaxed);
    let thread = start_on(ctx, cpu_spinner, 0, cpu, None)?;
    let outcome = (|| -> Outcome {
        ensure!(
            ctx.wait_until(DEFAULT_TIMEOUT_TICKS, || {
                SPINNER_CPU.load(Ordering::Acquire) == u64::from(cpu)
            }),
            "the spinner never ran on cpu {cpu}"
        );
        for round in 0..SUSPENDS {
            ok(
                format_args!("suspend {round}"),
                substrate::tcb_suspend(thread.tcb),
            )?;
            ok(
                format_args!("resume {round}"),
                substrate::tcb_resume(thread.tcb),
            )?;
        }
        let looks = SPINNER_LOOKS.load(Ordering::Acquire);
        ensure!(
            ctx.wait_until(DEFAULT_TIMEOUT_TICKS, || {
                SPINNER_LOOKS.load(Ordering::Acquire) > looks
            }),
            "the spinner stopped after {SUSPENDS} suspends and resumes"
        );
        let mut regs = trona::uapi::UserRegisters::default();
        ok(
            "read_registers of the running spinner",
            substrate::tcb_read_registers(thread.tcb, crate::tests::address_of_mut(&mut regs)),
        )?;
        ensure!(
            regs.ip != 0 && regs.sp != 0,
            "the running spinner's registers read as ip {:#x}, sp {:#x}",
            regs.ip,
            regs.sp
        );
        let moved = trona::uapi::UserRegisters {
            ip: redirected as *const () as u64,
            sp: regs.sp & !0xf,
            ..Default::default()
        };
        ok(
            "write_registers of the running spinner",
            substrate::tcb_write_registers(thread.tcb, crate::tests::address_of(&moved)),
        )?;
        ensure!(
            ctx.wait_until(DEFAULT_TIMEOUT_TICKS, || {
                REDIRECTED.load(Ordering::Acquire) == u64::from(cpu) + 1
            }),
            "the spinner did not go on at the written registers on cpu {cpu} (saw {})",
            REDIRECTED.load(Ordering::Acquire)
        );
        Ok(())
    })();
    // Delete the running thread's TCB without suspending it.
    let deleted = substrate::cnode_delete(rootlib::ROOT_CNODE, thread.tcb.0);
    ctx.release_slot(thread.tcb);
    ctx.res.release_region(thread.stack)?;
    outcome?;
    ok("delete the TCB of a thread running on another CPU", deleted)
}
