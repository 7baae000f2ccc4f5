//! ABI diff: compares two validated models entry by entry, classifies every change and applies the version rule.
//!
//! Entries are matched by name, so a renumbered syscall is one change and not a removal
//! plus an addition. A removed entry and an added entry that share a number (syscall
//! number, invocation label, object id, error code, flag bit) are reported as one rename.
//!
//! The version rule: breaking changes need a major bump (new major above old major);
//! compatible additions should come with a minor bump (a warning otherwise);
//! kernel-internal and doc changes need none.

use std::collections::HashSet;
use std::fmt;
use std::hash::Hash;

use serde::Serialize;

use crate::model::*;

pub mod protocols;

pub use protocols::ProtocolReport;

/// How a change affects programs built against the base ABI.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Class {
    /// Programs built against the base ABI may break: needs a major version bump.
    Breaking,
    /// An addition that programs built against the base ABI do not notice: wants a minor bump.
    Compatible,
    /// A change that only the kernel sees (the per-CPU block): needs no version bump.
    KernelInternal,
    /// Documentation text only.
    Doc,
}

impl Class {
    /// Every class, in the order reports list them.
    pub const ALL: [Class; 4] = [
        Class::Breaking,
        Class::Compatible,
        Class::KernelInternal,
        Class::Doc,
    ];

    /// The name used in reports and JSON: `breaking`, `compatible`, `kernel-internal`, `doc`.
    pub fn name(self) -> &'static str {
        match self {
            Class::Breaking => "breaking",
            Class::Compatible => "compatible",
            Class::KernelInternal => "kernel-internal",
            Class::Doc => "doc",
        }
    }

    fn title(self) -> &'static str {
        match self {
            Class::Breaking => "Breaking changes",
            Class::Compatible => "Compatible changes",
            Class::KernelInternal => "Kernel-internal changes",
            Class::Doc => "Doc changes",
        }
    }
}

impl fmt::Display for Class {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What happened to an entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// The entry is new.
    Added,
    /// The entry is gone.
    Removed,
    /// Same number, different name.
    Renamed,
    /// Same name, different number (syscall number, object id, error code, flag bit).
    Renumbered,
    /// An invocation kept its name and got another label.
    Relabelled,
    /// A constant or a field changed its type or array length.
    Retyped,
    /// A field kept its type and moved to another offset.
    Moved,
    /// A structure or the per-CPU block changed its size or alignment.
    Resized,
    /// An object type's label block moved or changed its size.
    LabelBlockChanged,
    /// A syscall changed between plain and invoke.
    KindChanged,
    /// An argument was added to a syscall or invocation.
    ArgumentAdded,
    /// An argument was removed.
    ArgumentRemoved,
    /// An argument at the same position has another name.
    ArgumentRenamed,
    /// An argument has another type.
    ArgumentRetyped,
    /// Arguments swapped positions.
    ArgumentsReordered,
    /// A result was added.
    ResultAdded,
    /// A result was removed.
    ResultRemoved,
    /// A result has another name.
    ResultRenamed,
    /// A result has another type.
    ResultRetyped,
    /// Results swapped positions.
    ResultsReordered,
    /// An invocation, or one of its capability arguments, needs other rights (or another object type).
    RightsChanged,
    /// A syscall or invocation declares an error it did not declare before.
    ErrorAdded,
    /// A syscall or invocation no longer declares an error.
    ErrorRemoved,
    /// A constant has another value.
    ValueChanged,
    /// A trap convention changed (instruction or registers).
    ConventionChanged,
    /// A per-CPU field gained or lost its assembly equate.
    AsmChanged,
    /// The dispatcher returns another error for a malformed trap.
    DispatchChanged,
    /// The ABI's name changed.
    NameChanged,
    /// Documentation text changed.
    DocChanged,
    /// A number the base used is neither used nor retired in the head, so a later entry
    /// could reuse it: the change is refused until a `[[retired]]` tombstone is added.
    TombstoneMissing,
}

impl Kind {
    /// The snake_case name used in JSON.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Added => "added",
            Kind::Removed => "removed",
            Kind::Renamed => "renamed",
            Kind::Renumbered => "renumbered",
            Kind::Relabelled => "relabelled",
            Kind::Retyped => "retyped",
            Kind::Moved => "moved",
            Kind::Resized => "resized",
            Kind::LabelBlockChanged => "label_block_changed",
            Kind::KindChanged => "kind_changed",
            Kind::ArgumentAdded => "argument_added",
            Kind::ArgumentRemoved => "argument_removed",
            Kind::ArgumentRenamed => "argument_renamed",
            Kind::ArgumentRetyped => "argument_retyped",
            Kind::ArgumentsReordered => "arguments_reordered",
            Kind::ResultAdded => "result_added",
            Kind::ResultRemoved => "result_removed",
            Kind::ResultRenamed => "result_renamed",
            Kind::ResultRetyped => "result_retyped",
            Kind::ResultsReordered => "results_reordered",
            Kind::RightsChanged => "rights_changed",
            Kind::ErrorAdded => "error_added",
            Kind::ErrorRemoved => "error_removed",
            Kind::ValueChanged => "value_changed",
            Kind::ConventionChanged => "convention_changed",
            Kind::AsmChanged => "asm_changed",
            Kind::DispatchChanged => "dispatch_changed",
            Kind::NameChanged => "name_changed",
            Kind::DocChanged => "doc_changed",
            Kind::TombstoneMissing => "tombstone_missing",
        }
    }
}

/// Reads as a phrase: `label block changed`.
impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name().replace('_', " "))
    }
}

/// One classified change.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Change {
    /// How it affects existing programs.
    pub class: Class,
    /// What happened.
    pub kind: Kind,
    /// The entry, named the way reviewers search for it: `sys.debug_write`,
    /// `Tcb.set_priority`, `object Tcb`, `error OutOfMemory`, `const TICKS_PER_SEC`,
    /// `Rights.grant`, `UserRegisters.ip`, `percpu.x86_64.cpu_id`, `arch.x86_64`, ...
    pub entry: String,
    /// The old and new values, or what the added or removed entry was.
    pub detail: String,
}

/// An ABI version, `MAJOR.MINOR`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Version {
    /// Bumped by breaking changes.
    pub major: u16,
    /// Bumped by compatible additions.
    pub minor: u16,
}

impl Version {
    /// The version a model declares.
    pub fn of(model: &Model) -> Version {
        Version {
            major: model.abi.version_major,
            minor: model.abi.version_minor,
        }
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// The outcome of the version rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// The version matches the changes.
    Ok,
    /// Acceptable, but the version should be bumped (compatible additions without a minor bump).
    Warning,
    /// Breaking changes without a major bump, or a version that went backwards.
    Refused,
}

impl Status {
    /// `OK`, `WARNING` or `REFUSED`.
    pub fn label(self) -> &'static str {
        match self {
            Status::Ok => "OK",
            Status::Warning => "WARNING",
            Status::Refused => "REFUSED",
        }
    }
}

/// The verdict of the version rule, with the reason.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Verdict {
    /// Whether the change is acceptable.
    pub status: Status,
    /// Why, e.g. `2 breaking changes without a major ABI version bump (1.0 -> 1.1)`.
    pub message: String,
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.status.label(), self.message)
    }
}

/// Every change between two models and the verdict of the version rule.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Report {
    /// The ABI's name at the head revision.
    pub abi_name: String,
    /// The version the base declares.
    pub base_version: Version,
    /// The version the head declares.
    pub head_version: Version,
    /// The changes, in schema order (section by section).
    pub changes: Vec<Change>,
    /// Numbers the base uses or retires that the head neither uses nor retires (kind
    /// `tombstone_missing`): each refuses the change, whatever the version says.
    pub missing_tombstones: Vec<Change>,
    /// The version rule applied to the changes.
    pub verdict: Verdict,
    /// Per server protocol (versioned on its own), its changes and verdict.
    pub protocols: Vec<ProtocolReport>,
}

impl Report {
    /// The number of changes of one class.
    pub fn count(&self, class: Class) -> usize {
        self.changes.iter().filter(|c| c.class == class).count()
    }

    /// True when the version rule refuses the change, for the kernel ABI or a protocol.
    pub fn is_refused(&self) -> bool {
        self.verdict.status == Status::Refused
            || self
                .protocols
                .iter()
                .any(|p| p.verdict.status == Status::Refused)
    }

    /// Every refusal, one line each: the kernel ABI's verdict and each protocol's.
    pub fn refusals(&self) -> Vec<String> {
        let kernel = (self.verdict.status == Status::Refused).then(|| self.verdict.to_string());
        kernel
            .into_iter()
            .chain(
                self.protocols
                    .iter()
                    .filter(|p| p.verdict.status == Status::Refused)
                    .map(|p| format!("protocol {}: {}", p.name, p.verdict)),
            )
            .collect()
    }

    /// One line: `kernite 1.0 -> 1.1: 3 changes (1 breaking, 2 compatible, 0 kernel-internal, 0 doc)`.
    pub fn summary(&self) -> String {
        let counts: Vec<String> = Class::ALL
            .iter()
            .map(|&class| format!("{} {class}", self.count(class)))
            .collect();
        format!(
            "{} {} -> {}: {} ({})",
            self.abi_name,
            self.base_version,
            self.head_version,
            plural(self.changes.len(), "change"),
            counts.join(", ")
        )
    }

    /// The report for a code review: a summary line, one table per class that has changes, the verdict.
    pub fn to_markdown(&self) -> String {
        let mut out = String::from("## ABI diff\n\n");
        out.push_str(&self.summary());
        out.push_str("\n\n");
        for class in Class::ALL {
            let rows: Vec<&Change> = self.changes.iter().filter(|c| c.class == class).collect();
            if rows.is_empty() {
                continue;
            }
            out.push_str(&format!("### {} ({})\n\n", class.title(), rows.len()));
            out.push_str("| Entry | Change | Detail |\n|---|---|---|\n");
            for change in rows {
                out.push_str(&format!(
                    "| `{}` | {} | {} |\n",
                    change.entry,
                    change.kind,
                    table_cell(&change.detail)
                ));
            }
            out.push('\n');
        }
        if !self.missing_tombstones.is_empty() {
            out.push_str(&format!(
                "### Missing tombstones ({})\n\n| Entry | Change | Detail |\n|---|---|---|\n",
                self.missing_tombstones.len()
            ));
            for change in &self.missing_tombstones {
                out.push_str(&format!(
                    "| `{}` | {} | {} |\n",
                    change.entry,
                    change.kind,
                    table_cell(&change.detail)
                ));
            }
            out.push('\n');
        }
        out.push_str(&format!("**Verdict:** {}\n", self.verdict));
        let protocols: Vec<&ProtocolReport> =
            self.protocols.iter().filter(|p| !p.is_empty()).collect();
        if !protocols.is_empty() {
            out.push_str("\n## Protocol diff\n\nEach protocol has its own version: a new message needs a minor bump, a changed or removed one a major bump.\n");
            for p in protocols {
                out.push('\n');
                out.push_str(&p.to_markdown());
            }
        }
        out
    }
}

/// Compares `base` (the older revision) with `head` and applies the version rule.
pub fn diff(base: &Model, head: &Model) -> Report {
    let mut d = Differ::default();
    d.abi(base, head);
    d.arches(&base.arches, &head.arches);
    d.dispatch(&base.dispatch, &head.dispatch);
    d.errors(&base.errors, &head.errors);
    d.constants(&base.constants, &head.constants);
    d.flags(&base.flags, &head.flags);
    d.ipc(base.ipc.as_ref(), head.ipc.as_ref());
    d.bitfields(&base.bitfields, &head.bitfields);
    d.structs(&base.structs, &head.structs);
    d.syscalls(&base.syscalls, &head.syscalls);
    d.objects(&base.objects, &head.objects);
    d.invocations(&base.invocations, &head.invocations);
    d.retired(&base.retired, &head.retired);
    d.percpu(&base.percpu, &head.percpu);
    d.kernel_messages(base.kernel_messages.as_ref(), head.kernel_messages.as_ref());
    d.fault_reply(base.fault_reply.as_ref(), head.fault_reply.as_ref());
    let mut t = Differ::default();
    t.tombstones(base, head);
    let base_version = Version::of(base);
    let head_version = Version::of(head);
    let verdict = verdict(&d.changes, &t.changes, base_version, head_version);
    Report {
        abi_name: head.abi.name.clone(),
        base_version,
        head_version,
        changes: d.changes,
        missing_tombstones: t.changes,
        verdict,
        protocols: protocols::diff(base, head),
    }
}

/// Applies the version rule to a list of changes, then refuses missing tombstones.
fn verdict(
    changes: &[Change],
    missing_tombstones: &[Change],
    base: Version,
    head: Version,
) -> Verdict {
    let count = |class: Class| changes.iter().filter(|c| c.class == class).count();
    let breaking = count(Class::Breaking);
    let compatible = count(Class::Compatible);
    let versions = format!("{base} -> {head}");
    let untombed = missing_tombstones.len();
    let (status, message) = if head < base {
        (
            Status::Refused,
            format!("the ABI version went backwards ({versions})"),
        )
    } else if breaking > 0 && head.major <= base.major {
        (
            Status::Refused,
            format!(
                "{} without a major ABI version bump ({versions})",
                plural(breaking, "breaking change")
            ),
        )
    } else if untombed > 0 {
        (
            Status::Refused,
            format!(
                "{} no longer used and not retired; add the `[[retired]]` tombstones listed above (a version bump does not help)",
                plural(untombed, "number")
            ),
        )
    } else if breaking > 0 && head.major > base.major {
        (
            Status::Ok,
            format!(
                "{} with a major ABI version bump ({versions})",
                plural(breaking, "breaking change")
            ),
        )
    } else if compatible > 0 && head > base {
        (
            Status::Ok,
            format!(
                "{} with an ABI version bump ({versions})",
                plural(compatible, "compatible change")
            ),
        )
    } else if compatible > 0 {
        let wanted = Version {
            major: base.major,
            minor: base.minor.saturating_add(1),
        };
        (
            Status::Warning,
            format!(
                "{} without a minor ABI version bump ({versions}); set `[abi].version` to \"{wanted}\"",
                plural(compatible, "compatible change")
            ),
        )
    } else if head > base {
        (
            Status::Warning,
            format!("the ABI version changed ({versions}) but the ABI did not"),
        )
    } else if changes.is_empty() {
        (Status::Ok, format!("no ABI change ({head})"))
    } else {
        (
            Status::Ok,
            format!("only kernel-internal and doc changes, which need no version bump ({head})"),
        )
    };
    Verdict { status, message }
}

/// `1 breaking change`, `2 breaking changes`.
fn plural(count: usize, noun: &str) -> String {
    if count == 1 {
        format!("1 {noun}")
    } else {
        format!("{count} {noun}s")
    }
}

/// The first 72 characters of a text, for quoting docs in a table.
fn shorten(text: &str) -> String {
    const LIMIT: usize = 72;
    if text.chars().count() <= LIMIT {
        text.to_owned()
    } else {
        let head: String = text.chars().take(LIMIT - 3).collect();
        format!("{}...", head.trim_end())
    }
}

/// `size 16 -> 24`, with the alignment only when it changed too.
fn resized(old_size: u64, new_size: u64, old_align: u64, new_align: u64) -> String {
    let mut parts = Vec::new();
    if old_size != new_size {
        parts.push(format!("size {old_size} -> {new_size}"));
    }
    if old_align != new_align {
        parts.push(format!("align {old_align} -> {new_align}"));
    }
    parts.join(", ")
}

/// Escapes what would end a Markdown table cell.
fn table_cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

/// Labels and label blocks are shown in hex, like the schema writes them.
fn hex(value: u64) -> String {
    format!("{value:#x}")
}

/// Small numbers in decimal, addresses and masks in hex.
fn number(value: u64) -> String {
    if value < 0x1000 {
        value.to_string()
    } else {
        hex(value)
    }
}

/// `plain`, `invoke`, `ipc (send+receive)`.
fn kind_name(kind: SyscallKind) -> String {
    match kind.ipc() {
        Some(flow) => format!("ipc ({})", flow.describe()),
        None => kind.name().to_owned(),
    }
}

/// `(ip, address)`: the words of a message.
fn words(fields: &[MessageField]) -> String {
    let names: Vec<&str> = fields.iter().map(|f| f.name.as_str()).collect();
    format!("({})", names.join(", "))
}

fn list(items: &[String]) -> String {
    format!("[{}]", items.join(", "))
}

/// `len: u64`.
fn typed(p: &Param) -> String {
    format!("{}: {}", p.name, p.ty.schema_name())
}

/// What a capability argument must be, e.g. `Frame [read]`, or `undeclared` (an earlier revision).
fn cap_needs(p: &Param) -> String {
    p.cap.as_ref().map_or_else(
        || String::from("undeclared"),
        |cap| format!("{} {}", cap.object_name(), list(&cap.rights)),
    )
}

fn param(p: &Param) -> String {
    format!("`{}`", typed(p))
}

/// `(buf: uaddr, len: u64) -> written: u64`.
fn signature(args: &[Param], results: &[Param]) -> String {
    let typed_list = |list: &[Param]| list.iter().map(typed).collect::<Vec<_>>().join(", ");
    let mut out = format!("({})", typed_list(args));
    if !results.is_empty() {
        out.push_str(&format!(" -> {}", typed_list(results)));
    }
    out
}

/// `u64`, `u8[16]`.
fn field_type(f: &Field) -> String {
    match f.count {
        Some(count) => format!("{}[{count}]", f.ty.name()),
        None => f.ty.name().to_owned(),
    }
}

fn block(o: &Object) -> String {
    format!("{}..={}", hex(o.label_base), hex(o.label_last()))
}

/// Entries of two lists paired by a key.
struct Matched<'a, T> {
    /// Entries present on both sides, in head order.
    pairs: Vec<(&'a T, &'a T)>,
    /// Base entries with no partner, in base order.
    removed: Vec<&'a T>,
    /// Head entries with no partner, in head order.
    added: Vec<&'a T>,
}

fn match_by<'a, T, K: Eq + Hash>(
    base: &'a [T],
    head: &'a [T],
    key: impl Fn(&T) -> K,
) -> Matched<'a, T> {
    let head_keys: HashSet<K> = head.iter().map(&key).collect();
    let removed = base
        .iter()
        .filter(|b| !head_keys.contains(&key(b)))
        .collect();
    let mut pairs = Vec::new();
    let mut added = Vec::new();
    for h in head {
        let k = key(h);
        match base.iter().find(|b| key(b) == k) {
            Some(b) => pairs.push((b, h)),
            None => added.push(h),
        }
    }
    Matched {
        pairs,
        removed,
        added,
    }
}

impl<'a, T> Matched<'a, T> {
    /// Takes out of `removed` and `added` the entries that share a number: renamed entries.
    fn take_renames<N: Eq>(&mut self, number: impl Fn(&T) -> N) -> Vec<(&'a T, &'a T)> {
        let mut renames = Vec::new();
        let mut removed = Vec::new();
        for old in std::mem::take(&mut self.removed) {
            let n = number(old);
            match self.added.iter().position(|new| number(new) == n) {
                Some(i) => renames.push((old, self.added.remove(i))),
                None => removed.push(old),
            }
        }
        self.removed = removed;
        renames
    }
}

/// Whether a parameter list holds a syscall's or invocation's arguments or results.
#[derive(Clone, Copy)]
enum Role {
    Argument,
    Result,
}

impl Role {
    fn name(self) -> &'static str {
        match self {
            Role::Argument => "argument",
            Role::Result => "result",
        }
    }

    fn kinds(self) -> [Kind; 5] {
        match self {
            Role::Argument => [
                Kind::ArgumentAdded,
                Kind::ArgumentRemoved,
                Kind::ArgumentRenamed,
                Kind::ArgumentRetyped,
                Kind::ArgumentsReordered,
            ],
            Role::Result => [
                Kind::ResultAdded,
                Kind::ResultRemoved,
                Kind::ResultRenamed,
                Kind::ResultRetyped,
                Kind::ResultsReordered,
            ],
        }
    }
}

/// Whose fields a field list holds: a user structure (breaking) or the per-CPU block (kernel-internal).
#[derive(Clone, Copy)]
enum Layout {
    Struct,
    PerCpu,
}

impl Layout {
    fn class(self) -> Class {
        match self {
            Layout::Struct => Class::Breaking,
            Layout::PerCpu => Class::KernelInternal,
        }
    }
}

/// How the removal and the addition of one kind of entry count.
#[derive(Clone, Copy)]
struct Presence {
    removal: Class,
    addition: Class,
}

/// Entries that programs name: removing one breaks them, adding one does not.
const PUBLIC: Presence = Presence {
    removal: Class::Breaking,
    addition: Class::Compatible,
};

/// One kind of number: every number the base uses with the entry using it, and the
/// numbers the head uses.
type NumberUse = (RetiredKind, Vec<(u64, String)>, Vec<u64>);

#[derive(Default)]
struct Differ {
    changes: Vec<Change>,
}

impl Differ {
    fn push(&mut self, class: Class, kind: Kind, entry: &str, detail: impl Into<String>) {
        self.changes.push(Change {
            class,
            kind,
            entry: entry.to_owned(),
            detail: detail.into(),
        });
    }

    /// Records the entries only one side has: `entry` names them, `removed` and `added`
    /// say what a removed and an added entry was.
    fn one_sided<T>(
        &mut self,
        m: &Matched<'_, T>,
        presence: Presence,
        entry: impl Fn(&T) -> String,
        removed: impl Fn(&T) -> String,
        added: impl Fn(&T) -> String,
    ) {
        for r in &m.removed {
            self.push(presence.removal, Kind::Removed, &entry(r), removed(r));
        }
        for a in &m.added {
            self.push(presence.addition, Kind::Added, &entry(a), added(a));
        }
    }

    /// Records that the entry numbered `number` (as the report shows it) changed its name.
    fn renamed(&mut self, entry: &str, old: &str, new: &str, number: String) {
        self.push(
            Class::Breaking,
            Kind::Renamed,
            entry,
            format!("`{old}` -> `{new}` ({number})"),
        );
    }

    /// Records a doc change, quoting the new text (`what` says whose text it is).
    fn doc(&mut self, entry: &str, what: &str, old: &str, new: &str) {
        if old != new {
            self.push(
                Class::Doc,
                Kind::DocChanged,
                entry,
                format!("{what} now \"{}\"", shorten(new)),
            );
        }
    }

    fn abi(&mut self, base: &Model, head: &Model) {
        if base.abi.name != head.abi.name {
            self.push(
                Class::Breaking,
                Kind::NameChanged,
                "abi.name",
                format!("`{}` -> `{}`", base.abi.name, head.abi.name),
            );
        }
    }

    fn arches(&mut self, base: &[Arch], head: &[Arch]) {
        let entry = |a: &Arch| format!("arch.{}", a.name);
        let trap = |a: &Arch| format!("trap `{}`", a.trap);
        let m = match_by(base, head, |a| a.name.clone());
        for &(b, h) in &m.pairs {
            let words = [
                ("trap", &b.trap, &h.trap),
                ("number_register", &b.number_register, &h.number_register),
            ];
            for (what, old, new) in words {
                if old != new {
                    self.push(
                        Class::Breaking,
                        Kind::ConventionChanged,
                        &entry(h),
                        format!("{what} `{old}` -> `{new}`"),
                    );
                }
            }
            let lists = [
                ("arg_registers", &b.arg_registers, &h.arg_registers),
                ("result_registers", &b.result_registers, &h.result_registers),
                (
                    "clobbered_registers",
                    &b.clobbered_registers,
                    &h.clobbered_registers,
                ),
            ];
            for (what, old, new) in lists {
                if old != new {
                    self.push(
                        Class::Breaking,
                        Kind::ConventionChanged,
                        &entry(h),
                        format!("{what} {} -> {}", list(old), list(new)),
                    );
                }
            }
            self.arch_ipc(
                &format!("arch.{}.ipc", h.name),
                b.ipc.as_ref(),
                h.ipc.as_ref(),
            );
        }
        self.one_sided(&m, PUBLIC, entry, trap, trap);
    }

    /// The IPC registers of one architecture: new ones only serve new (IPC) syscalls;
    /// changed or removed ones break every IPC caller.
    fn arch_ipc(&mut self, entry: &str, base: Option<&ArchIpc>, head: Option<&ArchIpc>) {
        let shown = |i: &ArchIpc| {
            format!(
                "capability `{}`, info `{}`, message registers {}",
                i.capability,
                i.info,
                list(&i.message_registers)
            )
        };
        match (base, head) {
            (None, Some(h)) => self.push(Class::Compatible, Kind::Added, entry, shown(h)),
            (Some(b), None) => self.push(Class::Breaking, Kind::Removed, entry, shown(b)),
            (Some(b), Some(h)) => {
                for (what, old, new) in [
                    ("capability", &b.capability, &h.capability),
                    ("info", &b.info, &h.info),
                ] {
                    if old != new {
                        self.push(
                            Class::Breaking,
                            Kind::ConventionChanged,
                            entry,
                            format!("{what} `{old}` -> `{new}`"),
                        );
                    }
                }
                if b.message_registers != h.message_registers {
                    self.push(
                        Class::Breaking,
                        Kind::ConventionChanged,
                        entry,
                        format!(
                            "message_registers {} -> {}",
                            list(&b.message_registers),
                            list(&h.message_registers)
                        ),
                    );
                }
            }
            (None, None) => {}
        }
    }

    /// `[ipc]`: adding it is compatible; changing the info bitfield or the IPC buffer
    /// structure, or removing it, is breaking.
    fn ipc(&mut self, base: Option<&Ipc>, head: Option<&Ipc>) {
        let buffer = |i: &Ipc| i.buffer.clone().unwrap_or_else(|| "none".to_owned());
        let shown = |i: &Ipc| format!("info `{}`, buffer `{}`", i.info, buffer(i));
        match (base, head) {
            (None, Some(h)) => self.push(Class::Compatible, Kind::Added, "ipc", shown(h)),
            (Some(b), None) => self.push(Class::Breaking, Kind::Removed, "ipc", shown(b)),
            (Some(b), Some(h)) => {
                for (what, old, new) in [
                    ("info", b.info.clone(), h.info.clone()),
                    ("buffer", buffer(b), buffer(h)),
                ] {
                    if old != new {
                        self.push(
                            Class::Breaking,
                            Kind::ConventionChanged,
                            "ipc",
                            format!("{what} `{old}` -> `{new}`"),
                        );
                    }
                }
            }
            (None, None) => {}
        }
    }

    /// Bitfields: a field added in reserved bits is compatible (no valid word of the base
    /// changes meaning); a field removed, moved, resized or retyped is breaking.
    fn bitfields(&mut self, base: &[Bitfield], head: &[Bitfield]) {
        let entry = |b: &Bitfield| format!("bitfield {}", b.name);
        let shown = |b: &Bitfield| {
            format!(
                "{} word, {}",
                b.word.name(),
                plural(b.fields.len(), "field")
            )
        };
        let m = match_by(base, head, |b| b.name.clone());
        for &(b, h) in &m.pairs {
            if b.word != h.word {
                self.push(
                    Class::Breaking,
                    Kind::Retyped,
                    &entry(h),
                    format!("{} -> {}", b.word.name(), h.word.name()),
                );
            }
            self.doc(&entry(h), "doc", &b.doc, &h.doc);
            self.bitfield_fields(h, &b.fields, &h.fields);
        }
        self.one_sided(&m, PUBLIC, entry, shown, shown);
    }

    fn bitfield_fields(&mut self, set: &Bitfield, base: &[BitfieldField], head: &[BitfieldField]) {
        let entry = |f: &BitfieldField| format!("{}.{}", set.name, f.name);
        let bits = |f: &BitfieldField| {
            format!("bits {}..={}: {}", f.lsb, f.lsb + f.width - 1, f.ty.name())
        };
        let mut m = match_by(base, head, |f| f.name.clone());
        let renames = m.take_renames(|f| (f.lsb, f.width));
        for &(b, h) in &m.pairs {
            if b.lsb != h.lsb {
                self.push(
                    Class::Breaking,
                    Kind::Moved,
                    &entry(h),
                    format!("lsb {} -> {}", b.lsb, h.lsb),
                );
            }
            if b.width != h.width || b.ty != h.ty {
                self.push(
                    Class::Breaking,
                    Kind::Retyped,
                    &entry(h),
                    format!(
                        "{} bits {} -> {} bits {}",
                        b.width,
                        b.ty.name(),
                        h.width,
                        h.ty.name()
                    ),
                );
            }
            self.doc(&entry(h), "doc", &b.doc, &h.doc);
        }
        for (b, h) in renames {
            self.renamed(&entry(h), &b.name, &h.name, bits(h));
            self.doc(&entry(h), "doc", &b.doc, &h.doc);
        }
        self.one_sided(&m, PUBLIC, entry, bits, bits);
    }

    /// Kernel messages: a new message (or the block, where there was none) is compatible;
    /// a message removed, relabelled, renamed or with other words, or the block moved, is
    /// breaking.
    fn kernel_messages(&mut self, base: Option<&KernelMessages>, head: Option<&KernelMessages>) {
        let block =
            |k: &KernelMessages| format!("labels {}..={}", hex(k.label_base), hex(k.label_last()));
        let (base_messages, head_messages) = match (base, head) {
            (None, None) => return,
            (None, Some(h)) => {
                self.push(Class::Compatible, Kind::Added, "kernel_messages", block(h));
                (&[][..], h.messages.as_slice())
            }
            (Some(b), None) => {
                self.push(Class::Breaking, Kind::Removed, "kernel_messages", block(b));
                (b.messages.as_slice(), &[][..])
            }
            (Some(b), Some(h)) => {
                if (b.label_base, b.label_size) != (h.label_base, h.label_size) {
                    self.push(
                        Class::Breaking,
                        Kind::LabelBlockChanged,
                        "kernel_messages",
                        format!("{} -> {}", block(b), block(h)),
                    );
                }
                self.doc("kernel_messages", "doc", &b.doc, &h.doc);
                (b.messages.as_slice(), h.messages.as_slice())
            }
        };
        let entry = |m: &KernelMessage| format!("kernel_message {}", m.name);
        let shown = |m: &KernelMessage| {
            format!(
                "label {}{}: {}",
                hex(m.label),
                if m.fault { ", fault" } else { "" },
                words(&m.fields)
            )
        };
        let mut m = match_by(base_messages, head_messages, |m| m.name.clone());
        let renames = m.take_renames(|m| m.label);
        for &(b, h) in &m.pairs {
            if b.label != h.label {
                self.push(
                    Class::Breaking,
                    Kind::Relabelled,
                    &entry(h),
                    format!("{} -> {}", hex(b.label), hex(h.label)),
                );
            }
            self.kernel_message_body(&entry(h), b, h);
        }
        for (b, h) in renames {
            self.renamed(
                &entry(h),
                &b.name,
                &h.name,
                format!("label {}", hex(h.label)),
            );
            self.kernel_message_body(&entry(h), b, h);
        }
        self.one_sided(&m, PUBLIC, entry, shown, shown);
    }

    fn kernel_message_body(&mut self, entry: &str, b: &KernelMessage, h: &KernelMessage) {
        if b.fault != h.fault {
            let fault = |f: bool| if f { "fault" } else { "not a fault" };
            self.push(
                Class::Breaking,
                Kind::KindChanged,
                entry,
                format!("{} -> {}", fault(b.fault), fault(h.fault)),
            );
        }
        self.message_words(entry, &b.fields, &h.fields);
        self.doc(entry, "doc", &b.doc, &h.doc);
    }

    /// The words of a kernel message or the fault reply: any change to the list is breaking.
    fn message_words(&mut self, entry: &str, base: &[MessageField], head: &[MessageField]) {
        let names = |list: &[MessageField]| list.iter().map(|f| f.name.clone()).collect::<Vec<_>>();
        if names(base) != names(head) {
            self.push(
                Class::Breaking,
                Kind::Retyped,
                entry,
                format!("words {} -> {}", words(base), words(head)),
            );
        }
        for (b, h) in base.iter().zip(head).filter(|(b, h)| b.name == h.name) {
            self.doc(&format!("{entry}.{}", h.name), "doc", &b.doc, &h.doc);
        }
    }

    fn fault_reply(&mut self, base: Option<&FaultReply>, head: Option<&FaultReply>) {
        let entry = "fault_reply";
        match (base, head) {
            (None, Some(h)) => self.push(Class::Compatible, Kind::Added, entry, words(&h.fields)),
            (Some(b), None) => self.push(Class::Breaking, Kind::Removed, entry, words(&b.fields)),
            (Some(b), Some(h)) => {
                self.message_words(entry, &b.fields, &h.fields);
                self.doc(entry, "doc", &b.doc, &h.doc);
            }
            (None, None) => {}
        }
    }

    fn dispatch(&mut self, base: &DispatchErrors, head: &DispatchErrors) {
        let keys = [
            (
                "unknown_syscall",
                &base.unknown_syscall,
                &head.unknown_syscall,
            ),
            ("unknown_label", &base.unknown_label, &head.unknown_label),
            (
                "invalid_argument",
                &base.invalid_argument,
                &head.invalid_argument,
            ),
            (
                "insufficient_rights",
                &base.insufficient_rights,
                &head.insufficient_rights,
            ),
            ("unknown_error", &base.unknown_error, &head.unknown_error),
        ];
        for (key, old, new) in keys {
            if old != new {
                self.push(
                    Class::Breaking,
                    Kind::DispatchChanged,
                    &format!("dispatch.{key}"),
                    format!("`{old}` -> `{new}`"),
                );
            }
        }
    }

    fn errors(&mut self, base: &[ErrorCode], head: &[ErrorCode]) {
        let entry = |e: &ErrorCode| format!("error {}", e.name);
        let code = |e: &ErrorCode| format!("code {}", e.code);
        let mut m = match_by(base, head, |e| e.name.clone());
        let renames = m.take_renames(|e| e.code);
        for &(b, h) in &m.pairs {
            if b.code != h.code {
                self.push(
                    Class::Breaking,
                    Kind::Renumbered,
                    &entry(h),
                    format!("code {} -> {}", b.code, h.code),
                );
            }
            self.doc(&entry(h), "doc", &b.doc, &h.doc);
        }
        for (b, h) in renames {
            self.renamed(&entry(h), &b.name, &h.name, code(h));
            self.doc(&entry(h), "doc", &b.doc, &h.doc);
        }
        self.one_sided(&m, PUBLIC, entry, code, code);
    }

    fn constants(&mut self, base: &[Constant], head: &[Constant]) {
        let entry = |c: &Constant| format!("const {}", c.name);
        let value = |c: &Constant| format!("{}: {}", c.ty.name(), number(c.value));
        let m = match_by(base, head, |c| c.name.clone());
        for &(b, h) in &m.pairs {
            if b.ty != h.ty {
                self.push(
                    Class::Breaking,
                    Kind::Retyped,
                    &entry(h),
                    format!("{} -> {}", b.ty.name(), h.ty.name()),
                );
            }
            if b.value != h.value {
                self.push(
                    Class::Breaking,
                    Kind::ValueChanged,
                    &entry(h),
                    format!("{} -> {}", number(b.value), number(h.value)),
                );
            }
            self.doc(&entry(h), "doc", &b.doc, &h.doc);
        }
        self.one_sided(&m, PUBLIC, entry, value, value);
    }

    fn flags(&mut self, base: &[FlagSet], head: &[FlagSet]) {
        let entry = |f: &FlagSet| format!("flags {}", f.name);
        let bits = |f: &FlagSet| plural(f.bits.len(), "bit");
        let m = match_by(base, head, |f| f.name.clone());
        for &(b, h) in &m.pairs {
            self.doc(&entry(h), "doc", &b.doc, &h.doc);
            self.flag_bits(h, &b.bits, &h.bits);
        }
        self.one_sided(&m, PUBLIC, entry, bits, bits);
    }

    fn flag_bits(&mut self, set: &FlagSet, base: &[FlagBit], head: &[FlagBit]) {
        let entry = |b: &FlagBit| format!("{}.{}", set.name, b.name);
        let bit = |b: &FlagBit| format!("bit {}", b.bit);
        let mut m = match_by(base, head, |b| b.name.clone());
        let renames = m.take_renames(|b| b.bit);
        for &(b, h) in &m.pairs {
            if b.bit != h.bit {
                self.push(
                    Class::Breaking,
                    Kind::Renumbered,
                    &entry(h),
                    format!("bit {} -> {}", b.bit, h.bit),
                );
            }
            self.doc(&entry(h), "doc", &b.doc, &h.doc);
        }
        for (b, h) in renames {
            self.renamed(&entry(h), &b.name, &h.name, bit(h));
            self.doc(&entry(h), "doc", &b.doc, &h.doc);
        }
        self.one_sided(&m, PUBLIC, entry, bit, bit);
    }

    fn structs(&mut self, base: &[Struct], head: &[Struct]) {
        let entry = |s: &Struct| format!("struct {}", s.name);
        let size = |s: &Struct| format!("size {}", s.size);
        let m = match_by(base, head, |s| s.name.clone());
        for &(b, h) in &m.pairs {
            self.doc(&entry(h), "doc", &b.doc, &h.doc);
            self.fields(Layout::Struct, &h.name, &b.fields, &h.fields);
            if b.size != h.size || b.align != h.align {
                self.push(
                    Class::Breaking,
                    Kind::Resized,
                    &entry(h),
                    resized(b.size, h.size, b.align, h.align),
                );
            }
        }
        self.one_sided(&m, PUBLIC, entry, size, size);
    }

    /// Compares the fields of a structure or of a per-CPU block; `owner` prefixes the entry names.
    fn fields(&mut self, layout: Layout, owner: &str, base: &[Field], head: &[Field]) {
        let class = layout.class();
        let entry = |f: &Field| format!("{owner}.{}", f.name);
        let place = |f: &Field| {
            let asm = if f.asm { ", asm" } else { "" };
            format!(
                "`{}: {}` at offset {}{asm}",
                f.name,
                field_type(f),
                f.offset
            )
        };
        let mut m = match_by(base, head, |f| f.name.clone());
        // A field gone and a field new at the same offset with the same type: a rename.
        let renames = m.take_renames(|f| (f.offset, f.ty, f.count));
        for (b, h) in renames {
            self.push(
                class,
                Kind::Renamed,
                &entry(h),
                format!("`{}` -> `{}` (offset {})", b.name, h.name, h.offset),
            );
            self.doc(&entry(h), "doc", &b.doc, &h.doc);
        }
        for &(b, h) in &m.pairs {
            if b.ty != h.ty || b.count != h.count {
                self.push(
                    class,
                    Kind::Retyped,
                    &entry(h),
                    format!("{} -> {}", field_type(b), field_type(h)),
                );
            }
            if b.offset != h.offset {
                self.push(
                    class,
                    Kind::Moved,
                    &entry(h),
                    format!("offset {} -> {}", b.offset, h.offset),
                );
            }
            if b.asm != h.asm {
                let detail = if h.asm {
                    "assembly equate added"
                } else {
                    "assembly equate removed"
                };
                self.push(class, Kind::AsmChanged, &entry(h), detail);
            }
            self.doc(&entry(h), "doc", &b.doc, &h.doc);
        }
        // Any field added to or removed from a layout moves or resizes it.
        let presence = Presence {
            removal: class,
            addition: class,
        };
        self.one_sided(&m, presence, entry, place, place);
    }

    fn syscalls(&mut self, base: &[Syscall], head: &[Syscall]) {
        let entry = |s: &Syscall| format!("sys.{}", s.name);
        let number = |s: &Syscall| format!("number {}", s.number);
        let mut m = match_by(base, head, |s| s.name.clone());
        let renames = m.take_renames(|s| s.number);
        for &(b, h) in &m.pairs {
            if b.number != h.number {
                self.push(
                    Class::Breaking,
                    Kind::Renumbered,
                    &entry(h),
                    format!("{} -> {}", b.number, h.number),
                );
            }
            self.syscall_body(&entry(h), b, h);
        }
        for (b, h) in renames {
            self.renamed(&entry(h), &b.name, &h.name, number(h));
            self.syscall_body(&entry(h), b, h);
        }
        let numbered_signature = |s: &Syscall| {
            let ipc = s
                .kind
                .ipc()
                .map_or_else(String::new, |flow| format!(", ipc {}", flow.describe()));
            format!("{}{ipc}: {}", number(s), signature(&s.args, &s.results))
        };
        self.one_sided(&m, PUBLIC, entry, number, numbered_signature);
    }

    fn syscall_body(&mut self, entry: &str, b: &Syscall, h: &Syscall) {
        if b.kind != h.kind {
            self.push(
                Class::Breaking,
                Kind::KindChanged,
                entry,
                format!("{} -> {}", kind_name(b.kind), kind_name(h.kind)),
            );
        }
        self.params(entry, Role::Argument, &b.args, &h.args);
        self.params(entry, Role::Result, &b.results, &h.results);
        self.entry_errors(entry, &b.errors, &h.errors);
        self.doc(entry, "doc", &b.doc, &h.doc);
    }

    fn objects(&mut self, base: &[Object], head: &[Object]) {
        let entry = |o: &Object| format!("object {}", o.name);
        let numbers = |o: &Object| format!("id {}, labels {}", o.id, block(o));
        let mut m = match_by(base, head, |o| o.name.clone());
        let renames = m.take_renames(|o| o.id);
        for &(b, h) in &m.pairs {
            if b.id != h.id {
                self.push(
                    Class::Breaking,
                    Kind::Renumbered,
                    &entry(h),
                    format!("id {} -> {}", b.id, h.id),
                );
            }
            self.object_body(&entry(h), b, h);
        }
        for (b, h) in renames {
            self.renamed(&entry(h), &b.name, &h.name, format!("id {}", h.id));
            self.object_body(&entry(h), b, h);
        }
        self.one_sided(&m, PUBLIC, entry, numbers, numbers);
    }

    fn object_body(&mut self, entry: &str, b: &Object, h: &Object) {
        if (b.label_base, b.label_size) != (h.label_base, h.label_size) {
            self.push(
                Class::Breaking,
                Kind::LabelBlockChanged,
                entry,
                format!("{} -> {}", block(b), block(h)),
            );
        }
        self.doc(entry, "doc", &b.doc, &h.doc);
    }

    fn invocations(&mut self, base: &[Invocation], head: &[Invocation]) {
        let label = |i: &Invocation| format!("label {}", hex(i.label));
        let mut m = match_by(base, head, |i| (i.object.clone(), i.name.clone()));
        let renames = m.take_renames(|i| (i.object.clone(), i.label));
        for &(b, h) in &m.pairs {
            let entry = h.display_name();
            if b.label != h.label {
                self.push(
                    Class::Breaking,
                    Kind::Relabelled,
                    &entry,
                    format!("{} -> {}", hex(b.label), hex(h.label)),
                );
            }
            self.invocation_body(&entry, b, h);
        }
        for (b, h) in renames {
            let entry = h.display_name();
            self.renamed(&entry, &b.name, &h.name, label(h));
            self.invocation_body(&entry, b, h);
        }
        let full = |i: &Invocation| {
            format!(
                "{}, rights {}: {}",
                label(i),
                list(&i.rights),
                signature(&i.args, &i.results)
            )
        };
        self.one_sided(&m, PUBLIC, Invocation::display_name, label, full);
    }

    fn invocation_body(&mut self, entry: &str, b: &Invocation, h: &Invocation) {
        if b.rights != h.rights {
            self.push(
                Class::Breaking,
                Kind::RightsChanged,
                entry,
                format!("{} -> {}", list(&b.rights), list(&h.rights)),
            );
        }
        self.params(entry, Role::Argument, &b.args, &h.args);
        self.params(entry, Role::Result, &b.results, &h.results);
        self.entry_errors(entry, &b.errors, &h.errors);
        self.doc(entry, "doc", &b.doc, &h.doc);
    }

    /// Compares the errors an entry declares. Both directions are compatible: every
    /// caller already receives any code as an `Error` (unknown codes as the unknown-error
    /// error), so a newly declared error reaches an existing error path, and a removed
    /// one is never returned any more. An addition still wants a minor version bump, so
    /// that reviewers see callers may want to handle the new case.
    fn entry_errors(&mut self, entry: &str, base: &[String], head: &[String]) {
        for name in head.iter().filter(|name| !base.contains(name)) {
            self.push(
                Class::Compatible,
                Kind::ErrorAdded,
                entry,
                format!("`{name}`"),
            );
        }
        for name in base.iter().filter(|name| !head.contains(name)) {
            self.push(
                Class::Compatible,
                Kind::ErrorRemoved,
                entry,
                format!("`{name}`"),
            );
        }
    }

    /// Compares positional parameter lists. A parameter whose name is gone, at the
    /// position of a parameter whose name is new, counts as renamed; the rest are
    /// matched by name (added, removed, retyped, reordered).
    fn params(&mut self, entry: &str, role: Role, base: &[Param], head: &[Param]) {
        let [added, removed, renamed, retyped, reordered] = role.kinds();
        let what = role.name();
        let has = |list: &[Param], name: &str| list.iter().any(|p| p.name == name);
        let mut renames: Vec<(&Param, &Param)> = Vec::new();
        for (b, h) in base.iter().zip(head) {
            if b.name != h.name && !has(head, &b.name) && !has(base, &h.name) {
                renames.push((b, h));
            }
        }
        let is_renamed_old = |p: &Param| renames.iter().any(|(b, _)| b.name == p.name);
        let is_renamed_new = |p: &Param| renames.iter().any(|(_, h)| h.name == p.name);
        for (b, h) in &renames {
            self.push(
                Class::Breaking,
                renamed,
                entry,
                format!("`{}` -> `{}`", b.name, h.name),
            );
        }
        for (position, p) in base.iter().enumerate() {
            if !has(head, &p.name) && !is_renamed_old(p) {
                self.push(
                    Class::Breaking,
                    removed,
                    entry,
                    format!("{} at position {position}", param(p)),
                );
            }
        }
        for (position, p) in head.iter().enumerate() {
            if !has(base, &p.name) && !is_renamed_new(p) {
                self.push(
                    Class::Breaking,
                    added,
                    entry,
                    format!("{} at position {position}", param(p)),
                );
            }
        }
        // Pairs of the same parameter: kept names, then renames.
        let mut same: Vec<(&Param, &Param)> = head
            .iter()
            .filter_map(|h| base.iter().find(|b| b.name == h.name).map(|b| (b, h)))
            .collect();
        let old_order: Vec<&str> = base
            .iter()
            .filter(|b| has(head, &b.name))
            .map(|b| b.name.as_str())
            .collect();
        let new_order: Vec<&str> = same.iter().map(|(_, h)| h.name.as_str()).collect();
        if old_order != new_order {
            self.push(
                Class::Breaking,
                reordered,
                entry,
                format!("({}) -> ({})", old_order.join(", "), new_order.join(", ")),
            );
        }
        same.extend(renames.iter().copied());
        for (b, h) in same {
            if b.ty == h.ty && b.cap != h.cap {
                self.push(
                    Class::Breaking,
                    Kind::RightsChanged,
                    entry,
                    format!("`{}`: {} -> {}", h.name, cap_needs(b), cap_needs(h)),
                );
            }
            if b.ty != h.ty {
                self.push(
                    Class::Breaking,
                    retyped,
                    entry,
                    format!(
                        "`{}`: {} -> {}",
                        h.name,
                        b.ty.schema_name(),
                        h.ty.schema_name()
                    ),
                );
            }
            self.doc(entry, &format!("{what} `{}` doc", h.name), &b.doc, &h.doc);
        }
    }

    /// Every syscall number, label, object id and error code the base uses must, in the
    /// head, be used or retired: a number that is simply gone could be handed to a new
    /// entry, and old binaries would call it.
    fn tombstones(&mut self, base: &Model, head: &Model) {
        let kinds: [NumberUse; 4] = [
            (
                RetiredKind::Syscall,
                base.syscalls
                    .iter()
                    .map(|s| (s.number, format!("sys.{}", s.name)))
                    .collect(),
                head.syscalls.iter().map(|s| s.number).collect(),
            ),
            (
                RetiredKind::Label,
                base.invocations
                    .iter()
                    .map(|i| (i.label, i.display_name()))
                    .collect(),
                head.invocations.iter().map(|i| i.label).collect(),
            ),
            (
                RetiredKind::Object,
                base.objects
                    .iter()
                    .map(|o| (o.id, format!("object {}", o.name)))
                    .collect(),
                head.objects.iter().map(|o| o.id).collect(),
            ),
            (
                RetiredKind::Error,
                base.errors
                    .iter()
                    .map(|e| (e.code, format!("error {}", e.name)))
                    .collect(),
                head.errors.iter().map(|e| e.code).collect(),
            ),
        ];
        // A tombstone the base has must stay.
        for r in &base.retired {
            let kept = head
                .retired
                .iter()
                .any(|h| h.kind == r.kind && h.number == r.number);
            if !kept {
                let shown = match r.kind {
                    RetiredKind::Label => hex(r.number),
                    _ => r.number.to_string(),
                };
                self.push(
                    Class::Breaking,
                    Kind::TombstoneMissing,
                    &format!("retired {} {shown}", r.kind.key()),
                    format!(
                        "the tombstone was removed; keep `[[retired]]` with `{} = {shown}`",
                        r.kind.key()
                    ),
                );
            }
        }
        for (kind, used_before, used_now) in kinds {
            for (number, entry) in used_before {
                let retired = head
                    .retired
                    .iter()
                    .any(|r| r.kind == kind && r.number == number);
                if !used_now.contains(&number) && !retired {
                    let shown = match kind {
                        RetiredKind::Label => hex(number),
                        _ => number.to_string(),
                    };
                    self.push(
                        Class::Breaking,
                        Kind::TombstoneMissing,
                        &entry,
                        format!(
                            "{} {shown} is free now; add `[[retired]]` with `{} = {shown}` and a `reason`",
                            kind.key(),
                            kind.key()
                        ),
                    );
                }
            }
        }
    }

    fn retired(&mut self, base: &[Retired], head: &[Retired]) {
        let entry = |r: &Retired| {
            let shown = match r.kind {
                RetiredKind::Label => hex(r.number),
                _ => r.number.to_string(),
            };
            format!("retired {} {shown}", r.kind.key())
        };
        let m = match_by(base, head, |r| (r.kind.key(), r.number));
        for &(b, h) in &m.pairs {
            self.doc(&entry(h), "reason", &b.reason, &h.reason);
        }
        let reusable = |_: &Retired| "the number could be reused by a new entry".to_owned();
        let reason = |r: &Retired| r.reason.clone();
        self.one_sided(&m, PUBLIC, entry, reusable, reason);
    }

    fn percpu(&mut self, base: &[PerCpu], head: &[PerCpu]) {
        let entry = |p: &PerCpu| format!("percpu.{}", p.arch);
        let size = |p: &PerCpu| format!("size {}", p.size);
        let m = match_by(base, head, |p| p.arch.clone());
        for &(b, h) in &m.pairs {
            self.fields(Layout::PerCpu, &entry(h), &b.fields, &h.fields);
            if b.size != h.size {
                self.push(
                    Class::KernelInternal,
                    Kind::Resized,
                    &entry(h),
                    format!("size {} -> {}", b.size, h.size),
                );
            }
        }
        let presence = Presence {
            removal: Class::KernelInternal,
            addition: Class::KernelInternal,
        };
        self.one_sided(&m, presence, entry, size, size);
    }
}
