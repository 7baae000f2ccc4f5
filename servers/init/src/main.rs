//! init, the kernite root task: reads the boot information, then builds a thread and a second process out of untyped memory.
//!
//! What it shows, in order, using only trona's generated wrappers:
//! 1. the boot handoff: the untyped capabilities and the physical memory map;
//! 2. a second thread in init's own address space (a TCB retyped from untyped memory,
//!    a static stack) that prints and signals a Notification init waits on;
//! 3. a second process built from scratch: its own VSpace, page tables, CNode, frames
//!    and TCB, loaded from the `hello` boot module's ELF image; it gets nothing but two
//!    badged endpoint capabilities to init: it calls init with a question and gets the
//!    answer, and takes a page fault that init, its fault handler, handles by mapping a
//!    page (protocol in `rootlib::demo`);
//! 4. `INIT OK`, then the machine is powered off with status 0.
//!
//! Single-threaded (A2): only init's first thread touches its `Resources`.
#![no_std]
#![no_main]

use rootlib::{ROOT_CNODE, ROOT_VSPACE, Resources, SlotAllocator, UntypedPool, VirtualRange};
use trona::boot::{BootInfo, MemoryKind};
use trona::ipc;
use trona::thread::{Spaces, ThreadStack, ThreadStart};
use trona::uapi::kernel_message::VmFault;
use trona::uapi::{
    CPtr, ObjectType, PAGE_SIZE, ROOT_CNODE_BITS, ROOT_SLOT_KERNEL_DEBUG, ROOT_SLOT_TCB, Rights,
};
use trona::{println, substrate};

use rootlib::demo::{DONE, FAULT_ADDRESS, HELLO_ENDPOINT_SLOT, HELLO_FAULT_SLOT, QUESTION};
use rootlib::process::{self, Process, ProcessSpec};

trona::entry!(main);

/// The priority init runs at, and gives the threads it starts.
const PRIORITY: u8 = trona::uapi::NUM_PRIORITIES / 2;

/// Virtual addresses init hands out for its own mappings (scratch pages for loading).
const SCRATCH_START: u64 = 0x0000_1000_0000_0000;
const SCRATCH_END: u64 = 0x0000_1000_4000_0000;

/// log2 of the slot count of the child process's CNode.
const CHILD_CNODE_BITS: u8 = 4;

/// The bit the second thread sets in the Notification word (an unbadged signal).
const THREAD_DONE: u64 = 1;

/// The badge of hello's request capability.
const REQUEST_BADGE: u64 = 1;

/// The badge of hello's fault-handler capability.
const FAULT_BADGE: u64 = 2;

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

/// Builds the `hello` process and serves it: answers its question, handles its page fault
/// (maps a zeroed page and replies) and waits for its `DONE`.
fn run_process_demo(res: &mut Resources, info: &BootInfo) {
    let module = info
        .module("hello")
        .unwrap_or_else(|| fail(format_args!("no `hello` boot module")));
    // SAFETY: the kernel maps every boot module read-only at `vaddr` for `len` bytes in
    // the root task, and init never unmaps or writes it.
    let image = unsafe { module.bytes() };
    let endpoint = res
        .retype(ObjectType::Endpoint, 0)
        .unwrap_or_else(|error| fail(format_args!("creating the endpoint: {error}")));
    let spec = ProcessSpec {
        image,
        cnode_bits: CHILD_CNODE_BITS,
        priority: PRIORITY,
        start: process::Start::Word(0),
    };
    let grant = |child: &Process| {
        substrate::cnode_mint(
            child.cnode,
            HELLO_ENDPOINT_SLOT,
            endpoint,
            Rights::WRITE,
            REQUEST_BADGE,
        )?;
        substrate::cnode_mint(
            child.cnode,
            HELLO_FAULT_SLOT,
            endpoint,
            Rights::WRITE,
            FAULT_BADGE,
        )?;
        substrate::tcb_set_fault_handler(child.tcb, HELLO_FAULT_SLOT)?;
        Ok(())
    };
    let child = process::create(res, &spec, grant)
        .unwrap_or_else(|error| fail(format_args!("building hello: {error}")));
    println!("init: started hello ({} bytes of ELF)", module.len);
    let mut incoming = substrate::recv(endpoint);
    loop {
        let message = incoming
            .unwrap_or_else(|error| fail(format_args!("receiving from hello: {}", error.name())));
        let answer = match (message.badge, ipc::label(&message)) {
            (REQUEST_BADGE, QUESTION) => {
                let product = ipc::word(&message, 0, None).unwrap_or(0)
                    * ipc::word(&message, 1, None).unwrap_or(0);
                println!("init: hello asked a question over IPC");
                ipc::short(QUESTION, &[product])
            }
            (FAULT_BADGE, VmFault::LABEL) => {
                handle_fault(res, &child, &message);
                ipc::short(0, &[])
            }
            (REQUEST_BADGE, DONE) => break,
            (badge, label) => fail(format_args!(
                "unexpected message from hello: badge {badge:#x}, label {label:#x}"
            )),
        };
        let answer = answer.unwrap_or_else(|error| fail(format_args!("reply: {}", error.name())));
        incoming = substrate::reply_recv(endpoint, &answer);
    }
    println!("init: hello is done");
    let _ = substrate::tcb_suspend(child.tcb);
}

/// hello's page fault: checks it is the expected one and maps a zeroed page there.
fn handle_fault(res: &mut Resources, child: &Process, message: &trona::uapi::Received) {
    let length = usize::from(message.message.info.length()).min(message.message.regs.len());
    let fault = VmFault::decode(&message.message.regs[..length])
        .unwrap_or_else(|| fail(format_args!("a short VmFault message from hello")));
    if fault.address != FAULT_ADDRESS {
        fail(format_args!(
            "hello faulted at {:#x} (ip {:#x}), expected {FAULT_ADDRESS:#x}",
            fault.address, fault.ip
        ));
    }
    let page = fault.address & !(PAGE_SIZE - 1);
    let mapped = res
        .retype(ObjectType::Frame, 0)
        .and_then(|frame| res.map_frame(child.vspace, frame, page, Rights::READ));
    if let Err(error) = mapped {
        fail(format_args!("mapping hello's page: {error}"));
    }
    println!("init: handled hello's page fault at {:#x}", fault.address);
}

/// Reports a failure and powers the machine off with a non-zero status.
fn fail(reason: core::fmt::Arguments<'_>) -> ! {
    println!("INIT FAILED: {reason}");
    let _ = substrate::kernel_debug_shutdown(CPtr(ROOT_SLOT_KERNEL_DEBUG), 1);
    trona::exit()
}
