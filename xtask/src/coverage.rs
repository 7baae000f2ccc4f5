//! The coverage the in-QEMU suite must report: one `COVERS` entry per syscall, per invocation and per protocol message in schema.toml.

use anyhow::{Result, anyhow};
use std::path::Path;

/// Every entry the suite must cover, as `COVERS` prints it: `sys.<syscall>` for each
/// syscall, `<Object>.<invocation>` for each invocation and `<Protocol>.<message>` for
/// each protocol message (the spelling of `abi::Syscall::name()`,
/// `abi::Invocation::name()` and `trona::protocols::Message::name()`), in schema order.
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
    let messages = model.protocols.iter().flat_map(|protocol| {
        protocol
            .messages
            .iter()
            .map(move |message| format!("{}.{}", protocol.name, message.name))
    });
    syscalls.chain(invocations).chain(messages).collect()
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
        // Kernel entries first, spelled as the abi crate does; protocol messages after.
        assert_eq!(entries[..from_abi.len()], from_abi[..]);
        assert!(
            entries[from_abi.len()..]
                .iter()
                .all(
                    |entry| entry.split_once('.').is_some_and(|(protocol, message)| {
                        protocol.starts_with(|c: char| c.is_ascii_uppercase())
                            && message.starts_with(|c: char| c.is_ascii_lowercase())
                    })
                )
        );
    }

    #[test]
    fn the_real_schema_lists_every_entry() {
        let root = crate::cargo::workspace_root();
        let entries = expected_entries(&root.join("schema.toml")).unwrap();
        assert!(entries.iter().any(|entry| entry == "sys.invoke"));
        assert!(entries.iter().any(|entry| entry == "KernelDebug.shutdown"));
        assert!(entries.iter().any(|entry| entry == "Process.spawn"));
    }
}
