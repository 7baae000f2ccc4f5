//! The schema file as written: serde types that mirror schema.toml, with a span on every value so that validation can point at it.
//!
//! Every key is optional here so that a missing key becomes one validation error among
//! all the others instead of stopping the parse.

use std::fmt;
use std::marker::PhantomData;

use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use toml::Spanned;

/// A value with its byte span in the schema text.
pub type S<T> = Spanned<T>;

/// Declares the mirror of each schema table: every key may be left out (a missing key is a
/// validation error with a span, not a parse failure), and an unknown key is refused (a
/// misspelt key is an error, not a key silently ignored).
macro_rules! raw_tables {
    ($($(#[$meta:meta])* pub struct $name:ident { $($fields:tt)* })*) => {
        $(
            $(#[$meta])*
            #[derive(Debug, Default, serde::Deserialize)]
            #[serde(default, deny_unknown_fields)]
            pub struct $name { $($fields)* }
        )*
    };
}

raw_tables! {
    /// The whole schema file.
    pub struct RawSchema {
        pub abi: Option<S<RawAbi>>,
        pub arch: Option<OrderedMap<S<RawArch>>>,
        pub dispatch: Option<S<RawDispatch>>,
        pub error: Vec<S<RawError>>,
        pub constant: Vec<S<RawConstant>>,
        pub flags: Vec<S<RawFlags>>,
        pub bitfield: Vec<S<RawBitfield>>,
        pub ipc: Option<S<RawIpc>>,
        #[serde(rename = "struct")]
        pub structs: Vec<S<RawStruct>>,
        pub syscall: Vec<S<RawSyscall>>,
        pub object: Vec<S<RawObject>>,
        pub invocation: Vec<S<RawInvocation>>,
        pub retired: Vec<S<RawRetired>>,
        pub kernel_messages: Option<S<RawKernelMessages>>,
        pub kernel_message: Vec<S<RawKernelMessage>>,
        pub fault_reply: Option<S<RawFaultReply>>,
        pub percpu: Option<OrderedMap<OrderedMap<Vec<S<RawPerCpuField>>>>>,
        pub protocols: Option<S<RawProtocols>>,
        pub protocol: Vec<S<RawProtocol>>,
        pub message: Vec<S<RawMessage>>,
    }

    /// `[protocols]`: the errors every protocol message implies, and where protocol error codes start.
    pub struct RawProtocols {
        pub unknown_label: Option<S<String>>,
        pub malformed: Option<S<String>>,
        pub missing_capability: Option<S<String>>,
        pub wrong_object_type: Option<S<String>>,
        pub insufficient_rights: Option<S<String>>,
        pub version_mismatch: Option<S<String>>,
        pub error_base: Option<S<i64>>,
    }

    /// `[[protocol]]`: a server protocol.
    pub struct RawProtocol {
        pub name: Option<S<String>>,
        pub version: Option<S<String>>,
        pub labels: Option<S<RawLabelBlock>>,
        pub grant: Option<S<bool>>,
        pub doc: Option<S<String>>,
        pub errors: Vec<S<RawProtocolError>>,
    }

    /// One entry of `errors` in `[[protocol]]`: an error of this protocol only.
    pub struct RawProtocolError {
        pub name: Option<S<String>>,
        pub code: Option<S<i64>>,
        pub doc: Option<S<String>>,
    }

    /// `[[message]]`: one message of a protocol.
    pub struct RawMessage {
        pub protocol: Option<S<String>>,
        pub name: Option<S<String>>,
        pub label: Option<S<i64>>,
        pub oneway: Option<S<bool>>,
        pub args: Vec<S<RawProtoParam>>,
        pub results: Vec<S<RawProtoParam>>,
        pub errors: Option<S<Vec<S<String>>>>,
        pub doc: Option<S<String>>,
    }

    /// An argument or result of a protocol message.
    pub struct RawProtoParam {
        pub name: Option<S<String>>,
        #[serde(rename = "type")]
        pub ty: Option<S<String>>,
        /// The largest length of a `bytes` or `string`.
        pub max: Option<S<i64>>,
        /// The length of a fixed-size `u8` array.
        pub count: Option<S<i64>>,
        /// The object type a `cap` must name (`"any"` for every type).
        pub object: Option<S<String>>,
        /// The rights a `cap` must carry.
        pub rights: Option<S<Vec<S<String>>>>,
        /// A `cap` the sender may leave out.
        pub optional: Option<S<bool>>,
        pub doc: Option<S<String>>,
    }

    /// `[abi]`.
    pub struct RawAbi {
        pub name: Option<S<String>>,
        pub version: Option<S<String>>,
    }

    /// `[arch.<name>]`.
    pub struct RawArch {
        pub trap: Option<S<String>>,
        pub number_register: Option<S<String>>,
        pub arg_registers: Option<S<Vec<S<String>>>>,
        pub result_registers: Option<S<Vec<S<String>>>>,
        pub clobbered_registers: Option<S<Vec<S<String>>>>,
        pub ipc: Option<S<RawArchIpc>>,
    }

    /// `[arch.<name>.ipc]`: the registers of the IPC syscalls.
    pub struct RawArchIpc {
        pub capability: Option<S<String>>,
        pub info: Option<S<String>>,
        pub message_registers: Option<S<Vec<S<String>>>>,
    }

    /// `[ipc]`: the architecture-independent part of the IPC convention.
    pub struct RawIpc {
        /// The `[[bitfield]]` that is the type of the info register.
        pub info: Option<S<String>>,
        /// The `[[struct]]` that is a thread's IPC buffer.
        pub buffer: Option<S<String>>,
    }

    /// `[[bitfield]]`.
    pub struct RawBitfield {
        pub name: Option<S<String>>,
        #[serde(rename = "type")]
        pub ty: Option<S<String>>,
        pub doc: Option<S<String>>,
        pub fields: Vec<S<RawBitfieldField>>,
    }

    /// One entry of `fields` in `[[bitfield]]`.
    pub struct RawBitfieldField {
        pub name: Option<S<String>>,
        pub lsb: Option<S<i64>>,
        pub width: Option<S<i64>>,
        #[serde(rename = "type")]
        pub ty: Option<S<String>>,
        pub doc: Option<S<String>>,
    }

    /// `[dispatch]`.
    pub struct RawDispatch {
        pub unknown_syscall: Option<S<String>>,
        pub unknown_label: Option<S<String>>,
        pub invalid_argument: Option<S<String>>,
        pub insufficient_rights: Option<S<String>>,
        pub unknown_error: Option<S<String>>,
    }

    /// `[[error]]`.
    pub struct RawError {
        pub name: Option<S<String>>,
        pub code: Option<S<i64>>,
        pub doc: Option<S<String>>,
    }

    /// `[[constant]]`.
    pub struct RawConstant {
        pub name: Option<S<String>>,
        #[serde(rename = "type")]
        pub ty: Option<S<String>>,
        pub value: Option<S<RawInteger>>,
        pub doc: Option<S<String>>,
    }

    /// `[[flags]]`.
    pub struct RawFlags {
        pub name: Option<S<String>>,
        pub doc: Option<S<String>>,
        pub bits: Vec<S<RawFlagBit>>,
    }

    /// One entry of `bits` in `[[flags]]`.
    pub struct RawFlagBit {
        pub name: Option<S<String>>,
        pub bit: Option<S<i64>>,
        pub doc: Option<S<String>>,
    }

    /// `[[struct]]`.
    pub struct RawStruct {
        pub name: Option<S<String>>,
        pub doc: Option<S<String>>,
        pub fields: Vec<S<RawParam>>,
    }

    /// A named, typed, documented value: a syscall or invocation argument or result, or a struct field.
    pub struct RawParam {
        pub name: Option<S<String>>,
        #[serde(rename = "type")]
        pub ty: Option<S<String>>,
        /// The object type a `cap` argument must name (`"any"` for every type).
        pub object: Option<S<String>>,
        /// The rights a `cap` argument must carry (`[]` for none).
        pub rights: Option<S<Vec<S<String>>>>,
        /// The array length of a struct field: a number or the name of a constant.
        pub count: Option<S<RawCount>>,
        pub doc: Option<S<String>>,
    }

    /// `[[syscall]]`.
    pub struct RawSyscall {
        pub name: Option<S<String>>,
        pub number: Option<S<i64>>,
        pub kind: Option<S<String>>,
        /// `kind = "ipc"`: the info and message registers carry a message in.
        pub send: Option<S<bool>>,
        /// `kind = "ipc"`: badge, info and message registers carry a message out.
        pub receive: Option<S<bool>>,
        pub args: Vec<S<RawParam>>,
        pub results: Vec<S<RawParam>>,
        pub errors: Option<S<Vec<S<String>>>>,
        pub doc: Option<S<String>>,
    }

    /// `[[object]]`.
    pub struct RawObject {
        pub name: Option<S<String>>,
        pub id: Option<S<i64>>,
        pub labels: Option<S<RawLabelBlock>>,
        pub doc: Option<S<String>>,
    }

    /// `labels = { base, size }` of an object.
    pub struct RawLabelBlock {
        pub base: Option<S<i64>>,
        pub size: Option<S<i64>>,
    }

    /// `[[invocation]]`.
    pub struct RawInvocation {
        pub object: Option<S<String>>,
        pub name: Option<S<String>>,
        pub label: Option<S<i64>>,
        pub rights: Option<S<Vec<S<String>>>>,
        pub args: Vec<S<RawParam>>,
        pub results: Vec<S<RawParam>>,
        pub errors: Option<S<Vec<S<String>>>>,
        pub doc: Option<S<String>>,
    }

    /// `[kernel_messages]`: the label block of the messages the kernel sends.
    pub struct RawKernelMessages {
        pub labels: Option<S<RawLabelBlock>>,
        pub doc: Option<S<String>>,
    }

    /// `[[kernel_message]]`.
    pub struct RawKernelMessage {
        pub name: Option<S<String>>,
        pub label: Option<S<i64>>,
        /// Whether the message reports a fault (and is a variant of `Fault`).
        pub fault: Option<S<bool>>,
        pub doc: Option<S<String>>,
        pub fields: Vec<S<RawMessageField>>,
    }

    /// `[fault_reply]`: the words a fault handler's reply may carry.
    pub struct RawFaultReply {
        pub doc: Option<S<String>>,
        pub fields: Vec<S<RawMessageField>>,
    }

    /// One word of a kernel message or of the fault reply.
    pub struct RawMessageField {
        pub name: Option<S<String>>,
        #[serde(rename = "type")]
        pub ty: Option<S<String>>,
        pub doc: Option<S<String>>,
    }

    /// `[[retired]]`: exactly one of the numbers, and why; with `protocol`, a message
    /// label of that protocol (`label`) or the whole protocol (`labels`).
    pub struct RawRetired {
        pub protocol: Option<S<String>>,
        pub labels: Option<S<RawLabelBlock>>,
        pub syscall: Option<S<i64>>,
        pub label: Option<S<i64>>,
        pub object: Option<S<i64>>,
        pub error: Option<S<i64>>,
        pub reason: Option<S<String>>,
    }

    /// `[[percpu.<arch>.field]]`.
    pub struct RawPerCpuField {
        pub name: Option<S<String>>,
        #[serde(rename = "type")]
        pub ty: Option<S<String>>,
        pub count: Option<S<i64>>,
        pub asm: Option<S<bool>>,
        pub offset: Option<S<i64>>,
        pub doc: Option<S<String>>,
    }
}

/// An integer as written: a TOML integer (at most `i64::MAX`), or a string holding a
/// number of any `u64` size (`"0xffff_ffff_ffff_ffff"`, `"18446744073709551615"`), since
/// TOML integers are signed 64-bit.
#[derive(Debug, serde::Deserialize)]
#[serde(untagged)]
pub enum RawInteger {
    /// `value = 42`.
    Integer(i64),
    /// `value = "0xffff_ffff_ffff_ffff"`.
    Text(String),
}

/// An array length as written: a number, or the name of a `[[constant]]`.
#[derive(Debug, serde::Deserialize)]
#[serde(untagged)]
pub enum RawCount {
    /// `count = 4`.
    Number(i64),
    /// `count = "MSG_MAX_LENGTH"`.
    Constant(String),
}

/// A TOML table whose keys are kept in document order, each with its span.
///
/// Implicit tables (`percpu` in `[[percpu.x86_64.field]]`) have no span of their own,
/// so the keys carry the spans.
#[derive(Debug)]
pub struct OrderedMap<V>(pub Vec<(S<String>, V)>);

impl<'de, V: Deserialize<'de>> Deserialize<'de> for OrderedMap<V> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct MapVisitor<V>(PhantomData<V>);

        impl<'de, V: Deserialize<'de>> Visitor<'de> for MapVisitor<V> {
            type Value = OrderedMap<V>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a table")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut entries = Vec::new();
                while let Some((key, value)) = map.next_entry::<S<String>, V>()? {
                    entries.push((key, value));
                }
                Ok(OrderedMap(entries))
            }
        }

        deserializer.deserialize_map(MapVisitor(PhantomData))
    }
}
