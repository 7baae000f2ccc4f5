//! Validation fixtures of the IPC additions: each test edits the small fixture with the IPC addendum to contain one mistake (bitfields, array lengths naming constants, IPC registers, IPC syscalls, kernel messages) and checks the exact message and its line:column.

const BASE: &str = concat!(
    include_str!("fixtures/small.toml"),
    include_str!("fixtures/ipc.toml")
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
    let actual = match abigen::parse_str("ipc.toml", &text) {
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

// ----- bitfields --------------------------------------------------------------------------

#[test]
fn overlapping_bitfield_fields() {
    check(
        &[(r#"name = "duplex", lsb = 5"#, r#"name = "duplex", lsb = 3"#)],
        "ipc.toml:254:3: field `duplex` (bits 3..=3) overlaps field `speed` (bits 0..=3)",
    );
}

#[test]
fn bitfield_field_beyond_the_word() {
    check(
        &[(
            r#"name = "channel", lsb = 8, width = 8"#,
            r#"name = "channel", lsb = 9, width = 8"#,
        )],
        "ipc.toml:255:40: field `channel` (bits 9..=16) does not fit the u16 word (bits 0..=15)",
    );
}

#[test]
fn bitfield_field_of_width_zero() {
    check(
        &[(
            r#"name = "duplex", lsb = 5, width = 1"#,
            r#"name = "duplex", lsb = 5, width = 0"#,
        )],
        "ipc.toml:254:39: a bitfield field must be at least 1 bit wide",
    );
}

#[test]
fn bitfield_field_wider_than_its_type() {
    check(
        &[(
            r#"{ name = "label", lsb = 7, width = 57, type = "u64""#,
            r#"{ name = "label", lsb = 7, width = 57, type = "u32""#,
        )],
        "ipc.toml:245:49: field `label` is 57 bits wide but its type `u32` holds only 32",
    );
}

#[test]
fn bitfield_lsb_out_of_range() {
    check(
        &[(
            r#"name = "duplex", lsb = 5"#,
            r#"name = "duplex", lsb = 64"#,
        )],
        "ipc.toml:254:28: lsb 64 is larger than 63",
    );
}

#[test]
fn duplicate_bitfield_field() {
    check(
        &[(r#"name = "duplex", lsb = 5"#, r#"name = "speed", lsb = 5"#)],
        "ipc.toml:254:12: duplicate bitfield field `speed`",
    );
}

#[test]
fn bitfield_field_whose_accessor_is_another_fields() {
    check(
        &[(
            r#"name = "duplex", lsb = 5"#,
            r#"name = "with_speed", lsb = 5"#,
        )],
        "ipc.toml:249:8: bitfield field `Mode.with_speed` and bitfield field `Mode.speed` both become the C function `mini_mode_with_speed`\nipc.toml:254:12: the getter of field `with_speed` and the setter of field `speed` are both the method `with_speed`",
    );
}

#[test]
fn bitfield_field_named_like_a_generated_method() {
    check(
        &[(r#"name = "duplex", lsb = 5"#, r#"name = "bits", lsb = 5"#)],
        "ipc.toml:254:12: the getter of field `bits` would be the method `bits`, which every bitfield type defines",
    );
}

#[test]
fn unknown_bitfield_word_type() {
    check(
        &[(
            "name = \"Mode\"\ntype = \"u16\"",
            "name = \"Mode\"\ntype = \"u24\"",
        )],
        "ipc.toml:250:8: unknown bitfield type `u24`; expected u8, u16, u32 or u64",
    );
}

#[test]
fn unknown_bitfield_field_type() {
    check(
        &[(
            r#"width = 8, type = "u8", doc = "The channel"#,
            r#"width = 8, type = "byte", doc = "The channel"#,
        )],
        "ipc.toml:255:50: unknown bitfield field type `byte`; expected u8, u16, u32 or u64",
    );
}

#[test]
fn bitfield_without_fields() {
    check(
        &[(
            "",
            "\n[[bitfield]]\nname = \"Empty\"\ntype = \"u8\"\ndoc = \"Nothing.\"\n",
        )],
        "ipc.toml:361:1: bitfield has no `fields`",
    );
}

#[test]
fn bitfield_named_like_a_struct() {
    check(
        &[(
            "name = \"Mode\"\ntype = \"u16\"",
            "name = \"Mailbox\"\ntype = \"u16\"",
        )],
        "ipc.toml:271:8: duplicate type name `Mailbox`\nipc.toml:288:33: unknown type `Mode`; expected one of u8, u16, u32, u64, bool, cap, uaddr, ObjectType, Rights, Tag, Mailbox\nipc.toml:289:35: unknown type `Mode`; expected one of u8, u16, u32, u64, bool, cap, uaddr, ObjectType, Rights, Tag, Mailbox",
    );
}

#[test]
fn bitfield_helpers_collide_with_the_c_trap() {
    check(
        &[(
            "",
            "\n[[bitfield]]\nname = \"Ipc\"\ntype = \"u8\"\ndoc = \"A word.\"\nfields = [{ name = \"trap\", lsb = 0, width = 1, type = \"u8\", doc = \"A bit.\" }]\n",
        )],
        "ipc.toml:362:8: bitfield field `Ipc.trap` becomes the C function `mini_ipc_trap`, which generated code already defines (the IPC trap)",
    );
}

#[test]
fn unknown_argument_types_list_the_bitfields() {
    check(
        &[(
            r#"args = [{ name = "mode", type = "Mode""#,
            r#"args = [{ name = "mode", type = "Mood""#,
        )],
        "ipc.toml:288:33: unknown type `Mood`; expected one of u8, u16, u32, u64, bool, cap, uaddr, ObjectType, Rights, Tag, Mode",
    );
}

// ----- array lengths naming constants -----------------------------------------------------

#[test]
fn count_names_an_unknown_constant() {
    check(
        &[(r#"count = "MAILBOX_WORDS""#, r#"count = "MAILBOX_SLOTS""#)],
        "ipc.toml:274:43: `count` names unknown constant `MAILBOX_SLOTS`; write a number or the name of a `[[constant]]`",
    );
}

#[test]
fn count_names_a_constant_of_zero() {
    check(
        &[(
            "name = \"MAILBOX_WORDS\"\ntype = \"u64\"\nvalue = 40",
            "name = \"MAILBOX_WORDS\"\ntype = \"u64\"\nvalue = 0",
        )],
        "ipc.toml:274:43: `count` names constant `MAILBOX_WORDS`, which is 0; an array length must be from 1 to 1048576",
    );
}

#[test]
fn count_names_a_constant_too_large() {
    check(
        &[(
            "name = \"MAILBOX_WORDS\"\ntype = \"u64\"\nvalue = 40",
            "name = \"MAILBOX_WORDS\"\ntype = \"u64\"\nvalue = 2_000_000",
        )],
        "ipc.toml:274:43: `count` names constant `MAILBOX_WORDS`, which is 2000000; an array length must be from 1 to 1048576",
    );
}

#[test]
fn count_of_zero() {
    check(
        &[("type = \"u32\", count = 2", "type = \"u32\", count = 0")],
        "ipc.toml:275:42: array length must be at least 1",
    );
}

#[test]
fn count_on_an_argument() {
    check(
        &[(
            r#"args = [{ name = "mode", type = "Mode","#,
            r#"args = [{ name = "mode", type = "Mode", count = 2,"#,
        )],
        "ipc.toml:288:49: `count` applies only to struct fields, not to an argument",
    );
}

// ----- IPC registers ----------------------------------------------------------------------

#[test]
fn ipc_register_is_the_number_register() {
    check(
        &[("capability = \"x1\"", "capability = \"x8\"")],
        "ipc.toml:230:14: `x8` is the number register; it cannot also carry the IPC capability",
    );
}

#[test]
fn ipc_register_is_the_status_register() {
    check(
        &[("info = \"x2\"", "info = \"x0\"")],
        "ipc.toml:231:8: `x0` is the status register (`result_registers[0]`); it cannot also carry the IPC info word",
    );
}

#[test]
fn ipc_register_is_clobbered() {
    check(
        &[(
            r#"message_registers = ["rdx", "r10", "r8", "r9"]"#,
            r#"message_registers = ["rdx", "r10", "r8", "r11"]"#,
        )],
        "ipc.toml:227:42: `r11` is clobbered by the trap; it cannot also carry the IPC message register",
    );
}

#[test]
fn ipc_registers_must_be_distinct() {
    check(
        &[(
            r#"message_registers = ["x3", "x4", "x5", "x6", "x7"]"#,
            r#"message_registers = ["x3", "x4", "x2", "x6", "x7"]"#,
        )],
        "ipc.toml:232:34: duplicate IPC register `x2`",
    );
}

#[test]
fn ipc_register_not_bindable() {
    check(
        &[(
            r#"message_registers = ["x3", "x4", "x5", "x6", "x7"]"#,
            r#"message_registers = ["x3", "x4", "x5", "x6", "x18"]"#,
        )],
        "ipc.toml:232:46: `x18` is not one of the aarch64 registers inline assembly can use: x0, x1, x2, x3, x4, x5, x6, x7, x8, x9, x10, x11, x12, x13, x14, x15, x16, x17, x20, x21, x22, x23, x24, x25, x26, x27, x28",
    );
}

#[test]
fn ipc_without_message_registers() {
    check(
        &[(
            r#"message_registers = ["rdx", "r10", "r8", "r9"]"#,
            "message_registers = []",
        )],
        "ipc.toml:227:21: `message_registers` must name at least 1 register",
    );
}

#[test]
fn more_message_registers_than_the_trap_has_free() {
    check(
        &[(
            r#"message_registers = ["rdx", "r10", "r8", "r9"]"#,
            r#"message_registers = ["rdx", "r10", "r8", "r9", "r12", "r13", "r14", "r15", "rbx"]"#,
        )],
        "ipc.toml:227:21: `message_registers` names 9 registers but x86_64 has only 8 left besides the number, status, clobbered, capability and info registers\nipc.toml:227:76: `rbx` is not one of the x86_64 registers inline assembly can use: rax, rcx, rdx, rsi, rdi, r8, r9, r10, r11, r12, r13, r14, r15",
    );
}

#[test]
fn ipc_block_without_capability() {
    check(
        &[(
            "[arch.x86_64.ipc]\ncapability = \"rdi\"\n",
            "[arch.x86_64.ipc]\n",
        )],
        "ipc.toml:224:1: `[arch.x86_64.ipc]` has no `capability`",
    );
}

#[test]
fn ipc_block_with_an_unknown_key() {
    check(
        &[(
            "[arch.x86_64.ipc]\ncapability = \"rdi\"\n",
            "[arch.x86_64.ipc]\ncapability = \"rdi\"\nbadge = \"rdi\"\n",
        )],
        "ipc.toml:226:1: unknown field `badge`, expected one of `capability`, `info`, `message_registers`",
    );
}

// ----- [ipc] ------------------------------------------------------------------------------

#[test]
fn ipc_syscall_without_the_ipc_table() {
    check(
        &[
            ("[ipc]\ninfo = \"Tag\"\nbuffer = \"Mailbox\"\n", ""),
            (
                "[arch.x86_64.ipc]\ncapability = \"rdi\"\ninfo = \"rsi\"\nmessage_registers = [\"rdx\", \"r10\", \"r8\", \"r9\"]\n",
                "",
            ),
            (
                "[arch.aarch64.ipc]\ncapability = \"x1\"\ninfo = \"x2\"\nmessage_registers = [\"x3\", \"x4\", \"x5\", \"x6\", \"x7\"]\n",
                "",
            ),
        ],
        "ipc.toml:285:8: an ipc syscall needs the `[ipc]` table (`info = \"<bitfield>\"`, the type of the info register)\nipc.toml:326:1: kernel messages travel through IPC and need the `[ipc]` table and the IPC registers\nipc.toml:346:1: fault replies travel through IPC and need the `[ipc]` table and the IPC registers",
    );
}

#[test]
fn ipc_registers_without_the_ipc_table() {
    check(
        &[("[ipc]\ninfo = \"Tag\"\nbuffer = \"Mailbox\"\n", "")],
        "ipc.toml:224:1: `[arch.x86_64.ipc]` needs the `[ipc]` table (`info = \"<bitfield>\"`)\nipc.toml:229:1: `[arch.aarch64.ipc]` needs the `[ipc]` table (`info = \"<bitfield>\"`)\nipc.toml:293:8: an ipc syscall needs the `[ipc]` table (`info = \"<bitfield>\"`, the type of the info register)\nipc.toml:334:1: kernel messages travel through IPC and need the `[ipc]` table and the IPC registers\nipc.toml:354:1: fault replies travel through IPC and need the `[ipc]` table and the IPC registers",
    );
}

#[test]
fn ipc_info_names_an_unknown_bitfield() {
    check(
        &[("info = \"Tag\"", "info = \"Label\"")],
        "ipc.toml:235:8: `[ipc].info` names unknown bitfield `Label`; expected one of Tag, Mode",
    );
}

#[test]
fn ipc_info_bitfield_is_not_a_register_word() {
    check(
        &[("info = \"Tag\"", "info = \"Mode\"")],
        "ipc.toml:235:8: the IPC info bitfield `Mode` must be a `u64` word (a register), not `u16`",
    );
}

#[test]
fn ipc_info_bitfield_with_reserved_bits() {
    check(
        &[(
            r#"{ name = "urgent", lsb = 6, width = 1, type = "u8", doc = "1 for an urgent message." },"#,
            "",
        )],
        "ipc.toml:235:8: the IPC info bitfield `Tag` leaves bits 0x40 to no field; its fields must cover the whole word (the kernel takes the info register as it is)",
    );
}

#[test]
fn ipc_buffer_names_an_unknown_struct() {
    check(
        &[("buffer = \"Mailbox\"", "buffer = \"Letterbox\"")],
        "ipc.toml:236:10: `[ipc].buffer` names unknown struct `Letterbox`",
    );
}

#[test]
fn ipc_buffer_larger_than_a_page() {
    check(
        &[(
            "name = \"MAILBOX_WORDS\"\ntype = \"u64\"\nvalue = 40",
            "name = \"MAILBOX_WORDS\"\ntype = \"u64\"\nvalue = 600",
        )],
        "ipc.toml:236:10: the IPC buffer `Mailbox` is 4816 bytes, more than PAGE_SIZE (4096)",
    );
}

#[test]
fn architecture_without_ipc_registers() {
    check(
        &[(
            "[arch.aarch64.ipc]\ncapability = \"x1\"\ninfo = \"x2\"\nmessage_registers = [\"x3\", \"x4\", \"x5\", \"x6\", \"x7\"]\n",
            "",
        )],
        "ipc.toml:14:7: architecture `aarch64` has no `[arch.aarch64.ipc]` registers, which `[ipc]` needs on every architecture",
    );
}

// ----- IPC syscalls -----------------------------------------------------------------------

#[test]
fn ipc_syscall_that_neither_sends_nor_receives() {
    check(
        &[(
            "name = \"answer\"\nnumber = 10\nkind = \"ipc\"\nsend = true\n",
            "name = \"answer\"\nnumber = 10\nkind = \"ipc\"\n",
        )],
        "ipc.toml:324:8: an ipc syscall must send, receive or both: set `send = true`, `receive = true` or both",
    );
}

#[test]
fn send_on_a_plain_syscall() {
    check(
        &[(
            "name = \"set_mode\"\nnumber = 6\n",
            "name = \"set_mode\"\nnumber = 6\nsend = true\n",
        )],
        "ipc.toml:288:8: `send` applies only to `kind = \"ipc\"` syscalls",
    );
}

#[test]
fn ipc_syscall_with_two_arguments() {
    check(
        &[(
            r#"rights = ["write"], doc = "The port to post on." }]"#,
            r#"rights = ["write"], doc = "The port to post on." }, { name = "other", type = "cap", object = "Port", rights = [], doc = "Another." }]"#,
        )],
        "ipc.toml:298:109: an ipc syscall takes at most one argument (the capability, in the `ipc.capability` register), not 2",
    );
}

#[test]
fn ipc_syscall_with_a_non_capability_argument() {
    check(
        &[(
            r#"args = [{ name = "port", type = "cap", object = "Port", rights = ["read"], doc = "The port to take from." }]"#,
            r#"args = [{ name = "port", type = "u64", doc = "The port to take from." }]"#,
        )],
        "ipc.toml:307:33: an ipc syscall's argument must be a `cap` (in the `ipc.capability` register), not `u64`",
    );
}

#[test]
fn ipc_syscall_with_results() {
    check(
        &[(
            "name = \"listen\"\nnumber = 11\n",
            "name = \"listen\"\nnumber = 11\nresults = [{ name = \"badge\", type = \"u64\", doc = \"The badge.\" }]\n",
        )],
        "ipc.toml:332:12: an ipc syscall returns the received message; declare no `results`",
    );
}

#[test]
fn ipc_syscall_argument_named_message() {
    check(
        &[(
            r#"{ name = "port", type = "cap", object = "Port", rights = ["read"], doc = "The port to take from." }"#,
            r#"{ name = "message", type = "cap", object = "Port", rights = ["read"], doc = "The port to take from." }"#,
        )],
        "ipc.toml:307:18: argument name `message` is reserved in generated code",
    );
}

// ----- kernel messages --------------------------------------------------------------------

#[test]
fn kernel_message_label_outside_the_block() {
    check(
        &[("label = 0x4f", "label = 0x50")],
        "ipc.toml:353:9: label 0x50 lies outside the kernel messages' block (0x40..=0x4f)",
    );
}

#[test]
fn kernel_message_label_reused() {
    check(
        &[("label = 0x4f", "label = 0x40")],
        "ipc.toml:353:9: duplicate kernel message label `0x40`",
    );
}

#[test]
fn kernel_message_block_overlaps_an_object() {
    check(
        &[(
            "labels = { base = 0x40, size = 0x10 }",
            "labels = { base = 0x38, size = 0x18 }",
        )],
        "ipc.toml:338:10: the kernel messages' label block 0x38..=0x4f overlaps the block 0x30..=0x3f of Port",
    );
}

#[test]
fn kernel_message_longer_than_the_message_registers() {
    check(
        &[(
            r#"  { name = "code", type = "u64", doc = "Why." },"#,
            r#"  { name = "code", type = "u64", doc = "Why." },
  { name = "a", type = "u64", doc = "A." },
  { name = "b", type = "u64", doc = "B." },
  { name = "c", type = "u64", doc = "C." },"#,
        )],
        "ipc.toml:351:3: a kernel message travels in the message registers only, and x86_64 has 4; this one has 5 words",
    );
}

#[test]
fn kernel_message_field_that_is_not_a_word() {
    check(
        &[(
            r#"{ name = "code", type = "u64", doc = "Why." }"#,
            r#"{ name = "code", type = "u32", doc = "Why." }"#,
        )],
        "ipc.toml:348:27: a kernel message field is one message word: its type must be `u64`, not `u32`",
    );
}

#[test]
fn kernel_message_field_names_are_unique() {
    check(
        &[(
            r#"{ name = "code", type = "u64", doc = "Why." }"#,
            r#"{ name = "ip", type = "u64", doc = "Why." }"#,
        )],
        "ipc.toml:348:12: duplicate field `ip`",
    );
}

#[test]
fn kernel_message_named_like_the_fault_enum() {
    check(
        &[("name = \"Trap\"", "name = \"Fault\"")],
        "ipc.toml:342:8: kernel message name `Fault` is reserved in `abi::kernel_message`",
    );
}

#[test]
fn duplicate_kernel_message() {
    check(
        &[("name = \"Wake\"", "name = \"Trap\"")],
        "ipc.toml:352:8: duplicate kernel message `Trap`",
    );
}

#[test]
fn kernel_message_without_the_block() {
    check(
        &[(
            "[kernel_messages]\nlabels = { base = 0x40, size = 0x10 }\ndoc = \"Messages the kernel sends.\"\n",
            "",
        )],
        "ipc.toml:338:1: a `[[kernel_message]]` needs the `[kernel_messages]` table (its label block and doc)",
    );
}

#[test]
fn fault_reply_longer_than_the_message_registers() {
    check(
        &[(
            r#"fields = [{ name = "ip", type = "u64", doc = "Where it resumes." }]"#,
            r#"fields = [
  { name = "ip", type = "u64", doc = "Where it resumes." },
  { name = "sp", type = "u64", doc = "Its stack." },
  { name = "a", type = "u64", doc = "A." },
  { name = "b", type = "u64", doc = "B." },
  { name = "c", type = "u64", doc = "C." },
]"#,
        )],
        "ipc.toml:364:3: the fault reply is read from the message registers only, and x86_64 has 4; this one has 5 words",
    );
}
