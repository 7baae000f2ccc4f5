//! A schema 20 times the size of the project's (synthesized from it) validates and renders; the test also leaves it in the target directory for timing `cargo xtask gen --schema`.

use std::fmt::Write;

use abigen::{Model, Param, RetiredKind, SyscallKind};

const REAL_SCHEMA: &str = include_str!("../../schema.toml");
const FACTOR: u64 = 20;

fn quote(text: &str) -> String {
    format!("{text:?}")
}

/// The parameter list `key = [...]`; `object` renames the object type a capability
/// argument names to the copy's.
fn params(key: &str, list: &[Param], object: &dyn Fn(&str) -> String) -> String {
    if list.is_empty() {
        return String::new();
    }
    let mut out = format!("{key} = [\n");
    for p in list {
        let cap = p.cap.as_ref().map_or_else(String::new, |cap| {
            let rights: Vec<String> = cap.rights.iter().map(|r| quote(r)).collect();
            let name = cap
                .object
                .as_deref()
                .map_or_else(|| "any".to_owned(), object);
            format!(
                " object = {}, rights = [{}],",
                quote(&name),
                rights.join(", ")
            )
        });
        let _ = writeln!(
            out,
            "  {{ name = {}, type = {},{cap} doc = {} }},",
            quote(&p.name),
            quote(p.ty.schema_name()),
            quote(&p.doc)
        );
    }
    out.push_str("]\n");
    out
}

/// The real schema with `FACTOR - 1` renamed, renumbered copies of every error, constant,
/// flag set, struct, plain syscall, object (with its label block) and invocation.
fn scaled_schema(model: &Model) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "[abi]\nname = {}\nversion = \"{}.{}\"\n",
        quote(&model.abi.name),
        model.abi.version_major,
        model.abi.version_minor
    );
    for a in &model.arches {
        let list = |regs: &[String]| regs.iter().map(|r| quote(r)).collect::<Vec<_>>().join(", ");
        let _ = writeln!(
            out,
            "[arch.{}]\ntrap = {}\nnumber_register = {}\narg_registers = [{}]\nresult_registers = [{}]\nclobbered_registers = [{}]\n",
            a.name,
            quote(&a.trap),
            quote(&a.number_register),
            list(&a.arg_registers),
            list(&a.result_registers),
            list(&a.clobbered_registers)
        );
    }
    let d = &model.dispatch;
    let _ = writeln!(
        out,
        "[dispatch]\nunknown_syscall = {}\nunknown_label = {}\ninvalid_argument = {}\ninsufficient_rights = {}\nunknown_error = {}\n",
        quote(&d.unknown_syscall),
        quote(&d.unknown_label),
        quote(&d.invalid_argument),
        quote(&d.insufficient_rights),
        quote(&d.unknown_error)
    );
    let label_span = model
        .objects
        .iter()
        .map(|o| o.label_base + o.label_size)
        .max()
        .unwrap_or(0)
        .next_power_of_two();
    for k in 0..FACTOR {
        let camel = |name: &str| {
            if k == 0 {
                name.to_owned()
            } else {
                format!("{name}K{k}")
            }
        };
        let snake = |name: &str| {
            if k == 0 {
                name.to_owned()
            } else {
                format!("{name}_k{k}")
            }
        };
        let screaming = |name: &str| {
            if k == 0 {
                name.to_owned()
            } else {
                format!("{name}_K{k}")
            }
        };
        let offset = 100 * k;
        for e in &model.errors {
            if k > 0 && model.dispatch.unknown_error == e.name {
                continue;
            }
            let code = if model.dispatch.unknown_error == e.name {
                e.code + 100 * FACTOR
            } else {
                e.code + offset
            };
            let _ = writeln!(
                out,
                "[[error]]\nname = {}\ncode = {code}\ndoc = {}\n",
                quote(&camel(&e.name)),
                quote(&e.doc)
            );
        }
        for c in &model.constants {
            let _ = writeln!(
                out,
                "[[constant]]\nname = {}\ntype = {}\nvalue = {}\ndoc = {}\n",
                quote(&screaming(&c.name)),
                quote(c.ty.name()),
                c.value,
                quote(&c.doc)
            );
        }
        for f in &model.flags {
            if k > 0 && f.name == abigen::RIGHTS_FLAG_SET {
                continue;
            }
            let _ = writeln!(
                out,
                "[[flags]]\nname = {}\ndoc = {}\nbits = [",
                quote(&camel(&f.name)),
                quote(&f.doc)
            );
            for b in &f.bits {
                let _ = writeln!(
                    out,
                    "  {{ name = {}, bit = {}, doc = {} }},",
                    quote(&b.name),
                    b.bit,
                    quote(&b.doc)
                );
            }
            out.push_str("]\n\n");
        }
        // Scaled copies refer to the originals' bitfields by name, as to `Rights`.
        for b in model.bitfields.iter().filter(|_| k == 0) {
            let _ = writeln!(
                out,
                "[[bitfield]]\nname = {}\ntype = {}\ndoc = {}\nfields = [",
                quote(&b.name),
                quote(b.word.name()),
                quote(&b.doc)
            );
            for f in &b.fields {
                let _ = writeln!(
                    out,
                    "  {{ name = {}, lsb = {}, width = {}, type = {}, doc = {} }},",
                    quote(&f.name),
                    f.lsb,
                    f.width,
                    quote(f.ty.name()),
                    quote(&f.doc)
                );
            }
            out.push_str("]\n\n");
        }
        for s in &model.structs {
            let _ = writeln!(
                out,
                "[[struct]]\nname = {}\ndoc = {}\nfields = [",
                quote(&camel(&s.name)),
                quote(&s.doc)
            );
            for f in &s.fields {
                let _ = writeln!(
                    out,
                    "  {{ name = {}, type = {}, doc = {} }},",
                    quote(&f.name),
                    quote(f.ty.name()),
                    quote(&f.doc)
                );
            }
            out.push_str("]\n\n");
        }
        for s in &model.syscalls {
            if k > 0 && s.kind == SyscallKind::Invoke {
                continue;
            }
            let kind = if s.kind == SyscallKind::Invoke {
                "kind = \"invoke\"\n"
            } else {
                ""
            };
            let _ = writeln!(
                out,
                "[[syscall]]\nname = {}\nnumber = {}\n{kind}{}{}doc = {}\n",
                quote(&snake(&s.name)),
                s.number + offset,
                params("args", &s.args, &camel),
                params("results", &s.results, &camel),
                quote(&s.doc)
            );
        }
        for o in &model.objects {
            let _ = writeln!(
                out,
                "[[object]]\nname = {}\nid = {}\nlabels = {{ base = {:#x}, size = {:#x} }}\ndoc = {}\n",
                quote(&camel(&o.name)),
                o.id + offset,
                o.label_base + label_span * k,
                o.label_size,
                quote(&o.doc)
            );
        }
        for i in &model.invocations {
            let rights: Vec<String> = i.rights.iter().map(|r| quote(r)).collect();
            let _ = writeln!(
                out,
                "[[invocation]]\nobject = {}\nname = {}\nlabel = {:#x}\nrights = [{}]\n{}{}doc = {}\n",
                quote(&camel(&i.object)),
                quote(&i.name),
                i.label + label_span * k,
                rights.join(", "),
                params("args", &i.args, &camel),
                params("results", &i.results, &camel),
                quote(&i.doc)
            );
        }
        for r in &model.retired {
            let number = match r.kind {
                RetiredKind::Label => r.number + label_span * k,
                _ => r.number + offset,
            };
            let _ = writeln!(
                out,
                "[[retired]]\n{} = {number}\nreason = {}\n",
                r.kind.key(),
                quote(&r.reason)
            );
        }
    }
    for p in &model.percpu {
        for f in &p.fields {
            let count = f.count.map_or(String::new(), |c| format!("count = {c}\n"));
            let asm = if f.asm { "asm = true\n" } else { "" };
            let _ = writeln!(
                out,
                "[[percpu.{}.field]]\nname = {}\ntype = {}\n{count}{asm}offset = {}\ndoc = {}\n",
                p.arch,
                quote(&f.name),
                quote(f.ty.name()),
                f.offset,
                quote(&f.doc)
            );
        }
    }
    out
}

#[test]
fn a_schema_twenty_times_larger_validates_and_renders() {
    let model = match abigen::parse_str("schema.toml", REAL_SCHEMA) {
        Ok(model) => model,
        Err(diagnostics) => panic!("schema.toml is invalid:\n{diagnostics}"),
    };
    let text = scaled_schema(&model);
    let scaled = match abigen::parse_str("scaled.toml", &text) {
        Ok(scaled) => scaled,
        Err(diagnostics) => panic!("the scaled schema is invalid:\n{diagnostics}"),
    };
    let factor = usize::try_from(FACTOR).unwrap_or(usize::MAX);
    assert_eq!(scaled.invocations.len(), model.invocations.len() * factor);
    assert_eq!(scaled.objects.len(), model.objects.len() * factor);
    let files = abigen::render_all(&scaled);
    // The scaled schema has no protocols, so it renders no protocol files.
    let without_protocols = abigen::render_all(&model)
        .iter()
        .filter(|(path, _)| !path.contains("protocols"))
        .count();
    assert_eq!(files.len(), without_protocols);
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("schema-x20.toml");
    if let Err(error) = std::fs::write(&path, &text) {
        panic!("cannot write {}: {error}", path.display());
    }
}
