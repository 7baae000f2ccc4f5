//! proctest, the program the suite spawns through the process server: its arguments say what to do, its exit status reports the result.
//!
//! Arguments are words separated by single spaces:
//! - `exit N`: exit with status N;
//! - `echo TEXT`: write TEXT and a newline to the console, exit 0;
//! - `pid`: exit with its own pid;
//! - `caps`: exit with `cap_count << 16 | type0 << 8 | rights0`, the object type and rights
//!   of its first passed capability as `CNode.identify` reports them;
//! - `signal`: signal its first passed capability (a Notification), exit 0;
//! - `park`: wait on its first passed capability (a Notification), then exit 7;
//! - `spawn PROGRAM ARGS`: spawn PROGRAM with ARGS, wait for it, exit with its status plus 1;
//! - `fault`: read an unmapped address (the process server ends it);
//! - anything else: exit with status 255.
#![no_std]
#![no_main]

use trona::process::Process;
use trona::substrate;
use trona::uapi::{CPtr, START_SLOT_CNODE};

trona::entry!(main);

/// The status for arguments it does not understand.
const UNKNOWN: u32 = 255;

/// An address no spawned process maps.
const UNMAPPED: u64 = 0x10;

fn main(arg: u64) -> ! {
    let Ok(me) = Process::connect(arg) else {
        trona::println!("proctest: not started by the process server");
        trona::exit()
    };
    let args = me.args();
    let (command, rest) = match args.iter().position(|&byte| byte == b' ') {
        Some(space) => (&args[..space], &args[space + 1..]),
        None => (args, &[][..]),
    };
    let status = match command {
        b"exit" => number(rest).unwrap_or(UNKNOWN),
        b"echo" => {
            let written = me.write(rest).and_then(|()| me.write(b"\n"));
            u32::from(written.is_err())
        }
        b"pid" => me.pid().map_or(UNKNOWN, |pid| pid as u32),
        b"caps" => caps(&me),
        b"signal" => first_cap(&me).map_or(UNKNOWN, |cap| {
            u32::from(substrate::notification_signal(cap).is_err())
        }),
        b"park" => match first_cap(&me).map(substrate::notification_wait) {
            Some(Ok(_)) => 7,
            _ => UNKNOWN,
        },
        b"spawn" => spawn(&me, rest),
        b"fault" => {
            // SAFETY: nothing is mapped at UNMAPPED: the read faults, and the process server,
            // this process's fault handler, ends the process; the read never completes.
            let value = unsafe { core::ptr::read_volatile(UNMAPPED as usize as *const u64) };
            value as u32
        }
        _ => UNKNOWN,
    };
    me.exit(status)
}

/// The first capability passed at spawn.
fn first_cap(me: &Process) -> Option<CPtr> {
    me.caps().next()
}

/// `cap_count << 16 | type0 << 8 | rights0`.
fn caps(me: &Process) -> u32 {
    let count = me.caps().count() as u32;
    let identity = first_cap(me)
        .and_then(|cap| substrate::cnode_identify(CPtr(START_SLOT_CNODE), cap.0).ok())
        .map_or(0, |identity| {
            u32::from(identity.object_type()) << 8 | u32::from(identity.rights())
        });
    count << 16 | identity
}

/// Spawns `PROGRAM ARGS`, waits, and returns its status plus one.
fn spawn(me: &Process, rest: &[u8]) -> u32 {
    let (program, args) = match rest.iter().position(|&byte| byte == b' ') {
        Some(space) => (&rest[..space], &rest[space + 1..]),
        None => (rest, &[][..]),
    };
    let Ok(program) = core::str::from_utf8(program) else {
        return UNKNOWN;
    };
    match me.spawn(program, args, &[]).and_then(|pid| me.wait(pid)) {
        Ok(status) => (status as u32).wrapping_add(1),
        Err(_) => UNKNOWN,
    }
}

/// A decimal number.
fn number(text: &[u8]) -> Option<u32> {
    core::str::from_utf8(text).ok()?.parse().ok()
}
