//! init, the kernite root task: reads the boot information, starts a thread, then the process server, and spawns `hello` through it.
//!
//! What it shows, in order, using only trona's generated wrappers and protocol clients:
//! 1. the boot handoff: the untyped capabilities and the physical memory map;
//! 2. a second thread in init's own address space (a TCB retyped from untyped memory,
//!    a static stack) that prints and signals a Notification init waits on;
//! 3. the process server (`rootlib::procsrv`, a thread of init with a share of its
//!    resources), then, as its client over the generated Process protocol, `hello`
//!    spawned from its boot module into a process of its own. hello greets over the
//!    Console protocol, spawns a child of its own and waits for it; init waits for hello
//!    and checks its exit status;
//! 4. `INIT OK`, then the machine is powered off with status 0.
//!
//! Only init's first thread touches its `Resources`; the process server has its own.
#![no_std]
#![no_main]

use rootlib::{ROOT_CNODE, ROOT_VSPACE, Resources, SlotAllocator, UntypedPool, VirtualRange};
use trona::boot::{BootInfo, MemoryKind};
use trona::ipc;
use trona::thread::{Spaces, ThreadStack, ThreadStart};
use trona::uapi::{
    CPtr, ObjectType, ROOT_CNODE_BITS, ROOT_SLOT_KERNEL_DEBUG, ROOT_SLOT_TCB, Rights,
};
use trona::{println, substrate};

use rootlib::procsrv;
use trona::process::Process;

trona::entry!(main);

/// The priority init runs at, and gives the threads it starts.
const PRIORITY: u8 = trona::uapi::NUM_PRIORITIES / 2;

/// Virtual addresses init hands out for its own mappings (scratch pages for loading).
const SCRATCH_START: u64 = 0x0000_1000_0000_0000;
const SCRATCH_END: u64 = 0x0000_1000_4000_0000;

/// Root CNode slots init hands the process server.
const SERVER_SLOTS: u64 = 512;

/// Virtual addresses the process server maps its own pages at.
const SERVER_VA_START: u64 = 0x0000_1000_4000_0000;
const SERVER_VA_END: u64 = 0x0000_1000_8000_0000;

/// The status hello exits with when it worked.
const HELLO_SUCCESS: u64 = 42;

/// The bit the second thread sets in the Notification word (an unbadged signal).
const THREAD_DONE: u64 = 1;

/// The stack of init's second thread.
static WORKER_STACK: ThreadStack<16384> = ThreadStack::new();

fn main(arg: u64) -> ! {
    // SAFETY: init is the root task and never unmaps the boot-information page.
    let info = match unsafe { trona::boot_info(arg) } {
        Ok(info) => info,
        Err(error) => fail(format_args!("no usable boot information: {error:?}")),
    };
    println!(
        "init: kernite ABI {}.{} (fingerprint {:#018x})",
        trona::uapi::ABI_VERSION_MAJOR,
        trona::uapi::ABI_VERSION_MINOR,
        trona::uapi::ABI_FINGERPRINT
    );
    print_boot_info(info);
    let mut res = Resources {
        slots: SlotAllocator::new(info.first_free_slot, 1 << ROOT_CNODE_BITS),
        untyped: UntypedPool::from_boot_info(info),
        va: VirtualRange::new(SCRATCH_START, SCRATCH_END),
    };
    if let Err(error) =
        substrate::tcb_set_priority(CPtr(ROOT_SLOT_TCB), PRIORITY, CPtr(ROOT_SLOT_TCB))
    {
        fail(format_args!("setting init's priority: {}", error.name()));
    }
    let notification = res
        .retype(ObjectType::Notification, 0)
        .unwrap_or_else(|error| fail(format_args!("creating the notification: {error}")));

    print_frame_states("before");
    run_thread_demo(&mut res, notification);
    run_process_demo(&mut res, info);
    print_frame_states("after");

    println!("INIT OK");
    let status = substrate::kernel_debug_shutdown(CPtr(ROOT_SLOT_KERNEL_DEBUG), 0);
    fail(format_args!("shutdown returned: {status:?}"))
}

/// Prints the untyped capabilities and the memory map.
fn print_boot_info(info: &BootInfo) {
    let mut untyped_bytes = 0u64;
    for desc in info.untyped() {
        println!(
            "init: untyped slot {:4} paddr {:#014x} size 2^{}",
            desc.slot, desc.paddr, desc.size_bits
        );
        untyped_bytes += 1u64.checked_shl(desc.size_bits as u32).unwrap_or(0);
    }
    println!(
        "init: {} untyped capabilities, {} KiB",
        info.untyped().len(),
        untyped_bytes / 1024
    );
    for region in info.memory() {
        let kind = match region.kind() {
            Some(MemoryKind::Usable) => "usable",
            Some(MemoryKind::Kernel) => "kernel",
            Some(MemoryKind::Reserved) => "reserved",
            None => "unknown",
        };
        println!(
            "init: memory {:#014x}..{:#014x} {kind}",
            region.base,
            region.base + region.len
        );
    }
    for module in info.modules() {
        println!(
            "init: module {:?} at {:#x}, {} bytes",
            module.name(),
            module.vaddr,
            module.len
        );
    }
    println!("init: first free slot {}", info.first_free_slot);
}

/// Prints how many frames are in each state and runs the kernel's frame-table checker.
fn print_frame_states(when: &str) {
    let debug = CPtr(ROOT_SLOT_KERNEL_DEBUG);
    let mut counts = [0u64; 3];
    for (state, count) in (0u8..).zip(counts.iter_mut()) {
        *count = substrate::kernel_debug_frame_count(debug, state)
            .unwrap_or_else(|error| fail(format_args!("frame_count: {}", error.name())));
    }
    let checked = substrate::kernel_debug_check_frames(debug)
        .unwrap_or_else(|error| fail(format_args!("check_frames: {}", error.name())));
    let [free, reserved, typed] = counts;
    println!(
        "init: frames {when}: {free} free, {reserved} untyped-reserved, {typed} typed; checker verified {checked}"
    );
}

/// Starts a second thread in init's address space and waits for its signal.
fn run_thread_demo(res: &mut Resources, notification: CPtr) {
    let tcb = res
        .retype(ObjectType::Tcb, 0)
        .unwrap_or_else(|error| fail(format_args!("creating a TCB: {error}")));
    let stack = WORKER_STACK
        .take()
        .unwrap_or_else(|| fail(format_args!("worker stack already taken")));
    let spaces = Spaces {
        cspace: ROOT_CNODE,
        vspace: ROOT_VSPACE,
    };
    let start = ThreadStart {
        entry: worker,
        arg: notification.0,
        stack,
    };
    if let Err(error) = substrate::tcb_set_priority(tcb, PRIORITY, CPtr(ROOT_SLOT_TCB)) {
        fail(format_args!(
            "setting the worker's priority: {}",
            error.name()
        ));
    }
    if let Err(error) = trona::thread::spawn(tcb, spaces, start) {
        fail(format_args!("starting the worker: {}", error.name()));
    }
    match substrate::notification_wait(notification) {
        Ok(word) if word == THREAD_DONE => println!("init: second thread signalled"),
        Ok(word) => fail(format_args!(
            "unexpected notification word {word:#x} from the worker"
        )),
        Err(error) => fail(format_args!("waiting for the worker: {}", error.name())),
    }
    // The worker has ended (or is about to); its TCB is no longer needed.
    let _ = substrate::tcb_suspend(tcb);
    if let Err(error) = res.delete(tcb) {
        fail(format_args!("deleting the worker's TCB: {error}"));
    }
}

/// The second thread: prints, signals init, and ends by returning.
extern "C" fn worker(notification: u64) {
    println!("init: hello from a second thread in init's address space");
    if let Err(error) = substrate::notification_signal(CPtr(notification)) {
        println!("init: worker could not signal: {}", error.name());
    }
}

/// Starts the process server (a thread of init with a share of init's resources), spawns
/// `hello` through it as a client would, and waits for hello's exit status.
fn run_process_demo(res: &mut Resources, info: &'static BootInfo) {
    let slots = res
        .slots
        .split_off(SERVER_SLOTS)
        .unwrap_or_else(|error| fail(format_args!("slots for the process server: {error}")));
    let config = procsrv::Config {
        info,
        resources: Resources {
            slots,
            untyped: res.untyped.share(),
            va: VirtualRange::new(SERVER_VA_START, SERVER_VA_END),
        },
        priority: PRIORITY,
    };
    let client = procsrv::start(config)
        .unwrap_or_else(|error| fail(format_args!("starting the process server: {error:?}")));
    let buffer = res
        .map_new_region(1, Rights::READ.union(Rights::WRITE))
        .unwrap_or_else(|error| fail(format_args!("init's IPC buffer: {error}")));
    if let Err(error) = substrate::tcb_set_ipc_buffer(CPtr(ROOT_SLOT_TCB), buffer.vaddr) {
        fail(format_args!("setting init's IPC buffer: {}", error.name()));
    }
    // SAFETY: the page was mapped read-write just above for init's main thread, the caller,
    // whose IPC buffer it now is; init never unmaps it.
    let buffer = unsafe { ipc::Buffer::at(buffer.vaddr) };
    let me = Process::with_endpoints(client.process, client.console, client.child_exit, buffer)
        .unwrap_or_else(|error| fail(format_args!("connecting to the process server: {error:?}")));
    println!("init: process server running; spawning hello");
    let hello = me
        .spawn("hello", b"world", &[])
        .unwrap_or_else(|error| fail(format_args!("spawning hello: {error:?}")));
    match me.wait(hello) {
        Ok(HELLO_SUCCESS) => println!("init: hello (pid {hello}) exited with {HELLO_SUCCESS}"),
        Ok(status) => fail(format_args!("hello exited with {status:#x}")),
        Err(error) => fail(format_args!("waiting for hello: {error:?}")),
    }
}

/// Reports a failure and powers the machine off with a non-zero status.
fn fail(reason: core::fmt::Arguments<'_>) -> ! {
    println!("INIT FAILED: {reason}");
    let _ = substrate::kernel_debug_shutdown(CPtr(ROOT_SLOT_KERNEL_DEBUG), 1);
    trona::exit()
}
