//! hello, the second process init builds: it prints from its own address space, signals init and ends.
//!
//! It runs with nothing but what init put in its CNode: a Notification capability
//! (write-only, badged) in the slot whose index arrives as its argument. The debug
//! console is a plain syscall and needs no capability.
//!
//! Single-threaded (A2).
#![no_std]
#![no_main]

use trona::uapi::CPtr;
use trona::{println, substrate};

trona::entry!(main);

fn main(notify_slot: u64) -> ! {
    println!("hello: running in my own address space and CSpace");
    if let Err(error) = substrate::notification_signal(CPtr(notify_slot)) {
        println!("hello: cannot signal init: {}", error.name());
    }
    trona::exit()
}
