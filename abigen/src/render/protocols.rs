//! Renders trona's `generated/protocols.rs`: per protocol a typed client, a server trait, `dispatch` and `serve`, over the runtime in `trona::proto`.
//!
//! The Rust is written as text and formatted by prettyplease through [`super::format_rust`];
//! every name in it comes from a validated model, so it always parses.

use std::fmt::Write as _;

use super::{Verbatim, format_rust};
use crate::fingerprint::protocol_fingerprint;
use crate::model::*;
use crate::names;

/// Renders `trona/src/generated/protocols.rs`.
pub fn render(model: &Model) -> String {
    let mut out = String::new();
    out.push_str("#![allow(clippy::too_many_arguments)]\n");
    let mut structs: Vec<&Struct> = Vec::new();
    for p in &model.protocols {
        for m in &p.messages {
            for param in m.args.iter().chain(&m.results) {
                if let ProtoType::Struct { name, .. } = &param.ty
                    && !structs.iter().any(|s| &s.name == name)
                    && let Some(s) = model.structs.iter().find(|s| &s.name == name)
                {
                    structs.push(s);
                }
            }
        }
    }
    if !structs.is_empty() {
        render_structs(&mut out, &structs);
    }
    for p in &model.protocols {
        render_protocol(&mut out, model, p);
    }
    render_message_list(&mut out, model);
    let tokens: proc_macro2::TokenStream = match out.parse() {
        Ok(tokens) => tokens,
        Err(error) => panic!("abigen protocol renderer produced invalid Rust ({error}):\n{out}"),
    };
    format_rust(
        "Server protocols: per protocol a typed client, a server trait, `dispatch` and `serve`, generated from the `[[protocol]]` and `[[message]]` entries.",
        tokens,
        &Verbatim::default(),
    )
}

/// The `Message` enum: every message of every protocol, for coverage checks and tools.
fn render_message_list(out: &mut String, model: &Model) {
    let mut variants = Vec::new();
    for p in &model.protocols {
        for m in &p.messages {
            variants.push((format!("{}{}", p.name, m.camel_name()), p, m));
        }
    }
    out.push_str("/// Every message of every protocol, in schema order.\n#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]\npub enum Message {\n");
    for (variant, p, m) in &variants {
        let _ = writeln!(out, "/// `{}.{}`.\n{variant},", p.name, m.name);
    }
    out.push_str("}\nimpl Message {\n/// Every message, in schema order.\npub const ALL: &'static [Message] = &[");
    for (variant, ..) in &variants {
        let _ = write!(out, "Message::{variant},");
    }
    out.push_str("];\n/// `Protocol.message`, as the schema spells it.\npub const fn name(self) -> &'static str {\nmatch self {\n");
    for (variant, p, m) in &variants {
        let _ = writeln!(out, "Message::{variant} => \"{}.{}\",", p.name, m.name);
    }
    out.push_str(
        "}\n}\n/// The message's label.\npub const fn label(self) -> u64 {\nmatch self {\n",
    );
    for (variant, p, m) in &variants {
        let _ = writeln!(
            out,
            "Message::{variant} => {}::label::{},",
            p.module_name(),
            m.const_name()
        );
    }
    out.push_str("}\n}\n}\n");
}

/// `///` lines for a doc text.
fn doc(text: &str) -> String {
    let mut out = String::new();
    for line in text.lines() {
        if line.is_empty() {
            out.push_str("///\n");
        } else {
            let _ = writeln!(out, "/// {line}");
        }
    }
    out
}

fn hex(value: u64) -> String {
    format!("{value:#x}")
}

fn struct_fn(name: &str) -> String {
    names::snake_case(name)
}

fn render_structs(out: &mut String, structs: &[&Struct]) {
    out.push_str("/// The structures protocol messages carry by value: their bytes, little-endian, `repr(C)` layout, the tail zero.\npub mod structs {\n use crate::proto;\n");
    for s in structs {
        let bytes = words_for_bytes(s.size) * 8;
        let f = struct_fn(&s.name);
        let name = &s.name;
        let _ = writeln!(
            out,
            "/// The bytes of a `{name}`.\nfn bytes_of_{f}(value: &abi::{name}) -> [u8; {bytes}] {{\n let mut bytes = [0u8; {bytes}];"
        );
        for field in &s.fields {
            let size = field.ty.size();
            let widen = |access: &str| {
                if field.ty == IntType::U64 {
                    access.to_owned()
                } else {
                    format!("u64::from({access})")
                }
            };
            match field.count {
                None => {
                    let _ = writeln!(
                        out,
                        "proto::put_le(&mut bytes, {}, {size}, {});",
                        field.offset,
                        widen(&format!("value.{}", field.name))
                    );
                }
                Some(_) => {
                    let _ = writeln!(
                        out,
                        "for (i, element) in value.{}.iter().enumerate() {{ proto::put_le(&mut bytes, {} + i * {size}, {size}, {}); }}",
                        field.name,
                        field.offset,
                        widen("*element")
                    );
                }
            }
        }
        out.push_str("bytes\n}\n");
        let _ = writeln!(
            out,
            "/// Appends a `{name}`.\npub fn encode_{f}(out: &mut proto::Outgoing, value: &abi::{name}) {{\n out.packed(&bytes_of_{f}(value));\n}}"
        );
        let _ = writeln!(
            out,
            "/// Reads a `{name}`; `Malformed` when a padding or tail byte is not zero.\npub fn decode_{f}(decoder: &mut proto::Decoder<'_>) -> Result<abi::{name}, proto::Malformed> {{\n let bytes = decoder.array::<{bytes}>()?;\n let value = abi::{name} {{"
        );
        for field in &s.fields {
            let size = field.ty.size();
            let narrow = |expr: String| {
                if field.ty == IntType::U64 {
                    expr
                } else {
                    format!("{expr} as {}", field.ty.name())
                }
            };
            match field.count {
                None => {
                    let _ = writeln!(
                        out,
                        "{}: {},",
                        field.name,
                        narrow(format!("proto::get_le(&bytes, {}, {size})", field.offset))
                    );
                }
                Some(_) => {
                    let _ = writeln!(
                        out,
                        "{}: core::array::from_fn(|i| {}),",
                        field.name,
                        narrow(format!(
                            "proto::get_le(&bytes, {} + i * {size}, {size})",
                            field.offset
                        ))
                    );
                }
            }
        }
        let _ = writeln!(
            out,
            "}};\n if bytes_of_{f}(&value) != bytes {{ return Err(proto::Malformed); }}\n Ok(value)\n}}"
        );
    }
    out.push_str("}\n");
}

/// Where a parameter's Rust type is used.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Role {
    /// A client method's argument or a server method's argument (borrowed).
    Arg,
    /// A result: returned by value.
    Result,
}

fn rust_type(model: &Model, ty: &ProtoType, role: Role) -> String {
    match ty {
        ProtoType::Int(int) => int.name().to_owned(),
        ProtoType::Bool => "bool".to_owned(),
        ProtoType::ObjectType => "abi::ObjectType".to_owned(),
        ProtoType::Flags(name) | ProtoType::Bitfield(name) => format!("abi::{name}"),
        ProtoType::Struct { name, .. } => match role {
            Role::Arg => format!("&abi::{name}"),
            Role::Result => format!("abi::{name}"),
        },
        ProtoType::Array { count } => match role {
            Role::Arg => format!("&[u8; {count}]"),
            Role::Result => format!("[u8; {count}]"),
        },
        ProtoType::Bytes { max } => match role {
            Role::Arg => "&[u8]".to_owned(),
            Role::Result => format!("proto::Bytes<{max}>"),
        },
        ProtoType::String { max } => match role {
            Role::Arg => "&str".to_owned(),
            Role::Result => format!("proto::Bytes<{max}>"),
        },
        ProtoType::Cap(cap) => {
            let _ = model;
            if cap.optional {
                "Option<abi::CPtr>".to_owned()
            } else {
                "abi::CPtr".to_owned()
            }
        }
    }
}

/// Statements appending `value` (an expression of the parameter's type as `role` has it).
fn encode(ty: &ProtoType, value: &str, role: Role, bitfields: &[Bitfield]) -> String {
    match ty {
        ProtoType::Int(IntType::U64) => format!("wire_out.word({value});"),
        ProtoType::Int(_) | ProtoType::Bool => format!("wire_out.word(u64::from({value}));"),
        ProtoType::ObjectType => format!("wire_out.word({value}.id());"),
        ProtoType::Flags(_) => format!("wire_out.word({value}.bits());"),
        ProtoType::Bitfield(name) => {
            let word = bitfields
                .iter()
                .find(|b| &b.name == name)
                .map_or(IntType::U64, |b| b.word);
            if word == IntType::U64 {
                format!("wire_out.word({value}.bits());")
            } else {
                format!("wire_out.word(u64::from({value}.bits()));")
            }
        }
        ProtoType::Struct { name, .. } => {
            let reference = if role == Role::Arg { "" } else { "&" };
            format!(
                "super::structs::encode_{}(wire_out, {reference}{value});",
                struct_fn(name)
            )
        }
        ProtoType::Array { .. } => {
            let reference = if role == Role::Arg { "" } else { "&" };
            format!("wire_out.packed({reference}{value});")
        }
        ProtoType::Bytes { max } => match role {
            Role::Arg => format!("wire_out.sized({value}, {max})?;"),
            Role::Result => format!("wire_out.sized({value}.as_slice(), {max})?;"),
        },
        ProtoType::String { max } => match role {
            Role::Arg => format!("wire_out.sized({value}.as_bytes(), {max})?;"),
            Role::Result => format!("wire_out.sized({value}.as_slice(), {max})?;"),
        },
        ProtoType::Cap(_) => String::new(),
    }
}

/// A statement binding `name` to the decoded value, as `role` has the type.
fn decode(ty: &ProtoType, name: &str, role: Role, bitfields: &[Bitfield]) -> String {
    match ty {
        ProtoType::Int(int) => format!("let {name} = wire_d.{}()?;", int.name()),
        ProtoType::Bool => format!("let {name} = wire_d.bool()?;"),
        ProtoType::ObjectType => format!("let {name} = wire_d.object_type()?;"),
        ProtoType::Flags(flags) => {
            format!("let {name} = abi::{flags}::from_bits(wire_d.u64()?).ok_or(proto::Malformed)?;")
        }
        ProtoType::Bitfield(bitfield) => {
            let word = bitfields
                .iter()
                .find(|b| &b.name == bitfield)
                .map_or(IntType::U64, |b| b.word);
            format!(
                "let {name} = abi::{bitfield}::from_bits(wire_d.{}()?).ok_or(proto::Malformed)?;",
                word.name()
            )
        }
        ProtoType::Struct { name: s, .. } => match role {
            Role::Arg => format!(
                "let {name} = &super::structs::decode_{}(&mut wire_d)?;",
                struct_fn(s)
            ),
            Role::Result => format!(
                "let {name} = super::structs::decode_{}(&mut wire_d)?;",
                struct_fn(s)
            ),
        },
        ProtoType::Array { count } => match role {
            Role::Arg => format!("let {name} = &wire_d.array::<{count}>()?;"),
            Role::Result => format!("let {name} = wire_d.array::<{count}>()?;"),
        },
        ProtoType::Bytes { max } => match role {
            Role::Arg => format!(
                "let mut wire_{name} = [0u8; {max}];\nlet {name} = wire_d.sized({max}, &mut wire_{name})?;"
            ),
            Role::Result => format!("let {name} = wire_d.bytes_value::<{max}>()?;"),
        },
        ProtoType::String { max } => match role {
            Role::Arg => format!(
                "let mut wire_{name} = [0u8; {max}];\nlet {name} = wire_d.text({max}, &mut wire_{name})?;"
            ),
            Role::Result => format!("let {name} = wire_d.text_value::<{max}>()?;"),
        },
        ProtoType::Cap(_) => String::new(),
    }
}

/// `abi::Rights::READ.union(abi::Rights::WRITE)`, or `abi::Rights::empty()`.
fn rights_expr(rights: &[String]) -> String {
    let mut parts = rights
        .iter()
        .map(|r| format!("abi::Rights::{}", r.to_ascii_uppercase()));
    match parts.next() {
        None => "abi::Rights::empty()".to_owned(),
        Some(first) => parts.fold(first, |acc, next| format!("{acc}.union({next})")),
    }
}

/// The result type of a message's methods: `()`, the one result's type, or its reply struct.
fn result_type(model: &Model, p: &Protocol, m: &Message) -> String {
    match m.results.as_slice() {
        [] => "()".to_owned(),
        [one] => rust_type(model, &one.ty, Role::Result),
        _ => reply_struct(p, m),
    }
}

fn reply_struct(p: &Protocol, m: &Message) -> String {
    format!("{}{}Reply", p.name, m.camel_name())
}

fn has_words(params: &[ProtoParam]) -> bool {
    params.iter().any(|p| p.ty.max_words() > 0)
}

fn render_protocol(out: &mut String, model: &Model, p: &Protocol) {
    let Some(rules) = &model.protocol_rules else {
        return;
    };
    let module = p.module_name();
    let error = format!("{}Error", p.name);
    let client = format!("{}Client", p.name);
    let server = format!("{}Server", p.name);
    let bitfields = &model.bitfields;
    let fingerprint = protocol_fingerprint(p);
    out.push_str(&doc(&p.doc));
    let _ = writeln!(
        out,
        "///\n/// Version {}.{}, labels {}..={} (the first is the handshake).",
        p.version_major,
        p.version_minor,
        hex(p.label_base),
        hex(p.label_last())
    );
    let _ = writeln!(out, "pub mod {module} {{\nuse crate::proto;");
    let _ = writeln!(
        out,
        "/// The protocol's major version: a client of another major is refused at connect.\npub const VERSION_MAJOR: u16 = {};\n/// The protocol's minor version: bumped by compatible additions.\npub const VERSION_MINOR: u16 = {};\n/// The fingerprint of the protocol's wire contract, compared by the handshake.\npub const FINGERPRINT: u64 = {fingerprint:#018x};\n/// The first label of the block (the handshake).\npub const LABEL_BASE: u64 = {};\n/// The number of labels in the block.\npub const LABEL_SIZE: u64 = {};",
        p.version_major,
        p.version_minor,
        hex(p.label_base),
        hex(p.label_size)
    );
    // Labels.
    out.push_str("/// The message labels.\npub mod label {\n/// The generated version handshake of `connect`.\npub const HANDSHAKE: u64 = super::LABEL_BASE;\n");
    for m in &p.messages {
        out.push_str(&doc(&m.doc));
        let _ = writeln!(out, "pub const {}: u64 = {};", m.const_name(), hex(m.label));
    }
    out.push_str("}\n");
    // The bounds of the byte strings, for clients that split or check their data.
    for m in &p.messages {
        for (side, infix, params) in [("argument", "", &m.args), ("result", "REPLY_", &m.results)] {
            for param in params {
                if let ProtoType::Bytes { max } | ProtoType::String { max } = param.ty {
                    let _ = writeln!(
                        out,
                        "/// The most bytes of `{}`'s {side} `{}`.\npub const {}_{infix}{}_MAX: usize = {max};",
                        m.name,
                        param.name,
                        m.const_name(),
                        param.name.to_ascii_uppercase()
                    );
                }
            }
        }
    }
    // Bounds checked at compile time.
    for m in &p.messages {
        let words = max_words(&m.args).max(max_words(&m.results));
        if words > 0 {
            let _ = writeln!(
                out,
                "const _: () = assert!({words} <= abi::MSG_MAX_LENGTH, \"{}.{} cannot fit the IPC buffer\");",
                p.name, m.name
            );
        }
        let caps = cap_count(&m.args).max(cap_count(&m.results));
        if caps > 0 {
            let _ = writeln!(
                out,
                "const _: () = assert!({caps} <= abi::MSG_MAX_CAPS, \"{}.{} carries too many capabilities\");",
                p.name, m.name
            );
        }
    }
    // Errors.
    let _ = writeln!(
        out,
        "/// What a {} message can fail with: a shared error or one of the protocol's own.\n#[derive(Clone, Copy, Debug, PartialEq, Eq)]\npub enum {error} {{\n/// A shared error (`abi::Error`).\nShared(abi::Error),",
        p.name
    );
    for e in &p.errors {
        out.push_str(&doc(&e.doc));
        let _ = writeln!(out, "{},", e.name);
    }
    out.push_str("}\n");
    let _ = writeln!(
        out,
        "impl {error} {{\n/// The code a reply's label carries.\npub const fn code(self) -> u64 {{\nmatch self {{\n{error}::Shared(error) => error.code(),"
    );
    for e in &p.errors {
        let _ = writeln!(out, "{error}::{} => {},", e.name, hex(e.code));
    }
    let _ = writeln!(
        out,
        "}}\n}}\n/// The error a reply's label names: the protocol's own codes first, then the shared ones.\npub fn from_code(code: u64) -> {error} {{"
    );
    if p.errors.is_empty() {
        let _ = writeln!(out, "{error}::Shared(abi::Error::from_code(code))");
    } else {
        out.push_str("match code {\n");
        for e in &p.errors {
            let _ = writeln!(out, "{} => {error}::{},", hex(e.code), e.name);
        }
        let _ = writeln!(
            out,
            "code => {error}::Shared(abi::Error::from_code(code)),\n}}"
        );
    }
    let _ = writeln!(
        out,
        "}}\n/// The error's name.\npub const fn name(self) -> &'static str {{\nmatch self {{\n{error}::Shared(error) => error.name(),"
    );
    for e in &p.errors {
        let _ = writeln!(out, "{error}::{} => \"{}\",", e.name, e.name);
    }
    out.push_str("}\n}\n}\n");
    let _ = writeln!(
        out,
        "impl From<abi::Error> for {error} {{\nfn from(error: abi::Error) -> {error} {{\n{error}::Shared(error)\n}}\n}}"
    );
    let _ = writeln!(
        out,
        "impl From<proto::Malformed> for {error} {{\nfn from(_: proto::Malformed) -> {error} {{\n{error}::Shared(abi::Error::{})\n}}\n}}",
        rules.malformed
    );
    let _ = writeln!(
        out,
        "impl From<proto::CapProblem> for {error} {{\nfn from(problem: proto::CapProblem) -> {error} {{\n{error}::Shared(match problem {{\nproto::CapProblem::Missing => abi::Error::{},\nproto::CapProblem::WrongObjectType => abi::Error::{},\nproto::CapProblem::InsufficientRights => abi::Error::{},\n}})\n}}\n}}",
        rules.missing_capability, rules.wrong_object_type, rules.insufficient_rights
    );
    // Reply structs.
    for m in &p.messages {
        if m.results.len() < 2 {
            continue;
        }
        let _ = writeln!(
            out,
            "/// The results of `{}`.\n#[derive(Clone, Copy, Debug, PartialEq, Eq)]\npub struct {} {{",
            m.name,
            reply_struct(p, m)
        );
        for r in &m.results {
            out.push_str(&doc(&r.doc));
            let _ = writeln!(
                out,
                "pub {}: {},",
                r.name,
                rust_type(model, &r.ty, Role::Result)
            );
        }
        out.push_str("}\n");
    }
    render_client(out, model, p, &client, &error, rules, bitfields);
    render_server(out, model, p, &server, &error, rules, bitfields);
    out.push_str("}\n");
}

/// The parameter list of a method: `name: Type` for each argument.
fn arg_list(model: &Model, m: &Message) -> String {
    m.args
        .iter()
        .map(|a| format!(", {}: {}", a.name, rust_type(model, &a.ty, Role::Arg)))
        .collect()
}

#[allow(clippy::too_many_arguments)]
fn render_client(
    out: &mut String,
    model: &Model,
    p: &Protocol,
    client: &str,
    error: &str,
    rules: &ProtocolRules,
    bitfields: &[Bitfield],
) {
    let _ = writeln!(
        out,
        "/// A typed client of the {} protocol over an endpoint capability.\n#[derive(Clone, Debug)]\npub struct {client} {{\nendpoint: abi::CPtr,\nbuffer: proto::Buffer,\nserver_minor: u16,\n}}",
        p.name
    );
    let _ = writeln!(
        out,
        "impl {client} {{\n/// Connects through `endpoint` (this thread's IPC `buffer` carries the long messages): the version handshake. `{error}::Shared(abi::Error::{mismatch})` when the server speaks another major version (or the same version of another schema).\npub fn connect(endpoint: abi::CPtr, buffer: proto::Buffer) -> Result<{client}, {error}> {{\nlet mut wire_out = proto::Outgoing::new(label::HANDSHAKE);\nwire_out.word(u64::from(VERSION_MAJOR));\nwire_out.word(u64::from(VERSION_MINOR));\nwire_out.word(FINGERPRINT);\nlet mut wire_in = proto::Incoming::new(0, 0);\nproto::call_into(endpoint, &buffer, &wire_out, None, &mut wire_in)?;\nif wire_in.label() != 0 {{\nreturn Err({error}::from_code(wire_in.label()));\n}}\nif !wire_in.caps().is_empty() {{\nreturn Err(proto::Malformed.into());\n}}\nlet mut wire_d = wire_in.decoder();\nlet major = wire_d.u16()?;\nlet minor = wire_d.u16()?;\nlet _fingerprint = wire_d.u64()?;\nwire_d.finish()?;\nif major != VERSION_MAJOR {{\nreturn Err({error}::Shared(abi::Error::{mismatch}));\n}}\nOk({client} {{ endpoint, buffer, server_minor: minor }})\n}}\n/// The server's version: the same major as this client's, and its own minor.\npub fn server_version(&self) -> (u16, u16) {{\n(VERSION_MAJOR, self.server_minor)\n}}\n/// The endpoint this client calls.\npub fn endpoint(&self) -> abi::CPtr {{\nself.endpoint\n}}",
        mismatch = rules.version_mismatch
    );
    for m in &p.messages {
        let result_caps = cap_count(&m.results);
        out.push_str(&doc(&m.doc));
        let receive = if result_caps > 0 {
            out.push_str(
                "///\n/// Capabilities in the reply land in `receive` and the slots after it.\n",
            );
            ", receive: abi::CPtr"
        } else {
            ""
        };
        let ret = if m.oneway {
            "()".to_owned()
        } else {
            result_type(model, p, m)
        };
        let _ = writeln!(
            out,
            "pub fn {}(&self{receive}{}) -> Result<{ret}, {error}> {{",
            m.name,
            arg_list(model, m)
        );
        let needs_mut = has_words(&m.args) || cap_count(&m.args) > 0;
        let _ = writeln!(
            out,
            "let {}wire_message = proto::Outgoing::new(label::{});\nlet wire_out = &{}wire_message;",
            if needs_mut { "mut " } else { "" },
            m.const_name(),
            if needs_mut { "mut " } else { "" }
        );
        for a in &m.args {
            out.push_str(&encode(&a.ty, &a.name, Role::Arg, bitfields));
            out.push('\n');
        }
        push_caps(out, &m.args);
        if m.oneway {
            out.push_str("proto::send(self.endpoint, &self.buffer, wire_out)?;\nOk(())\n}\n");
            continue;
        }
        let _ = writeln!(
            out,
            "let mut wire_in = proto::Incoming::new(0, 0);\nproto::call_into(self.endpoint, &self.buffer, wire_out, {}, &mut wire_in)?;\nif wire_in.label() != 0 {{\nreturn Err({error}::from_code(wire_in.label()));\n}}",
            if result_caps > 0 {
                "Some(receive)"
            } else {
                "None"
            }
        );
        if result_caps == 0 {
            out.push_str(
                "if !wire_in.caps().is_empty() {\nreturn Err(proto::Malformed.into());\n}\n",
            );
        } else {
            let _ = writeln!(
                out,
                "if wire_in.caps().len() > {result_caps} {{\nreturn Err(proto::Malformed.into());\n}}"
            );
        }
        let _ = writeln!(
            out,
            "let {}wire_d = wire_in.decoder();",
            if has_words(&m.results) { "mut " } else { "" }
        );
        let mut cap_index = 0usize;
        for r in &m.results {
            match &r.ty {
                ProtoType::Cap(cap) => {
                    if cap.optional {
                        let _ = writeln!(out, "let {} = wire_in.cap_slot({cap_index});", r.name);
                    } else {
                        let _ = writeln!(
                            out,
                            "let {} = wire_in.cap_slot({cap_index}).ok_or(proto::Malformed)?;",
                            r.name
                        );
                    }
                    cap_index += 1;
                }
                ty => {
                    out.push_str(&decode(ty, &r.name, Role::Result, bitfields));
                    out.push('\n');
                }
            }
        }
        out.push_str("wire_d.finish()?;\n");
        match m.results.as_slice() {
            [] => out.push_str("Ok(())\n"),
            [one] => {
                let _ = writeln!(out, "Ok({})", one.name);
            }
            many => {
                let fields: Vec<&str> = many.iter().map(|r| r.name.as_str()).collect();
                let _ = writeln!(
                    out,
                    "Ok({} {{ {} }})",
                    reply_struct(p, m),
                    fields.join(", ")
                );
            }
        }
        out.push_str("}\n");
    }
    out.push_str("}\n");
}

/// Statements appending the capabilities of `params` (named by their parameters) to `wire_out`.
fn push_caps(out: &mut String, params: &[ProtoParam]) {
    let mut optional = Vec::new();
    for param in params {
        if let ProtoType::Cap(cap) = &param.ty {
            if cap.optional {
                optional.push(param.name.as_str());
            } else {
                let _ = writeln!(out, "wire_out.cap({});", param.name);
            }
        }
    }
    if !optional.is_empty() {
        let _ = writeln!(out, "wire_out.optional_caps(&[{}])?;", optional.join(", "));
    }
}

#[allow(clippy::too_many_arguments)]
fn render_server(
    out: &mut String,
    model: &Model,
    p: &Protocol,
    server: &str,
    error: &str,
    rules: &ProtocolRules,
    bitfields: &[Bitfield],
) {
    let _ = writeln!(
        out,
        "/// A server of the {} protocol: one method per message. `dispatch` and `serve` decode each message, check its length, values and capabilities, call the method and encode its result; a malformed or unknown message is answered with an error without calling anything.\npub trait {server} {{",
        p.name
    );
    for m in &p.messages {
        out.push_str(&doc(&m.doc));
        if m.oneway {
            let _ = writeln!(
                out,
                "fn {}(&mut self, request: &proto::Request{});",
                m.name,
                arg_list(model, m)
            );
        } else {
            let _ = writeln!(
                out,
                "fn {}(&mut self, request: &proto::Request{}) -> Result<{}, {error}>;",
                m.name,
                arg_list(model, m),
                result_type(model, p, m)
            );
        }
    }
    out.push_str("}\n");
    // dispatch
    let _ = writeln!(
        out,
        "/// Handles one received message of this protocol (the handshake included): `None` when its label lies outside the protocol's block (so that several protocols can share an endpoint), else the reply to send (`proto::Reply::None` for a oneway message).\npub fn dispatch<S: {server}>(server: &mut S, incoming: &proto::Incoming) -> Option<proto::Reply> {{\nlet mut wire_out = proto::Outgoing::new(0);\nSome(match dispatch_into(server, incoming, &mut wire_out)? {{\nproto::Answer::Send => proto::Reply::Message(wire_out),\nproto::Answer::Silent => proto::Reply::None,\n}})\n}}\n/// [`dispatch`] writing the reply into `wire_out` in place (what the serve loops use: a message is a kilobyte, and returning one copies it): `None` outside the block, else whether to send it.\npub fn dispatch_into<S: {server}>(server: &mut S, incoming: &proto::Incoming, wire_out: &mut proto::Outgoing) -> Option<proto::Answer> {{\nlet wire_label = incoming.label();\nif !(LABEL_BASE..LABEL_BASE + LABEL_SIZE).contains(&wire_label) {{\nreturn None;\n}}\nwire_out.reset(0);\nlet wire_reply = match wire_label {{\nlabel::HANDSHAKE => handshake(incoming, wire_out),"
    );
    for m in &p.messages {
        if m.oneway {
            let _ = writeln!(
                out,
                "label::{} => {{\n// A oneway message has no reply, not even an error.\nlet _ = handle_{}(server, incoming);\nreturn Some(proto::Answer::Silent);\n}}",
                m.const_name(),
                m.name
            );
        } else {
            let _ = writeln!(
                out,
                "label::{} => handle_{}(server, incoming, wire_out),",
                m.const_name(),
                m.name
            );
        }
    }
    let _ = writeln!(
        out,
        "_ => Err({error}::Shared(abi::Error::{})),\n}};\nif let Err(error) = wire_reply {{\nwire_out.reset(error.code());\n}}\nSome(proto::Answer::Send)\n}}",
        rules.unknown_label
    );
    // serve
    let _ = writeln!(
        out,
        "/// Serves `config.endpoint` forever with `server` ([`proto::serve_loop`] over [`dispatch`]); labels of no message of this protocol are answered `{}`.\npub fn serve<S: {server}>(server: &mut S, config: &proto::ServeConfig) -> ! {{\nproto::serve_loop_into(config, |incoming, wire_out| {{\ndispatch_into(server, incoming, wire_out).unwrap_or_else(|| {{\nwire_out.reset(abi::Error::{}.code());\nproto::Answer::Send\n}})\n}})\n}}",
        rules.unknown_label, rules.unknown_label
    );
    // handshake
    let _ = writeln!(
        out,
        "/// Answers the handshake: refused when the client's major differs, or when its minor is this one and its fingerprint is not.\nfn handshake(incoming: &proto::Incoming, wire_out: &mut proto::Outgoing) -> Result<(), {error}> {{\nif !incoming.caps().is_empty() {{\nreturn Err(proto::Malformed.into());\n}}\nlet mut wire_d = incoming.decoder();\nlet major = wire_d.u64()?;\nlet minor = wire_d.u64()?;\nlet fingerprint = wire_d.u64()?;\nwire_d.finish()?;\nif major != u64::from(VERSION_MAJOR) || (minor == u64::from(VERSION_MINOR) && fingerprint != FINGERPRINT) {{\nreturn Err({error}::Shared(abi::Error::{}));\n}}\nwire_out.word(u64::from(VERSION_MAJOR));\nwire_out.word(u64::from(VERSION_MINOR));\nwire_out.word(FINGERPRINT);\nOk(())\n}}",
        rules.version_mismatch
    );
    for m in &p.messages {
        render_handler(out, p, m, server, error, rules, bitfields);
    }
}

#[allow(clippy::too_many_arguments)]
fn render_handler(
    out: &mut String,
    p: &Protocol,
    m: &Message,
    server: &str,
    error: &str,
    rules: &ProtocolRules,
    bitfields: &[Bitfield],
) {
    let out_param = if m.oneway {
        ""
    } else if m.results.is_empty() {
        // Nothing to encode: the caller's emptied message is the reply.
        ", _wire_out: &mut proto::Outgoing"
    } else {
        ", wire_out: &mut proto::Outgoing"
    };
    let _ = writeln!(
        out,
        "/// Decodes and checks `{}`, calls the server, encodes its result (into `wire_out`, emptied by the caller).\nfn handle_{}<S: {server}>(server: &mut S, incoming: &proto::Incoming{out_param}) -> Result<(), {error}> {{",
        m.name, m.name
    );
    let caps = cap_count(&m.args);
    if caps == 0 {
        out.push_str("if !incoming.caps().is_empty() {\nreturn Err(proto::Malformed.into());\n}\n");
    } else {
        let _ = writeln!(
            out,
            "if incoming.caps().len() > {caps} {{\nreturn Err(proto::Malformed.into());\n}}"
        );
    }
    let _ = writeln!(
        out,
        "let {}wire_d = incoming.decoder();",
        if has_words(&m.args) { "mut " } else { "" }
    );
    for a in &m.args {
        if a.ty.cap().is_none() {
            out.push_str(&decode(&a.ty, &a.name, Role::Arg, bitfields));
            out.push('\n');
        }
    }
    out.push_str("wire_d.finish()?;\n");
    let mut index = 0usize;
    for a in &m.args {
        if let ProtoType::Cap(cap) = &a.ty {
            let object = cap.object.as_ref().map_or_else(
                || "None".to_owned(),
                |o| format!("Some(abi::ObjectType::{o})"),
            );
            let _ = writeln!(
                out,
                "let {} = incoming.{}({index}, {object}, {})?;",
                a.name,
                if cap.optional { "optional_cap" } else { "cap" },
                rights_expr(&cap.rights)
            );
            index += 1;
        }
    }
    let call_args: String = m.args.iter().map(|a| format!(", {}", a.name)).collect();
    if m.oneway {
        let _ = writeln!(
            out,
            "server.{}(&incoming.request(){call_args});\nOk(())\n}}",
            m.name
        );
        return;
    }
    let _ = writeln!(
        out,
        "let wire_result = server.{}(&incoming.request(){call_args});",
        m.name
    );
    // The errors the method may return: its own and the implied ones.
    let mut shared: Vec<String> = Vec::new();
    let mut own: Vec<String> = Vec::new();
    for name in m
        .errors
        .iter()
        .map(String::as_str)
        .chain(rules.implied().iter().map(|(_, n)| *n))
    {
        if p.error(name).is_some() {
            if !own.iter().any(|o| o == name) {
                own.push(name.to_owned());
            }
        } else if !shared.iter().any(|s| s == name) {
            shared.push(name.to_owned());
        }
    }
    let mut patterns: Vec<String> = Vec::new();
    if !shared.is_empty() {
        let list: Vec<String> = shared.iter().map(|s| format!("abi::Error::{s}")).collect();
        patterns.push(format!("{error}::Shared({})", list.join(" | ")));
    }
    patterns.extend(own.iter().map(|o| format!("{error}::{o}")));
    let _ = writeln!(
        out,
        "if let Err(error) = &wire_result && !matches!(error, {}) {{\nproto::drift(\"{}\", \"{}\", error.name());\n}}",
        patterns.join(" | "),
        p.name,
        m.name
    );
    match m.results.as_slice() {
        [] => out.push_str("wire_result?;\n"),
        [one] => {
            let _ = writeln!(out, "let {} = wire_result?;", one.name);
        }
        many => {
            let fields: Vec<&str> = many.iter().map(|r| r.name.as_str()).collect();
            let _ = writeln!(
                out,
                "let {} {{ {} }} = wire_result?;",
                reply_struct(p, m),
                fields.join(", ")
            );
        }
    }
    for r in &m.results {
        out.push_str(&encode(&r.ty, &r.name, Role::Result, bitfields));
        out.push('\n');
    }
    push_caps(out, &m.results);
    out.push_str("Ok(())\n}\n");
}

/// The word layout of a parameter list, as the C header and docs/protocols.md state it:
/// `word 0: pid (u64); caps: target (cap<Notification write>)`.
pub(super) fn layout(params: &[ProtoParam]) -> String {
    let mut parts = Vec::new();
    let mut word = 0u64;
    let mut variable = false;
    for p in params {
        if p.ty.cap().is_some() {
            continue;
        }
        let at = if variable {
            "then".to_owned()
        } else if p.ty.max_words() == 1 {
            format!("word {word}")
        } else {
            format!("words {word}..")
        };
        let words = match &p.ty {
            ProtoType::Bytes { max } | ProtoType::String { max } => {
                variable = true;
                format!("1 length word, then up to {} packed", words_for_bytes(*max))
            }
            ProtoType::Array { count } => format!("{} packed", words_for_bytes(*count)),
            ProtoType::Struct { words, .. } => format!("{words} of its bytes"),
            _ => String::new(),
        };
        let detail = if words.is_empty() {
            p.ty.describe()
        } else {
            format!("{}, {words}", p.ty.describe())
        };
        parts.push(format!("{at}: {} ({detail})", p.name));
        word += p.ty.max_words();
    }
    let caps: Vec<String> = params
        .iter()
        .filter(|p| p.ty.cap().is_some())
        .enumerate()
        .map(|(i, p)| format!("cap {i}: {} ({})", p.name, p.ty.describe()))
        .collect();
    parts.extend(caps);
    if parts.is_empty() {
        "no words".to_owned()
    } else {
        parts.join("; ")
    }
}

/// Renders `docs/protocols.md`: per protocol its version, block and errors, and per
/// message its label, word layout, errors and doc.
pub fn render_markdown(model: &Model) -> String {
    let mut out = format!("<!-- {} -->\n", super::GENERATED_HEADER);
    out.push_str("# Server protocols\n\n");
    out.push_str(
        "What userland servers and their clients say to each other over endpoints, generated \
from the `[[protocol]]` and `[[message]]` entries of `schema.toml` (edit the schema and run \
`cargo xtask gen`, never this file). Each protocol is versioned on its own, apart from the \
kernel ABI ([abi.md](abi.md)); `trona::protocols` has its typed client, server trait, \
`dispatch` and `serve`.\n\n",
    );
    out.push_str("## Wire format\n\n");
    out.push_str(
        "Every value is a sequence of 64-bit message words: integers, `bool`, `ObjectType`, \
flag sets and bitfields one word each (zero-extended; out-of-range values, unknown bits and \
reserved bits are malformed); a structure `ceil(size_of / 8)` words of its `repr(C)` bytes, \
little-endian, the tail zero; `u8[N]` `ceil(N / 8)` words of packed bytes; `bytes<M>` and \
`string<M>` one length word L (at most M), then `ceil(L / 8)` words of packed bytes (the tail \
zero; a string is UTF-8). Capabilities are not words: the i-th capability parameter is \
capability i of the message, optional ones last and present as a prefix. Values follow in \
declaration order; a message longer or shorter than its values is malformed.\n\n\
A request's label is the message's label. A reply's label is 0 for success (its words the \
results, its capabilities the capability results) or the error code, with no words. The \
first label of a block is the handshake of `connect`: request and reply words `[major, \
minor, fingerprint]`; the server refuses a client of another major version, or of its own \
version with another fingerprint.\n\n",
    );
    if let Some(rules) = &model.protocol_rules {
        out.push_str("The generated server answers these errors itself, for every message:\n\n");
        out.push_str("| Case | Error |\n|---|---|\n");
        for (key, name) in rules.implied() {
            let _ = writeln!(out, "| {} | `{name}` |", key.replace('_', " "));
        }
        let _ = writeln!(
            out,
            "\nProtocol-specific error codes are at or above `{:#x}`; shared codes stay below.\n",
            rules.error_base
        );
    }
    for p in &model.protocols {
        let _ = writeln!(out, "## {}\n\n{}\n", p.name, p.doc);
        let _ = writeln!(
            out,
            "Version {}.{}; labels `{:#x}..={:#x}` (handshake `{:#x}`); fingerprint `{:#018x}`; capabilities {}.\n",
            p.version_major,
            p.version_minor,
            p.label_base,
            p.label_last(),
            p.label_base,
            protocol_fingerprint(p),
            if p.grant {
                "travel (client endpoints carry grant)"
            } else {
                "never travel (`grant = false`)"
            }
        );
        if !p.errors.is_empty() {
            out.push_str("| Error | Code | Meaning |\n|---|---|---|\n");
            for e in &p.errors {
                let _ = writeln!(out, "| `{}` | `{:#x}` | {} |", e.name, e.code, e.doc);
            }
            out.push('\n');
        }
        for m in &p.messages {
            let _ = writeln!(
                out,
                "### {}.{} (`{:#x}`{})\n\n{}\n",
                p.name,
                m.name,
                m.label,
                if m.oneway { ", oneway" } else { "" },
                m.doc
            );
            let _ = writeln!(out, "- request: {}", layout(&m.args));
            for a in &m.args {
                let _ = writeln!(out, "  - `{}`: {}", a.name, a.doc);
            }
            if m.oneway {
                out.push_str("- no reply\n");
            } else {
                let _ = writeln!(out, "- reply: {}", layout(&m.results));
                for r in &m.results {
                    let _ = writeln!(out, "  - `{}`: {}", r.name, r.doc);
                }
                if m.errors.is_empty() {
                    out.push_str("- errors: the implied ones\n");
                } else {
                    let list: Vec<String> = m.errors.iter().map(|e| format!("`{e}`")).collect();
                    let _ = writeln!(out, "- errors: {}, and the implied ones", list.join(", "));
                }
            }
            out.push('\n');
        }
        if !p.retired.is_empty() {
            out.push_str("Retired labels (never reused):\n\n");
            for r in &p.retired {
                let _ = writeln!(out, "- `{:#x}`: {}", r.label, r.reason);
            }
            out.push('\n');
        }
    }
    if !model.retired_protocols.is_empty() {
        out.push_str("## Retired protocols\n\nTheir names and blocks are never reused.\n\n");
        for r in &model.retired_protocols {
            let _ = writeln!(
                out,
                "- {} (`{:#x}..={:#x}`): {}",
                r.name,
                r.label_base,
                r.label_base + r.label_size - 1,
                r.reason
            );
        }
        out.push('\n');
    }
    while out.ends_with("\n\n") {
        out.pop();
    }
    out
}
