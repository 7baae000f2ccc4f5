//! Choosing one call from the generated table: the entry, then every register, mostly valid and sometimes deliberately wrong.

use abi::{MSG_MAX_CAPS, MSG_MAX_LENGTH, MessageInfo, ObjectType, PAGE_SIZE, USER_TOP};

use crate::generated::table::{ARG_REGISTERS, ArgKind, ENTRIES, Entry, INVOKE, Target};
use crate::pool::{Pool, SLOTS};
use crate::rng::Rng;

/// The virtual window the fuzzer's own mappings go to: 64 MiB, well away from the
/// supervisor's range and from the program image.
pub const FUZZ_VA: u64 = 0x0000_2000_0000_0000;
const FUZZ_VA_PAGES: u64 = 16 * 1024;

/// A window no generated mapping reaches: user buffers there are never mapped. (A
/// buffer in the mapped window could hold registers a fuzzed `Tcb.read_registers`
/// stored, which a later `Tcb.write_registers` would make another thread run: the
/// fuzzer's own code.)
const UNMAPPED_VA: u64 = 0x0000_3000_0000_0000;

/// Percent of calls in which one register is replaced by a hostile value.
const INVALID_PERCENT: u64 = 15;

/// Percent of calls that use a syscall number outside the ABI.
const UNKNOWN_SYSCALL_PERCENT: u64 = 1;

/// Addresses no user buffer may have: kernel halves of both ports, non-canonical and
/// wrapping values, the top of user space.
const HOSTILE_ADDRESSES: [u64; 12] = [
    0,
    1,
    0xffff_8000_0000_0000,
    0xffff_ffff_8000_0000,
    0xffff_0000_0000_0000,
    0xffff_ffff_ffff_f000,
    0x0000_8000_0000_0000,
    0x8000_0000_0000_0000,
    u64::MAX,
    USER_TOP,
    USER_TOP - 8,
    USER_TOP - PAGE_SIZE,
];

/// Virtual addresses no mapping may have (none of them is a mappable user page, so the
/// user-buffer addresses above stay unmapped whatever the fuzzer maps).
const HOSTILE_VADDRS: [u64; 8] = [
    1,
    0xffff_8000_0000_0000,
    0xffff_ffff_8000_0000,
    0xffff_0000_0000_0000,
    0x0000_8000_0000_0000,
    !(PAGE_SIZE - 1),
    USER_TOP,
    USER_TOP + PAGE_SIZE,
];

/// One call, ready to trap.
#[derive(Clone, Copy, Debug)]
pub struct Call {
    /// Index into `ENTRIES`, or `None` for a syscall number outside the ABI.
    pub entry: Option<usize>,
    /// The syscall number register.
    pub number: u64,
    /// The argument registers.
    pub regs: [u64; ARG_REGISTERS],
}

/// Where the call's buffers point: a scratch area the fuzzer owns, and an address the
/// kernel may read but not write (the fuzzer's own code).
#[derive(Clone, Copy, Debug)]
pub struct Buffers {
    /// Start of a writable scratch area.
    pub scratch: u64,
    /// Its length in bytes.
    pub scratch_len: u64,
    /// A mapped, read-only user address.
    pub read_only: u64,
}

impl Entry {
    /// The first argument register of the entry's own arguments.
    pub fn first_arg_register(&self) -> usize {
        match self.target {
            Target::Syscall(_) | Target::Ipc(_) => 0,
            Target::Invocation(_) => ARG_REGISTERS - crate::generated::table::PAYLOAD_REGISTERS,
        }
    }

    /// The entry's name as the schema spells it (`debug_write`, `Tcb.set_priority`).
    pub fn name(&self) -> &'static str {
        match self.target {
            Target::Syscall(syscall) | Target::Ipc(syscall) => syscall.name(),
            Target::Invocation(invocation) => invocation.name(),
        }
    }
}

/// Chooses the next call.
pub fn generate(rng: &mut Rng, pool: &Pool, buffers: &Buffers) -> Call {
    let mut regs = [0; ARG_REGISTERS];
    for reg in &mut regs {
        if rng.percent(10) {
            *reg = rng.next();
        }
    }
    if rng.percent(UNKNOWN_SYSCALL_PERCENT) {
        let number = loop {
            let number = if rng.percent(50) {
                rng.below(64)
            } else {
                rng.next()
            };
            if abi::Syscall::try_from(number).is_err() {
                break number;
            }
        };
        return Call {
            entry: None,
            number,
            regs,
        };
    }
    // Entries that may block waiting for another thread are never issued.
    let index = loop {
        let index = rng.below(ENTRIES.len() as u64) as usize;
        if !ENTRIES[index].blocking {
            break index;
        }
    };
    let entry = &ENTRIES[index];
    let first = entry.first_arg_register();
    let number = match entry.target {
        Target::Syscall(syscall) => syscall.number(),
        Target::Ipc(syscall) => {
            // regs[0] is the capability argument (filled below), regs[1] the info word,
            // the rest message words.
            regs[1] = message_info(rng);
            syscall.number()
        }
        Target::Invocation(invocation) => {
            regs[0] = cap(rng, pool, Some(invocation.object()));
            regs[1] = invocation.label();
            INVOKE.number()
        }
    };
    for (i, arg) in entry.args.iter().enumerate() {
        regs[first + i] = value(rng, pool, buffers, arg.name, arg.kind);
    }
    if rng.percent(INVALID_PERCENT) {
        let positions = first + entry.args.len();
        let position = rng.below(positions.max(1) as u64) as usize;
        regs[position] = match (entry.target, position) {
            (Target::Invocation(invocation), 1) => bad_label(rng, invocation),
            (Target::Invocation(_), 0) => bad_cap(rng, pool),
            _ => match entry.args.get(position - first) {
                Some(arg) => bad_value(rng, pool, arg.kind),
                None => rng.next(),
            },
        };
    }
    Call {
        entry: Some(index),
        number,
        regs,
    }
}

/// A mostly valid `MessageInfo` word: a short register-only message without
/// capabilities, sometimes a long one, capabilities (the worker has no IPC buffer) or a
/// length above `MSG_MAX_LENGTH`.
fn message_info(rng: &mut Rng) -> u64 {
    let length = match rng.below(8) {
        0 => rng.below(MessageInfo::LENGTH_MAX as u64 + 1),
        1 => MSG_MAX_LENGTH + 1 + rng.below(MessageInfo::LENGTH_MAX as u64 - MSG_MAX_LENGTH),
        _ => rng.below(abi::MESSAGE_REGISTERS as u64 + 1),
    };
    let caps = if rng.percent(10) {
        rng.below(MSG_MAX_CAPS + 1)
    } else {
        0
    };
    MessageInfo::new()
        .with_length(length as u8)
        .with_caps(caps as u8)
        .with_label(rng.next() & MessageInfo::LABEL_MAX)
        .bits()
}

/// A mostly valid value for an argument called `name` of `kind`.
fn value(rng: &mut Rng, pool: &Pool, buffers: &Buffers, name: &str, kind: ArgKind) -> u64 {
    match kind {
        ArgKind::Int { max } if name.ends_with("index") => slot_index(rng, pool, max),
        ArgKind::Int { .. } if name == "vaddr" => virtual_address(rng, buffers),
        ArgKind::Int { max } => integer(rng, max),
        ArgKind::Bool => rng.below(2),
        ArgKind::Cap { object, .. } => cap(rng, pool, object),
        ArgKind::UserAddr => user_address(rng, buffers),
        ArgKind::ObjectType => rng.pick(ObjectType::ALL).id(),
        ArgKind::Flags { valid } => rng.next() & valid,
    }
}

/// A deliberately wrong value of `kind`: out of range, undefined, or naming nothing.
fn bad_value(rng: &mut Rng, pool: &Pool, kind: ArgKind) -> u64 {
    match kind {
        ArgKind::Int { max } => {
            let choices = [max, max.wrapping_add(1), u64::MAX, 1 << 63, 1 << 32];
            rng.pick(&choices)
        }
        ArgKind::Bool => 2 + rng.below(u64::MAX - 2),
        ArgKind::Cap { .. } => bad_cap(rng, pool),
        ArgKind::UserAddr => rng.pick(&HOSTILE_ADDRESSES),
        ArgKind::ObjectType => {
            let ids = ObjectType::ALL.iter().map(|o| o.id());
            let past = ids.max().unwrap_or(0) + 1;
            let far = past + rng.below(1000);
            rng.pick(&[0, past, far, u64::MAX])
        }
        ArgKind::Flags { valid } => {
            let invalid = !valid;
            if invalid == 0 {
                rng.next()
            } else {
                (rng.next() & valid) | (1 << invalid.trailing_zeros())
            }
        }
    }
}

/// A label of `invocation`'s object type that is not `invocation`'s: another label of
/// the block (often unassigned), another object's label, or one outside every block.
fn bad_label(rng: &mut Rng, invocation: abi::Invocation) -> u64 {
    let block = invocation.object().label_block();
    match rng.below(3) {
        0 => block.start() + rng.below(block.end() - block.start() + 1),
        1 => rng.pick(abi::Invocation::ALL).label(),
        _ => rng.next(),
    }
}

/// A capability from the pool, of `object` when the pool has one (mostly).
fn cap(rng: &mut Rng, pool: &Pool, object: Option<ObjectType>) -> u64 {
    if pool.len() == 0 {
        return bad_cap(rng, pool);
    }
    let any = pool.live(rng.below(pool.len() as u64) as usize);
    let Some(object) = object else {
        return any;
    };
    if rng.percent(5) {
        return any;
    }
    for _ in 0..24 {
        let slot = pool.live(rng.below(pool.len() as u64) as usize);
        if pool.get(slot).is_some_and(|held| held.object == object) {
            return slot;
        }
    }
    any
}

/// A capability address that names nothing usable: the null slot, past the CNode, an
/// emptied slot, an empty slot of the pool, or a huge value.
fn bad_cap(rng: &mut Rng, pool: &Pool) -> u64 {
    match rng.below(6) {
        0 => 0,
        1 => SLOTS as u64 + rng.below(4),
        2 => pool.stale(rng.next()),
        3 => empty_slot(rng, pool),
        4 => u64::MAX - rng.below(4),
        _ => 1 << (32 + rng.below(31)),
    }
}

/// A slot index for an argument whose type allows up to `max`: mostly an empty slot of
/// the pool, sometimes an occupied one, sometimes the null slot or one past the CNode.
fn slot_index(rng: &mut Rng, pool: &Pool, max: u64) -> u64 {
    match rng.below(10) {
        0..=6 => empty_slot(rng, pool),
        7 | 8 if pool.len() > 0 => pool.live(rng.below(pool.len() as u64) as usize),
        _ => rng.pick(&[0, SLOTS as u64, max]),
    }
}

/// A slot of the pool that it believes empty (or its first slot when it finds none).
fn empty_slot(rng: &mut Rng, pool: &Pool) -> u64 {
    let span = pool.end() - pool.base();
    for _ in 0..16 {
        let slot = pool.base() + rng.below(span);
        if pool.get(slot).is_none() {
            return slot;
        }
    }
    pool.base()
}

/// An integer up to `max`: small values, values near the top, anything in range.
fn integer(rng: &mut Rng, max: u64) -> u64 {
    match rng.below(10) {
        0..=3 => rng.below(17).min(max),
        4 | 5 => rng.below(max.min(128) + 1),
        6 | 7 => {
            if max == u64::MAX {
                rng.next()
            } else {
                rng.below(max + 1)
            }
        }
        _ => rng.pick(&[0, 1, max, max.saturating_sub(1)]),
    }
}

/// A virtual address to map at: mostly a page of the fuzzer's window.
/// Sometimes a page the fuzzer itself has mapped (its scratch area or code).
fn virtual_address(rng: &mut Rng, buffers: &Buffers) -> u64 {
    let page = FUZZ_VA + rng.below(FUZZ_VA_PAGES) * PAGE_SIZE;
    match rng.below(10) {
        0..=6 => page,
        7 => page + 1 + rng.below(PAGE_SIZE - 1),
        8 => rng.pick(&[buffers.scratch, buffers.read_only]) & !(PAGE_SIZE - 1),
        _ => rng.pick(&HOSTILE_VADDRS),
    }
}

/// A user buffer address: mostly inside the scratch area, else read-only, unmapped or hostile.
fn user_address(rng: &mut Rng, buffers: &Buffers) -> u64 {
    match rng.below(10) {
        0..=6 => buffers.scratch + rng.below(buffers.scratch_len / 2) / 8 * 8,
        7 => buffers.read_only,
        8 => UNMAPPED_VA + rng.below(FUZZ_VA_PAGES) * PAGE_SIZE,
        _ => rng.pick(&HOSTILE_ADDRESSES),
    }
}
