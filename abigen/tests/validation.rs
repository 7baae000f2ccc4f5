//! Validation fixtures: each test edits the small fixture schema to contain one mistake and checks the exact message and its line:column.

const BASE: &str = include_str!("fixtures/small.toml");

/// Applies `edits` (each `find` must occur exactly once; `find` = "" appends) to the base
/// schema, validates it and compares the one-line-per-error summary with `expected`.
fn check(edits: &[(&str, &str)], expected: &str) {
    let mut text = BASE.to_owned();
    for (find, replace) in edits {
        if find.is_empty() {
            text.push_str(replace);
            continue;
        }
        assert_eq!(
            text.matches(find).count(),
            1,
            "edit target {find:?} must occur exactly once"
        );
        text = text.replacen(find, replace, 1);
    }
    let actual = match abigen::parse_str("small.toml", &text) {
        Ok(_) => String::from("ok\n"),
        Err(diagnostics) => diagnostics.summary(),
    };
    assert_eq!(
        actual.trim_end(),
        expected.trim(),
        "\n--- actual ---\n{actual}"
    );
}

#[test]
fn base_fixture_is_valid() {
    check(&[], "ok");
}

#[test]
fn rendered_errors_show_the_offending_line() {
    let text = BASE.replacen("number = 3", "number = 0", 1);
    let Err(diagnostics) = abigen::parse_str("small.toml", &text) else {
        panic!("a duplicate syscall number must be rejected");
    };
    let rendered = diagnostics.to_string();
    assert!(
        rendered.contains("error: duplicate syscall number `0`"),
        "{rendered}"
    );
    assert!(rendered.contains("┌─ small.toml:98:10"), "{rendered}");
    assert!(rendered.contains("98 │ number = 0"), "{rendered}");
    assert!(rendered.contains("first defined here"), "{rendered}");
}

#[test]
fn duplicate_syscall_name() {
    check(
        &[("name = \"write\"\nnumber = 3", "name = \"nop\"\nnumber = 3")],
        "small.toml:97:8: duplicate syscall name `nop`",
    );
}

#[test]
fn duplicate_syscall_number() {
    check(
        &[("number = 3", "number = 0")],
        "small.toml:98:10: duplicate syscall number `0`",
    );
}

#[test]
fn duplicate_object_id() {
    check(
        &[("id = 2", "id = 1")],
        "small.toml:119:6: duplicate object id `1`",
    );
}

#[test]
fn duplicate_label() {
    check(
        &[("label = 0x11", "label = 0x10")],
        "small.toml:143:9: duplicate invocation label `0x10`",
    );
}

#[test]
fn duplicate_error_code_and_name() {
    check(
        &[
            ("code = 9", "code = 4"),
            ("name = \"Unknown\"", "name = \"NoRights\""),
        ],
        "small.toml:26:17: `[dispatch].unknown_error` names unknown error `Unknown`\nsmall.toml:49:8: duplicate error name `NoRights`\nsmall.toml:50:8: duplicate error code `4`",
    );
}

#[test]
fn duplicate_error_name() {
    check(
        &[(
            "name = \"BadArgument\"\ncode = 3",
            "name = \"NoSuchLabel\"\ncode = 3",
        )],
        "small.toml:24:20: `[dispatch].invalid_argument` names unknown error `BadArgument`\nsmall.toml:39:8: duplicate error name `NoSuchLabel`\nsmall.toml:146:11: `errors` names unknown error `BadArgument`",
    );
}

#[test]
fn entry_errors_must_be_defined() {
    check(
        &[(
            "errors = [\"NoRights\"]",
            "errors = [\"NoRights\", \"Nope\"]",
        )],
        "small.toml:104:23: `errors` names unknown error `Nope`",
    );
}

#[test]
fn entry_errors_must_not_repeat() {
    check(
        &[(
            "errors = [\"BadArgument\"]",
            "errors = [\"BadArgument\", \"NoRights\", \"BadArgument\"]",
        )],
        "small.toml:146:38: duplicate error in `errors` `BadArgument`",
    );
}

#[test]
fn entry_errors_must_be_a_list_of_names() {
    check(
        &[("errors = [\"NoRights\"]", "errors = \"NoRights\"")],
        "small.toml:104:10: invalid type: string \"NoRights\", expected a sequence",
    );
}

#[test]
fn invoke_syscall_errors_belong_to_the_invocations() {
    check(
        &[(
            "doc = \"Invoke a capability.\"",
            "errors = []\ndoc = \"Invoke a capability.\"",
        )],
        "small.toml:94:10: the invoke syscall's errors are each invocation's own; declare them on the invocations",
    );
}

/// Cap lookup errors are implied by a `cap`-typed argument, so listing one is refused;
/// without a `cap` argument the same error is the handler's own and may be listed.
#[test]
fn cap_lookup_errors_are_implied_by_cap_arguments() {
    let define = (
        "[[constant]]\nname = \"TICK_HZ\"",
        "[[error]]\nname = \"InvalidCapability\"\ncode = 6\ndoc = \"No capability.\"\n\n[[constant]]\nname = \"TICK_HZ\"",
    );
    let argument = |object: &str| {
        (
            "  { name = \"len\", type = \"u32\", doc = \"Length.\" },".to_owned(),
            format!(
                "  {{ name = \"len\", type = \"u32\", doc = \"Length.\" }},\n  {{ name = \"to\", type = \"cap\", object = \"{object}\", rights = [], doc = \"Where.\" }},"
            ),
        )
    };
    let declare = |list: &'static str| ("errors = [\"NoRights\"]", list);
    let any = argument("any");
    let bag = argument("Bag");
    let cases: [(Vec<(&str, &str)>, &str); 4] = [
        (
            vec![define, declare("errors = [\"WrongObjectType\"]")],
            "ok",
        ),
        (
            vec![
                define,
                (&any.0, &any.1),
                declare("errors = [\"InvalidCapability\", \"NoRights\"]"),
            ],
            "small.toml:110:11: `InvalidCapability` is implied by the capability argument `to`; remove it from `errors`",
        ),
        // A capability of any type cannot be of the wrong type: the handler may declare it.
        (
            vec![
                define,
                (&any.0, &any.1),
                declare("errors = [\"WrongObjectType\"]"),
            ],
            "ok",
        ),
        (
            vec![
                define,
                (&bag.0, &bag.1),
                declare("errors = [\"WrongObjectType\"]"),
            ],
            "small.toml:110:11: `WrongObjectType` is implied by the capability argument `to`; remove it from `errors`",
        ),
    ];
    for (edits, expected) in cases {
        check(&edits, expected);
    }
}

#[test]
fn duplicate_constant() {
    check(
        &[("name = \"TOP\"", "name = \"TICK_HZ\"")],
        "small.toml:60:8: duplicate constant `TICK_HZ`",
    );
}

#[test]
fn duplicate_type_name() {
    check(
        &[("name = \"Pair\"", "name = \"Rights\"")],
        "small.toml:74:8: duplicate type name `Rights`",
    );
}

#[test]
fn duplicate_field() {
    check(
        &[(
            "{ name = \"big\", type = \"u64\"",
            "{ name = \"small\", type = \"u64\"",
        )],
        "small.toml:78:12: duplicate field `small`",
    );
}

#[test]
fn duplicate_flag_bit() {
    check(
        &[("bit = 1", "bit = 0")],
        "small.toml:70:27: duplicate flag bit `0`",
    );
}

#[test]
fn duplicate_argument() {
    check(
        &[(
            "{ name = \"flag\", type = \"bool\"",
            "{ name = \"bits\", type = \"bool\"",
        )],
        "small.toml:134:12: duplicate parameter `bits`",
    );
}

#[test]
fn label_outside_its_block() {
    check(
        &[("label = 0x11", "label = 0x21")],
        "small.toml:143:9: label 0x21 lies outside the block of Bag (0x10..=0x1f)",
    );
}

#[test]
fn label_of_another_block_is_outside() {
    check(
        &[("label = 0x11", "label = 0x20")],
        "small.toml:143:9: label 0x20 lies outside the block of Bag (0x10..=0x1f)",
    );
}

#[test]
fn overlapping_label_blocks() {
    check(
        &[(
            "labels = { base = 0x20, size = 0x10 }",
            "labels = { base = 0x18, size = 0x10 }",
        )],
        "small.toml:120:10: label block 0x18..=0x27 of PageTable overlaps the block 0x10..=0x1f of Bag",
    );
}

#[test]
fn reused_retired_syscall_number() {
    check(
        &[("number = 3", "number = 2")],
        "small.toml:98:10: syscall 2 is retired and must not be reused (The old write.)",
    );
}

#[test]
fn reused_retired_label() {
    check(
        &[("label = 0x11", "label = 0x13")],
        "small.toml:143:9: label 0x13 is retired and must not be reused (Bag.peek moved.)",
    );
}

#[test]
fn duplicate_retired_entry() {
    check(
        &[("", "\n[[retired]]\nsyscall = 2\nreason = \"Twice.\"\n")],
        "small.toml:217:11: duplicate retired number `syscall 0x2`",
    );
}

#[test]
fn retired_entry_needs_exactly_one_number() {
    check(
        &[("syscall = 2\n", "syscall = 2\nlabel = 0x30\n")],
        "small.toml:107:1: a retired entry needs exactly one of `syscall`, `label`, `object`, `error`",
    );
}

#[test]
fn unknown_argument_type() {
    check(
        &[(
            "type = \"u32\", doc = \"Length.\"",
            "type = \"u128\", doc = \"Length.\"",
        )],
        "small.toml:101:26: unknown type `u128`; expected one of u8, u16, u32, u64, bool, cap, uaddr, ObjectType, Rights",
    );
}

#[test]
fn unknown_field_type() {
    check(
        &[(
            "{ name = \"small\", type = \"u8\", doc = \"A byte.\" },\n  { name = \"big\"",
            "{ name = \"small\", type = \"bool\", doc = \"A byte.\" },\n  { name = \"big\"",
        )],
        "small.toml:77:28: unknown field type `bool`; expected u8, u16, u32 or u64",
    );
}

#[test]
fn too_many_syscall_arguments() {
    check(
        &[(
            "{ name = \"len\", type = \"u32\", doc = \"Length.\" },",
            "{ name = \"len\", type = \"u32\", doc = \"Length.\" },\n  { name = \"a\", type = \"u64\", doc = \"A.\" },\n  { name = \"b\", type = \"u64\", doc = \"B.\" },\n  { name = \"c\", type = \"u64\", doc = \"C.\" },\n  { name = \"d\", type = \"u64\", doc = \"D.\" },\n  { name = \"e\", type = \"u64\", doc = \"E.\" },",
        )],
        "small.toml:106:3: syscall has 7 arguments but x86_64 has only 6 argument registers",
    );
}

#[test]
fn too_many_invocation_arguments() {
    check(
        &[(
            "{ name = \"small\", type = \"u8\", doc = \"A byte.\" },\n]\ndoc = \"Set the bits.\"",
            "{ name = \"small\", type = \"u8\", doc = \"A byte.\" },\n  { name = \"extra\", type = \"u64\", doc = \"One too many.\" },\n]\ndoc = \"Set the bits.\"",
        )],
        "small.toml:137:3: invocation has 5 arguments but only 4 argument registers remain after the invoke syscall's 2",
    );
}

#[test]
fn percpu_offset_pin_disagrees_with_layout() {
    check(
        &[("offset = 12", "offset = 8")],
        "small.toml:173:10: `scratch` is pinned at offset 8 but the repr(C) layout puts it at 12",
    );
}

#[test]
fn percpu_field_named_size_collides_with_the_size_equate() {
    check(
        &[("name = \"kernel_sp\"", "name = \"size\"")],
        "small.toml:177:8: a per-CPU field may not be named `size`: its equate would collide with `PERCPU_SIZE`",
    );
}

#[test]
fn rust_2024_keywords_are_rejected() {
    check(
        &[
            ("name = \"nop\"", "name = \"gen\""),
            ("name = \"kernel_sp\"", "name = \"move\""),
            (
                "{ name = \"small\", type = \"u8\", doc = \"A byte.\" },\n]",
                "{ name = \"loop\", type = \"u8\", doc = \"A byte.\" },\n]",
            ),
        ],
        "small.toml:82:8: invalid syscall name: `gen` is a Rust keyword\nsmall.toml:136:12: invalid argument name: `loop` is a Rust keyword\nsmall.toml:177:8: invalid per-CPU field name: `move` is a Rust keyword",
    );
}

/// Invocation names, result names and flag bits never appear bare in generated code
/// (`TcbYield`, `tcb_yield`, `TCB_YIELD`), so keywords of either language are fine there.
#[test]
fn keywords_are_allowed_where_names_are_never_bare() {
    check(
        &[
            ("name = \"unmap\"", "name = \"yield\""),
            ("name = \"set\"", "name = \"register\""),
            ("{ name = \"write\", bit = 1", "{ name = \"int\", bit = 1"),
            (
                "rights = [\"write\"]\nargs = [\n  { name = \"bits\"",
                "rights = [\"int\"]\nargs = [\n  { name = \"bits\"",
            ),
            (
                "rights = [\"write\"]\nargs = [\n  { name = \"table\"",
                "rights = [\"int\"]\nargs = [\n  { name = \"table\"",
            ),
            (
                "rights = [\"write\"], doc = \"The table",
                "rights = [\"int\"], doc = \"The table",
            ),
            (
                "rights = [\"read\", \"write\"], doc = \"The bag",
                "rights = [\"read\", \"int\"], doc = \"The bag",
            ),
            ("results = [{ name = \"ok\"", "results = [{ name = \"type\""),
        ],
        "ok",
    );
}

#[test]
fn c_keywords_are_rejected() {
    check(
        &[(
            "{ name = \"small\", type = \"u8\", doc = \"A byte.\" },\n  { name = \"big\"",
            "{ name = \"int\", type = \"u8\", doc = \"A byte.\" },\n  { name = \"big\"",
        )],
        "small.toml:77:12: invalid field name: `int` is a C keyword",
    );
}

#[test]
fn names_must_follow_their_case() {
    check(
        &[
            ("name = \"Bag\"", "name = \"bag_type\""),
            ("name = \"TOP\"", "name = \"Top\""),
        ],
        "small.toml:60:8: invalid constant name: `Top` is not SCREAMING_SNAKE_CASE (like `PAGE_SIZE`)\nsmall.toml:112:8: invalid object name: `bag_type` is not UpperCamelCase (like `PageTable`)\nsmall.toml:128:10: invocation of unknown object `Bag`\nsmall.toml:141:10: invocation of unknown object `Bag`\nsmall.toml:200:48: capability argument `bag` names unknown object `Bag`; expected one of bag_type, PageTable, any\nsmall.toml:205:10: invocation of unknown object `Bag`",
    );
}

#[test]
fn identifiers_must_be_identifiers() {
    check(
        &[("name = \"write\"\nnumber", "name = \"write-all\"\nnumber")],
        "small.toml:97:8: invalid syscall name: `write-all` is not an identifier: only ASCII letters, digits and `_` are allowed",
    );
}

#[test]
fn missing_doc() {
    check(
        &[("doc = \"Do nothing.\"\n", "")],
        "small.toml:81:1: syscall has no `doc`",
    );
}

#[test]
fn empty_doc() {
    check(
        &[("doc = \"A page table.\"", "doc = \"  \"")],
        "small.toml:121:7: object has an empty `doc`",
    );
}

#[test]
fn missing_doc_on_an_argument() {
    check(
        &[(
            "{ name = \"buf\", type = \"uaddr\", doc = \"Bytes.\" }",
            "{ name = \"buf\", type = \"uaddr\" }",
        )],
        "small.toml:100:3: argument has no `doc`",
    );
}

#[test]
fn constant_value_must_fit_its_type() {
    check(
        &[("type = \"u32\"\nvalue = 250", "type = \"u8\"\nvalue = 300")],
        "small.toml:56:9: value of u8 constant TICK_HZ 300 is larger than 255",
    );
}

#[test]
fn constant_value_must_not_be_negative() {
    check(
        &[("value = 250", "value = -1")],
        "small.toml:56:9: value of u32 constant TICK_HZ -1 is negative",
    );
}

#[test]
fn reserved_constant_name() {
    check(
        &[("name = \"TOP\"", "name = \"ABI_FINGERPRINT\"")],
        "small.toml:60:8: constant name `ABI_FINGERPRINT` is reserved for the generated crate",
    );
}

#[test]
fn dispatch_names_an_unknown_error() {
    check(
        &[(
            "unknown_label = \"NoSuchLabel\"",
            "unknown_label = \"Missing\"",
        )],
        "small.toml:23:17: `[dispatch].unknown_label` names unknown error `Missing`",
    );
}

#[test]
fn dispatch_key_missing() {
    check(
        &[("insufficient_rights = \"NoRights\"\n", "")],
        "small.toml:21:1: `[dispatch]` has no `insufficient_rights`",
    );
}

#[test]
fn at_most_one_result() {
    check(
        &[(
            "results = [{ name = \"written\", type = \"u64\", doc = \"Bytes written.\" }]",
            "results = [\n  { name = \"written\", type = \"u64\", doc = \"Bytes written.\" },\n  { name = \"more\", type = \"u64\", doc = \"More.\" },\n]",
        )],
        "small.toml:105:3: at most one result fits the value register; this entry declares 2",
    );
}

#[test]
fn invocation_of_an_unknown_object() {
    check(
        &[(
            "object = \"PageTable\"\nname = \"unmap\"",
            "object = \"Table\"\nname = \"unmap\"",
        )],
        "small.toml:150:10: invocation of unknown object `Table`",
    );
}

#[test]
fn unknown_right() {
    check(
        &[("rights = [\"read\"]", "rights = [\"read\", \"grant\"]")],
        "small.toml:144:19: unknown right `grant`; expected one of read, write",
    );
}

#[test]
fn rights_list_is_required() {
    check(
        &[("rights = []\n", "")],
        "small.toml:149:1: invocation has no `rights` list (write `rights = []` if it needs none)",
    );
}

#[test]
fn only_one_invoke_syscall() {
    check(
        &[("number = 0\n", "number = 0\nkind = \"invoke\"\n")],
        "small.toml:81:1: the invoke syscall must take exactly two arguments: a `cap` and a `u64` label\nsmall.toml:90:8: only one syscall can be `kind = \"invoke\"`",
    );
}

#[test]
fn invoke_syscall_shape() {
    check(
        &[(
            "{ name = \"label\", type = \"u64\", doc = \"The label.\" },",
            "{ name = \"label\", type = \"u32\", doc = \"The label.\" },",
        )],
        "small.toml:86:1: the invoke syscall must take exactly two arguments: a `cap` and a `u64` label",
    );
}

#[test]
fn unknown_syscall_kind() {
    check(
        &[("kind = \"invoke\"", "kind = \"call\"")],
        "small.toml:89:8: unknown syscall kind `call`; expected `plain`, `invoke` or `ipc`\nsmall.toml:127:1: invocations need a syscall with `kind = \"invoke\"`, and there is none",
    );
}

#[test]
fn generated_function_names_must_not_collide() {
    check(
        &[("name = \"write\"\nnumber", "name = \"bag_get\"\nnumber")],
        "small.toml:142:8: duplicate trona function `bag_get`",
    );
}

#[test]
fn reserved_argument_name() {
    check(
        &[(
            "{ name = \"flag\", type = \"bool\"",
            "{ name = \"target\", type = \"bool\"",
        )],
        "small.toml:134:12: argument name `target` is reserved in generated code",
    );
}

#[test]
fn argument_named_like_the_object_is_reserved() {
    check(
        &[(
            "{ name = \"flag\", type = \"bool\"",
            "{ name = \"page_table\", type = \"bool\"",
        )],
        "ok",
    );
    check(
        &[(
            "{ name = \"flag\", type = \"bool\"",
            "{ name = \"bag\", type = \"bool\"",
        )],
        "small.toml:134:12: argument name `bag` is reserved in generated code",
    );
}

#[test]
fn argument_named_like_a_generated_function_is_reserved() {
    check(
        &[(
            "{ name = \"flag\", type = \"bool\"",
            "{ name = \"invoke\", type = \"bool\"",
        )],
        "small.toml:134:12: argument name `invoke` is reserved in generated code",
    );
    check(
        &[(
            "{ name = \"len\", type = \"u32\"",
            "{ name = \"status_to_result\", type = \"u32\"",
        )],
        "small.toml:101:12: argument name `status_to_result` is reserved in generated code",
    );
}

#[test]
fn object_snake_name_must_not_be_a_keyword() {
    check(
        &[
            ("name = \"PageTable\"", "name = \"Box\""),
            (
                "object = \"PageTable\"\nname = \"unmap\"",
                "object = \"Box\"\nname = \"unmap\"",
            ),
        ],
        "small.toml:118:8: object name `Box` becomes `box` in generated code: `box` is a Rust keyword\nsmall.toml:210:44: capability argument `table` names unknown object `PageTable`; expected one of Bag, Box, any",
    );
}

#[test]
fn error_code_zero_is_success() {
    check(
        &[("code = 9", "code = 0")],
        "small.toml:50:8: error code 0 means success and cannot be an error",
    );
}

#[test]
fn abi_version_format() {
    check(
        &[("version = \"2.3\"", "version = \"2\"")],
        "small.toml:5:11: ABI version must be `MAJOR.MINOR`, each a number below 65536",
    );
}

#[test]
fn architectures_must_agree_on_argument_registers() {
    check(
        &[(
            "[\"x0\", \"x1\", \"x2\", \"x3\", \"x4\", \"x5\"]",
            "[\"x0\", \"x1\", \"x2\", \"x3\"]",
        )],
        "small.toml:17:17: every architecture must have the same number of argument registers (6 in the first)",
    );
}

#[test]
fn result_registers_are_status_and_value() {
    check(
        &[(
            "result_registers = [\"x0\", \"x1\"]",
            "result_registers = [\"x0\"]",
        )],
        "small.toml:18:20: `result_registers` must name exactly 2 registers (status, value), not 1",
    );
}

#[test]
fn percpu_needs_a_declared_architecture() {
    check(
        &[(
            "",
            "\n[[percpu.riscv64.field]]\nname = \"a\"\ntype = \"u64\"\ndoc = \"A.\"\n",
        )],
        "small.toml:216:10: `[percpu.riscv64]` names an architecture that has no `[arch.riscv64]`",
    );
}

#[test]
fn every_architecture_needs_percpu() {
    let aarch64_percpu = &BASE[BASE.find("[[percpu.aarch64.field]]").unwrap_or(BASE.len())..];
    check(
        &[(aarch64_percpu, "")],
        "small.toml:14:7: architecture `aarch64` has no `[percpu.aarch64]` fields",
    );
}

#[test]
fn toml_syntax_error_is_located() {
    check(
        &[("number = 3", "number = = 3")],
        "small.toml:98:10: invalid string expected `\"`, `'`",
    );
}

#[test]
fn unknown_keys_are_rejected() {
    check(
        &[("number = 3", "number = 3\nnumbr = 4")],
        "small.toml:99:1: unknown field `numbr`, expected one of `name`, `number`, `kind`, `send`, `receive`, `args`, `results`, `errors`, `doc`",
    );
}

#[test]
fn all_errors_are_reported_at_once() {
    check(
        &[
            ("number = 3", "number = 0"),
            ("label = 0x11", "label = 0x13"),
            ("doc = \"A page table.\"", "doc = \"\""),
            ("offset = 12", "offset = 8"),
        ],
        "small.toml:98:10: duplicate syscall number `0`\nsmall.toml:121:7: object has an empty `doc`\nsmall.toml:143:9: label 0x13 is retired and must not be reused (Bag.peek moved.)\nsmall.toml:173:10: `scratch` is pinned at offset 8 but the repr(C) layout puts it at 12",
    );
}

#[test]
fn real_schema_is_valid() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../schema.toml");
    if let Err(diagnostics) = abigen::load(path) {
        panic!("schema.toml is invalid:\n{diagnostics}");
    }
}

// ----- capability arguments ------------------------------------------------------------

const TABLE_ARG: &str = "{ name = \"table\", type = \"cap\", object = \"PageTable\", rights = [\"write\"], doc = \"The table to adopt.\" }";

#[test]
fn cap_arguments_must_declare_object_and_rights() {
    let cases = [
        (
            "{ name = \"table\", type = \"cap\", object = \"PageTable\", doc = \"The table to adopt.\" }",
            "small.toml:210:3: capability argument `table` has no `rights` list (write `rights = []` if it needs none)",
        ),
        (
            "{ name = \"table\", type = \"cap\", rights = [\"write\"], doc = \"The table to adopt.\" }",
            "small.toml:210:3: capability argument `table` has no `object` (name the object type it must refer to, or `\"any\"`)",
        ),
        (
            "{ name = \"table\", type = \"cap\", object = \"PageTable\", rights = [\"exec\"], doc = \"The table to adopt.\" }",
            "small.toml:210:67: unknown right `exec`; expected one of read, write",
        ),
        (
            "{ name = \"table\", type = \"cap\", object = \"PageTable\", rights = [\"write\", \"write\"], doc = \"The table to adopt.\" }",
            "small.toml:210:76: duplicate right `write`",
        ),
        (
            "{ name = \"table\", type = \"cap\", object = \"Pagetable\", rights = [\"write\"], doc = \"The table to adopt.\" }",
            "small.toml:210:44: capability argument `table` names unknown object `Pagetable`; expected one of Bag, PageTable, any",
        ),
    ];
    for (argument, expected) in cases {
        check(&[(TABLE_ARG, argument)], expected);
    }
}

#[test]
fn object_and_rights_belong_to_cap_arguments_only() {
    check(
        &[(
            "{ name = \"count\", type = \"u8\", doc = \"A byte.\" }",
            "{ name = \"count\", type = \"u8\", object = \"Bag\", rights = [], doc = \"A byte.\" }",
        )],
        "small.toml:212:43: `object` applies only to `cap` arguments, and `count` is `u8`\nsmall.toml:212:59: `rights` applies only to `cap` arguments, and `count` is `u8`",
    );
    check(
        &[(
            "results = [{ name = \"bits\", type = \"Rights\", doc = \"The bag capability's rights.\" }]",
            "results = [{ name = \"bits\", type = \"cap\", rights = [], doc = \"The bag capability's rights.\" }]",
        )],
        "small.toml:201:52: `object` and `rights` constrain capability arguments, not results",
    );
    check(
        &[(
            "{ name = \"big\", type = \"u64\", doc = \"A word.\" }",
            "{ name = \"big\", type = \"u64\", rights = [], doc = \"A word.\" }",
        )],
        "small.toml:78:42: `rights` applies only to `cap` arguments, not to struct fields",
    );
}

#[test]
fn the_invoked_capability_takes_no_object_or_rights() {
    check(
        &[(
            "{ name = \"cap\", type = \"cap\", doc = \"The capability.\" }",
            "{ name = \"cap\", type = \"cap\", object = \"any\", rights = [\"read\"], doc = \"The capability.\" }",
        )],
        "small.toml:91:42: the invoke syscall's capability is checked against each invocation's object type and `rights`; declare no `object` or `rights` here\nsmall.toml:91:58: the invoke syscall's capability is checked against each invocation's object type and `rights`; declare no `object` or `rights` here",
    );
}

#[test]
fn a_typed_cap_argument_needs_wrong_object_type() {
    check(
        &[(
            "[[error]]\nname = \"WrongObjectType\"\ncode = 5\ndoc = \"The capability names an object of another type.\"\n",
            "",
        )],
        "small.toml:196:48: a capability argument that must name a `Bag` needs the error `WrongObjectType`, which the schema does not define\nsmall.toml:206:44: a capability argument that must name a `PageTable` needs the error `WrongObjectType`, which the schema does not define",
    );
}

// ----- trap conventions ----------------------------------------------------------------

#[test]
fn registers_must_exist_and_be_usable_by_inline_assembly() {
    let x86 = "rax, rcx, rdx, rsi, rdi, r8, r9, r10, r11, r12, r13, r14, r15";
    let arm = "x0, x1, x2, x3, x4, x5, x6, x7, x8, x9, x10, x11, x12, x13, x14, x15, x16, x17, x20, x21, x22, x23, x24, x25, x26, x27, x28";
    let cases = [
        (
            "arg_registers = [\"rdi\", \"rsi\", \"rdx\", \"r10\", \"r8\", \"r9\"]",
            "arg_registers = [\"rdi\", \"rsi\", \"rdz\", \"r10\", \"r8\", \"rbx\"]",
            format!(
                "small.toml:10:32: `rdz` is not one of the x86_64 registers inline assembly can use: {x86}\nsmall.toml:10:52: `rbx` is not one of the x86_64 registers inline assembly can use: {x86}"
            ),
        ),
        (
            "number_register = \"rax\"",
            "number_register = \"x8\"",
            format!(
                "small.toml:9:19: `x8` is not one of the x86_64 registers inline assembly can use: {x86}"
            ),
        ),
        (
            "number_register = \"x8\"",
            "number_register = \"x19\"",
            format!(
                "small.toml:16:19: `x19` is not one of the aarch64 registers inline assembly can use: {arm}"
            ),
        ),
    ];
    for (find, replace, expected) in cases {
        check(&[(find, replace)], &expected);
    }
}

#[test]
fn trap_instructions_are_checked_structurally() {
    let cases = [
        (
            "trap = \"svc #0\"",
            "trap = \"svc #1.5\"",
            "small.toml:15:8: `svc #1.5` is not the aarch64 trap instruction; expected `svc #N` with N from 0 to 65535 (`svc #0`)",
        ),
        (
            "trap = \"svc #0\"",
            "trap = \"svc #0x10000\"",
            "small.toml:15:8: `svc #0x10000` is not the aarch64 trap instruction; expected `svc #N` with N from 0 to 65535 (`svc #0`)",
        ),
        (
            "trap = \"syscall\"",
            "trap = \"sysenter\"",
            "small.toml:8:8: `sysenter` is not the x86_64 trap instruction; expected `syscall`",
        ),
    ];
    for (find, replace, expected) in cases {
        check(&[(find, replace)], expected);
    }
    check(&[("trap = \"svc #0\"", "trap = \"svc #0x1f\"")], "ok");
}

/// `syscall` overwrites rcx and r11: they can carry nothing and must be declared clobbered.
#[test]
fn registers_the_trap_overwrites_are_clobbered_and_carry_nothing() {
    check(
        &[(
            "arg_registers = [\"rdi\", \"rsi\", \"rdx\", \"r10\", \"r8\", \"r9\"]",
            "arg_registers = [\"rdi\", \"rsi\", \"rdx\", \"rcx\", \"r8\", \"r9\"]",
        )],
        "small.toml:10:39: `syscall` overwrites rcx (the return address); it cannot carry a number, argument or result\nsmall.toml:12:24: duplicate register `rcx`",
    );
    check(
        &[(
            "clobbered_registers = [\"rcx\", \"r11\"]",
            "clobbered_registers = [\"rcx\"]",
        )],
        "small.toml:12:23: `syscall` overwrites r11 (the saved RFLAGS): list it in `clobbered_registers`",
    );
}

/// An absent `clobbered_registers` would silently mean "none": the key is required.
#[test]
fn clobbered_registers_is_required() {
    check(
        &[(
            "result_registers = [\"x0\", \"x1\"]\nclobbered_registers = []\n",
            "result_registers = [\"x0\", \"x1\"]\n",
        )],
        "small.toml:14:7: `[arch.aarch64]` has no `clobbered_registers` (write `clobbered_registers = []` if the trap destroys no other register)",
    );
}

/// TOML integers stop at i64::MAX; a constant's value may be a string with any u64.
#[test]
fn constants_above_i64_max_are_written_as_strings() {
    let top = "value = 0x7fff_0000";
    check(&[(top, "value = \"0xffff_ffff_ffff_ffff\"")], "ok");
    check(&[(top, "value = \"18_446_744_073_709_551_615\"")], "ok");
    let cases = [
        (
            "value = \"0x1_0000_0000_0000_0000\"",
            "small.toml:62:9: value of u64 constant TOP `0x1_0000_0000_0000_0000` is not a number; write an integer, or a string such as \"0xffff_ffff_ffff_ffff\" for values above i64::MAX",
        ),
        (
            "value = \"-1\"",
            "small.toml:62:9: value of u64 constant TOP `-1` is not a number; write an integer, or a string such as \"0xffff_ffff_ffff_ffff\" for values above i64::MAX",
        ),
    ];
    for (value, expected) in cases {
        check(&[(top, value)], expected);
    }
    check(
        &[("value = 250", "value = \"0x1_0000_0000\"")],
        "small.toml:56:9: value of u32 constant TICK_HZ 4294967296 is larger than 4294967295",
    );
}

// ----- small things ----------------------------------------------------------------------

#[test]
fn versions_are_digits_only() {
    for version in ["+1.1", "1.+1", "1.", " 1.1", "1.1.0"] {
        check(
            &[("version = \"2.3\"", &format!("version = \"{version}\""))],
            "small.toml:5:11: ABI version must be `MAJOR.MINOR`, each a number below 65536",
        );
    }
}

/// An object whose label block is wrong is still an object: its invocations are not
/// reported as invocations of an unknown object.
#[test]
fn a_bad_label_block_does_not_cascade() {
    check(
        &[(
            "labels = { base = 0x20, size = 0x10 }",
            "labels = { base = 0x20, size = 0 }",
        )],
        "small.toml:120:32: label block must be non-empty and end below 2^64",
    );
}

#[test]
fn text_that_is_not_utf8_is_reported_at_the_byte() {
    let mut bytes = BASE.as_bytes().to_vec();
    let at = BASE.find("Do nothing.").expect("the nop doc");
    bytes[at + 3] = 0xff;
    let Err(diagnostics) = abigen::parse_bytes("small.toml", &bytes) else {
        panic!("invalid UTF-8 must be refused");
    };
    assert_eq!(
        diagnostics.summary().trim(),
        format!(
            "small.toml:84:11: the schema is not UTF-8: byte 0xff at offset {}",
            at + 3
        )
    );
}

/// An error on a very long line shows a window of the line around the error, not all of it.
#[test]
fn long_lines_are_cut_around_the_error() {
    let long_doc = "word ".repeat(400);
    let text = BASE.replacen(
        "{ name = \"len\", type = \"u32\", doc = \"Length.\" },",
        &format!("{{ name = \"len\", doc = \"{long_doc}\", type = \"u9\" }},"),
        1,
    );
    let Err(diagnostics) = abigen::parse_str("small.toml", &text) else {
        panic!("an unknown type must be refused");
    };
    let rendered = diagnostics.to_string();
    assert!(rendered.contains("unknown type `u9`"), "{rendered}");
    assert!(rendered.contains("small.toml:101:2036"), "{rendered}");
    assert!(rendered.contains("type = \"u9\""), "{rendered}");
    let longest = rendered
        .lines()
        .map(|l| l.chars().count())
        .max()
        .unwrap_or(0);
    assert!(
        longest < 220,
        "a rendered line has {longest} characters:\n{rendered}"
    );
}

// ----- generated identifiers -------------------------------------------------------------

/// Appends `text` to the base schema and checks the summary.
fn check_appended(text: &str, expected: &str) {
    check(&[("", text)], expected);
}

#[test]
fn names_that_collide_after_case_conversion_are_refused() {
    let invocation = |name: &str, label: u32| {
        format!(
            "\n[[invocation]]\nobject = \"Bag\"\nname = \"{name}\"\nlabel = {label:#x}\nrights = []\ndoc = \"An invocation.\"\n"
        )
    };
    check_appended(
        &(invocation("set_priority_2", 0x14) + &invocation("set_priority2", 0x15)),
        "small.toml:225:8: invocation `Bag.set_priority2` and invocation `Bag.set_priority_2` both become the `Invocation` variant `BagSetPriority2`",
    );
    let syscall = |name: &str, number: u32| {
        format!("\n[[syscall]]\nname = \"{name}\"\nnumber = {number}\ndoc = \"A syscall.\"\n")
    };
    check_appended(
        &(syscall("read_2", 10) + &syscall("read2", 11)),
        "small.toml:222:8: syscall `read2` and syscall `read_2` both become the `Syscall` variant `Read2`",
    );
    let object = |name: &str, id: u32, base: u32| {
        format!(
            "\n[[object]]\nname = \"{name}\"\nid = {id}\nlabels = {{ base = {base:#x}, size = 0x10 }}\ndoc = \"An object.\"\n"
        )
    };
    check_appended(
        &(object("VSpace", 7, 0x40) + &object("Vspace", 8, 0x50)),
        "small.toml:223:8: object `Vspace` and object `VSpace` both become the C macro `MINI_OBJECT_VSPACE`",
    );
    let error = |name: &str, code: u32| {
        format!("\n[[error]]\nname = \"{name}\"\ncode = {code}\ndoc = \"An error.\"\n")
    };
    check_appended(
        &(error("IOError", 20) + &error("Ioerror", 21)),
        "small.toml:222:8: error `Ioerror` and error `IOError` both become the C macro `MINI_ERROR_IOERROR`",
    );
    let structure = |name: &str| {
        format!(
            "\n[[struct]]\nname = \"{name}\"\ndoc = \"A struct.\"\nfields = [{{ name = \"a\", type = \"u64\", doc = \"A.\" }}]\n"
        )
    };
    check_appended(
        &(structure("CPUTimes") + &structure("Cputimes")),
        "small.toml:222:8: struct `Cputimes` and struct `CPUTimes` both become the C struct tag `mini_cputimes`",
    );
    // `Tcb.set_priority` and `TcbSet.priority` share every derived name.
    check_appended(
        &(object("Tcb", 7, 0x40)
            + &object("TcbSet", 8, 0x50)
            + "\n[[invocation]]\nobject = \"Tcb\"\nname = \"set_priority\"\nlabel = 0x40\nrights = []\ndoc = \"A.\"\n"
            + "\n[[invocation]]\nobject = \"TcbSet\"\nname = \"priority\"\nlabel = 0x50\nrights = []\ndoc = \"B.\"\n"),
        "small.toml:237:8: duplicate kernel trait method `tcb_set_priority`\nsmall.toml:237:8: duplicate trona function `tcb_set_priority`\nsmall.toml:237:8: invocation `TcbSet.priority` and invocation `Tcb.set_priority` both become the C macro `MINI_LABEL_TCB_SET_PRIORITY`\nsmall.toml:237:8: invocation `TcbSet.priority` and invocation `Tcb.set_priority` both become the `Invocation` variant `TcbSetPriority`\nsmall.toml:237:8: invocation `TcbSet.priority` and invocation `Tcb.set_priority` both become the `label::` constant `TCB_SET_PRIORITY`",
    );
}

#[test]
fn names_that_collide_with_what_the_generator_emits_are_refused() {
    let constant = |name: &str| {
        format!(
            "\n[[constant]]\nname = \"{name}\"\ntype = \"u8\"\nvalue = 1\ndoc = \"A constant.\"\n"
        )
    };
    check_appended(
        &constant("SYS_NOP"),
        "small.toml:217:8: constant `SYS_NOP` and syscall `nop` both become the C macro `MINI_SYS_NOP`",
    );
    check_appended(
        &constant("ABI_H"),
        "small.toml:217:8: constant `ABI_H` becomes the C macro `MINI_ABI_H`, which generated code already defines (the include guard)",
    );
    check_appended(
        "\n[[flags]]\nname = \"Sys\"\ndoc = \"Flags.\"\nbits = [{ name = \"nop\", bit = 0, doc = \"Spells a syscall macro.\" }]\n",
        "small.toml:219:18: flag bit `Sys.nop` and syscall `nop` both become the C macro `MINI_SYS_NOP`",
    );
    check_appended(
        &constant("RIGHTS_ALL"),
        "small.toml:217:8: constant `RIGHTS_ALL` and flag set `Rights` both become the C macro `MINI_RIGHTS_ALL`",
    );
}
