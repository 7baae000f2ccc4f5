//! Property tests: no input, however malformed, panics the parser, the validator or the renderers.

use proptest::prelude::*;

const REAL_SCHEMA: &str = include_str!("../../schema.toml");
const SMALL_SCHEMA: &str = include_str!("fixtures/small.toml");

/// Parses `text`; when it validates, renders it too. Neither may panic.
fn exercise(text: &str) {
    if let Ok(model) = abigen::parse_str("fuzz.toml", text) {
        let files = abigen::render_all(&model);
        assert!(!files.is_empty());
    } else if let Err(diagnostics) = abigen::parse_str("fuzz.toml", text) {
        assert!(!diagnostics.is_empty());
        let _ = diagnostics.to_string();
        let _ = diagnostics.summary();
    }
}

/// One line-level edit of a schema.
#[derive(Clone, Debug)]
enum Edit {
    Delete(usize),
    Duplicate(usize),
    Swap(usize, usize),
    ReplaceNumber(usize, i64),
    ReplaceString(usize, String),
    Insert(usize, String),
}

fn edit() -> impl Strategy<Value = Edit> {
    let token = prop_oneof![
        Just("gen".to_owned()),
        Just("Rights".to_owned()),
        Just("u8".to_owned()),
        Just("invoke".to_owned()),
        Just(String::new()),
        "[a-zA-Z_][a-zA-Z0-9_]{0,8}",
        ".{0,6}",
    ];
    prop_oneof![
        any::<usize>().prop_map(Edit::Delete),
        any::<usize>().prop_map(Edit::Duplicate),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Edit::Swap(a, b)),
        (
            any::<usize>(),
            prop_oneof![
                Just(0i64),
                Just(-1),
                Just(0x80),
                Just(i64::MAX),
                any::<i64>()
            ]
        )
            .prop_map(|(line, value)| Edit::ReplaceNumber(line, value)),
        (any::<usize>(), token.clone()).prop_map(|(line, text)| Edit::ReplaceString(line, text)),
        (
            any::<usize>(),
            prop_oneof![
                Just("[[syscall]]".to_owned()),
                Just("[[invocation]]".to_owned()),
                Just("[[retired]]".to_owned()),
                Just("[[percpu.x86_64.field]]".to_owned()),
                Just("args = [{ name = \"x\", type = \"u8\" }]".to_owned()),
                ".{0,20}",
            ]
        )
            .prop_map(|(line, text)| Edit::Insert(line, text)),
    ]
}

/// Applies `edits` line by line; indices wrap around the current line count.
fn mutate(text: &str, edits: &[Edit]) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    for edit in edits {
        if lines.is_empty() {
            break;
        }
        let n = lines.len();
        match edit {
            Edit::Delete(i) => {
                lines.remove(i % n);
            }
            Edit::Duplicate(i) => {
                let line = lines[i % n].clone();
                lines.insert(i % n, line);
            }
            Edit::Swap(a, b) => lines.swap(a % n, b % n),
            Edit::ReplaceNumber(i, value) => {
                let line = &mut lines[i % n];
                if let Some(eq) = line.find("= ") {
                    line.replace_range(eq + 2.., &value.to_string());
                }
            }
            Edit::ReplaceString(i, text) => {
                let line = &mut lines[i % n];
                if let (Some(start), Some(end)) = (line.find('"'), line.rfind('"'))
                    && start < end
                {
                    line.replace_range(start + 1..end, text);
                }
            }
            Edit::Insert(i, text) => lines.insert(i % n, text.clone()),
        }
    }
    lines.join("\n")
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_text_never_panics(text in ".{0,400}") {
        exercise(&text);
    }

    #[test]
    fn arbitrary_toml_shaped_text_never_panics(text in "(\\[\\[?[a-z.]{1,12}\\]\\]?\n|[a-z_]{1,8} = (\"[a-zA-Z_ ]{0,8}\"|-?[0-9]{1,20}|true|\\[\\]|\\{ [a-z]+ = [0-9]+ \\})\n){0,30}") {
        exercise(&text);
    }


    #[test]
    fn mutated_small_schema_never_panics(edits in prop::collection::vec(edit(), 1..6)) {
        exercise(&mutate(SMALL_SCHEMA, &edits));
    }
}

proptest! {
    // Each valid mutation of the real schema renders every file, so fewer cases keep the test quick.
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn mutated_real_schema_never_panics(edits in prop::collection::vec(edit(), 1..6)) {
        exercise(&mutate(REAL_SCHEMA, &edits));
    }
}
