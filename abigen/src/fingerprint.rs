//! `ABI_FINGERPRINT`: FNV-1a 64 over a normalized serialization of the model.
//!
//! The serialization covers everything a userland binary depends on (names, numbers,
//! types, trap conventions, layouts of shared structures, the errors each entry declares)
//! and leaves out what it does not: docs, retirement reasons, the order of entries in the file and the kernel-internal
//! per-CPU layout. Comments and whitespace never reach the model, so they cannot change it.

use std::fmt::Write;

use crate::model::{Model, Param, SyscallKind};

const FNV_OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// FNV-1a 64 of `bytes`.
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(FNV_OFFSET_BASIS, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(FNV_PRIME)
    })
}

/// The fingerprint of `model`.
pub fn fingerprint(model: &Model) -> u64 {
    fnv1a64(normalized(model).as_bytes())
}

/// ` errors=A,B` for a declared error list; nothing when it is empty, so that entries
/// without declared errors hash as they did before the key existed.
fn errors(list: &[String]) -> String {
    if list.is_empty() {
        String::new()
    } else {
        format!(" errors={}", list.join(","))
    }
}

fn params(list: &[Param]) -> String {
    let parts: Vec<String> = list
        .iter()
        .map(|p| match &p.cap {
            Some(cap) => format!(
                "{}:{}<{} rights={}>",
                p.name,
                p.ty.schema_name(),
                cap.object_name(),
                cap.rights.join("+")
            ),
            None => format!("{}:{}", p.name, p.ty.schema_name()),
        })
        .collect();
    parts.join(",")
}

/// The normalized text the fingerprint hashes: one sorted line per ABI fact.
pub fn normalized(model: &Model) -> String {
    let mut lines: Vec<String> = Vec::new();
    lines.push(format!(
        "abi {} {}.{}",
        model.abi.name, model.abi.version_major, model.abi.version_minor
    ));
    for a in &model.arches {
        // Without IPC registers the line is what it was before they existed.
        let ipc = a.ipc.as_ref().map_or_else(String::new, |i| {
            format!(
                " ipc={}:{}:{}",
                i.capability,
                i.info,
                i.message_registers.join(",")
            )
        });
        lines.push(format!(
            "arch {} trap={} number={} args={} results={} clobbers={}{ipc}",
            a.name,
            a.trap,
            a.number_register,
            a.arg_registers.join(","),
            a.result_registers.join(","),
            a.clobbered_registers.join(",")
        ));
    }
    if let Some(ipc) = &model.ipc {
        lines.push(format!(
            "ipc info={} buffer={}",
            ipc.info,
            ipc.buffer.as_deref().unwrap_or("")
        ));
    }
    for b in &model.bitfields {
        let mut line = format!("bitfield {} {}", b.name, b.word.name());
        for f in &b.fields {
            let _ = write!(line, " {}:{}@{}+{}", f.name, f.ty.name(), f.lsb, f.width);
        }
        lines.push(line);
    }
    let d = &model.dispatch;
    lines.push(format!(
        "dispatch {} {} {} {} {}",
        d.unknown_syscall,
        d.unknown_label,
        d.invalid_argument,
        d.insufficient_rights,
        d.unknown_error
    ));
    for e in &model.errors {
        lines.push(format!("error {} {}", e.code, e.name));
    }
    for c in &model.constants {
        lines.push(format!("constant {} {} {}", c.name, c.ty.name(), c.value));
    }
    for f in &model.flags {
        let mut line = format!("flags {}", f.name);
        for b in &f.bits {
            let _ = write!(line, " {}={}", b.name, b.bit);
        }
        lines.push(line);
    }
    for s in &model.structs {
        let mut line = format!("struct {} size={}", s.name, s.size);
        for f in &s.fields {
            let _ = write!(line, " {}:{}@{}", f.name, f.ty.name(), f.offset);
            if let Some(count) = f.count {
                let _ = write!(line, "[{count}]");
            }
        }
        lines.push(line);
    }
    for s in &model.syscalls {
        let kind = match s.kind {
            SyscallKind::Plain => "Plain".to_owned(),
            SyscallKind::Invoke => "Invoke".to_owned(),
            SyscallKind::Ipc(flow) => format!("Ipc({})", flow.describe()),
        };
        lines.push(format!(
            "syscall {} {} {kind} ({}) -> ({}){}",
            s.number,
            s.name,
            params(&s.args),
            params(&s.results),
            errors(&s.errors)
        ));
    }
    for o in &model.objects {
        lines.push(format!(
            "object {} {} labels={}+{}",
            o.id, o.name, o.label_base, o.label_size
        ));
    }
    for i in &model.invocations {
        lines.push(format!(
            "invocation {} {}.{} rights={} ({}) -> ({}){}",
            i.label,
            i.object,
            i.name,
            i.rights.join(","),
            params(&i.args),
            params(&i.results),
            errors(&i.errors)
        ));
    }
    if let Some(k) = &model.kernel_messages {
        lines.push(format!(
            "kernel_messages labels={}+{}",
            k.label_base, k.label_size
        ));
        for m in &k.messages {
            let fields: Vec<&str> = m.fields.iter().map(|f| f.name.as_str()).collect();
            lines.push(format!(
                "kernel_message {} {} fault={} ({})",
                m.label,
                m.name,
                m.fault,
                fields.join(",")
            ));
        }
    }
    if let Some(reply) = &model.fault_reply {
        let fields: Vec<&str> = reply.fields.iter().map(|f| f.name.as_str()).collect();
        lines.push(format!("fault_reply ({})", fields.join(",")));
    }
    lines.sort();
    let mut out = lines.join("\n");
    out.push('\n');
    out
}

/// The fingerprint of one protocol: FNV-1a 64 of [`protocol_normalized`]. The generated
/// handshake compares it when client and server claim the same version.
pub fn protocol_fingerprint(protocol: &crate::model::Protocol) -> u64 {
    fnv1a64(protocol_normalized(protocol).as_bytes())
}

/// The normalized text a protocol's fingerprint hashes: its wire contract (name, label
/// block, grant, errors with codes, messages with labels, kinds, typed arguments and
/// results and declared errors), sorted, without docs, versions or retirements.
pub fn protocol_normalized(protocol: &crate::model::Protocol) -> String {
    let params = |list: &[crate::model::ProtoParam]| {
        let parts: Vec<String> = list
            .iter()
            .map(|p| format!("{}:{}", p.name, p.ty.describe()))
            .collect();
        parts.join(",")
    };
    let mut lines = vec![format!(
        "protocol {} block={:#x}+{:#x} grant={}",
        protocol.name, protocol.label_base, protocol.label_size, protocol.grant
    )];
    for e in &protocol.errors {
        lines.push(format!("error {} {:#x}", e.name, e.code));
    }
    for m in &protocol.messages {
        lines.push(format!(
            "message {} {:#x} {} args={} results={}{}",
            m.name,
            m.label,
            if m.oneway { "oneway" } else { "call" },
            params(&m.args),
            params(&m.results),
            errors(&m.errors)
        ));
    }
    lines.sort();
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use super::fnv1a64;

    #[test]
    fn fnv1a64_matches_reference_vectors() {
        let cases: [(&[u8], u64); 3] = [
            (b"", 0xcbf2_9ce4_8422_2325),
            (b"a", 0xaf63_dc4c_8601_ec8c),
            (b"foobar", 0x8594_4171_f739_67e8),
        ];
        for (input, expected) in cases {
            assert_eq!(fnv1a64(input), expected, "{input:?}");
        }
    }
}
