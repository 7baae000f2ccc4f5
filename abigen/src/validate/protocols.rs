//! Validation of the server protocols: `[protocols]`, `[[protocol]]`, `[[message]]` and their `[[retired]]` tombstones.

use std::collections::HashSet;
use std::ops::Range;

use super::{Seen, Validator, hex, span_of};
use crate::model::*;
use crate::names::{self, Bare, Case};
use crate::raw::*;

/// Methods the generated client defines besides one per message.
const RESERVED_MESSAGE_NAMES: &[&str] = &[
    "connect",
    "server_version",
    "endpoint",
    "buffer",
    "handshake",
];

/// Parameter names the generated client, server trait and dispatcher use themselves.
const RESERVED_PARAM_NAMES: &[&str] = &[
    "request", "receive", "server", "incoming", "config", "reply", "decoder", "encoder",
];

/// Prefix of the generated code's own local names; parameters may not start with it.
const RESERVED_PARAM_PREFIX: &str = "wire_";

/// Error names the generated error enum uses for itself.
const RESERVED_ERROR_NAMES: &[&str] = &["Shared"];

/// The bitfield the runtime reads a received capability's object type and rights from.
const IDENTITY_BITFIELD: &str = "CapIdentity";

/// The constants that bound a message.
const MAX_LENGTH_CONSTANT: &str = "MSG_MAX_LENGTH";
const MAX_CAPS_CONSTANT: &str = "MSG_MAX_CAPS";

/// The largest `count` of a fixed-size byte array and `max` of a byte string: far more than
/// any message holds, so that the word arithmetic cannot overflow.
const MAX_BYTE_LENGTH: u64 = 1 << 20;

/// What protocol validation reads from the rest of the schema.
pub(super) struct Context<'a> {
    pub errors: &'a [ErrorCode],
    pub objects: &'a [Object],
    pub flags: &'a [FlagSet],
    pub bitfields: &'a [Bitfield],
    pub structs: &'a [Struct],
    pub constants: &'a [Constant],
    pub kernel_messages: Option<&'a KernelMessages>,
}

/// A label block someone else owns, for overlap reports.
struct Block {
    base: u64,
    size: u64,
    owner: String,
    span: Range<usize>,
}

impl Block {
    fn overlaps(&self, base: u64, size: u64) -> bool {
        base < self.base + self.size && self.base < base + size
    }
}

/// Labels and codes must fit the label field of the IPC info word.
fn label_limit(ctx: &Context<'_>, ipc_info: Option<&str>) -> u64 {
    ipc_info
        .and_then(|name| ctx.bitfields.iter().find(|b| b.name == name))
        .and_then(|b| b.fields.iter().find(|f| f.name == "label"))
        .map_or(u64::MAX, BitfieldField::max)
}

fn words_text(count: u64) -> String {
    if count == 1 {
        "1 word".to_owned()
    } else {
        format!("{count} words")
    }
}

impl Validator<'_> {
    /// Validates every protocol entry; all problems are reported, nothing panics.
    pub(super) fn protocols(
        &mut self,
        raw: &RawSchema,
        ctx: &Context<'_>,
    ) -> (Option<ProtocolRules>, Vec<Protocol>, Vec<RetiredProtocol>) {
        let uses_protocols = !raw.protocol.is_empty() || !raw.message.is_empty();
        let rules = match &raw.protocols {
            Some(table) => self.protocol_rules(raw, table, ctx),
            None => {
                if let Some(first) = raw.protocol.first() {
                    self.d.error(
                        span_of(first),
                        "a `[[protocol]]` needs the `[protocols]` table (its implied errors and `error_base`)",
                    );
                } else if let Some(first) = raw.message.first() {
                    self.d.error(
                        span_of(first),
                        "a `[[message]]` needs a `[[protocol]]` and the `[protocols]` table",
                    );
                }
                None
            }
        };
        let limit = label_limit(
            ctx,
            raw.ipc
                .as_ref()
                .and_then(|i| i.get_ref().info.as_ref())
                .map(|n| n.get_ref().as_str()),
        );
        let max_words = ctx
            .constants
            .iter()
            .find(|c| c.name == MAX_LENGTH_CONSTANT)
            .map(|c| c.value);
        let max_caps = ctx
            .constants
            .iter()
            .find(|c| c.name == MAX_CAPS_CONSTANT)
            .map(|c| c.value);
        if uses_protocols {
            let at = raw
                .protocol
                .first()
                .map(span_of)
                .or_else(|| raw.message.first().map(span_of))
                .unwrap_or(0..0);
            for (name, value) in [
                (MAX_LENGTH_CONSTANT, max_words),
                (MAX_CAPS_CONSTANT, max_caps),
            ] {
                if value.is_none() {
                    self.d.error(
                        at.clone(),
                        format!("protocols need the constant `{name}`, which bounds every message"),
                    );
                }
            }
            let identity = ctx.bitfields.iter().find(|b| b.name == IDENTITY_BITFIELD);
            let has_fields = identity.is_some_and(|b| {
                ["object_type", "rights"]
                    .iter()
                    .all(|f| b.fields.iter().any(|x| x.name == *f))
            });
            if !has_fields {
                self.d.error(
                    at.clone(),
                    format!(
                        "protocols need the `{IDENTITY_BITFIELD}` bitfield with `object_type` and `rights` fields (what CNode.identify reports), which the generated server's capability checks read"
                    ),
                );
            }
            if raw.ipc.is_none() {
                self.d.error(
                    at,
                    "protocols travel through IPC and need the `[ipc]` table",
                );
            }
        }

        let (retired_protocols, retired_messages) = self.protocol_tombstones(raw);

        // Label blocks protocols must stay clear of.
        let mut taken: Vec<Block> = Vec::new();
        for object in ctx.objects {
            let span = raw
                .object
                .iter()
                .find(|o| {
                    o.get_ref()
                        .name
                        .as_ref()
                        .is_some_and(|n| n.get_ref() == &object.name)
                })
                .and_then(|o| o.get_ref().labels.as_ref().map(span_of))
                .unwrap_or(0..0);
            taken.push(Block {
                base: object.label_base,
                size: object.label_size,
                owner: format!("the block of object {}", object.name),
                span,
            });
        }
        if let Some(km) = ctx.kernel_messages {
            let span = raw
                .kernel_messages
                .as_ref()
                .and_then(|t| t.get_ref().labels.as_ref().map(span_of))
                .unwrap_or(0..0);
            taken.push(Block {
                base: km.label_base,
                size: km.label_size,
                owner: "the kernel messages' block".to_owned(),
                span,
            });
        }
        for (span, r) in &retired_protocols {
            taken.push(Block {
                base: r.label_base,
                size: r.label_size,
                owner: format!("the block of retired protocol {}", r.name),
                span: span.clone(),
            });
        }

        let mut protocols: Vec<Protocol> = Vec::new();
        // Every protocol name spelt, valid or not, so that messages of a broken protocol
        // are not also reported as messages of an unknown one.
        let declared: HashSet<String> = raw
            .protocol
            .iter()
            .filter_map(|p| p.get_ref().name.as_ref().map(|n| n.get_ref().clone()))
            .collect();
        let mut modules = Seen::new("protocol (after case conversion)");
        for entry in &raw.protocol {
            if let Some(protocol) = self.protocol(
                entry,
                ctx,
                rules.as_ref(),
                limit,
                &mut taken,
                &mut modules,
                &retired_protocols,
            ) {
                protocols.push(protocol);
            }
        }

        let mut message_names = Seen::new("message");
        let mut message_forms = Seen::new("message name (after case conversion)");
        let mut labels = Seen::new("message label");
        for entry in &raw.message {
            let at = span_of(entry);
            let m = entry.get_ref();
            let protocol = self
                .required(&m.protocol, "protocol", "message", at.clone())
                .and_then(|p| {
                    let found = protocols.iter().position(|x| &x.name == p.get_ref());
                    if found.is_none() && !declared.contains(p.get_ref()) {
                        let known: Vec<&str> = protocols.iter().map(|x| x.name.as_str()).collect();
                        self.d.error(
                            span_of(p),
                            format!(
                                "message of unknown protocol `{}`{}",
                                p.get_ref(),
                                if known.is_empty() {
                                    String::new()
                                } else {
                                    format!("; expected one of {}", known.join(", "))
                                }
                            ),
                        );
                    }
                    found
                });
            let message = self.message(
                entry,
                protocol.map(|i| &protocols[i]),
                ctx,
                rules.as_ref(),
                max_words,
                max_caps,
                &retired_messages,
                &mut labels,
            );
            let (Some(index), Some(message)) = (protocol, message) else {
                continue;
            };
            let name_span = m.name.as_ref().map_or(at.clone(), span_of);
            let owner = protocols[index].name.clone();
            if !message_names.insert(
                self.d,
                format!("{owner}.{}", message.name),
                name_span.clone(),
            ) {
                continue;
            }
            if !message_forms.insert(
                self.d,
                format!("{owner}.{}", message.camel_name()),
                name_span,
            ) {
                continue;
            }
            protocols[index].messages.push(message);
        }
        for (protocol_name, (span, r)) in retired_messages {
            match protocols.iter_mut().find(|p| p.name == protocol_name) {
                Some(protocol) => protocol.retired.push(r),
                // A protocol whose own entry has errors is reported there.
                None if declared.contains(&protocol_name) => {}
                None => self.d.error(
                    span,
                    format!(
                        "retired label {} names unknown protocol `{protocol_name}` (a retired protocol's block is retired whole, with `labels`)",
                        hex(r.label)
                    ),
                ),
            }
        }
        let retired_protocols = retired_protocols.into_iter().map(|(_, r)| r).collect();
        (rules, protocols, retired_protocols)
    }

    fn protocol_rules(
        &mut self,
        raw: &RawSchema,
        table: &S<RawProtocols>,
        ctx: &Context<'_>,
    ) -> Option<ProtocolRules> {
        let at = span_of(table);
        let t = table.get_ref();
        let keys = [
            ("unknown_label", &t.unknown_label),
            ("malformed", &t.malformed),
            ("missing_capability", &t.missing_capability),
            ("wrong_object_type", &t.wrong_object_type),
            ("insufficient_rights", &t.insufficient_rights),
            ("version_mismatch", &t.version_mismatch),
        ];
        let mut names: Vec<Option<String>> = Vec::new();
        for (key, value) in keys {
            let Some(value) = value else {
                self.d
                    .error(at.clone(), format!("`[protocols]` has no `{key}`"));
                names.push(None);
                continue;
            };
            if ctx.errors.iter().any(|e| &e.name == value.get_ref()) {
                names.push(Some(value.get_ref().clone()));
            } else {
                self.d.error(
                    span_of(value),
                    format!(
                        "`[protocols].{key}` names unknown error `{}`",
                        value.get_ref()
                    ),
                );
                names.push(None);
            }
        }
        let base = self
            .required(&t.error_base, "error_base", "`[protocols]`", at)
            .and_then(|b| {
                let value = self.number(b, "error_base", u64::MAX)?;
                if value == 0 {
                    self.d
                        .error(span_of(b), "error_base must be above 0 (0 is success)");
                    return None;
                }
                Some(value)
            });
        if let Some(base) = base {
            for e in ctx.errors.iter().filter(|e| e.code >= base) {
                let span = raw
                    .error
                    .iter()
                    .find(|r| {
                        r.get_ref()
                            .name
                            .as_ref()
                            .is_some_and(|n| n.get_ref() == &e.name)
                    })
                    .and_then(|r| r.get_ref().code.as_ref().map(span_of))
                    .unwrap_or(0..0);
                self.d.error(
                    span,
                    format!(
                        "shared error `{}` has code {} at or above `[protocols].error_base` {}, where protocol errors live",
                        e.name,
                        hex(e.code),
                        hex(base)
                    ),
                );
            }
        }
        let mut names = names.into_iter();
        let mut next = || names.next().flatten();
        Some(ProtocolRules {
            unknown_label: next()?,
            malformed: next()?,
            missing_capability: next()?,
            wrong_object_type: next()?,
            insufficient_rights: next()?,
            version_mismatch: next()?,
            error_base: base?,
        })
    }

    /// The `[[retired]]` entries with `protocol`: whole protocols, and message labels per protocol name.
    #[allow(clippy::type_complexity)]
    fn protocol_tombstones(
        &mut self,
        raw: &RawSchema,
    ) -> (
        Vec<(Range<usize>, RetiredProtocol)>,
        Vec<(String, (Range<usize>, RetiredMessage))>,
    ) {
        let mut protocols: Vec<(Range<usize>, RetiredProtocol)> = Vec::new();
        let mut messages = Vec::new();
        let mut seen = Seen::new("retired protocol entry");
        for entry in &raw.retired {
            let r = entry.get_ref();
            let Some(protocol) = &r.protocol else {
                if let Some(labels) = &r.labels {
                    self.d.error(
                        span_of(labels),
                        "`labels` retires a protocol's block and needs `protocol`",
                    );
                }
                continue;
            };
            let at = span_of(entry);
            let reason = self.doc(&r.reason, "retired entry", at.clone());
            for (key, value) in [
                ("syscall", r.syscall.as_ref().map(span_of)),
                ("object", r.object.as_ref().map(span_of)),
                ("error", r.error.as_ref().map(span_of)),
            ] {
                if let Some(span) = value {
                    self.d.error(
                        span,
                        format!("a retired protocol entry takes `label` or `labels`, not `{key}`"),
                    );
                }
            }
            let name = protocol.get_ref().clone();
            match (&r.label, &r.labels) {
                (Some(label), None) => {
                    let Some(label) = self.number(label, "retired label", u64::MAX) else {
                        continue;
                    };
                    let span = r.label.as_ref().map_or(at.clone(), span_of);
                    if seen.insert(self.d, format!("{name} label {}", hex(label)), span.clone()) {
                        messages.push((
                            name,
                            (
                                span,
                                RetiredMessage {
                                    label,
                                    reason: reason.replace('\n', " "),
                                },
                            ),
                        ));
                    }
                }
                (None, Some(block)) => {
                    let Some((base, size, span)) = self.label_block(block) else {
                        continue;
                    };
                    if let Err(reason) = names::check_name(&name, Case::Camel, Bare::RustAndC) {
                        self.d.error(
                            span_of(protocol),
                            format!("invalid protocol name: {reason}"),
                        );
                        continue;
                    }
                    if seen.insert(self.d, format!("protocol {name}"), span_of(protocol)) {
                        protocols.push((
                            span,
                            RetiredProtocol {
                                name,
                                label_base: base,
                                label_size: size,
                                reason: reason.replace('\n', " "),
                            },
                        ));
                    }
                }
                _ => {
                    self.d.error(
                        at,
                        "a retired protocol entry needs exactly one of `label` (a message) and `labels` (the whole protocol)",
                    );
                }
            }
        }
        (protocols, messages)
    }

    #[allow(clippy::too_many_arguments)]
    fn protocol(
        &mut self,
        entry: &S<RawProtocol>,
        ctx: &Context<'_>,
        rules: Option<&ProtocolRules>,
        limit: u64,
        taken: &mut Vec<Block>,
        modules: &mut Seen<String>,
        retired: &[(Range<usize>, RetiredProtocol)],
    ) -> Option<Protocol> {
        let at = span_of(entry);
        let p = entry.get_ref();
        let name = self.name(&p.name, Case::Camel, "protocol", at.clone());
        let doc = self.doc(&p.doc, "protocol", at.clone());
        let mut ok = true;
        if let Some(name) = &name {
            let module = names::snake_case(name.get_ref());
            if names::check_name(name.get_ref(), Case::Camel, Bare::RustAndC).is_ok() {
                if let Err(reason) = names::check_identifier(&module, Case::Snake) {
                    self.d.error(
                        span_of(name),
                        format!(
                            "protocol name `{}` becomes the module `{module}`: {reason}",
                            name.get_ref()
                        ),
                    );
                    ok = false;
                }
            } else {
                ok = false;
            }
            if !modules.insert(self.d, module, span_of(name)) {
                ok = false;
            }
            if let Some((span, r)) = retired
                .iter()
                .find(|(_, r)| names::snake_case(&r.name) == names::snake_case(name.get_ref()))
            {
                self.d.error_with_related(
                    span_of(name),
                    format!(
                        "protocol name `{}` is retired and must not be reused ({})",
                        name.get_ref(),
                        r.reason
                    ),
                    span.clone(),
                    "retired here",
                );
                ok = false;
            }
        }
        let version = self
            .required(&p.version, "version", "protocol", at.clone())
            .and_then(|v| {
                let parsed = super::parse_version(v.get_ref());
                if parsed.is_none() {
                    self.d.error(
                        span_of(v),
                        format!(
                            "protocol version `{}` is not `major.minor` (two numbers up to 65535, like \"1.0\")",
                            v.get_ref()
                        ),
                    );
                }
                parsed
            });
        let block = self
            .required(&p.labels, "labels", "protocol", at.clone())
            .and_then(|b| self.label_block(b));
        if let Some((base, size, span)) = &block {
            let last = base + size - 1;
            if last > limit {
                self.d.error(
                    span.clone(),
                    format!(
                        "label block {}..={} does not fit the info word's label field (at most {})",
                        hex(*base),
                        hex(last),
                        hex(limit)
                    ),
                );
                ok = false;
            }
            if let Some(other) = taken.iter().find(|b| b.overlaps(*base, *size)) {
                self.d.error_with_related(
                    span.clone(),
                    format!(
                        "label block {}..={} overlaps {} ({}..={})",
                        hex(*base),
                        hex(last),
                        other.owner,
                        hex(other.base),
                        hex(other.base + other.size - 1)
                    ),
                    other.span.clone(),
                    "the other block",
                );
                ok = false;
            }
        }
        let grant = p.grant.as_ref().is_some_and(|g| *g.get_ref());
        let mut errors = Vec::new();
        let mut error_names = Seen::new("protocol error");
        let mut error_codes = Seen::new("protocol error code");
        for e in &p.errors {
            let eat = span_of(e);
            let r = e.get_ref();
            let ename = self.name(&r.name, Case::Camel, "protocol error", eat.clone());
            let edoc = self.doc(&r.doc, "protocol error", eat.clone());
            let code = self
                .required(&r.code, "code", "protocol error", eat.clone())
                .and_then(|c| {
                    let code = self.number(c, "error code", u64::MAX)?;
                    if let Some(rules) = rules
                        && code < rules.error_base
                    {
                        self.d.error(
                            span_of(c),
                            format!(
                                "protocol error code {} is below `[protocols].error_base` {}, where shared errors live",
                                hex(code),
                                hex(rules.error_base)
                            ),
                        );
                        return None;
                    }
                    if code > limit {
                        self.d.error(
                            span_of(c),
                            format!(
                                "protocol error code {} does not fit the info word's label field (at most {})",
                                hex(code),
                                hex(limit)
                            ),
                        );
                        return None;
                    }
                    error_codes.insert(self.d, hex(code), span_of(c)).then_some(code)
                });
            let Some(ename) = ename else {
                ok = false;
                continue;
            };
            let text = ename.get_ref();
            if RESERVED_ERROR_NAMES.contains(&text.as_str()) {
                self.d.error(
                    span_of(&ename),
                    format!("protocol error name `{text}` is reserved in the generated error type"),
                );
                ok = false;
                continue;
            }
            if ctx.errors.iter().any(|s| &s.name == text) {
                self.d.error(
                    span_of(&ename),
                    format!("protocol error `{text}` has the name of a shared `[[error]]`; use the shared one or rename it"),
                );
                ok = false;
                continue;
            }
            if !error_names.insert(self.d, text.clone(), span_of(&ename)) {
                ok = false;
                continue;
            }
            let Some(code) = code else {
                ok = false;
                continue;
            };
            errors.push(ProtocolError {
                name: text.clone(),
                code,
                doc: edoc,
            });
        }
        let (name, (version_major, version_minor), (label_base, label_size, span)) =
            (name?, version?, block?);
        taken.push(Block {
            base: label_base,
            size: label_size,
            owner: format!("the block of protocol {}", name.get_ref()),
            span,
        });
        ok.then(|| Protocol {
            name: name.into_inner(),
            version_major,
            version_minor,
            label_base,
            label_size,
            grant,
            doc,
            errors,
            messages: Vec::new(),
            retired: Vec::new(),
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn message(
        &mut self,
        entry: &S<RawMessage>,
        protocol: Option<&Protocol>,
        ctx: &Context<'_>,
        rules: Option<&ProtocolRules>,
        max_words: Option<u64>,
        max_caps: Option<u64>,
        retired: &[(String, (Range<usize>, RetiredMessage))],
        labels: &mut Seen<String>,
    ) -> Option<Message> {
        let at = span_of(entry);
        let m = entry.get_ref();
        let name = self.name(&m.name, Case::Snake, "message", at.clone());
        let doc = self.doc(&m.doc, "message", at.clone());
        let mut ok = true;
        if let Some(name) = &name
            && RESERVED_MESSAGE_NAMES.contains(&name.get_ref().as_str())
        {
            self.d.error(
                span_of(name),
                format!(
                    "message name `{}` is reserved: the generated client has a method of that name",
                    name.get_ref()
                ),
            );
            ok = false;
        }
        let label = self
            .required(&m.label, "label", "message", at.clone())
            .and_then(|l| {
                let label = self.number(l, "label", u64::MAX)?;
                let protocol = protocol?;
                if !(protocol.label_base..=protocol.label_last()).contains(&label) {
                    self.d.error(
                        span_of(l),
                        format!(
                            "label {} lies outside the block of protocol {} ({}..={})",
                            hex(label),
                            protocol.name,
                            hex(protocol.label_base),
                            hex(protocol.label_last())
                        ),
                    );
                    return None;
                }
                if label == protocol.label_base {
                    self.d.error(
                        span_of(l),
                        format!(
                            "label {} is the block's base, which is the generated handshake of protocol {}; messages start at {}",
                            hex(label),
                            protocol.name,
                            hex(label + 1)
                        ),
                    );
                    return None;
                }
                if let Some((_, (span, r))) = retired
                    .iter()
                    .find(|(p, (_, r))| p == &protocol.name && r.label == label)
                {
                    self.d.error_with_related(
                        span_of(l),
                        format!(
                            "label {} of protocol {} is retired and must not be reused ({})",
                            hex(label),
                            protocol.name,
                            r.reason
                        ),
                        span.clone(),
                        "retired here",
                    );
                    return None;
                }
                labels
                    .insert(self.d, format!("{}.{}", protocol.name, hex(label)), span_of(l))
                    .then_some(label)
            });
        let oneway = m.oneway.as_ref().is_some_and(|o| *o.get_ref());
        let args = self.proto_params(&m.args, "argument", protocol, ctx, max_caps);
        let results = self.proto_params(&m.results, "result", protocol, ctx, max_caps);
        if oneway {
            if let Some(first) = m.results.first() {
                self.d.error(
                    span_of(first),
                    "a oneway message has no reply, so it takes no `results`",
                );
                ok = false;
            }
            if let Some(errors) = &m.errors
                && !errors.get_ref().is_empty()
            {
                self.d.error(
                    span_of(errors),
                    "a oneway message has no reply, so it lists no `errors`",
                );
                ok = false;
            }
        }
        if let Some(limit) = max_words {
            for (what, list, params) in [
                ("arguments", &m.args, &args),
                ("results", &m.results, &results),
            ] {
                let Some(params) = params else { continue };
                let words = crate::model::max_words(params);
                if words > limit {
                    let span = list.first().map_or(at.clone(), span_of);
                    self.d.error(
                        span,
                        format!(
                            "the message's {what} cannot fit the IPC buffer: {} at most, {MAX_LENGTH_CONSTANT} is {limit}",
                            words_text(words)
                        ),
                    );
                    ok = false;
                }
            }
        }
        let errors = self.message_errors(&m.errors, protocol, ctx, rules);
        let (Some(name), Some(label), Some(args), Some(results), Some(errors)) =
            (name, label, args, results, errors)
        else {
            return None;
        };
        ok.then(|| Message {
            name: name.into_inner(),
            label,
            oneway,
            args,
            results,
            errors,
            doc,
        })
    }

    fn message_errors(
        &mut self,
        list: &Option<S<Vec<S<String>>>>,
        protocol: Option<&Protocol>,
        ctx: &Context<'_>,
        rules: Option<&ProtocolRules>,
    ) -> Option<Vec<String>> {
        let Some(list) = list else {
            return Some(Vec::new());
        };
        let mut ok = true;
        let mut seen = Seen::new("error in `errors`");
        let mut out = Vec::new();
        for name in list.get_ref() {
            let text = name.get_ref();
            let shared = ctx.errors.iter().any(|e| &e.name == text);
            let own = protocol.is_some_and(|p| p.error(text).is_some());
            if !shared && !own {
                // A protocol whose own entry failed has errors we cannot see: stay quiet.
                if protocol.is_some() || rules.is_none() {
                    self.d.error(
                        span_of(name),
                        format!(
                            "`errors` names unknown error `{text}` (neither a shared `[[error]]` nor an error of the protocol)"
                        ),
                    );
                }
                ok = false;
                continue;
            }
            if seen.insert(self.d, text.clone(), span_of(name)) {
                out.push(text.clone());
            } else {
                ok = false;
            }
        }
        ok.then_some(out)
    }

    /// Validates the arguments or the results of a message.
    fn proto_params(
        &mut self,
        list: &[S<RawProtoParam>],
        what: &str,
        protocol: Option<&Protocol>,
        ctx: &Context<'_>,
        max_caps: Option<u64>,
    ) -> Option<Vec<ProtoParam>> {
        let mut ok = true;
        let mut seen = Seen::new(if what == "argument" {
            "argument"
        } else {
            "result"
        });
        let mut out = Vec::new();
        let mut caps = 0u64;
        let mut optional_seen = false;
        for p in list {
            let at = span_of(p);
            let r = p.get_ref();
            let name = self.name(&r.name, Case::Snake, what, at.clone());
            let doc = self.doc(&r.doc, what, at.clone());
            if let Some(name) = &name {
                let text = name.get_ref();
                if RESERVED_PARAM_NAMES.contains(&text.as_str())
                    || text.starts_with(RESERVED_PARAM_PREFIX)
                {
                    self.d.error(
                        span_of(name),
                        format!("{what} name `{text}` is reserved in generated protocol code"),
                    );
                    ok = false;
                }
            }
            let ty = self.proto_type(r, what, at.clone(), ctx);
            if let Some(ProtoType::Cap(cap)) = &ty {
                caps += 1;
                if let Some(limit) = max_caps
                    && caps == limit + 1
                {
                    self.d.error(
                        at.clone(),
                        format!(
                            "too many capabilities: a message carries at most {MAX_CAPS_CONSTANT} = {limit}"
                        ),
                    );
                    ok = false;
                }
                if cap.optional {
                    optional_seen = true;
                } else if optional_seen {
                    self.d.error(
                        at.clone(),
                        "a required capability must come before every optional one (the receiver counts the optional ones that arrived)",
                    );
                    ok = false;
                }
                if let Some(protocol) = protocol
                    && !protocol.grant
                {
                    let span = r.ty.as_ref().map_or(at.clone(), span_of);
                    self.d.error(
                        span,
                        format!(
                            "a capability {what} needs an endpoint with grant semantics: protocol {} has `grant = false`",
                            protocol.name
                        ),
                    );
                    ok = false;
                }
            }
            let (Some(name), Some(ty)) = (name, ty) else {
                ok = false;
                continue;
            };
            if !seen.insert(self.d, name.get_ref().clone(), span_of(&name)) {
                ok = false;
                continue;
            }
            out.push(ProtoParam {
                name: name.into_inner(),
                ty,
                doc,
            });
        }
        ok.then_some(out)
    }

    /// Resolves a parameter's type and checks which of `max`, `count`, `object`, `rights`
    /// and `optional` it may (and must) have.
    fn proto_type(
        &mut self,
        r: &RawProtoParam,
        what: &str,
        at: Range<usize>,
        ctx: &Context<'_>,
    ) -> Option<ProtoType> {
        let ty = self.required(&r.ty, "type", what, at.clone())?;
        let text = ty.get_ref().as_str();
        let refuse = |v: &mut Self, key: &str, span: Option<Range<usize>>, why: &str| {
            if let Some(span) = span {
                v.d.error(span, format!("`{key}` {why}, and this {what} is `{text}`"));
                true
            } else {
                false
            }
        };
        let is_cap = text == "cap";
        let is_string = text == "bytes" || text == "string";
        let mut bad = false;
        if !is_cap {
            bad |= refuse(
                self,
                "object",
                r.object.as_ref().map(span_of),
                "applies only to `cap`",
            );
            bad |= refuse(
                self,
                "rights",
                r.rights.as_ref().map(span_of),
                "applies only to `cap`",
            );
            bad |= refuse(
                self,
                "optional",
                r.optional.as_ref().map(span_of),
                "applies only to `cap`",
            );
        }
        if !is_string {
            bad |= refuse(
                self,
                "max",
                r.max.as_ref().map(span_of),
                "applies only to `bytes` and `string`",
            );
        }
        if text != "u8" {
            bad |= refuse(
                self,
                "count",
                r.count.as_ref().map(span_of),
                "makes a fixed-size byte array and applies only to `u8`",
            );
        }
        let length = |v: &mut Self, value: &S<i64>, key: &str| -> Option<u64> {
            let n = v.number(value, key, MAX_BYTE_LENGTH)?;
            if n == 0 {
                v.d.error(span_of(value), format!("`{key}` must be at least 1"));
                return None;
            }
            Some(n)
        };
        let parsed = match text {
            "u8" if r.count.is_some() => {
                let count = r.count.as_ref()?;
                ProtoType::Array {
                    count: length(self, count, "count")?,
                }
            }
            "bytes" | "string" => {
                let Some(max) = &r.max else {
                    self.d.error(
                        at,
                        format!("a `{text}` {what} needs `max`, its largest length in bytes"),
                    );
                    return None;
                };
                let max = length(self, max, "max")?;
                if text == "bytes" {
                    ProtoType::Bytes { max }
                } else {
                    ProtoType::String { max }
                }
            }
            "cap" => ProtoType::Cap(self.proto_cap(r, at, ctx)?),
            "bool" => ProtoType::Bool,
            "ObjectType" => ProtoType::ObjectType,
            _ => {
                if let Some(int) = IntType::parse(text) {
                    ProtoType::Int(int)
                } else if ctx.flags.iter().any(|f| f.name == text) {
                    ProtoType::Flags(text.to_owned())
                } else if ctx.bitfields.iter().any(|b| b.name == text) {
                    ProtoType::Bitfield(text.to_owned())
                } else if let Some(s) = ctx.structs.iter().find(|s| s.name == text) {
                    ProtoType::Struct {
                        name: text.to_owned(),
                        words: words_for_bytes(s.size),
                    }
                } else {
                    let mut expected =
                        String::from("u8, u16, u32, u64, bool, ObjectType, bytes, string, cap");
                    for name in ctx
                        .flags
                        .iter()
                        .map(|f| &f.name)
                        .chain(ctx.bitfields.iter().map(|b| &b.name))
                        .chain(ctx.structs.iter().map(|s| &s.name))
                    {
                        expected.push_str(", ");
                        expected.push_str(name);
                    }
                    self.d.error(
                        span_of(ty),
                        format!("unknown {what} type `{text}`; expected one of {expected}"),
                    );
                    return None;
                }
            }
        };
        (!bad).then_some(parsed)
    }

    fn proto_cap(
        &mut self,
        r: &RawProtoParam,
        at: Range<usize>,
        ctx: &Context<'_>,
    ) -> Option<ProtoCap> {
        let object = match &r.object {
            None => {
                self.d.error(
                    at.clone(),
                    format!("a `cap` has no `object` (name the object type it must refer to, or `\"{ANY_OBJECT}\"`)"),
                );
                None
            }
            Some(o) if o.get_ref() == ANY_OBJECT => Some(None),
            Some(o) => {
                if ctx.objects.iter().any(|x| &x.name == o.get_ref()) {
                    Some(Some(o.get_ref().clone()))
                } else {
                    let mut known: Vec<&str> =
                        ctx.objects.iter().map(|x| x.name.as_str()).collect();
                    known.push(ANY_OBJECT);
                    self.d.error(
                        span_of(o),
                        format!(
                            "a `cap` names unknown object `{}`; expected one of {}",
                            o.get_ref(),
                            known.join(", ")
                        ),
                    );
                    None
                }
            }
        };
        let rights = match &r.rights {
            None => {
                self.d.error(
                    at,
                    "a `cap` has no `rights` list (write `rights = []` if it needs none)",
                );
                None
            }
            Some(list) => self.rights_list(
                list,
                ctx.flags.iter().find(|f| f.name == super::RIGHTS_FLAG_SET),
            ),
        };
        Some(ProtoCap {
            object: object?,
            rights: rights?,
            optional: r.optional.as_ref().is_some_and(|o| *o.get_ref()),
        })
    }
}
