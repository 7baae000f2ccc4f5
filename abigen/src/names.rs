//! Name rules: case conversions used to derive generated identifiers, and the checks that a schema name is usable in Rust, C and assembly.

/// The spelling convention a schema name must follow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Case {
    /// `sched_yield`: syscalls, invocations, arguments, fields, flag bits.
    Snake,
    /// `PageTable`: objects, errors, flag sets, structures.
    Camel,
    /// `TICKS_PER_SEC`: constants.
    Screaming,
}

impl Case {
    fn describe(self) -> &'static str {
        match self {
            Case::Snake => "snake_case (like `set_priority`)",
            Case::Camel => "UpperCamelCase (like `PageTable`)",
            Case::Screaming => "SCREAMING_SNAKE_CASE (like `PAGE_SIZE`)",
        }
    }
}

/// Rust keywords of edition 2024 (strict, reserved and the contextual ones that matter in item position).
const RUST_KEYWORDS: &[&str] = &[
    "Self",
    "abstract",
    "as",
    "async",
    "await",
    "become",
    "box",
    "break",
    "const",
    "continue",
    "crate",
    "do",
    "dyn",
    "else",
    "enum",
    "extern",
    "false",
    "final",
    "fn",
    "for",
    "gen",
    "if",
    "impl",
    "in",
    "let",
    "loop",
    "macro",
    "macro_rules",
    "match",
    "mod",
    "move",
    "mut",
    "override",
    "priv",
    "pub",
    "raw",
    "ref",
    "return",
    "safe",
    "self",
    "static",
    "struct",
    "super",
    "trait",
    "true",
    "try",
    "type",
    "typeof",
    "union",
    "unsafe",
    "unsized",
    "use",
    "virtual",
    "where",
    "while",
    "yield",
];

/// C keywords up to C23, plus the common `asm` extension.
const C_KEYWORDS: &[&str] = &[
    "alignas",
    "alignof",
    "asm",
    "auto",
    "bool",
    "break",
    "case",
    "char",
    "const",
    "constexpr",
    "continue",
    "default",
    "do",
    "double",
    "else",
    "enum",
    "extern",
    "false",
    "float",
    "for",
    "goto",
    "if",
    "inline",
    "int",
    "long",
    "nullptr",
    "register",
    "restrict",
    "return",
    "short",
    "signed",
    "sizeof",
    "static",
    "static_assert",
    "struct",
    "switch",
    "thread_local",
    "true",
    "typedef",
    "typeof",
    "typeof_unqual",
    "union",
    "unsigned",
    "void",
    "volatile",
    "while",
];

/// Converts a schema name to snake case: `_` before an upper-case letter that follows a lower-case letter or digit, then lower-case.
///
/// `PageTable` → `page_table`, `VSpace` → `vspace`, `CNode` → `cnode`, `set_priority` → `set_priority`.
pub fn snake_case(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 4);
    let mut previous_lower = false;
    for c in name.chars() {
        if c.is_ascii_uppercase() && previous_lower {
            out.push('_');
        }
        previous_lower = c.is_ascii_lowercase() || c.is_ascii_digit();
        out.push(c.to_ascii_lowercase());
    }
    out
}

/// Converts a schema name to SCREAMING_SNAKE_CASE (`PageTable` → `PAGE_TABLE`).
pub fn screaming_case(name: &str) -> String {
    snake_case(name).to_ascii_uppercase()
}

/// Converts a snake-case name to UpperCamelCase (`sched_yield` → `SchedYield`).
pub fn camel_case(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for word in name.split('_').filter(|w| !w.is_empty()) {
        let mut chars = word.chars();
        if let Some(first) = chars.next() {
            out.push(first.to_ascii_uppercase());
            out.extend(chars);
        }
    }
    out
}

/// Where generated code emits a schema name bare, as a whole identifier (not only inside
/// a longer one such as `TcbMove`, `tcb_move` or `KERNITE_LABEL_TCB_MOVE`): only there can
/// it clash with a keyword.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bare {
    /// Never bare: invocation names, result names, flag bits.
    Nowhere,
    /// Bare in Rust only: syscall names (trona functions), arguments, per-CPU fields.
    Rust,
    /// Bare in Rust and C: struct fields, and names whose case keeps them off every keyword.
    RustAndC,
}

/// Checks that `name` follows `case` and is an identifier in Rust 2024, C23 and GNU as
/// that is no keyword of either language.
///
/// Returns the reason when it is not.
pub fn check_identifier(name: &str, case: Case) -> Result<(), String> {
    check_name(name, case, Bare::RustAndC)
}

/// Like [`check_identifier`], but refuses keywords only of the languages where `bare` says
/// the name is emitted bare.
pub fn check_name(name: &str, case: Case, bare: Bare) -> Result<(), String> {
    if name.is_empty() {
        return Err("the name is empty".to_owned());
    }
    if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(format!(
            "`{name}` is not an identifier: only ASCII letters, digits and `_` are allowed"
        ));
    }
    if name.starts_with(|c: char| c.is_ascii_digit()) {
        return Err(format!(
            "`{name}` is not an identifier: it starts with a digit"
        ));
    }
    if name.starts_with('_') || name.contains("__") || name.ends_with('_') {
        return Err(format!(
            "`{name}` is not a usable identifier: leading, trailing or doubled `_` is reserved"
        ));
    }
    if bare != Bare::Nowhere && RUST_KEYWORDS.contains(&name) {
        return Err(format!("`{name}` is a Rust keyword"));
    }
    if bare == Bare::RustAndC && C_KEYWORDS.contains(&name) {
        return Err(format!("`{name}` is a C keyword"));
    }
    let follows = match case {
        Case::Snake => name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
        Case::Camel => name.starts_with(|c: char| c.is_ascii_uppercase()) && !name.contains('_'),
        Case::Screaming => name
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'),
    };
    if !follows {
        return Err(format!("`{name}` is not {}", case.describe()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions_follow_the_contract() {
        let cases = [
            ("Untyped", "untyped", "UNTYPED"),
            ("Tcb", "tcb", "TCB"),
            ("VSpace", "vspace", "VSPACE"),
            ("CNode", "cnode", "CNODE"),
            ("PageTable", "page_table", "PAGE_TABLE"),
            ("KernelDebug", "kernel_debug", "KERNEL_DEBUG"),
            ("set_priority", "set_priority", "SET_PRIORITY"),
        ];
        for (name, snake, screaming) in cases {
            assert_eq!(snake_case(name), snake, "{name}");
            assert_eq!(screaming_case(name), screaming, "{name}");
        }
        assert_eq!(camel_case("sched_yield"), "SchedYield");
        assert_eq!(camel_case("null"), "Null");
    }

    #[test]
    fn identifiers_are_checked() {
        let cases: [(&str, Case, bool); 10] = [
            ("set_priority", Case::Snake, true),
            ("gen", Case::Snake, false),
            ("yield", Case::Snake, false),
            ("move", Case::Snake, false),
            ("int", Case::Snake, false),
            ("SetPriority", Case::Snake, false),
            ("PageTable", Case::Camel, true),
            ("Page_Table", Case::Camel, false),
            ("PAGE_SIZE", Case::Screaming, true),
            ("9lives", Case::Snake, false),
        ];
        for (name, case, ok) in cases {
            assert_eq!(check_identifier(name, case).is_ok(), ok, "{name}");
        }
    }

    #[test]
    fn keywords_are_refused_only_where_the_name_is_bare() {
        let cases: [(&str, Bare, bool); 6] = [
            ("move", Bare::Nowhere, true),
            ("move", Bare::Rust, false),
            ("register", Bare::Rust, true),
            ("register", Bare::RustAndC, false),
            ("yield", Bare::Nowhere, true),
            ("Move", Bare::Nowhere, false),
        ];
        for (name, bare, ok) in cases {
            assert_eq!(
                check_name(name, Case::Snake, bare).is_ok(),
                ok,
                "{name} {bare:?}"
            );
        }
    }
}
