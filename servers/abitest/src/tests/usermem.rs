//! User pointers: every syscall and invocation that takes a user address refuses each kind of bad buffer.

use trona::substrate;
use trona::uapi::{CPtr, CpuTimes, Error, ObjectType, UserAddr, UserRegisters};

use crate::ctx::Ctx;
use crate::harness::{Outcome, err, ok};
use crate::tests::{KERNEL_ADDRESS, NON_CANONICAL_ADDRESS};

/// One entry that takes a user buffer: how to call it on a TCB, how long the buffer is,
/// and whether the kernel writes it (so a read-only page is refused) or only reads it.
struct Probe {
    name: &'static str,
    call: fn(CPtr, UserAddr) -> Result<(), Error>,
    len: u64,
    kernel_writes: bool,
}

const PROBES: &[Probe] = &[
    Probe {
        name: "debug_write",
        call: debug_write,
        len: 16,
        kernel_writes: false,
    },
    Probe {
        name: "Tcb.write_registers",
        call: substrate::tcb_write_registers,
        len: size_of::<UserRegisters>() as u64,
        kernel_writes: false,
    },
    Probe {
        name: "Tcb.read_registers",
        call: substrate::tcb_read_registers,
        len: size_of::<UserRegisters>() as u64,
        kernel_writes: true,
    },
    Probe {
        name: "Tcb.get_cpu_times",
        call: substrate::tcb_get_cpu_times,
        len: size_of::<CpuTimes>() as u64,
        kernel_writes: true,
    },
];

fn debug_write(_: CPtr, buf: UserAddr) -> Result<(), Error> {
    substrate::debug_write(buf, 16).map(|_| ())
}

/// Kernel, non-canonical, unmapped, wrapping and page-straddling buffers are refused by
/// every entry; a read-only page is refused exactly where the kernel would write it.
pub fn bad_buffers(ctx: &mut Ctx) -> Outcome {
    let tcb = ctx.create(ObjectType::Tcb)?;
    let page = ctx.pages(1, crate::READ_WRITE)?;
    let unmapped = ctx.unmapped_address()?;
    let result = PROBES
        .iter()
        .try_for_each(|probe| check_probe(probe, tcb, page.end(), unmapped));
    ctx.release_pages(page)?;
    ctx.delete(tcb)?;
    result
}

/// Text the kernel may read but must not write: it lives in the read-only data segment.
/// Its first 16 bytes are a whole console line, for `debug_write`.
static READ_ONLY_BUFFER: ReadOnly = ReadOnly(read_only_contents());

#[repr(C, align(16))]
struct ReadOnly([u8; 64]);

const fn read_only_contents() -> [u8; 64] {
    let text = b"abitest: rodata\n";
    let mut bytes = [0; 64];
    let mut index = 0;
    while index < text.len() {
        bytes[index] = text[index];
        index += 1;
    }
    bytes
}

fn check_probe(probe: &Probe, tcb: CPtr, mapped_end: u64, unmapped: u64) -> Outcome {
    let bad = Error::InvalidUserPointer;
    let call = |address: u64| (probe.call)(tcb, UserAddr(address));
    let cases = [
        ("a kernel address", KERNEL_ADDRESS),
        ("a non-canonical address", NON_CANONICAL_ADDRESS),
        ("an unmapped address", unmapped),
        ("a range that wraps around", u64::MAX - probe.len / 2),
        (
            "a range running into an unmapped page",
            mapped_end - probe.len / 2,
        ),
    ];
    for (case, address) in cases {
        err(format_args!("{}: {case}", probe.name), call(address), bad)?;
    }
    let read_only = call(&raw const READ_ONLY_BUFFER as usize as u64);
    if probe.kernel_writes {
        err(
            format_args!("{}: a read-only page", probe.name),
            read_only,
            bad,
        )
    } else {
        ok(
            format_args!("{}: a read-only page the kernel only reads", probe.name),
            read_only,
        )
    }
}
