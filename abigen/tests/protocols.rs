//! The generated protocols on the host: their behaviour (client, mock transport, dispatch, server), the drift proof (a renamed or removed message breaks the build of a client and of a server), and `gen --check` catching a hand-edited protocol file.

use std::path::Path;
use std::process::Command;

#[path = "support/scratch.rs"]
mod scratch;
use scratch::run_cargo;

const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
const SCHEMA: &str = include_str!("../../schema.toml");

/// Code that calls `Echo.ping` through the generated client.
const CLIENT: &str = "//! A client of Echo.ping.\npub fn ping(client: &check::protocols::echo::EchoClient) -> bool {\n    client.ping().is_ok()\n}\n";

fn model(name: &str, text: &str) -> abigen::Model {
    match abigen::parse_str(name, text) {
        Ok(model) => model,
        Err(diagnostics) => panic!("{name} is invalid:\n{diagnostics}"),
    }
}

/// The real schema with one edit, which must apply exactly once.
fn edited(find: &str, replace: &str) -> String {
    assert_eq!(SCHEMA.matches(find).count(), 1, "edit target {find:?}");
    SCHEMA.replacen(find, replace, 1)
}

fn rendered(model: &abigen::Model, path: &str) -> String {
    abigen::render_all(model)
        .into_iter()
        .find(|(p, _)| p == path)
        .map(|(_, text)| text)
        .unwrap_or_else(|| panic!("{path} is not rendered"))
}

fn write(root: &Path, relative: &str, contents: &str) {
    let path = root.join(relative);
    std::fs::create_dir_all(path.parent().expect("a parent")).expect("create directories");
    std::fs::write(&path, contents).expect("write a scratch file");
}

fn manifest(name: &str, dependencies: &str) -> String {
    format!(
        "[package]\nname = \"{name}\"\nversion = \"0.0.0\"\nedition = \"2024\"\n\n[dependencies]\n{dependencies}"
    )
}

/// `check_<variant>`: the generated protocols of `model` over the host mock transport; a
/// client crate and a server crate written against the real schema use it.
fn write_variant(root: &Path, variant: &str, model: &abigen::Model) {
    let check = format!("check_{variant}");
    write(
        root,
        &format!("{check}/Cargo.toml"),
        &manifest(&check, "abi = { path = \"../abi\" }\n"),
    );
    write(
        root,
        &format!("{check}/src/lib.rs"),
        "//! The generated protocols over a host transport.\npub mod proto;\npub mod protocols;\n",
    );
    for (path, contents) in scratch::proto_module(include_str!("support/proto_mock.rs")) {
        write(root, &format!("{check}/src/{path}"), &contents);
    }
    write(
        root,
        &format!("{check}/src/protocols.rs"),
        &rendered(model, "trona/src/generated/protocols.rs"),
    );
    let uses = format!(
        "abi = {{ path = \"../abi\" }}\ncheck = {{ package = \"{check}\", path = \"../{check}\" }}\n"
    );
    write(
        root,
        &format!("client_{variant}/Cargo.toml"),
        &manifest(&format!("client_{variant}"), &uses),
    );
    write(root, &format!("client_{variant}/src/lib.rs"), CLIENT);
    write(
        root,
        &format!("server_{variant}/Cargo.toml"),
        &manifest(&format!("server_{variant}"), &uses),
    );
    write(
        root,
        &format!("server_{variant}/src/lib.rs"),
        "//! An Echo server.\nmod echo_server;\npub use echo_server::Echo;\n",
    );
    write(
        root,
        &format!("server_{variant}/src/echo_server.rs"),
        include_str!("fixtures/protocols_echo_server.rs"),
    );
}

/// Runs `cargo check -p package` in the scratch, expecting failure; the compiler's output.
fn check_fails(root: &Path, package: &str) -> String {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let output = Command::new(cargo)
        .args(["check", "--quiet", "--offline", "-p", package])
        .current_dir(root)
        .env("CARGO_TARGET_DIR", root.join("target"))
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_BUILD_TARGET")
        .env_remove("RUSTC_WRAPPER")
        .env_remove("RUSTC_WORKSPACE_WRAPPER")
        .output()
        .expect("run cargo");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(
        !output.status.success(),
        "{package} must not build:\n{stderr}"
    );
    stderr
}

#[test]
fn generated_protocols_behave_and_renamed_or_removed_messages_break_clients_and_servers() {
    let real = model("schema.toml", SCHEMA);
    let renamed = model(
        "renamed.toml",
        &edited(
            "protocol = \"Echo\"\nname = \"ping\"",
            "protocol = \"Echo\"\nname = \"pong\"",
        ),
    );
    let ping_block = "[[message]]\nprotocol = \"Echo\"\nname = \"ping\"\nlabel = 0x1041\ndoc = \"An empty call: the round trip of the generated layer.\"\n\n";
    let removed = model("removed.toml", &edited(ping_block, ""));
    // Protocol-only edits leave the kernel ABI as it is.
    assert_eq!(abigen::fingerprint(&renamed), abigen::fingerprint(&real));
    assert_eq!(
        rendered(&renamed, "abi/src/generated.rs"),
        rendered(&real, "abi/src/generated.rs")
    );

    let dir = tempfile::tempdir().expect("a temporary directory");
    let root = dir.path();
    let mut members = vec!["\"abi\"".to_owned()];
    for variant in ["base", "renamed", "removed"] {
        for krate in ["check", "client", "server"] {
            members.push(format!("\"{krate}_{variant}\""));
        }
    }
    write(
        root,
        "Cargo.toml",
        &format!(
            "[workspace]\nmembers = [{}]\nresolver = \"3\"\n",
            members.join(", ")
        ),
    );
    write(
        root,
        "abi/Cargo.toml",
        &manifest("abi", "bitflags = \"2\"\n"),
    );
    let abi_lib =
        std::fs::read_to_string(Path::new(ROOT).join("abi/src/lib.rs")).expect("abi/src/lib.rs");
    write(root, "abi/src/lib.rs", &abi_lib);
    write(
        root,
        "abi/src/generated.rs",
        &rendered(&real, "abi/src/generated.rs"),
    );
    write_variant(root, "base", &real);
    write_variant(root, "renamed", &renamed);
    write_variant(root, "removed", &removed);
    write(
        root,
        "check_base/tests/behaviour.rs",
        &include_str!("fixtures/protocols_behaviour.rs").replace("check::", "check_base::"),
    );
    write(
        root,
        "check_base/tests/echo_server.rs",
        &include_str!("fixtures/protocols_echo_server.rs").replace("check::", "check_base::"),
    );

    // The real schema: the client and the server build, clippy-clean, and behave.
    run_cargo(
        root,
        &[
            "clippy",
            "--quiet",
            "--offline",
            "-p",
            "check_base",
            "-p",
            "client_base",
            "-p",
            "server_base",
            "--",
            "-D",
            "warnings",
        ],
        "the generated protocols do not build",
    );
    run_cargo(
        root,
        &["test", "--quiet", "--offline", "-p", "check_base"],
        "the generated protocols misbehave",
    );
    // A renamed message: the client's call and the server's method both fail, by name.
    let client = check_fails(root, "client_renamed");
    assert!(client.contains("no method named `ping`"), "{client}");
    let server = check_fails(root, "server_renamed");
    assert!(
        server.contains("method `ping` is not a member of trait `EchoServer`"),
        "{server}"
    );
    assert!(server.contains("missing: `pong`"), "{server}");
    // A removed message: the same, without the new name.
    let client = check_fails(root, "client_removed");
    assert!(client.contains("no method named `ping`"), "{client}");
    let server = check_fails(root, "server_removed");
    assert!(
        server.contains("method `ping` is not a member of trait `EchoServer`"),
        "{server}"
    );
}

#[test]
fn gen_check_catches_a_hand_edited_protocol_file() {
    let real = model("schema.toml", SCHEMA);
    let files = abigen::render_all(&real);
    let dir = tempfile::tempdir().expect("a temporary directory");
    abigen::sync(dir.path(), &files, abigen::SyncMode::Write).expect("write the tree");
    for path in [
        "trona/src/generated/protocols.rs",
        "docs/protocols.md",
        "trona/include/generated/kernite.h",
    ] {
        let file = dir.path().join(path);
        let original = std::fs::read_to_string(&file).expect("a generated file");
        std::fs::write(&file, original.replacen("0x1041", "0x1051", 1)).expect("edit");
        let report =
            abigen::sync(dir.path(), &files, abigen::SyncMode::Check).expect("compare the tree");
        assert_eq!(report.with_status(abigen::FileStatus::Stale), [path]);
        std::fs::write(&file, original).expect("restore");
    }
}

#[test]
fn protocol_fingerprints_follow_the_wire_contract_only() {
    let real = model("schema.toml", SCHEMA);
    let echo = |m: &abigen::Model| {
        let p = m.protocols.iter().find(|p| p.name == "Echo").expect("Echo");
        abigen::protocol_fingerprint(p)
    };
    let doc_only = model(
        "doc.toml",
        &edited(
            "doc = \"An empty call: the round trip of the generated layer.\"",
            "doc = \"Another doc.\"",
        ),
    );
    assert_eq!(echo(&doc_only), echo(&real), "docs are not the contract");
    let retyped = model(
        "retyped.toml",
        &edited(
            "{ name = \"code\", type = \"u64\", doc = \"Ignored; the server refuses whatever it is.\" }",
            "{ name = \"code\", type = \"u32\", doc = \"Ignored; the server refuses whatever it is.\" }",
        ),
    );
    assert_ne!(echo(&retyped), echo(&real), "an argument type is");
    assert_eq!(abigen::fingerprint(&retyped), abigen::fingerprint(&real));
}
