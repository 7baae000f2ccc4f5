//! Benchmarks: median cycle counts of a null syscall, a trivial invocation, a yield round trip, IPC round trips, a fault round trip, generated-protocol round trips next to the raw IPC they ride on, and the SMP ones (cross-CPU IPC and notification, null syscall with the other CPUs busy).
//!
//! Cycles come from [`arch::cycles`]: `rdtsc` on x86_64, the generic timer's `CNTVCT_EL0`
//! on aarch64 (a fixed-frequency counter, not CPU cycles). Two benchmarks calibrate the
//! others: `counter_read` times an empty bracket (included in every other median), and
//! `spin_2000_instructions` the counter's advance over 2,000 instructions, which under
//! `cargo xtask bench --icount` must read exactly 2000.

use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use rootlib::peer::{ECHO, EMPTY};
use trona::ipc::{self, Message};
use trona::protocols::echo::EchoClient;
use trona::uapi::kernel_message::{FaultReply, UserException};
use trona::uapi::{CPtr, IpcMessage, ObjectType, PAGE_SIZE};
use trona::{println, substrate};

use crate::arch;
use crate::ctx::Ctx;
use crate::harness::{Failure, Outcome, Tally, ensure, ok};

/// Samples per benchmark.
const ITERATIONS: usize = 10_000;

/// Pages that hold the samples.
const SAMPLE_PAGES: usize = (ITERATIONS * 8).div_ceil(PAGE_SIZE as usize);

/// One benchmark: its name and the operation it times (which must succeed).
struct Bench {
    name: &'static str,
    run: fn(&mut Ctx, &mut [u64]) -> Outcome,
}

const BENCHES: &[Bench] = &[
    Bench {
        name: "counter_read",
        run: counter_read,
    },
    Bench {
        name: "spin_2000_instructions",
        run: spin_2000_instructions,
    },
    Bench {
        name: "null_syscall",
        run: null_syscall,
    },
    Bench {
        name: "frame_physical_address",
        run: trivial_invocation,
    },
    Bench {
        name: "yield_round_trip",
        run: yield_round_trip,
    },
    Bench {
        name: "ipc_call_reply_rtt",
        run: ipc_call_reply_rtt,
    },
    Bench {
        name: "ipc_call_reply_rtt_same_as",
        run: ipc_call_reply_rtt_same_as,
    },
    Bench {
        name: "ipc_send_recv",
        run: ipc_send_recv,
    },
    Bench {
        name: "ipc_call_reply_64w",
        run: ipc_call_reply_64w,
    },
    Bench {
        name: "fault_round_trip",
        run: fault_round_trip,
    },
    Bench {
        name: "proto_echo_ping_rtt",
        run: proto_echo_ping_rtt,
    },
    Bench {
        name: "ipc_call_reply_33w",
        run: ipc_call_reply_33w,
    },
    Bench {
        name: "proto_echo_bytes256_rtt",
        run: proto_echo_bytes256_rtt,
    },
    // SMP (issue 10): cross-CPU IPC and notification next to the same-CPU ones, and the
    // null syscall while the other CPUs are busy. Each needs its CPUs (`cargo xtask bench
    // --smp 4`); with fewer it prints why and records nothing.
    Bench {
        name: "ipc_call_reply_rtt_cross_cpu",
        run: ipc_call_reply_rtt_cross_cpu,
    },
    Bench {
        name: "notification_round_trip_same_cpu",
        run: notification_round_trip_same_cpu,
    },
    Bench {
        name: "notification_round_trip_cross_cpu",
        run: notification_round_trip_cross_cpu,
    },
    Bench {
        name: "null_syscall_3_cpus_spinning",
        run: null_syscall_cpus_spinning,
    },
    Bench {
        name: "null_syscall_3_cpus_in_syscalls",
        run: null_syscall_cpus_in_syscalls,
    },
];

/// Runs every benchmark and prints its `BENCH` line.
pub fn run_all(ctx: &mut Ctx, tally: &mut Tally) {
    println!("abitest: benchmarks, counter {}", arch::CYCLE_COUNTER);
    let region = match ctx.pages(SAMPLE_PAGES, crate::READ_WRITE) {
        Ok(region) => region,
        Err(failure) => return tally.record("bench_setup", Err(failure)),
    };
    // SAFETY: the region is freshly mapped read-write, `SAMPLE_PAGES` pages long (enough
    // for `ITERATIONS` u64 values, page-aligned), and used only through this slice until
    // it is released below.
    let samples =
        unsafe { core::slice::from_raw_parts_mut(region.vaddr as usize as *mut u64, ITERATIONS) };
    for bench in BENCHES {
        if let Some(needed) = cpus_needed(bench.name)
            && ctx.info.cpu_count < needed
        {
            println!(
                "abitest: bench {}: skipped: needs {needed} CPUs, {} run",
                bench.name, ctx.info.cpu_count
            );
            continue;
        }
        let outcome = (bench.run)(ctx, samples).map(|()| {
            samples.sort_unstable();
            println!(
                "BENCH {} median={} iterations={}",
                bench.name,
                samples[ITERATIONS / 2],
                ITERATIONS
            );
        });
        tally.record(bench.name, outcome);
    }
    if let Err(failure) = ctx.release_pages(region) {
        tally.record("bench_teardown", Err(failure));
    }
}

/// Times `op` once per sample; the first error ends the benchmark.
fn measure(samples: &mut [u64], mut op: impl FnMut() -> Result<(), Failure>) -> Outcome {
    for sample in samples.iter_mut() {
        let start = arch::cycles();
        op()?;
        *sample = arch::cycles().wrapping_sub(start);
    }
    Ok(())
}

/// One sample: two counter reads with nothing between them.
fn counter_read(_: &mut Ctx, samples: &mut [u64]) -> Outcome {
    measure(samples, || Ok(()))
}

/// One sample: how far the counter advances over 2,000 instructions, the difference
/// between a loop of 2,000 and one of 1,000 iterations of two instructions each (`dec; jnz`,
/// `subs; b.ne`), bracketed by the same code, so that nothing but the 2,000 extra
/// instructions separates them.
fn spin_2000_instructions(_: &mut Ctx, samples: &mut [u64]) -> Outcome {
    for sample in samples.iter_mut() {
        let short = spin_bracketed(core::hint::black_box(1_000));
        let long = spin_bracketed(core::hint::black_box(2_000));
        *sample = long.saturating_sub(short);
    }
    Ok(())
}

/// The counter's advance over `arch::spin(iterations)`; never inlined, so both calls above
/// run the same instructions but for the loop's iterations.
#[inline(never)]
fn spin_bracketed(iterations: u64) -> u64 {
    let start = arch::cycles();
    arch::spin(iterations);
    arch::cycles().wrapping_sub(start)
}

fn null_syscall(_: &mut Ctx, samples: &mut [u64]) -> Outcome {
    measure(samples, || ok("null", substrate::null()))
}

fn trivial_invocation(ctx: &mut Ctx, samples: &mut [u64]) -> Outcome {
    let frame = ctx.create(ObjectType::Frame)?;
    let result = measure(samples, || {
        ok(
            "Frame.physical_address",
            substrate::frame_physical_address(frame),
        )
        .map(|_| ())
    });
    ctx.delete(frame)?;
    result
}

static PARTNER_RUNNING: AtomicBool = AtomicBool::new(false);

extern "C" fn yield_partner(_: u64) -> ! {
    PARTNER_RUNNING.store(true, Ordering::Release);
    loop {
        let _ = substrate::sched_yield();
    }
}

/// One sample: the suite yields to a partner at the same priority, which yields straight back.
fn yield_round_trip(ctx: &mut Ctx, samples: &mut [u64]) -> Outcome {
    PARTNER_RUNNING.store(false, Ordering::Relaxed);
    let partner = ctx.spawn(yield_partner, 0)?;
    let started = ctx.wait_until(100, || PARTNER_RUNNING.load(Ordering::Acquire));
    let result = if started {
        measure(samples, || ok("sched_yield", substrate::sched_yield()))
    } else {
        Ok(())
    };
    ctx.destroy(partner)?;
    ensure!(started, "the yield partner never ran");
    result
}

/// One sample: a register-only call to the peer in its own address space and its empty
/// reply (`reply_recv` on the peer's side).
fn ipc_call_reply_rtt(ctx: &mut Ctx, samples: &mut [u64]) -> Outcome {
    let peer = ctx.peer()?;
    let message = ipc::short(EMPTY, &[]).map_err(kernel)?;
    measure(samples, || {
        ok("call", substrate::call(peer.client, &message)).map(|_| ())
    })
}

static SERVER_RUNNING: AtomicBool = AtomicBool::new(false);

/// Answers every message on its endpoint with an empty reply.
extern "C" fn empty_server(endpoint: u64) -> ! {
    SERVER_RUNNING.store(true, Ordering::Release);
    let empty = IpcMessage::default();
    let mut incoming = substrate::recv(CPtr(endpoint));
    while incoming.is_ok() {
        incoming = substrate::reply_recv(CPtr(endpoint), &empty);
    }
    trona::exit()
}

/// One sample: as `ipc_call_reply_rtt`, to a server thread in the suite's address space.
fn ipc_call_reply_rtt_same_as(ctx: &mut Ctx, samples: &mut [u64]) -> Outcome {
    SERVER_RUNNING.store(false, Ordering::Relaxed);
    let endpoint = ctx.create(ObjectType::Endpoint)?;
    let server = ctx.spawn(empty_server, endpoint.0)?;
    time_empty_server(ctx, samples, endpoint, server)
}

/// Times calls on `endpoint` to `server`, an [`empty_server`] thread just started, then
/// destroys both.
fn time_empty_server(
    ctx: &mut Ctx,
    samples: &mut [u64],
    endpoint: CPtr,
    server: rootlib::Thread,
) -> Outcome {
    let started = ctx.wait_until(100, || SERVER_RUNNING.load(Ordering::Acquire));
    let message = IpcMessage::default();
    let result = if started {
        measure(samples, || {
            ok("call", substrate::call(endpoint, &message)).map(|_| ())
        })
    } else {
        Ok(())
    };
    ctx.destroy(server)?;
    ctx.delete(endpoint)?;
    ensure!(started, "the server never ran");
    result
}

static RECEIVED: AtomicU64 = AtomicU64::new(0);

/// Receives forever, counting messages.
extern "C" fn counting_receiver(endpoint: u64) -> ! {
    while substrate::recv(CPtr(endpoint)).is_ok() {
        RECEIVED.fetch_add(1, Ordering::Relaxed);
    }
    trona::exit()
}

/// One sample: a one-way `send` to a receiver of higher priority blocked in `recv`; it
/// runs at once, counts the message and blocks in `recv` again, and the sender goes on.
fn ipc_send_recv(ctx: &mut Ctx, samples: &mut [u64]) -> Outcome {
    RECEIVED.store(0, Ordering::Relaxed);
    let endpoint = ctx.create(ObjectType::Endpoint)?;
    let receiver = ctx.spawn_at(counting_receiver, endpoint.0, crate::ctx::PRIORITY + 1)?;
    let message = IpcMessage::default();
    let result = measure(samples, || ok("send", substrate::send(endpoint, &message)));
    let received = RECEIVED.load(Ordering::Relaxed);
    ctx.destroy(receiver)?;
    ctx.delete(endpoint)?;
    result?;
    ensure!(
        received == samples.len() as u64,
        "the receiver counted {received} of {} messages",
        samples.len()
    );
    Ok(())
}

/// Words of the long message in `ipc_call_reply_64w`.
const LONG_WORDS: u64 = 64;

/// One sample: a call to the peer with 64 words (through both IPC buffers) and its reply
/// of 65 words (the badge and the words back).
fn ipc_call_reply_64w(ctx: &mut Ctx, samples: &mut [u64]) -> Outcome {
    let peer = ctx.peer()?;
    let mut buffer = crate::tests::own_ipc_buffer(ctx)?;
    let mut message = Message::new(ECHO);
    for word in 0..LONG_WORDS {
        message.push(word).map_err(kernel)?;
    }
    let registers = message.registers(Some(&mut buffer)).map_err(kernel)?;
    measure(samples, || {
        let reply = ok("call", substrate::call(peer.client, &registers))?;
        ensure!(
            u64::from(reply.message.info.length()) == LONG_WORDS + 1,
            "the reply has {} words",
            reply.message.info.length()
        );
        Ok(())
    })
}

static FAULTER_RUNNING: AtomicBool = AtomicBool::new(false);

/// Executes an undefined instruction forever (its handler resumes it on the instruction).
extern "C" fn faulter(_: u64) -> ! {
    FAULTER_RUNNING.store(true, Ordering::Release);
    loop {
        arch::invalid_instruction();
    }
}

/// One sample: a fault round trip. The thread's undefined instruction arrives at the
/// suite (its fault handler) as a UserException; `reply_recv` resumes it on the same
/// instruction, which faults again and arrives as the next message.
fn fault_round_trip(ctx: &mut Ctx, samples: &mut [u64]) -> Outcome {
    FAULTER_RUNNING.store(false, Ordering::Relaxed);
    let endpoint = ctx.create(ObjectType::Endpoint)?;
    let thread = ctx.create_thread(faulter, 0)?;
    let started = substrate::tcb_set_fault_handler(thread.tcb, endpoint.0)
        .and_then(|()| substrate::tcb_resume(thread.tcb));
    let result = started.map_err(kernel).and_then(|()| {
        let first = ok("recv the first fault", substrate::recv(endpoint))?;
        let length = usize::from(first.message.info.length());
        let exception = UserException::decode(&first.message.regs[..length])
            .ok_or_else(|| Failure::new(format_args!("not a UserException: {first:?}")))?;
        let again = ipc::short(0, &FaultReply { ip: exception.ip }.encode()).map_err(kernel)?;
        measure(samples, || {
            let fault = ok("reply_recv", substrate::reply_recv(endpoint, &again))?;
            ensure!(
                fault.message.info.label() == UserException::LABEL,
                "received {fault:?}"
            );
            Ok(())
        })
    });
    ctx.destroy(thread)?;
    ctx.delete(endpoint)?;
    result
}

/// One sample: `Echo.ping` through the generated client and server (ipcpeer, another
/// address space): the generated layer's cost over `ipc_call_reply_rtt`.
fn proto_echo_ping_rtt(ctx: &mut Ctx, samples: &mut [u64]) -> Outcome {
    let peer = ctx.peer()?;
    let buffer = crate::tests::own_ipc_buffer(ctx)?;
    let echo = EchoClient::connect(peer.granting, buffer)
        .map_err(|error| Failure::new(format_args!("connect: {error:?}")))?;
    measure(samples, || {
        echo.ping()
            .map_err(|error| Failure::new(format_args!("ping: {error:?}")))
    })
}

/// Bytes of `proto_echo_bytes256_rtt`'s message.
const ECHO_BYTES: usize = 256;

/// One sample: a raw call of the words that carry 256 bytes and their length (33), to
/// the peer's hand-written ECHO (whose reply has the badge and the words: 34).
fn ipc_call_reply_33w(ctx: &mut Ctx, samples: &mut [u64]) -> Outcome {
    let peer = ctx.peer()?;
    let mut buffer = crate::tests::own_ipc_buffer(ctx)?;
    let words = 1 + ECHO_BYTES as u64 / 8;
    let mut message = Message::new(ECHO);
    for word in 0..words {
        message.push(word).map_err(kernel)?;
    }
    let registers = message.registers(Some(&mut buffer)).map_err(kernel)?;
    measure(samples, || {
        let reply = ok("call", substrate::call(peer.client, &registers))?;
        ensure!(
            u64::from(reply.message.info.length()) == words + 1,
            "the reply has {} words",
            reply.message.info.length()
        );
        Ok(())
    })
}

/// One sample: `Echo.bytes` with 256 bytes each way through the generated client and server.
fn proto_echo_bytes256_rtt(ctx: &mut Ctx, samples: &mut [u64]) -> Outcome {
    let peer = ctx.peer()?;
    let buffer = crate::tests::own_ipc_buffer(ctx)?;
    let echo = EchoClient::connect(peer.granting, buffer)
        .map_err(|error| Failure::new(format_args!("connect: {error:?}")))?;
    let data: [u8; ECHO_BYTES] = core::array::from_fn(|i| i as u8);
    measure(samples, || {
        let back = echo
            .bytes(&data)
            .map_err(|error| Failure::new(format_args!("bytes: {error:?}")))?;
        ensure!(back.as_slice().len() == ECHO_BYTES, "short echo");
        Ok(())
    })
}

fn kernel(error: trona::uapi::Error) -> Failure {
    Failure::new(format_args!("{}", error.name()))
}

/// How many CPUs a benchmark needs, if more than one.
fn cpus_needed(name: &str) -> Option<u64> {
    if name.ends_with("_cross_cpu") {
        Some(2)
    } else if name.starts_with("null_syscall_3_cpus") {
        Some(4)
    } else {
        None
    }
}

/// A thread at `entry(arg)` pinned to `cpu` at `priority`, started.
fn start_pinned(
    ctx: &mut Ctx,
    entry: extern "C" fn(u64) -> !,
    arg: u64,
    cpu: u32,
    priority: u8,
) -> Result<rootlib::Thread, Failure> {
    let thread = ctx.create_thread(entry, arg)?;
    let started = substrate::tcb_set_priority(thread.tcb, priority, rootlib::ROOT_TCB)
        .and_then(|()| substrate::tcb_set_affinity(thread.tcb, cpu))
        .and_then(|()| substrate::tcb_resume(thread.tcb));
    if let Err(error) = started {
        ctx.destroy(thread)?;
        return Err(kernel(error));
    }
    Ok(thread)
}

/// One sample: as `ipc_call_reply_rtt_same_as`, to a server thread on CPU 1 (each call
/// and reply wakes the other CPU by IPI).
fn ipc_call_reply_rtt_cross_cpu(ctx: &mut Ctx, samples: &mut [u64]) -> Outcome {
    SERVER_RUNNING.store(false, Ordering::Relaxed);
    let endpoint = ctx.create(ObjectType::Endpoint)?;
    let server = start_pinned(ctx, empty_server, endpoint.0, 1, crate::ctx::PRIORITY)?;
    time_empty_server(ctx, samples, endpoint, server)
}

/// The notifications of the notification round trips: the one the echo thread waits on
/// and the one it signals back.
static PING: AtomicU64 = AtomicU64::new(0);
static PONG: AtomicU64 = AtomicU64::new(0);

/// Waits on [`PING`] and signals [`PONG`], forever.
extern "C" fn notification_echo(_: u64) -> ! {
    let (ping, pong) = (
        CPtr(PING.load(Ordering::Acquire)),
        CPtr(PONG.load(Ordering::Acquire)),
    );
    while substrate::notification_wait(ping).is_ok() {
        if substrate::notification_signal(pong).is_err() {
            break;
        }
    }
    trona::exit()
}

/// One sample: the suite signals a notification a thread on `cpu` waits on (of higher
/// priority, so on the same CPU it runs at once), which signals one back that the suite
/// waits on.
fn notification_round_trip(ctx: &mut Ctx, samples: &mut [u64], cpu: u32) -> Outcome {
    let ping = ctx.create(ObjectType::Notification)?;
    let pong = ctx.create(ObjectType::Notification)?;
    let ping_badged = ctx.mint(ping, trona::uapi::Rights::WRITE, 1)?;
    let pong_badged = ctx.mint(pong, trona::uapi::Rights::WRITE, 1)?;
    PING.store(ping.0, Ordering::Release);
    PONG.store(pong_badged.0, Ordering::Release);
    let echo = start_pinned(ctx, notification_echo, 0, cpu, crate::ctx::PRIORITY + 1)?;
    let result = measure(samples, || {
        ok("signal", substrate::notification_signal(ping_badged))?;
        ok("wait", substrate::notification_wait(pong)).map(|_| ())
    });
    ctx.destroy(echo)?;
    for cap in [pong_badged, ping_badged, pong, ping] {
        ctx.delete(cap)?;
    }
    result
}

fn notification_round_trip_same_cpu(ctx: &mut Ctx, samples: &mut [u64]) -> Outcome {
    notification_round_trip(ctx, samples, 0)
}

fn notification_round_trip_cross_cpu(ctx: &mut Ctx, samples: &mut [u64]) -> Outcome {
    notification_round_trip(ctx, samples, 1)
}

static BUSY_STOP: AtomicBool = AtomicBool::new(false);
static BUSY_STARTED: AtomicU64 = AtomicU64::new(0);

/// Spins in user mode until told to stop.
extern "C" fn busy_spinner(_: u64) -> ! {
    BUSY_STARTED.fetch_add(1, Ordering::AcqRel);
    while !BUSY_STOP.load(Ordering::Relaxed) {
        core::hint::spin_loop();
    }
    trona::exit()
}

/// Makes null syscalls until told to stop.
extern "C" fn busy_syscaller(_: u64) -> ! {
    BUSY_STARTED.fetch_add(1, Ordering::AcqRel);
    while !BUSY_STOP.load(Ordering::Relaxed) {
        let _ = substrate::null();
    }
    trona::exit()
}

/// One sample: a null syscall on CPU 0 while CPUs 1 to 3 each run `busy`.
fn null_syscall_while(
    ctx: &mut Ctx,
    samples: &mut [u64],
    busy: extern "C" fn(u64) -> !,
) -> Outcome {
    BUSY_STOP.store(false, Ordering::Relaxed);
    BUSY_STARTED.store(0, Ordering::Relaxed);
    let mut threads: [Option<rootlib::Thread>; 3] = [None, None, None];
    let mut setup = Ok(());
    for (index, slot) in threads.iter_mut().enumerate() {
        match start_pinned(ctx, busy, 0, index as u32 + 1, crate::ctx::PRIORITY) {
            Ok(thread) => *slot = Some(thread),
            Err(failure) => {
                setup = Err(failure);
                break;
            }
        }
    }
    let started =
        setup.is_ok() && ctx.wait_until(100, || BUSY_STARTED.load(Ordering::Acquire) == 3);
    let result = if started {
        measure(samples, || ok("null", substrate::null()))
    } else {
        Ok(())
    };
    BUSY_STOP.store(true, Ordering::Release);
    for thread in threads.into_iter().flatten() {
        ctx.destroy(thread)?;
    }
    setup?;
    ensure!(started, "the busy threads never all ran");
    result
}

fn null_syscall_cpus_spinning(ctx: &mut Ctx, samples: &mut [u64]) -> Outcome {
    null_syscall_while(ctx, samples, busy_spinner)
}

fn null_syscall_cpus_in_syscalls(ctx: &mut Ctx, samples: &mut [u64]) -> Outcome {
    null_syscall_while(ctx, samples, busy_syscaller)
}
