//! abi-diff fixtures: each case directory under `tests/diff/` pairs a base and a head schema with the expected Markdown report.
//!
//! A case is `tests/diff/<case>/head.toml` (the changed schema), an optional
//! `tests/diff/<case>/base.toml` (default: the shared `tests/diff/base.toml`) and
//! `tests/diff/<case>/expected.md`. Run with `UPDATE_EXPECT=1` to rewrite the expected
//! files after an intended change, then review them with `git diff`.

use std::path::{Path, PathBuf};

use abigen::diff::{Class, Report, Status};

/// Every case directory, each with its own test below.
const CASES: &[&str] = &[
    "no_change",
    "additions_with_minor_bump",
    "additions_without_minor_bump",
    "renumbered_syscall",
    "removals",
    "arguments",
    "values_and_codes",
    "renames",
    "breaking_with_major_bump",
    "struct_layout",
    "kernel_internal",
    "doc_only",
    "version_backwards",
    "version_bump_only",
    "names_sets_and_arches",
    "entry_errors",
    "cap_arguments",
    "removal_without_tombstone",
    "struct_field_renamed",
    "ipc_additions",
    "ipc_changes",
    "protocol_message_added_without_bump",
    "protocol_message_added_with_minor_bump",
    "protocol_argument_retyped",
    "protocol_changes_with_major_bump",
    "protocol_message_removed_without_tombstone",
    "protocol_doc_only",
    "protocol_added_and_removed",
];

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/diff")
}

/// Reads a head schema as `cargo xtask gen` does, or (`revision`) a base schema as
/// `abi-diff` reads an earlier revision.
fn load(path: &Path, revision: bool) -> abigen::Model {
    let text = std::fs::read_to_string(path).expect("a fixture");
    let name = path.display().to_string();
    let parsed = if revision {
        abigen::parse_revision(&name, &text)
    } else {
        abigen::parse_str(&name, &text)
    };
    parsed.unwrap_or_else(|diagnostics| panic!("fixture must be valid:\n{diagnostics}"))
}

/// Diffs the case's base and head, compares the Markdown report with `expected.md` and
/// checks that the counts and the verdict status match what the case claims.
fn check(case: &str, counts: [usize; 4], status: Status) -> Report {
    let dir = fixtures().join(case);
    let own_base = dir.join("base.toml");
    let base_path = if own_base.exists() {
        own_base
    } else {
        fixtures().join("base.toml")
    };
    let report = abigen::diff::diff(
        &load(&base_path, true),
        &load(&dir.join("head.toml"), false),
    );
    let actual = report.to_markdown();
    let expected_path = dir.join("expected.md");
    if std::env::var_os("UPDATE_EXPECT").is_some() {
        std::fs::write(&expected_path, &actual).expect("writing expected.md");
    }
    let expected = std::fs::read_to_string(&expected_path).unwrap_or_default();
    assert_eq!(
        actual,
        expected,
        "{case}: the report differs from {} (rerun with UPDATE_EXPECT=1 to accept it)",
        expected_path.display()
    );
    let actual_counts = Class::ALL.map(|class| report.count(class));
    assert_eq!(
        actual_counts, counts,
        "{case}: [breaking, compatible, kernel-internal, doc] counts"
    );
    assert_eq!(
        report.verdict.status, status,
        "{case}: verdict {}",
        report.verdict
    );
    report
}

#[test]
fn every_case_directory_has_a_test() {
    let mut on_disk: Vec<String> = std::fs::read_dir(fixtures())
        .expect("tests/diff exists")
        .filter_map(|entry| entry.ok())
        .filter(|entry| entry.path().is_dir())
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .collect();
    on_disk.sort();
    let mut listed: Vec<String> = CASES.iter().map(|c| (*c).to_owned()).collect();
    listed.sort();
    assert_eq!(on_disk, listed);
}

#[test]
fn no_change() {
    let report = check("no_change", [0, 0, 0, 0], Status::Ok);
    assert!(report.changes.is_empty());
}

#[test]
fn additions_with_minor_bump() {
    check("additions_with_minor_bump", [0, 9, 0, 0], Status::Ok);
}

#[test]
fn additions_without_minor_bump() {
    check(
        "additions_without_minor_bump",
        [0, 1, 0, 0],
        Status::Warning,
    );
}

#[test]
fn renumbered_syscall() {
    let report = check("renumbered_syscall", [1, 0, 0, 0], Status::Refused);
    assert!(report.is_refused());
    assert_eq!(
        report.verdict.to_string(),
        "REFUSED: 1 breaking change without a major ABI version bump (1.0 -> 1.1)"
    );
}

#[test]
fn removals() {
    check("removals", [8, 0, 0, 0], Status::Refused);
}

#[test]
fn arguments() {
    check("arguments", [7, 0, 0, 0], Status::Refused);
}

#[test]
fn values_and_codes() {
    check("values_and_codes", [10, 0, 0, 0], Status::Refused);
}

#[test]
fn renames() {
    check("renames", [5, 0, 0, 0], Status::Ok);
}

#[test]
fn breaking_with_major_bump() {
    check("breaking_with_major_bump", [2, 1, 0, 0], Status::Ok);
}

#[test]
fn struct_layout() {
    check("struct_layout", [4, 0, 0, 0], Status::Refused);
}

#[test]
fn kernel_internal() {
    check("kernel_internal", [0, 0, 6, 0], Status::Ok);
}

#[test]
fn doc_only() {
    check("doc_only", [0, 0, 0, 5], Status::Ok);
}

#[test]
fn version_backwards() {
    check("version_backwards", [0, 0, 0, 0], Status::Refused);
}

#[test]
fn version_bump_only() {
    check("version_bump_only", [0, 0, 0, 0], Status::Warning);
}

#[test]
fn names_sets_and_arches() {
    check("names_sets_and_arches", [1, 2, 1, 0], Status::Ok);
}

/// Declared errors: adding one and removing one are both compatible (a warning without
/// a minor bump), never breaking.
#[test]
fn entry_errors() {
    let report = check("entry_errors", [0, 2, 0, 0], Status::Warning);
    let kinds: Vec<&str> = report.changes.iter().map(|c| c.kind.name()).collect();
    assert_eq!(kinds, ["error_added", "error_removed"]);
}

/// Capability arguments: declaring rights where an earlier revision declared none, and
/// changing the object type or rights of a declared one, are breaking.
#[test]
fn cap_arguments() {
    let report = check("cap_arguments", [2, 1, 0, 0], Status::Refused);
    let kinds: Vec<&str> = report.changes.iter().map(|c| c.kind.name()).collect();
    assert_eq!(kinds, ["added", "rights_changed", "rights_changed"]);
}

/// A schema whose capability arguments predate `object` and `rights` is read as a
/// revision (arguments unchecked) but refused as the current schema.
#[test]
fn revisions_may_predate_cap_argument_keys() {
    let path = fixtures().join("cap_arguments/base.toml");
    let text = std::fs::read_to_string(&path).expect("a fixture");
    let model = abigen::parse_revision("base.toml", &text).expect("a valid revision");
    let configure = model
        .invocations
        .iter()
        .find(|i| i.name == "configure")
        .expect("Tcb.configure");
    assert_eq!(configure.args[0].cap, None);
    let Err(diagnostics) = abigen::parse_str("base.toml", &text) else {
        panic!("the current schema must declare the keys");
    };
    assert_eq!(
        diagnostics.summary().trim(),
        "base.toml:121:3: capability argument `cspace` has no `object` (name the object type it must refer to, or `\"any\"`)\nbase.toml:121:3: capability argument `cspace` has no `rights` list (write `rights = []` if it needs none)"
    );
}

/// A number that is simply gone could be reused: even with a major bump, a removal needs a
/// `[[retired]]` tombstone, and the report names it.
#[test]
fn removal_without_tombstone() {
    let report = check("removal_without_tombstone", [1, 0, 0, 0], Status::Refused);
    assert_eq!(
        report.verdict.to_string(),
        "REFUSED: 1 number no longer used and not retired; add the `[[retired]]` tombstones listed above (a version bump does not help)"
    );
}

/// A field renamed in place is reported as a rename, not as a removal and an addition.
#[test]
fn struct_field_renamed() {
    let report = check("struct_field_renamed", [1, 0, 0, 0], Status::Ok);
    let kinds: Vec<&str> = report.changes.iter().map(|c| c.kind.name()).collect();
    assert_eq!(kinds, ["renamed"]);
}

#[test]
fn ipc_additions() {
    // The IPC registers, `[ipc]`, a bitfield, a struct with a constant count, the Endpoint
    // object, two IPC syscalls, kernel messages and the fault reply: all compatible.
    check("ipc_additions", [0, 12, 0, 0], Status::Ok);
}

#[test]
fn ipc_changes() {
    // Fewer message registers, bitfield fields resized and moved (and one added in what
    // were reserved bits), an IPC syscall that now also sends, a kernel message relabelled
    // with another word, and other fault-reply words: breaking without a major bump.
    check("ipc_changes", [8, 1, 0, 0], Status::Refused);
}

/// A protocol case: the kernel ABI is unchanged; `expected` is each protocol's verdict
/// status and [breaking, compatible, doc] counts.
fn check_protocols(case: &str, expected: &[(&str, Status, [usize; 3])]) -> Report {
    let report = check(case, [0, 0, 0, 0], Status::Ok);
    let actual: Vec<(String, Status, [usize; 3])> = report
        .protocols
        .iter()
        .filter(|p| !p.is_empty())
        .map(|p| {
            (
                p.name.clone(),
                p.verdict.status,
                [Class::Breaking, Class::Compatible, Class::Doc].map(|c| p.count(c)),
            )
        })
        .collect();
    let expected: Vec<(String, Status, [usize; 3])> = expected
        .iter()
        .map(|(name, status, counts)| ((*name).to_owned(), *status, *counts))
        .collect();
    assert_eq!(actual, expected, "{case}:\n{}", report.to_markdown());
    let refused = expected
        .iter()
        .any(|(_, status, _)| *status == Status::Refused);
    assert_eq!(report.is_refused(), refused, "{case}: refused");
    report
}

#[test]
fn protocol_message_added_without_bump() {
    let report = check_protocols(
        "protocol_message_added_without_bump",
        &[("Store", Status::Refused, [0, 1, 0])],
    );
    assert_eq!(
        report.refusals(),
        [
            "protocol Store: REFUSED: 1 compatible change without a minor Store version bump (2.1 -> 2.1); set its `version` to \"2.2\""
        ]
    );
}

#[test]
fn protocol_message_added_with_minor_bump() {
    check_protocols(
        "protocol_message_added_with_minor_bump",
        &[("Store", Status::Ok, [0, 2, 0])],
    );
}

#[test]
fn protocol_argument_retyped() {
    check_protocols(
        "protocol_argument_retyped",
        &[("Store", Status::Refused, [1, 0, 0])],
    );
}

#[test]
fn protocol_changes_with_major_bump() {
    check_protocols(
        "protocol_changes_with_major_bump",
        &[("Store", Status::Ok, [4, 0, 0])],
    );
}

#[test]
fn protocol_message_removed_without_tombstone() {
    check_protocols(
        "protocol_message_removed_without_tombstone",
        &[("Store", Status::Refused, [1, 0, 0])],
    );
}

#[test]
fn protocol_doc_only() {
    check_protocols("protocol_doc_only", &[("Store", Status::Ok, [0, 0, 2])]);
}

#[test]
fn protocol_added_and_removed() {
    check_protocols(
        "protocol_added_and_removed",
        &[
            ("Clock", Status::Ok, [0, 1, 0]),
            ("Old", Status::Refused, [1, 0, 0]),
        ],
    );
}
