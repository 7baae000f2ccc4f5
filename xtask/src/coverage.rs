//! The coverage the in-QEMU suite must report: one `COVERS` entry per syscall and per invocation in schema.toml.

use anyhow::{Result, anyhow};
use std::path::Path;

/// Every entry the suite must cover, as `COVERS` prints it: `sys.<syscall>` for each
/// syscall and `<Object>.<invocation>` for each invocation (the spelling of
/// `abi::Syscall::name()` and `abi::Invocation::name()`), in schema order.
pub fn expected_entries(schema_path: &Path) -> Result<Vec<String>> {
    let model = abigen::load(schema_path).map_err(|diagnostics| anyhow!("{diagnostics}"))?;
    Ok(entries_of(&model))
}

/// Every entry of `model` the suite must cover, like [`expected_entries`].
pub fn entries_of(model: &abigen::Model) -> Vec<String> {
    let syscalls = model
        .syscalls
        .iter()
        .map(|syscall| format!("sys.{}", syscall.name));
    let invocations = model
        .invocations
        .iter()
        .map(|invocation| invocation.display_name());
    syscalls.chain(invocations).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_spelled_like_the_abi_crate_names_them() {
        let root = crate::cargo::workspace_root();
        let entries = expected_entries(&root.join("schema.toml")).unwrap();
        let syscalls = abi::Syscall::ALL
            .iter()
            .map(|syscall| format!("sys.{}", syscall.name()));
        let invocations = abi::Invocation::ALL
            .iter()
            .map(|invocation| invocation.name().to_string());
        let from_abi: Vec<String> = syscalls.chain(invocations).collect();
        assert_eq!(entries, from_abi);
    }

    #[test]
    fn the_real_schema_lists_every_entry() {
        let root = crate::cargo::workspace_root();
        let entries = expected_entries(&root.join("schema.toml")).unwrap();
        assert!(entries.iter().any(|entry| entry == "sys.invoke"));
        assert!(entries.iter().any(|entry| entry == "KernelDebug.shutdown"));
    }
}
