//! Renders the non-Rust outputs from askama templates: the per-CPU assembly equates, the C header and docs/abi.md.

use askama::Template;

use super::GENERATED_HEADER;
use crate::fingerprint::fingerprint;
use crate::model::{Arch, EntryError, IntType, IpcFlow, Model, Param, PerCpu};
use crate::names::{screaming_case, snake_case};
use crate::validate::RIGHTS_FLAG_SET;

#[derive(Template)]
#[template(path = "percpu.S", escape = "none")]
struct PercpuAsm<'a> {
    header: &'a str,
    arch: &'a str,
    fields: Vec<(String, u64)>,
    size: u64,
}

/// Renders `percpu.S`: one `.equ` per `asm` field, and the block size.
pub fn render_percpu_asm(percpu: &PerCpu) -> String {
    let fields = percpu
        .fields
        .iter()
        .filter(|f| f.asm)
        .map(|f| (format!("PERCPU_{}", screaming_case(&f.name)), f.offset))
        .collect();
    finish(
        PercpuAsm {
            header: GENERATED_HEADER,
            arch: &percpu.arch,
            fields,
            size: percpu.size,
        }
        .render(),
    )
}

struct CDefine {
    name: String,
    value: String,
    doc: String,
}

struct CSection {
    title: String,
    defines: Vec<CDefine>,
}

struct CField {
    decl: String,
    doc: String,
}

struct CStruct {
    name: String,
    doc: String,
    fields: Vec<CField>,
    size: u64,
}

#[derive(Template)]
#[template(path = "kernite.h", escape = "none")]
struct CHeader<'a> {
    header: &'a str,
    abi_name: &'a str,
    guard: String,
    prefix: String,
    major: u16,
    minor: u16,
    fingerprint: String,
    sections: Vec<CSection>,
    structs: Vec<CStruct>,
    lower: String,
    arg_count: usize,
    traps: Vec<CTrap>,
    /// Inline pack and unpack functions of the bitfields, as C text.
    helpers: Vec<String>,
}

/// The inline trap function of one architecture, as GCC/Clang extended assembly.
struct CTrap {
    arch: String,
    condition: String,
    instruction: String,
    declarations: Vec<String>,
    outputs: String,
    inputs: String,
    clobbers: String,
    status: String,
    value: String,
    /// `#define …_MESSAGE_REGISTERS` and the IPC trap function, or empty without IPC.
    ipc: String,
}

/// The preprocessor test for an architecture.
fn c_arch_condition(arch: &str) -> String {
    match arch {
        "x86_64" => "defined(__x86_64__)".to_owned(),
        "aarch64" => "defined(__aarch64__)".to_owned(),
        "riscv64" => "defined(__riscv) && __riscv_xlen == 64".to_owned(),
        other => format!("defined(__{other}__)"),
    }
}

/// Register variables and asm operands for one architecture's trap.
fn c_trap(arch: &Arch) -> CTrap {
    // (register, initial value, is an output)
    let mut registers: Vec<(String, Option<String>, bool)> = Vec::new();
    let mut role = |register: &str, input: Option<String>, output: bool| match registers
        .iter_mut()
        .find(|(r, _, _)| r == register)
    {
        Some((_, i, o)) => {
            if input.is_some() {
                *i = input;
            }
            *o |= output;
        }
        None => registers.push((register.to_owned(), input, output)),
    };
    role(&arch.number_register, Some("number".to_owned()), false);
    for (index, register) in arch.arg_registers.iter().enumerate() {
        role(register, Some(format!("args[{index}]")), false);
    }
    for register in &arch.result_registers {
        role(register, None, true);
    }
    let declarations = registers
        .iter()
        .map(|(register, input, _)| match input {
            Some(value) => {
                format!("register uint64_t r_{register} __asm__(\"{register}\") = {value};")
            }
            None => format!("register uint64_t r_{register} __asm__(\"{register}\");"),
        })
        .collect();
    let outputs: Vec<String> = registers
        .iter()
        .filter(|(_, _, output)| *output)
        .map(|(register, input, _)| {
            let constraint = if input.is_some() { "+r" } else { "=r" };
            format!("\"{constraint}\"(r_{register})")
        })
        .collect();
    let inputs: Vec<String> = registers
        .iter()
        .filter(|(_, input, output)| input.is_some() && !*output)
        .map(|(register, _, _)| format!("\"r\"(r_{register})"))
        .collect();
    let mut clobbers: Vec<String> = arch
        .clobbered_registers
        .iter()
        .map(|r| format!("\"{r}\""))
        .collect();
    clobbers.push("\"memory\"".to_owned());
    CTrap {
        arch: arch.name.clone(),
        condition: c_arch_condition(&arch.name),
        instruction: arch.trap.clone(),
        declarations,
        outputs: outputs.join(", "),
        inputs: inputs.join(", "),
        clobbers: clobbers.join(", "),
        status: format!(
            "r_{}",
            arch.result_registers.first().map_or("", String::as_str)
        ),
        value: format!(
            "r_{}",
            arch.result_registers.get(1).map_or("", String::as_str)
        ),
        ipc: String::new(),
    }
}

/// The IPC trap of one architecture as C text: `MESSAGE_REGISTERS` and `<abi>_ipc_trap`.
fn c_ipc_trap(arch: &Arch, prefix: &str, lower: &str) -> String {
    let Some(ipc) = &arch.ipc else {
        return String::new();
    };
    // (register, initial value, written back to)
    let mut registers: Vec<(String, Option<String>, Option<String>)> = Vec::new();
    let mut role = |register: &str, input: Option<String>, output: Option<String>| match registers
        .iter_mut()
        .find(|(r, _, _)| r == register)
    {
        Some((_, i, o)) => {
            if input.is_some() {
                *i = input;
            }
            if output.is_some() {
                *o = output;
            }
        }
        None => registers.push((register.to_owned(), input, output)),
    };
    role(&arch.number_register, Some("number".to_owned()), None);
    role(
        &ipc.capability,
        Some("*capability".to_owned()),
        Some("*capability".to_owned()),
    );
    role(
        &ipc.info,
        Some("*info".to_owned()),
        Some("*info".to_owned()),
    );
    for (i, register) in ipc.message_registers.iter().enumerate() {
        role(
            register,
            Some(format!("regs[{i}]")),
            Some(format!("regs[{i}]")),
        );
    }
    let status = arch.result_registers.first().cloned().unwrap_or_default();
    role(&status, None, Some(String::new()));
    let mut clobbers: Vec<String> = arch
        .clobbered_registers
        .iter()
        .map(|r| format!("\"{r}\""))
        .collect();
    if let Some(value) = arch.result_registers.get(1)
        && !registers.iter().any(|(r, _, _)| r == value)
    {
        clobbers.push(format!("\"{value}\""));
    }
    clobbers.push("\"memory\"".to_owned());
    let mut text = format!(
        "/** Message registers of an IPC on {name}: message words below this travel in registers. */\n#define {prefix}_MESSAGE_REGISTERS {count}\n\n",
        name = arch.name,
        count = ipc.message_registers.len()
    );
    text.push_str(&format!(
        "/**\n * Traps into the kernel ({} `{}`) with IPC syscall `number`: `*capability` (in: the\n * endpoint; out: the badge), `*info` and `regs` are read and, on success, rewritten with\n * the message received. Returns the status.\n */\n",
        arch.name, arch.trap
    ));
    text.push_str(&format!(
        "static inline uint64_t {lower}_ipc_trap(uint64_t number, uint64_t *capability, uint64_t *info, uint64_t regs[{prefix}_MESSAGE_REGISTERS]) {{\n"
    ));
    for (register, input, _) in &registers {
        match input {
            Some(value) => text.push_str(&format!(
                "    register uint64_t r_{register} __asm__(\"{register}\") = {value};\n"
            )),
            None => text.push_str(&format!(
                "    register uint64_t r_{register} __asm__(\"{register}\");\n"
            )),
        }
    }
    let outputs: Vec<String> = registers
        .iter()
        .filter(|(_, _, output)| output.is_some())
        .map(|(register, input, _)| {
            let constraint = if input.is_some() { "+r" } else { "=r" };
            format!("\"{constraint}\"(r_{register})")
        })
        .collect();
    let inputs: Vec<String> = registers
        .iter()
        .filter(|(_, input, output)| input.is_some() && output.is_none())
        .map(|(register, _, _)| format!("\"r\"(r_{register})"))
        .collect();
    text.push_str(&format!(
        "    __asm__ volatile(\"{}\"\n                     : {}\n                     : {}\n                     : {});\n",
        arch.trap,
        outputs.join(", "),
        inputs.join(", "),
        clobbers.join(", ")
    ));
    for (register, _, output) in &registers {
        if let Some(target) = output
            && !target.is_empty()
        {
            text.push_str(&format!("    {target} = r_{register};\n"));
        }
    }
    text.push_str(&format!("    return r_{status};\n}}\n"));
    text
}

/// The C literal of `value` in `ty`: `UINT64_C(0x7f)`, hex for masks.
fn c_mask(ty: IntType, value: u64) -> String {
    let literal = format!("{value:#x}");
    match ty {
        IntType::U8 => format!("UINT8_C({literal})"),
        IntType::U16 => format!("UINT16_C({literal})"),
        IntType::U32 => format!("UINT32_C({literal})"),
        IntType::U64 => format!("UINT64_C({literal})"),
    }
}

/// The defines and inline functions of one bitfield.
fn c_bitfield(b: &crate::model::Bitfield, prefix: &str, lower: &str) -> (CSection, String) {
    let set = format!("{prefix}_{}", screaming_case(&b.name));
    let function = format!("{lower}_{}", snake_case(&b.name));
    let word = b.word.c_name();
    let mut defines = Vec::new();
    let mut helpers = String::new();
    for f in &b.fields {
        let field = format!("{set}_{}", screaming_case(&f.name));
        let doc = c_doc(&f.doc);
        defines.push(CDefine {
            name: format!("{field}_LSB"),
            value: f.lsb.to_string(),
            doc: format!("The lowest bit of `{}`: {doc}", f.name),
        });
        defines.push(CDefine {
            name: format!("{field}_WIDTH"),
            value: f.width.to_string(),
            doc: format!("The width in bits of `{}`.", f.name),
        });
        defines.push(CDefine {
            name: format!("{field}_MAX"),
            value: c_mask(f.ty, f.max()),
            doc: format!("The largest value of `{}`.", f.name),
        });
        defines.push(CDefine {
            name: format!("{field}_MASK"),
            value: c_mask(b.word, f.mask()),
            doc: format!("The bits of `{}` in place in the word.", f.name),
        });
        let ty = f.ty.c_name();
        helpers.push_str(&format!(
            "/** `{name}` of a {bitfield} word: {doc} */\nstatic inline {ty} {function}_{name}({word} word) {{\n    return ({ty})((word & {field}_MASK) >> {field}_LSB);\n}}\n",
            name = f.name,
            bitfield = b.name,
        ));
        helpers.push_str(&format!(
            "/** The {bitfield} word with `{name}` set to `value` (bits of `value` above `{name}`'s width are dropped). */\nstatic inline {word} {function}_with_{name}({word} word, {ty} value) {{\n    return ({word})((word & ({word})~{field}_MASK) | ((({word})value << {field}_LSB) & {field}_MASK));\n}}\n",
            name = f.name,
            bitfield = b.name,
        ));
    }
    defines.push(CDefine {
        name: format!("{set}_RESERVED"),
        value: c_mask(b.word, b.reserved()),
        doc: "The bits no field covers; a word with any of them set is invalid.".to_owned(),
    });
    (
        CSection {
            title: format!("Bitfield {} ({word}): {}", b.name, c_doc(&b.doc)),
            defines,
        },
        helpers,
    )
}

/// Makes text safe inside a `/** … */` comment.
fn c_doc(doc: &str) -> String {
    doc.replace("*/", "* /")
        .replace("/*", "/ *")
        .replace('\n', " ")
}

fn c_int(ty: IntType, value: u64) -> String {
    let literal = if value < 0x1_0000 {
        value.to_string()
    } else {
        format!("{value:#x}")
    };
    match ty {
        IntType::U8 => format!("UINT8_C({literal})"),
        IntType::U16 => format!("UINT16_C({literal})"),
        IntType::U32 => format!("UINT32_C({literal})"),
        IntType::U64 => format!("UINT64_C({literal})"),
    }
}

/// Renders the C header.
pub fn render_c_header(model: &Model) -> String {
    let prefix = screaming_case(&model.abi.name);
    let lower = snake_case(&model.abi.name);
    let define = |name: String, value: String, doc: &str| CDefine {
        name,
        value,
        doc: c_doc(doc),
    };
    let mut sections = vec![
        CSection {
            title: "Constants.".to_owned(),
            defines: model
                .constants
                .iter()
                .map(|c| define(format!("{prefix}_{}", c.name), c_int(c.ty, c.value), &c.doc))
                .collect(),
        },
        CSection {
            title: "Syscall numbers (the number register).".to_owned(),
            defines: model
                .syscalls
                .iter()
                .map(|s| {
                    define(
                        format!("{prefix}_SYS_{}", s.const_name()),
                        s.number.to_string(),
                        &with_errors(
                            &join_sentences(&s.doc, &super::cap_arg_notes(&s.args)),
                            &model.syscall_errors(s),
                        ),
                    )
                })
                .collect(),
        },
        CSection {
            title: "Object types.".to_owned(),
            defines: model
                .objects
                .iter()
                .map(|o| {
                    define(
                        format!("{prefix}_OBJECT_{}", screaming_case(&o.name)),
                        o.id.to_string(),
                        &o.doc,
                    )
                })
                .collect(),
        },
        CSection {
            title: "Invocation labels (the invoke syscall's label argument).".to_owned(),
            defines: model
                .invocations
                .iter()
                .map(|i| {
                    define(
                        format!("{prefix}_LABEL_{}", i.const_name()),
                        format!("{:#x}", i.label),
                        &with_errors(
                            &join_sentences(&i.doc, &super::cap_arg_notes(&i.args)),
                            &model.invocation_errors(i),
                        ),
                    )
                })
                .collect(),
        },
        CSection {
            title: "Error codes (the status register; 0 is success).".to_owned(),
            defines: model
                .errors
                .iter()
                .map(|e| {
                    define(
                        format!("{prefix}_ERROR_{}", screaming_case(&e.name)),
                        e.code.to_string(),
                        &e.doc,
                    )
                })
                .collect(),
        },
    ];
    for set in &model.flags {
        let set_name = screaming_case(&set.name);
        let mut defines: Vec<CDefine> = set
            .bits
            .iter()
            .map(|b| {
                define(
                    format!("{prefix}_{set_name}_{}", screaming_case(&b.name)),
                    format!("(UINT64_C(1) << {})", b.bit),
                    &b.doc,
                )
            })
            .collect();
        defines.push(define(
            format!("{prefix}_{set_name}_ALL"),
            format!("UINT64_C({:#x})", set.all_bits()),
            "Every defined bit.",
        ));
        sections.push(CSection {
            title: format!("Flag set {}: {}", set.name, c_doc(&set.doc)),
            defines,
        });
    }
    let mut helpers = Vec::new();
    for b in &model.bitfields {
        let (section, text) = c_bitfield(b, &prefix, &lower);
        sections.push(section);
        helpers.push(text);
    }
    if let Some(k) = &model.kernel_messages {
        let mut defines = vec![
            define(
                format!("{prefix}_KERNEL_MESSAGE_LABEL_FIRST"),
                format!("{:#x}", k.label_base),
                "The first label of the kernel messages' block.",
            ),
            define(
                format!("{prefix}_KERNEL_MESSAGE_LABEL_LAST"),
                format!("{:#x}", k.label_last()),
                "The last label of the kernel messages' block.",
            ),
        ];
        for m in &k.messages {
            let name = format!("{prefix}_KERNEL_MESSAGE_{}", m.const_name());
            let kind = if m.fault { "Fault message" } else { "Message" };
            defines.push(define(
                name.clone(),
                format!("{:#x}", m.label),
                &format!("{kind} {}: {}", m.name, m.doc),
            ));
            defines.push(define(
                format!("{name}_LENGTH"),
                m.fields.len().to_string(),
                &format!("The message words of {}.", m.name),
            ));
            for (i, f) in m.fields.iter().enumerate() {
                defines.push(define(
                    format!("{name}_WORD_{}", screaming_case(&f.name)),
                    i.to_string(),
                    &format!("The index of the word `{}`: {}", f.name, f.doc),
                ));
            }
        }
        sections.push(CSection {
            title: format!(
                "Kernel messages (labels of the MessageInfo word): {}",
                c_doc(&k.doc)
            ),
            defines,
        });
    }
    if let Some(reply) = &model.fault_reply {
        let mut defines = vec![define(
            format!("{prefix}_FAULT_REPLY_LENGTH"),
            reply.fields.len().to_string(),
            "The most words a fault reply carries.",
        )];
        for (i, f) in reply.fields.iter().enumerate() {
            defines.push(define(
                format!("{prefix}_FAULT_REPLY_WORD_{}", screaming_case(&f.name)),
                i.to_string(),
                &format!("The index of the word `{}`: {}", f.name, f.doc),
            ));
        }
        sections.push(CSection {
            title: format!("The fault reply: {}", c_doc(&reply.doc)),
            defines,
        });
    }
    for p in &model.protocols {
        let name = format!("{prefix}_PROTO_{}", screaming_case(&p.name));
        let mut defines = vec![
            define(
                format!("{name}_VERSION_MAJOR"),
                p.version_major.to_string(),
                "The protocol's major version.",
            ),
            define(
                format!("{name}_VERSION_MINOR"),
                p.version_minor.to_string(),
                "The protocol's minor version.",
            ),
            define(
                format!("{name}_FINGERPRINT"),
                format!(
                    "UINT64_C({:#018x})",
                    crate::fingerprint::protocol_fingerprint(p)
                ),
                "The fingerprint of the protocol's wire contract (handshake word 2).",
            ),
            define(
                format!("{name}_LABEL_BASE"),
                format!("{:#x}", p.label_base),
                "The first label of the block: the handshake (request and reply words: major, minor, fingerprint).",
            ),
            define(
                format!("{name}_LABEL_SIZE"),
                format!("{:#x}", p.label_size),
                "The number of labels in the block.",
            ),
        ];
        for e in &p.errors {
            defines.push(define(
                format!("{name}_ERROR_{}", screaming_case(&e.name)),
                format!("{:#x}", e.code),
                &e.doc,
            ));
        }
        for m in &p.messages {
            let reply = if m.oneway {
                "oneway, no reply".to_owned()
            } else {
                format!("reply: {}", super::protocols::layout(&m.results))
            };
            defines.push(define(
                format!("{name}_{}", m.const_name()),
                format!("{:#x}", m.label),
                &format!(
                    "{} Request: {}; {reply}.",
                    m.doc,
                    super::protocols::layout(&m.args)
                ),
            ));
        }
        sections.push(CSection {
            title: format!(
                "Protocol {} {}.{} (label 0 replies success; another reply label is the error code): {}",
                p.name,
                p.version_major,
                p.version_minor,
                c_doc(&p.doc)
            ),
            defines,
        });
    }
    let structs = model
        .structs
        .iter()
        .map(|s| CStruct {
            name: format!("{lower}_{}", snake_case(&s.name)),
            doc: c_doc(&s.doc),
            fields: s
                .fields
                .iter()
                .map(|f| CField {
                    decl: match (&f.count_constant, f.count) {
                        (Some(constant), _) => {
                            format!("{} {}[{prefix}_{constant}]", f.ty.c_name(), f.name)
                        }
                        (None, Some(count)) => format!("{} {}[{count}]", f.ty.c_name(), f.name),
                        (None, None) => format!("{} {}", f.ty.c_name(), f.name),
                    },
                    doc: c_doc(&f.doc),
                })
                .collect(),
            size: s.size,
        })
        .collect();
    finish(
        CHeader {
            header: GENERATED_HEADER,
            abi_name: &model.abi.name,
            guard: format!("{prefix}_ABI_H"),
            prefix,
            major: model.abi.version_major,
            minor: model.abi.version_minor,
            fingerprint: format!("{:#018x}", fingerprint(model)),
            sections,
            structs,
            lower,
            arg_count: model.arg_register_count(),
            traps: model
                .arches
                .iter()
                .map(|a| {
                    let mut trap = c_trap(a);
                    if model.ipc.is_some() {
                        trap.ipc = c_ipc_trap(
                            a,
                            &screaming_case(&model.abi.name),
                            &snake_case(&model.abi.name),
                        );
                    }
                    trap
                })
                .collect(),
            helpers,
        }
        .render(),
    )
}

struct ArchView {
    name: String,
}

struct RegisterRow {
    name: String,
    ty: String,
    registers: Vec<String>,
    doc: String,
}

struct EntryView {
    number: String,
    name: String,
    anchor: String,
    summary: String,
    rights: String,
    title: String,
    doc: String,
    facts: Vec<String>,
    registers: Vec<RegisterRow>,
    returns: String,
}

struct ObjectView {
    id: u64,
    name: String,
    block: String,
    doc: String,
}

struct FlagView {
    name: String,
    doc: String,
    rows: Vec<(u8, String, String)>,
}

struct BitfieldView {
    name: String,
    doc: String,
    word: String,
    reserved: String,
    rows: Vec<(u32, u32, String, String, String)>,
}

struct MessageView {
    title: String,
    doc: String,
    rows: Vec<(usize, String, String)>,
}

struct KernelMessagesView {
    doc: String,
    block: String,
    summary: Vec<(String, String, String, String)>,
    messages: Vec<MessageView>,
    reply: Option<MessageView>,
}

struct LayoutView {
    title: String,
    doc: String,
    size: u64,
    rows: Vec<(u64, String, String, String)>,
}

#[derive(Template)]
#[template(path = "abi.md", escape = "none")]
struct Markdown<'a> {
    header: &'a str,
    abi_name: &'a str,
    major: u16,
    minor: u16,
    fingerprint: String,
    arches: Vec<ArchView>,
    trap_rows: Vec<(String, Vec<String>)>,
    ipc_rows: Vec<(String, Vec<String>)>,
    ipc_info: String,
    invalid_argument: &'a str,
    unknown_syscall: &'a str,
    unknown_label: &'a str,
    insufficient_rights: &'a str,
    unknown_error: &'a str,
    syscalls: Vec<EntryView>,
    objects: Vec<ObjectView>,
    invocations: Vec<EntryView>,
    errors: Vec<(u64, String, String)>,
    constants: Vec<(String, String, String, String)>,
    flags: Vec<FlagView>,
    bitfields: Vec<BitfieldView>,
    kernel_messages: Option<KernelMessagesView>,
    layouts: Vec<LayoutView>,
    retired: Vec<(String, String, String)>,
}

/// `first`, then `second` after a space unless it is empty.
fn join_sentences(first: &str, second: &str) -> String {
    if second.is_empty() {
        first.to_owned()
    } else {
        format!("{first} {second}")
    }
}

/// An entry's doc followed by the names of the errors it can return, for the C header.
fn with_errors(doc: &str, errors: &[EntryError]) -> String {
    if errors.is_empty() {
        return format!("{doc} Errors: none.");
    }
    let names: Vec<&str> = errors.iter().map(|e| e.name.as_str()).collect();
    format!("{doc} Errors: {}.", names.join(", "))
}

/// The `- Errors:` list of an entry: each error with where it comes from and its doc.
fn error_facts(model: &Model, errors: &[EntryError]) -> Vec<String> {
    if errors.is_empty() {
        return vec!["- Errors: none.".to_owned()];
    }
    let mut facts = vec!["- Errors:".to_owned()];
    for e in errors {
        let doc = model
            .errors
            .iter()
            .find(|x| x.name == e.name)
            .map_or("", |x| x.doc.as_str());
        facts.push(format!("  - `{}` ({}): {}", e.name, e.source(), doc));
    }
    facts
}

/// Makes text safe inside a Markdown table cell.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

/// The first sentence of a doc, for summary tables.
fn summary(doc: &str) -> String {
    let first = match doc.find(". ") {
        Some(end) => &doc[..=end],
        None => doc,
    };
    cell(first)
}

/// The anchor GitHub gives a heading.
fn anchor(title: &str) -> String {
    title
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == ' ' || *c == '-' || *c == '_')
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

fn code_list(items: &[&str]) -> String {
    let parts: Vec<String> = items.iter().map(|i| format!("`{i}`")).collect();
    parts.join(", ")
}

fn register_rows(params: &[Param], first: usize, arches: &[Arch]) -> Vec<RegisterRow> {
    params
        .iter()
        .enumerate()
        .map(|(i, p)| RegisterRow {
            name: format!("`{}`", p.name),
            ty: match &p.cap {
                None => format!("`{}`", p.ty.schema_name()),
                Some(cap) => {
                    let object = cap
                        .object
                        .as_ref()
                        .map_or_else(|| "any object".to_owned(), |o| format!("`{o}`"));
                    let rights = if cap.rights.is_empty() {
                        "none".to_owned()
                    } else {
                        let rights: Vec<&str> = cap.rights.iter().map(String::as_str).collect();
                        code_list(&rights)
                    };
                    format!("`{}` ({object}; rights: {rights})", p.ty.schema_name())
                }
            },
            registers: arches
                .iter()
                .map(|a| {
                    a.arg_registers
                        .get(first + i)
                        .map_or_else(String::new, |r| format!("`{r}`"))
                })
                .collect(),
            doc: cell(&p.doc),
        })
        .collect()
}

fn returns(results: &[Param], arches: &[Arch]) -> String {
    let Some(result) = results.first() else {
        return "**Returns** nothing; the value register is 0.".to_owned();
    };
    let registers: Vec<String> = arches
        .iter()
        .map(|a| {
            format!(
                "{} `{}`",
                a.name,
                a.result_registers.get(1).map_or("", String::as_str)
            )
        })
        .collect();
    format!(
        "**Returns** `{}: {}` in the value register ({}): {}",
        result.name,
        result.ty.schema_name(),
        registers.join(", "),
        cell(&result.doc)
    )
}

/// The register table of an IPC syscall: its capability, then the info word and message
/// registers when it sends.
fn ipc_register_rows(model: &Model, s: &crate::model::Syscall, flow: IpcFlow) -> Vec<RegisterRow> {
    let arches = &model.arches;
    let ipc_register = |pick: &dyn Fn(&crate::model::ArchIpc) -> String| -> Vec<String> {
        arches
            .iter()
            .map(|a| a.ipc.as_ref().map_or_else(String::new, pick))
            .collect()
    };
    let mut rows = register_rows(&s.args, 0, arches);
    for row in &mut rows {
        row.registers = ipc_register(&|i| format!("`{}`", i.capability));
    }
    if flow.send {
        let info = model.ipc.as_ref().map_or("", |i| i.info.as_str());
        rows.push(RegisterRow {
            name: "`info`".to_owned(),
            ty: format!("`{info}`"),
            registers: ipc_register(&|i| format!("`{}`", i.info)),
            doc: "The message's info word: label, length and capabilities.".to_owned(),
        });
        rows.push(RegisterRow {
            name: "`regs`".to_owned(),
            ty: "`u64` each".to_owned(),
            registers: ipc_register(&|i| {
                let regs: Vec<&str> = i.message_registers.iter().map(String::as_str).collect();
                code_list(&regs)
            }),
            doc: "The first message words; the others are in the IPC buffer.".to_owned(),
        });
    }
    rows
}

/// The rows of the IPC register table (empty without IPC).
fn ipc_rows(model: &Model) -> Vec<(String, Vec<String>)> {
    if model.ipc.is_none() {
        return Vec::new();
    }
    let arches = &model.arches;
    let column = |pick: &dyn Fn(&Arch, &crate::model::ArchIpc) -> String| -> Vec<String> {
        arches
            .iter()
            .map(|a| a.ipc.as_ref().map_or_else(String::new, |i| pick(a, i)))
            .collect()
    };
    let mut rows = vec![
        (
            "syscall number".to_owned(),
            column(&|a, _| format!("`{}`", a.number_register)),
        ),
        (
            "status (out)".to_owned(),
            column(&|a, _| {
                format!(
                    "`{}`",
                    a.result_registers.first().map_or("", String::as_str)
                )
            }),
        ),
        (
            "capability (in) / badge (out)".to_owned(),
            column(&|_, i| format!("`{}`", i.capability)),
        ),
        (
            "info word (in and out)".to_owned(),
            column(&|_, i| format!("`{}`", i.info)),
        ),
    ];
    let most = arches
        .iter()
        .filter_map(|a| a.ipc.as_ref().map(|i| i.message_registers.len()))
        .max()
        .unwrap_or(0);
    for index in 0..most {
        rows.push((
            format!("message word {index}"),
            column(&|_, i| {
                i.message_registers
                    .get(index)
                    .map_or_else(|| "(IPC buffer)".to_owned(), |r| format!("`{r}`"))
            }),
        ));
    }
    rows.push((
        "message registers (`MESSAGE_REGISTERS`)".to_owned(),
        column(&|_, i| i.message_registers.len().to_string()),
    ));
    rows
}

/// The kernel messages section of docs/abi.md, if the schema has kernel messages or a fault reply.
fn kernel_messages_view(model: &Model) -> Option<KernelMessagesView> {
    if model.kernel_messages.is_none() && model.fault_reply.is_none() {
        return None;
    }
    let words = |fields: &[crate::model::MessageField]| -> Vec<(usize, String, String)> {
        fields
            .iter()
            .enumerate()
            .map(|(i, f)| (i, f.name.clone(), cell(&f.doc)))
            .collect()
    };
    let messages = model
        .kernel_messages
        .as_ref()
        .map_or(&[][..], |k| k.messages.as_slice());
    Some(KernelMessagesView {
        doc: model
            .kernel_messages
            .as_ref()
            .map_or_else(String::new, |k| k.doc.clone()),
        block: model
            .kernel_messages
            .as_ref()
            .map_or_else(String::new, |k| {
                format!("{:#x}–{:#x}", k.label_base, k.label_last())
            }),
        summary: messages
            .iter()
            .map(|m| {
                (
                    format!("{:#x}", m.label),
                    m.name.clone(),
                    if m.fault { "yes" } else { "no" }.to_owned(),
                    summary(&m.doc),
                )
            })
            .collect(),
        messages: messages
            .iter()
            .map(|m| MessageView {
                title: format!("`{}` — label {:#x}", m.name, m.label),
                doc: format!(
                    "{} {} word{} (`abi::kernel_message::{}`, label `{}`){}.",
                    m.doc,
                    m.fields.len(),
                    if m.fields.len() == 1 { "" } else { "s" },
                    m.name,
                    m.const_name(),
                    if m.fault { "; a `Fault`" } else { "" }
                ),
                rows: words(&m.fields),
            })
            .collect(),
        reply: model.fault_reply.as_ref().map(|r| MessageView {
            title: "The fault reply".to_owned(),
            doc: format!(
                "{} Words, in message order (`abi::kernel_message::FaultReply`):",
                r.doc
            ),
            rows: words(&r.fields),
        }),
    })
}

/// What an IPC syscall returns.
fn ipc_returns(model: &Model, flow: IpcFlow) -> String {
    let status: Vec<String> = model
        .arches
        .iter()
        .map(|a| {
            format!(
                "{} `{}`",
                a.name,
                a.result_registers.first().map_or("", String::as_str)
            )
        })
        .collect();
    if flow.receive {
        format!(
            "**Returns** the status ({}) and, on success, the message received: its badge in the capability register, its info word and its first words in the [IPC registers](#ipc-registers) (`abi::Received`).",
            status.join(", ")
        )
    } else {
        format!(
            "**Returns** only the status ({}); the other IPC registers keep their values.",
            status.join(", ")
        )
    }
}

/// Renders docs/abi.md.
pub fn render_markdown(model: &Model) -> String {
    let arches = &model.arches;
    let d = &model.dispatch;
    let mut trap_rows = vec![
        (
            "trap instruction".to_owned(),
            arches.iter().map(|a| format!("`{}`", a.trap)).collect(),
        ),
        (
            "syscall number".to_owned(),
            arches
                .iter()
                .map(|a| format!("`{}`", a.number_register))
                .collect(),
        ),
    ];
    for i in 0..model.arg_register_count() {
        trap_rows.push((
            format!("argument {i}"),
            arches
                .iter()
                .map(|a| {
                    a.arg_registers
                        .get(i)
                        .map_or_else(String::new, |r| format!("`{r}`"))
                })
                .collect(),
        ));
    }
    let names = ["status result", "value result"];
    for (i, name) in names.iter().enumerate() {
        trap_rows.push((
            (*name).to_owned(),
            arches
                .iter()
                .map(|a| {
                    a.result_registers
                        .get(i)
                        .map_or_else(String::new, |r| format!("`{r}`"))
                })
                .collect(),
        ));
    }
    trap_rows.push((
        "clobbered".to_owned(),
        arches
            .iter()
            .map(|a| {
                if a.clobbered_registers.is_empty() {
                    "none".to_owned()
                } else {
                    let regs: Vec<&str> =
                        a.clobbered_registers.iter().map(String::as_str).collect();
                    code_list(&regs)
                }
            })
            .collect(),
    ));

    let syscalls = model
        .syscalls
        .iter()
        .map(|s| {
            let title = format!("`{}` — syscall {}", s.name, s.number);
            let mut facts = vec![format!(
                "- Number: {} (`abi::sys::{}`).",
                s.number,
                s.const_name()
            )];
            if s.kind == crate::model::SyscallKind::Invoke {
                facts.push(
                    "- This is the invoke path; see [invocations](#object-types-and-invocations)."
                        .to_owned(),
                );
            }
            facts.extend(error_facts(model, &model.syscall_errors(s)));
            if s.kind == crate::model::SyscallKind::Invoke {
                facts.push("  - and each invocation's own errors.".to_owned());
            }
            let (registers, returns) = match s.kind.ipc() {
                Some(flow) => {
                    facts.insert(
                        1,
                        format!(
                            "- IPC ({}): the operands travel in the [IPC registers](#ipc-registers).",
                            flow.describe()
                        ),
                    );
                    (ipc_register_rows(model, s, flow), ipc_returns(model, flow))
                }
                None => (
                    register_rows(&s.args, 0, arches),
                    returns(&s.results, arches),
                ),
            };
            EntryView {
                number: s.number.to_string(),
                name: s.name.clone(),
                anchor: anchor(&title),
                summary: summary(&s.doc),
                rights: String::new(),
                doc: s.doc.clone(),
                title,
                facts,
                registers,
                returns,
            }
        })
        .collect();

    let invoke = model.invoke_syscall();
    let own_args = invoke.map_or(0, |s| s.args.len());
    let invocations = model
        .invocations
        .iter()
        .map(|i| {
            let title = format!("`{}` — label {:#x}", i.display_name(), i.label);
            let rights = if i.rights.is_empty() {
                "none".to_owned()
            } else {
                let rights: Vec<&str> = i.rights.iter().map(String::as_str).collect();
                code_list(&rights)
            };
            let mut facts = vec![
                format!(
                    "- Object type `{}`, label {:#x} (`abi::label::{}`); trona: `{}`.",
                    i.object,
                    i.label,
                    i.const_name(),
                    i.fn_name()
                ),
                format!("- Rights the capability needs: {rights}."),
            ];
            facts.extend(error_facts(model, &model.invocation_errors(i)));
            let mut registers = Vec::new();
            if let Some(invoke) = invoke {
                registers = register_rows(&invoke.args, 0, arches);
                if let Some(label_row) = registers.get_mut(1) {
                    label_row.doc = format!("`{:#x}`", i.label);
                }
                if let Some(cap_row) = registers.get_mut(0) {
                    cap_row.doc = format!("The invoked `{}` capability.", i.object);
                }
            }
            registers.extend(register_rows(&i.args, own_args, arches));
            EntryView {
                number: format!("{:#x}", i.label),
                name: i.display_name(),
                anchor: anchor(&title),
                summary: summary(&i.doc),
                rights,
                doc: i.doc.clone(),
                title,
                facts,
                registers,
                returns: returns(&i.results, arches),
            }
        })
        .collect();

    let objects = model
        .objects
        .iter()
        .map(|o| ObjectView {
            id: o.id,
            name: o.name.clone(),
            block: format!("{:#x}–{:#x}", o.label_base, o.label_last()),
            doc: cell(&o.doc),
        })
        .collect();
    let errors = model
        .errors
        .iter()
        .map(|e| (e.code, e.name.clone(), cell(&e.doc)))
        .collect();
    let constants = model
        .constants
        .iter()
        .map(|c| {
            let value = if c.value < 0x1_0000 {
                c.value.to_string()
            } else {
                format!("{:#x}", c.value)
            };
            (c.name.clone(), c.ty.name().to_owned(), value, cell(&c.doc))
        })
        .collect();
    let flags = model
        .flags
        .iter()
        .map(|set| FlagView {
            name: set.name.clone(),
            doc: if set.name == RIGHTS_FLAG_SET {
                format!(
                    "{} Invocations list the bits they need in `rights`.",
                    set.doc
                )
            } else {
                set.doc.clone()
            },
            rows: set
                .bits
                .iter()
                .map(|b| (b.bit, b.name.clone(), cell(&b.doc)))
                .collect(),
        })
        .collect();
    let field_type = |f: &crate::model::Field| match f.count {
        Some(count) => format!("`[{}; {count}]`", f.ty.name()),
        None => format!("`{}`", f.ty.name()),
    };
    let mut layouts: Vec<LayoutView> = model
        .structs
        .iter()
        .map(|s| LayoutView {
            title: format!("Structure `{}`", s.name),
            doc: s.doc.clone(),
            size: s.size,
            rows: s
                .fields
                .iter()
                .map(|f| (f.offset, f.name.clone(), field_type(f), cell(&f.doc)))
                .collect(),
        })
        .collect();
    for percpu in &model.percpu {
        layouts.push(LayoutView {
            title: format!("PerCpuData on {}", percpu.arch),
            doc: "Kernel-internal; listed because the entry assembly depends on it. Fields marked (asm) have a \
                  `PERCPU_*` equate."
                .to_owned(),
            size: percpu.size,
            rows: percpu
                .fields
                .iter()
                .map(|f| {
                    let doc = if f.asm { format!("(asm `PERCPU_{}`) {}", screaming_case(&f.name), f.doc) } else { f.doc.clone() };
                    (f.offset, f.name.clone(), field_type(f), cell(&doc))
                })
                .collect(),
        });
    }
    let retired = model
        .retired
        .iter()
        .map(|r| {
            let number = if r.kind == crate::model::RetiredKind::Label {
                format!("{:#x}", r.number)
            } else {
                r.number.to_string()
            };
            (r.kind.key().to_owned(), number, cell(&r.reason))
        })
        .collect();
    finish(
        Markdown {
            header: GENERATED_HEADER,
            abi_name: &model.abi.name,
            major: model.abi.version_major,
            minor: model.abi.version_minor,
            fingerprint: format!("{:#018x}", fingerprint(model)),
            arches: arches
                .iter()
                .map(|a| ArchView {
                    name: a.name.clone(),
                })
                .collect(),
            trap_rows,
            ipc_rows: ipc_rows(model),
            ipc_info: model
                .ipc
                .as_ref()
                .map_or_else(String::new, |i| i.info.clone()),
            invalid_argument: &d.invalid_argument,
            unknown_syscall: &d.unknown_syscall,
            unknown_label: &d.unknown_label,
            insufficient_rights: &d.insufficient_rights,
            unknown_error: &d.unknown_error,
            syscalls,
            objects,
            invocations,
            errors,
            constants,
            flags,
            bitfields: model
                .bitfields
                .iter()
                .map(|b| BitfieldView {
                    name: b.name.clone(),
                    doc: b.doc.clone(),
                    word: b.word.name().to_owned(),
                    reserved: format!("{:#x}", b.reserved()),
                    rows: b
                        .fields
                        .iter()
                        .map(|f| {
                            (
                                f.lsb,
                                f.width,
                                f.name.clone(),
                                f.ty.name().to_owned(),
                                cell(&f.doc),
                            )
                        })
                        .collect(),
                })
                .collect(),
            kernel_messages: kernel_messages_view(model),
            layouts,
            retired,
        }
        .render(),
    )
}

/// Normalizes template output: no trailing spaces, no runs of blank lines, one final newline.
fn finish(rendered: Result<String, askama::Error>) -> String {
    let text = match rendered {
        Ok(text) => text,
        Err(error) => panic!("abigen template failed to render: {error}"),
    };
    let mut out = String::with_capacity(text.len());
    let mut blank_run = 0;
    for line in text.lines() {
        let line = line.trim_end();
        if line.is_empty() {
            blank_run += 1;
            if blank_run > 1 || out.is_empty() {
                continue;
            }
        } else {
            blank_run = 0;
        }
        out.push_str(line);
        out.push('\n');
    }
    while out.ends_with("\n\n") {
        out.pop();
    }
    out
}
