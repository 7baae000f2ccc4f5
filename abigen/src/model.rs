//! The validated ABI model: what schema.toml means, with every name resolved and every layout computed.
//!
//! Renderers and `abi-diff` read only this model. It is `Serialize` so that tools can
//! dump or compare it; entries keep the order of the schema file.

use serde::Serialize;

use crate::names;

/// The validated ABI.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Model {
    /// `[abi]`: name and version.
    pub abi: AbiInfo,
    /// Trap conventions, one per architecture, in schema order.
    pub arches: Vec<Arch>,
    /// Which errors the generated dispatcher returns for malformed traps.
    pub dispatch: DispatchErrors,
    /// Error codes (0 is success and not listed).
    pub errors: Vec<ErrorCode>,
    /// Shared constants.
    pub constants: Vec<Constant>,
    /// Flag sets passed in argument registers.
    pub flags: Vec<FlagSet>,
    /// Bitfield types: words split into named fields.
    pub bitfields: Vec<Bitfield>,
    /// `[ipc]`: the IPC convention shared by every architecture (each [`Arch`] then has its
    /// registers); `None` when the schema has no IPC.
    pub ipc: Option<Ipc>,
    /// `repr(C)` structures passed through user memory.
    pub structs: Vec<Struct>,
    /// Syscalls, including the one with `kind = "invoke"`.
    pub syscalls: Vec<Syscall>,
    /// Kernel object types and their label blocks.
    pub objects: Vec<Object>,
    /// Invocations of object types.
    pub invocations: Vec<Invocation>,
    /// Numbers that must never be used again.
    pub retired: Vec<Retired>,
    /// The per-CPU data block of each architecture.
    pub percpu: Vec<PerCpu>,
    /// The messages the kernel sends through IPC (faults, notifications), if any.
    pub kernel_messages: Option<KernelMessages>,
    /// The words a fault handler's reply may carry, if the schema declares them.
    pub fault_reply: Option<FaultReply>,
    /// `[protocols]`: the errors every protocol message implies; `None` without protocols.
    pub protocol_rules: Option<ProtocolRules>,
    /// Server protocols, in schema order (versioned apart from the kernel ABI).
    pub protocols: Vec<Protocol>,
    /// Retired protocols: their names and label blocks are never reused.
    pub retired_protocols: Vec<RetiredProtocol>,
}

/// `[kernel_messages]` and its `[[kernel_message]]` entries.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct KernelMessages {
    /// First label of the block.
    pub label_base: u64,
    /// Number of labels in the block.
    pub label_size: u64,
    /// What the kernel messages are.
    pub doc: String,
    /// The messages, in schema order.
    pub messages: Vec<KernelMessage>,
}

impl KernelMessages {
    /// The last label of the block.
    pub fn label_last(&self) -> u64 {
        self.label_base + self.label_size - 1
    }
}

/// `[[kernel_message]]`: a message the kernel sends, in registers only.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct KernelMessage {
    /// UpperCamelCase name.
    pub name: String,
    /// Its label, inside the block.
    pub label: u64,
    /// Whether it reports a thread's fault (to the thread's fault handler).
    pub fault: bool,
    /// What it reports.
    pub doc: String,
    /// Its words, in message order (each a `u64`).
    pub fields: Vec<MessageField>,
}

impl KernelMessage {
    /// `VM_FAULT` for `VmFault`: its label constant.
    pub fn const_name(&self) -> String {
        names::screaming_case(&self.name)
    }
}

/// `[fault_reply]`: the words of a fault handler's reply.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FaultReply {
    /// What the reply does.
    pub doc: String,
    /// Its words, in message order.
    pub fields: Vec<MessageField>,
}

/// One word of a kernel message or of the fault reply.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct MessageField {
    /// snake_case name.
    pub name: String,
    /// What the word holds.
    pub doc: String,
}

/// `[abi]`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AbiInfo {
    /// The ABI's name, e.g. `kernite`.
    pub name: String,
    /// Major version: bumped by every breaking change.
    pub version_major: u16,
    /// Minor version: bumped by compatible additions.
    pub version_minor: u16,
}

/// The trap convention of one architecture.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Arch {
    /// The Rust `target_arch` name, e.g. `x86_64`.
    pub name: String,
    /// The trap instruction, e.g. `syscall` or `svc #0`.
    pub trap: String,
    /// The register that holds the syscall number.
    pub number_register: String,
    /// The argument registers, in order.
    pub arg_registers: Vec<String>,
    /// The result registers: status first, then value.
    pub result_registers: Vec<String>,
    /// Registers the trap destroys besides the results.
    pub clobbered_registers: Vec<String>,
    /// The registers of the IPC syscalls (`[arch.<name>.ipc]`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ipc: Option<ArchIpc>,
}

/// `[arch.<name>.ipc]`: which registers carry an IPC message. The status still comes back
/// in the first result register.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ArchIpc {
    /// In: the endpoint capability; out: the badge of the received message.
    pub capability: String,
    /// The info word (the `[ipc] info` bitfield), both ways.
    pub info: String,
    /// The message registers, in message-word order.
    pub message_registers: Vec<String>,
}

/// `[ipc]`: the architecture-independent part of the IPC convention.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Ipc {
    /// The bitfield that is the info register's type (`MessageInfo`).
    pub info: String,
    /// The structure that is a thread's IPC buffer, if the schema names one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub buffer: Option<String>,
}

/// `[[bitfield]]`: a word of named bit ranges.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Bitfield {
    /// UpperCamelCase name.
    pub name: String,
    /// What the word holds.
    pub doc: String,
    /// The word's type.
    #[serde(rename = "type")]
    pub word: IntType,
    /// The fields, in schema order; they do not overlap and fit the word.
    pub fields: Vec<BitfieldField>,
}

impl Bitfield {
    /// The bits no field covers.
    pub fn reserved(&self) -> u64 {
        self.fields
            .iter()
            .fold(self.word.max(), |mask, field| mask & !field.mask())
    }
}

/// One field of a bitfield.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct BitfieldField {
    /// snake_case name.
    pub name: String,
    /// What the field holds.
    pub doc: String,
    /// The lowest bit.
    pub lsb: u32,
    /// The number of bits, at least 1.
    pub width: u32,
    /// The type its getter returns and its setter takes; at least `width` bits wide.
    #[serde(rename = "type")]
    pub ty: IntType,
}

impl BitfieldField {
    /// The largest value the field holds.
    pub fn max(&self) -> u64 {
        if self.width >= 64 {
            u64::MAX
        } else {
            (1 << self.width) - 1
        }
    }

    /// The field's bits in place in the word.
    pub fn mask(&self) -> u64 {
        self.max() << self.lsb
    }
}

/// `[dispatch]`: error names for the dispatcher's own failures.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DispatchErrors {
    /// Returned for a syscall number that is not in the ABI.
    pub unknown_syscall: String,
    /// Returned for a label that is not an invocation of the capability's object type.
    pub unknown_label: String,
    /// Returned for an argument register that does not decode to its type.
    pub invalid_argument: String,
    /// Returned when the capability lacks a right the invocation needs.
    pub insufficient_rights: String,
    /// What userland maps an unknown error code to.
    pub unknown_error: String,
}

/// `[[error]]`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ErrorCode {
    /// UpperCamelCase name.
    pub name: String,
    /// The non-zero status value.
    pub code: u64,
    /// What the error means.
    pub doc: String,
}

/// An integer type of constants, struct fields and per-CPU fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum IntType {
    /// `u8`.
    U8,
    /// `u16`.
    U16,
    /// `u32`.
    U32,
    /// `u64`.
    U64,
}

impl IntType {
    /// Parses a schema type name.
    pub fn parse(name: &str) -> Option<IntType> {
        match name {
            "u8" => Some(IntType::U8),
            "u16" => Some(IntType::U16),
            "u32" => Some(IntType::U32),
            "u64" => Some(IntType::U64),
            _ => None,
        }
    }

    /// The Rust (and schema) spelling.
    pub fn name(self) -> &'static str {
        match self {
            IntType::U8 => "u8",
            IntType::U16 => "u16",
            IntType::U32 => "u32",
            IntType::U64 => "u64",
        }
    }

    /// The C spelling.
    pub fn c_name(self) -> &'static str {
        match self {
            IntType::U8 => "uint8_t",
            IntType::U16 => "uint16_t",
            IntType::U32 => "uint32_t",
            IntType::U64 => "uint64_t",
        }
    }

    /// Width in bits.
    pub fn bits(self) -> u32 {
        match self {
            IntType::U8 => 8,
            IntType::U16 => 16,
            IntType::U32 => 32,
            IntType::U64 => 64,
        }
    }

    /// Size in bytes, which is also the alignment.
    pub fn size(self) -> u64 {
        match self {
            IntType::U8 => 1,
            IntType::U16 => 2,
            IntType::U32 => 4,
            IntType::U64 => 8,
        }
    }

    /// The largest value of the type.
    pub fn max(self) -> u64 {
        match self {
            IntType::U8 => u64::from(u8::MAX),
            IntType::U16 => u64::from(u16::MAX),
            IntType::U32 => u64::from(u32::MAX),
            IntType::U64 => u64::MAX,
        }
    }
}

/// The type of a syscall or invocation argument or result.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Type {
    /// An unsigned integer; narrower than 64 bits is range-checked.
    Int(IntType),
    /// 0 or 1.
    Bool,
    /// A capability address (`CPtr`).
    Cap,
    /// An unvalidated user virtual address (`UserAddr`).
    Uaddr,
    /// An object type id (`ObjectType`).
    ObjectType,
    /// A value of the named `[[flags]]` set; unknown bits are rejected.
    Flags(String),
    /// A value of the named `[[bitfield]]`; reserved bits are rejected.
    Bitfield(String),
}

impl Type {
    /// Parses a schema type name, given the names of the flag sets and of the bitfields.
    pub fn parse(name: &str, flag_sets: &[&str], bitfields: &[&str]) -> Option<Type> {
        if let Some(int) = IntType::parse(name) {
            return Some(Type::Int(int));
        }
        match name {
            "bool" => Some(Type::Bool),
            "cap" => Some(Type::Cap),
            "uaddr" => Some(Type::Uaddr),
            "ObjectType" => Some(Type::ObjectType),
            _ if flag_sets.contains(&name) => Some(Type::Flags(name.to_owned())),
            _ if bitfields.contains(&name) => Some(Type::Bitfield(name.to_owned())),
            _ => None,
        }
    }

    /// Whether decoding a register into this type can fail (the dispatcher then returns
    /// its `invalid_argument` error): narrow integers, `bool`, object types, flag sets and
    /// bitfields.
    pub fn decode_can_fail(&self) -> bool {
        !matches!(self, Type::Int(IntType::U64) | Type::Cap | Type::Uaddr)
    }

    /// The schema spelling.
    pub fn schema_name(&self) -> &str {
        match self {
            Type::Int(int) => int.name(),
            Type::Bool => "bool",
            Type::Cap => "cap",
            Type::Uaddr => "uaddr",
            Type::ObjectType => "ObjectType",
            Type::Flags(name) | Type::Bitfield(name) => name,
        }
    }

    /// The Rust type in generated code.
    pub fn rust_name(&self) -> &str {
        match self {
            Type::Int(int) => int.name(),
            Type::Bool => "bool",
            Type::Cap => "CPtr",
            Type::Uaddr => "UserAddr",
            Type::ObjectType => "ObjectType",
            Type::Flags(name) | Type::Bitfield(name) => name,
        }
    }
}

/// `[[constant]]`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Constant {
    /// SCREAMING_SNAKE_CASE name.
    pub name: String,
    /// Declared type.
    #[serde(rename = "type")]
    pub ty: IntType,
    /// The value, which fits `ty`.
    pub value: u64,
    /// What the constant means.
    pub doc: String,
}

/// `[[flags]]`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FlagSet {
    /// UpperCamelCase name.
    pub name: String,
    /// What the set describes.
    pub doc: String,
    /// The bits, in schema order.
    pub bits: Vec<FlagBit>,
}

impl FlagSet {
    /// The mask of all defined bits.
    pub fn all_bits(&self) -> u64 {
        self.bits.iter().fold(0, |mask, bit| mask | (1 << bit.bit))
    }
}

/// One bit of a flag set.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FlagBit {
    /// snake_case name.
    pub name: String,
    /// Bit index, below 64.
    pub bit: u8,
    /// What the bit grants or means.
    pub doc: String,
}

/// `[[struct]]`, with its computed `repr(C)` layout.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Struct {
    /// UpperCamelCase name.
    pub name: String,
    /// What the structure holds.
    pub doc: String,
    /// Fields in declaration order.
    pub fields: Vec<Field>,
    /// `size_of` in bytes.
    pub size: u64,
    /// `align_of` in bytes.
    pub align: u64,
}

/// A field of a structure or of the per-CPU block.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Field {
    /// snake_case name.
    pub name: String,
    /// Element type.
    #[serde(rename = "type")]
    pub ty: IntType,
    /// Array length, or `None` for a scalar.
    pub count: Option<u64>,
    /// The constant that names the array length, when the schema wrote one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub count_constant: Option<String>,
    /// Byte offset in the `repr(C)` layout.
    pub offset: u64,
    /// Whether assembly gets an equate for the offset (per-CPU fields only).
    pub asm: bool,
    /// What the field holds.
    pub doc: String,
}

impl Field {
    /// Size in bytes of the whole field.
    pub fn size(&self) -> u64 {
        self.ty.size() * self.count.unwrap_or(1)
    }
}

/// Whether a syscall is a plain call, the capability invocation path or an IPC.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SyscallKind {
    /// Arguments and results are the syscall's own.
    Plain,
    /// The capability invocation: `(cap, label)` then the invocation's payload.
    Invoke,
    /// An IPC: at most one capability (in the architecture's `ipc.capability` register),
    /// a message in, a message out, or both, in the `[arch.<name>.ipc]` registers.
    Ipc(IpcFlow),
}

impl SyscallKind {
    /// The IPC directions, for `kind = "ipc"`.
    pub fn ipc(self) -> Option<IpcFlow> {
        match self {
            SyscallKind::Ipc(flow) => Some(flow),
            _ => None,
        }
    }

    /// The schema spelling of the kind.
    pub fn name(self) -> &'static str {
        match self {
            SyscallKind::Plain => "plain",
            SyscallKind::Invoke => "invoke",
            SyscallKind::Ipc(_) => "ipc",
        }
    }
}

/// Which way an IPC syscall carries messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct IpcFlow {
    /// The info and message registers carry a message in.
    pub send: bool,
    /// Badge, info and message registers carry a message out.
    pub receive: bool,
}

impl IpcFlow {
    /// `send`, `receive` or `send+receive`.
    pub fn describe(self) -> &'static str {
        match (self.send, self.receive) {
            (true, true) => "send+receive",
            (true, false) => "send",
            (false, true) => "receive",
            (false, false) => "none",
        }
    }
}

/// The name of the message parameter of an IPC syscall's kernel method and trona function.
pub const IPC_MESSAGE_PARAM: &str = "message";

/// A named, typed, documented argument or result.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Param {
    /// snake_case name.
    pub name: String,
    /// Its type.
    #[serde(rename = "type")]
    pub ty: Type,
    /// For a `cap`-typed argument that the dispatcher resolves: what the capability must be.
    /// `None` for every other parameter (results, and the invoke syscall's own capability,
    /// which each invocation's object type and rights constrain).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cap: Option<CapArg>,
    /// What it means.
    pub doc: String,
}

/// What a `cap`-typed argument must name, checked by the generated dispatcher before the handler runs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CapArg {
    /// The object type the capability must refer to; `None` (`object = "any"`) accepts every type.
    pub object: Option<String>,
    /// Bits of the `Rights` flag set the capability must carry (empty: none needed).
    pub rights: Vec<String>,
}

impl CapArg {
    /// The schema spelling of the object constraint: the type's name or `any`.
    pub fn object_name(&self) -> &str {
        self.object.as_deref().unwrap_or(ANY_OBJECT)
    }
}

/// The `object` value of a `cap` argument that accepts a capability of every object type.
pub const ANY_OBJECT: &str = "any";

/// `[[syscall]]`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Syscall {
    /// snake_case name.
    pub name: String,
    /// The value of the number register.
    pub number: u64,
    /// Plain call or the invoke path.
    pub kind: SyscallKind,
    /// Arguments, in argument-register order.
    pub args: Vec<Param>,
    /// At most one result, returned in the value register.
    pub results: Vec<Param>,
    /// Errors the handler may return besides the implied ones (see [`Model::syscall_errors`]).
    pub errors: Vec<String>,
    /// What the syscall does.
    pub doc: String,
}

impl Syscall {
    /// `SchedYield` for `sched_yield`.
    pub fn variant_name(&self) -> String {
        names::camel_case(&self.name)
    }

    /// `SCHED_YIELD` for `sched_yield`.
    pub fn const_name(&self) -> String {
        self.name.to_ascii_uppercase()
    }
}

/// `[[object]]`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Object {
    /// UpperCamelCase name.
    pub name: String,
    /// The `ObjectType` value.
    pub id: u64,
    /// First label of the object's block.
    pub label_base: u64,
    /// Number of labels in the block.
    pub label_size: u64,
    /// What the object is.
    pub doc: String,
}

impl Object {
    /// `page_table` for `PageTable`.
    pub fn snake_name(&self) -> String {
        names::snake_case(&self.name)
    }

    /// The last label of the block.
    pub fn label_last(&self) -> u64 {
        self.label_base + self.label_size - 1
    }
}

/// `[[invocation]]`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Invocation {
    /// Name of the invoked object type.
    pub object: String,
    /// snake_case name, unique within the object.
    pub name: String,
    /// The label, inside the object's block.
    pub label: u64,
    /// Bits of the `Rights` flag set the capability must carry.
    pub rights: Vec<String>,
    /// Payload arguments, after the invoke syscall's own arguments.
    pub args: Vec<Param>,
    /// At most one result, returned in the value register.
    pub results: Vec<Param>,
    /// Errors the handler may return besides the implied ones (see [`Model::invocation_errors`]).
    pub errors: Vec<String>,
    /// What the invocation does.
    pub doc: String,
}

impl Invocation {
    /// `tcb_set_priority`: the kernel trait method and the trona wrapper.
    pub fn fn_name(&self) -> String {
        format!("{}_{}", names::snake_case(&self.object), self.name)
    }

    /// `TcbSetPriority`: the `Invocation` enum variant.
    pub fn variant_name(&self) -> String {
        format!("{}{}", self.object, names::camel_case(&self.name))
    }

    /// `TCB_SET_PRIORITY`: the constant in `label::`.
    pub fn const_name(&self) -> String {
        self.fn_name().to_ascii_uppercase()
    }

    /// `Tcb.set_priority`: the human-readable name.
    pub fn display_name(&self) -> String {
        format!("{}.{}", self.object, self.name)
    }
}

/// What kind of number a `[[retired]]` entry retires.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RetiredKind {
    /// A syscall number.
    Syscall,
    /// An invocation label.
    Label,
    /// An object type id.
    Object,
    /// An error code.
    Error,
}

impl RetiredKind {
    /// The schema key.
    pub fn key(self) -> &'static str {
        match self {
            RetiredKind::Syscall => "syscall",
            RetiredKind::Label => "label",
            RetiredKind::Object => "object",
            RetiredKind::Error => "error",
        }
    }
}

/// `[[retired]]`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Retired {
    /// What the number was.
    pub kind: RetiredKind,
    /// The retired number.
    pub number: u64,
    /// Why it was retired.
    pub reason: String,
}

/// The per-CPU data block of one architecture, with its computed layout.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PerCpu {
    /// Architecture name, as in `[arch]`.
    pub arch: String,
    /// Fields in declaration order with their offsets.
    pub fields: Vec<Field>,
    /// `size_of::<PerCpuData>()`.
    pub size: u64,
}

/// Error names a capability lookup returns: the address names no capability, or a
/// capability of another object type than the operation needs.
///
/// The invoked capability can only fail the first way (its object type selects the
/// invocation, so a capability of another type fails with the unknown-label error); a
/// `cap`-typed argument, which the dispatcher resolves before the handler runs, fails the
/// first way whenever `Kernel::lookup` does (the kernel returns `InvalidCapability`; a
/// schema that does not define it implies none) and the second way when it names an object
/// type (validation demands that the schema defines `WrongObjectType` then).
pub const CAP_LOOKUP_ERRORS: [&str; 2] = ["InvalidCapability", "WrongObjectType"];

/// One error an entry can return, and where it comes from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct EntryError {
    /// The error's name.
    pub name: String,
    /// The generated dispatcher returns it before the handler runs.
    pub dispatch: bool,
    /// The dispatcher's resolution of a `cap`-typed argument returns it (implied; never declared).
    pub cap_argument: bool,
    /// The entry's `errors` list declares it: the handler itself returns it.
    pub handler: bool,
}

impl EntryError {
    /// Where the error comes from, as the reference documentation says it.
    pub fn source(&self) -> String {
        let mut parts = Vec::new();
        if self.dispatch {
            parts.push("dispatch");
        }
        if self.cap_argument {
            parts.push("capability argument");
        }
        if self.handler {
            parts.push("handler");
        }
        parts.join(", ")
    }
}

impl Model {
    /// Whether the schema defines an error called `name`.
    fn has_error(&self, name: &str) -> bool {
        self.errors.iter().any(|e| e.name == name)
    }

    /// The errors the dispatcher returns while it resolves the `cap`-typed arguments in
    /// `args`, after the invoked capability's checks and before the handler: the lookup
    /// error (when the schema defines it), `WrongObjectType` when an argument names an
    /// object type, and the insufficient-rights error when an argument needs rights.
    pub fn cap_argument_errors(&self, args: &[Param]) -> Vec<String> {
        let caps: Vec<&CapArg> = args.iter().filter_map(|p| p.cap.as_ref()).collect();
        let mut out = Vec::new();
        if caps.is_empty() {
            return out;
        }
        if self.has_error(CAP_LOOKUP_ERRORS[0]) {
            out.push(CAP_LOOKUP_ERRORS[0].to_owned());
        }
        if caps.iter().any(|c| c.object.is_some()) && self.has_error(CAP_LOOKUP_ERRORS[1]) {
            out.push(CAP_LOOKUP_ERRORS[1].to_owned());
        }
        if caps.iter().any(|c| !c.rights.is_empty()) {
            out.push(self.dispatch.insufficient_rights.clone());
        }
        out
    }

    /// The errors the generated dispatcher returns for a plain syscall before calling its
    /// handler: the invalid-argument error when an argument can fail to decode.
    pub fn syscall_dispatch_errors(&self, s: &Syscall) -> Vec<String> {
        let mut out = Vec::new();
        if s.kind == SyscallKind::Invoke {
            if self.has_error(CAP_LOOKUP_ERRORS[0]) {
                out.push(CAP_LOOKUP_ERRORS[0].to_owned());
            }
            out.push(self.dispatch.unknown_label.clone());
            if self.invocations.iter().any(|i| !i.rights.is_empty()) {
                out.push(self.dispatch.insufficient_rights.clone());
            }
            if self
                .invocations
                .iter()
                .any(|i| i.args.iter().any(|p| p.ty.decode_can_fail()))
            {
                out.push(self.dispatch.invalid_argument.clone());
            }
        } else if s.args.iter().any(|p| p.ty.decode_can_fail()) {
            out.push(self.dispatch.invalid_argument.clone());
        }
        out
    }

    /// The errors the generated dispatcher returns for an invocation before calling its
    /// handler: lookup of the invoked capability, the unknown-label error, the
    /// insufficient-rights error when the invocation needs rights, and the
    /// invalid-argument error when a payload argument can fail to decode.
    pub fn invocation_dispatch_errors(&self, i: &Invocation) -> Vec<String> {
        let mut out = Vec::new();
        if self.has_error(CAP_LOOKUP_ERRORS[0]) {
            out.push(CAP_LOOKUP_ERRORS[0].to_owned());
        }
        out.push(self.dispatch.unknown_label.clone());
        if !i.rights.is_empty() && self.flag_set(crate::validate::RIGHTS_FLAG_SET).is_some() {
            out.push(self.dispatch.insufficient_rights.clone());
        }
        if i.args.iter().any(|p| p.ty.decode_can_fail()) {
            out.push(self.dispatch.invalid_argument.clone());
        }
        out
    }

    /// Every error a syscall can return, in error-code order, with its sources. The invoke
    /// syscall lists only the invoke path's own errors; each invocation adds its own.
    pub fn syscall_errors(&self, s: &Syscall) -> Vec<EntryError> {
        let dispatch = self.syscall_dispatch_errors(s);
        let cap_argument = if s.kind == SyscallKind::Invoke {
            Vec::new()
        } else {
            self.cap_argument_errors(&s.args)
        };
        self.entry_errors(&dispatch, &cap_argument, &s.errors)
    }

    /// Every error an invocation can return, in error-code order, with its sources.
    pub fn invocation_errors(&self, i: &Invocation) -> Vec<EntryError> {
        let dispatch = self.invocation_dispatch_errors(i);
        let cap_argument = self.cap_argument_errors(&i.args);
        self.entry_errors(&dispatch, &cap_argument, &i.errors)
    }

    fn entry_errors(
        &self,
        dispatch: &[String],
        cap_argument: &[String],
        handler: &[String],
    ) -> Vec<EntryError> {
        self.errors
            .iter()
            .map(|e| EntryError {
                name: e.name.clone(),
                dispatch: dispatch.contains(&e.name),
                cap_argument: cap_argument.contains(&e.name),
                handler: handler.contains(&e.name),
            })
            .filter(|e| e.dispatch || e.cap_argument || e.handler)
            .collect()
    }

    /// The syscalls with `kind = "ipc"`, in schema order.
    pub fn ipc_syscalls(&self) -> impl Iterator<Item = (&Syscall, IpcFlow)> {
        self.syscalls
            .iter()
            .filter_map(|s| s.kind.ipc().map(|f| (s, f)))
    }

    /// The bitfield called `name`.
    pub fn bitfield(&self, name: &str) -> Option<&Bitfield> {
        self.bitfields.iter().find(|b| b.name == name)
    }

    /// The bitfield of the IPC info register, when the schema has IPC.
    pub fn ipc_info(&self) -> Option<&Bitfield> {
        self.ipc.as_ref().and_then(|ipc| self.bitfield(&ipc.info))
    }

    /// The fewest message registers any architecture has (0 without IPC).
    pub fn min_message_registers(&self) -> usize {
        self.arches
            .iter()
            .filter_map(|a| a.ipc.as_ref().map(|i| i.message_registers.len()))
            .min()
            .unwrap_or(0)
    }

    /// The syscall with `kind = "invoke"`, if any.
    pub fn invoke_syscall(&self) -> Option<&Syscall> {
        self.syscalls.iter().find(|s| s.kind == SyscallKind::Invoke)
    }

    /// The number of argument registers (the same on every architecture).
    pub fn arg_register_count(&self) -> usize {
        self.arches.first().map_or(0, |a| a.arg_registers.len())
    }

    /// The number of argument registers left for an invocation's payload.
    pub fn payload_register_count(&self) -> usize {
        let own = self.invoke_syscall().map_or(0, |s| s.args.len());
        self.arg_register_count().saturating_sub(own)
    }

    /// The object type called `name`.
    pub fn object(&self, name: &str) -> Option<&Object> {
        self.objects.iter().find(|o| o.name == name)
    }

    /// The flag set called `name`.
    pub fn flag_set(&self, name: &str) -> Option<&FlagSet> {
        self.flags.iter().find(|f| f.name == name)
    }
}

/// `[protocols]`: the errors the generated server answers before calling a method, and
/// where protocol-specific error codes start.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ProtocolRules {
    /// A label inside a protocol's block that names no message.
    pub unknown_label: String,
    /// A message that does not decode: wrong length, bad value, string too long, bad UTF-8.
    pub malformed: String,
    /// Fewer capabilities than the message's required ones.
    pub missing_capability: String,
    /// A capability of another object type than the message declares.
    pub wrong_object_type: String,
    /// A capability without the rights the message declares.
    pub insufficient_rights: String,
    /// The handshake refused: another major version, or the same version with another fingerprint.
    pub version_mismatch: String,
    /// Protocol-specific error codes are at or above this; shared codes stay below.
    pub error_base: u64,
}

impl ProtocolRules {
    /// The implied errors, as `(key, error name)`.
    pub fn implied(&self) -> [(&'static str, &str); 6] {
        [
            ("unknown_label", &self.unknown_label),
            ("malformed", &self.malformed),
            ("missing_capability", &self.missing_capability),
            ("wrong_object_type", &self.wrong_object_type),
            ("insufficient_rights", &self.insufficient_rights),
            ("version_mismatch", &self.version_mismatch),
        ]
    }
}

/// `[[protocol]]` with its `[[message]]` entries and tombstones.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Protocol {
    /// UpperCamelCase name.
    pub name: String,
    /// Major version: bumped by every breaking change of the protocol.
    pub version_major: u16,
    /// Minor version: bumped by compatible additions.
    pub version_minor: u16,
    /// First label of the block; the block's first label is the handshake.
    pub label_base: u64,
    /// Number of labels in the block.
    pub label_size: u64,
    /// Whether client endpoint capabilities carry the grant right (capabilities travel).
    pub grant: bool,
    /// What the protocol is for.
    pub doc: String,
    /// Errors of this protocol only, in schema order.
    pub errors: Vec<ProtocolError>,
    /// The messages, in schema order.
    pub messages: Vec<Message>,
    /// Retired message labels of this protocol.
    pub retired: Vec<RetiredMessage>,
}

impl Protocol {
    /// `process` for `Process`: the generated module.
    pub fn module_name(&self) -> String {
        names::snake_case(&self.name)
    }

    /// The last label of the block.
    pub fn label_last(&self) -> u64 {
        self.label_base + self.label_size - 1
    }

    /// The message called `name`.
    pub fn message(&self, name: &str) -> Option<&Message> {
        self.messages.iter().find(|m| m.name == name)
    }

    /// The protocol error called `name`.
    pub fn error(&self, name: &str) -> Option<&ProtocolError> {
        self.errors.iter().find(|e| e.name == name)
    }
}

/// One protocol-specific error.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ProtocolError {
    /// UpperCamelCase name.
    pub name: String,
    /// Its code, at or above `error_base`; the reply label carries it.
    pub code: u64,
    /// What it means.
    pub doc: String,
}

/// A retired message label of a protocol.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RetiredMessage {
    /// The label, never reused.
    pub label: u64,
    /// Why it was retired.
    pub reason: String,
}

/// A retired protocol.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RetiredProtocol {
    /// Its name, never reused.
    pub name: String,
    /// First label of its block.
    pub label_base: u64,
    /// Number of labels in its block.
    pub label_size: u64,
    /// Why it was retired.
    pub reason: String,
}

/// `[[message]]`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Message {
    /// snake_case name, unique within the protocol.
    pub name: String,
    /// Its label, inside the protocol's block and not its base.
    pub label: u64,
    /// Sent without waiting for a reply: no results, no errors.
    pub oneway: bool,
    /// Arguments, in wire order.
    pub args: Vec<ProtoParam>,
    /// Results, in wire order.
    pub results: Vec<ProtoParam>,
    /// Errors the server method may return besides the implied ones: shared error names
    /// or this protocol's error names.
    pub errors: Vec<String>,
    /// What the message does.
    pub doc: String,
}

impl Message {
    /// `SPAWN` for `spawn`: the constant in `label::`.
    pub fn const_name(&self) -> String {
        self.name.to_ascii_uppercase()
    }

    /// `Spawn` for `spawn`.
    pub fn camel_name(&self) -> String {
        names::camel_case(&self.name)
    }
}

/// An argument or result of a protocol message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ProtoParam {
    /// snake_case name.
    pub name: String,
    /// Its type.
    #[serde(rename = "type")]
    pub ty: ProtoType,
    /// What it means.
    pub doc: String,
}

/// The type of a protocol argument or result, with what its wire encoding needs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProtoType {
    /// An unsigned integer in one word; narrower than 64 bits is range-checked.
    Int(IntType),
    /// 0 or 1 in one word.
    Bool,
    /// An object type id in one word.
    ObjectType,
    /// A value of the named `[[flags]]` set in one word; unknown bits are malformed.
    Flags(String),
    /// A value of the named `[[bitfield]]` in one word; reserved bits are malformed.
    Bitfield(String),
    /// A `[[struct]]` by value: its bytes in `words` words.
    Struct {
        /// The struct's name.
        name: String,
        /// `ceil(size_of / 8)`.
        words: u64,
    },
    /// `[u8; count]`, packed little-endian.
    Array {
        /// The number of bytes.
        count: u64,
    },
    /// A length word, then up to `max` bytes packed.
    Bytes {
        /// The largest length.
        max: u64,
    },
    /// A length word, then up to `max` bytes of UTF-8 packed.
    String {
        /// The largest length in bytes.
        max: u64,
    },
    /// A capability that travels with the message (not a word).
    Cap(ProtoCap),
}

/// What a capability argument or result must be.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ProtoCap {
    /// The object type it must refer to; `None` (`"any"`) for every type.
    pub object: Option<String>,
    /// Bits of the `Rights` flag set it must carry.
    pub rights: Vec<String>,
    /// Whether the sender may leave it out.
    pub optional: bool,
}

/// The number of message words needed for `bytes` bytes.
pub fn words_for_bytes(bytes: u64) -> u64 {
    bytes.div_ceil(8)
}

impl ProtoType {
    /// The most message words the value takes (0 for a capability).
    pub fn max_words(&self) -> u64 {
        match self {
            ProtoType::Int(_)
            | ProtoType::Bool
            | ProtoType::ObjectType
            | ProtoType::Flags(_)
            | ProtoType::Bitfield(_) => 1,
            ProtoType::Struct { words, .. } => *words,
            ProtoType::Array { count } => words_for_bytes(*count),
            ProtoType::Bytes { max } | ProtoType::String { max } => 1 + words_for_bytes(*max),
            ProtoType::Cap(_) => 0,
        }
    }

    /// The fewest message words the value takes.
    pub fn min_words(&self) -> u64 {
        match self {
            ProtoType::Bytes { .. } | ProtoType::String { .. } => 1,
            other => other.max_words(),
        }
    }

    /// The capability constraint, for a `cap`.
    pub fn cap(&self) -> Option<&ProtoCap> {
        match self {
            ProtoType::Cap(cap) => Some(cap),
            _ => None,
        }
    }

    /// The schema spelling, with the constraints that change the wire format:
    /// `string<32>`, `u8[16]`, `cap<Notification write optional>`.
    pub fn describe(&self) -> String {
        match self {
            ProtoType::Int(int) => int.name().to_owned(),
            ProtoType::Bool => "bool".to_owned(),
            ProtoType::ObjectType => "ObjectType".to_owned(),
            ProtoType::Flags(name) | ProtoType::Bitfield(name) => name.clone(),
            ProtoType::Struct { name, .. } => name.clone(),
            ProtoType::Array { count } => format!("u8[{count}]"),
            ProtoType::Bytes { max } => format!("bytes<{max}>"),
            ProtoType::String { max } => format!("string<{max}>"),
            ProtoType::Cap(cap) => {
                let mut text = format!("cap<{}", cap.object.as_deref().unwrap_or(ANY_OBJECT));
                for right in &cap.rights {
                    text.push(' ');
                    text.push_str(right);
                }
                if cap.optional {
                    text.push_str(" optional");
                }
                text.push('>');
                text
            }
        }
    }
}

/// The most message words a list of parameters takes.
pub fn max_words(params: &[ProtoParam]) -> u64 {
    params.iter().map(|p| p.ty.max_words()).sum()
}

/// The number of capabilities a list of parameters carries.
pub fn cap_count(params: &[ProtoParam]) -> usize {
    params.iter().filter(|p| p.ty.cap().is_some()).count()
}

/// Words of the handshake request and reply: major, minor, fingerprint.
pub const HANDSHAKE_WORDS: u64 = 3;
