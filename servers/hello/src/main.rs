//! hello, the first program init spawns through the process server: greets over the Console protocol, spawns a child of its own, and exits with a status init checks.
//!
//! It starts with nothing but the start convention's capabilities (schema.toml,
//! `START_SLOT_*`): its Process and Console endpoints, its child-exit notification and its
//! fault handler, all the process server's. Single-threaded (A2).
#![no_std]
#![no_main]

use core::fmt::Write;

use trona::process::Process;

trona::entry!(main);

/// The status hello exits with when everything worked (init checks it).
const SUCCESS: u32 = 42;

fn main(arg: u64) -> ! {
    let Ok(me) = Process::connect(arg) else {
        trona::println!("hello: not started by the process server");
        trona::exit()
    };
    let mut console = &me;
    let pid = me.pid().unwrap_or(0);
    let parent = me.info().map_or(0, |info| info.parent);
    let args = core::str::from_utf8(me.args()).unwrap_or("?");
    let _ = writeln!(
        console,
        "hello: {args}! I am process {pid}, child of {parent}"
    );
    let status = match me
        .spawn(
            "proctest",
            b"echo hello: ...and this is my child speaking",
            &[],
        )
        .and_then(|child| me.wait(child))
    {
        Ok(0) => SUCCESS,
        Ok(status) => {
            let _ = writeln!(console, "hello: my child exited with {status:#x}");
            1
        }
        Err(error) => {
            let _ = writeln!(console, "hello: spawning my child failed: {error:?}");
            2
        }
    };
    me.exit(status)
}
