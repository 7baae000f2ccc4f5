//! Renders `xtask/gdb/generated/schema.py`: the schema's facts (syscall numbers, labels, argument names and types, object types, errors, flags, trap and IPC registers, bitfields, kernel messages, PerCpuData layouts) as Python data for the gdb commands in `xtask/gdb/kernite.py`.

use crate::model::{Model, Param, SyscallKind};

/// Renders the gdb data module.
pub fn render(model: &Model) -> String {
    let mut out = format!(
        "# {}\n\"\"\"The schema's facts for kernite's gdb commands (xtask/gdb/kernite.py).\"\"\"\n\n",
        super::GENERATED_HEADER
    );
    out.push_str(&format!("ABI = {:?}\n\n", model.abi.name));
    out.push_str("# number: (name, is the invoke syscall, [(argument, type)], result or None)\nSYSCALLS = {\n");
    for s in &model.syscalls {
        out.push_str(&format!(
            "    {:#x}: ({:?}, {}, {}, {}),\n",
            s.number,
            s.name,
            if s.kind == SyscallKind::Invoke {
                "True"
            } else {
                "False"
            },
            params(&s.args),
            result(&s.results)
        ));
    }
    out.push_str(
        "}\n\n# label: (name, [(payload argument, type)], result or None)\nINVOCATIONS = {\n",
    );
    for i in &model.invocations {
        out.push_str(&format!(
            "    {:#x}: ({:?}, {}, {}),\n",
            i.label,
            i.display_name(),
            params(&i.args),
            result(&i.results)
        ));
    }
    out.push_str("}\n\nOBJECT_TYPES = {\n");
    for o in &model.objects {
        out.push_str(&format!("    {}: {:?},\n", o.id, o.name));
    }
    out.push_str("}\n\nERRORS = {\n");
    for e in &model.errors {
        out.push_str(&format!("    {}: {:?},\n", e.code, e.name));
    }
    out.push_str("}\n\n# flag set: [(bit name, bit)]\nFLAGS = {\n");
    for f in &model.flags {
        let bits: Vec<String> = f
            .bits
            .iter()
            .map(|b| format!("({:?}, {})", b.name, b.bit))
            .collect();
        out.push_str(&format!("    {:?}: [{}],\n", f.name, bits.join(", ")));
    }
    out.push_str("}\n\n# arch: number register, argument registers, result registers\nTRAPS = {\n");
    for a in &model.arches {
        out.push_str(&format!(
            "    {:?}: ({:?}, {}, {}),\n",
            a.name,
            a.number_register,
            strings(&a.arg_registers),
            strings(&a.result_registers)
        ));
    }
    out.push_str("}\n\n# arch: (capability register, info register, [message registers])\nIPC_REGISTERS = {\n");
    for a in &model.arches {
        if let Some(ipc) = &a.ipc {
            out.push_str(&format!(
                "    {:?}: ({:?}, {:?}, {}),\n",
                a.name,
                ipc.capability,
                ipc.info,
                strings(&ipc.message_registers)
            ));
        }
    }
    out.push_str("}\n\n# number: (sends, receives) of each IPC syscall\nIPC_SYSCALLS = {\n");
    for (s, flow) in model.ipc_syscalls() {
        out.push_str(&format!(
            "    {:#x}: ({}, {}),\n",
            s.number,
            python_bool(flow.send),
            python_bool(flow.receive)
        ));
    }
    out.push_str(&format!(
        "}}\n\n# The bitfield of the IPC info register, or None\nIPC_INFO = {}\n",
        model
            .ipc
            .as_ref()
            .map_or_else(|| "None".to_owned(), |i| format!("{:?}", i.info))
    ));
    out.push_str("\n# bitfield: [(field, lsb, width)]\nBITFIELDS = {\n");
    for b in &model.bitfields {
        let fields: Vec<String> = b
            .fields
            .iter()
            .map(|f| format!("({:?}, {}, {})", f.name, f.lsb, f.width))
            .collect();
        out.push_str(&format!("    {:?}: [{}],\n", b.name, fields.join(", ")));
    }
    out.push_str("}\n\n# label: (name, is a fault, [word])\nKERNEL_MESSAGES = {\n");
    for m in model.kernel_messages.iter().flat_map(|k| &k.messages) {
        let fields: Vec<String> = m.fields.iter().map(|f| f.name.clone()).collect();
        out.push_str(&format!(
            "    {:#x}: ({:?}, {}, {}),\n",
            m.label,
            m.name,
            python_bool(m.fault),
            strings(&fields)
        ));
    }
    out.push_str("}\n\n# arch: [(field, offset, element size, count)], size\nPERCPU = {\n");
    for p in &model.percpu {
        let fields: Vec<String> = p
            .fields
            .iter()
            .map(|f| {
                format!(
                    "({:?}, {}, {}, {})",
                    f.name,
                    f.offset,
                    f.ty.size(),
                    f.count.unwrap_or(1)
                )
            })
            .collect();
        out.push_str(&format!(
            "    {:?}: ([{}], {}),\n",
            p.arch,
            fields.join(", "),
            p.size
        ));
    }
    out.push_str("}\n");
    out
}

/// `[("name", "type"), …]`.
fn params(params: &[Param]) -> String {
    let items: Vec<String> = params
        .iter()
        .map(|p| format!("({:?}, {:?})", p.name, p.ty.schema_name()))
        .collect();
    format!("[{}]", items.join(", "))
}

/// `"name"` of the one result, or `None`.
fn result(results: &[Param]) -> String {
    results
        .first()
        .map_or_else(|| "None".to_owned(), |r| format!("{:?}", r.name))
}

/// `True` or `False`.
fn python_bool(value: bool) -> &'static str {
    if value { "True" } else { "False" }
}

/// `["a", "b"]`.
fn strings(items: &[String]) -> String {
    let items: Vec<String> = items.iter().map(|s| format!("{s:?}")).collect();
    format!("[{}]", items.join(", "))
}
