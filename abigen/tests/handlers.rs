//! The kernel's hand-written handlers name their arguments as the schema does, in its order (and the check catches a swap).

use std::path::Path;

const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");

fn real_model() -> abigen::Model {
    abigen::load(Path::new(ROOT).join("schema.toml"))
        .unwrap_or_else(|diagnostics| panic!("schema.toml is invalid:\n{diagnostics}"))
}

/// `(line, message)` per mismatch of `source` against `model`.
fn mismatches(model: &abigen::Model, source: &str) -> Vec<(usize, String)> {
    abigen::handlers::check(model, source)
        .unwrap_or_else(|error| panic!("{error}"))
        .into_iter()
        .map(|m| (m.line, m.message))
        .collect()
}

#[test]
fn kernel_handlers_follow_the_schema() {
    let source = std::fs::read_to_string(Path::new(ROOT).join("kernel/src/syscall.rs"))
        .expect("kernel/src/syscall.rs");
    assert_eq!(mismatches(&real_model(), &source), vec![]);
}

#[test]
fn mock_kernel_handlers_follow_the_fixture() {
    let model = abigen::parse_str("small.toml", include_str!("fixtures/small.toml"))
        .unwrap_or_else(|diagnostics| panic!("{diagnostics}"));
    let source = include_str!("fixtures/small_dispatch/dispatch.rs");
    assert_eq!(mismatches(&model, source), vec![]);
}

#[test]
fn swapped_renamed_and_missing_arguments_are_reported() {
    let model = real_model();
    let cases: [(&str, Vec<(usize, String)>); 4] = [
        (
            "impl Kernel for K {\n    fn tcb_configure(&mut self, t: C, cspace: C, vspace: C) {}\n}\n",
            vec![],
        ),
        (
            "impl Kernel for K {\n    fn tcb_configure(&mut self, t: C, vspace: C, cspace: C) {}\n}\n",
            vec![(
                2,
                "the handler of `Tcb.configure` names its arguments (vspace, cspace) but the schema declares (cspace, vspace)".to_owned(),
            )],
        ),
        (
            "impl dispatch::Kernel for K {\n\n    fn sys_debug_write(&mut self, len: u64, buf: UserAddr) {}\n}\n",
            vec![(
                3,
                "the handler of `sys.debug_write` names its arguments (len, buf) but the schema declares (buf, len)".to_owned(),
            )],
        ),
        // Only `impl Kernel` blocks are read.
        (
            "impl Other for K {\n    fn tcb_configure(&mut self, t: C, vspace: C, cspace: C) {}\n}\n",
            vec![],
        ),
    ];
    for (source, expected) in cases {
        assert_eq!(mismatches(&model, source), expected, "{source}");
    }
}
