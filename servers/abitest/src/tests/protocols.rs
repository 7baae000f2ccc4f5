//! Server protocols from the schema: every Echo message through the generated client, malformed messages built by hand, and the version handshake (ipcpeer serves Echo in its own address space).

use trona::ipc::Buffer;
use trona::proto::{self, Outgoing};
use trona::protocols::echo::{self, EchoClient, EchoError};
use trona::substrate;
use trona::uapi::{CPtr, CpuTimes, Error, MessageInfo, ObjectType, ROOT_SLOT_CNODE, Rights};

use crate::ctx::{Ctx, Peer};
use crate::harness::{Failure, Outcome, done, ensure, ok, refused};

/// The Echo client over the peer's granting endpoint (Echo moves capabilities).
fn client(ctx: &mut Ctx) -> Result<(Peer, Buffer, EchoClient), Failure> {
    let peer = ctx.peer()?;
    let buffer = super::own_ipc_buffer(ctx)?;
    let client = done(
        "connect to Echo",
        EchoClient::connect(peer.granting, buffer.clone()),
    )?;
    Ok((peer, buffer, client))
}

/// Every message of the Echo protocol, through the generated client, with the values
/// at the edges of their types.
pub fn echo_every_message(ctx: &mut Ctx) -> Outcome {
    let (peer, _, echo) = client(ctx)?;
    ensure!(
        echo.server_version() == (echo::VERSION_MAJOR, echo::VERSION_MINOR),
        "the server speaks {:?}",
        echo.server_version()
    );
    done("ping", echo.ping())?;
    let info = MessageInfo::new().with_label(0x5a5a).with_length(3);
    let rights = Rights::READ.union(Rights::GRANT);
    let scalars = done(
        "scalars",
        echo.scalars(
            u8::MAX,
            u16::MAX - 1,
            u32::MAX,
            u64::MAX,
            true,
            ObjectType::Endpoint,
            rights,
            info,
        ),
    )?;
    ensure!(
        scalars.a == u8::MAX
            && scalars.b == u16::MAX - 1
            && scalars.c == u32::MAX
            && scalars.d == u64::MAX
            && scalars.flag
            && scalars.kind == ObjectType::Endpoint
            && scalars.rights == rights
            && scalars.info == info,
        "scalars came back as {scalars:?}"
    );
    let times = CpuTimes {
        user_ticks: 1,
        system_ticks: 2,
        user_cycles: u64::MAX,
        system_cycles: 4,
    };
    let record = done("record", echo.record(&times))?;
    ensure!(record == times, "record came back as {record:?}");
    let key: [u8; 16] = core::array::from_fn(|i| 0xf0 | i as u8);
    let echoed = done("key", echo.key(&key))?;
    ensure!(echoed == key, "key came back as {echoed:?}");
    let data: [u8; 256] = core::array::from_fn(|i| i as u8);
    for length in [0, 1, 7, 8, 9, 255, 256] {
        let back = done("bytes", echo.bytes(&data[..length]))?;
        ensure!(
            back.as_slice() == &data[..length],
            "{length} bytes came back as {} bytes",
            back.as_slice().len()
        );
    }
    let chars = done("text", echo.text("gr\u{fc}\u{df}e, \u{1f980}"))?;
    ensure!(chars == 8, "the text has {chars} characters, expected 8");
    let notification = ctx.create(ObjectType::Notification)?;
    let result = capability_messages(ctx, &peer, &echo, notification);
    ctx.delete(notification)?;
    result?;
    done("note", echo.note(0x1234_5678))?;
    let note = done("last_note", echo.last_note())?;
    ensure!(note == 0x1234_5678, "last_note says {note:#x}");
    refused("refuse", echo.refuse(3), EchoError::Refused)
}

/// `signal` (a capability argument), `give` (a capability result), `maybe` (optional).
fn capability_messages(
    ctx: &mut Ctx,
    peer: &Peer,
    echo: &EchoClient,
    notification: CPtr,
) -> Outcome {
    let sendable = ctx.mint(notification, Rights::WRITE.union(Rights::GRANT), 0x40)?;
    done("signal", echo.signal(sendable))?;
    let word = ok("poll", substrate::notification_poll(notification))?;
    ensure!(
        word == 0x40,
        "the server's signal set {word:#x}, expected the badge 0x40"
    );
    let slot = ctx.empty_slot()?;
    let given = done("give", echo.give(slot));
    let checked = given.and_then(|cap| {
        ensure!(
            cap == slot,
            "the capability landed in {cap:?}, not {slot:?}"
        );
        let identity = ok(
            "identify the given capability",
            substrate::cnode_identify(CPtr(ROOT_SLOT_CNODE), slot.0),
        )?;
        ensure!(
            u64::from(identity.object_type()) == ObjectType::Notification as u64,
            "the given capability is of type {}",
            identity.object_type()
        );
        ok("signal through it", substrate::notification_signal(cap))?;
        let word = ok("poll the peer's", substrate::notification_poll(peer.given))?;
        ensure!(word == 1, "the given capability set {word:#x}");
        Ok(())
    });
    let _ = substrate::cnode_delete(CPtr(ROOT_SLOT_CNODE), slot.0);
    ctx.release_slot(slot);
    checked?;
    let present = done("maybe with a capability", echo.maybe(Some(sendable)))?;
    let absent = done("maybe without", echo.maybe(None))?;
    ensure!(present && !absent, "maybe reported {present} and {absent}");
    // The server got copies (and deleted them); the suite's own goes now.
    let _ = ctx.delete(sendable);
    Ok(())
}

/// Sends a message built by hand and returns the reply's label (0 or an error code).
pub(super) fn raw(
    endpoint: CPtr,
    buffer: &Buffer,
    label: u64,
    words: &[u64],
    caps: &[CPtr],
) -> Result<u64, Failure> {
    Ok(exchange(endpoint, buffer, label, words, caps)?.label())
}

/// Sends a message built by hand; the whole reply.
fn exchange(
    endpoint: CPtr,
    buffer: &Buffer,
    label: u64,
    words: &[u64],
    caps: &[CPtr],
) -> Result<proto::Incoming, Failure> {
    let mut message = Outgoing::new(label);
    for &word in words {
        message.word(word);
    }
    for &cap in caps {
        message.cap(cap);
    }
    ok(
        "a hand-built call",
        proto::call(endpoint, buffer, &message, None),
    )
}

/// Checks that a hand-built message was answered with `expected`.
fn answered(what: &str, label: u64, expected: Error) -> Outcome {
    ensure!(
        label == expected.code(),
        "{what}: answered with code {label:#x}, expected {} ({:#x})",
        expected.name(),
        expected.code()
    );
    Ok(())
}

/// Malformed messages get the schema's errors and the server keeps serving: unknown
/// labels, wrong lengths, out-of-range values, oversized and badly packed strings, bad
/// UTF-8, missing capabilities and capabilities of the wrong type or rights.
pub fn echo_malformed_messages(ctx: &mut Ctx) -> Outcome {
    let (peer, buffer, echo) = client(ctx)?;
    let ep = peer.granting;
    let unused = echo::LABEL_BASE + echo::LABEL_SIZE - 1;
    answered(
        "an unassigned label in the block",
        raw(ep, &buffer, unused, &[], &[])?,
        Error::InvalidLabel,
    )?;
    answered(
        "a label of no protocol",
        raw(ep, &buffer, 0x7777, &[], &[])?,
        Error::InvalidLabel,
    )?;
    let scalars = [
        1,
        2,
        3,
        4,
        1,
        ObjectType::Tcb as u64,
        Rights::READ.bits(),
        0,
    ];
    ensure!(
        raw(ep, &buffer, echo::label::SCALARS, &scalars, &[])? == 0,
        "the well-formed scalars message was refused"
    );
    answered(
        "scalars one word short",
        raw(ep, &buffer, echo::label::SCALARS, &scalars[..7], &[])?,
        Error::InvalidArgument,
    )?;
    let mut long = [0u64; 9];
    long[..8].copy_from_slice(&scalars);
    answered(
        "scalars one word long",
        raw(ep, &buffer, echo::label::SCALARS, &long, &[])?,
        Error::InvalidArgument,
    )?;
    for (index, bad, what) in [
        (0, 0x100, "a u8 of 256"),
        (1, 0x1_0000, "a u16 of 65536"),
        (2, 1 << 32, "a u32 of 2^32"),
        (4, 2, "a bool of 2"),
        (5, 0xff, "an unknown object type"),
        (6, 1 << 40, "an unknown rights bit"),
    ] {
        let mut words = scalars;
        words[index] = bad;
        answered(
            what,
            raw(ep, &buffer, echo::label::SCALARS, &words, &[])?,
            Error::InvalidArgument,
        )?;
    }
    answered(
        "bytes longer than their maximum",
        raw(ep, &buffer, echo::label::BYTES, &[257], &[])?,
        Error::InvalidArgument,
    )?;
    answered(
        "bytes with a length and no data",
        raw(ep, &buffer, echo::label::BYTES, &[9, 0], &[])?,
        Error::InvalidArgument,
    )?;
    answered(
        "bytes with a non-zero tail",
        raw(ep, &buffer, echo::label::BYTES, &[3, 0xff00_0000], &[])?,
        Error::InvalidArgument,
    )?;
    ensure!(
        raw(ep, &buffer, echo::label::BYTES, &[3, 0x00ab_cdef], &[])? == 0,
        "three well-packed bytes were refused"
    );
    answered(
        "text of invalid UTF-8",
        raw(ep, &buffer, echo::label::TEXT, &[2, 0xffc3], &[])?,
        Error::InvalidArgument,
    )?;
    answered(
        "text longer than 64 bytes",
        raw(ep, &buffer, echo::label::TEXT, &[65], &[])?,
        Error::InvalidArgument,
    )?;
    refused(
        "the client refuses 257 bytes before sending",
        echo.bytes(&[0; 257]),
        EchoError::Shared(Error::InvalidArgument),
    )?;
    let notification = ctx.create(ObjectType::Notification)?;
    let endpoint = ctx.create(ObjectType::Endpoint)?;
    let result = capability_refusals(ctx, ep, &buffer, notification, endpoint);
    ctx.delete(endpoint)?;
    ctx.delete(notification)?;
    result?;
    done("ping after all of that", echo.ping())
}

/// `signal` without its capability, with an Endpoint, and with a Notification without write.
fn capability_refusals(
    ctx: &mut Ctx,
    ep: CPtr,
    buffer: &Buffer,
    notification: CPtr,
    endpoint: CPtr,
) -> Outcome {
    answered(
        "signal without a capability",
        raw(ep, buffer, echo::label::SIGNAL, &[], &[])?,
        Error::InvalidCapability,
    )?;
    let wrong_type = ctx.mint(endpoint, Rights::WRITE.union(Rights::GRANT), 1)?;
    answered(
        "signal with an Endpoint",
        raw(ep, buffer, echo::label::SIGNAL, &[], &[wrong_type])?,
        Error::WrongObjectType,
    )?;
    let read_only = ctx.mint(notification, Rights::READ.union(Rights::GRANT), 1)?;
    answered(
        "signal with a read-only Notification",
        raw(ep, buffer, echo::label::SIGNAL, &[], &[read_only])?,
        Error::InsufficientRights,
    )?;
    crate::harness::err(
        "poll after the refused signals",
        substrate::notification_poll(notification),
        Error::WouldBlock,
    )?;
    let _ = ctx.delete(wrong_type);
    let _ = ctx.delete(read_only);
    Ok(())
}

/// The handshake: older and newer minors of the same major are served (an older client's
/// messages answered; a newer one learns the server's minor), another fingerprint of the
/// same version is not, nor another major.
pub fn echo_handshake_versions(ctx: &mut Ctx) -> Outcome {
    let (peer, buffer, _) = client(ctx)?;
    let ep = peer.granting;
    let major = u64::from(echo::VERSION_MAJOR);
    let minor = u64::from(echo::VERSION_MINOR);
    let hello = echo::label::HANDSHAKE;
    ensure!(
        minor > 0,
        "Echo's minor version is 0: the older-client case needs 1.1 or later"
    );
    // A client built against 1.(minor - 1) knows an older fingerprint.
    ensure!(
        raw(ep, &buffer, hello, &[major, minor - 1, 0xdead], &[])? == 0,
        "an older minor version was refused"
    );
    ensure!(
        raw(ep, &buffer, echo::label::PING, &[], &[])? == 0,
        "an older client's ping was refused"
    );
    ensure!(
        raw(ep, &buffer, hello, &[major, minor, echo::FINGERPRINT], &[])? == 0,
        "this very version was refused"
    );
    let newer = exchange(ep, &buffer, hello, &[major, minor + 1, 0xbeef], &[])?;
    ensure!(
        newer.label() == 0 && newer.words() == [major, minor, echo::FINGERPRINT],
        "a newer minor's handshake was answered {:#x} {:?}",
        newer.label(),
        newer.words()
    );
    answered(
        "the same version from another schema",
        raw(ep, &buffer, hello, &[major, minor, !echo::FINGERPRINT], &[])?,
        Error::ProtocolMismatch,
    )?;
    answered(
        "the next major version",
        raw(ep, &buffer, hello, &[major + 1, 0, 0], &[])?,
        Error::ProtocolMismatch,
    )?;
    answered(
        "major version 0",
        raw(ep, &buffer, hello, &[0, minor, 0], &[])?,
        Error::ProtocolMismatch,
    )?;
    answered(
        "a short handshake",
        raw(ep, &buffer, hello, &[major, minor], &[])?,
        Error::InvalidArgument,
    )?;
    Ok(())
}
