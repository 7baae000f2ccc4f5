//! Generated identifiers must be unique: every name each output derives from the schema (after case conversion and prefixes), checked per namespace against the others and against the names the generator emits itself.

use std::collections::HashMap;
use std::ops::Range;

use crate::diagnostics::Diagnostics;
use crate::model::Model;
use crate::names::{screaming_case, snake_case};
use crate::raw::{RawSchema, S};

/// Who owns a generated identifier: a schema entry at a span, or the generator itself.
enum Owner {
    Entry { what: String, span: Range<usize> },
    Generator(&'static str),
}

/// The identifiers of one namespace of one output.
struct Namespace {
    /// What the identifiers are, e.g. `C macro`.
    what: &'static str,
    taken: HashMap<String, Owner>,
}

impl Namespace {
    fn new(what: &'static str) -> Self {
        Namespace {
            what,
            taken: HashMap::new(),
        }
    }

    /// Marks `name` as emitted by the generator itself (`why` says what it is).
    fn reserve(&mut self, name: String, why: &'static str) {
        self.taken.insert(name, Owner::Generator(why));
    }

    /// Claims `name` for the schema entry `what` at `span`, reporting a collision.
    fn claim(&mut self, d: &mut Diagnostics, name: String, what: String, span: Range<usize>) {
        match self.taken.get(&name) {
            None => {
                self.taken.insert(name, Owner::Entry { what, span });
            }
            // The same entry twice is a duplicate name, reported where names are checked.
            Some(Owner::Entry { what: other, .. }) if *other == what => {}
            Some(Owner::Entry {
                what: other,
                span: other_span,
            }) => {
                // Report at the later of the two in the file, pointing back at the earlier.
                let (first, first_span, second, second_span) = if other_span.start <= span.start {
                    (other, other_span.clone(), &what, span)
                } else {
                    (&what, span, other, other_span.clone())
                };
                d.error_with_related(
                    second_span,
                    format!(
                        "{second} and {first} both become the {} `{name}`",
                        self.what
                    ),
                    first_span,
                    format!("{first} is here"),
                );
            }
            Some(Owner::Generator(why)) => d.error(
                span,
                format!(
                    "{what} becomes the {} `{name}`, which generated code already defines ({why})",
                    self.what
                ),
            ),
        }
    }
}

/// The span of the entry of `list` whose name is `name` (0..0 when none is found).
fn span_by_name<T>(
    list: &[S<T>],
    name_of: impl Fn(&T) -> Option<&S<String>>,
    name: &str,
) -> Range<usize> {
    list.iter()
        .find_map(|entry| {
            name_of(entry.get_ref())
                .filter(|n| n.get_ref() == name)
                .map(|n| n.span())
        })
        .unwrap_or(0..0)
}

/// Reports every generated identifier that two schema entries, or an entry and the
/// generator, would both define. Runs on the validated parts of the model.
pub fn check(d: &mut Diagnostics, raw: &RawSchema, model: &Model) {
    let prefix = screaming_case(&model.abi.name);
    let lower = snake_case(&model.abi.name);
    let syscall_span = |name: &str| span_by_name(&raw.syscall, |s| s.name.as_ref(), name);
    let object_span = |name: &str| span_by_name(&raw.object, |o| o.name.as_ref(), name);
    let error_span = |name: &str| span_by_name(&raw.error, |e| e.name.as_ref(), name);
    let constant_span = |name: &str| span_by_name(&raw.constant, |c| c.name.as_ref(), name);
    let flags_span = |name: &str| span_by_name(&raw.flags, |f| f.name.as_ref(), name);
    let struct_span = |name: &str| span_by_name(&raw.structs, |s| s.name.as_ref(), name);
    let bitfield_span = |name: &str| span_by_name(&raw.bitfield, |b| b.name.as_ref(), name);
    let message_span = |name: &str| span_by_name(&raw.kernel_message, |m| m.name.as_ref(), name);
    let invocation_span = |object: &str, name: &str| {
        raw.invocation
            .iter()
            .find_map(|i| {
                let i = i.get_ref();
                let same_object = i.object.as_ref().is_some_and(|o| o.get_ref() == object);
                i.name
                    .as_ref()
                    .filter(|n| same_object && n.get_ref() == name)
                    .map(|n| n.span())
            })
            .unwrap_or(0..0)
    };
    let bit_span = |set: &str, bit: &str| {
        raw.flags
            .iter()
            .filter(|f| {
                f.get_ref()
                    .name
                    .as_ref()
                    .is_some_and(|n| n.get_ref() == set)
            })
            .flat_map(|f| &f.get_ref().bits)
            .find_map(|b| {
                b.get_ref()
                    .name
                    .as_ref()
                    .filter(|n| n.get_ref() == bit)
                    .map(|n| n.span())
            })
            .unwrap_or(0..0)
    };

    // The C header: one namespace of macros for every number.
    let mut macros = Namespace::new("C macro");
    for (suffix, why) in [
        ("ABI_NAME", "the ABI name"),
        ("ABI_VERSION_MAJOR", "the major version"),
        ("ABI_VERSION_MINOR", "the minor version"),
        ("ABI_FINGERPRINT", "the ABI fingerprint"),
        ("ABI_H", "the include guard"),
    ] {
        macros.reserve(format!("{prefix}_{suffix}"), why);
    }
    if model.ipc.is_some() {
        macros.reserve(
            format!("{prefix}_MESSAGE_REGISTERS"),
            "the message register count",
        );
    }
    if let Some(reply) = &model.fault_reply {
        macros.reserve(
            format!("{prefix}_FAULT_REPLY_LENGTH"),
            "the fault reply's length",
        );
        for f in &reply.fields {
            macros.reserve(
                format!("{prefix}_FAULT_REPLY_WORD_{}", screaming_case(&f.name)),
                "a fault reply word",
            );
        }
    }
    if model.kernel_messages.is_some() {
        for (suffix, why) in [
            (
                "KERNEL_MESSAGE_LABEL_FIRST",
                "the kernel messages' first label",
            ),
            (
                "KERNEL_MESSAGE_LABEL_LAST",
                "the kernel messages' last label",
            ),
        ] {
            macros.reserve(format!("{prefix}_{suffix}"), why);
        }
    }
    for c in &model.constants {
        let what = format!("constant `{}`", c.name);
        macros.claim(
            d,
            format!("{prefix}_{}", c.name),
            what,
            constant_span(&c.name),
        );
    }
    for s in &model.syscalls {
        let what = format!("syscall `{}`", s.name);
        macros.claim(
            d,
            format!("{prefix}_SYS_{}", s.const_name()),
            what,
            syscall_span(&s.name),
        );
    }
    for o in &model.objects {
        let what = format!("object `{}`", o.name);
        let name = format!("{prefix}_OBJECT_{}", screaming_case(&o.name));
        macros.claim(d, name, what, object_span(&o.name));
    }
    for i in &model.invocations {
        let what = format!("invocation `{}`", i.display_name());
        let name = format!("{prefix}_LABEL_{}", i.const_name());
        macros.claim(d, name, what, invocation_span(&i.object, &i.name));
    }
    for e in &model.errors {
        let what = format!("error `{}`", e.name);
        let name = format!("{prefix}_ERROR_{}", screaming_case(&e.name));
        macros.claim(d, name, what, error_span(&e.name));
    }
    for f in &model.flags {
        let set = screaming_case(&f.name);
        for b in &f.bits {
            let what = format!("flag bit `{}.{}`", f.name, b.name);
            let name = format!("{prefix}_{set}_{}", screaming_case(&b.name));
            macros.claim(d, name, what, bit_span(&f.name, &b.name));
        }
        let what = format!("flag set `{}`", f.name);
        macros.claim(d, format!("{prefix}_{set}_ALL"), what, flags_span(&f.name));
    }
    let mut functions = Namespace::new("C function");
    functions.reserve(format!("{lower}_trap"), "the trap");
    functions.reserve(format!("{lower}_ipc_trap"), "the IPC trap");
    for b in &model.bitfields {
        let set = screaming_case(&b.name);
        let function = format!("{lower}_{}", snake_case(&b.name));
        let span = bitfield_span(&b.name);
        for f in &b.fields {
            let what = format!("bitfield field `{}.{}`", b.name, f.name);
            let field = screaming_case(&f.name);
            for suffix in ["LSB", "WIDTH", "MAX", "MASK"] {
                macros.claim(
                    d,
                    format!("{prefix}_{set}_{field}_{suffix}"),
                    what.clone(),
                    span.clone(),
                );
            }
            functions.claim(
                d,
                format!("{function}_{}", f.name),
                what.clone(),
                span.clone(),
            );
            functions.claim(d, format!("{function}_with_{}", f.name), what, span.clone());
        }
        let what = format!("bitfield `{}`", b.name);
        macros.claim(d, format!("{prefix}_{set}_RESERVED"), what, span);
    }
    if let Some(k) = &model.kernel_messages {
        for m in &k.messages {
            let what = format!("kernel message `{}`", m.name);
            let span = message_span(&m.name);
            let name = format!("{prefix}_KERNEL_MESSAGE_{}", m.const_name());
            macros.claim(d, name.clone(), what.clone(), span.clone());
            macros.claim(d, format!("{name}_LENGTH"), what.clone(), span.clone());
            for f in &m.fields {
                let field = format!("{name}_WORD_{}", screaming_case(&f.name));
                macros.claim(d, field, what.clone(), span.clone());
            }
        }
    }
    let mut tags = Namespace::new("C struct tag");
    for s in &model.structs {
        let what = format!("struct `{}`", s.name);
        tags.claim(
            d,
            format!("{lower}_{}", snake_case(&s.name)),
            what,
            struct_span(&s.name),
        );
    }

    // The Rust `abi` crate: enum variants and label constants derived by case conversion.
    let mut syscall_variants = Namespace::new("`Syscall` variant");
    for s in &model.syscalls {
        let what = format!("syscall `{}`", s.name);
        syscall_variants.claim(d, s.variant_name(), what, syscall_span(&s.name));
    }
    let mut invocation_variants = Namespace::new("`Invocation` variant");
    let mut labels = Namespace::new("`label::` constant");
    for i in &model.invocations {
        let what = format!("invocation `{}`", i.display_name());
        let span = invocation_span(&i.object, &i.name);
        invocation_variants.claim(d, i.variant_name(), what.clone(), span.clone());
        labels.claim(d, i.const_name(), what, span);
    }
}
