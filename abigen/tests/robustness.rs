//! Property tests: no input, however malformed, panics the parser, the validator or the renderers; and a compile oracle: accepted random schemas build and every output agrees with the Rust crate.

use std::fmt::Write as _;

use proptest::prelude::*;

const REAL_SCHEMA: &str = include_str!("../../schema.toml");
const SMALL_SCHEMA: &str = include_str!("fixtures/small.toml");
/// The small fixture with the IPC addendum (bitfields, IPC syscalls, kernel messages).
const IPC_SCHEMA: &str = concat!(
    include_str!("fixtures/small.toml"),
    include_str!("fixtures/ipc.toml")
);

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

    #[test]
    fn mutated_ipc_schema_never_panics(edits in prop::collection::vec(edit(), 1..6)) {
        exercise(&mutate(IPC_SCHEMA, &edits));
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

#[path = "support/oracle.rs"]
mod oracle;
#[path = "support/scratch.rs"]
mod scratch;

/// A small deterministic generator (xorshift64*), so that a failing schema can be rebuilt
/// from its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    /// `good`, plus now and then the `risky` names (ones that collide or are keywords), so
    /// that the accepted sample is varied and the refusals are exercised too.
    fn pool<'a>(&mut self, good: &[&'a str], risky: &[&'a str]) -> Vec<&'a str> {
        let mut out = good.to_vec();
        if self.chance(15) {
            out.extend_from_slice(risky);
        }
        out
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }

    /// `least + below(spread)` distinct items of `items` (fewer if it has fewer), in a random order.
    fn distinct<'a>(&mut self, items: &[&'a str], least: usize, spread: usize) -> Vec<&'a str> {
        let count = least + self.below(spread.max(1));
        let mut pool = items.to_vec();
        let mut out = Vec::new();
        while out.len() < count && !pool.is_empty() {
            out.push(pool.remove(self.below(pool.len())));
        }
        out
    }
}

/// A random schema that stresses what the generator derives from names: names that
/// collide after case conversion or with generated names, keywords, every argument type,
/// capability arguments, u64 constants above i64::MAX, padding in structs and per-CPU
/// blocks. Many are refused; the accepted ones must build and agree.
fn random_schema(seed: u64) -> String {
    let mut r = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    let mut t = String::new();
    let abi = r.pick(&["mini", "kern", "os_nine", "abi"]);
    let _ = writeln!(
        t,
        "[abi]\nname = \"{abi}\"\nversion = \"{}.{}\"\n",
        r.below(4),
        r.below(9)
    );
    let args = 2 + r.below(5);
    let x86 = ["rdi", "rsi", "rdx", "r10", "r8", "r9"];
    let list = |regs: &[&str]| {
        regs.iter()
            .map(|x| format!("\"{x}\""))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let clobbers = if r.chance(30) {
        "\"rcx\", \"r11\", \"r12\""
    } else {
        "\"rcx\", \"r11\""
    };
    let _ = writeln!(
        t,
        "[arch.x86_64]\ntrap = \"syscall\"\nnumber_register = \"rax\"\narg_registers = [{}]\nresult_registers = [\"rax\", \"rdx\"]\nclobbered_registers = [{clobbers}]\n",
        list(&x86[..args])
    );
    let with_arm = r.chance(70);
    if with_arm {
        let arm: Vec<String> = (0..args).map(|i| format!("x{i}")).collect();
        let arm: Vec<&str> = arm.iter().map(String::as_str).collect();
        let _ = writeln!(
            t,
            "[arch.aarch64]\ntrap = \"svc #{}\"\nnumber_register = \"x8\"\narg_registers = [{}]\nresult_registers = [\"x0\", \"x1\"]\nclobbered_registers = [{}]\n",
            r.below(3),
            list(&arm),
            if r.chance(30) { "\"x9\"" } else { "" }
        );
    }
    let error_pool = r.pool(
        &[
            "NoCall",
            "NoLabel",
            "BadArg",
            "NoRights",
            "Unknown",
            "WrongObjectType",
            "InvalidCapability",
            "Busy",
            "IOError",
            "Full",
        ],
        &["Ioerror"],
    );
    let error_names = r.distinct(&error_pool, 7, 4);
    for (code, name) in error_names.iter().enumerate() {
        let _ = writeln!(
            t,
            "[[error]]\nname = \"{name}\"\ncode = {}\ndoc = \"An error.\"\n",
            code + 1
        );
    }
    let dispatch = r.distinct(&error_names, 5, 1);
    let _ = writeln!(
        t,
        "[dispatch]\nunknown_syscall = \"{}\"\nunknown_label = \"{}\"\ninvalid_argument = \"{}\"\ninsufficient_rights = \"{}\"\nunknown_error = \"{}\"\n",
        dispatch[0], dispatch[1], dispatch[2], dispatch[3], dispatch[4]
    );
    let types = ["u8", "u16", "u32", "u64"];
    let constant_pool = r.pool(
        &["TOP", "PAGE", "MASK", "LIMIT"],
        &["SYS_NOP", "ABI_H", "RIGHTS_ALL"],
    );
    for name in r.distinct(&constant_pool, 0, 4) {
        let ty = r.pick(&types);
        let value = match ty {
            "u64" if r.chance(40) => "\"0xffff_ffff_ffff_ffff\"".to_owned(),
            "u64" => (r.next() >> 2).to_string(),
            "u32" => (r.next() % (1 << 32)).to_string(),
            "u16" => (r.next() % (1 << 16)).to_string(),
            _ => (r.next() % 256).to_string(),
        };
        let _ = writeln!(
            t,
            "[[constant]]\nname = \"{name}\"\ntype = \"{ty}\"\nvalue = {value}\ndoc = \"A constant.\"\n"
        );
    }
    let rights_pool = r.pool(&["read", "write", "grant", "int", "exec"], &["all"]);
    let rights = r.distinct(&rights_pool, 2, 3);
    let bits: Vec<String> = rights
        .iter()
        .enumerate()
        .map(|(i, b)| {
            format!(
                "{{ name = \"{b}\", bit = {}, doc = \"A right.\" }}",
                i * (1 + r.below(20))
            )
        })
        .collect();
    let _ = writeln!(
        t,
        "[[flags]]\nname = \"Rights\"\ndoc = \"Rights.\"\nbits = [{}]\n",
        bits.join(", ")
    );
    for name in r.distinct(&["Pair", "CpuTimes", "CPUTimes", "Regs"], 0, 3) {
        let fields: Vec<String> = r
            .distinct(&["a", "small", "big", "ip", "flag", "sp"], 1, 4)
            .iter()
            .map(|f| {
                format!(
                    "{{ name = \"{f}\", type = \"{}\", doc = \"A field.\" }}",
                    r.pick(&types)
                )
            })
            .collect();
        let _ = writeln!(
            t,
            "[[struct]]\nname = \"{name}\"\ndoc = \"A struct.\"\nfields = [{}]\n",
            fields.join(", ")
        );
    }
    let object_pool = r.pool(
        &["Bag", "PageTable", "VSpace", "Tcb", "Sys"],
        &["Vspace", "TcbSet"],
    );
    let objects = r.distinct(&object_pool, 1, 3);
    for (i, name) in objects.iter().enumerate() {
        let _ = writeln!(
            t,
            "[[object]]\nname = \"{name}\"\nid = {}\nlabels = {{ base = {:#x}, size = 0x10 }}\ndoc = \"An object.\"\n",
            i + 1,
            0x20 * (i + 1)
        );
    }
    let param = |r: &mut Rng, name: &str| -> String {
        let ty = r.pick(&[
            "u8",
            "u16",
            "u32",
            "u64",
            "bool",
            "cap",
            "uaddr",
            "ObjectType",
            "Rights",
        ]);
        if ty == "cap" {
            let object = if r.chance(50) {
                "any"
            } else {
                objects[r.below(objects.len())]
            };
            let needed = r.distinct(&rights, 0, 2);
            let needed: Vec<String> = needed.iter().map(|x| format!("\"{x}\"")).collect();
            format!(
                "{{ name = \"{name}\", type = \"cap\", object = \"{object}\", rights = [{}], doc = \"A capability.\" }}",
                needed.join(", ")
            )
        } else {
            format!("{{ name = \"{name}\", type = \"{ty}\", doc = \"A value.\" }}")
        }
    };
    let arg_names = ["value", "count", "index", "dest", "source", "flags"];
    let _ = writeln!(
        t,
        "[[syscall]]\nname = \"invoke\"\nnumber = 1\nkind = \"invoke\"\nargs = [{{ name = \"cap\", type = \"cap\", doc = \"The capability.\" }}, {{ name = \"label\", type = \"u64\", doc = \"The label.\" }}]\ndoc = \"Invoke.\"\n"
    );
    let syscall_pool = r.pool(
        &["nop", "write", "read_2", "peek", "ticks"],
        &["yield", "read2"],
    );
    for (i, name) in r.distinct(&syscall_pool, 0, 4).iter().enumerate() {
        let params: Vec<String> = r
            .distinct(&arg_names, 0, args + 1)
            .iter()
            .map(|a| param(&mut r, a))
            .collect();
        let result = if r.chance(50) {
            let ty = r.pick(&[
                "u8",
                "u32",
                "u64",
                "bool",
                "cap",
                "uaddr",
                "ObjectType",
                "Rights",
            ]);
            format!("results = [{{ name = \"result\", type = \"{ty}\", doc = \"A result.\" }}]\n")
        } else {
            String::new()
        };
        let _ = writeln!(
            t,
            "[[syscall]]\nname = \"{name}\"\nnumber = {}\nargs = [{}]\n{result}doc = \"A syscall.\"\n",
            i + 2,
            params.join(", ")
        );
    }
    let mut used = std::collections::HashSet::new();
    for _ in 0..r.below(7) {
        let o = r.below(objects.len());
        let label = 0x20 * (o + 1) + r.below(0x10);
        if !used.insert(label) {
            continue;
        }
        let name = r.pick(&[
            "set",
            "get",
            "move",
            "register",
            "set_priority",
            "priority",
            "yield",
            "unmap",
            "type",
        ]);
        let params: Vec<String> = r
            .distinct(&arg_names, 0, args - 1)
            .iter()
            .map(|a| param(&mut r, a))
            .collect();
        let needed = r.distinct(&rights, 0, 3);
        let needed: Vec<String> = needed.iter().map(|x| format!("\"{x}\"")).collect();
        let _ = writeln!(
            t,
            "[[invocation]]\nobject = \"{}\"\nname = \"{name}\"\nlabel = {label:#x}\nrights = [{}]\nargs = [{}]\ndoc = \"An invocation.\"\n",
            objects[o],
            needed.join(", "),
            params.join(", ")
        );
    }
    let arches: &[&str] = if with_arm {
        &["x86_64", "aarch64"]
    } else {
        &["x86_64"]
    };
    for arch in arches {
        for name in r.distinct(&["kernel_sp", "cpu_id", "scratch", "flag", "spare"], 1, 4) {
            let count = if r.chance(20) {
                format!("count = {}\n", 1 + r.below(4))
            } else {
                String::new()
            };
            let _ = writeln!(
                t,
                "[[percpu.{arch}.field]]\nname = \"{name}\"\ntype = \"{}\"\n{count}asm = {}\ndoc = \"A field.\"\n",
                r.pick(&types),
                r.chance(60)
            );
        }
    }
    t
}

/// How many accepted random schemas the oracle builds: enough to cover every class the
/// generator produces, few enough for one `cargo build` of a couple of minutes on 2 cores.
const ORACLE_SCHEMAS: usize = 24;

/// The compile oracle: the fixtures, the real schema and a sample of accepted random
/// schemas all build (Rust warnings denied; C with gcc, warnings denied), and the C
/// header, the per-CPU equates and docs/abi.md state exactly the Rust crate's numbers.
/// `ORACLE_SEED` picks another sample.
#[test]
fn accepted_schemas_build_and_every_output_agrees() {
    let first_seed: u64 = std::env::var("ORACLE_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1);
    let mut cases = Vec::new();
    for (name, text) in [
        ("schema.toml", REAL_SCHEMA),
        ("small.toml", SMALL_SCHEMA),
        ("small+ipc.toml", IPC_SCHEMA),
        ("tricky.toml", include_str!("fixtures/tricky.toml")),
    ] {
        let model = abigen::parse_str(name, text).unwrap_or_else(|d| panic!("{d}"));
        cases.push(oracle::Case {
            name: name.to_owned(),
            model,
        });
    }
    let mut tried = 0;
    let mut seed = first_seed;
    let fixtures = cases.len();
    while cases.len() < fixtures + ORACLE_SCHEMAS && tried < 2000 {
        let text = random_schema(seed);
        if let Ok(model) = abigen::parse_str("random.toml", &text) {
            cases.push(oracle::Case {
                name: format!("random schema, seed {seed}"),
                model,
            });
        }
        tried += 1;
        seed += 1;
    }
    let accepted = cases.len() - fixtures;
    assert_eq!(
        accepted, ORACLE_SCHEMAS,
        "only {accepted} of {tried} random schemas were accepted"
    );
    println!(
        "oracle: {accepted} of {tried} random schemas accepted, building them with the fixtures"
    );
    oracle::build_and_cross_check(&cases);
}
