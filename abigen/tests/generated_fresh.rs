//! The committed generated files match what `cargo xtask gen` would write from the committed schema.toml.

use std::path::Path;

#[test]
fn generated_files_are_fresh() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let model = match abigen::load(root.join("schema.toml")) {
        Ok(model) => model,
        Err(diagnostics) => panic!("schema.toml is invalid:\n{diagnostics}"),
    };
    let report = match abigen::sync(&root, &abigen::render_all(&model), abigen::SyncMode::Check) {
        Ok(report) => report,
        Err(error) => panic!("cannot compare generated files: {error}"),
    };
    let stale = report.with_status(abigen::FileStatus::Stale);
    assert!(
        stale.is_empty(),
        "stale generated files: {}; run `cargo xtask gen`",
        stale.join(", ")
    );
}

#[test]
fn check_mode_names_stale_files_and_writes_nothing() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let files = vec![
        ("a/one.txt".to_owned(), "1\n".to_owned()),
        ("two.txt".to_owned(), "2\n".to_owned()),
    ];
    let write = |mode| abigen::sync(dir.path(), &files, mode).expect("sync");

    let checked = write(abigen::SyncMode::Check);
    assert_eq!(
        checked.with_status(abigen::FileStatus::Stale),
        ["a/one.txt", "two.txt"]
    );
    assert!(!dir.path().join("two.txt").exists());

    let written = write(abigen::SyncMode::Write);
    assert_eq!(
        written.with_status(abigen::FileStatus::Updated),
        ["a/one.txt", "two.txt"]
    );
    let modified = std::fs::metadata(dir.path().join("two.txt"))
        .and_then(|m| m.modified())
        .expect("mtime");

    std::thread::sleep(std::time::Duration::from_millis(20));
    let again = write(abigen::SyncMode::Write);
    assert_eq!(
        again.with_status(abigen::FileStatus::UpToDate),
        ["a/one.txt", "two.txt"]
    );
    let unchanged = std::fs::metadata(dir.path().join("two.txt"))
        .and_then(|m| m.modified())
        .expect("mtime");
    assert_eq!(
        modified, unchanged,
        "an up-to-date file must not be rewritten"
    );
}
