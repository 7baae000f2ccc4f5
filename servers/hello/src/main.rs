//! hello, the second process init builds: it asks init a question over IPC, takes a page fault that init handles, and tells init it is done.
//!
//! It runs with nothing but what init put in its CNode: two badged endpoint capabilities
//! to init (one for requests, one that is its fault handler). The protocol is in
//! `rootlib::demo`. The debug console is a plain syscall and needs no capability.
//!
//! Single-threaded (A2).
#![no_std]
#![no_main]

use rootlib::demo::{DONE, FAULT_ADDRESS, HELLO_ENDPOINT_SLOT, QUESTION};
use trona::ipc;
use trona::uapi::CPtr;
use trona::{println, substrate};

trona::entry!(main);

fn main(_: u64) -> ! {
    println!("hello: running in my own address space and CSpace");
    let init = CPtr(HELLO_ENDPOINT_SLOT);
    let question = ipc::short(QUESTION, &[6, 7]).unwrap_or_default();
    match substrate::call(init, &question) {
        Ok(answer) => match ipc::word(&answer, 0, None) {
            Some(product) => println!("hello: init answered 6 * 7 = {product}"),
            None => println!("hello: init's answer was empty"),
        },
        Err(error) => println!("hello: calling init failed: {}", error.name()),
    }
    // SAFETY: nothing is mapped at FAULT_ADDRESS when this runs: the read faults, init (the
    // fault handler) maps a zeroed page there and replies, and the read is made again.
    let value = unsafe { core::ptr::read_volatile(FAULT_ADDRESS as usize as *const u64) };
    println!("hello: my page fault was handled by init (read {value:#x})");
    let done = ipc::short(DONE, &[]).unwrap_or_default();
    if let Err(error) = substrate::send(init, &done) {
        println!("hello: telling init I am done failed: {}", error.name());
    }
    trona::exit()
}
