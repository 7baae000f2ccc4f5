//! `cargo xtask new`: adds a syscall, an invocation or a protocol message to schema.toml with the next free number, keeping the file's comments and layout, then regenerates.

use std::collections::HashSet;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow, bail};
use clap::Parser;
use toml_edit::{Array, ArrayOfTables, DocumentMut, Item, Table, Value, value};

use abigen::{Model, RetiredKind};

use crate::codegen;

/// Options of `cargo xtask new`.
#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    entry: Entry,
    /// The repository whose schema.toml is edited and whose generated files are rewritten (default: this one).
    #[arg(long, global = true)]
    root: Option<PathBuf>,
}

#[derive(clap::Subcommand)]
enum Entry {
    /// Add a plain syscall numbered one above the highest syscall number (skipping retired numbers).
    Syscall {
        /// snake_case name, e.g. `thread_sleep`.
        name: String,
        /// What the syscall does, one sentence (default: a reminder to write it).
        #[arg(long)]
        doc: Option<String>,
    },
    /// Add an invocation with the next free label of its object type's block (skipping retired labels).
    Invocation {
        /// The object type, e.g. `Tcb`.
        object: String,
        /// snake_case name, e.g. `set_timeslice`.
        name: String,
        /// What the invocation does, one sentence (default: a reminder to write it).
        #[arg(long)]
        doc: Option<String>,
        /// Rights the capability must carry, comma-separated; `--rights ""` for none.
        #[arg(long, value_delimiter = ',', default_value = "write")]
        rights: Vec<String>,
    },
    /// Add a message to a server protocol with the next free label of its block (skipping the handshake label and retired labels).
    Message {
        /// The protocol, e.g. `Echo`.
        protocol: String,
        /// snake_case name, e.g. `reverse`.
        name: String,
        /// What the message does, one sentence (default: a reminder to write it).
        #[arg(long)]
        doc: Option<String>,
    },
}

/// The doc text written when `--doc` is not given; abigen requires a non-empty doc.
const DOC_REMINDER: &str = "Undocumented: describe this entry in schema.toml.";

/// What was added, for the message and the next steps.
#[derive(Debug, PartialEq, Eq)]
pub enum Added {
    /// A syscall and its number.
    Syscall { name: String, number: u64 },
    /// An invocation and its label.
    Invocation {
        object: String,
        name: String,
        label: u64,
    },
    /// A protocol message and its label.
    Message {
        protocol: String,
        name: String,
        label: u64,
    },
}

/// Edits schema.toml, regenerates, and prints the next steps.
pub fn run(args: Args) -> anyhow::Result<()> {
    let root = args.root.unwrap_or_else(codegen::repository_root);
    let schema = root.join("schema.toml");
    let text = std::fs::read_to_string(&schema)
        .with_context(|| format!("reading {}", schema.display()))?;
    let (new_text, added) = match &args.entry {
        Entry::Syscall { name, doc } => add_syscall(&text, name, doc_or_reminder(doc))?,
        Entry::Invocation {
            object,
            name,
            doc,
            rights,
        } => add_invocation(&text, object, name, doc_or_reminder(doc), rights)?,
        Entry::Message {
            protocol,
            name,
            doc,
        } => add_message(&text, protocol, name, doc_or_reminder(doc))?,
    };
    std::fs::write(&schema, &new_text).with_context(|| format!("writing {}", schema.display()))?;
    // Relative to the current directory when below it, as a user in the checkout typed it.
    let cwd = std::env::current_dir().unwrap_or_default();
    let shown = schema.strip_prefix(&cwd).unwrap_or(&schema);
    println!("added {} to {}", describe(&added), shown.display());
    regenerate(&root)?;
    let documented = match &args.entry {
        Entry::Syscall { doc, .. } | Entry::Invocation { doc, .. } | Entry::Message { doc, .. } => {
            doc.is_some()
        }
    };
    print!("{}", next_steps(&added, documented));
    Ok(())
}

fn doc_or_reminder(doc: &Option<String>) -> &str {
    doc.as_deref().unwrap_or(DOC_REMINDER)
}

/// Runs `cargo xtask gen --root ROOT`: the same code path as the command itself.
fn regenerate(root: &Path) -> anyhow::Result<()> {
    #[derive(Parser)]
    struct Gen {
        #[command(flatten)]
        args: codegen::Args,
    }
    let argv: [OsString; 3] = ["gen".into(), "--root".into(), root.as_os_str().to_owned()];
    let generate = Gen::try_parse_from(argv).context("building the `gen` arguments")?;
    codegen::run(generate.args)
}

/// `sys.thread_sleep (number 7)`, `Tcb.set_timeslice (label 0x4c)`.
fn describe(added: &Added) -> String {
    match added {
        Added::Syscall { name, number } => format!("sys.{name} (number {number})"),
        Added::Invocation {
            object,
            name,
            label,
        } => format!("{object}.{name} (label {label:#x})"),
        Added::Message {
            protocol,
            name,
            label,
        } => format!("{protocol}.{name} (label {label:#x})"),
    }
}

/// The steps that remain after the schema and the generated files are updated.
fn next_steps(added: &Added, documented: bool) -> String {
    if let Added::Message { protocol, name, .. } = added {
        return message_steps(protocol, name, documented);
    }
    let (method, wrapper, covers, variant) = match added {
        Added::Message { .. } => unreachable!("handled above"),
        Added::Syscall { name, .. } => (
            format!("sys_{name}(&mut self) -> Result<(), Error>"),
            format!("trona::substrate::{name}()"),
            format!("sys.{name}"),
            format!("sys(Syscall::{})", abigen::names::camel_case(name)),
        ),
        Added::Invocation { object, name, .. } => {
            let function = format!("{}_{name}", abigen::names::snake_case(object));
            (
                format!("{function}(&mut self, target: Self::Cap) -> Result<(), Error>"),
                format!("trona::substrate::{function}(cap)"),
                format!("{object}.{name}"),
                format!("inv(I::{object}{})", abigen::names::camel_case(name)),
            )
        }
    };
    let steps = vec![
        "Add `args` / `results` to the new entry in schema.toml if it takes or returns anything, and `errors` for what its handler can return (docs/adding-a-syscall.md), then run `cargo xtask gen` again.".to_owned(),
        format!(
            "Implement the handler `Kernel::{method}` in kernel/src/syscall.rs; until then the kernel does not compile (missing trait item)."
        ),
        format!(
            "Add a test to servers/abitest (src/tests/) that calls `{wrapper}` and lists `{variant}` in its `covers`, so the run prints `COVERS {covers}`."
        ),
        "Bump the minor version in `[abi]` of schema.toml (`cargo xtask abi-diff` warns otherwise).".to_owned(),
        "Run `cargo fmt` and `cargo xtask ci` (formatting, clippy, every test), then review with `cargo xtask abi-diff` (it compares with the latest ABI release tag; docs/abi-review.md).".to_owned(),
    ];
    numbered_steps(steps, documented)
}

/// The "next steps" list, numbered, with the placeholder-doc step first when the new
/// entry's doc is still the placeholder.
fn numbered_steps(mut steps: Vec<String>, documented: bool) -> String {
    if !documented {
        steps.insert(
            0,
            "Replace the placeholder `doc` in schema.toml with one sentence saying what it does."
                .to_owned(),
        );
    }
    let mut out = String::from("next steps:\n");
    for (i, step) in steps.iter().enumerate() {
        out.push_str(&format!("  {}. {step}\n", i + 1));
    }
    out
}

/// The steps that remain after a protocol message is added.
fn message_steps(protocol: &str, name: &str, documented: bool) -> String {
    let module = abigen::names::snake_case(protocol);
    let steps = vec![
        format!("Add `args` / `results` to the new message in schema.toml if it takes or returns anything (`oneway = true` if it wants no reply), and `errors` for what the server may return (docs/protocols.md has the wire types), then run `cargo xtask gen` again."),
        format!("Implement `{protocol}Server::{name}` in every server of the protocol; until then they do not compile (missing trait item `{name}`)."),
        format!("Call it as `trona::protocols::{module}::{protocol}Client::{name}` in the in-QEMU protocol tests, so that every message of the protocol is exercised."),
        format!("Bump the minor version of protocol {protocol} in schema.toml (`cargo xtask abi-diff` refuses a new message without it)."),
        "Run `cargo fmt` and `cargo xtask ci` (formatting, clippy, every test), then review with `cargo xtask abi-diff`.".to_owned(),
    ];
    numbered_steps(steps, documented)
}

/// Adds a message after the protocol's last `[[message]]` (or after the last message of
/// any protocol, or at the end); returns the new schema text.
pub fn add_message(
    text: &str,
    protocol: &str,
    name: &str,
    doc: &str,
) -> anyhow::Result<(String, Added)> {
    let model = current_model(text)?;
    let label = next_message_label(&model, protocol)?;
    let mut document = parse_document(text)?;
    let mut table = Table::new();
    table.insert("protocol", value(protocol));
    table.insert("name", value(name));
    let label_value: Value = format!("{label:#x}")
        .parse()
        .context("formatting the label")?;
    table.insert("label", Item::Value(label_value));
    table.insert("doc", value(doc));
    if document.get("message").is_none() {
        document.insert("message", Item::ArrayOfTables(ArrayOfTables::new()));
    }
    let messages = array_of_tables(&mut document, "message")?;
    let last_of_protocol = messages
        .iter()
        .enumerate()
        .filter(|(_, t)| t.get("protocol").and_then(Item::as_str) == Some(protocol))
        .map(|(i, _)| i)
        .last();
    let after = last_of_protocol.or(messages.len().checked_sub(1));
    insert_table(messages, after, table, "\n");
    let new_text = checked(document.to_string())?;
    Ok((
        new_text,
        Added::Message {
            protocol: protocol.to_owned(),
            name: name.to_owned(),
            label,
        },
    ))
}

/// The next label of a protocol's block: the lowest free label above its highest message,
/// or else the lowest free label of the block; never the handshake (the block's base) nor
/// a retired label.
fn next_message_label(model: &Model, protocol_name: &str) -> anyhow::Result<u64> {
    let Some(protocol) = model.protocols.iter().find(|p| p.name == protocol_name) else {
        let known: Vec<&str> = model.protocols.iter().map(|p| p.name.as_str()).collect();
        bail!(
            "unknown protocol `{protocol_name}`; the schema has {}",
            if known.is_empty() {
                "none".to_owned()
            } else {
                known.join(", ")
            }
        );
    };
    let free = |label: &u64| {
        *label != protocol.label_base
            && !protocol.messages.iter().any(|m| m.label == *label)
            && !protocol.retired.iter().any(|r| r.label == *label)
    };
    let highest = protocol.messages.iter().map(|m| m.label).max();
    let above = highest.map_or(protocol.label_base + 1, |h| h + 1);
    (above..=protocol.label_last())
        .find(free)
        .or_else(|| (protocol.label_base..=protocol.label_last()).find(free))
        .ok_or_else(|| {
            anyhow!(
                "the label block of protocol {} ({:#x}..={:#x}) is full; widening it changes the protocol (a major version bump)",
                protocol.name,
                protocol.label_base,
                protocol.label_last()
            )
        })
}

/// Adds a plain syscall after the last `[[syscall]]`; returns the new schema text.
pub fn add_syscall(text: &str, name: &str, doc: &str) -> anyhow::Result<(String, Added)> {
    let model = current_model(text)?;
    let number = next_syscall_number(&model)?;
    let mut document = parse_document(text)?;
    let mut table = Table::new();
    table.insert("name", value(name));
    table.insert("number", value(i64::try_from(number)?));
    table.insert("doc", value(doc));
    let syscalls = array_of_tables(&mut document, "syscall")?;
    let last = syscalls.len().checked_sub(1);
    insert_table(syscalls, last, table, "\n");
    let new_text = checked(document.to_string())?;
    Ok((
        new_text,
        Added::Syscall {
            name: name.to_owned(),
            number,
        },
    ))
}

/// Adds an invocation after the object's last `[[invocation]]`; returns the new schema text.
pub fn add_invocation(
    text: &str,
    object: &str,
    name: &str,
    doc: &str,
    rights: &[String],
) -> anyhow::Result<(String, Added)> {
    let model = current_model(text)?;
    let label = next_label(&model, object)?;
    let mut document = parse_document(text)?;
    let mut table = Table::new();
    table.insert("object", value(object));
    table.insert("name", value(name));
    let label_value: Value = format!("{label:#x}")
        .parse()
        .context("formatting the label")?;
    table.insert("label", Item::Value(label_value));
    let rights: Array = rights
        .iter()
        .map(|r| r.trim())
        .filter(|r| !r.is_empty())
        .collect();
    table.insert("rights", value(rights));
    table.insert("doc", value(doc));
    // An object with no invocations yet gets a section comment like the others.
    let has_invocations = model.invocations.iter().any(|i| i.object == object);
    let prefix = if has_invocations {
        "\n".to_owned()
    } else {
        let heading = format!("# --- {object} ");
        format!(
            "\n{heading}{}\n\n",
            "-".repeat(77usize.saturating_sub(heading.len()))
        )
    };
    let invocations = array_of_tables(&mut document, "invocation")?;
    let last_of_object = invocations
        .iter()
        .enumerate()
        .filter(|(_, t)| t.get("object").and_then(Item::as_str) == Some(object))
        .map(|(i, _)| i)
        .last();
    let after = last_of_object.or(invocations.len().checked_sub(1));
    insert_table(invocations, after, table, &prefix);
    let new_text = checked(document.to_string())?;
    Ok((
        new_text,
        Added::Invocation {
            object: object.to_owned(),
            name: name.to_owned(),
            label,
        },
    ))
}

/// The current schema must be valid before anything is added to it.
fn current_model(text: &str) -> anyhow::Result<Model> {
    abigen::parse_str("schema.toml", text).map_err(|diagnostics| {
        anyhow!("schema.toml is not valid as it is; fix it first:\n{diagnostics}")
    })
}

/// Validates the edited schema; on failure nothing is written.
fn checked(new_text: String) -> anyhow::Result<String> {
    match abigen::parse_str("schema.toml", &new_text) {
        Ok(_) => Ok(new_text),
        Err(diagnostics) => Err(anyhow!(
            "refused: the new entry would make schema.toml invalid (schema.toml is unchanged):\n{diagnostics}"
        )),
    }
}

fn parse_document(text: &str) -> anyhow::Result<DocumentMut> {
    text.parse::<DocumentMut>()
        .context("schema.toml does not parse as TOML")
}

fn array_of_tables<'d>(
    document: &'d mut DocumentMut,
    key: &str,
) -> anyhow::Result<&'d mut ArrayOfTables> {
    document
        .get_mut(key)
        .and_then(Item::as_array_of_tables_mut)
        .ok_or_else(|| anyhow!("schema.toml has no `[[{key}]]` entries to add to"))
}

/// Inserts `table` into the array after index `after` (at the end when `None`), so that it
/// prints right after that table: it takes the same document position, and tables of equal
/// position print in array order. `prefix` is the text before its header.
fn insert_table(array: &mut ArrayOfTables, after: Option<usize>, mut table: Table, prefix: &str) {
    table.decor_mut().set_prefix(prefix);
    let index = after.map_or(array.len(), |i| i + 1);
    if let Some(position) = after.and_then(|i| array.get(i)).and_then(Table::position) {
        table.set_position(position);
    }
    let mut tables: Vec<Table> = array.iter().cloned().collect();
    tables.insert(index, table);
    array.clear();
    for t in tables {
        array.push(t);
    }
}

/// One above the highest syscall number, skipping retired numbers.
fn next_syscall_number(model: &Model) -> anyhow::Result<u64> {
    let retired = retired_numbers(model, RetiredKind::Syscall);
    let mut number = model
        .syscalls
        .iter()
        .map(|s| s.number)
        .max()
        .map_or(Some(0), |max| max.checked_add(1));
    while let Some(n) = number
        && retired.contains(&n)
    {
        number = n.checked_add(1);
    }
    number.ok_or_else(|| anyhow!("no syscall number is left above the highest one"))
}

/// The next label of `object`'s block: the lowest free label above the object's highest
/// one, or else the lowest free label of the block; retired labels are never used.
fn next_label(model: &Model, object_name: &str) -> anyhow::Result<u64> {
    let Some(object) = model.object(object_name) else {
        let known: Vec<&str> = model.objects.iter().map(|o| o.name.as_str()).collect();
        bail!(
            "unknown object type `{object_name}`; the schema has {}",
            known.join(", ")
        );
    };
    let retired = retired_numbers(model, RetiredKind::Label);
    let used: HashSet<u64> = model.invocations.iter().map(|i| i.label).collect();
    let free = |label: &u64| !used.contains(label) && !retired.contains(label);
    let block = object.label_base..=object.label_last();
    let highest = model
        .invocations
        .iter()
        .filter(|i| i.object == object.name)
        .map(|i| i.label)
        .max();
    let above = highest.map_or(object.label_base, |h| h + 1);
    (above..=object.label_last())
        .find(free)
        .or_else(|| block.clone().find(free))
        .ok_or_else(|| {
            anyhow!(
                "the label block of {} ({:#x}..={:#x}) is full; widening it changes the ABI (a major version bump)",
                object.name,
                object.label_base,
                object.label_last()
            )
        })
}

fn retired_numbers(model: &Model, kind: RetiredKind) -> HashSet<u64> {
    model
        .retired
        .iter()
        .filter(|r| r.kind == kind)
        .map(|r| r.number)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small valid schema laid out like the real one, so that the tests do not change
    /// meaning when entries are added to the real schema.toml.
    const FIXTURE: &str = include_str!("../tests/fixtures/new_schema.toml");

    fn schema() -> String {
        FIXTURE.to_owned()
    }

    /// The lines the edit added, in order (the rest of the file must be unchanged).
    fn inserted_lines(old: &str, new: &str) -> Vec<String> {
        let old_lines: Vec<&str> = old.lines().collect();
        let new_lines: Vec<&str> = new.lines().collect();
        let prefix = old_lines
            .iter()
            .zip(&new_lines)
            .take_while(|(a, b)| a == b)
            .count();
        let suffix = old_lines[prefix..]
            .iter()
            .rev()
            .zip(new_lines[prefix..].iter().rev())
            .take_while(|(a, b)| a == b)
            .count();
        assert_eq!(
            prefix + suffix,
            old_lines.len(),
            "the edit changed existing lines"
        );
        new_lines[prefix..new_lines.len() - suffix]
            .iter()
            .map(|l| (*l).to_owned())
            .collect()
    }

    /// Applies `edit` to `text` and compares the inserted lines and what follows them.
    fn check(
        text: &str,
        edit: impl FnOnce(&str) -> anyhow::Result<(String, Added)>,
        expected_added: Added,
        expected_lines: &str,
        followed_by: &str,
    ) {
        let (new, added) = edit(text).expect("the edit is valid");
        assert_eq!(added, expected_added);
        let expected_lines = expected_lines.trim();
        let lines = inserted_lines(text, &new);
        assert_eq!(lines.join("\n").trim(), expected_lines);
        let block = format!("\n\n{expected_lines}\n\n");
        let at = new
            .find(&block)
            .expect("the entry stands between blank lines");
        let after = &new[at + block.len()..];
        assert!(
            after.trim_start().starts_with(followed_by),
            "the new entry is followed by {:?}",
            &after[..after.len().min(80)]
        );
        abigen::parse_str("schema.toml", &new).expect("the result is valid");
    }

    /// Checks that an edit is refused with a message holding every one of `fragments`.
    fn check_refused(edit: anyhow::Result<(String, Added)>, fragments: &[&str]) {
        let error = match edit {
            Ok((_, added)) => panic!("{added:?} was accepted"),
            Err(error) => error.to_string(),
        };
        for fragment in fragments {
            assert!(error.contains(fragment), "`{error}` lacks `{fragment}`");
        }
    }

    #[test]
    fn syscall_takes_the_next_number_after_the_last_syscall() {
        check(
            &schema(),
            |t| add_syscall(t, "thread_sleep", "Sleep for a number of ticks."),
            Added::Syscall {
                name: "thread_sleep".into(),
                number: 7,
            },
            "[[syscall]]\nname = \"thread_sleep\"\nnumber = 7\ndoc = \"Sleep for a number of ticks.\"\n",
            "[[retired]]\nsyscall = 4",
        );
    }

    #[test]
    fn syscall_skips_retired_numbers() {
        let text = schema().replace("syscall = 4\nreason", "syscall = 7\nreason");
        let (_, added) = add_syscall(&text, "thread_sleep", "Sleep.").expect("valid");
        assert_eq!(
            added,
            Added::Syscall {
                name: "thread_sleep".into(),
                number: 8
            }
        );
    }

    #[test]
    fn invocation_goes_after_the_objects_last_invocation() {
        check(
            &schema(),
            |t| {
                add_invocation(
                    t,
                    "Tcb",
                    "set_timeslice",
                    "Set the time slice.",
                    &["write".into()],
                )
            },
            Added::Invocation {
                object: "Tcb".into(),
                name: "set_timeslice".into(),
                label: 0x4c,
            },
            "[[invocation]]\nobject = \"Tcb\"\nname = \"set_timeslice\"\nlabel = 0x4c\nrights = [\"write\"]\ndoc = \"Set the time slice.\"\n",
            "# --- VSpace",
        );
    }

    #[test]
    fn invocation_skips_retired_labels_and_fills_gaps_when_the_top_is_used() {
        let text = schema();
        let (_, added) = add_invocation(&text, "Tcb", "a", "A.", &[]).expect("valid");
        assert!(matches!(added, Added::Invocation { label: 0x4c, .. }));
        let text = text.replace("label = 0x80\nreason", "label = 0x4c\nreason");
        let (_, added) = add_invocation(&text, "Tcb", "a", "A.", &[]).expect("valid");
        assert!(matches!(added, Added::Invocation { label: 0x4d, .. }));
        // The highest label of the block taken: the lowest gap (0x41) is next.
        let text = schema().replace("label = 0x4b", "label = 0x5f");
        let (_, added) = add_invocation(&text, "Tcb", "a", "A.", &[]).expect("valid");
        assert!(matches!(added, Added::Invocation { label: 0x41, .. }));
    }

    #[test]
    fn first_invocation_of_an_object_gets_a_section_heading() {
        let text = schema().replace(
            "# The TCB block was once",
            "[[object]]\nname = \"Endpoint\"\nid = 9\nlabels = { base = 0x140, size = 0x20 }\ndoc = \"A rendezvous.\"\n\n# The TCB block was once",
        );
        check(
            &text,
            |t| add_invocation(t, "Endpoint", "send", "Send a word.", &["write".into()]),
            Added::Invocation {
                object: "Endpoint".into(),
                name: "send".into(),
                label: 0x140,
            },
            &format!(
                "# --- Endpoint {}\n\n[[invocation]]\nobject = \"Endpoint\"\nname = \"send\"\nlabel = 0x140\nrights = [\"write\"]\ndoc = \"Send a word.\"",
                "-".repeat(62)
            ),
            "# ------",
        );
    }

    #[test]
    fn full_block_is_an_error() {
        let text = schema().replace(
            "labels = { base = 0xc0, size = 0x20 }",
            "labels = { base = 0xc0, size = 0x1 }",
        );
        // Frame's block holds one label, which is taken.
        check_refused(
            add_invocation(&text, "Frame", "zero", "Zero it.", &[]),
            &["the label block of Frame (0xc0..=0xc0) is full"],
        );
    }

    #[test]
    fn unknown_object_is_an_error() {
        check_refused(
            add_invocation(&schema(), "Nope", "x", "X.", &[]),
            &["unknown object type `Nope`"],
        );
    }

    #[test]
    fn bad_names_are_refused_with_diagnostics() {
        check_refused(
            add_syscall(&schema(), "BadName", "Bad."),
            &["refused", "invalid syscall name"],
        );
        check_refused(
            add_syscall(&schema(), "ticks", "Twice."),
            &["duplicate syscall name `ticks`"],
        );
        check_refused(
            add_invocation(&schema(), "Tcb", "resume", "Twice.", &["write".into()]),
            &["duplicate invocation `Tcb.resume`"],
        );
        check_refused(
            add_invocation(&schema(), "Tcb", "x", "X.", &["fly".into()]),
            &["unknown right `fly`"],
        );
    }

    /// The real schema, which has protocols (the small fixture has none).
    const REAL: &str = include_str!("../../schema.toml");

    #[test]
    fn message_takes_the_next_label_after_the_protocols_last_message() {
        let model = abigen::parse_str("schema.toml", REAL).expect("valid");
        let echo = model
            .protocols
            .iter()
            .find(|p| p.name == "Echo")
            .expect("Echo");
        let last = echo.messages.last().expect("a message");
        let next = echo.messages.iter().map(|m| m.label).max().expect("labels") + 1;
        let (new, added) = add_message(REAL, "Echo", "reverse", "Reverse bytes.").expect("valid");
        assert_eq!(
            added,
            Added::Message {
                protocol: "Echo".into(),
                name: "reverse".into(),
                label: next,
            }
        );
        let lines = inserted_lines(REAL, &new);
        assert_eq!(
            lines.join("\n").trim(),
            format!(
                "[[message]]\nprotocol = \"Echo\"\nname = \"reverse\"\nlabel = {next:#x}\ndoc = \"Reverse bytes.\""
            ),
        );
        // Right after the protocol's last message.
        let at = new.find("name = \"reverse\"").expect("inserted");
        let before = &new[..at];
        assert!(
            before.rfind(&format!("name = \"{}\"", last.name)) > before.rfind("[[protocol]]"),
            "the message follows {}",
            last.name
        );
        // A tombstone at that label is skipped.
        let tombstoned = format!(
            "{REAL}\n[[retired]]\nprotocol = \"Echo\"\nlabel = {next:#x}\nreason = \"Taken once.\"\n"
        );
        let (_, added) = add_message(&tombstoned, "Echo", "reverse", "R.").expect("valid");
        assert!(matches!(added, Added::Message { label, .. } if label == next + 1));
    }

    #[test]
    fn message_fills_gaps_but_never_takes_the_handshake() {
        let text = REAL.replace("label = 0x1004\nresults", "label = 0x101f\nresults");
        let (_, added) = add_message(&text, "Process", "kill", "Kill.").expect("valid");
        assert!(
            matches!(added, Added::Message { label: 0x1004, .. }),
            "{added:?}"
        );
        check_refused(
            add_message(REAL, "Nope", "x", "X."),
            &["unknown protocol `Nope`", "Process, Console, Echo"],
        );
        check_refused(
            add_message(REAL, "Echo", "ping", "Twice."),
            &["refused", "duplicate message `Echo.ping`"],
        );
    }

    #[test]
    fn run_edits_a_copy_and_regenerates_it() {
        let dir = tempfile::tempdir().expect("temporary directory");
        std::fs::write(dir.path().join("schema.toml"), schema()).expect("copying schema.toml");
        let args = Args {
            entry: Entry::Invocation {
                object: "Notification".into(),
                name: "peek".into(),
                doc: Some("Read the word without clearing it.".into()),
                rights: vec!["read".into()],
            },
            root: Some(dir.path().to_owned()),
        };
        run(args).expect("new invocation");
        let model = abigen::load(dir.path().join("schema.toml")).expect("valid");
        let peek = model
            .invocations
            .iter()
            .find(|i| i.display_name() == "Notification.peek")
            .expect("added");
        assert_eq!(peek.label, 0x103);
        let generated = std::fs::read_to_string(dir.path().join("abi/src/generated.rs"))
            .expect("gen wrote the abi crate");
        assert!(
            generated.contains("NOTIFICATION_PEEK"),
            "the label constant is generated"
        );

        let before = std::fs::read_to_string(dir.path().join("schema.toml")).expect("read");
        let args = Args {
            entry: Entry::Syscall {
                name: "Bad".into(),
                doc: None,
            },
            root: Some(dir.path().to_owned()),
        };
        assert!(run(args).is_err());
        let after = std::fs::read_to_string(dir.path().join("schema.toml")).expect("read");
        assert_eq!(
            before, after,
            "a refused entry leaves schema.toml untouched"
        );
    }
}
