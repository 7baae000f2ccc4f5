//! Benchmarks: median cycle counts of a null syscall, a trivial invocation, a yield round trip, IPC round trips, a fault round trip, and generated-protocol round trips next to the raw IPC they ride on.
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
