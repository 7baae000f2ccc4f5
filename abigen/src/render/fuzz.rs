//! Renders `servers/fuzz/src/generated/table.rs`: the fuzzer's table of every syscall and invocation, with argument kinds, ranges, capability constraints and what each entry creates.
//!
//! Which entries create capabilities follows from the schema's names: an entry with a
//! `u64` argument called [`DEST_INDEX`] stores a new capability in that slot, of the
//! CNode named by its `CNode` capability argument with `write` (else the invoked CNode),
//! and of the type its `ObjectType` argument names (else the type of its capability
//! argument of any type: a copy). An IPC syscall that names an endpoint and does not
//! declare `WouldBlock` may block, and is marked so (the fuzzer leaves it out).
//! docs/CONTRACTS.md states the rules.

use proc_macro2::TokenStream;
use quote::quote;

use super::{Verbatim, format_rust, ident};
use crate::model::{Model, Param, Syscall, SyscallKind, Type};
use crate::validate::RIGHTS_FLAG_SET;

/// The argument name that marks the slot a new capability goes to.
pub const DEST_INDEX: &str = "dest_index";

/// Renders the fuzzer's table.
pub fn render(model: &Model) -> String {
    let syscalls = model.syscalls.iter().map(|s| {
        let variant = ident(&s.variant_name());
        let args = s.args.iter().map(|p| arg(model, p));
        let creates = creates(&s.args, false);
        let (target, blocking) = match s.kind {
            SyscallKind::Ipc(_) => (
                quote! { Target::Ipc(abi::Syscall::#variant) },
                ipc_may_block(s),
            ),
            _ => (quote! { Target::Syscall(abi::Syscall::#variant) }, false),
        };
        quote! {
            Entry {
                target: #target,
                args: &[#(#args),*],
                creates: #creates,
                blocking: #blocking,
            }
        }
    });
    let invocations = model.invocations.iter().map(|i| {
        let variant = ident(&i.variant_name());
        let args = i.args.iter().map(|p| arg(model, p));
        let creates = creates(&i.args, i.object == "CNode");
        quote! {
            Entry {
                target: Target::Invocation(abi::Invocation::#variant),
                args: &[#(#args),*],
                creates: #creates,
                blocking: false,
            }
        }
    });
    let payload = proc_macro2::Literal::usize_unsuffixed(model.payload_register_count());
    let registers = proc_macro2::Literal::usize_unsuffixed(model.arg_register_count());
    let rights = ident(RIGHTS_FLAG_SET);
    let invoke = model.invoke_syscall().map(|s| {
        let variant = ident(&s.variant_name());
        quote! {
            /// The syscall that carries every invocation.
            pub const INVOKE: abi::Syscall = abi::Syscall::#variant;
        }
    });
    let tokens = quote! {
        #invoke

        /// Argument registers of a trap.
        pub const ARG_REGISTERS: usize = #registers;

        /// Argument registers an invocation's payload may use.
        pub const PAYLOAD_REGISTERS: usize = #payload;

        /// How an entry is reached.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum Target {
            /// A syscall, by its number.
            Syscall(abi::Syscall),
            /// An invocation: the `invoke` syscall with the invoked capability and the label.
            Invocation(abi::Invocation),
            /// An IPC syscall: its capability argument (if any) in the IPC capability
            /// register, a message in the info and message registers.
            Ipc(abi::Syscall),
        }

        /// What an argument register holds.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum ArgKind {
            /// An unsigned integer; values above `max` are refused by the dispatcher.
            Int {
                /// The largest value of the type.
                max: u64,
            },
            /// 0 or 1.
            Bool,
            /// A capability address.
            Cap {
                /// The object type the dispatcher demands (`None`: any type).
                object: Option<abi::ObjectType>,
                /// The rights the dispatcher demands.
                rights: abi::#rights,
            },
            /// A user virtual address.
            UserAddr,
            /// An object type id.
            ObjectType,
            /// Bits of a flag set; bits outside `valid` are refused.
            Flags {
                /// Every defined bit.
                valid: u64,
            },
        }

        /// One argument of an entry.
        #[derive(Clone, Copy, Debug)]
        pub struct Arg {
            /// Its schema name.
            pub name: &'static str,
            /// What its register holds.
            pub kind: ArgKind,
        }

        /// The CNode a created capability is stored in.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum Destination {
            /// The CNode named by this (capability) argument.
            Argument(usize),
            /// The invoked CNode itself.
            Invoked,
        }

        /// The object type of a created capability.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum Created {
            /// The type this `ObjectType` argument names.
            OfType(usize),
            /// The type of the capability this argument names (a copy).
            LikeArgument(usize),
        }

        /// What a successful call creates.
        #[derive(Clone, Copy, Debug)]
        pub struct Creates {
            /// The argument holding the slot index of the new capability.
            pub index: usize,
            /// The CNode that slot is in.
            pub cnode: Destination,
            /// The new capability's object type.
            pub object: Created,
        }

        /// One syscall or invocation.
        #[derive(Clone, Copy, Debug)]
        pub struct Entry {
            /// How it is reached.
            pub target: Target,
            /// Its arguments in register order (an invocation's payload only).
            pub args: &'static [Arg],
            /// The capability a successful call creates, if any.
            pub creates: Option<Creates>,
            /// Whether a call may block until another thread acts (an IPC syscall on an
            /// endpoint that does not declare `WouldBlock`); the fuzzer does not issue these.
            pub blocking: bool,
        }

        /// Every syscall, then every invocation, in schema order.
        pub const ENTRIES: &[Entry] = &[#(#syscalls,)* #(#invocations,)*];
    };
    format_rust(
        "The fuzzer's table: every syscall and invocation with its argument kinds, ranges and capability constraints, and what it creates.",
        tokens,
        &Verbatim::default(),
    )
}

/// The `Arg` literal of one parameter.
fn arg(model: &Model, param: &Param) -> TokenStream {
    let name = param.name.as_str();
    let kind = match &param.ty {
        Type::Int(int) => {
            let max = super::number_literal(int.max());
            quote! { ArgKind::Int { max: #max } }
        }
        Type::Bool => quote! { ArgKind::Bool },
        Type::Cap => {
            let (object, rights) = match &param.cap {
                Some(cap) => (cap.object.as_deref(), cap.rights.as_slice()),
                None => (None, &[][..]),
            };
            let object = match object {
                Some(object) => {
                    let object = ident(object);
                    quote! { Some(abi::ObjectType::#object) }
                }
                None => quote! { None },
            };
            let rights = rights_expr(rights);
            quote! { ArgKind::Cap { object: #object, rights: #rights } }
        }
        Type::Uaddr => quote! { ArgKind::UserAddr },
        Type::ObjectType => quote! { ArgKind::ObjectType },
        Type::Flags(set) => {
            let valid = model.flag_set(set).map_or(0, |f| f.all_bits());
            let valid = super::hex_literal(valid);
            quote! { ArgKind::Flags { valid: #valid } }
        }
        Type::Bitfield(name) => {
            // Every word without a reserved bit is valid.
            let valid = model
                .bitfield(name)
                .map_or(0, |b| b.word.max() & !b.reserved());
            let valid = super::hex_literal(valid);
            quote! { ArgKind::Flags { valid: #valid } }
        }
    };
    quote! { Arg { name: #name, kind: #kind } }
}

/// Whether an IPC syscall may block: it names an endpoint and has no non-blocking failure
/// (`WouldBlock`). `reply` (no endpoint) and `nb_send`/`nb_recv` do not block.
fn ipc_may_block(s: &Syscall) -> bool {
    !s.args.is_empty() && !s.errors.iter().any(|e| e == WOULD_BLOCK)
}

/// The error that marks an entry as non-blocking.
const WOULD_BLOCK: &str = "WouldBlock";

/// `abi::Rights::empty()` or the union of the named bits.
fn rights_expr(rights: &[String]) -> TokenStream {
    let set = ident(RIGHTS_FLAG_SET);
    let mut bits = rights
        .iter()
        .map(|r| ident(&crate::names::screaming_case(r)));
    match bits.next() {
        None => quote! { abi::#set::empty() },
        Some(first) => quote! { abi::#set::#first #(.union(abi::#set::#bits))* },
    }
}

/// The `Option<Creates>` literal of an entry with `args`; `invoked_cnode` says whether the
/// invoked object is a CNode (the destination when no argument names one).
fn creates(args: &[Param], invoked_cnode: bool) -> TokenStream {
    let position = |wanted: &dyn Fn(&Param) -> bool| args.iter().position(wanted);
    let index = position(&|p| p.name == DEST_INDEX && matches!(p.ty, Type::Int(_)));
    let cnode = position(&|p| {
        p.cap.as_ref().is_some_and(|c| {
            c.object.as_deref() == Some("CNode") && c.rights.iter().any(|r| r == "write")
        })
    });
    let of_type = position(&|p| p.ty == Type::ObjectType);
    let like = position(&|p| p.cap.as_ref().is_some_and(|c| c.object.is_none()));
    let Some(index) = index else {
        return quote! { None };
    };
    let cnode = match (cnode, invoked_cnode) {
        (Some(arg), _) => {
            let arg = proc_macro2::Literal::usize_unsuffixed(arg);
            quote! { Destination::Argument(#arg) }
        }
        (None, true) => quote! { Destination::Invoked },
        (None, false) => return quote! { None },
    };
    let object = match (of_type, like) {
        (Some(arg), _) => {
            let arg = proc_macro2::Literal::usize_unsuffixed(arg);
            quote! { Created::OfType(#arg) }
        }
        (None, Some(arg)) => {
            let arg = proc_macro2::Literal::usize_unsuffixed(arg);
            quote! { Created::LikeArgument(#arg) }
        }
        (None, None) => return quote! { None },
    };
    let index = proc_macro2::Literal::usize_unsuffixed(index);
    quote! { Some(Creates { index: #index, cnode: #cnode, object: #object }) }
}
