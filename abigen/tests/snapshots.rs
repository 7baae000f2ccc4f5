//! Snapshot tests: every generated file for the small fixture schema, reviewed as committed insta snapshots.

#[test]
fn every_output_of_the_small_fixture() {
    let text = include_str!("fixtures/small.toml");
    let model = match abigen::parse_str("small.toml", text) {
        Ok(model) => model,
        Err(diagnostics) => panic!("fixture is invalid:\n{diagnostics}"),
    };
    let files = abigen::render_all(&model);
    let paths: Vec<&str> = files.iter().map(|(path, _)| path.as_str()).collect();
    insta::assert_snapshot!("paths", paths.join("\n"));
    for (path, contents) in &files {
        assert!(
            contents.contains(abigen::GENERATED_HEADER),
            "{path} lacks the generated header"
        );
        let name = path.replace('/', "__");
        insta::assert_snapshot!(name, contents);
    }
}

/// The small fixture with the IPC addendum: IPC registers, bitfields, IPC syscalls,
/// kernel messages and the fault reply.
const IPC_SCHEMA: &str = concat!(
    include_str!("fixtures/small.toml"),
    include_str!("fixtures/ipc.toml")
);

#[test]
fn every_output_of_the_ipc_fixture() {
    let model = match abigen::parse_str("small+ipc.toml", IPC_SCHEMA) {
        Ok(model) => model,
        Err(diagnostics) => panic!("fixture is invalid:\n{diagnostics}"),
    };
    let Ok(small) = abigen::parse_str("small.toml", include_str!("fixtures/small.toml")) else {
        panic!("the small fixture must parse")
    };
    let small = abigen::render_all(&small);
    // Only the files the addendum changes; the others are the small fixture's snapshots.
    for (path, contents) in &abigen::render_all(&model) {
        if small.iter().any(|(p, c)| p == path && c == contents) {
            continue;
        }
        let name = format!("ipc__{}", path.replace('/', "__"));
        insta::assert_snapshot!(name, contents);
    }
}

/// The IPC fixture with the protocol addendum: one protocol of every wire type.
const PROTOCOLS_SCHEMA: &str = concat!(
    include_str!("fixtures/small.toml"),
    include_str!("fixtures/ipc.toml"),
    include_str!("fixtures/protocols.toml")
);

#[test]
fn every_protocol_output_of_the_protocols_fixture() {
    let model = match abigen::parse_str("small+ipc+protocols.toml", PROTOCOLS_SCHEMA) {
        Ok(model) => model,
        Err(diagnostics) => panic!("fixture is invalid:\n{diagnostics}"),
    };
    // The protocol files, the C header (protocol sections) and the docs link.
    for (path, contents) in &abigen::render_all(&model) {
        let wanted = [
            "trona/src/generated/mod.rs",
            "trona/src/generated/protocols.rs",
            "docs/protocols.md",
            "trona/include/generated/kernite.h",
        ];
        if !wanted.contains(&path.as_str()) {
            continue;
        }
        let name = format!("protocols__{}", path.replace('/', "__"));
        insta::assert_snapshot!(name, contents);
    }
}

#[test]
fn rendering_is_deterministic_and_ignores_comments_and_order() {
    let text = include_str!("fixtures/small.toml");
    let first = abigen::parse_str("small.toml", text).map_err(|d| d.to_string());
    let reformatted = text
        .replace("# A small", "# Reworded comment: a small")
        .replace(" = ", "   =   ");
    let second = abigen::parse_str("small.toml", &reformatted).map_err(|d| d.to_string());
    let (Ok(first), Ok(second)) = (first, second) else {
        panic!("fixture must parse")
    };
    assert_eq!(abigen::render_all(&first), abigen::render_all(&second));
    assert_eq!(abigen::fingerprint(&first), abigen::fingerprint(&second));

    // Moving an entry changes nothing the fingerprint covers.
    let constant = "[[constant]]\nname = \"TOP\"\ntype = \"u64\"\nvalue = 0x7fff_0000\ndoc = \"Top of user space.\"\n\n";
    let moved = text.replacen(constant, "", 1) + "\n" + constant;
    let Ok(moved) = abigen::parse_str("small.toml", &moved) else {
        panic!("moved fixture must parse")
    };
    assert_eq!(abigen::fingerprint(&first), abigen::fingerprint(&moved));

    // A doc edit keeps the fingerprint; a number change does not.
    let Ok(redoc) = abigen::parse_str("small.toml", &text.replace("Top of user space.", "Top."))
    else {
        panic!("edited fixture must parse")
    };
    assert_eq!(abigen::fingerprint(&first), abigen::fingerprint(&redoc));
    let Ok(renumbered) = abigen::parse_str("small.toml", &text.replace("number = 3", "number = 4"))
    else {
        panic!("edited fixture must parse")
    };
    assert_ne!(
        abigen::fingerprint(&first),
        abigen::fingerprint(&renumbered)
    );
}
