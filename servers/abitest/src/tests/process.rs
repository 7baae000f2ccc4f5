//! The process server over the Process and Console protocols: spawn with arguments and capabilities, exit, wait, faults, the process table's bound, and refusals of malformed or unauthorised requests.
//!
//! The children are `proctest` (its arguments say what it does) and `hello`, spawned from
//! their boot modules into processes of their own.

use rootlib::procsrv::{MAX_PROCESSES, ROOT_PID};
use trona::proto::{self, Outgoing};
use trona::protocols::console::{self, ConsoleClient};
use trona::protocols::process::{self, ProcessClient, ProcessError};
use trona::substrate;
use trona::uapi::kernel_message::VmFault;
use trona::uapi::{CPtr, EXIT_STATUS_FAULTED, Error, ObjectType, ROOT_SLOT_CNODE, Rights};

use crate::ctx::Ctx;
use crate::harness::{Outcome, done, ensure, ok, refused};

/// A child exits with the status it chose, once; a second wait finds no child.
pub fn spawn_exit_wait(ctx: &mut Ctx) -> Outcome {
    let (_, me) = ctx.process_server()?;
    let child = done("spawn exit 5", me.spawn("proctest", b"exit 5", &[]))?;
    ensure!(child > ROOT_PID, "the child got pid {child}");
    let status = done("wait", me.wait(child))?;
    ensure!(status == 5, "the child exited with {status:#x}, expected 5");
    refused("wait for it again", me.wait(child), ProcessError::NotAChild)?;
    let other = done("spawn exit 0", me.spawn("proctest", b"exit 0", &[]))?;
    ensure!(other != child, "pid {child} was handed out twice");
    let status = done("wait", me.wait(other))?;
    ensure!(status == 0, "exit 0 became {status:#x}");
    let mine = done("pid", me.pid())?;
    ensure!(
        mine == ROOT_PID,
        "the suite is pid {mine}, expected {ROOT_PID}"
    );
    Ok(())
}

/// A child reads its arguments and its pid, and writes to the console.
pub fn args_pid_console(ctx: &mut Ctx) -> Outcome {
    let (_, me) = ctx.process_server()?;
    let child = done("spawn pid", me.spawn("proctest", b"pid", &[]))?;
    let status = done("wait", me.wait(child))?;
    ensure!(
        status == child & 0xffff_ffff,
        "the child reported pid {status}, the server gave it {child}"
    );
    let echo = done(
        "spawn echo",
        me.spawn("proctest", b"echo proctest: my arguments arrived", &[]),
    )?;
    let status = done("wait", me.wait(echo))?;
    ensure!(
        status == 0,
        "the console write failed in the child ({status})"
    );
    let hello = done("spawn hello", me.spawn("hello", b"abitest", &[]))?;
    let status = done("wait for hello", me.wait(hello))?;
    ensure!(status == 42, "hello exited with {status}, expected 42");
    Ok(())
}

/// Capabilities passed at spawn arrive in the child at `START_SLOT_FIRST_CAP` with their
/// rights (copies: the parent keeps its own), and work there.
pub fn spawn_with_caps(ctx: &mut Ctx) -> Outcome {
    let (_, me) = ctx.process_server()?;
    let notification = ctx.create(ObjectType::Notification)?;
    let write = Rights::WRITE.union(Rights::GRANT);
    let first = ctx.mint(notification, write, 0x10)?;
    let second = ctx.mint(notification, Rights::READ.union(Rights::GRANT), 0x20)?;
    let result = (|| {
        let child = done(
            "spawn caps",
            me.spawn("proctest", b"caps", &[first, second]),
        )?;
        let status = done("wait", me.wait(child))?;
        let expected = 2 << 16 | (ObjectType::Notification as u64) << 8 | write.bits();
        ensure!(
            status == expected,
            "the child saw {status:#x}, expected {expected:#x} (count, type, rights)"
        );
        for slot in [first, second] {
            // IPC transfers copies: the parent keeps its own.
            let identity = ok(
                "identify the passed slot",
                substrate::cnode_identify(CPtr(ROOT_SLOT_CNODE), slot.0),
            )?;
            ensure!(
                u64::from(identity.object_type()) == ObjectType::Notification as u64,
                "the parent's copy in {slot:?} reads as {:#x}",
                identity.bits()
            );
        }
        let signaller = ctx.mint(notification, write, 0x40)?;
        let child = done(
            "spawn signal",
            me.spawn("proctest", b"signal", &[signaller]),
        )?;
        let status = done("wait", me.wait(child));
        let _ = ctx.delete(signaller);
        let status = status?;
        ensure!(status == 0, "the child's signal failed ({status})");
        let word = ok("poll", substrate::notification_poll(notification))?;
        ensure!(word == 0x40, "the child's signal set {word:#x}");
        refused(
            "three capabilities",
            me.spawn(
                "proctest",
                b"exit 0",
                &[notification, notification, notification],
            ),
            ProcessError::Shared(Error::InvalidArgument),
        )
    })();
    for slot in [first, second] {
        let _ = ctx.delete(slot);
    }
    ctx.delete(notification)?;
    result
}

/// A child spawns a grandchild and waits for it; a child that faults is ended by the
/// server with `EXIT_STATUS_FAULTED` and the fault's label.
pub fn nested_and_faulting(ctx: &mut Ctx) -> Outcome {
    let (_, me) = ctx.process_server()?;
    let child = done(
        "spawn a spawner",
        me.spawn("proctest", b"spawn proctest exit 9", &[]),
    )?;
    let status = done("wait", me.wait(child))?;
    ensure!(
        status == 10,
        "the grandchild's status plus one is {status}, expected 10"
    );
    let faulty = done("spawn fault", me.spawn("proctest", b"fault", &[]))?;
    let status = done("wait", me.wait(faulty))?;
    ensure!(
        status == EXIT_STATUS_FAULTED | VmFault::LABEL,
        "the faulting child ended with {status:#x}"
    );
    let unknown = done("spawn nonsense", me.spawn("proctest", b"frobnicate", &[]))?;
    let status = done("wait", me.wait(unknown))?;
    ensure!(status == 255, "an unknown command exited {status}");
    Ok(())
}

/// `wait` on a running child says WouldBlock, then the exit notification wakes the
/// parent; the table holds `MAX_PROCESSES` processes, refuses one more, and every entry
/// (and its memory) is reused once waited for.
pub fn table_and_blocking_wait(ctx: &mut Ctx) -> Outcome {
    let (_, me) = ctx.process_server()?;
    let mut notifications = [CPtr(0); MAX_PROCESSES];
    for slot in &mut notifications {
        *slot = ctx.create(ObjectType::Notification)?;
    }
    let result = fill_table(ctx, &me, &notifications);
    for notification in notifications {
        ctx.delete(notification)?;
    }
    result
}

fn fill_table(
    ctx: &mut Ctx,
    me: &trona::process::Process,
    notifications: &[CPtr; MAX_PROCESSES],
) -> Outcome {
    let mut pids = [0u64; MAX_PROCESSES];
    for (pid, &notification) in pids.iter_mut().zip(notifications) {
        let waiter = ctx.mint(notification, Rights::READ.union(Rights::GRANT), 1)?;
        *pid = done("spawn park", me.spawn("proctest", b"park", &[waiter]))?;
    }
    refused(
        "one process more than the table holds",
        me.spawn("proctest", b"exit 0", &[]),
        ProcessError::TooManyProcesses,
    )?;
    refused(
        "wait on a parked child",
        me.client().wait(pids[0]),
        ProcessError::Shared(Error::WouldBlock),
    )?;
    for (&pid, &notification) in pids.iter().zip(notifications) {
        ok(
            "release the child",
            substrate::notification_signal(notification),
        )?;
        let status = done("wait", me.wait(pid))?;
        ensure!(status == 7, "a parked child exited {status}");
    }
    for round in 0..2 * MAX_PROCESSES {
        let child = done("spawn again", me.spawn("proctest", b"exit 1", &[]))?;
        let status = done("wait", me.wait(child))?;
        ensure!(status == 1, "round {round}: exit 1 became {status}");
    }
    Ok(())
}

/// Requests the server must refuse: unknown programs, oversized names and arguments,
/// waits on other processes' children, callers it never handed a capability to, and
/// malformed messages built by hand; it keeps serving after each.
pub fn refusals(ctx: &mut Ctx) -> Outcome {
    let (root, me) = ctx.process_server()?;
    refused(
        "an unknown program",
        me.spawn("no-such-program", b"", &[]),
        ProcessError::NoSuchProgram,
    )?;
    let long_name = [b'p'; process::SPAWN_PROGRAM_MAX + 1];
    refused(
        "a program name one byte too long",
        me.spawn(core::str::from_utf8(&long_name).unwrap_or(""), b"", &[]),
        ProcessError::Shared(Error::InvalidArgument),
    )?;
    refused(
        "arguments one byte too long",
        me.spawn("proctest", &[b'x'; process::SPAWN_ARGS_MAX + 1], &[]),
        ProcessError::Shared(Error::InvalidArgument),
    )?;
    refused(
        "wait on a pid never used",
        me.wait(999_999),
        ProcessError::NotAChild,
    )?;
    refused(
        "wait on the suite itself",
        me.wait(ROOT_PID),
        ProcessError::NotAChild,
    )?;
    let buffer = super::own_ipc_buffer(ctx)?;
    let stranger = ctx.mint(root.endpoint, Rights::WRITE.union(Rights::GRANT), 0xdead)?;
    let result = (|| {
        let client = done(
            "a stranger's handshake",
            ProcessClient::connect(stranger, buffer.clone()),
        )?;
        refused(
            "a stranger's pid",
            client.pid(),
            ProcessError::UnknownCaller,
        )?;
        refused(
            "a stranger's spawn",
            client.spawn("proctest", b"exit 0", None, None),
            ProcessError::UnknownCaller,
        )?;
        refused(
            "a stranger's wait",
            client.wait(2),
            ProcessError::UnknownCaller,
        )?;
        let hand = |label: u64, words: &[u64]| {
            super::protocols::raw(root.process, &buffer, label, words, &[])
        };
        let invalid = Error::InvalidArgument.code();
        ensure!(
            hand(process::label::SPAWN, &[])? == invalid,
            "an empty spawn was not refused"
        );
        ensure!(
            hand(process::label::SPAWN, &[100])? == invalid,
            "a 100-byte program name was not refused"
        );
        ensure!(
            hand(process::label::SPAWN, &[1, u64::from(b'p'), 0, 7])? == invalid,
            "a spawn with trailing words was not refused"
        );
        ensure!(
            hand(process::label::SPAWN, &[2, 0xfffe, 0])? == invalid,
            "a program name of invalid UTF-8 was not refused"
        );
        ensure!(
            hand(process::label::WAIT, &[])? == invalid,
            "a wait without its pid was not refused"
        );
        ensure!(
            hand(process::LABEL_BASE + process::LABEL_SIZE - 1, &[])? == Error::InvalidLabel.code(),
            "an unassigned Process label was not refused"
        );
        let status = done(
            "a spawn after all of that",
            me.spawn("proctest", b"exit 3", &[]),
        )
        .and_then(|child| done("wait", me.wait(child)))?;
        ensure!(
            status == 3,
            "the server no longer spawns properly ({status})"
        );
        Ok(())
    })();
    let _ = ctx.delete(stranger);
    result
}

/// Console.write takes up to its maximum and refuses more, built by hand.
pub fn console_write(ctx: &mut Ctx) -> Outcome {
    let (root, _) = ctx.process_server()?;
    let buffer = super::own_ipc_buffer(ctx)?;
    let console = done(
        "connect to the console",
        ConsoleClient::connect(root.console, buffer.clone()),
    )?;
    let line = b"abitest: a line through the Console protocol\n";
    let written = done("write", console.write(line))?;
    ensure!(
        written == line.len() as u64,
        "wrote {written} of {} bytes",
        line.len()
    );
    let mut full = [b'.'; console::WRITE_TEXT_MAX];
    full[console::WRITE_TEXT_MAX - 1] = b'\n';
    let written = done("write the maximum", console.write(&full))?;
    ensure!(
        written == full.len() as u64,
        "wrote {written} of the maximum"
    );
    refused(
        "one byte more",
        console.write(&[b'x'; console::WRITE_TEXT_MAX + 1]),
        trona::protocols::console::ConsoleError::Shared(Error::InvalidArgument),
    )?;
    let mut message = Outgoing::new(console::label::WRITE);
    message.word(console::WRITE_TEXT_MAX as u64 + 1);
    let reply = ok(
        "a hand-built oversized write",
        proto::call(root.console, &buffer, &message, None),
    )?;
    ensure!(
        reply.label() == Error::InvalidArgument.code(),
        "an oversized write was answered {:#x}",
        reply.label()
    );
    Ok(())
}
