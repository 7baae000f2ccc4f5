//! The compile and cross-check oracle: builds the outputs of many schemas in one scratch workspace and checks that every output carrying numbers (C header, assembly equates, docs tables) agrees with the Rust `abi` crate.
//!
//! Per schema `i` the workspace holds `abi_i` (the generated `abi` crate) and `check_i`, a
//! `no_std` library that type-checks the kernel dispatcher, the per-CPU blocks and trona
//! with warnings denied (built for the host, and checked for aarch64 too), plus a binary
//! that prints every number as the Rust crate has it.
//! A C program compiled (gcc, warnings denied) against the generated header prints the
//! same numbers as C sees them (bitfield constants, and fields packed and unpacked by the
//! header's inline helpers); the per-CPU equates are assembled and read back with `nm`;
//! `docs/abi.md` is parsed. Each must list exactly the values of the Rust binary.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use abigen::Model;

use crate::scratch::run_cargo;
use abigen::names::{screaming_case, snake_case};

const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");

/// One schema to build: a name for messages and its model.
pub struct Case {
    pub name: String,
    pub model: Model,
}

/// `key -> value` as one output states the numbers.
type Values = BTreeMap<String, u64>;

/// Builds every case, then cross-checks each output against the Rust values. Panics with
/// every disagreement found.
pub fn build_and_cross_check(cases: &[Case]) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let scratch = dir.path();
    let members: Vec<String> = (0..cases.len())
        .flat_map(|i| [format!("\"abi_{i}\""), format!("\"check_{i}\"")])
        .collect();
    write(
        scratch,
        "Cargo.toml",
        &format!(
            "[workspace]\nmembers = [{}]\nresolver = \"3\"\n",
            members.join(", ")
        ),
    );
    let abi_lib =
        std::fs::read_to_string(Path::new(ROOT).join("abi/src/lib.rs")).expect("abi/src/lib.rs");
    for (i, case) in cases.iter().enumerate() {
        write_case(scratch, i, case, &abi_lib);
    }
    run_cargo(
        scratch,
        &["build", "--quiet", "--offline", "--workspace"],
        "the generated Rust of some schema does not build",
    );
    // The aarch64 halves (trona's `svc` trap, the aarch64 per-CPU block) only compile
    // there: check the schemas that declare aarch64 for it too.
    let aarch64: Vec<String> = cases
        .iter()
        .enumerate()
        .filter(|(_, case)| case.model.arches.iter().any(|a| a.name == "aarch64"))
        .flat_map(|(i, _)| ["-p".to_owned(), format!("check_{i}")])
        .collect();
    let mut args = vec!["check", "--quiet", "--offline", "--lib"];
    args.extend(aarch64.iter().map(String::as_str));
    args.extend(["--target", "aarch64-unknown-none-softfloat"]);
    run_cargo(
        scratch,
        &args,
        "the generated Rust of some schema does not build for aarch64",
    );
    let mut problems = Vec::new();
    for (i, case) in cases.iter().enumerate() {
        problems.extend(cross_check(scratch, i, case));
    }
    assert!(
        problems.is_empty(),
        "outputs disagree with the Rust abi crate:\n{}",
        problems.join("\n")
    );
}

fn write(root: &Path, relative: &str, contents: &str) {
    let path = root.join(relative);
    std::fs::create_dir_all(path.parent().expect("a parent")).expect("create directories");
    std::fs::write(&path, contents).expect("write a scratch file");
}

/// The library of `check_i`: every generated Rust module but the abi crate, type-checked.
const CHECK_LIB: &str = r#"//! Type-checks the generated modules of one schema.
#![no_std]

#[path = "kernel/src/generated/mod.rs"]
pub mod kernel_generated;
#[path = "trona/src/generated/mod.rs"]
pub mod trona_generated;
"#;

fn write_case(scratch: &Path, i: usize, case: &Case, abi_lib: &str) {
    let abi = format!("abi_{i}");
    let check = format!("check_{i}");
    write(
        scratch,
        &format!("{abi}/Cargo.toml"),
        &format!(
            "[package]\nname = \"{abi}\"\nversion = \"0.0.0\"\nedition = \"2024\"\n\n[dependencies]\nbitflags = \"2\"\n"
        ),
    );
    write(scratch, &format!("{abi}/src/lib.rs"), abi_lib);
    write(
        scratch,
        &format!("{check}/Cargo.toml"),
        &format!(
            "[package]\nname = \"{check}\"\nversion = \"0.0.0\"\nedition = \"2024\"\n\n[dependencies]\nabi = {{ package = \"{abi}\", path = \"../{abi}\" }}\n"
        ),
    );
    let files = abigen::render_all(&case.model);
    let mut lib = CHECK_LIB.to_owned();
    for arch in &case.model.percpu {
        let module = format!("percpu_{}", arch.arch);
        let _ = writeln!(
            lib,
            "#[path = \"kernel/src/arch/{}/generated/percpu.rs\"]\npub mod {module};",
            arch.arch
        );
    }
    // The generated protocols call trona's runtime: its real wire format, a stub transport.
    if files
        .iter()
        .any(|(path, _)| path == "trona/src/generated/protocols.rs")
    {
        lib.push_str("pub mod proto;\n");
        for (path, contents) in crate::scratch::proto_module(include_str!("proto_stub.rs")) {
            write(scratch, &format!("{check}/src/{path}"), &contents);
        }
    }
    write(scratch, &format!("{check}/src/lib.rs"), &lib);
    for (relative, contents) in &files {
        if let Some(rest) = relative.strip_prefix("abi/") {
            write(scratch, &format!("{abi}/{rest}"), contents);
        } else {
            write(scratch, &format!("{check}/src/{relative}"), contents);
        }
    }
    write(
        scratch,
        &format!("{check}/src/main.rs"),
        &rust_printer(&case.model, i),
    );
    write(
        scratch,
        &format!("{check}/values.c"),
        &c_printer(&case.model),
    );
}

/// The word whose fields both sides unpack (truncated to each bitfield's word).
const BIT_PATTERN: u64 = 0xa5c3_5a3c_96e1_7f08;

/// Every key the Rust crate states, with the Rust expression of its value.
fn rust_values(model: &Model) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for s in &model.syscalls {
        out.push((
            format!("sys:{}", s.name),
            format!("abi::sys::{}", s.const_name()),
        ));
    }
    for o in &model.objects {
        out.push((
            format!("object:{}", o.name),
            format!("abi::ObjectType::{}.id()", o.name),
        ));
    }
    for i in &model.invocations {
        out.push((
            format!("label:{}", i.display_name()),
            format!("abi::label::{}", i.const_name()),
        ));
    }
    for e in &model.errors {
        out.push((
            format!("error:{}", e.name),
            format!("abi::Error::{}.code()", e.name),
        ));
    }
    for c in &model.constants {
        out.push((
            format!("const:{}", c.name),
            format!("abi::{} as u64", c.name),
        ));
    }
    for f in &model.flags {
        for b in &f.bits {
            out.push((
                format!("flag:{}.{}", f.name, b.name),
                format!("abi::{}::{}.bits()", f.name, screaming_case(&b.name)),
            ));
        }
        out.push((
            format!("flags_all:{}", f.name),
            format!("abi::{}::ALL.bits()", f.name),
        ));
    }
    for s in &model.structs {
        out.push((
            format!("size:{}", s.name),
            format!("core::mem::size_of::<abi::{}>() as u64", s.name),
        ));
        for field in &s.fields {
            out.push((
                format!("field:{}.{}", s.name, field.name),
                format!(
                    "core::mem::offset_of!(abi::{}, {}) as u64",
                    s.name, field.name
                ),
            ));
        }
    }
    for b in &model.bitfields {
        let ty = format!("abi::{}", b.name);
        for f in &b.fields {
            let upper = screaming_case(&f.name);
            let key = format!("{}.{}", b.name, f.name);
            for (kind, constant) in [
                ("bitfield_lsb", "LSB"),
                ("bitfield_width", "WIDTH"),
                ("bitfield_max", "MAX"),
                ("bitfield_mask", "MASK"),
            ] {
                out.push((
                    format!("{kind}:{key}"),
                    format!("{ty}::{upper}_{constant} as u64"),
                ));
            }
            out.push((
                format!("bitfield_pack:{key}"),
                format!(
                    "{ty}::new().with_{}({ty}::{upper}_MAX).bits() as u64",
                    f.name
                ),
            ));
            out.push((
                format!("bitfield_unpack:{key}"),
                format!(
                    "{ty}::from_bits_truncate({BIT_PATTERN:#x}_u64 as {}).{}() as u64",
                    b.word.name(),
                    f.name
                ),
            ));
        }
        out.push((
            format!("bitfield_reserved:{}", b.name),
            format!("{ty}::RESERVED as u64"),
        ));
    }
    for m in model.kernel_messages.iter().flat_map(|k| &k.messages) {
        out.push((
            format!("kmsg:{}", m.name),
            format!("abi::kernel_message::{}", m.const_name()),
        ));
        out.push((
            format!("kmsg_len:{}", m.name),
            format!("abi::kernel_message::{}::LENGTH as u64", m.name),
        ));
    }
    if model.ipc.is_some()
        && model
            .arches
            .iter()
            .any(|a| a.name == std::env::consts::ARCH)
    {
        out.push((
            "ipc:message_registers".to_owned(),
            "abi::MESSAGE_REGISTERS as u64".to_owned(),
        ));
    }
    for p in &model.percpu {
        let path = format!("check::percpu_{}::PerCpuData", p.arch);
        out.push((
            format!("percpu_size:{}", p.arch),
            format!("core::mem::size_of::<{path}>() as u64"),
        ));
        for field in &p.fields {
            out.push((
                format!("percpu:{}.{}", p.arch, field.name),
                format!("core::mem::offset_of!({path}, {}) as u64", field.name),
            ));
        }
    }
    out
}

fn rust_printer(model: &Model, i: usize) -> String {
    let mut out = String::from(
        "//! Prints every number of the ABI as the Rust crate states it.\n\nfn main() {\n",
    );
    for (key, expression) in rust_values(model) {
        let expression = expression.replace("check::", &format!("check_{i}::"));
        let _ = writeln!(out, "    println!(\"{key}={{}}\", {expression});");
    }
    out.push_str("}\n");
    out
}

fn c_printer(model: &Model) -> String {
    let prefix = screaming_case(&model.abi.name);
    let lower = snake_case(&model.abi.name);
    let mut out = String::from(
        "/* Prints every number of the ABI as the C header states it. */\n#include <inttypes.h>\n#include <stddef.h>\n#include <stdio.h>\n#include \"src/trona/include/generated/kernite.h\"\n\nint main(void) {\n",
    );
    let mut line = |key: String, expression: String| {
        let _ = writeln!(
            out,
            "    printf(\"%s=%\" PRIu64 \"\\n\", \"{key}\", (uint64_t)({expression}));"
        );
    };
    for s in &model.syscalls {
        line(
            format!("sys:{}", s.name),
            format!("{prefix}_SYS_{}", s.const_name()),
        );
    }
    for o in &model.objects {
        line(
            format!("object:{}", o.name),
            format!("{prefix}_OBJECT_{}", screaming_case(&o.name)),
        );
    }
    for i in &model.invocations {
        line(
            format!("label:{}", i.display_name()),
            format!("{prefix}_LABEL_{}", i.const_name()),
        );
    }
    for e in &model.errors {
        line(
            format!("error:{}", e.name),
            format!("{prefix}_ERROR_{}", screaming_case(&e.name)),
        );
    }
    for c in &model.constants {
        line(format!("const:{}", c.name), format!("{prefix}_{}", c.name));
    }
    for f in &model.flags {
        let set = screaming_case(&f.name);
        for b in &f.bits {
            line(
                format!("flag:{}.{}", f.name, b.name),
                format!("{prefix}_{set}_{}", screaming_case(&b.name)),
            );
        }
        line(
            format!("flags_all:{}", f.name),
            format!("{prefix}_{set}_ALL"),
        );
    }
    for b in &model.bitfields {
        let set = format!("{prefix}_{}", screaming_case(&b.name));
        let function = format!("{lower}_{}", snake_case(&b.name));
        for f in &b.fields {
            let field = format!("{set}_{}", screaming_case(&f.name));
            let key = format!("{}.{}", b.name, f.name);
            for (kind, constant) in [
                ("bitfield_lsb", "LSB"),
                ("bitfield_width", "WIDTH"),
                ("bitfield_max", "MAX"),
                ("bitfield_mask", "MASK"),
            ] {
                line(format!("{kind}:{key}"), format!("{field}_{constant}"));
            }
            line(
                format!("bitfield_pack:{key}"),
                format!("{function}_with_{}(0, {field}_MAX)", f.name),
            );
            line(
                format!("bitfield_unpack:{key}"),
                format!(
                    "{function}_{}(({})UINT64_C({BIT_PATTERN:#x}))",
                    f.name,
                    b.word.c_name()
                ),
            );
        }
        line(
            format!("bitfield_reserved:{}", b.name),
            format!("{set}_RESERVED"),
        );
    }
    for m in model.kernel_messages.iter().flat_map(|k| &k.messages) {
        let name = format!("{prefix}_KERNEL_MESSAGE_{}", m.const_name());
        line(format!("kmsg:{}", m.name), name.clone());
        line(format!("kmsg_len:{}", m.name), format!("{name}_LENGTH"));
    }
    if model.ipc.is_some()
        && model
            .arches
            .iter()
            .any(|a| a.name == std::env::consts::ARCH)
    {
        line(
            "ipc:message_registers".to_owned(),
            format!("{prefix}_MESSAGE_REGISTERS"),
        );
    }
    for s in &model.structs {
        let tag = format!("struct {lower}_{}", snake_case(&s.name));
        line(format!("size:{}", s.name), format!("sizeof({tag})"));
        for field in &s.fields {
            line(
                format!("field:{}.{}", s.name, field.name),
                format!("offsetof({tag}, {})", field.name),
            );
        }
    }
    out.push_str("    return 0;\n}\n");
    out
}

fn parse_values(text: &str) -> Values {
    text.lines()
        .filter_map(|l| l.split_once('='))
        .filter_map(|(k, v)| Some((k.to_owned(), v.trim().parse().ok()?)))
        .collect()
}

fn run(command: &mut Command, what: &str) -> Result<String, String> {
    let output = command.output().map_err(|e| format!("{what}: {e}"))?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    } else {
        Err(format!(
            "{what} failed:\n{}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}

/// Compares the values `source` states with the Rust values for the keys `kinds` cover.
fn compare(
    case: &str,
    source: &str,
    rust: &Values,
    stated: &Values,
    kinds: &[&str],
) -> Vec<String> {
    let covered = |key: &str| kinds.iter().any(|k| key.starts_with(&format!("{k}:")));
    let mut out = Vec::new();
    for (key, value) in rust.iter().filter(|(k, _)| covered(k)) {
        match stated.get(key) {
            Some(v) if v == value => {}
            Some(v) => out.push(format!(
                "{case}: {source} says {key} = {v}, Rust says {value}"
            )),
            None => out.push(format!(
                "{case}: {source} does not state {key} (Rust: {value})"
            )),
        }
    }
    for key in stated.keys().filter(|k| !rust.contains_key(*k)) {
        out.push(format!(
            "{case}: {source} states {key}, which Rust does not have"
        ));
    }
    out
}

fn cross_check(scratch: &Path, i: usize, case: &Case) -> Vec<String> {
    let name = &case.name;
    let check = scratch.join(format!("check_{i}"));
    let mut problems = Vec::new();
    let binary: PathBuf = scratch.join("target/debug").join(format!("check_{i}"));
    let rust = match run(&mut Command::new(&binary), "the Rust value printer") {
        Ok(text) => parse_values(&text),
        Err(error) => return vec![format!("{name}: {error}")],
    };
    if rust.len() != rust_values(&case.model).len() {
        problems.push(format!(
            "{name}: the Rust printer printed {} values",
            rust.len()
        ));
    }

    // C: the header compiles with warnings denied, and states the same numbers.
    let exe = check.join("values_c");
    let compiled = run(
        Command::new("gcc")
            .args(["-std=c11", "-Wall", "-Wextra", "-Werror", "-o"])
            .arg(&exe)
            .arg(check.join("values.c"))
            .current_dir(&check),
        "gcc",
    );
    match compiled.and_then(|_| run(&mut Command::new(&exe), "the C value printer")) {
        Ok(text) => problems.extend(compare(
            name,
            "the C header",
            &rust,
            &parse_values(&text),
            &[
                "sys",
                "object",
                "label",
                "error",
                "const",
                "flag",
                "flags_all",
                "size",
                "field",
                "bitfield_lsb",
                "bitfield_width",
                "bitfield_max",
                "bitfield_mask",
                "bitfield_pack",
                "bitfield_unpack",
                "bitfield_reserved",
                "kmsg",
                "kmsg_len",
                "ipc",
            ],
        )),
        Err(error) => problems.push(format!("{name}: {error}")),
    }

    // Assembly: the per-CPU equates, assembled and read back.
    for p in &case.model.percpu {
        let source = check.join(format!("src/kernel/src/arch/{}/generated/percpu.S", p.arch));
        let object = check.join(format!("percpu_{}.o", p.arch));
        let listed = run(
            Command::new("gcc")
                .arg("-c")
                .arg(&source)
                .arg("-o")
                .arg(&object),
            "assembling percpu.S",
        )
        .and_then(|_| run(Command::new("nm").arg(&object), "nm"));
        let text = match listed {
            Ok(text) => text,
            Err(error) => {
                problems.push(format!("{name}: {error}"));
                continue;
            }
        };
        let mut stated = Values::new();
        for line in text.lines() {
            let mut parts = line.split_whitespace();
            let (Some(value), Some(_), Some(symbol)) = (parts.next(), parts.next(), parts.next())
            else {
                continue;
            };
            let Ok(value) = u64::from_str_radix(value, 16) else {
                continue;
            };
            let Some(field) = symbol.strip_prefix("PERCPU_") else {
                continue;
            };
            if field == "SIZE" {
                stated.insert(format!("percpu_size:{}", p.arch), value);
            } else if let Some(f) = p
                .fields
                .iter()
                .find(|f| f.name.to_ascii_uppercase() == field)
            {
                stated.insert(format!("percpu:{}.{}", p.arch, f.name), value);
            } else {
                problems.push(format!("{name}: equate {symbol} names no per-CPU field"));
            }
        }
        let asm: Values = rust
            .iter()
            .filter(|(k, _)| {
                *k == &format!("percpu_size:{}", p.arch)
                    || p.fields
                        .iter()
                        .any(|f| f.asm && **k == format!("percpu:{}.{}", p.arch, f.name))
            })
            .map(|(k, v)| (k.clone(), *v))
            .collect();
        problems.extend(compare(
            name,
            "percpu.S",
            &asm,
            &stated,
            &["percpu", "percpu_size"],
        ));
    }

    // Docs: the tables of docs/abi.md.
    let docs = std::fs::read_to_string(check.join("src/docs/abi.md")).expect("docs/abi.md");
    problems.extend(compare(
        name,
        "docs/abi.md",
        &rust,
        &doc_values(&docs),
        &[
            "sys",
            "object",
            "label",
            "error",
            "const",
            "flag",
            "field",
            "percpu",
            "bitfield_lsb",
            "bitfield_width",
            "kmsg",
        ],
    ));
    problems
}

/// The numbers the summary and layout tables of docs/abi.md state.
fn doc_values(docs: &str) -> Values {
    let mut out = Values::new();
    let mut section = String::new();
    let mut header = String::new();
    for line in docs.lines() {
        if let Some(title) = line.strip_prefix("## ") {
            section = title.to_owned();
            continue;
        }
        if !line.starts_with('|') {
            continue;
        }
        let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
        if cells.iter().all(|c| c.chars().all(|ch| ch == '-')) {
            continue;
        }
        if cells
            .first()
            .is_some_and(|c| !c.starts_with(|ch: char| ch.is_ascii_digit() || ch == '`'))
        {
            header = cells.join("|");
            continue;
        }
        let number = |cell: &str| -> Option<u64> {
            match cell.strip_prefix("0x") {
                Some(hex) => u64::from_str_radix(&hex.replace('_', ""), 16).ok(),
                None => cell.replace([',', '_'], "").parse().ok(),
            }
        };
        // The first `code` span of a cell: `name` or [`name`](#anchor).
        let code = |cell: &str| -> Option<String> {
            let start = cell.find('`')? + 1;
            let end = start + cell[start..].find('`')?;
            Some(cell[start..end].to_owned())
        };
        let (Some(first), Some(second)) = (cells.first(), cells.get(1)) else {
            continue;
        };
        let key = match (section.as_str(), header.split('|').next().unwrap_or("")) {
            ("Syscalls", "number") => code(second).map(|n| format!("sys:{n}")),
            ("Object types and invocations", "id") => code(second).map(|n| format!("object:{n}")),
            ("Object types and invocations", "label") => code(second).map(|n| format!("label:{n}")),
            ("Errors", "code") => code(second).map(|n| format!("error:{n}")),
            ("Constants", "name") => {
                let (Some(name), Some(value)) = (code(first), cells.get(2)) else {
                    continue;
                };
                if let Some(v) = number(value) {
                    out.insert(format!("const:{name}"), v);
                }
                continue;
            }
            (s, "bit") if s.starts_with("Flags `") => {
                let set = s.trim_start_matches("Flags `").trim_end_matches('`');
                let (Some(bit), Some(index)) = (code(second), number(first)) else {
                    continue;
                };
                out.insert(format!("flag:{set}.{bit}"), 1u64 << index);
                continue;
            }
            (s, "offset") if s.starts_with("Structure `") => {
                let name = s.trim_start_matches("Structure `").trim_end_matches('`');
                code(second).map(|f| format!("field:{name}.{f}"))
            }
            (s, "lsb") if s.starts_with("Bitfield `") => {
                let name = s.trim_start_matches("Bitfield `").trim_end_matches('`');
                let (Some(field), Some(lsb), Some(width)) = (
                    cells.get(2).and_then(|c| code(c)),
                    number(first),
                    number(second),
                ) else {
                    continue;
                };
                out.insert(format!("bitfield_lsb:{name}.{field}"), lsb);
                out.insert(format!("bitfield_width:{name}.{field}"), width);
                continue;
            }
            ("Kernel messages", "label") => code(second).map(|n| format!("kmsg:{n}")),
            (s, "offset") if s.starts_with("PerCpuData on ") => {
                let arch = s.trim_start_matches("PerCpuData on ");
                code(second).map(|f| format!("percpu:{arch}.{f}"))
            }
            _ => None,
        };
        if let (Some(key), Some(value)) = (key, number(first)) {
            out.insert(key, value);
        }
    }
    out
}
