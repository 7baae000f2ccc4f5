//! Renders trona's `generated/trap.rs` (the one raw trap per architecture) and `generated/substrate.rs` (one safe, typed function per syscall and invocation).

use proc_macro2::TokenStream;
use quote::quote;

use super::dispatch::{result_type, rust_type};
use super::{Verbatim, doc_attrs, format_rust, ident};
use crate::model::{Arch, IntType, Model, Param, SyscallKind, Type};

/// Renders the raw trap.
pub fn render_trap(model: &Model) -> String {
    let count = proc_macro2::Literal::usize_unsuffixed(model.arg_register_count());
    let mut verbatim = Verbatim::default();
    let per_arch: Vec<TokenStream> = model
        .arches
        .iter()
        .map(|arch| trap_fn(arch, &count, &mut verbatim))
        .collect();
    let arch_names: Vec<&str> = model.arches.iter().map(|a| a.name.as_str()).collect();
    let unsupported = format!(
        "trona's generated trap supports only {}",
        arch_names.join(", ")
    );
    let tokens = quote! {
        #(#per_arch)*
        #[cfg(not(any(#(target_arch = #arch_names),*)))]
        compile_error!(#unsupported);
    };
    format_rust(
        "The one raw trap into the kernel, per architecture, with the registers schema.toml declares.",
        tokens,
        &verbatim,
    )
}

fn trap_fn(arch: &Arch, count: &proc_macro2::Literal, verbatim: &mut Verbatim) -> TokenStream {
    let name = arch.name.as_str();
    let instruction = arch.trap.as_str();
    // Every register the trap touches, with its input and output role.
    let mut registers: Vec<(String, Option<&'static str>, Option<&'static str>)> = Vec::new();
    let mut role =
        |register: &str, input: Option<&'static str>, output: Option<&'static str>| match registers
            .iter_mut()
            .find(|(r, _, _)| r == register)
        {
            Some((_, i, o)) => {
                if input.is_some() {
                    *i = input;
                }
                if output.is_some() {
                    *o = output;
                }
            }
            None => registers.push((register.to_owned(), input, output)),
        };
    const ARGS: [&str; 8] = [
        "args[0]", "args[1]", "args[2]", "args[3]", "args[4]", "args[5]", "args[6]", "args[7]",
    ];
    role(&arch.number_register, Some("number"), None);
    for (register, arg) in arch.arg_registers.iter().zip(ARGS) {
        role(register, Some(arg), None);
    }
    role(&arch.result_registers[0], None, Some("status"));
    role(&arch.result_registers[1], None, Some("value"));
    for register in &arch.clobbered_registers {
        role(register, None, Some("_"));
    }
    let mut asm = format!("core::arch::asm!(\n    {instruction:?},\n");
    for (register, input, output) in &registers {
        let operand = match (input, output) {
            (Some(input), Some(output)) => format!("inlateout({register:?}) {input} => {output}"),
            (Some(input), None) => format!("in({register:?}) {input}"),
            (None, Some(output)) => format!("lateout({register:?}) {output}"),
            (None, None) => continue,
        };
        asm.push_str(&format!("    {operand},\n"));
    }
    asm.push_str("    options(nostack),\n);");
    let asm = verbatim.insert(asm);
    let safety = verbatim.comment(&format!(
        "SAFETY: `{instruction}` enters the kernel, which reads only these registers and the user\n\
         memory it validates itself, and preserves every register except the results and the\n\
         listed clobbers."
    ));
    quote! {
        /// Traps into the kernel with syscall `number` and the argument registers `args`; returns
        /// the status and value registers.
        ///
        /// This is safe: the kernel validates everything, and the call cannot break the
        /// caller's memory safety because the kernel preserves all registers except the
        /// results and the clobbers.
        #[cfg(target_arch = #name)]
        #[inline(always)]
        pub fn trap(number: u64, args: [u64; #count]) -> [u64; 2] {
            let status: u64;
            let value: u64;
            #safety
            unsafe {
                #asm
            }
            [status, value]
        }
    }
}

/// Renders the typed wrappers.
pub fn render_substrate(model: &Model) -> String {
    let count = model.arg_register_count();
    let unknown = ident(&model.dispatch.unknown_error);
    let syscalls = model.syscalls.iter().filter(|s| s.kind == SyscallKind::Plain).map(|s| {
        let notes = super::cap_arg_notes(&s.args);
        let doc = if notes.is_empty() {
            doc_attrs(&s.doc)
        } else {
            doc_attrs(&format!("{}\n\n{notes}", s.doc))
        };
        let name = ident(&s.name);
        let number = ident(&s.const_name());
        let params = s.args.iter().map(param_decl);
        let mut registers: Vec<TokenStream> = s.args.iter().map(encode_arg).collect();
        registers.resize(count, quote! { 0 });
        let ret = result_type(&s.results);
        let call = quote! { status_to_result(super::trap::trap(abi::sys::#number, [#(#registers),*])) };
        let body = decode_result(call, &s.results, &unknown);
        quote! {
            #doc
            pub fn #name(#(#params),*) -> Result<#ret, abi::Error> {
                #body
            }
        }
    });
    let invoke = model.invoke_syscall().map(|invoke| {
        let name = ident(&invoke.name);
        let number = ident(&invoke.const_name());
        let own = invoke.args.len();
        let payload_len = proc_macro2::Literal::usize_unsuffixed(count.saturating_sub(own));
        let payload = (0..count.saturating_sub(own)).map(|i| {
            let i = proc_macro2::Literal::usize_unsuffixed(i);
            quote! { payload[#i] }
        });
        // Without payload registers the (empty) payload is never read.
        let unused_payload = (count <= own).then(|| quote! { let _ = payload; });
        let doc = doc_attrs(&invoke.doc);
        let invocations = model.invocations.iter().map(|i| {
            let rights = if i.rights.is_empty() {
                "no rights".to_owned()
            } else {
                let list: Vec<String> = i.rights.iter().map(|r| format!("`{r}`")).collect();
                format!("rights {}", list.join(", "))
            };
            let notes = super::cap_arg_notes(&i.args);
            let doc = doc_attrs(&format!(
                "{}\n\n`{}` (label {:#x}); the capability needs {rights}.{}{notes}",
                i.doc,
                i.display_name(),
                i.label,
                if notes.is_empty() { "" } else { " " },
            ));
            let fn_name = ident(&i.fn_name());
            let target = ident(&crate::names::snake_case(&i.object));
            let label = ident(&i.const_name());
            let params = i.args.iter().map(param_decl);
            let mut registers: Vec<TokenStream> = i.args.iter().map(encode_arg).collect();
            registers.resize(count.saturating_sub(own), quote! { 0 });
            let ret = result_type(&i.results);
            let call = quote! { #name(#target, abi::label::#label, [#(#registers),*]) };
            let body = decode_result(call, &i.results, &unknown);
            quote! {
                #doc
                pub fn #fn_name(#target: abi::CPtr #(, #params)*) -> Result<#ret, abi::Error> {
                    #body
                }
            }
        });
        quote! {
            #doc
            ///
            /// This is the raw form: any label and payload can be sent (tests use it to send
            /// undefined labels). The typed wrappers below are the normal way in.
            pub fn #name(cap: abi::CPtr, label: u64, payload: [u64; #payload_len]) -> Result<u64, abi::Error> {
                #unused_payload
                status_to_result(super::trap::trap(abi::sys::#number, [cap.0, label, #(#payload),*]))
            }
            #(#invocations)*
        }
    });
    let tokens = quote! {
        /// Turns the status and value registers into a `Result`.
        fn status_to_result(registers: [u64; 2]) -> Result<u64, abi::Error> {
            match registers {
                [0, value] => Ok(value),
                [status, _] => Err(abi::Error::from_code(status)),
            }
        }
        #(#syscalls)*
        #invoke
    };
    format_rust(
        "Typed, safe wrappers over the raw trap: one per syscall and per invocation.",
        tokens,
        &Verbatim::default(),
    )
}

fn param_decl(p: &Param) -> TokenStream {
    let name = ident(&p.name);
    let ty = rust_type(&p.ty);
    quote! { #name: #ty }
}

/// The register value of an argument.
fn encode_arg(p: &Param) -> TokenStream {
    let name = ident(&p.name);
    match &p.ty {
        Type::Int(IntType::U64) => quote! { #name },
        Type::Int(_) | Type::Bool => quote! { u64::from(#name) },
        Type::Cap | Type::Uaddr => quote! { #name.0 },
        Type::ObjectType => quote! { #name.id() },
        Type::Flags(_) => quote! { #name.bits() },
    }
}

/// Turns `Result<u64, Error>` into the declared result type; a value that does not decode is `unknown`.
fn decode_result(
    call: TokenStream,
    results: &[Param],
    unknown: &proc_macro2::Ident,
) -> TokenStream {
    let Some(result) = results.first() else {
        return quote! {
            #call?;
            Ok(())
        };
    };
    match &result.ty {
        Type::Int(IntType::U64) => call,
        Type::Int(int) => {
            let name = ident(int.name());
            quote! {
                let value = #call?;
                #name::try_from(value).map_err(|_| abi::Error::#unknown)
            }
        }
        Type::Bool => quote! {
            match #call? {
                0 => Ok(false),
                1 => Ok(true),
                _ => Err(abi::Error::#unknown),
            }
        },
        Type::Cap => quote! { #call.map(abi::CPtr) },
        Type::Uaddr => quote! { #call.map(abi::UserAddr) },
        Type::ObjectType => quote! {
            let value = #call?;
            abi::ObjectType::try_from(value).map_err(|_| abi::Error::#unknown)
        },
        Type::Flags(name) => {
            let name = ident(name);
            quote! {
                let value = #call?;
                abi::#name::from_bits(value).ok_or(abi::Error::#unknown)
            }
        }
    }
}
