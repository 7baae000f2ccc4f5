//! Validation fixtures of the server protocols: each test edits the small fixture with the IPC and protocol addenda to contain one mistake and checks the exact messages and their line:column.

const BASE: &str = concat!(
    include_str!("fixtures/small.toml"),
    include_str!("fixtures/ipc.toml"),
    include_str!("fixtures/protocols.toml")
);

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
    let actual = match abigen::parse_str("protocols.toml", &text) {
        Ok(_) => String::from("ok\n"),
        Err(diagnostics) => diagnostics.summary(),
    };
    assert_eq!(
        actual.trim_end(),
        expected.trim(),
        "\n--- actual ---\n{actual}--- end ---"
    );
}

#[test]
fn base_fixture_is_valid() {
    check(&[], "ok");
}

#[test]
fn protocol_name_must_be_upper_camel_case() {
    check(
        &[("name = \"Store\"", "name = \"store\"")],
        "protocols.toml:404:8: invalid protocol name: `store` is not UpperCamelCase (like `PageTable`)\nprotocols.toml:412:12: message of unknown protocol `Store`\nprotocols.toml:423:12: message of unknown protocol `Store`\nprotocols.toml:435:12: message of unknown protocol `Store`\nprotocols.toml:447:12: message of unknown protocol `Store`\nprotocols.toml:456:9: retired label 0x40f names unknown protocol `Store` (a retired protocol's block is retired whole, with `labels`)",
    );
}

#[test]
fn duplicate_protocol() {
    check(
        &[(
            "",
            "\n[[protocol]]\nname = \"Store\"\nversion = \"1.0\"\nlabels = { base = 0x600, size = 0x10 }\ndoc = \"Again.\"\n",
        )],
        "protocols.toml:465:8: duplicate protocol (after case conversion) `store`",
    );
}

#[test]
fn message_names_that_collide_after_case_conversion() {
    check(
        &[(
            "",
            "\n[[message]]\nprotocol = \"Store\"\nname = \"get_2\"\nlabel = 0x405\ndoc = \"One.\"\n\n[[message]]\nprotocol = \"Store\"\nname = \"get2\"\nlabel = 0x406\ndoc = \"Two.\"\n",
        )],
        "protocols.toml:472:8: duplicate message name (after case conversion) `Store.Get2`",
    );
}

#[test]
fn version_must_be_major_minor() {
    check(
        &[("version = \"2.1\"", "version = \"2\"")],
        "protocols.toml:405:11: protocol version `2` is not `major.minor` (two numbers up to 65535, like \"1.0\")",
    );
}

#[test]
fn block_overlapping_an_object() {
    check(
        &[(
            "labels = { base = 0x400, size = 0x10 }",
            "labels = { base = 0x18, size = 0x10 }",
        )],
        "protocols.toml:406:10: label block 0x18..=0x27 overlaps the block of object Bag (0x10..=0x1f)",
    );
}

#[test]
fn block_overlapping_the_kernel_messages() {
    check(
        &[(
            "labels = { base = 0x400, size = 0x10 }",
            "labels = { base = 0x48, size = 0x10 }",
        )],
        "protocols.toml:406:10: label block 0x48..=0x57 overlaps the kernel messages' block (0x40..=0x4f)",
    );
}

#[test]
fn block_overlapping_a_retired_protocol() {
    check(
        &[(
            "labels = { base = 0x400, size = 0x10 }",
            "labels = { base = 0x508, size = 0x10 }",
        )],
        "protocols.toml:406:10: label block 0x508..=0x517 overlaps the block of retired protocol Cache (0x500..=0x50f)",
    );
}

#[test]
fn block_overlapping_another_protocol() {
    check(
        &[(
            "",
            "\n[[protocol]]\nname = \"Other\"\nversion = \"1.0\"\nlabels = { base = 0x408, size = 0x10 }\ndoc = \"Overlaps.\"\n",
        )],
        "protocols.toml:467:10: label block 0x408..=0x417 overlaps the block of protocol Store (0x400..=0x40f)",
    );
}

#[test]
fn block_beyond_the_label_field() {
    check(
        &[(
            "labels = { base = 0x400, size = 0x10 }",
            "labels = { base = 0x400_0000_0000_0000, size = 0x10 }",
        )],
        "protocols.toml:406:10: label block 0x400000000000000..=0x40000000000000f does not fit the info word's label field (at most 0x1ffffffffffffff)",
    );
}

#[test]
fn retired_protocol_name_reused() {
    check(
        &[(
            "",
            "\n[[protocol]]\nname = \"Cache\"\nversion = \"1.0\"\nlabels = { base = 0x600, size = 0x10 }\ndoc = \"Back.\"\n",
        )],
        "protocols.toml:465:8: protocol name `Cache` is retired and must not be reused (Merged into Store.)",
    );
}

#[test]
fn message_label_outside_the_block() {
    check(
        &[("label = 0x401", "label = 0x411")],
        "protocols.toml:414:9: label 0x411 lies outside the block of protocol Store (0x400..=0x40f)",
    );
}

#[test]
fn message_label_at_the_handshake() {
    check(
        &[("label = 0x401", "label = 0x400")],
        "protocols.toml:414:9: label 0x400 is the block's base, which is the generated handshake of protocol Store; messages start at 0x401",
    );
}

#[test]
fn message_label_reused() {
    check(
        &[("label = 0x402", "label = 0x401")],
        "protocols.toml:425:9: duplicate message label `Store.0x401`",
    );
}

#[test]
fn retired_message_label_reused() {
    check(
        &[("label = 0x404", "label = 0x40f")],
        "protocols.toml:449:9: label 0x40f of protocol Store is retired and must not be reused (Store.compact was never implemented.)",
    );
}

#[test]
fn message_of_an_unknown_protocol() {
    check(
        &[(
            "protocol = \"Store\"\nname = \"forget\"",
            "protocol = \"Stor\"\nname = \"forget\"",
        )],
        "protocols.toml:447:12: message of unknown protocol `Stor`; expected one of Store",
    );
}

#[test]
fn reserved_message_name() {
    check(
        &[("name = \"forget\"", "name = \"connect\"")],
        "protocols.toml:448:8: message name `connect` is reserved: the generated client has a method of that name",
    );
}

#[test]
fn reserved_argument_name() {
    check(
        &[(
            "args = [{ name = \"flag\", type = \"bool\"",
            "args = [{ name = \"request\", type = \"bool\"",
        )],
        "protocols.toml:451:18: argument name `request` is reserved in generated protocol code",
    );
}

#[test]
fn unknown_argument_type() {
    check(
        &[("type = \"Pair\"", "type = \"Triple\"")],
        "protocols.toml:429:27: unknown result type `Triple`; expected one of u8, u16, u32, u64, bool, ObjectType, bytes, string, cap, Rights, Tag, Mode, CapIdentity, Pair, Mailbox",
    );
}

#[test]
fn count_only_with_u8() {
    check(
        &[(
            "{ name = \"tag\", type = \"u8\", count = 3",
            "{ name = \"tag\", type = \"u16\", count = 3",
        )],
        "protocols.toml:441:41: `count` makes a fixed-size byte array and applies only to `u8`, and this argument is `u16`",
    );
}

#[test]
fn max_required_for_bytes() {
    check(
        &[(
            "{ name = \"value\", type = \"bytes\", max = 16, doc = \"The value.\" },\n]",
            "{ name = \"value\", type = \"bytes\", doc = \"The value.\" },\n]",
        )],
        "protocols.toml:417:3: a `bytes` argument needs `max`, its largest length in bytes",
    );
}

#[test]
fn max_only_for_bytes_and_strings() {
    check(
        &[(
            "args = [{ name = \"flag\", type = \"bool\"",
            "args = [{ name = \"flag\", type = \"bool\", max = 3",
        )],
        "protocols.toml:451:47: `max` applies only to `bytes` and `string`, and this argument is `bool`",
    );
}

#[test]
fn max_must_be_positive() {
    check(
        &[(
            "{ name = \"key\", type = \"string\", max = 8, doc = \"The key.\" }]",
            "{ name = \"key\", type = \"string\", max = 0, doc = \"The key.\" }]",
        )],
        "protocols.toml:426:48: `max` must be at least 1",
    );
}

#[test]
fn message_that_cannot_fit_the_buffer() {
    check(
        &[(
            "{ name = \"value\", type = \"bytes\", max = 16, doc = \"The value.\" },\n]",
            "{ name = \"value\", type = \"bytes\", max = 64, doc = \"The value.\" },\n]",
        )],
        "protocols.toml:416:3: the message's arguments cannot fit the IPC buffer: 11 words at most, MSG_MAX_LENGTH is 8",
    );
}

#[test]
fn too_many_capabilities() {
    check(
        &[(
            "{ name = \"tag\", type = \"u8\", count = 3",
            "{ name = \"more\", type = \"cap\", object = \"any\", rights = [], optional = true, doc = \"Three.\" },\n  { name = \"tag\", type = \"u8\", count = 3",
        )],
        "protocols.toml:441:3: too many capabilities: a message carries at most MSG_MAX_CAPS = 2",
    );
}

#[test]
fn required_capability_after_an_optional_one() {
    check(
        &[
            (
                "{ name = \"extra\", type = \"cap\", object = \"any\", rights = [], optional = true",
                "{ name = \"extra\", type = \"cap\", object = \"any\", rights = [], optional = false",
            ),
            (
                "object = \"Port\", rights = [\"write\"], doc = \"A port.\"",
                "object = \"Port\", rights = [\"write\"], optional = true, doc = \"A port.\"",
            ),
        ],
        "protocols.toml:440:3: a required capability must come before every optional one (the receiver counts the optional ones that arrived)",
    );
}

#[test]
fn capability_in_a_protocol_without_grant() {
    check(
        &[(
            "grant = true\ndoc = \"A key-value store.\"",
            "grant = false\ndoc = \"A key-value store.\"",
        )],
        "protocols.toml:439:27: a capability argument needs an endpoint with grant semantics: protocol Store has `grant = false`\nprotocols.toml:440:28: a capability argument needs an endpoint with grant semantics: protocol Store has `grant = false`\nprotocols.toml:443:38: a capability result needs an endpoint with grant semantics: protocol Store has `grant = false`",
    );
}

#[test]
fn capability_of_an_unknown_object_and_right() {
    check(
        &[(
            "object = \"Port\", rights = [\"write\"], doc = \"A port.\"",
            "object = \"Pot\", rights = [\"scribble\"], doc = \"A port.\"",
        )],
        "protocols.toml:439:43: a `cap` names unknown object `Pot`; expected one of Bag, PageTable, Port, any\nprotocols.toml:439:60: unknown right `scribble`; expected one of read, write",
    );
}

#[test]
fn object_and_optional_only_for_capabilities() {
    check(
        &[(
            "args = [{ name = \"flag\", type = \"bool\"",
            "args = [{ name = \"flag\", type = \"bool\", object = \"Port\", optional = true",
        )],
        "protocols.toml:451:50: `object` applies only to `cap`, and this argument is `bool`\nprotocols.toml:451:69: `optional` applies only to `cap`, and this argument is `bool`",
    );
}

#[test]
fn unknown_error_in_a_message() {
    check(
        &[("errors = [\"Full\"]", "errors = [\"Fuller\"]")],
        "protocols.toml:419:11: `errors` names unknown error `Fuller` (neither a shared `[[error]]` nor an error of the protocol)",
    );
}

#[test]
fn protocol_error_code_below_the_base() {
    check(
        &[(
            "{ name = \"Full\", code = 0x100",
            "{ name = \"Full\", code = 0x10",
        )],
        "protocols.toml:409:35: protocol error code 0x10 is below `[protocols].error_base` 0x100, where shared errors live",
    );
}

#[test]
fn protocol_error_named_like_a_shared_one() {
    check(
        &[(
            "{ name = \"Full\", code = 0x100",
            "{ name = \"BadCap\", code = 0x100",
        )],
        "protocols.toml:409:20: protocol error `BadCap` has the name of a shared `[[error]]`; use the shared one or rename it",
    );
}

#[test]
fn shared_error_code_at_or_above_the_base() {
    check(
        &[("error_base = 0x100", "error_base = 0x7")],
        "protocols.toml:50:8: shared error `Unknown` has code 0x9 at or above `[protocols].error_base` 0x7, where protocol errors live\nprotocols.toml:370:8: shared error `Mismatch` has code 0x7 at or above `[protocols].error_base` 0x7, where protocol errors live",
    );
}

#[test]
fn oneway_with_results_or_errors() {
    check(
        &[(
            "oneway = true\nargs = [{ name = \"flag\", type = \"bool\", doc = \"Whatever.\" }]",
            "oneway = true\nargs = [{ name = \"flag\", type = \"bool\", doc = \"Whatever.\" }]\nresults = [{ name = \"done\", type = \"bool\", doc = \"No.\" }]\nerrors = [\"Full\"]",
        )],
        "protocols.toml:452:12: a oneway message has no reply, so it takes no `results`\nprotocols.toml:453:10: a oneway message has no reply, so it lists no `errors`",
    );
}

#[test]
fn retired_label_of_an_unknown_protocol() {
    check(
        &[(
            "protocol = \"Store\"\nlabel = 0x40f",
            "protocol = \"Stash\"\nlabel = 0x40f",
        )],
        "protocols.toml:456:9: retired label 0x40f names unknown protocol `Stash` (a retired protocol's block is retired whole, with `labels`)",
    );
}

#[test]
fn implied_error_names_an_unknown_error() {
    check(
        &[("malformed = \"BadArgument\"", "malformed = \"Bad\"")],
        "protocols.toml:396:13: `[protocols].malformed` names unknown error `Bad`",
    );
}

#[test]
fn protocols_need_the_protocols_table() {
    check(
        &[(
            "[protocols]\nunknown_label = \"NoSuchLabel\"\nmalformed = \"BadArgument\"\nmissing_capability = \"BadCap\"\nwrong_object_type = \"WrongObjectType\"\ninsufficient_rights = \"NoRights\"\nversion_mismatch = \"Mismatch\"\nerror_base = 0x100\n",
            "",
        )],
        "protocols.toml:395:1: a `[[protocol]]` needs the `[protocols]` table (its implied errors and `error_base`)",
    );
}

#[test]
fn protocols_need_cap_identity() {
    check(
        &[("name = \"CapIdentity\"", "name = \"CapIdent\"")],
        "protocols.toml:403:1: protocols need the `CapIdentity` bitfield with `object_type` and `rights` fields (what CNode.identify reports), which the generated server's capability checks read",
    );
}
