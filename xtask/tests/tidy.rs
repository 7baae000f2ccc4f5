//! Tree-wide rules that keep the ABI single-sourced and the code readable, checked on every `cargo test`.

use std::fs;
use std::path::{Path, PathBuf};

/// Directories holding hand-written and generated sources of the project.
const SOURCE_ROOTS: &[&str] = &[
    "abi", "abigen", "boot", "kerncore", "kernel", "trona", "servers", "xtask",
];

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives one level below the repository root")
        .to_path_buf()
}

/// Every source file under the project's crates, with its path relative to the root.
fn sources(extensions: &[&str]) -> Vec<(String, String)> {
    let root = repo_root();
    let mut out = Vec::new();
    let mut stack: Vec<PathBuf> = SOURCE_ROOTS.iter().map(|dir| root.join(dir)).collect();
    while let Some(dir) = stack.pop() {
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if path.is_dir() {
                if name != "target" && name != "snapshots" && name != "fixtures" {
                    stack.push(path);
                }
                continue;
            }
            let matches = extensions
                .iter()
                .any(|ext| path.extension().is_some_and(|e| e == *ext));
            if matches {
                let text = fs::read_to_string(&path).unwrap_or_default();
                let relative = path
                    .strip_prefix(&root)
                    .expect("walked below the root")
                    .to_string_lossy()
                    .replace('\\', "/");
                out.push((relative, text));
            }
        }
    }
    out.sort();
    out
}

fn is_generated(path: &str) -> bool {
    path.split('/')
        .any(|part| part == "generated" || part == "generated.rs")
}

/// Fails listing every offending location, so one run shows all of them.
fn check(rule: &str, offenders: Vec<String>) {
    assert!(
        offenders.is_empty(),
        "{rule}:\n  {}",
        offenders.join("\n  ")
    );
}

#[test]
fn every_rust_file_opens_with_a_module_doc_line() {
    let offenders = sources(&["rs"])
        .into_iter()
        .filter(|(path, text)| {
            let first = text
                .lines()
                .find(|line| !line.trim().is_empty())
                .unwrap_or("");
            !(first.starts_with("//!") || is_generated(path) && first.starts_with("//"))
        })
        .map(|(path, _)| path)
        .collect();
    check("files must begin with a one-line `//!` comment", offenders);
}

#[test]
fn no_literal_percpu_offsets_in_assembly() {
    let mut offenders = Vec::new();
    for (path, text) in sources(&["rs", "S", "s"]) {
        if is_generated(&path) {
            continue;
        }
        for (number, line) in text.lines().enumerate() {
            let mut rest = line;
            while let Some(at) = rest.find("%gs:") {
                let after = rest[at + 4..].trim_start();
                if after.starts_with(|c: char| c.is_ascii_digit() || c == '-' || c == '(') {
                    offenders.push(format!("{path}:{}: {}", number + 1, line.trim()));
                }
                rest = &rest[at + 4..];
            }
        }
    }
    check(
        "%gs accesses must use the generated PERCPU_* equates, not literal offsets",
        offenders,
    );
}

#[test]
fn user_space_traps_only_through_the_generated_trap() {
    let mut offenders = Vec::new();
    for (path, text) in sources(&["rs", "S", "s"]) {
        let user_side = path.starts_with("trona/") || path.starts_with("servers/");
        if !user_side || is_generated(&path) {
            continue;
        }
        for (number, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            let instruction = code.trim().trim_end_matches(',').trim_matches('"').trim();
            if instruction == "syscall" || instruction.starts_with("svc ") {
                offenders.push(format!("{path}:{}: {}", number + 1, line.trim()));
            }
        }
    }
    check(
        "user code must trap through trona's generated `trap`, whose registers come from schema.toml",
        offenders,
    );
}

#[test]
fn shared_constants_are_defined_only_in_generated_code() {
    let shared = ["TICKS_PER_SEC", "PAGE_SIZE", "NUM_PRIORITIES", "USER_TOP"];
    let mut offenders = Vec::new();
    for (path, text) in sources(&["rs"]) {
        if is_generated(&path) || path.starts_with("abigen/") {
            continue;
        }
        for (number, line) in text.lines().enumerate() {
            for name in shared {
                let defines = line.contains(&format!("const {name}:"));
                if defines && !line.contains("abi::") {
                    offenders.push(format!("{path}:{}: {}", number + 1, line.trim()));
                }
            }
        }
    }
    check(
        "ABI constants come from the abi crate; a second definition can drift",
        offenders,
    );
}
