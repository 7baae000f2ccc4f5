//! Renders `kernel/src/generated/dispatch.rs`: the `Kernel` handler trait and the `dispatch` function that decodes raw trap registers into typed calls.

use proc_macro2::TokenStream;
use quote::quote;

use super::{Verbatim, doc_attrs, format_rust, ident};
use crate::model::{
    CAP_LOOKUP_ERRORS, CapArg, IPC_MESSAGE_PARAM, IntType, Invocation, IpcFlow, Model, Param,
    Syscall, SyscallKind, Type,
};
use crate::names::screaming_case;
use crate::validate::RIGHTS_FLAG_SET;

/// Renders the kernel dispatcher.
pub fn render(model: &Model) -> String {
    let register_count = proc_macro2::Literal::usize_unsuffixed(model.arg_register_count());
    let invalid = ident(&model.dispatch.invalid_argument);
    let has_rights = model.flag_set(RIGHTS_FLAG_SET).is_some();
    let rights_method = has_rights.then(|| {
        let rights = ident(RIGHTS_FLAG_SET);
        quote! {
            /// The rights `cap` carries.
            fn rights(cap: &Self::Cap) -> abi::#rights;
        }
    });
    let syscall_methods = model
        .syscalls
        .iter()
        .filter(|s| s.kind != SyscallKind::Invoke)
        .map(|s| {
            let doc = doc_attrs(&s.doc);
            let name = ident(&format!("sys_{}", s.name));
            let params = s.args.iter().map(param_decl);
            match s.kind.ipc() {
                Some(flow) => {
                    let message = ident(IPC_MESSAGE_PARAM);
                    let message = flow.send.then(|| quote! { , #message: abi::IpcMessage });
                    let ret = if flow.receive {
                        quote! { abi::Received }
                    } else {
                        quote! { () }
                    };
                    quote! { #doc fn #name(&mut self #(, #params)* #message) -> Result<#ret, abi::Error>; }
                }
                None => {
                    let ret = result_type(&s.results);
                    quote! { #doc fn #name(&mut self #(, #params)*) -> Result<#ret, abi::Error>; }
                }
            }
        });
    let invocation_methods = model.invocations.iter().map(|i| {
        let doc = doc_attrs(&format!("`{}` (label {:#x}). {}", i.display_name(), i.label, i.doc));
        let name = ident(&i.fn_name());
        let params = i.args.iter().map(param_decl);
        let ret = result_type(&i.results);
        quote! { #doc fn #name(&mut self, target: Self::Cap #(, #params)*) -> Result<#ret, abi::Error>; }
    });
    let (syscall_arms, syscall_fns): (Vec<TokenStream>, Vec<TokenStream>) = model
        .syscalls
        .iter()
        .map(|s| syscall_arm(model, s, &invalid))
        .unzip();
    let mut verbatim = Verbatim::default();
    let invoke_fn = model
        .invoke_syscall()
        .map(|invoke| invoke_fn(model, invoke, &invalid, &mut verbatim));
    let has_handlers = !model.invocations.is_empty()
        || model.syscalls.iter().any(|s| s.kind != SyscallKind::Invoke);
    let entry = dispatch_fn(model, &register_count, &syscall_arms);
    let checked_fn = has_handlers.then(|| {
        quote! {
            /// Returns a handler's `result`, first reporting through [`Kernel::undeclared_error`]
            /// an error that `allowed` (the entry's `handler_errors()`) does not list.
            fn checked<K: Kernel, T>(
                k: &mut K,
                entry: &'static str,
                allowed: &[abi::Error],
                result: Result<T, abi::Error>,
            ) -> Result<T, abi::Error> {
                if let Err(error) = &result
                    && !allowed.contains(error)
                {
                    k.undeclared_error(entry, *error);
                }
                result
            }
        }
    });
    let tokens = quote! {
        /// What the dispatcher needs from the kernel: capability lookup and one method per syscall and invocation.
        pub trait Kernel {
            /// A resolved capability handed to invocation methods.
            type Cap;
            /// Resolves `cptr` in the current thread's CSpace.
            fn lookup(&mut self, cptr: abi::CPtr) -> Result<Self::Cap, abi::Error>;
            /// The object type `cap` refers to.
            fn object_type(cap: &Self::Cap) -> abi::ObjectType;
            #rights_method
            /// The value register to return alongside `error`; 0 unless the error carries a value
            /// (for example the page-table level that `MissingTable` needs).
            fn error_value(&mut self, error: abi::Error) -> u64 {
                let _ = error;
                0
            }
            /// Called when the handler of `entry` returned `error`, which the schema neither
            /// declares for it nor implies (ABI drift); the dispatcher still returns `error`.
            fn undeclared_error(&mut self, entry: &'static str, error: abi::Error) {
                let _ = (entry, error);
            }
            #(#syscall_methods)*
            #(#invocation_methods)*
        }

        #entry

        /// The two result registers of a plain syscall or an invocation: `[0, value]` on
        /// success, `[error code, K::error_value(error)]` on failure.
        fn plain_results<K: Kernel>(k: &mut K, result: Result<u64, abi::Error>) -> [u64; 2] {
            match result {
                Ok(value) => [0, value],
                Err(error) => [error.code(), k.error_value(error)],
            }
        }

        #(#syscall_fns)*
        #invoke_fn
        #checked_fn
    };
    format_rust(
        "The kernel's syscall dispatcher: decodes trap registers into typed calls on the `Kernel` trait.",
        tokens,
        &verbatim,
    )
}

/// The entry point `dispatch`: without IPC, `(number, args) -> [status, value]`; with IPC
/// (`[ipc]` in the schema), `(number, args, ipc) -> TrapResults`, and the `TrapResults` type.
fn dispatch_fn(
    model: &Model,
    register_count: &proc_macro2::Literal,
    arms: &[TokenStream],
) -> TokenStream {
    let unknown_label_doc = format!(
        " A label that is not an invocation of the capability's object type fails with `{}`; a capability\n without a needed right fails with `{}`.",
        model.dispatch.unknown_label, model.dispatch.insufficient_rights
    );
    let unused_args =
        (!model.syscalls.iter().any(|s| s.kind.ipc().is_none())).then(|| quote! { let _ = args; });
    if model.ipc.is_none() {
        return quote! {
            /// Decodes one trap: `number` from the number register, `args` the argument registers in
            /// schema order. Returns the values for the two result registers: `[0, value]` on
            /// success, `[error code, K::error_value(error)]` on failure.
            ///
            #[doc = #unknown_label_doc]
            pub fn dispatch<K: Kernel>(k: &mut K, number: u64, args: [u64; #register_count]) -> [u64; 2] {
                #unused_args
                let result = match abi::Syscall::try_from(number) {
                    #(#arms)*
                    Err(error) => Err(error),
                };
                plain_results(k, result)
            }
        };
    }
    let unused_ipc = model
        .ipc_syscalls()
        .next()
        .is_none()
        .then(|| quote! { let _ = ipc; });
    quote! {
        pub use abi::IpcInput;

        /// What the kernel writes back to the thread after a trap.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum TrapResults {
            /// A plain syscall or an invocation: the status and value registers (`set_results`).
            Plain([u64; 2]),
            /// An IPC syscall (`set_ipc_results`).
            Ipc {
                /// The status register: 0 or an error code.
                status: u64,
                /// The message received, written to the badge, info and message registers;
                /// `None` on error and for an IPC that only sends.
                received: Option<abi::Received>,
            },
        }

        /// Decodes one trap: `number` from the number register, `args` the argument registers in
        /// schema order, `ipc` the IPC registers (read for every trap; only the IPC syscalls use
        /// them). A plain syscall or invocation returns the values for the two result registers:
        /// `[0, value]` on success, `[error code, K::error_value(error)]` on failure; an IPC
        /// syscall returns its status and the message it received.
        ///
        #[doc = #unknown_label_doc]
        pub fn dispatch<K: Kernel>(k: &mut K, number: u64, args: [u64; #register_count], ipc: IpcInput) -> TrapResults {
            #unused_args
            #unused_ipc
            let result = match abi::Syscall::try_from(number) {
                #(#arms)*
                Err(error) => Err(error),
            };
            TrapResults::Plain(plain_results(k, result))
        }

        /// The results of an IPC handler: its status, and on success the message received.
        fn message_results(result: Result<Option<abi::Received>, abi::Error>) -> TrapResults {
            match result {
                Ok(received) => TrapResults::Ipc { status: 0, received },
                Err(error) => TrapResults::Ipc { status: error.code(), received: None },
            }
        }
    }
}

/// `name: Type` for a trait method parameter; a resolved capability argument is a `Self::Cap`.
fn param_decl(p: &Param) -> TokenStream {
    let name = ident(&p.name);
    let ty = if p.cap.is_some() {
        quote! { Self::Cap }
    } else {
        rust_type(&p.ty)
    };
    quote! { #name: #ty }
}

/// The Rust type of a schema type, spelled through the `abi` crate.
pub(super) fn rust_type(ty: &Type) -> TokenStream {
    match ty {
        Type::Int(int) => {
            let name = ident(int.name());
            quote! { #name }
        }
        Type::Bool => quote! { bool },
        Type::Cap => quote! { abi::CPtr },
        Type::Uaddr => quote! { abi::UserAddr },
        Type::ObjectType => quote! { abi::ObjectType },
        Type::Flags(name) | Type::Bitfield(name) => {
            let name = ident(name);
            quote! { abi::#name }
        }
    }
}

/// `()` or the single result's type.
pub(super) fn result_type(results: &[Param]) -> TokenStream {
    match results.first() {
        Some(p) => rust_type(&p.ty),
        None => quote! { () },
    }
}

/// An expression decoding register `raw` into `ty`, returning `invalid` from the enclosing function on failure.
fn decode(model: &Model, ty: &Type, raw: TokenStream, invalid: &proc_macro2::Ident) -> TokenStream {
    match ty {
        Type::Bitfield(name) => {
            let word = model.bitfield(name).map_or(IntType::U64, |b| b.word);
            let name = ident(name);
            let bits = if word == IntType::U64 {
                raw
            } else {
                let word = ident(word.name());
                quote! { #word::try_from(#raw).map_err(|_| abi::Error::#invalid)? }
            };
            quote! { abi::#name::from_bits(#bits).ok_or(abi::Error::#invalid)? }
        }
        Type::Int(IntType::U64) => raw,
        Type::Int(int) => {
            let name = ident(int.name());
            quote! { #name::try_from(#raw).map_err(|_| abi::Error::#invalid)? }
        }
        Type::Bool => quote! {
            match #raw {
                0 => false,
                1 => true,
                _ => return Err(abi::Error::#invalid),
            }
        },
        Type::Cap => quote! { abi::CPtr(#raw) },
        Type::Uaddr => quote! { abi::UserAddr(#raw) },
        Type::ObjectType => {
            quote! { abi::ObjectType::try_from(#raw).map_err(|_| abi::Error::#invalid)? }
        }
        Type::Flags(name) => {
            let name = ident(name);
            quote! { abi::#name::from_bits(#raw).ok_or(abi::Error::#invalid)? }
        }
    }
}

/// Turns the method's `Result<T, Error>` into `Result<u64, Error>` for the value register.
fn encode_result(model: &Model, call: TokenStream, results: &[Param]) -> TokenStream {
    let Some(result) = results.first() else {
        return quote! { #call.map(|()| 0) };
    };
    match &result.ty {
        Type::Bitfield(name) if model.bitfield(name).is_some_and(|b| b.word != IntType::U64) => {
            quote! { #call.map(|value| u64::from(value.bits())) }
        }
        Type::Bitfield(_) => quote! { #call.map(|value| value.bits()) },
        Type::Int(IntType::U64) => call,
        Type::Int(_) | Type::Bool => quote! { #call.map(u64::from) },
        Type::Cap => quote! { #call.map(|value| value.0) },
        Type::Uaddr => quote! { #call.map(|value| value.0) },
        Type::ObjectType => quote! { #call.map(abi::ObjectType::id) },
        Type::Flags(_) => quote! { #call.map(|value| value.bits()) },
    }
}

/// `let name = decode(args[first + i]);` for each argument, then the resolution of each
/// capability argument (after every register decoded), and the argument names.
fn decode_args(
    model: &Model,
    params: &[Param],
    first: usize,
    invalid: &proc_macro2::Ident,
) -> (Vec<TokenStream>, Vec<proc_macro2::Ident>) {
    let mut lets = Vec::new();
    let mut resolves = Vec::new();
    let mut names = Vec::new();
    for (i, p) in params.iter().enumerate() {
        let name = ident(&p.name);
        let index = proc_macro2::Literal::usize_unsuffixed(first + i);
        match &p.cap {
            Some(cap) => resolves.push(resolve_cap(model, &name, cap, quote! { args[#index] })),
            None => {
                let value = decode(model, &p.ty, quote! { args[#index] }, invalid);
                lets.push(quote! { let #name = #value; });
            }
        }
        names.push(name);
    }
    lets.extend(resolves);
    (lets, names)
}

/// Looks up a capability argument and refuses another object type or missing rights.
fn resolve_cap(
    model: &Model,
    name: &proc_macro2::Ident,
    cap: &CapArg,
    raw: TokenStream,
) -> TokenStream {
    let object_check = cap.object.as_ref().map(|object| {
        let object = ident(object);
        let wrong = ident(CAP_LOOKUP_ERRORS[1]);
        quote! {
            if K::object_type(&#name) != abi::ObjectType::#object {
                return Err(abi::Error::#wrong);
            }
        }
    });
    let rights_check = (!cap.rights.is_empty()).then(|| {
        let rights_type = ident(RIGHTS_FLAG_SET);
        let insufficient = ident(&model.dispatch.insufficient_rights);
        let mut bits = cap.rights.iter().map(|r| ident(&screaming_case(r)));
        let first = bits.next().map(|bit| quote! { abi::#rights_type::#bit });
        let needed = bits.fold(first.unwrap_or_default(), |acc, bit| {
            quote! { #acc.union(abi::#rights_type::#bit) }
        });
        quote! {
            if !K::rights(&#name).contains(#needed) {
                return Err(abi::Error::#insufficient);
            }
        }
    });
    quote! {
        let #name = k.lookup(abi::CPtr(#raw))?;
        #object_check
        #rights_check
    }
}

/// The `match` arm of one syscall in `dispatch`, and the function it calls (none for the
/// invoke syscall, whose function is `invoke`). Each syscall decodes in its own function, as
/// each invocation does.
fn syscall_arm(
    model: &Model,
    s: &Syscall,
    invalid: &proc_macro2::Ident,
) -> (TokenStream, TokenStream) {
    let variant = ident(&s.variant_name());
    let register_count = proc_macro2::Literal::usize_unsuffixed(model.arg_register_count());
    match s.kind {
        SyscallKind::Invoke => (
            quote! { Ok(abi::Syscall::#variant) => invoke(k, &args), },
            TokenStream::new(),
        ),
        SyscallKind::Ipc(flow) => ipc_arm(model, s, flow),
        SyscallKind::Plain => {
            let method = ident(&format!("sys_{}", s.name));
            let function = ident(&format!("syscall_{}", s.name));
            let (lets, names) = decode_args(model, &s.args, 0, invalid);
            let entry = quote! { abi::Syscall::#variant };
            let call = encode_result(
                model,
                quote! { checked(k, #entry.name(), #entry.handler_errors(), result) },
                &s.results,
            );
            let doc = doc_attrs(&format!(
                "`{}`: decode the arguments, resolve the capability arguments, call the handler.",
                s.name
            ));
            let unused_args = s.args.is_empty().then(|| quote! { let _ = args; });
            (
                quote! { Ok(abi::Syscall::#variant) => #function(k, &args), },
                quote! {
                    #doc
                    fn #function<K: Kernel>(k: &mut K, args: &[u64; #register_count]) -> Result<u64, abi::Error> {
                        #unused_args
                        #(#lets)*
                        let result = k.#method(#(#names),*);
                        #call
                    }
                },
            )
        }
    }
}

/// The arm and function of an IPC syscall: resolve the capability from the capability
/// register, pass the message in, return the message out.
fn ipc_arm(model: &Model, s: &Syscall, flow: IpcFlow) -> (TokenStream, TokenStream) {
    let variant = ident(&s.variant_name());
    let method = ident(&format!("sys_{}", s.name));
    let function = ident(&format!("ipc_{}", s.name));
    let mut lets = Vec::new();
    let mut names = Vec::new();
    for p in &s.args {
        let name = ident(&p.name);
        match &p.cap {
            Some(cap) => lets.push(resolve_cap(model, &name, cap, quote! { ipc.capability })),
            None => lets.push(quote! { let #name = abi::CPtr(ipc.capability); }),
        }
        names.push(quote! { #name });
    }
    if flow.send {
        names.push(quote! { ipc.message });
    }
    let unused = (s.args.is_empty() && !flow.send).then(|| quote! { let _ = ipc; });
    let entry = quote! { abi::Syscall::#variant };
    let outcome = if flow.receive {
        quote! { .map(Some) }
    } else {
        quote! { .map(|()| None) }
    };
    let doc = doc_attrs(&format!(
        "`{}` ({}): {}call the handler.",
        s.name,
        flow.describe(),
        if s.args.is_empty() {
            ""
        } else {
            "resolve the capability, "
        }
    ));
    (
        quote! { Ok(abi::Syscall::#variant) => return message_results(#function(k, ipc)), },
        quote! {
            #doc
            fn #function<K: Kernel>(k: &mut K, ipc: IpcInput) -> Result<Option<abi::Received>, abi::Error> {
                #unused
                #(#lets)*
                let result = k.#method(#(#names),*);
                checked(k, #entry.name(), #entry.handler_errors(), result)#outcome
            }
        },
    )
}

/// The `match` arm of one invocation in `invoke`, and the function it calls. Each
/// invocation decodes in its own function so that the kernel stack holds only the frame of
/// the invocation being called, not the locals of every arm at once.
fn invocation_arm(
    model: &Model,
    i: &Invocation,
    payload_start: usize,
    invalid: &proc_macro2::Ident,
) -> (TokenStream, TokenStream) {
    let register_count = proc_macro2::Literal::usize_unsuffixed(model.arg_register_count());
    let variant = ident(&i.variant_name());
    let method = ident(&i.fn_name());
    let function = ident(&format!("invoke_{}", i.fn_name()));
    let (lets, names) = decode_args(model, &i.args, payload_start, invalid);
    let entry = quote! { abi::Invocation::#variant };
    let call = encode_result(
        model,
        quote! { checked(k, #entry.name(), #entry.handler_errors(), result) },
        &i.results,
    );
    let doc = doc_attrs(&format!(
        "`{}`: decode the payload, resolve the capability arguments, call the handler.",
        i.display_name()
    ));
    let arm = quote! { abi::Invocation::#variant => #function(k, target, args), };
    let unused_args = i.args.is_empty().then(|| quote! { let _ = args; });
    let function = quote! {
        #doc
        fn #function<K: Kernel>(k: &mut K, target: K::Cap, args: &[u64; #register_count]) -> Result<u64, abi::Error> {
            #unused_args
            #(#lets)*
            let result = k.#method(target #(, #names)*);
            #call
        }
    };
    (arm, function)
}

fn invoke_fn(
    model: &Model,
    invoke: &Syscall,
    invalid: &proc_macro2::Ident,
    verbatim: &mut Verbatim,
) -> TokenStream {
    let register_count = proc_macro2::Literal::usize_unsuffixed(model.arg_register_count());
    let unknown_label = ident(&model.dispatch.unknown_label);
    let insufficient = ident(&model.dispatch.insufficient_rights);
    let payload_start = invoke.args.len();
    let rights_check = model.flag_set(RIGHTS_FLAG_SET).map(|_| {
        let note = verbatim.comment("Rights are checked before any payload register is decoded.");
        quote! {
            #note
            if !K::rights(&target).contains(invocation.rights()) {
                return Err(abi::Error::#insufficient);
            }
        }
    });
    let (arms, functions): (Vec<TokenStream>, Vec<TokenStream>) = model
        .invocations
        .iter()
        .map(|i| invocation_arm(model, i, payload_start, invalid))
        .unzip();
    quote! {
        /// The invoke path: look up the capability, select the invocation by (object type, label),
        /// check rights, decode the payload registers, resolve the capability arguments
        /// (object type and rights) and call the handler.
        fn invoke<K: Kernel>(k: &mut K, args: &[u64; #register_count]) -> Result<u64, abi::Error> {
            let target = k.lookup(abi::CPtr(args[0]))?;
            let invocation = abi::Invocation::decode(K::object_type(&target), args[1]).ok_or(abi::Error::#unknown_label)?;
            #rights_check
            match invocation {
                #(#arms)*
            }
        }
        #(#functions)*
    }
}
