//! Renders trona's `generated/trap.rs` (the one raw trap per architecture) and `generated/substrate.rs` (one safe, typed function per syscall and invocation).

use proc_macro2::TokenStream;
use quote::quote;

use super::dispatch::{result_type, rust_type};
use super::{Verbatim, doc_attrs, format_rust, ident};
use crate::model::{Arch, ArchIpc, IntType, IpcFlow, Model, Param, Syscall, SyscallKind, Type};

/// Renders the raw trap.
pub fn render_trap(model: &Model) -> String {
    let count = proc_macro2::Literal::usize_unsuffixed(model.arg_register_count());
    let mut verbatim = Verbatim::default();
    let per_arch: Vec<TokenStream> = model
        .arches
        .iter()
        .map(|arch| trap_fn(arch, &count, &mut verbatim))
        .collect();
    let ipc_traps: Vec<TokenStream> = if model.ipc.is_some() {
        model
            .arches
            .iter()
            .filter_map(|arch| Some(ipc_trap_fn(arch, arch.ipc.as_ref()?, &mut verbatim)))
            .collect()
    } else {
        Vec::new()
    };
    let arch_names: Vec<&str> = model.arches.iter().map(|a| a.name.as_str()).collect();
    let unsupported = format!(
        "trona's generated trap supports only {}",
        arch_names.join(", ")
    );
    let tokens = quote! {
        #(#per_arch)*
        #(#ipc_traps)*
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

/// The IPC trap of one architecture: number, capability, info and message registers in;
/// status, badge, info and message registers out.
fn ipc_trap_fn(arch: &Arch, ipc: &ArchIpc, verbatim: &mut Verbatim) -> TokenStream {
    let name = arch.name.as_str();
    let instruction = arch.trap.as_str();
    let count = ipc.message_registers.len();
    // (register, input, output), in the order the operands are written.
    let mut registers: Vec<(String, Option<String>, Option<String>)> = Vec::new();
    let mut role = |register: &str, input: Option<String>, output: Option<String>| match registers
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
    role(&arch.number_register, Some("number".into()), None);
    role(
        &ipc.capability,
        Some("capability".into()),
        Some("badge".into()),
    );
    role(&ipc.info, Some("info".into()), Some("info_out".into()));
    for (i, register) in ipc.message_registers.iter().enumerate() {
        role(
            register,
            Some(format!("regs[{i}]")),
            Some(format!("regs[{i}]")),
        );
    }
    role(&arch.result_registers[0], None, Some("status".into()));
    // The value register of a plain syscall, unless it is an IPC register, may change.
    if let Some(value) = arch.result_registers.get(1)
        && value != &ipc.capability
        && value != &ipc.info
        && !ipc.message_registers.contains(value)
    {
        role(value, None, Some("_".into()));
    }
    for register in &arch.clobbered_registers {
        role(register, None, Some("_".into()));
    }
    let mut asm = format!("core::arch::asm!(\n    {instruction:?},\n");
    for (register, input, output) in &registers {
        let operand = match (input, output) {
            (Some(input), Some(output)) if input == output => {
                format!("inout({register:?}) {input}")
            }
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
         memory it validates itself (the IPC buffer), and preserves every register except the\n\
         outputs and the listed clobbers."
    ));
    let count = proc_macro2::Literal::usize_unsuffixed(count);
    quote! {
        /// Traps into the kernel with IPC syscall `number`: the capability, info and message
        /// registers in; the status, badge (in the capability register), info and message
        /// registers out. Only the status is meaningful when it is not 0.
        ///
        /// Safe for the same reasons as [`trap`]; the kernel reads and writes user memory
        /// (the IPC buffer) only after validating it.
        #[cfg(target_arch = #name)]
        #[inline(always)]
        pub fn ipc_trap(number: u64, capability: u64, info: u64, regs: [u64; #count]) -> (u64, u64, u64, [u64; #count]) {
            let mut regs = regs;
            let status: u64;
            let badge: u64;
            let info_out: u64;
            #safety
            unsafe {
                #asm
            }
            (status, badge, info_out, regs)
        }
    }
}

/// The trona function of one IPC syscall.
fn ipc_wrapper(s: &Syscall, flow: IpcFlow) -> TokenStream {
    let notes = super::cap_arg_notes(&s.args);
    let doc = if notes.is_empty() {
        doc_attrs(&s.doc)
    } else {
        doc_attrs(&format!("{}\n\n{notes}", s.doc))
    };
    let name = ident(&s.name);
    let number = ident(&s.const_name());
    let params = s.args.iter().map(param_decl);
    let capability = match s.args.first() {
        Some(p) => {
            let p = ident(&p.name);
            quote! { #p.0 }
        }
        None => quote! { 0 },
    };
    let message = ident(crate::model::IPC_MESSAGE_PARAM);
    let message_param = flow.send.then(|| quote! { #message: &abi::IpcMessage });
    let comma = (flow.send && !s.args.is_empty()).then(|| quote! { , });
    let (info, regs) = if flow.send {
        (quote! { #message.info.bits() }, quote! { #message.regs })
    } else {
        (quote! { 0 }, quote! { [0; abi::MESSAGE_REGISTERS] })
    };
    let call = quote! { super::trap::ipc_trap(abi::sys::#number, #capability, #info, #regs) };
    if flow.receive {
        quote! {
            #doc
            pub fn #name(#(#params)* #comma #message_param) -> Result<abi::Received, abi::Error> {
                let (status, badge, info, regs) = #call;
                ipc_received(status, badge, info, regs)
            }
        }
    } else {
        quote! {
            #doc
            pub fn #name(#(#params)* #comma #message_param) -> Result<(), abi::Error> {
                let (status, _, _, _) = #call;
                ipc_status(status)
            }
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
        let mut registers: Vec<TokenStream> = s.args.iter().map(|p| encode_arg(model, p)).collect();
        registers.resize(count, quote! { 0 });
        let ret = result_type(&s.results);
        let call = quote! { status_to_result(super::trap::trap(abi::sys::#number, [#(#registers),*])) };
        let body = decode_result(model, call, &s.results, &unknown);
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
            let mut registers: Vec<TokenStream> = i.args.iter().map(|p| encode_arg(model, p)).collect();
            registers.resize(count.saturating_sub(own), quote! { 0 });
            let ret = result_type(&i.results);
            let call = quote! { #name(#target, abi::label::#label, [#(#registers),*]) };
            let body = decode_result(model, call, &i.results, &unknown);
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
    let ipc_wrappers: Vec<TokenStream> = model
        .ipc_syscalls()
        .map(|(s, flow)| ipc_wrapper(s, flow))
        .collect();
    let has_receive = model.ipc_syscalls().any(|(_, flow)| flow.receive);
    let received_helper = (has_receive && model.ipc.is_some()).then(|| {
        let info = model.ipc.as_ref().map(|i| ident(&i.info));
        let doc = doc_attrs(&format!(
            "Turns the outputs of a receiving IPC trap into the message received; an info word\nthis build cannot decode is `Error::{unknown}`."
        ));
        quote! {
            #doc
            fn ipc_received(status: u64, badge: u64, info: u64, regs: [u64; abi::MESSAGE_REGISTERS]) -> Result<abi::Received, abi::Error> {
                ipc_status(status)?;
                let info = abi::#info::from_bits(info).ok_or(abi::Error::#unknown)?;
                Ok(abi::Received {
                    badge,
                    message: abi::IpcMessage { info, regs },
                })
            }
        }
    });
    let ipc_helpers = (!ipc_wrappers.is_empty()).then(|| {
        quote! {
            /// Turns the status register of an IPC trap into a `Result`.
            fn ipc_status(status: u64) -> Result<(), abi::Error> {
                match status {
                    0 => Ok(()),
                    status => Err(abi::Error::from_code(status)),
                }
            }
            #received_helper
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
        #ipc_helpers
        #(#syscalls)*
        #(#ipc_wrappers)*
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
fn encode_arg(model: &Model, p: &Param) -> TokenStream {
    let name = ident(&p.name);
    match &p.ty {
        Type::Int(IntType::U64) => quote! { #name },
        Type::Int(_) | Type::Bool => quote! { u64::from(#name) },
        Type::Cap | Type::Uaddr => quote! { #name.0 },
        Type::ObjectType => quote! { #name.id() },
        Type::Flags(_) => quote! { #name.bits() },
        Type::Bitfield(set) if model.bitfield(set).is_some_and(|b| b.word != IntType::U64) => {
            quote! { u64::from(#name.bits()) }
        }
        Type::Bitfield(_) => quote! { #name.bits() },
    }
}

/// Turns `Result<u64, Error>` into the declared result type; a value that does not decode is `unknown`.
fn decode_result(
    model: &Model,
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
        Type::Bitfield(set) => {
            let word = model.bitfield(set).map_or(IntType::U64, |b| b.word);
            let name = ident(set);
            if word == IntType::U64 {
                quote! {
                    let value = #call?;
                    abi::#name::from_bits(value).ok_or(abi::Error::#unknown)
                }
            } else {
                let word = ident(word.name());
                quote! {
                    let value = #call?;
                    #word::try_from(value)
                        .ok()
                        .and_then(abi::#name::from_bits)
                        .ok_or(abi::Error::#unknown)
                }
            }
        }
    }
}
