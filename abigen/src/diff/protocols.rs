//! abi-diff of the server protocols: per protocol its changes, classified, and its own version rule (a new message needs a minor bump, a changed or removed one a major bump, a removed one its tombstone).

use serde::Serialize;

use super::{Change, Class, Kind, Status, Verdict, Version, plural, shorten};
use crate::model::*;

/// The changes of one protocol and the verdict of its version rule.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ProtocolReport {
    /// The protocol's name.
    pub name: String,
    /// Its version at the base, if it existed there.
    pub base_version: Option<Version>,
    /// Its version at the head, if it exists there.
    pub head_version: Option<Version>,
    /// The changes, in schema order.
    pub changes: Vec<Change>,
    /// The version rule applied to the changes.
    pub verdict: Verdict,
}

impl ProtocolReport {
    /// The number of changes of one class.
    pub fn count(&self, class: Class) -> usize {
        self.changes.iter().filter(|c| c.class == class).count()
    }

    /// Whether there is anything to report: changes or a version change.
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty() && self.base_version == self.head_version
    }

    fn version_text(version: Option<Version>) -> String {
        version.map_or_else(|| "none".to_owned(), |v| v.to_string())
    }

    /// The section of the Markdown report.
    pub fn to_markdown(&self) -> String {
        let counts: Vec<String> = Class::ALL
            .iter()
            .filter(|&&c| c != Class::KernelInternal)
            .map(|&class| format!("{} {class}", self.count(class)))
            .collect();
        let mut out = format!(
            "### Protocol {}\n\n{} -> {}: {} ({})\n\n",
            self.name,
            Self::version_text(self.base_version),
            Self::version_text(self.head_version),
            plural(self.changes.len(), "change"),
            counts.join(", ")
        );
        if !self.changes.is_empty() {
            out.push_str("| Entry | Class | Change | Detail |\n|---|---|---|---|\n");
            for change in &self.changes {
                out.push_str(&format!(
                    "| `{}` | {} | {} | {} |\n",
                    change.entry,
                    change.class,
                    change.kind,
                    super::table_cell(&change.detail)
                ));
            }
            out.push('\n');
        }
        out.push_str(&format!("**Verdict ({}):** {}\n", self.name, self.verdict));
        out
    }
}

fn version(p: &Protocol) -> Version {
    Version {
        major: p.version_major,
        minor: p.version_minor,
    }
}

fn params(list: &[ProtoParam]) -> String {
    let parts: Vec<String> = list
        .iter()
        .map(|p| format!("{}: {}", p.name, p.ty.describe()))
        .collect();
    parts.join(", ")
}

fn signature(m: &Message) -> String {
    if m.oneway {
        format!("({}) oneway", params(&m.args))
    } else {
        format!("({}) -> ({})", params(&m.args), params(&m.results))
    }
}

struct Changes {
    protocol: String,
    changes: Vec<Change>,
    /// Labels and names the base used that the head neither uses nor retires.
    untombed: Vec<String>,
}

impl Changes {
    fn push(&mut self, class: Class, kind: Kind, entry: &str, detail: impl Into<String>) {
        self.changes.push(Change {
            class,
            kind,
            entry: entry.to_owned(),
            detail: detail.into(),
        });
    }

    fn doc(&mut self, entry: &str, old: &str, new: &str) {
        if old != new {
            self.push(
                Class::Doc,
                Kind::DocChanged,
                entry,
                format!("now \"{}\"", shorten(new)),
            );
        }
    }

    fn entry(&self, name: &str) -> String {
        format!("{}.{name}", self.protocol)
    }

    fn compare(&mut self, b: &Protocol, h: &Protocol) {
        let name = self.protocol.clone();
        self.doc(&name, &b.doc, &h.doc);
        if (b.label_base, b.label_size) != (h.label_base, h.label_size) {
            self.push(
                Class::Breaking,
                Kind::LabelBlockChanged,
                &name,
                format!(
                    "{:#x}+{:#x} -> {:#x}+{:#x}",
                    b.label_base, b.label_size, h.label_base, h.label_size
                ),
            );
        }
        if b.grant != h.grant {
            self.push(
                Class::Breaking,
                Kind::RightsChanged,
                &name,
                format!("grant {} -> {}", b.grant, h.grant),
            );
        }
        for e in &b.errors {
            let entry = format!("{name} error {}", e.name);
            match h.error(&e.name) {
                None => self.push(
                    Class::Breaking,
                    Kind::Removed,
                    &entry,
                    format!("code {:#x}", e.code),
                ),
                Some(he) => {
                    if he.code != e.code {
                        self.push(
                            Class::Breaking,
                            Kind::Renumbered,
                            &entry,
                            format!("{:#x} -> {:#x}", e.code, he.code),
                        );
                    }
                    self.doc(&entry, &e.doc, &he.doc);
                }
            }
        }
        for e in h.errors.iter().filter(|e| b.error(&e.name).is_none()) {
            self.push(
                Class::Compatible,
                Kind::Added,
                &format!("{name} error {}", e.name),
                format!("code {:#x}", e.code),
            );
        }
        for bm in &b.messages {
            match h.message(&bm.name) {
                Some(hm) => self.message(bm, hm),
                None => {
                    let entry = self.entry(&bm.name);
                    if let Some(renamed) = h
                        .messages
                        .iter()
                        .find(|m| m.label == bm.label && b.message(&m.name).is_none())
                    {
                        self.push(
                            Class::Breaking,
                            Kind::Renamed,
                            &entry,
                            format!(
                                "`{}` -> `{}` (label {:#x})",
                                bm.name, renamed.name, bm.label
                            ),
                        );
                        // The rest of the message is compared under its old name.
                        self.message(bm, renamed);
                        continue;
                    }
                    self.push(
                        Class::Breaking,
                        Kind::Removed,
                        &entry,
                        format!("label {:#x}: {}", bm.label, signature(bm)),
                    );
                    if !h.retired.iter().any(|r| r.label == bm.label)
                        && !h.messages.iter().any(|m| m.label == bm.label)
                    {
                        self.untombed
                            .push(format!("label {:#x} ({}.{})", bm.label, name, bm.name));
                    }
                }
            }
        }
        for hm in &h.messages {
            let renamed = b
                .messages
                .iter()
                .any(|m| m.label == hm.label && h.message(&m.name).is_none());
            if b.message(&hm.name).is_none() && !renamed {
                self.push(
                    Class::Compatible,
                    Kind::Added,
                    &self.entry(&hm.name),
                    format!("label {:#x}: {}", hm.label, signature(hm)),
                );
            }
        }
        for r in &b.retired {
            let kept = h.retired.iter().any(|x| x.label == r.label);
            if !kept && !h.messages.iter().any(|m| m.label == r.label) {
                self.untombed
                    .push(format!("retired label {:#x} of {name}", r.label));
            }
        }
    }

    fn message(&mut self, b: &Message, h: &Message) {
        let entry = self.entry(&b.name);
        self.doc(&entry, &b.doc, &h.doc);
        if b.label != h.label {
            self.push(
                Class::Breaking,
                Kind::Relabelled,
                &entry,
                format!("{:#x} -> {:#x}", b.label, h.label),
            );
        }
        if b.oneway != h.oneway {
            self.push(
                Class::Breaking,
                Kind::KindChanged,
                &entry,
                format!(
                    "{} -> {}",
                    if b.oneway { "oneway" } else { "call" },
                    if h.oneway { "oneway" } else { "call" }
                ),
            );
        }
        self.params(&entry, "argument", &b.args, &h.args);
        self.params(&entry, "result", &b.results, &h.results);
        for e in h.errors.iter().filter(|e| !b.errors.contains(e)) {
            self.push(Class::Compatible, Kind::ErrorAdded, &entry, e.clone());
        }
        for e in b.errors.iter().filter(|e| !h.errors.contains(e)) {
            self.push(Class::Compatible, Kind::ErrorRemoved, &entry, e.clone());
        }
    }

    /// Arguments or results: any change of number, order or type is breaking; a rename
    /// is breaking for the fields of a reply struct (more than one result), compatible
    /// otherwise (the wire does not carry names; the fingerprint does, so a bump is due).
    fn params(&mut self, entry: &str, what: &str, b: &[ProtoParam], h: &[ProtoParam]) {
        let argument = what == "argument";
        let (added, removed, renamed, retyped, reordered) = if argument {
            (
                Kind::ArgumentAdded,
                Kind::ArgumentRemoved,
                Kind::ArgumentRenamed,
                Kind::ArgumentRetyped,
                Kind::ArgumentsReordered,
            )
        } else {
            (
                Kind::ResultAdded,
                Kind::ResultRemoved,
                Kind::ResultRenamed,
                Kind::ResultRetyped,
                Kind::ResultsReordered,
            )
        };
        let names =
            |list: &[ProtoParam]| -> Vec<String> { list.iter().map(|p| p.name.clone()).collect() };
        let (bn, hn) = (names(b), names(h));
        let mut sorted_b = bn.clone();
        let mut sorted_h = hn.clone();
        sorted_b.sort();
        sorted_h.sort();
        if bn != hn && sorted_b == sorted_h {
            self.push(
                Class::Breaking,
                reordered,
                entry,
                format!("({}) -> ({})", bn.join(", "), hn.join(", ")),
            );
            return;
        }
        for (i, (bp, hp)) in b.iter().zip(h).enumerate() {
            if bp.ty != hp.ty {
                self.push(
                    Class::Breaking,
                    retyped,
                    entry,
                    format!(
                        "{what} {i} `{}`: {} -> {}",
                        hp.name,
                        bp.ty.describe(),
                        hp.ty.describe()
                    ),
                );
            }
            if bp.name != hp.name {
                let class = if !argument && (b.len() > 1 || h.len() > 1) {
                    Class::Breaking
                } else {
                    Class::Compatible
                };
                self.push(
                    class,
                    renamed,
                    entry,
                    format!("{what} {i}: `{}` -> `{}`", bp.name, hp.name),
                );
            }
            self.doc(&format!("{entry}({})", hp.name), &bp.doc, &hp.doc);
        }
        for p in h.iter().skip(b.len()) {
            self.push(
                Class::Breaking,
                added,
                entry,
                format!("`{}: {}`", p.name, p.ty.describe()),
            );
        }
        for p in b.iter().skip(h.len()) {
            self.push(
                Class::Breaking,
                removed,
                entry,
                format!("`{}: {}`", p.name, p.ty.describe()),
            );
        }
    }
}

/// Compares the protocols of `base` and `head`: one report per protocol either has.
pub fn diff(base: &Model, head: &Model) -> Vec<ProtocolReport> {
    let mut out = Vec::new();
    for h in &head.protocols {
        let b = base.protocols.iter().find(|p| p.name == h.name);
        let mut changes = Changes {
            protocol: h.name.clone(),
            changes: Vec::new(),
            untombed: Vec::new(),
        };
        match b {
            Some(b) => changes.compare(b, h),
            None => changes.push(
                Class::Compatible,
                Kind::Added,
                &h.name,
                format!(
                    "version {}, labels {:#x}..={:#x}, {}",
                    version(h),
                    h.label_base,
                    h.label_last(),
                    plural(h.messages.len(), "message")
                ),
            ),
        }
        let verdict = protocol_verdict(&changes, b.map(version), Some(version(h)));
        out.push(ProtocolReport {
            name: h.name.clone(),
            base_version: b.map(version),
            head_version: Some(version(h)),
            changes: changes.changes,
            verdict,
        });
    }
    for b in base
        .protocols
        .iter()
        .filter(|b| !head.protocols.iter().any(|h| h.name == b.name))
    {
        let mut changes = Changes {
            protocol: b.name.clone(),
            changes: Vec::new(),
            untombed: Vec::new(),
        };
        changes.push(
            Class::Breaking,
            Kind::Removed,
            &b.name,
            format!(
                "labels {:#x}..={:#x}, {}",
                b.label_base,
                b.label_last(),
                plural(b.messages.len(), "message")
            ),
        );
        let retired = head.retired_protocols.iter().any(|r| {
            r.name == b.name && r.label_base == b.label_base && r.label_size == b.label_size
        });
        let verdict = if retired {
            Verdict {
                status: Status::Ok,
                message: format!("protocol {} removed, its name and block retired", b.name),
            }
        } else {
            Verdict {
                status: Status::Refused,
                message: format!(
                    "protocol {} removed without a tombstone; add `[[retired]] protocol = \"{}\"` with `labels = {{ base = {:#x}, size = {:#x} }}`",
                    b.name, b.name, b.label_base, b.label_size
                ),
            }
        };
        out.push(ProtocolReport {
            name: b.name.clone(),
            base_version: Some(version(b)),
            head_version: None,
            changes: changes.changes,
            verdict,
        });
    }
    out
}

/// The version rule of one protocol: breaking changes need a major bump, compatible ones a
/// minor bump (refused without: the handshake compares fingerprints within a version).
fn protocol_verdict(changes: &Changes, base: Option<Version>, head: Option<Version>) -> Verdict {
    let name = &changes.protocol;
    let (Some(base), Some(head)) = (base, head) else {
        return Verdict {
            status: Status::Ok,
            message: format!("new protocol {name}"),
        };
    };
    let count = |class: Class| changes.changes.iter().filter(|c| c.class == class).count();
    let breaking = count(Class::Breaking);
    let compatible = count(Class::Compatible);
    let versions = format!("{base} -> {head}");
    let (status, message) = if head < base {
        (
            Status::Refused,
            format!("the {name} version went backwards ({versions})"),
        )
    } else if breaking > 0 && head.major <= base.major {
        (
            Status::Refused,
            format!(
                "{} without a major {name} version bump ({versions}); set its `version` to \"{}.0\"",
                plural(breaking, "breaking change"),
                base.major.saturating_add(1)
            ),
        )
    } else if !changes.untombed.is_empty() {
        (
            Status::Refused,
            format!(
                "{} of {name} no longer used and not retired: {}; add `[[retired]] protocol = \"{name}\"` tombstones",
                plural(changes.untombed.len(), "label"),
                changes.untombed.join(", ")
            ),
        )
    } else if compatible > 0 && head == base {
        (
            Status::Refused,
            format!(
                "{} without a minor {name} version bump ({versions}); set its `version` to \"{}.{}\"",
                plural(compatible, "compatible change"),
                base.major,
                base.minor.saturating_add(1)
            ),
        )
    } else if breaking > 0 || compatible > 0 {
        (
            Status::Ok,
            format!(
                "{} with a {name} version bump ({versions})",
                plural(breaking + compatible, "change")
            ),
        )
    } else if head > base {
        (
            Status::Warning,
            format!("the {name} version changed ({versions}) but the protocol did not"),
        )
    } else if changes.changes.is_empty() {
        (Status::Ok, format!("no {name} change ({head})"))
    } else {
        (
            Status::Ok,
            format!("only doc changes to {name}, which need no version bump ({head})"),
        )
    };
    Verdict { status, message }
}
