//! Renders `kernel/src/arch/<arch>/generated/trapregs.rs`: the `UserFrame` accessors of the trap registers (number, arguments, results and the IPC registers) as schema.toml assigns them.

use proc_macro2::TokenStream;
use quote::quote;

use super::{Verbatim, format_rust, ident};
use crate::model::{Arch, Model};

/// The `UserFrame` field expression of register `register` on `arch`: `self.rdi` on
/// x86_64, `self.x[3]` for `x3` on aarch64, `self.<name>` elsewhere.
fn field(arch: &str, register: &str) -> TokenStream {
    if arch == "aarch64"
        && let Some(index) = register
            .strip_prefix('x')
            .and_then(|n| n.parse::<usize>().ok())
    {
        let index = proc_macro2::Literal::usize_unsuffixed(index);
        return quote! { self.x[#index] };
    }
    let name = ident(register);
    quote! { self.#name }
}

/// `rax`, `rdi` and `rsi`, as the docs name registers.
fn names(registers: &[String]) -> String {
    registers.join(", ")
}

/// Renders the trap-register accessors of one architecture.
pub fn render(model: &Model, arch: &Arch) -> String {
    let name = arch.name.as_str();
    let number = field(name, &arch.number_register);
    let count = proc_macro2::Literal::usize_unsuffixed(arch.arg_registers.len());
    let args = arch.arg_registers.iter().map(|r| field(name, r));
    let results = arch.result_registers.iter().enumerate().map(|(i, r)| {
        let register = field(name, r);
        let i = proc_macro2::Literal::usize_unsuffixed(i);
        quote! { #register = results[#i]; }
    });
    let number_doc = format!(" The syscall number ({}).", arch.number_register);
    let args_doc = format!(
        " The {} syscall argument registers in schema order: {}.",
        arch.arg_registers.len(),
        names(&arch.arg_registers)
    );
    let results_doc = format!(
        " Writes the result registers in schema order: {} (status), {} (value).",
        arch.result_registers.first().map_or("", String::as_str),
        arch.result_registers.get(1).map_or("", String::as_str)
    );
    let ipc = match (&model.ipc, &arch.ipc) {
        (Some(ipc), Some(registers)) => {
            let info = ident(&ipc.info);
            let capability = field(name, &registers.capability);
            let info_register = field(name, &registers.info);
            let messages: Vec<TokenStream> = registers
                .message_registers
                .iter()
                .map(|r| field(name, r))
                .collect();
            let status = field(name, &arch.result_registers[0]);
            let writes = messages.iter().enumerate().map(|(i, register)| {
                let i = proc_macro2::Literal::usize_unsuffixed(i);
                quote! { #register = received.message.regs[#i]; }
            });
            let input_doc = format!(
                " The IPC registers: the capability ({}), the info word ({}) and the message registers ({}).",
                registers.capability,
                registers.info,
                names(&registers.message_registers)
            );
            let output_doc = format!(
                " Writes the results of an IPC syscall: the status ({}) always; with a message, its badge ({}), info word ({}) and message registers ({}).",
                arch.result_registers[0],
                registers.capability,
                registers.info,
                names(&registers.message_registers)
            );
            quote! {
                #[doc = #input_doc]
                pub fn ipc_input(&self) -> abi::IpcInput {
                    abi::IpcInput {
                        capability: #capability,
                        message: abi::IpcMessage {
                            // Validation makes the info word's fields cover all its bits.
                            info: abi::#info::from_bits_truncate(#info_register),
                            regs: [#(#messages),*],
                        },
                    }
                }

                #[doc = #output_doc]
                pub fn set_ipc_results(&mut self, status: u64, received: Option<&abi::Received>) {
                    #status = status;
                    if let Some(received) = received {
                        #capability = received.badge;
                        #info_register = received.message.info.bits();
                        #(#writes)*
                    }
                }
            }
        }
        _ => TokenStream::new(),
    };
    let tokens = quote! {
        use super::super::UserFrame;

        impl UserFrame {
            #[doc = #number_doc]
            pub fn syscall_number(&self) -> u64 {
                #number
            }

            #[doc = #args_doc]
            pub fn syscall_args(&self) -> [u64; #count] {
                [#(#args),*]
            }

            #[doc = #results_doc]
            pub fn set_results(&mut self, results: [u64; 2]) {
                #(#results)*
            }

            #ipc
        }
    };
    format_rust(
        &format!(
            "The {name} trap registers: `UserFrame` accessors for the number, argument, result and IPC registers schema.toml assigns."
        ),
        tokens,
        &Verbatim::default(),
    )
}
