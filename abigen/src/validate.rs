//! Validation: turns the schema as written into the [`Model`], reporting every problem at once with its span.

use std::collections::HashMap;
use std::ops::Range;

use crate::diagnostics::Diagnostics;
use crate::model::*;
use crate::names::{self, Case};
use crate::raw::*;

mod protocols;

/// The flag set whose bits invocations list in `rights`.
pub const RIGHTS_FLAG_SET: &str = "Rights";

/// Architectures the generators know how to name in `cfg(target_arch)` and paths.
const KNOWN_ARCHES: &[&str] = &["x86_64", "aarch64", "riscv64"];

/// Registers Rust inline assembly can bind as a 64-bit operand, per architecture; the
/// others are reserved by LLVM or the platform (x86_64 rbx, rbp, rsp; aarch64 x18, x19,
/// x29, sp and the link register x30, which the wrapper cannot give a value; riscv64 zero,
/// sp, gp, tp, s0/fp and s1).
const USABLE_REGISTERS: &[(&str, &[&str])] = &[
    (
        "x86_64",
        &[
            "rax", "rcx", "rdx", "rsi", "rdi", "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15",
        ],
    ),
    (
        "aarch64",
        &[
            "x0", "x1", "x2", "x3", "x4", "x5", "x6", "x7", "x8", "x9", "x10", "x11", "x12", "x13",
            "x14", "x15", "x16", "x17", "x20", "x21", "x22", "x23", "x24", "x25", "x26", "x27",
            "x28",
        ],
    ),
    (
        "riscv64",
        &[
            "ra", "t0", "t1", "t2", "t3", "t4", "t5", "t6", "a0", "a1", "a2", "a3", "a4", "a5",
            "a6", "a7", "s2", "s3", "s4", "s5", "s6", "s7", "s8", "s9", "s10", "s11",
        ],
    ),
];

/// Checks that `register` is a general-purpose register of `arch` that inline assembly can use.
fn check_register(arch: &str, register: &str) -> Result<(), String> {
    let Some((_, usable)) = USABLE_REGISTERS.iter().find(|(a, _)| *a == arch) else {
        return Ok(());
    };
    if usable.contains(&register) {
        Ok(())
    } else {
        Err(format!(
            "`{register}` is not one of the {arch} registers inline assembly can use: {}",
            usable.join(", ")
        ))
    }
}

/// Checks the trap instruction's shape: `syscall` on x86_64, `svc #IMM` (IMM below
/// 0x10000, decimal or `0x` hex) on aarch64, `ecall` on riscv64.
fn check_trap(arch: &str, trap: &str) -> Result<(), String> {
    let ok = match arch {
        "x86_64" => trap == "syscall",
        "aarch64" => trap.strip_prefix("svc #").is_some_and(|imm| {
            let value = match imm.strip_prefix("0x") {
                Some(hex) => u32::from_str_radix(hex, 16).ok(),
                None if imm.chars().all(|c| c.is_ascii_digit()) => imm.parse::<u32>().ok(),
                None => None,
            };
            value.is_some_and(|v| v <= 0xffff)
        }),
        "riscv64" => trap == "ecall",
        _ => true,
    };
    if ok {
        return Ok(());
    }
    let expected = match arch {
        "x86_64" => "`syscall`",
        "aarch64" => "`svc #N` with N from 0 to 65535 (`svc #0`)",
        _ => "`ecall`",
    };
    Err(format!(
        "`{trap}` is not the {arch} trap instruction; expected {expected}"
    ))
}

/// Registers the trap instruction itself overwrites, and why.
fn hardware_clobbers(arch: &str, trap: &str) -> &'static [(&'static str, &'static str)] {
    if arch == "x86_64" && trap == "syscall" {
        &[("rcx", "the return address"), ("r11", "the saved RFLAGS")]
    } else {
        &[]
    }
}

/// How many registers inline assembly can use on `arch` besides the number, status and
/// clobbered registers and `others` more; `None` for an architecture without a list.
fn free_registers(
    arch: &str,
    number: Option<&str>,
    status: Option<&str>,
    clobbered: &[String],
    others: usize,
) -> Option<usize> {
    let (_, usable) = USABLE_REGISTERS.iter().find(|(a, _)| *a == arch)?;
    let taken = usable
        .iter()
        .filter(|r| Some(**r) == number || Some(**r) == status || clobbered.iter().any(|c| c == *r))
        .count();
    Some(usable.len().saturating_sub(taken + others))
}

/// `1 word`, `5 words`.
fn words(count: usize) -> String {
    if count == 1 {
        "1 word".to_owned()
    } else {
        format!("{count} words")
    }
}

/// The constant an IPC buffer must fit in.
const PAGE_SIZE_CONSTANT: &str = "PAGE_SIZE";

/// The most argument registers a trap convention may have.
const MAX_ARG_REGISTERS: usize = 8;

/// Type names that generated code defines itself or relies on from the prelude.
const RESERVED_TYPE_NAMES: &[&str] = &[
    "Syscall",
    "ObjectType",
    "Invocation",
    "Error",
    "CPtr",
    "UserAddr",
    "PerCpuData",
    "Kernel",
    "Option",
    "Result",
    "Some",
    "None",
    "Ok",
    "Err",
    "Self",
    "TryFrom",
    "From",
    "Default",
    "Debug",
    "Clone",
    "Copy",
    "IpcMessage",
    "Received",
    "IpcInput",
    "TrapResults",
];

/// Constant names the generated `abi` crate defines itself.
const RESERVED_CONSTANT_NAMES: &[&str] = &[
    "ABI_NAME",
    "ABI_VERSION_MAJOR",
    "ABI_VERSION_MINOR",
    "ABI_FINGERPRINT",
    "MESSAGE_REGISTERS",
];

/// Names the generated kernel trait uses for its own methods.
const RESERVED_KERNEL_METHODS: &[&str] = &[
    "lookup",
    "object_type",
    "rights",
    "error_value",
    "undeclared_error",
];

/// Names the generated trona substrate uses for its own functions.
const RESERVED_SUBSTRATE_FUNCTIONS: &[&str] = &[
    "trap",
    "status_to_result",
    "ipc_trap",
    "ipc_status",
    "ipc_received",
];

/// Local names the generated dispatcher and substrate use next to the arguments.
const RESERVED_ARGUMENT_NAMES: &[&str] = &[
    "k",
    "number",
    "args",
    "target",
    "invocation",
    "payload",
    "status_to_result",
    "trap",
];

/// Parses and validates schema text. `file_name` is used only in messages.
pub fn parse_str(file_name: &str, text: &str) -> Result<Model, Diagnostics> {
    parse_with(file_name, text, Strictness::Current)
}

/// Parses and validates the schema of an earlier revision, for `abi-diff`: a `cap`
/// argument with neither `object` nor `rights` (written before capability arguments
/// declared them) is read as unchecked (`Param::cap` is `None`), which is what the
/// dispatcher of that revision did. Everything else is validated as by [`parse_str`].
pub fn parse_revision(file_name: &str, text: &str) -> Result<Model, Diagnostics> {
    parse_with(file_name, text, Strictness::Revision)
}

/// Whether capability arguments must declare `object` and `rights`.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Strictness {
    /// The schema as `cargo xtask gen` accepts it.
    Current,
    /// An earlier revision's schema, whose capability arguments may predate the keys.
    Revision,
}

fn parse_with(file_name: &str, text: &str, strictness: Strictness) -> Result<Model, Diagnostics> {
    let mut diagnostics = Diagnostics::new(file_name, text);
    let raw: RawSchema = match toml::from_str(text) {
        Ok(raw) => raw,
        Err(error) => {
            let message = error
                .message()
                .trim()
                .trim_end_matches('.')
                .replace('\n', " ");
            diagnostics.error(error.span().unwrap_or(0..0), message);
            return Err(diagnostics);
        }
    };
    let model = Validator {
        d: &mut diagnostics,
        strictness,
    }
    .run(&raw);
    if diagnostics.is_empty() {
        Ok(model)
    } else {
        diagnostics.sort_by_position();
        Err(diagnostics)
    }
}

/// The type names an argument or result may use besides the built-in ones.
struct TypeNames<'a> {
    flags: Vec<&'a str>,
    bitfields: Vec<&'a str>,
}

/// A field to lay out: name, type, (array length, the constant naming it), asm, doc.
type FieldSpec = (String, IntType, (Option<u64>, Option<String>), bool, String);

/// Names `abi::kernel_message` defines besides one struct per message.
const RESERVED_KERNEL_MESSAGE_NAMES: &[&str] = &["Fault", "FaultReply", "Labels"];

/// The largest array length of a struct field.
const MAX_ARRAY_LENGTH: u64 = 1 << 20;

/// Methods every generated bitfield type defines besides its fields' accessors.
const RESERVED_BITFIELD_METHODS: &[&str] = &["new", "bits", "from_bits", "from_bits_truncate"];

struct Validator<'d> {
    d: &'d mut Diagnostics,
    strictness: Strictness,
}

/// Where generated code emits a schema name of the kind `what` (as `name` reports it) bare.
fn bare_in(what: &str) -> names::Bare {
    match what {
        // `TcbMove`, `tcb_move`, `TCB_MOVE`; results are only documented; bits are `READ`.
        "invocation" | "result" | "flag bit" => names::Bare::Nowhere,
        // trona functions, parameters, `PerCpuData` fields: Rust only (C has no such names).
        "syscall" | "argument" | "per-CPU field" => names::Bare::Rust,
        _ => names::Bare::RustAndC,
    }
}

/// What the `object` and `rights` keys of a parameter list may say.
enum CapRule<'a> {
    /// Arguments the dispatcher resolves: each `cap` argument must name its object type (or
    /// `"any"`) and its rights (`[]` for none); other parameters take neither key.
    Resolved {
        objects: &'a [Object],
        /// Every object name the schema spells, valid or not (not reported as unknown).
        declared_objects: Vec<String>,
        rights_set: Option<&'a FlagSet>,
    },
    /// Neither key is allowed, for the reason given (results, the invoke syscall's capability).
    Refused(&'static str),
    /// Nothing is checked: the entry already has an error that decides what the keys mean
    /// (an unknown syscall kind).
    Undecided,
}

/// Why a result takes no `object` or `rights`.
const RESULT_CAP_RULE: CapRule<'static> =
    CapRule::Refused("`object` and `rights` constrain capability arguments, not results");

/// First definitions seen so far, to report duplicates with a pointer to the original.
struct Seen<K> {
    what: &'static str,
    first: HashMap<K, Range<usize>>,
}

impl<K: std::hash::Hash + Eq + std::fmt::Display> Seen<K> {
    fn new(what: &'static str) -> Self {
        Seen {
            what,
            first: HashMap::new(),
        }
    }

    /// Records `key`; reports a duplicate and returns false when it was seen before.
    fn insert(&mut self, d: &mut Diagnostics, key: K, span: Range<usize>) -> bool {
        if let Some(first) = self.first.get(&key) {
            d.error_with_related(
                span,
                format!("duplicate {} `{key}`", self.what),
                first.clone(),
                "first defined here",
            );
            false
        } else {
            self.first.insert(key, span);
            true
        }
    }
}

/// The numbers of one kind of entry (error codes, syscall numbers, object ids): those
/// retired, and those taken so far.
struct Numbers<'r> {
    kind: RetiredKind,
    retired: &'r [(Range<usize>, Retired)],
    /// Named like the numbers, e.g. `syscall number`.
    taken: Seen<u64>,
}

impl<'r> Numbers<'r> {
    fn new(kind: RetiredKind, retired: &'r [(Range<usize>, Retired)], what: &'static str) -> Self {
        Numbers {
            kind,
            retired,
            taken: Seen::new(what),
        }
    }
}

/// Parses a number written in a string: decimal, `0x` hex or `0b` binary, `_` between
/// digits allowed, no sign; `None` when it is not one or does not fit a `u64`.
fn parse_u64_text(text: &str) -> Option<u64> {
    let (digits, radix) = match text.get(..2) {
        Some("0x") => (&text[2..], 16),
        Some("0b") => (&text[2..], 2),
        _ => (text, 10),
    };
    if digits.is_empty() || digits.starts_with('_') || digits.ends_with('_') {
        return None;
    }
    let clean: String = digits.chars().filter(|&c| c != '_').collect();
    if !clean.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    u64::from_str_radix(&clean, radix).ok()
}

/// Whether the schema spells an object called `name`, valid or not.
fn declared(raw: &RawSchema, name: &str) -> bool {
    raw.object.iter().any(|o| {
        o.get_ref()
            .name
            .as_ref()
            .is_some_and(|n| n.get_ref() == name)
    })
}

/// Formats a number the way the schema usually writes it: labels in hex.
fn hex(value: u64) -> String {
    format!("{value:#x}")
}

fn span_of<T>(value: &S<T>) -> Range<usize> {
    value.span()
}

/// Parses `MAJOR.MINOR`, each digits only and below 65536.
fn parse_version(text: &str) -> Option<(u16, u16)> {
    let (major, minor) = text.split_once('.')?;
    // `u16::from_str` takes a leading `+`; a version is digits only.
    let digits = |part: &str| {
        (!part.is_empty() && part.chars().all(|c| c.is_ascii_digit()))
            .then(|| part.parse::<u16>().ok())
            .flatten()
    };
    Some((digits(major)?, digits(minor)?))
}

impl Validator<'_> {
    fn run(&mut self, raw: &RawSchema) -> Model {
        let abi = self.abi(raw);
        let arches = self.arches(raw);
        let retired = self.retired(raw);
        let errors = self.errors(raw, &retired);
        let dispatch = self.dispatch(raw, &errors);
        let constants = self.constants(raw);
        let mut type_names = Seen::new("type name");
        let flags = self.flags(raw, &mut type_names);
        let bitfields = self.bitfields(raw, &mut type_names);
        let structs = self.structs(raw, &mut type_names, &constants);
        let flag_names = TypeNames {
            flags: flags.iter().map(|f| f.name.as_str()).collect(),
            bitfields: bitfields.iter().map(|b| b.name.as_str()).collect(),
        };
        let rights = flags.iter().find(|f| f.name == RIGHTS_FLAG_SET);
        let register_count = arches.first().map_or(0, |a: &Arch| a.arg_registers.len());
        let objects = self.objects(raw, &retired, &mut type_names);
        let caps = CapRule::Resolved {
            objects: &objects,
            declared_objects: raw
                .object
                .iter()
                .filter_map(|o| o.get_ref().name.as_ref().map(|n| n.get_ref().clone()))
                .collect(),
            rights_set: rights,
        };
        let syscalls = self.syscalls(
            raw,
            &retired,
            &errors,
            &flag_names,
            &arches,
            register_count,
            &caps,
        );
        let invoke = syscalls.iter().find(|s| s.kind == SyscallKind::Invoke);
        let invoke_args = invoke.map_or(0, |s| s.args.len());
        // The typed wrappers call the raw invoke function by the invoke syscall's name.
        let invoke_name = invoke.map(|s| s.name.clone());
        let invocations = self.invocations(
            raw,
            &retired,
            &errors,
            &objects,
            &flag_names,
            rights,
            &caps,
            register_count,
            invoke_args,
            invoke_name.as_deref(),
        );
        let ipc = self.ipc(raw, &bitfields, &structs, &constants, &arches);
        self.wrong_object_type_defined(raw, &errors);
        self.generated_names(raw, &syscalls, &invocations);
        let percpu = self.percpu(raw, &arches);
        let (kernel_messages, fault_reply) =
            self.kernel_messages(raw, &objects, &retired, &arches, ipc.is_some());
        let (protocol_rules, protocols, retired_protocols) = self.protocols(
            raw,
            &protocols::Context {
                errors: &errors,
                objects: &objects,
                flags: &flags,
                bitfields: &bitfields,
                structs: &structs,
                constants: &constants,
                kernel_messages: kernel_messages.as_ref(),
            },
        );
        let retired = retired.into_iter().map(|(_, r)| r).collect();
        let model = Model {
            abi,
            arches,
            dispatch,
            errors,
            constants,
            flags,
            bitfields,
            ipc,
            structs,
            syscalls,
            objects,
            invocations,
            retired,
            percpu,
            kernel_messages,
            fault_reply,
            protocol_rules,
            protocols,
            retired_protocols,
        };
        crate::collisions::check(self.d, raw, &model);
        model
    }

    // ----- helpers -------------------------------------------------------------------------

    /// A label block `{ base, size }` (of an object type or of the kernel messages): its
    /// base, size and span, or `None` after reporting what is missing or out of range.
    fn label_block(&mut self, block: &S<RawLabelBlock>) -> Option<(u64, u64, Range<usize>)> {
        let at = span_of(block);
        let base = self.required(&block.get_ref().base, "base", "label block", at.clone());
        let size = self.required(&block.get_ref().size, "size", "label block", at.clone());
        let base = self.number(base?, "label base", u64::MAX)?;
        let size_value = size?;
        let size = self.number(size_value, "label block size", u64::MAX)?;
        if size == 0 || base.checked_add(size).is_none() {
            self.d.error(
                span_of(size_value),
                "label block must be non-empty and end below 2^64",
            );
            return None;
        }
        Some((base, size, at))
    }

    /// Returns a required key, reporting it as missing from the entry at `at` otherwise.
    fn required<'a, T>(
        &mut self,
        value: &'a Option<S<T>>,
        key: &str,
        what: &str,
        at: Range<usize>,
    ) -> Option<&'a S<T>> {
        if value.is_none() {
            self.d.error(at, format!("{what} has no `{key}`"));
        }
        value.as_ref()
    }

    /// Returns the doc text, reporting a missing or empty doc.
    fn doc(&mut self, doc: &Option<S<String>>, what: &str, at: Range<usize>) -> String {
        match doc {
            None => {
                self.d.error(at, format!("{what} has no `doc`"));
                String::new()
            }
            Some(doc) if doc.get_ref().trim().is_empty() => {
                self.d
                    .error(span_of(doc), format!("{what} has an empty `doc`"));
                String::new()
            }
            Some(doc) => doc.get_ref().trim().to_owned(),
        }
    }

    /// Checks a name's spelling; returns it when valid.
    fn name(
        &mut self,
        name: &Option<S<String>>,
        case: Case,
        what: &str,
        at: Range<usize>,
    ) -> Option<S<String>> {
        let name = self.required(name, "name", what, at)?;
        // An invalid name is still returned so that later references to it do not cascade
        // into more errors; the model is discarded whenever any error was reported.
        if let Err(reason) = names::check_name(name.get_ref(), case, bare_in(what)) {
            self.d
                .error(span_of(name), format!("invalid {what} name: {reason}"));
        }
        Some(name.clone())
    }

    /// Checks that a number is non-negative and at most `max`.
    fn number(&mut self, value: &S<i64>, what: &str, max: u64) -> Option<u64> {
        let raw = *value.get_ref();
        match u64::try_from(raw) {
            Ok(v) if v <= max => Some(v),
            Ok(v) => {
                self.d
                    .error(span_of(value), format!("{what} {v} is larger than {max}"));
                None
            }
            Err(_) => {
                self.d
                    .error(span_of(value), format!("{what} {raw} is negative"));
                None
            }
        }
    }

    fn retired_use(
        &mut self,
        retired: &[(Range<usize>, Retired)],
        kind: RetiredKind,
        number: u64,
        span: Range<usize>,
        shown: &str,
    ) {
        if let Some((at, entry)) = retired
            .iter()
            .find(|(_, r)| r.kind == kind && r.number == number)
        {
            self.d.error_with_related(
                span,
                format!(
                    "{} {shown} is retired and must not be reused ({})",
                    kind.key(),
                    entry.reason
                ),
                at.clone(),
                "retired here",
            );
        }
    }

    /// Returns an entry's integer `type`, reporting a missing or unknown one.
    fn int_type(
        &mut self,
        ty: &Option<S<String>>,
        what: &str,
        at: Range<usize>,
    ) -> Option<IntType> {
        let ty = self.required(ty, "type", what, at)?;
        let parsed = IntType::parse(ty.get_ref());
        if parsed.is_none() {
            self.d.error(
                span_of(ty),
                format!(
                    "unknown {what} type `{}`; expected u8, u16, u32 or u64",
                    ty.get_ref()
                ),
            );
        }
        parsed
    }

    /// Returns the number under `key` of the entry `what` at `at`, reporting it missing,
    /// out of range, retired or taken by an earlier entry.
    fn unique_number(
        &mut self,
        value: &Option<S<i64>>,
        key: &str,
        what: &str,
        at: Range<usize>,
        numbers: &mut Numbers<'_>,
    ) -> Option<u64> {
        let value = self.required(value, key, what, at)?;
        let number = self.number(value, numbers.taken.what, u64::MAX)?;
        self.retired_use(
            numbers.retired,
            numbers.kind,
            number,
            span_of(value),
            &number.to_string(),
        );
        numbers.taken.insert(self.d, number, span_of(value));
        Some(number)
    }

    // ----- sections ------------------------------------------------------------------------

    fn abi(&mut self, raw: &RawSchema) -> AbiInfo {
        let mut info = AbiInfo {
            name: String::new(),
            version_major: 0,
            version_minor: 0,
        };
        let Some(abi) = &raw.abi else {
            self.d.error(0..0, "the schema has no `[abi]` table");
            return info;
        };
        if let Some(name) = self.name(&abi.get_ref().name, Case::Snake, "ABI", span_of(abi)) {
            info.name = name.into_inner();
        }
        if let Some(version) =
            self.required(&abi.get_ref().version, "version", "`[abi]`", span_of(abi))
        {
            match parse_version(version.get_ref()) {
                Some((major, minor)) => {
                    info.version_major = major;
                    info.version_minor = minor;
                }
                None => self.d.error(
                    span_of(version),
                    "ABI version must be `MAJOR.MINOR`, each a number below 65536",
                ),
            }
        }
        info
    }

    fn arches(&mut self, raw: &RawSchema) -> Vec<Arch> {
        let mut out = Vec::new();
        let Some(table) = &raw.arch else {
            self.d
                .error(0..0, "the schema has no `[arch.<name>]` table");
            return out;
        };
        let mut expected_args: Option<(usize, Range<usize>)> = None;
        for (key, arch) in &table.0 {
            let name = key.get_ref();
            let at = span_of(key);
            let what = format!("`[arch.{name}]`");
            if !KNOWN_ARCHES.contains(&name.as_str()) {
                self.d.error(
                    at.clone(),
                    format!(
                        "unknown architecture `{name}`; known are {}",
                        KNOWN_ARCHES.join(", ")
                    ),
                );
                continue;
            }
            let a = arch.get_ref();
            let trap = self.required(&a.trap, "trap", &what, at.clone()).map(|t| {
                let text = t.get_ref();
                if let Err(reason) = check_trap(name, text) {
                    self.d.error(span_of(t), reason);
                }
                text.clone()
            });
            let mut registers = Seen::new("register");
            let register = |v: &mut Self, r: &S<String>, seen: &mut Seen<String>| -> String {
                let text = r.get_ref();
                if let Err(reason) = check_register(name, text) {
                    v.d.error(span_of(r), reason);
                }
                seen.insert(v.d, text.clone(), span_of(r));
                text.clone()
            };
            let number_register = self
                .required(&a.number_register, "number_register", &what, at.clone())
                .map(|r| register(self, r, &mut registers));
            let arg_registers: Vec<String> = match self.required(
                &a.arg_registers,
                "arg_registers",
                &what,
                at.clone(),
            ) {
                Some(list) => {
                    if list.get_ref().is_empty() || list.get_ref().len() > MAX_ARG_REGISTERS {
                        self.d.error(
                            span_of(list),
                            format!("`arg_registers` must name 1 to {MAX_ARG_REGISTERS} registers, not {}", list.get_ref().len()),
                        );
                    }
                    match &expected_args {
                        Some((count, first)) if *count != list.get_ref().len() => self.d.error_with_related(
                            span_of(list),
                            format!(
                                "every architecture must have the same number of argument registers ({count} in the first)"
                            ),
                            first.clone(),
                            "first architecture's registers",
                        ),
                        Some(_) => {}
                        None => expected_args = Some((list.get_ref().len(), span_of(list))),
                    }
                    list.get_ref()
                        .iter()
                        .map(|r| register(self, r, &mut registers))
                        .collect()
                }
                None => Vec::new(),
            };
            // Results may reuse the number and argument registers, but not each other.
            let mut result_seen = Seen::new("result register");
            let result_registers: Vec<String> = match self.required(
                &a.result_registers,
                "result_registers",
                &what,
                at.clone(),
            ) {
                Some(list) => {
                    if list.get_ref().len() != 2 {
                        self.d.error(
                                span_of(list),
                                format!(
                                    "`result_registers` must name exactly 2 registers (status, value), not {}",
                                    list.get_ref().len()
                                ),
                            );
                    }
                    list.get_ref()
                        .iter()
                        .map(|r| register(self, r, &mut result_seen))
                        .collect()
                }
                None => Vec::new(),
            };
            let mut clobbered_registers = Vec::new();
            let clobbered: &[S<String>] = match &a.clobbered_registers {
                Some(list) => list.get_ref(),
                None => {
                    self.d.error(
                        at.clone(),
                        format!(
                            "{what} has no `clobbered_registers` (write `clobbered_registers = []` if the trap destroys no other register)"
                        ),
                    );
                    &[]
                }
            };
            for r in clobbered {
                if result_seen.first.contains_key(r.get_ref()) {
                    self.d.error(
                        span_of(r),
                        format!("register `{}` is both a result and clobbered", r.get_ref()),
                    );
                }
                clobbered_registers.push(register(self, r, &mut registers));
            }
            if let (Some(trap), Some(list)) = (&trap, &a.clobbered_registers) {
                let used: Vec<&S<String>> = a
                    .number_register
                    .iter()
                    .chain(a.arg_registers.iter().flat_map(|l| l.get_ref()))
                    .chain(a.result_registers.iter().flat_map(|l| l.get_ref()))
                    .collect();
                for (register, why) in hardware_clobbers(name, trap) {
                    if let Some(r) = used.iter().find(|r| r.get_ref() == register) {
                        self.d.error(
                            span_of(r),
                            format!("`{trap}` overwrites {register} ({why}); it cannot carry a number, argument or result"),
                        );
                    } else if !list.get_ref().iter().any(|r| r.get_ref() == register) {
                        self.d.error(
                            span_of(list),
                            format!("`{trap}` overwrites {register} ({why}): list it in `clobbered_registers`"),
                        );
                    }
                }
            }
            let ipc = a.ipc.as_ref().and_then(|block| {
                self.arch_ipc(
                    name,
                    block,
                    number_register.as_deref(),
                    &result_registers,
                    &clobbered_registers,
                )
            });
            if let (Some(trap), Some(number_register)) = (trap, number_register) {
                out.push(Arch {
                    name: name.to_owned(),
                    trap,
                    number_register,
                    arg_registers,
                    result_registers,
                    clobbered_registers,
                    ipc,
                });
            }
        }
        if table.0.is_empty() {
            self.d.error(0..0, "the schema declares no architecture");
        }
        out
    }

    /// Validates `[arch.<arch>.ipc]`: every register usable, the registers distinct from
    /// each other and from the number, status and clobbered registers, and at least one
    /// message register (no more than the trap has free).
    fn arch_ipc(
        &mut self,
        arch: &str,
        block: &S<RawArchIpc>,
        number: Option<&str>,
        results: &[String],
        clobbered: &[String],
    ) -> Option<ArchIpc> {
        let what = format!("`[arch.{arch}.ipc]`");
        let at = span_of(block);
        let b = block.get_ref();
        let capability = self.required(&b.capability, "capability", &what, at.clone());
        let info = self.required(&b.info, "info", &what, at.clone());
        let messages = self.required(&b.message_registers, "message_registers", &what, at);
        let mut seen = Seen::new("IPC register");
        let status = results.first().map(String::as_str);
        let mut check = |v: &mut Self, r: &S<String>, role: &str| {
            let text = r.get_ref().as_str();
            let taken = if Some(text) == number {
                Some("the number register")
            } else if Some(text) == status {
                Some("the status register (`result_registers[0]`)")
            } else if clobbered.iter().any(|c| c == text) {
                Some("clobbered by the trap")
            } else {
                None
            };
            if let Err(reason) = check_register(arch, text) {
                v.d.error(span_of(r), reason);
            } else if let Some(taken) = taken {
                v.d.error(
                    span_of(r),
                    format!("`{text}` is {taken}; it cannot also carry the IPC {role}"),
                );
            }
            seen.insert(v.d, text.to_owned(), span_of(r));
            text.to_owned()
        };
        let capability = capability.map(|r| check(self, r, "capability"));
        let info = info.map(|r| check(self, r, "info word"));
        let message_registers = messages.map(|list| {
            let registers: Vec<String> = list
                .get_ref()
                .iter()
                .map(|r| check(self, r, "message register"))
                .collect();
            let free = free_registers(arch, number, status, clobbered, 2);
            if registers.is_empty() {
                self.d.error(
                    span_of(list),
                    "`message_registers` must name at least 1 register",
                );
            } else if let Some(free) = free
                && registers.len() > free
            {
                self.d.error(
                    span_of(list),
                    format!(
                        "`message_registers` names {} registers but {arch} has only {free} left besides the number, status, clobbered, capability and info registers",
                        registers.len()
                    ),
                );
            }
            registers
        });
        Some(ArchIpc {
            capability: capability?,
            info: info?,
            message_registers: message_registers?,
        })
    }

    /// Validates `[ipc]` and what the IPC syscalls need: the table itself, an info bitfield
    /// that covers a whole `u64`, an IPC buffer that fits a page, and the registers of
    /// every architecture.
    fn ipc(
        &mut self,
        raw: &RawSchema,
        bitfields: &[Bitfield],
        structs: &[Struct],
        constants: &[Constant],
        arches: &[Arch],
    ) -> Option<Ipc> {
        let first_ipc_syscall = raw.syscall.iter().find_map(|s| {
            s.get_ref()
                .kind
                .as_ref()
                .filter(|k| k.get_ref() == "ipc")
                .map(span_of)
        });
        let arch_blocks: Vec<(&S<String>, Range<usize>)> = raw
            .arch
            .iter()
            .flat_map(|t| &t.0)
            .filter_map(|(key, a)| a.get_ref().ipc.as_ref().map(|b| (key, span_of(b))))
            .collect();
        let Some(table) = &raw.ipc else {
            if let Some(span) = first_ipc_syscall {
                self.d.error(
                    span,
                    "an ipc syscall needs the `[ipc]` table (`info = \"<bitfield>\"`, the type of the info register)",
                );
            }
            for (key, span) in arch_blocks {
                self.d.error(
                    span,
                    format!(
                        "`[arch.{}.ipc]` needs the `[ipc]` table (`info = \"<bitfield>\"`)",
                        key.get_ref()
                    ),
                );
            }
            return None;
        };
        let at = span_of(table);
        let t = table.get_ref();
        let declared_bitfield = |name: &str| {
            raw.bitfield.iter().any(|b| {
                b.get_ref()
                    .name
                    .as_ref()
                    .is_some_and(|n| n.get_ref() == name)
            })
        };
        let info = self
            .required(&t.info, "info", "`[ipc]`", at.clone())
            .map(|info| {
                let name = info.get_ref();
                match bitfields.iter().find(|b| &b.name == name) {
                    Some(b) if b.word != IntType::U64 => self.d.error(
                        span_of(info),
                        format!(
                            "the IPC info bitfield `{name}` must be a `u64` word (a register), not `{}`",
                            b.word.name()
                        ),
                    ),
                    Some(b) if b.reserved() != 0 => self.d.error(
                        span_of(info),
                        format!(
                            "the IPC info bitfield `{name}` leaves bits {:#x} to no field; its fields must cover the whole word (the kernel takes the info register as it is)",
                            b.reserved()
                        ),
                    ),
                    Some(_) => {}
                    None if declared_bitfield(name) => {}
                    None => {
                        let known: Vec<&str> = bitfields.iter().map(|b| b.name.as_str()).collect();
                        self.d.error(
                            span_of(info),
                            format!(
                                "`[ipc].info` names unknown bitfield `{name}`; {}",
                                if known.is_empty() {
                                    "the schema declares no `[[bitfield]]`".to_owned()
                                } else {
                                    format!("expected one of {}", known.join(", "))
                                }
                            ),
                        );
                    }
                }
                name.clone()
            });
        let buffer = t.buffer.as_ref().map(|buffer| {
            let name = buffer.get_ref();
            let page = constants.iter().find(|c| c.name == PAGE_SIZE_CONSTANT);
            match structs.iter().find(|s| &s.name == name) {
                Some(s) => {
                    if let Some(page) = page
                        && s.size > page.value
                    {
                        self.d.error(
                            span_of(buffer),
                            format!(
                                "the IPC buffer `{name}` is {} bytes, more than {PAGE_SIZE_CONSTANT} ({})",
                                s.size, page.value
                            ),
                        );
                    }
                }
                None => {
                    let declared = raw.structs.iter().any(|s| {
                        s.get_ref()
                            .name
                            .as_ref()
                            .is_some_and(|n| n.get_ref() == name)
                    });
                    if !declared {
                        self.d.error(
                            span_of(buffer),
                            format!("`[ipc].buffer` names unknown struct `{name}`"),
                        );
                    }
                }
            }
            name.clone()
        });
        for arch in arches {
            let has_block = arch_blocks
                .iter()
                .any(|(key, _)| key.get_ref() == &arch.name);
            if !has_block {
                let key = raw
                    .arch
                    .iter()
                    .flat_map(|t| &t.0)
                    .find(|(k, _)| k.get_ref() == &arch.name)
                    .map_or(0..0, |(k, _)| span_of(k));
                self.d.error_with_related(
                    key,
                    format!(
                        "architecture `{}` has no `[arch.{}.ipc]` registers, which `[ipc]` needs on every architecture",
                        arch.name, arch.name
                    ),
                    at.clone(),
                    "the IPC convention",
                );
            }
        }
        Some(Ipc {
            info: info?,
            buffer,
        })
    }

    /// Validates `[kernel_messages]`, the `[[kernel_message]]` entries and `[fault_reply]`:
    /// a label block apart from every object's, labels inside it and unique, and every
    /// message short enough for the fewest message registers of any architecture (kernel
    /// messages travel in registers only).
    fn kernel_messages(
        &mut self,
        raw: &RawSchema,
        objects: &[Object],
        retired: &[(Range<usize>, Retired)],
        arches: &[Arch],
        has_ipc: bool,
    ) -> (Option<KernelMessages>, Option<FaultReply>) {
        let registers = arches
            .iter()
            .filter_map(|a| {
                a.ipc
                    .as_ref()
                    .map(|i| (a.name.as_str(), i.message_registers.len()))
            })
            // An empty list is an error of its own, not one per message.
            .filter(|(_, count)| *count > 0)
            .min_by_key(|(_, count)| *count);
        let needs_ipc = |v: &mut Self, span: Range<usize>, what: &str| {
            if !has_ipc && raw.ipc.is_none() {
                v.d.error(
                    span,
                    format!(
                        "{what} travel through IPC and need the `[ipc]` table and the IPC registers"
                    ),
                );
            }
        };
        let block = match &raw.kernel_messages {
            None => {
                if let Some(first) = raw.kernel_message.first() {
                    self.d.error(
                        span_of(first),
                        "a `[[kernel_message]]` needs the `[kernel_messages]` table (its label block and doc)",
                    );
                }
                None
            }
            Some(table) => {
                let at = span_of(table);
                let t = table.get_ref();
                needs_ipc(self, at.clone(), "kernel messages");
                let doc = self.doc(&t.doc, "`[kernel_messages]`", at.clone());
                let labels = self
                    .required(&t.labels, "labels", "`[kernel_messages]`", at.clone())
                    .and_then(|b| {
                        let (base, size, bat) = self.label_block(b)?;
                        if let Some(object) = objects
                            .iter()
                            .find(|o| base <= o.label_last() && o.label_base < base + size)
                        {
                            let other = raw
                                .object
                                .iter()
                                .find(|o| {
                                    o.get_ref()
                                        .name
                                        .as_ref()
                                        .is_some_and(|n| n.get_ref() == &object.name)
                                })
                                .and_then(|o| o.get_ref().labels.as_ref().map(span_of))
                                .unwrap_or(0..0);
                            self.d.error_with_related(
                                bat,
                                format!(
                                    "the kernel messages' label block {}..={} overlaps the block {}..={} of {}",
                                    hex(base),
                                    hex(base + size - 1),
                                    hex(object.label_base),
                                    hex(object.label_last()),
                                    object.name
                                ),
                                other,
                                "the object's block",
                            );
                        }
                        Some((base, size))
                    });
                Some((doc, labels))
            }
        };
        let mut messages = Vec::new();
        let mut names = Seen::new("kernel message");
        let mut consts = Seen::new("kernel message constant");
        let mut labels = Seen::new("kernel message label");
        for entry in &raw.kernel_message {
            let at = span_of(entry);
            let m = entry.get_ref();
            let name = self.name(&m.name, Case::Camel, "kernel message", at.clone());
            let doc = self.doc(&m.doc, "kernel message", at.clone());
            if let Some(name) = &name
                && RESERVED_KERNEL_MESSAGE_NAMES.contains(&name.get_ref().as_str())
            {
                self.d.error(
                    span_of(name),
                    format!(
                        "kernel message name `{}` is reserved in `abi::kernel_message`",
                        name.get_ref()
                    ),
                );
            }
            let label = self
                .required(&m.label, "label", "kernel message", at.clone())
                .and_then(|l| {
                    let label = self.number(l, "label", u64::MAX)?;
                    self.retired_use(retired, RetiredKind::Label, label, span_of(l), &hex(label));
                    if let Some((_, Some((base, size)))) = &block
                        && !(*base..base + size).contains(&label)
                    {
                        self.d.error(
                            span_of(l),
                            format!(
                                "label {} lies outside the kernel messages' block ({}..={})",
                                hex(label),
                                hex(*base),
                                hex(base + size - 1)
                            ),
                        );
                        return None;
                    }
                    labels.insert(self.d, hex(label), span_of(l));
                    Some(label)
                });
            let fields = self.message_fields(&m.fields, "kernel message field");
            if let Some((arch, count)) = registers
                && m.fields.len() > count
            {
                self.d.error(
                    span_of(&m.fields[count]),
                    format!(
                        "a kernel message travels in the message registers only, and {arch} has {count}; this one has {}",
                        words(m.fields.len())
                    ),
                );
            }
            let (Some(name), Some(label)) = (name, label) else {
                continue;
            };
            if names.insert(self.d, name.get_ref().clone(), span_of(&name)) {
                consts.insert(
                    self.d,
                    names::screaming_case(name.get_ref()),
                    span_of(&name),
                );
            }
            messages.push(KernelMessage {
                name: name.into_inner(),
                label,
                fault: m.fault.as_ref().is_some_and(|f| *f.get_ref()),
                doc,
                fields,
            });
        }
        let fault_reply = raw.fault_reply.as_ref().map(|reply| {
            let at = span_of(reply);
            needs_ipc(self, at.clone(), "fault replies");
            let r = reply.get_ref();
            let doc = match &r.doc {
                None => "The words a fault handler's reply may carry.".to_owned(),
                Some(_) => self.doc(&r.doc, "`[fault_reply]`", at.clone()),
            };
            let fields = self.message_fields(&r.fields, "fault reply field");
            if let Some((arch, count)) = registers
                && r.fields.len() > count
            {
                self.d.error(
                    span_of(&r.fields[count]),
                    format!(
                        "the fault reply is read from the message registers only, and {arch} has {count}; this one has {}",
                        words(r.fields.len())
                    ),
                );
            }
            FaultReply { doc, fields }
        });
        let kernel_messages = block.and_then(|(doc, labels)| {
            let (label_base, label_size) = labels?;
            Some(KernelMessages {
                label_base,
                label_size,
                doc,
                messages,
            })
        });
        (kernel_messages, fault_reply)
    }

    /// The words of a kernel message or the fault reply: named, documented `u64`s.
    fn message_fields(&mut self, list: &[S<RawMessageField>], what: &str) -> Vec<MessageField> {
        let mut seen = Seen::new("field");
        let mut out = Vec::new();
        for f in list {
            let at = span_of(f);
            let r = f.get_ref();
            let name = self.name(&r.name, Case::Snake, what, at.clone());
            let doc = self.doc(&r.doc, what, at.clone());
            if let Some(ty) = self.required(&r.ty, "type", what, at)
                && ty.get_ref() != "u64"
            {
                self.d.error(
                    span_of(ty),
                    format!(
                        "a {what} is one message word: its type must be `u64`, not `{}`",
                        ty.get_ref()
                    ),
                );
            }
            let Some(name) = name else { continue };
            seen.insert(self.d, name.get_ref().clone(), span_of(&name));
            out.push(MessageField {
                name: name.into_inner(),
                doc,
            });
        }
        out
    }

    fn bitfields(&mut self, raw: &RawSchema, type_names: &mut Seen<String>) -> Vec<Bitfield> {
        let mut out = Vec::new();
        for entry in &raw.bitfield {
            let at = span_of(entry);
            let b = entry.get_ref();
            let name = self.name(&b.name, Case::Camel, "bitfield", at.clone());
            let doc = self.doc(&b.doc, "bitfield", at.clone());
            let word = self.int_type(&b.ty, "bitfield", at.clone());
            if b.fields.is_empty() {
                self.d.error(at.clone(), "bitfield has no `fields`");
            }
            let mut field_names = Seen::new("bitfield field");
            let mut methods: HashMap<String, (String, Range<usize>)> = HashMap::new();
            let mut fields: Vec<(Range<usize>, BitfieldField)> = Vec::new();
            for f in &b.fields {
                let fat = span_of(f);
                let r = f.get_ref();
                let field_name = self.name(&r.name, Case::Snake, "bitfield field", fat.clone());
                let field_doc = self.doc(&r.doc, "bitfield field", fat.clone());
                let ty = self.int_type(&r.ty, "bitfield field", fat.clone());
                let lsb = self
                    .required(&r.lsb, "lsb", "bitfield field", fat.clone())
                    .and_then(|v| self.number(v, "lsb", 63));
                let width_value = self.required(&r.width, "width", "bitfield field", fat.clone());
                let width = width_value.and_then(|v| self.number(v, "width", 64));
                if let (Some(0), Some(v)) = (width, width_value) {
                    self.d
                        .error(span_of(v), "a bitfield field must be at least 1 bit wide");
                }
                let (Some(field_name), Some(ty), Some(lsb), Some(width), Some(width_value)) =
                    (field_name, ty, lsb, width, width_value)
                else {
                    continue;
                };
                if width == 0 {
                    continue;
                }
                // Both are at most 64, so the casts are exact.
                let (lsb, width) = (lsb as u32, width as u32);
                let shown = field_name.get_ref();
                let bits = |lsb: u32, width: u32| format!("bits {lsb}..={}", lsb + width - 1);
                if let Some(word) = word
                    && lsb + width > word.bits()
                {
                    self.d.error(
                        span_of(width_value),
                        format!(
                            "field `{shown}` ({}) does not fit the {} word (bits 0..={})",
                            bits(lsb, width),
                            word.name(),
                            word.bits() - 1
                        ),
                    );
                    continue;
                }
                if width > ty.bits()
                    && let Some(ty_span) = &r.ty
                {
                    self.d.error(
                        span_of(ty_span),
                        format!(
                            "field `{shown}` is {width} bits wide but its type `{}` holds only {}",
                            ty.name(),
                            ty.bits()
                        ),
                    );
                }
                let field = BitfieldField {
                    name: shown.clone(),
                    doc: field_doc,
                    lsb,
                    width,
                    ty,
                };
                if let Some((other_span, other)) =
                    fields.iter().find(|(_, o)| o.mask() & field.mask() != 0)
                {
                    self.d.error_with_related(
                        fat.clone(),
                        format!(
                            "field `{shown}` ({}) overlaps field `{}` ({})",
                            bits(lsb, width),
                            other.name,
                            bits(other.lsb, other.width)
                        ),
                        other_span.clone(),
                        "the other field",
                    );
                }
                if field_names.insert(self.d, shown.clone(), span_of(&field_name)) {
                    for (method, role) in [
                        (shown.clone(), "getter"),
                        (format!("with_{shown}"), "setter"),
                        (format!("try_with_{shown}"), "checked setter"),
                    ] {
                        let owner = format!("the {role} of field `{shown}`");
                        if RESERVED_BITFIELD_METHODS.contains(&method.as_str()) {
                            self.d.error(
                                span_of(&field_name),
                                format!(
                                    "{owner} would be the method `{method}`, which every bitfield type defines"
                                ),
                            );
                        } else if let Some((other, other_span)) = methods.get(&method) {
                            self.d.error_with_related(
                                span_of(&field_name),
                                format!("{owner} and {other} are both the method `{method}`"),
                                other_span.clone(),
                                "the other field",
                            );
                        } else {
                            methods.insert(method, (owner, span_of(&field_name)));
                        }
                    }
                }
                fields.push((fat, field));
            }
            let Some(name) = name else {
                continue;
            };
            // A bitfield whose word type is wrong (reported) still names a type, so that its
            // uses do not cascade into more errors; the model is discarded anyway.
            let word = word.unwrap_or(IntType::U64);
            self.type_name(&name, type_names);
            out.push(Bitfield {
                name: name.into_inner(),
                doc,
                word,
                fields: fields.into_iter().map(|(_, f)| f).collect(),
            });
        }
        out
    }

    fn retired(&mut self, raw: &RawSchema) -> Vec<(Range<usize>, Retired)> {
        let mut out: Vec<(Range<usize>, Retired)> = Vec::new();
        let mut seen = Seen::new("retired number");
        for entry in &raw.retired {
            let at = span_of(entry);
            let r = entry.get_ref();
            // Protocol tombstones are validated with the protocols.
            if r.protocol.is_some() || r.labels.is_some() {
                continue;
            }
            let given: Vec<(RetiredKind, &S<i64>)> = [
                (RetiredKind::Syscall, &r.syscall),
                (RetiredKind::Label, &r.label),
                (RetiredKind::Object, &r.object),
                (RetiredKind::Error, &r.error),
            ]
            .into_iter()
            .filter_map(|(kind, value)| value.as_ref().map(|v| (kind, v)))
            .collect();
            let reason = self.doc(&r.reason, "retired entry", at.clone());
            let [(kind, value)] = given.as_slice() else {
                self.d.error(
                    at,
                    "a retired entry needs exactly one of `syscall`, `label`, `object`, `error`",
                );
                continue;
            };
            let Some(number) = self.number(value, &format!("retired {}", kind.key()), u64::MAX)
            else {
                continue;
            };
            if seen.insert(
                self.d,
                format!("{} {}", kind.key(), hex(number)),
                span_of(value),
            ) {
                out.push((
                    span_of(value),
                    Retired {
                        kind: *kind,
                        number,
                        reason: reason.replace('\n', " "),
                    },
                ));
            }
        }
        out
    }

    fn errors(&mut self, raw: &RawSchema, retired: &[(Range<usize>, Retired)]) -> Vec<ErrorCode> {
        let mut out = Vec::new();
        let mut names = Seen::new("error name");
        let mut codes = Numbers::new(RetiredKind::Error, retired, "error code");
        for entry in &raw.error {
            let at = span_of(entry);
            let e = entry.get_ref();
            let name = self.name(&e.name, Case::Camel, "error", at.clone());
            let doc = self.doc(&e.doc, "error", at.clone());
            if let Some(c) = &e.code
                && *c.get_ref() == 0
            {
                self.d.error(
                    span_of(c),
                    "error code 0 means success and cannot be an error",
                );
            }
            let code = self.unique_number(&e.code, "code", "error", at.clone(), &mut codes);
            let (Some(name), Some(code)) = (name, code) else {
                continue;
            };
            names.insert(self.d, name.get_ref().clone(), span_of(&name));
            out.push(ErrorCode {
                name: name.into_inner(),
                code,
                doc,
            });
        }
        out
    }

    fn dispatch(&mut self, raw: &RawSchema, errors: &[ErrorCode]) -> DispatchErrors {
        let mut out = DispatchErrors {
            unknown_syscall: String::new(),
            unknown_label: String::new(),
            invalid_argument: String::new(),
            insufficient_rights: String::new(),
            unknown_error: String::new(),
        };
        let Some(table) = &raw.dispatch else {
            self.d.error(0..0, "the schema has no `[dispatch]` table");
            return out;
        };
        let at = span_of(table);
        let t = table.get_ref();
        let keys = [
            (
                "unknown_syscall",
                &t.unknown_syscall,
                &mut out.unknown_syscall,
            ),
            ("unknown_label", &t.unknown_label, &mut out.unknown_label),
            (
                "invalid_argument",
                &t.invalid_argument,
                &mut out.invalid_argument,
            ),
            (
                "insufficient_rights",
                &t.insufficient_rights,
                &mut out.insufficient_rights,
            ),
            ("unknown_error", &t.unknown_error, &mut out.unknown_error),
        ];
        for (key, value, slot) in keys {
            let Some(value) = value else {
                self.d
                    .error(at.clone(), format!("`[dispatch]` has no `{key}`"));
                continue;
            };
            if errors.iter().any(|e| &e.name == value.get_ref()) {
                *slot = value.get_ref().clone();
            } else {
                self.d.error(
                    span_of(value),
                    format!(
                        "`[dispatch].{key}` names unknown error `{}`",
                        value.get_ref()
                    ),
                );
            }
        }
        out
    }

    fn constants(&mut self, raw: &RawSchema) -> Vec<Constant> {
        let mut out = Vec::new();
        let mut names = Seen::new("constant");
        for entry in &raw.constant {
            let at = span_of(entry);
            let c = entry.get_ref();
            let name = self.name(&c.name, Case::Screaming, "constant", at.clone());
            let doc = self.doc(&c.doc, "constant", at.clone());
            let ty = self.int_type(&c.ty, "constant", at.clone());
            let value = self.required(&c.value, "value", "constant", at.clone());
            let (Some(name), Some(ty), Some(value)) = (name, ty, value) else {
                continue;
            };
            let what = format!("value of {} constant {}", ty.name(), name.get_ref());
            let value = match value.get_ref() {
                RawInteger::Integer(number) => {
                    let number = S::new(span_of(value), *number);
                    self.number(&number, &what, ty.max())
                }
                RawInteger::Text(text) => match parse_u64_text(text) {
                    Some(v) if v <= ty.max() => Some(v),
                    Some(v) => {
                        self.d.error(
                            span_of(value),
                            format!("{what} {v} is larger than {}", ty.max()),
                        );
                        None
                    }
                    None => {
                        self.d.error(
                            span_of(value),
                            format!("{what} `{text}` is not a number; write an integer, or a string such as \"0xffff_ffff_ffff_ffff\" for values above i64::MAX"),
                        );
                        None
                    }
                },
            };
            let Some(value) = value else {
                continue;
            };
            if RESERVED_CONSTANT_NAMES.contains(&name.get_ref().as_str()) {
                self.d.error(
                    span_of(&name),
                    format!(
                        "constant name `{}` is reserved for the generated crate",
                        name.get_ref()
                    ),
                );
                continue;
            }
            names.insert(self.d, name.get_ref().clone(), span_of(&name));
            out.push(Constant {
                name: name.into_inner(),
                ty,
                value,
                doc,
            });
        }
        out
    }

    fn type_name(&mut self, name: &S<String>, seen: &mut Seen<String>) -> bool {
        if RESERVED_TYPE_NAMES.contains(&name.get_ref().as_str()) {
            self.d.error(
                span_of(name),
                format!(
                    "type name `{}` is reserved for generated code",
                    name.get_ref()
                ),
            );
            return false;
        }
        seen.insert(self.d, name.get_ref().clone(), span_of(name))
    }

    fn flags(&mut self, raw: &RawSchema, type_names: &mut Seen<String>) -> Vec<FlagSet> {
        let mut out = Vec::new();
        for entry in &raw.flags {
            let at = span_of(entry);
            let f = entry.get_ref();
            let name = self.name(&f.name, Case::Camel, "flag set", at.clone());
            let doc = self.doc(&f.doc, "flag set", at.clone());
            if f.bits.is_empty() {
                self.d.error(at.clone(), "flag set has no `bits`");
            }
            let mut bit_names = Seen::new("flag bit name");
            let mut bit_numbers = Seen::new("flag bit");
            let mut bits = Vec::new();
            for b in &f.bits {
                let bat = span_of(b);
                let bit_name = self.name(&b.get_ref().name, Case::Snake, "flag bit", bat.clone());
                let bit_doc = self.doc(&b.get_ref().doc, "flag bit", bat.clone());
                let number = self
                    .required(&b.get_ref().bit, "bit", "flag bit", bat.clone())
                    .and_then(|n| self.number(n, "bit index", 63).map(|v| (v, span_of(n))));
                let (Some(bit_name), Some((number, number_span))) = (bit_name, number) else {
                    continue;
                };
                if bit_name.get_ref() == "all" {
                    self.d.error(
                        span_of(&bit_name),
                        "flag bit name `all` is reserved for the set of all bits",
                    );
                    continue;
                }
                bit_names.insert(self.d, bit_name.get_ref().clone(), span_of(&bit_name));
                bit_numbers.insert(self.d, number, number_span);
                let bit = u8::try_from(number).unwrap_or(u8::MAX);
                bits.push(FlagBit {
                    name: bit_name.into_inner(),
                    bit,
                    doc: bit_doc,
                });
            }
            let Some(name) = name else { continue };
            self.type_name(&name, type_names);
            out.push(FlagSet {
                name: name.into_inner(),
                doc,
                bits,
            });
        }
        out
    }

    /// Lays out `repr(C)` fields; returns the fields with offsets, the size and the alignment.
    fn layout(fields: Vec<FieldSpec>) -> (Vec<Field>, u64, u64) {
        let mut offset: u64 = 0;
        let mut align: u64 = 1;
        let mut out = Vec::new();
        for (name, ty, (count, count_constant), asm, doc) in fields {
            let a = ty.size();
            align = align.max(a);
            offset = offset.div_ceil(a) * a;
            let field = Field {
                name,
                ty,
                count,
                count_constant,
                offset,
                asm,
                doc,
            };
            offset = offset.saturating_add(field.size());
            out.push(field);
        }
        let size = offset.div_ceil(align) * align;
        (out, size, align)
    }

    /// Resolves a struct field's `count`: a number or a constant's name, from 1 to
    /// [`MAX_ARRAY_LENGTH`]; returns the length and the constant's name.
    fn struct_count(
        &mut self,
        raw: &RawSchema,
        count: &S<RawCount>,
        constants: &[Constant],
    ) -> Option<(Option<u64>, Option<String>)> {
        let span = span_of(count);
        match count.get_ref() {
            RawCount::Number(n) => {
                let n = self.number(&S::new(span.clone(), *n), "array length", MAX_ARRAY_LENGTH)?;
                if n == 0 {
                    self.d.error(span, "array length must be at least 1");
                    return None;
                }
                Some((Some(n), None))
            }
            RawCount::Constant(name) => {
                let Some(constant) = constants.iter().find(|c| &c.name == name) else {
                    let declared = raw.constant.iter().any(|c| {
                        c.get_ref()
                            .name
                            .as_ref()
                            .is_some_and(|n| n.get_ref() == name)
                    });
                    if !declared {
                        self.d.error(
                            span,
                            format!(
                                "`count` names unknown constant `{name}`; write a number or the name of a `[[constant]]`"
                            ),
                        );
                    }
                    return None;
                };
                if constant.value == 0 || constant.value > MAX_ARRAY_LENGTH {
                    self.d.error(
                        span,
                        format!(
                            "`count` names constant `{name}`, which is {}; an array length must be from 1 to {MAX_ARRAY_LENGTH}",
                            constant.value
                        ),
                    );
                    return None;
                }
                Some((Some(constant.value), Some(name.clone())))
            }
        }
    }

    fn structs(
        &mut self,
        raw: &RawSchema,
        type_names: &mut Seen<String>,
        constants: &[Constant],
    ) -> Vec<Struct> {
        let mut out = Vec::new();
        for entry in &raw.structs {
            let at = span_of(entry);
            let s = entry.get_ref();
            let name = self.name(&s.name, Case::Camel, "struct", at.clone());
            let doc = self.doc(&s.doc, "struct", at.clone());
            if s.fields.is_empty() {
                self.d.error(at.clone(), "struct has no `fields`");
            }
            let mut field_names = Seen::new("field");
            let mut fields = Vec::new();
            for f in &s.fields {
                let fat = span_of(f);
                let field_name = self.name(&f.get_ref().name, Case::Snake, "field", fat.clone());
                let field_doc = self.doc(&f.get_ref().doc, "field", fat.clone());
                let ty = self.int_type(&f.get_ref().ty, "field", fat.clone());
                for (key, span) in [
                    ("object", f.get_ref().object.as_ref().map(span_of)),
                    ("rights", f.get_ref().rights.as_ref().map(span_of)),
                ] {
                    if let Some(span) = span {
                        self.d.error(
                            span,
                            format!(
                                "`{key}` applies only to `cap` arguments, not to struct fields"
                            ),
                        );
                    }
                }
                let count = match &f.get_ref().count {
                    None => Some((None, None)),
                    Some(count) => self.struct_count(raw, count, constants),
                };
                let (Some(field_name), Some(ty), Some(count)) = (field_name, ty, count) else {
                    continue;
                };
                field_names.insert(self.d, field_name.get_ref().clone(), span_of(&field_name));
                fields.push((field_name.into_inner(), ty, count, false, field_doc));
            }
            let Some(name) = name else { continue };
            self.type_name(&name, type_names);
            let (fields, size, align) = Self::layout(fields);
            out.push(Struct {
                name: name.into_inner(),
                doc,
                fields,
                size,
                align,
            });
        }
        out
    }

    /// Validates an argument or result list; `caps` says what `object` and `rights` mean here.
    fn params(
        &mut self,
        list: &[S<RawParam>],
        flag_names: &TypeNames<'_>,
        what: &str,
        reserved: &[&str],
        caps: &CapRule<'_>,
    ) -> Option<Vec<Param>> {
        let mut ok = true;
        let mut seen = Seen::new("parameter");
        let mut out = Vec::new();
        for p in list {
            let at = span_of(p);
            let name = self.name(&p.get_ref().name, Case::Snake, what, at.clone());
            let doc = self.doc(&p.get_ref().doc, what, at.clone());
            let ty = self
                .required(&p.get_ref().ty, "type", what, at.clone())
                .and_then(|t| {
                    let ty = Type::parse(t.get_ref(), &flag_names.flags, &flag_names.bitfields);
                    if ty.is_none() {
                        let mut expected =
                            String::from("u8, u16, u32, u64, bool, cap, uaddr, ObjectType");
                        for name in flag_names.flags.iter().chain(&flag_names.bitfields) {
                            expected.push_str(", ");
                            expected.push_str(name);
                        }
                        self.d.error(
                            span_of(t),
                            format!("unknown type `{}`; expected one of {expected}", t.get_ref()),
                        );
                    }
                    ty
                });
            if let Some(count) = &p.get_ref().count {
                self.d.error(
                    span_of(count),
                    format!(
                        "`count` applies only to struct fields, not to a{} {what}",
                        if what.starts_with(['a', 'e', 'i', 'o', 'u']) {
                            "n"
                        } else {
                            ""
                        }
                    ),
                );
            }
            let cap = self.cap_constraint(p, ty.as_ref(), name.as_ref(), caps);
            let (Some(name), Some(ty)) = (name, ty) else {
                ok = false;
                continue;
            };
            let valid = names::check_name(name.get_ref(), Case::Snake, bare_in(what)).is_ok();
            if valid && reserved.contains(&name.get_ref().as_str()) {
                self.d.error(
                    span_of(&name),
                    format!(
                        "{what} name `{}` is reserved in generated code",
                        name.get_ref()
                    ),
                );
                ok = false;
                continue;
            }
            seen.insert(self.d, name.get_ref().clone(), span_of(&name));
            out.push(Param {
                name: name.into_inner(),
                ty,
                cap,
                doc,
            });
        }
        ok.then_some(out)
    }

    /// Validates the `object` and `rights` keys of one parameter against `caps`; `None`
    /// for a parameter without a constraint or when an error was reported (the parameter
    /// is kept, so that its entry's other checks still run and nothing cascades).
    fn cap_constraint(
        &mut self,
        p: &S<RawParam>,
        ty: Option<&Type>,
        name: Option<&S<String>>,
        caps: &CapRule<'_>,
    ) -> Option<CapArg> {
        if matches!(caps, CapRule::Undecided) {
            return None;
        }
        let raw = p.get_ref();
        let shown = name.map_or_else(
            || String::from("parameter"),
            |n| format!("`{}`", n.get_ref()),
        );
        let keys = [
            ("object", raw.object.as_ref().map(span_of)),
            ("rights", raw.rights.as_ref().map(span_of)),
        ];
        let resolved = match caps {
            CapRule::Resolved {
                objects,
                declared_objects,
                rights_set,
            } if ty == Some(&Type::Cap) => Some((objects, declared_objects, rights_set)),
            _ => None,
        };
        let Some((objects, declared_objects, rights_set)) = resolved else {
            for (key, span) in keys {
                let Some(span) = span else { continue };
                let reason = match (caps, ty) {
                    (CapRule::Refused(reason), Some(Type::Cap)) => (*reason).to_owned(),
                    (_, Some(ty)) => format!(
                        "`{key}` applies only to `cap` arguments, and {shown} is `{}`",
                        ty.schema_name()
                    ),
                    (_, None) => format!("`{key}` applies only to `cap` arguments"),
                };
                self.d.error(span, reason);
            }
            return None;
        };
        if self.strictness == Strictness::Revision && raw.object.is_none() && raw.rights.is_none() {
            return None;
        }
        let at = span_of(p);
        let object = match &raw.object {
            None => {
                self.d.error(
                    at.clone(),
                    format!(
                        "capability argument {shown} has no `object` (name the object type it must refer to, or `\"{ANY_OBJECT}\"`)"
                    ),
                );
                None
            }
            Some(o) if o.get_ref() == ANY_OBJECT => Some(None),
            Some(o) => {
                if objects.iter().any(|x| &x.name == o.get_ref()) {
                    Some(Some(o.get_ref().clone()))
                } else if declared_objects.contains(o.get_ref()) {
                    // Its own entry has errors, reported there.
                    None
                } else {
                    let mut known: Vec<&str> = objects.iter().map(|x| x.name.as_str()).collect();
                    known.push(ANY_OBJECT);
                    self.d.error(
                        span_of(o),
                        format!(
                            "capability argument {shown} names unknown object `{}`; expected one of {}",
                            o.get_ref(),
                            known.join(", ")
                        ),
                    );
                    None
                }
            }
        };
        let rights = match &raw.rights {
            None => {
                self.d.error(
                    at,
                    format!(
                        "capability argument {shown} has no `rights` list (write `rights = []` if it needs none)"
                    ),
                );
                None
            }
            Some(list) => self.rights_list(list, *rights_set),
        };
        Some(CapArg {
            object: object?,
            rights: rights?,
        })
    }

    /// Validates a `rights` list: known bits of the `Rights` flag set, no duplicates.
    fn rights_list(
        &mut self,
        list: &S<Vec<S<String>>>,
        rights_set: Option<&FlagSet>,
    ) -> Option<Vec<String>> {
        let mut ok = true;
        let mut seen = Seen::new("right");
        let mut rights = Vec::new();
        for right in list.get_ref() {
            let known =
                rights_set.is_some_and(|set| set.bits.iter().any(|b| &b.name == right.get_ref()));
            if !known {
                let expected = rights_set.map_or_else(
                    || format!("there is no `{RIGHTS_FLAG_SET}` flag set"),
                    |set| {
                        let names: Vec<&str> = set.bits.iter().map(|b| b.name.as_str()).collect();
                        format!("expected one of {}", names.join(", "))
                    },
                );
                self.d.error(
                    span_of(right),
                    format!("unknown right `{}`; {expected}", right.get_ref()),
                );
                ok = false;
            } else if seen.insert(self.d, right.get_ref().clone(), span_of(right)) {
                rights.push(right.get_ref().clone());
            }
        }
        ok.then_some(rights)
    }

    fn results(&mut self, list: &[S<RawParam>], flag_names: &TypeNames<'_>) -> Option<Vec<Param>> {
        if list.len() > 1 {
            self.d.error(
                span_of(&list[1]),
                format!(
                    "at most one result fits the value register; this entry declares {}",
                    list.len()
                ),
            );
            return None;
        }
        self.params(list, flag_names, "result", &[], &RESULT_CAP_RULE)
    }

    /// Validates an entry's `errors` list: every name a defined error, no duplicates, and
    /// none of the capability lookup errors a `cap`-typed argument already implies.
    fn entry_errors(
        &mut self,
        list: &Option<S<Vec<S<String>>>>,
        errors: &[ErrorCode],
        args: &[S<RawParam>],
    ) -> Option<Vec<String>> {
        let Some(list) = list else {
            return Some(Vec::new());
        };
        // The dispatcher's lookup of a `cap` argument implies `InvalidCapability`; one that
        // names an object type (not "any") implies `WrongObjectType` too.
        let cap_argument = |implied: &str| {
            args.iter().find_map(|p| {
                let p = p.get_ref();
                let typed = p.object.as_ref().is_none_or(|o| o.get_ref() != ANY_OBJECT);
                match (&p.name, &p.ty) {
                    (Some(name), Some(ty))
                        if ty.get_ref() == "cap" && (implied == CAP_LOOKUP_ERRORS[0] || typed) =>
                    {
                        Some(name.get_ref().clone())
                    }
                    _ => None,
                }
            })
        };
        let mut ok = true;
        let mut seen = Seen::new("error in `errors`");
        let mut out = Vec::new();
        for name in list.get_ref() {
            let text = name.get_ref();
            if !errors.iter().any(|e| &e.name == text) {
                self.d.error(
                    span_of(name),
                    format!("`errors` names unknown error `{text}`"),
                );
                ok = false;
                continue;
            }
            if CAP_LOOKUP_ERRORS.contains(&text.as_str())
                && let Some(argument) = cap_argument(text)
            {
                self.d.error(
                    span_of(name),
                    format!(
                        "`{text}` is implied by the capability argument `{argument}`; remove it from `errors`"
                    ),
                );
                ok = false;
                continue;
            }
            if seen.insert(self.d, text.clone(), span_of(name)) {
                out.push(text.clone());
            } else {
                ok = false;
            }
        }
        ok.then_some(out)
    }

    #[allow(clippy::too_many_arguments)]
    fn syscalls(
        &mut self,
        raw: &RawSchema,
        retired: &[(Range<usize>, Retired)],
        errors: &[ErrorCode],
        flag_names: &TypeNames<'_>,
        arches: &[Arch],
        register_count: usize,
        caps: &CapRule<'_>,
    ) -> Vec<Syscall> {
        let mut out = Vec::new();
        let mut names = Seen::new("syscall name");
        let mut numbers = Numbers::new(RetiredKind::Syscall, retired, "syscall number");
        let mut invoke: Option<Range<usize>> = None;
        for entry in &raw.syscall {
            let at = span_of(entry);
            let s = entry.get_ref();
            let name = self.name(&s.name, Case::Snake, "syscall", at.clone());
            let doc = self.doc(&s.doc, "syscall", at.clone());
            let number =
                self.unique_number(&s.number, "number", "syscall", at.clone(), &mut numbers);
            let kind = match &s.kind {
                None => Some(SyscallKind::Plain),
                Some(k) if k.get_ref() == "plain" => Some(SyscallKind::Plain),
                Some(k) if k.get_ref() == "invoke" => {
                    if let Some(first) = &invoke {
                        self.d.error_with_related(
                            span_of(k),
                            "only one syscall can be `kind = \"invoke\"`",
                            first.clone(),
                            "the invoke syscall",
                        );
                        None
                    } else {
                        invoke = Some(span_of(k));
                        Some(SyscallKind::Invoke)
                    }
                }
                Some(k) if k.get_ref() == "ipc" => {
                    let send = s.send.as_ref().is_some_and(|v| *v.get_ref());
                    let receive = s.receive.as_ref().is_some_and(|v| *v.get_ref());
                    if send || receive {
                        Some(SyscallKind::Ipc(IpcFlow { send, receive }))
                    } else {
                        self.d.error(
                            span_of(k),
                            "an ipc syscall must send, receive or both: set `send = true`, `receive = true` or both",
                        );
                        None
                    }
                }
                Some(k) => {
                    self.d.error(
                        span_of(k),
                        format!(
                            "unknown syscall kind `{}`; expected `plain`, `invoke` or `ipc`",
                            k.get_ref()
                        ),
                    );
                    None
                }
            };
            let written_ipc = s.kind.as_ref().is_some_and(|k| k.get_ref() == "ipc");
            if !written_ipc {
                for (key, value) in [("send", &s.send), ("receive", &s.receive)] {
                    if let Some(value) = value {
                        self.d.error(
                            span_of(value),
                            format!("`{key}` applies only to `kind = \"ipc\"` syscalls"),
                        );
                    }
                }
            }
            let invoke_caps = CapRule::Refused(
                "the invoke syscall's capability is checked against each invocation's object type and `rights`; declare no `object` or `rights` here",
            );
            // A second invoke syscall (refused above) is still read as one.
            let written_invoke = s.kind.as_ref().is_some_and(|k| k.get_ref() == "invoke");
            let arg_caps = if written_invoke {
                &invoke_caps
            } else if kind.is_none() {
                &CapRule::Undecided
            } else {
                caps
            };
            let mut reserved = RESERVED_ARGUMENT_NAMES.to_vec();
            if written_ipc {
                reserved.push(IPC_MESSAGE_PARAM);
            }
            let args = self.params(&s.args, flag_names, "argument", &reserved, arg_caps);
            if written_ipc {
                if let Some(extra) = s.args.get(1) {
                    self.d.error(
                        span_of(extra),
                        format!(
                            "an ipc syscall takes at most one argument (the capability, in the `ipc.capability` register), not {}",
                            s.args.len()
                        ),
                    );
                }
                if let Some(ty) = s.args.first().and_then(|a| a.get_ref().ty.as_ref())
                    && ty.get_ref() != "cap"
                {
                    self.d.error(
                        span_of(ty),
                        format!(
                            "an ipc syscall's argument must be a `cap` (in the `ipc.capability` register), not `{}`",
                            ty.get_ref()
                        ),
                    );
                }
                if let Some(result) = s.results.first() {
                    self.d.error(
                        span_of(result),
                        "an ipc syscall returns the received message; declare no `results`",
                    );
                }
            } else if s.args.len() > register_count {
                let arch = arches
                    .first()
                    .map_or("the architecture", |a| a.name.as_str());
                self.d.error(
                    span_of(&s.args[register_count]),
                    format!(
                        "syscall has {} arguments but {arch} has only {register_count} argument registers",
                        s.args.len()
                    ),
                );
            }
            let results = self.results(&s.results, flag_names);
            if kind == Some(SyscallKind::Invoke) {
                let shape_ok = matches!(
                    args.as_deref(),
                    Some([cap, label]) if cap.ty == Type::Cap && label.ty == Type::Int(IntType::U64)
                );
                if !shape_ok {
                    self.d.error(at.clone(), "the invoke syscall must take exactly two arguments: a `cap` and a `u64` label");
                }
                if !s.results.is_empty() {
                    self.d.error(
                        span_of(&s.results[0]),
                        "the invoke syscall's results are each invocation's own; declare them on the invocations",
                    );
                }
                if let Some(list) = &s.errors {
                    self.d.error(
                        span_of(list),
                        "the invoke syscall's errors are each invocation's own; declare them on the invocations",
                    );
                }
            }
            let entry_errors = self.entry_errors(&s.errors, errors, &s.args);
            let (
                Some(name),
                Some(number),
                Some(kind),
                Some(args),
                Some(results),
                Some(entry_errors),
            ) = (name, number, kind, args, results, entry_errors)
            else {
                continue;
            };
            if written_ipc && (s.args.len() > 1 || !s.results.is_empty()) {
                continue;
            }
            if !written_ipc && s.args.len() > register_count {
                continue;
            }
            names.insert(self.d, name.get_ref().clone(), span_of(&name));
            out.push(Syscall {
                name: name.into_inner(),
                number,
                kind,
                args,
                results,
                errors: entry_errors,
                doc,
            });
        }
        if invoke.is_none() && !raw.invocation.is_empty() {
            self.d.error(
                span_of(&raw.invocation[0]),
                "invocations need a syscall with `kind = \"invoke\"`, and there is none",
            );
        }
        out
    }

    fn objects(
        &mut self,
        raw: &RawSchema,
        retired: &[(Range<usize>, Retired)],
        type_names: &mut Seen<String>,
    ) -> Vec<Object> {
        let mut out: Vec<(Range<usize>, Object)> = Vec::new();
        let mut ids = Numbers::new(RetiredKind::Object, retired, "object id");
        for entry in &raw.object {
            let at = span_of(entry);
            let o = entry.get_ref();
            let name = self.name(&o.name, Case::Camel, "object", at.clone());
            if let Some(name) = &name {
                let snake = names::snake_case(name.get_ref());
                if let Err(reason) = names::check_identifier(&snake, Case::Snake)
                    && names::check_identifier(name.get_ref(), Case::Camel).is_ok()
                {
                    self.d.error(
                        span_of(name),
                        format!(
                            "object name `{}` becomes `{snake}` in generated code: {reason}",
                            name.get_ref()
                        ),
                    );
                }
            }
            let doc = self.doc(&o.doc, "object", at.clone());
            let id = self.unique_number(&o.id, "id", "object", at.clone(), &mut ids);
            let block = self
                .required(&o.labels, "labels", "object", at.clone())
                .and_then(|b| self.label_block(b));
            let (Some(name), Some(id), Some((label_base, label_size, block_span))) =
                (name, id, block)
            else {
                continue;
            };
            if let Some((other_span, other)) = out.iter().find(|(_, other)| {
                label_base <= other.label_last() && other.label_base < label_base + label_size
            }) {
                self.d.error_with_related(
                    block_span.clone(),
                    format!(
                        "label block {}..={} of {} overlaps the block {}..={} of {}",
                        hex(label_base),
                        hex(label_base + label_size - 1),
                        name.get_ref(),
                        hex(other.label_base),
                        hex(other.label_last()),
                        other.name
                    ),
                    other_span.clone(),
                    "the other block",
                );
            }
            self.type_name(&name, type_names);
            out.push((
                block_span,
                Object {
                    name: name.into_inner(),
                    id,
                    label_base,
                    label_size,
                    doc,
                },
            ));
        }
        out.into_iter().map(|(_, o)| o).collect()
    }

    #[allow(clippy::too_many_arguments)]
    fn invocations(
        &mut self,
        raw: &RawSchema,
        retired: &[(Range<usize>, Retired)],
        errors: &[ErrorCode],
        objects: &[Object],
        flag_names: &TypeNames<'_>,
        rights_set: Option<&FlagSet>,
        caps: &CapRule<'_>,
        register_count: usize,
        invoke_args: usize,
        invoke_name: Option<&str>,
    ) -> Vec<Invocation> {
        let mut out = Vec::new();
        let mut labels = Seen::new("invocation label");
        let mut names = Seen::new("invocation");
        let payload = register_count.saturating_sub(invoke_args);
        for entry in &raw.invocation {
            let at = span_of(entry);
            let i = entry.get_ref();
            let object = self
                .required(&i.object, "object", "invocation", at.clone())
                .and_then(|o| {
                    let found = objects.iter().find(|x| &x.name == o.get_ref());
                    // An object whose own entry has errors (reported there) is not unknown.
                    if found.is_none() && !declared(raw, o.get_ref()) {
                        self.d.error(
                            span_of(o),
                            format!("invocation of unknown object `{}`", o.get_ref()),
                        );
                    }
                    found
                });
            let name = self.name(&i.name, Case::Snake, "invocation", at.clone());
            let doc = self.doc(&i.doc, "invocation", at.clone());
            let label = self
                .required(&i.label, "label", "invocation", at.clone())
                .and_then(|l| {
                    let label = self.number(l, "label", u64::MAX)?;
                    self.retired_use(retired, RetiredKind::Label, label, span_of(l), &hex(label));
                    if let Some(object) = object
                        && !(object.label_base..=object.label_last()).contains(&label)
                    {
                        self.d.error(
                            span_of(l),
                            format!(
                                "label {} lies outside the block of {} ({}..={})",
                                hex(label),
                                object.name,
                                hex(object.label_base),
                                hex(object.label_last())
                            ),
                        );
                        return None;
                    }
                    labels.insert(self.d, hex(label), span_of(l));
                    Some(label)
                });
            let rights = match &i.rights {
                None => {
                    self.d.error(
                        at.clone(),
                        "invocation has no `rights` list (write `rights = []` if it needs none)",
                    );
                    None
                }
                Some(list) => self.rights_list(list, rights_set),
            };
            let mut reserved: Vec<&str> = RESERVED_ARGUMENT_NAMES.to_vec();
            if let Some(name) = invoke_name {
                reserved.push(name);
            }
            let object_snake = object.map(Object::snake_name);
            if let Some(snake) = &object_snake {
                reserved.push(snake);
            }
            let args = self.params(&i.args, flag_names, "argument", &reserved, caps);
            if i.args.len() > payload {
                self.d.error(
                    span_of(&i.args[payload]),
                    format!(
                        "invocation has {} arguments but only {payload} argument registers remain after the invoke syscall's {invoke_args}",
                        i.args.len()
                    ),
                );
            }
            let results = self.results(&i.results, flag_names);
            let entry_errors = self.entry_errors(&i.errors, errors, &i.args);
            let (
                Some(object),
                Some(name),
                Some(label),
                Some(rights),
                Some(args),
                Some(results),
                Some(entry_errors),
            ) = (object, name, label, rights, args, results, entry_errors)
            else {
                continue;
            };
            if i.args.len() > payload {
                continue;
            }
            names.insert(
                self.d,
                format!("{}.{}", object.name, name.get_ref()),
                span_of(&name),
            );
            out.push(Invocation {
                object: object.name.clone(),
                name: name.into_inner(),
                label,
                rights,
                args,
                results,
                errors: entry_errors,
                doc,
            });
        }
        out
    }

    /// Checks that the schema defines `WrongObjectType` when a capability argument names
    /// an object type: the generated dispatcher returns it for a capability of another type.
    fn wrong_object_type_defined(&mut self, raw: &RawSchema, errors: &[ErrorCode]) {
        let wrong = CAP_LOOKUP_ERRORS[1];
        if errors.iter().any(|e| e.name == wrong) {
            return;
        }
        let args = raw
            .syscall
            .iter()
            .filter(|s| {
                s.get_ref()
                    .kind
                    .as_ref()
                    .is_none_or(|k| k.get_ref() != "invoke")
            })
            .flat_map(|s| &s.get_ref().args)
            .chain(raw.invocation.iter().flat_map(|i| &i.get_ref().args));
        for arg in args {
            let arg = arg.get_ref();
            if let (Some(ty), Some(object)) = (&arg.ty, &arg.object)
                && ty.get_ref() == "cap"
                && object.get_ref() != ANY_OBJECT
            {
                self.d.error(
                    span_of(object),
                    format!(
                        "a capability argument that must name a `{}` needs the error `{wrong}`, which the schema does not define",
                        object.get_ref()
                    ),
                );
            }
        }
    }

    /// Checks that the function names derived for the kernel trait and the trona substrate do not collide.
    fn generated_names(
        &mut self,
        raw: &RawSchema,
        syscalls: &[Syscall],
        invocations: &[Invocation],
    ) {
        let span_of_syscall = |name: &str| {
            raw.syscall
                .iter()
                .find_map(|s| {
                    s.get_ref()
                        .name
                        .as_ref()
                        .filter(|n| n.get_ref() == name)
                        .map(span_of)
                })
                .unwrap_or(0..0)
        };
        let span_of_invocation = |inv: &Invocation| {
            raw.invocation
                .iter()
                .find_map(|i| {
                    let r = i.get_ref();
                    let same_object = r
                        .object
                        .as_ref()
                        .is_some_and(|o| o.get_ref() == &inv.object);
                    r.name
                        .as_ref()
                        .filter(|n| same_object && n.get_ref() == &inv.name)
                        .map(span_of)
                })
                .unwrap_or(0..0)
        };
        let mut kernel = Seen::new("kernel trait method");
        let mut substrate = Seen::new("trona function");
        // Entries whose own names are duplicates were reported already; skip their repeats.
        let mut seen_syscalls = std::collections::HashSet::new();
        let mut seen_invocations = std::collections::HashSet::new();
        for s in syscalls {
            if !seen_syscalls.insert(s.name.as_str()) {
                continue;
            }
            let span = span_of_syscall(&s.name);
            if s.kind != SyscallKind::Invoke {
                let method = format!("sys_{}", s.name);
                kernel.insert(self.d, method, span.clone());
            }
            if RESERVED_SUBSTRATE_FUNCTIONS.contains(&s.name.as_str()) {
                self.d.error(
                    span.clone(),
                    format!(
                        "syscall name `{}` is reserved in the trona substrate",
                        s.name
                    ),
                );
            }
            substrate.insert(self.d, s.name.clone(), span);
        }
        for inv in invocations {
            if !seen_invocations.insert((inv.object.as_str(), inv.name.as_str())) {
                continue;
            }
            let span = span_of_invocation(inv);
            let name = inv.fn_name();
            if RESERVED_KERNEL_METHODS.contains(&name.as_str())
                || RESERVED_SUBSTRATE_FUNCTIONS.contains(&name.as_str())
            {
                self.d.error(
                    span.clone(),
                    format!("generated function name `{name}` is reserved"),
                );
                continue;
            }
            kernel.insert(self.d, name.clone(), span.clone());
            substrate.insert(self.d, name, span);
        }
    }

    fn percpu(&mut self, raw: &RawSchema, arches: &[Arch]) -> Vec<PerCpu> {
        let mut out = Vec::new();
        let empty = Vec::new();
        let entries = raw.percpu.as_ref().map_or(&empty, |t| &t.0);
        for (key, block) in entries {
            let arch = key.get_ref();
            let at = span_of(key);
            if !arches.iter().any(|a| &a.name == arch) {
                self.d.error(
                    at.clone(),
                    format!("`[percpu.{arch}]` names an architecture that has no `[arch.{arch}]`"),
                );
                continue;
            }
            let mut field_list: &[S<RawPerCpuField>] = &[];
            for (table_key, list) in &block.0 {
                if table_key.get_ref() == "field" {
                    field_list = list;
                } else {
                    self.d.error(
                        span_of(table_key),
                        format!(
                            "unknown key `{}` in `[percpu.{arch}]`; expected `field`",
                            table_key.get_ref()
                        ),
                    );
                }
            }
            if field_list.is_empty() {
                self.d
                    .error(at.clone(), format!("`[percpu.{arch}]` has no fields"));
                continue;
            }
            let mut names = Seen::new("per-CPU field");
            let mut fields = Vec::new();
            let mut pins = Vec::new();
            for f in field_list {
                let fat = span_of(f);
                let r = f.get_ref();
                let name = self.name(&r.name, Case::Snake, "per-CPU field", fat.clone());
                let doc = self.doc(&r.doc, "per-CPU field", fat.clone());
                let ty = self.int_type(&r.ty, "per-CPU field", fat.clone());
                let count = match &r.count {
                    None => Some(None),
                    Some(c) => match self.number(c, "array length", 1 << 20) {
                        Some(0) => {
                            self.d.error(span_of(c), "array length must be at least 1");
                            None
                        }
                        Some(n) => Some(Some(n)),
                        None => None,
                    },
                };
                let (Some(name), Some(ty), Some(count)) = (name, ty, count) else {
                    continue;
                };
                if name.get_ref() == "size" {
                    // The equates name every asm field PERCPU_<FIELD> and the block's size PERCPU_SIZE.
                    self.d.error(
                        span_of(&name),
                        "a per-CPU field may not be named `size`: its equate would collide with `PERCPU_SIZE`",
                    );
                }
                names.insert(self.d, name.get_ref().clone(), span_of(&name));
                pins.push(r.offset.as_ref());
                let asm = r.asm.as_ref().is_some_and(|a| *a.get_ref());
                fields.push((name.into_inner(), ty, (count, None), asm, doc));
            }
            let (fields, size, _) = Self::layout(fields);
            for (field, pin) in fields.iter().zip(pins) {
                let Some(pin) = pin else { continue };
                match u64::try_from(*pin.get_ref()) {
                    Ok(pinned) if pinned == field.offset => {}
                    _ => self.d.error(
                        span_of(pin),
                        format!(
                            "`{}` is pinned at offset {} but the repr(C) layout puts it at {}",
                            field.name,
                            pin.get_ref(),
                            field.offset
                        ),
                    ),
                }
            }
            out.push(PerCpu {
                arch: arch.clone(),
                fields,
                size,
            });
        }
        for arch in arches {
            if !entries.iter().any(|(name, _)| name.get_ref() == &arch.name) {
                let at = raw
                    .arch
                    .as_ref()
                    .and_then(|t| t.0.iter().find(|(k, _)| k.get_ref() == &arch.name))
                    .map_or(0..0, |(k, _)| span_of(k));
                self.d.error(
                    at,
                    format!(
                        "architecture `{}` has no `[percpu.{}]` fields",
                        arch.name, arch.name
                    ),
                );
            }
        }
        out
    }
}
