//! Compiles the generated Rust (abi crate, kernel dispatcher, per-CPU blocks and trap registers, trona trap and substrate, the fuzzer's table) in a scratch workspace, `no_std`, warnings denied, for the host and for aarch64.

use std::path::Path;

#[path = "support/scratch.rs"]
mod scratch;
use scratch::run_cargo;

const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");

/// The scratch crate's root: every generated module, a mock `Kernel`, and the assembly equates in use.
const CHECK_LIB: &str = r#"//! Scratch crate that type-checks generated code.
#![no_std]
#![deny(warnings)]

#[path = "kernel/src/generated/mod.rs"]
pub mod kernel_generated;
#[path = "trona/src/generated/mod.rs"]
pub mod trona_generated;
#[path = "servers/fuzz/src/generated/mod.rs"]
pub mod fuzz_generated;
#[cfg(target_arch = "x86_64")]
#[path = "kernel/src/arch/x86_64/generated/mod.rs"]
pub mod arch_generated;
#[cfg(target_arch = "aarch64")]
#[path = "kernel/src/arch/aarch64/generated/mod.rs"]
pub mod arch_generated;

#[cfg(target_arch = "x86_64")]
core::arch::global_asm!(
    include_str!("kernel/src/arch/x86_64/generated/percpu.S"),
    ".globl scratch_probe",
    "scratch_probe:",
    "movq %gs:PERCPU_SIZE - 8, %rax",
    "ret",
    options(att_syntax)
);
#[cfg(target_arch = "aarch64")]
core::arch::global_asm!(
    include_str!("kernel/src/arch/aarch64/generated/percpu.S"),
    ".globl scratch_probe",
    "scratch_probe:",
    "mrs x1, tpidr_el1",
    "ldr x0, [x1, #(PERCPU_SIZE - 8)]",
    "ret",
);

/// What the generated trap-register accessors extend: the kernel port's saved registers.
#[cfg(target_arch = "x86_64")]
#[derive(Default)]
pub struct UserFrame {
    pub rax: u64,
    pub rbx: u64,
    pub rcx: u64,
    pub rdx: u64,
    pub rsi: u64,
    pub rdi: u64,
    pub r8: u64,
    pub r9: u64,
    pub r10: u64,
    pub r11: u64,
    pub r12: u64,
    pub r13: u64,
    pub r14: u64,
    pub r15: u64,
}
/// What the generated trap-register accessors extend: the kernel port's saved registers.
#[cfg(target_arch = "aarch64")]
#[derive(Default)]
pub struct UserFrame {
    pub x: [u64; 31],
}

/// The zero block is usable in a static.
pub static PER_CPU: arch_generated::percpu::PerCpuData = arch_generated::percpu::PerCpuData::ZERO;
"#;

/// Writes `files` plus a copy of the hand-written `abi/src/lib.rs` into a scratch workspace and
/// runs `cargo clippy` for the host and `cargo check` for aarch64 in it.
fn check(files: &[(String, String)], behaviour_test: Option<&str>) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let scratch = dir.path();
    let write = |relative: &str, contents: &str| {
        let path = scratch.join(relative);
        std::fs::create_dir_all(path.parent().expect("a parent")).expect("create directories");
        std::fs::write(&path, contents).expect("write a scratch file");
    };
    write(
        "Cargo.toml",
        "[workspace]\nmembers = [\"abi\", \"check\"]\nresolver = \"3\"\n",
    );
    write(
        "abi/Cargo.toml",
        "[package]\nname = \"abi\"\nversion = \"0.0.0\"\nedition = \"2024\"\n\n[dependencies]\nbitflags = \"2\"\n",
    );
    let abi_lib =
        std::fs::read_to_string(Path::new(ROOT).join("abi/src/lib.rs")).expect("abi/src/lib.rs");
    write("abi/src/lib.rs", &abi_lib);
    write(
        "check/Cargo.toml",
        "[package]\nname = \"check\"\nversion = \"0.0.0\"\nedition = \"2024\"\n\n[dependencies]\nabi = { path = \"../abi\" }\n",
    );
    // The generated protocols call trona's runtime: its real wire format, a stub transport.
    let has_protocols = files
        .iter()
        .any(|(path, _)| path == "trona/src/generated/protocols.rs");
    if has_protocols {
        write(
            "check/src/lib.rs",
            &format!("{CHECK_LIB}\npub mod proto;\n"),
        );
        for (path, contents) in scratch::proto_module(include_str!("support/proto_stub.rs")) {
            write(&format!("check/src/{path}"), &contents);
        }
    } else {
        write("check/src/lib.rs", CHECK_LIB);
    }
    for (relative, contents) in files {
        if let Some(rest) = relative.strip_prefix("abi/") {
            write(&format!("abi/{rest}"), contents);
        } else {
            write(&format!("check/src/{relative}"), contents);
        }
    }
    let mut runs: Vec<&[&str]> = vec![
        &["clippy", "--quiet", "--offline", "--", "-D", "warnings"],
        &[
            "check",
            "--quiet",
            "--offline",
            "--target",
            "aarch64-unknown-none-softfloat",
        ],
    ];
    if let Some(test) = behaviour_test {
        write("check/tests/dispatch.rs", test);
        runs.push(&["test", "--quiet", "--offline"]);
    }
    for args in runs {
        run_cargo(scratch, args, "generated code does not build");
    }
}

#[test]
fn generated_code_compiles_for_the_fixtures_and_the_real_schema() {
    let fixture = abigen::parse_str("small.toml", include_str!("fixtures/small.toml"));
    let real = abigen::load(Path::new(ROOT).join("schema.toml"));
    let tricky = abigen::parse_str("tricky.toml", include_str!("fixtures/tricky.toml"));
    let behaviour = include_str!("fixtures/small_dispatch/dispatch.rs");
    let ipc = abigen::parse_str(
        "small+ipc.toml",
        concat!(
            include_str!("fixtures/small.toml"),
            include_str!("fixtures/ipc.toml")
        ),
    );
    let ipc_behaviour = include_str!("fixtures/ipc_dispatch/dispatch.rs");
    let protocols = abigen::parse_str(
        "small+ipc+protocols.toml",
        concat!(
            include_str!("fixtures/small.toml"),
            include_str!("fixtures/ipc.toml"),
            include_str!("fixtures/protocols.toml")
        ),
    );
    for (model, test) in [
        (fixture, Some(behaviour)),
        (ipc, Some(ipc_behaviour)),
        (tricky, None),
        (protocols, None),
        (real, None),
    ] {
        match model {
            Ok(model) => check(&abigen::render_all(&model), test),
            Err(diagnostics) => panic!("schema is invalid:\n{diagnostics}"),
        }
    }
}
