//! The coverage the in-QEMU suite must report: one `COVERS` entry per syscall and per invocation in schema.toml.

use anyhow::{Context, Result};
use serde::Deserialize;
use std::path::Path;

/// The parts of schema.toml that name ABI entries.
#[derive(Deserialize)]
struct SchemaEntries {
    #[serde(default)]
    syscall: Vec<NamedSyscall>,
    #[serde(default)]
    invocation: Vec<NamedInvocation>,
}

#[derive(Deserialize)]
struct NamedSyscall {
    name: String,
}

#[derive(Deserialize)]
struct NamedInvocation {
    object: String,
    name: String,
}

/// Every entry the suite must cover, as `COVERS` prints it: `sys.<syscall>` for each
/// syscall and `<Object>.<invocation>` for each invocation (the spelling of
/// `abi::Syscall::name()` and `abi::Invocation::name()`), in schema order.
pub fn expected_entries(schema_path: &Path) -> Result<Vec<String>> {
    let text = std::fs::read_to_string(schema_path)
        .with_context(|| format!("reading {}", schema_path.display()))?;
    entries_from_schema(&text).with_context(|| format!("parsing {}", schema_path.display()))
}

fn entries_from_schema(text: &str) -> Result<Vec<String>> {
    let schema: SchemaEntries = toml::from_str(text)?;
    let syscalls = schema
        .syscall
        .iter()
        .map(|syscall| format!("sys.{}", syscall.name));
    let invocations = schema
        .invocation
        .iter()
        .map(|invocation| format!("{}.{}", invocation.object, invocation.name));
    Ok(syscalls.chain(invocations).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_named_like_the_abi_crate() {
        let schema = r#"
            [abi]
            name = "kernite"
            [[syscall]]
            name = "null"
            number = 0
            [[syscall]]
            name = "debug_write"
            number = 3
            [[invocation]]
            object = "Tcb"
            name = "set_priority"
            label = 0x47
        "#;
        let entries = entries_from_schema(schema).unwrap();
        assert_eq!(entries, ["sys.null", "sys.debug_write", "Tcb.set_priority"]);
    }

    #[test]
    fn the_real_schema_lists_every_entry() {
        let root = crate::cargo::workspace_root();
        let entries = expected_entries(&root.join("schema.toml")).unwrap();
        assert!(entries.iter().any(|entry| entry == "sys.invoke"));
        assert!(entries.iter().any(|entry| entry == "KernelDebug.shutdown"));
    }
}
