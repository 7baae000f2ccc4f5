//! Renders `kernel/src/arch/<arch>/generated/percpu.rs`: the `repr(C)` per-CPU block with compile-time layout asserts.

use quote::quote;

use super::{Verbatim, doc_attrs, format_rust, ident};
use crate::model::PerCpu;

/// Renders the per-CPU structure of one architecture.
pub fn render_rust(percpu: &PerCpu) -> String {
    let fields = percpu.fields.iter().map(|f| {
        let doc = doc_attrs(&f.doc);
        let name = ident(&f.name);
        let ty = ident(f.ty.name());
        match f.count {
            Some(count) => {
                let count = proc_macro2::Literal::u64_unsuffixed(count);
                quote! { #doc pub #name: [#ty; #count], }
            }
            None => quote! { #doc pub #name: #ty, },
        }
    });
    let zero = percpu.fields.iter().map(|f| {
        let name = ident(&f.name);
        match f.count {
            Some(count) => {
                let count = proc_macro2::Literal::u64_unsuffixed(count);
                quote! { #name: [0; #count], }
            }
            None => quote! { #name: 0, },
        }
    });
    let offsets = percpu.fields.iter().map(|f| {
        let name = ident(&f.name);
        let offset = proc_macro2::Literal::u64_unsuffixed(f.offset);
        quote! { const _: () = assert!(core::mem::offset_of!(PerCpuData, #name) == #offset); }
    });
    let mut verbatim = Verbatim::default();
    let size_assert = verbatim.insert(format!(
        "const _: () = assert!(core::mem::size_of::<PerCpuData>() == {});",
        percpu.size
    ));
    let doc = format!(
        " The per-CPU data block of {}; assembly reaches the `asm` fields through the `PERCPU_*` equates in percpu.S.",
        percpu.arch
    );
    let tokens = quote! {
        #[doc = #doc]
        #[repr(C)]
        #[derive(Debug)]
        pub struct PerCpuData {
            #(#fields)*
        }
        impl PerCpuData {
            /// A block with every field zero.
            pub const ZERO: PerCpuData = PerCpuData {
                #(#zero)*
            };
        }
        #(#offsets)*
                #size_assert
    };
    format_rust(
        &format!(
            "The {} per-CPU data block, laid out as schema.toml declares.",
            percpu.arch
        ),
        tokens,
        &verbatim,
    )
}
