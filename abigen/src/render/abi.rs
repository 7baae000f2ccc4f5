//! Renders `abi/src/generated.rs`: numbers, enums, flag sets and structures shared by kernel and userland.

use proc_macro2::TokenStream;
use quote::quote;

use super::{
    Verbatim, doc_attrs, format_rust, grouped_hex_literal, hex_literal, ident, number_literal,
};
use crate::fingerprint::fingerprint;
use crate::model::{Bitfield, BitfieldField, EntryError, IntType, MessageField, Model, Struct};
use crate::names::screaming_case;
use crate::validate::RIGHTS_FLAG_SET;

/// Renders the `abi` crate's generated module.
pub fn render(model: &Model) -> String {
    let name = &model.abi.name;
    let major = proc_macro2::Literal::u16_unsuffixed(model.abi.version_major);
    let minor = proc_macro2::Literal::u16_unsuffixed(model.abi.version_minor);
    let fingerprint = format!("{:#018x}", fingerprint(model))
        .parse::<proc_macro2::Literal>()
        .ok();
    let syscalls = syscalls(model);
    let labels = labels(model);
    let objects = objects(model);
    let invocations = invocations(model);
    let errors = errors(model);
    let mut verbatim = Verbatim::default();
    let flags = flags(model, &mut verbatim);
    let structs = structs(model, &mut verbatim);
    let bitfields = model.bitfields.iter().map(bitfield);
    let ipc = ipc(model);
    let kernel_messages = kernel_messages(model);
    let constants = model.constants.iter().map(|c| {
        let doc = doc_attrs(&c.doc);
        let name = ident(&c.name);
        let ty = ident(c.ty.name());
        let value = number_literal(c.value);
        quote! { #doc pub const #name: #ty = #value; }
    });
    let tokens = quote! {
        /// The ABI's name.
        pub const ABI_NAME: &str = #name;
        /// The ABI's major version; every breaking change bumps it.
        pub const ABI_VERSION_MAJOR: u16 = #major;
        /// The ABI's minor version; compatible additions bump it.
        pub const ABI_VERSION_MINOR: u16 = #minor;
        /// FNV-1a 64 of the normalized schema model; the kernel hands it to userland at boot.
        pub const ABI_FINGERPRINT: u64 = #fingerprint;
        #(#constants)*
        #syscalls
        #labels
        #objects
        #invocations
        #errors
        #flags
        #(#bitfields)*
        #structs
        #ipc
        #kernel_messages
    };
    let doc = format!(
        "The {name} ABI: every number, type and layout that the kernel and userland share."
    );
    format_rust(&doc, tokens, &verbatim)
}

fn syscalls(model: &Model) -> TokenStream {
    let consts = model.syscalls.iter().map(|s| {
        let doc = doc_attrs(&s.doc);
        let name = ident(&s.const_name());
        let number = number_literal(s.number);
        quote! { #doc pub const #name: u64 = #number; }
    });
    let variants = model.syscalls.iter().map(|s| {
        let doc = doc_attrs(&s.doc);
        let variant = ident(&s.variant_name());
        let number = ident(&s.const_name());
        quote! { #doc #variant = sys::#number, }
    });
    let all = model.syscalls.iter().map(|s| ident(&s.variant_name()));
    let names = model.syscalls.iter().map(|s| {
        let variant = ident(&s.variant_name());
        let name = &s.name;
        quote! { Syscall::#variant => #name, }
    });
    let decode = model.syscalls.iter().map(|s| {
        let variant = ident(&s.variant_name());
        let number = ident(&s.const_name());
        quote! { sys::#number => Ok(Syscall::#variant), }
    });
    let error_lists = error_list_fns(model.syscalls.iter().map(|s| {
        let variant = ident(&s.variant_name());
        (quote! { Syscall::#variant }, model.syscall_errors(s))
    }));
    let unknown = ident(&model.dispatch.unknown_syscall);
    let unknown_doc = format!(" Decodes a syscall number; unknown numbers are `Error::{unknown}`.");
    quote! {
        /// Syscall numbers: the value of the number register.
        pub mod sys {
            #(#consts)*
        }
        /// A syscall of the ABI.
        #[repr(u64)]
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum Syscall {
            #(#variants)*
        }
        impl Syscall {
            /// Every syscall, in schema order.
            pub const ALL: &'static [Syscall] = &[#(Syscall::#all),*];
            /// The syscall number.
            pub const fn number(self) -> u64 {
                self as u64
            }
            /// The schema name, e.g. `sched_yield`.
            pub const fn name(self) -> &'static str {
                match self {
                    #(#names)*
                }
            }
            #error_lists
        }
        impl TryFrom<u64> for Syscall {
            type Error = Error;
            #[doc = #unknown_doc]
            fn try_from(number: u64) -> Result<Syscall, Error> {
                match number {
                    #(#decode)*
                    _ => Err(Error::#unknown),
                }
            }
        }
    }
}

fn labels(model: &Model) -> TokenStream {
    let consts = model.invocations.iter().map(|i| {
        let doc = doc_attrs(&i.doc);
        let name = ident(&i.const_name());
        let label = hex_literal(i.label);
        quote! { #doc pub const #name: u64 = #label; }
    });
    quote! {
        /// Invocation labels: the second argument of the invoke syscall, `OBJECT_NAME`.
        pub mod label {
            #(#consts)*
        }
    }
}

fn objects(model: &Model) -> TokenStream {
    let variants = model.objects.iter().map(|o| {
        let doc = doc_attrs(&o.doc);
        let variant = ident(&o.name);
        let id = number_literal(o.id);
        quote! { #doc #variant = #id, }
    });
    let all = model.objects.iter().map(|o| ident(&o.name));
    let names = model.objects.iter().map(|o| {
        let variant = ident(&o.name);
        let name = &o.name;
        quote! { ObjectType::#variant => #name, }
    });
    let blocks = model.objects.iter().map(|o| {
        let variant = ident(&o.name);
        let base = hex_literal(o.label_base);
        let last = hex_literal(o.label_last());
        quote! { ObjectType::#variant => #base..=#last, }
    });
    let decode = model.objects.iter().map(|o| {
        let variant = ident(&o.name);
        let id = number_literal(o.id);
        quote! { #id => Ok(ObjectType::#variant), }
    });
    let invalid = ident(&model.dispatch.invalid_argument);
    let invalid_doc = format!(" Decodes an object type id; unknown ids are `Error::{invalid}`.");
    quote! {
        /// A kernel object type.
        #[repr(u64)]
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum ObjectType {
            #(#variants)*
        }
        impl ObjectType {
            /// Every object type, in schema order.
            pub const ALL: &'static [ObjectType] = &[#(ObjectType::#all),*];
            /// The object type id.
            pub const fn id(self) -> u64 {
                self as u64
            }
            /// The schema name, e.g. `Tcb`.
            pub const fn name(self) -> &'static str {
                match self {
                    #(#names)*
                }
            }
            /// The block of invocation labels the type owns.
            pub const fn label_block(self) -> core::ops::RangeInclusive<u64> {
                match self {
                    #(#blocks)*
                }
            }
        }
        impl TryFrom<u64> for ObjectType {
            type Error = Error;
            #[doc = #invalid_doc]
            fn try_from(id: u64) -> Result<ObjectType, Error> {
                match id {
                    #(#decode)*
                    _ => Err(Error::#invalid),
                }
            }
        }
    }
}

fn invocations(model: &Model) -> TokenStream {
    let variants = model.invocations.iter().map(|i| {
        let doc = doc_attrs(&i.doc);
        let variant = ident(&i.variant_name());
        quote! { #doc #variant, }
    });
    let all = model.invocations.iter().map(|i| ident(&i.variant_name()));
    let decode = model.invocations.iter().map(|i| {
        let variant = ident(&i.variant_name());
        let object = ident(&i.object);
        let label = ident(&i.const_name());
        quote! { (ObjectType::#object, label::#label) => Some(Invocation::#variant), }
    });
    let labels = model.invocations.iter().map(|i| {
        let variant = ident(&i.variant_name());
        let label = ident(&i.const_name());
        quote! { Invocation::#variant => label::#label, }
    });
    let objects = model.invocations.iter().map(|i| {
        let variant = ident(&i.variant_name());
        let object = ident(&i.object);
        quote! { Invocation::#variant => ObjectType::#object, }
    });
    let names = model.invocations.iter().map(|i| {
        let variant = ident(&i.variant_name());
        let name = i.display_name();
        quote! { Invocation::#variant => #name, }
    });
    let rights = model.flag_set(RIGHTS_FLAG_SET).map(|_| {
        let rights_type = ident(RIGHTS_FLAG_SET);
        let arms = model.invocations.iter().map(|i| {
            let variant = ident(&i.variant_name());
            let bits = i.rights.iter().map(|r| ident(&screaming_case(r)));
            let value = if i.rights.is_empty() {
                quote! { #rights_type::empty() }
            } else {
                quote! { #rights_type::from_bits_retain(#(#rights_type::#bits.bits())|*) }
            };
            quote! { Invocation::#variant => #value, }
        });
        quote! {
            /// The rights the invoked capability must carry.
            pub const fn rights(self) -> #rights_type {
                match self {
                    #(#arms)*
                }
            }
        }
    });
    let error_lists = error_list_fns(model.invocations.iter().map(|i| {
        let variant = ident(&i.variant_name());
        (quote! { Invocation::#variant }, model.invocation_errors(i))
    }));
    let decode_body = if model.invocations.is_empty() {
        quote! {
            let _ = (object, value);
            None
        }
    } else {
        quote! {
            match (object, value) {
                #(#decode)*
                _ => None,
            }
        }
    };
    quote! {
        /// An operation on an object type, selected by the label of an invoke syscall.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum Invocation {
            #(#variants)*
        }
        impl Invocation {
            /// Every invocation, in schema order.
            pub const ALL: &'static [Invocation] = &[#(Invocation::#all),*];
            /// The invocation that `value` selects on an object of type `object`, if any.
            ///
            /// A label of another type's block, or an unused label of this type's block, is `None`.
            pub const fn decode(object: ObjectType, value: u64) -> Option<Invocation> {
                #decode_body
            }
            /// The label.
            pub const fn label(self) -> u64 {
                match self {
                    #(#labels)*
                }
            }
            /// The object type it applies to.
            pub const fn object(self) -> ObjectType {
                match self {
                    #(#objects)*
                }
            }
            /// `Object.name`, e.g. `Tcb.set_priority`.
            pub const fn name(self) -> &'static str {
                match self {
                    #(#names)*
                }
            }
            #rights
            #error_lists
        }
    }
}

/// `errors()` and `handler_errors()` for the entries `(variant path, errors)`.
fn error_list_fns(entries: impl Iterator<Item = (TokenStream, Vec<EntryError>)>) -> TokenStream {
    let list = |errors: &[EntryError], keep: fn(&EntryError) -> bool| {
        let names = errors.iter().filter(|e| keep(e)).map(|e| ident(&e.name));
        quote! { &[#(Error::#names),*] }
    };
    let mut all = Vec::new();
    let mut handler = Vec::new();
    for (variant, errors) in entries {
        let every = list(&errors, |_| true);
        let own = list(&errors, |e| e.handler);
        all.push(quote! { #variant => #every, });
        handler.push(quote! { #variant => #own, });
    }
    quote! {
        /// Every error it can return, in code order: the dispatcher's own (including those
        /// of resolving capability arguments) and the errors its handler declares.
        pub const fn errors(self) -> &'static [Error] {
            match self {
                #(#all)*
            }
        }
        /// The errors its handler may return: those declared in the schema. The dispatcher
        /// resolves capability arguments itself and reports any other error as ABI drift.
        pub const fn handler_errors(self) -> &'static [Error] {
            match self {
                #(#handler)*
            }
        }
    }
}

fn errors(model: &Model) -> TokenStream {
    let variants = model.errors.iter().map(|e| {
        let doc = doc_attrs(&e.doc);
        let variant = ident(&e.name);
        let code = number_literal(e.code);
        quote! { #doc #variant = #code, }
    });
    let all = model.errors.iter().map(|e| ident(&e.name));
    let names = model.errors.iter().map(|e| {
        let variant = ident(&e.name);
        let name = &e.name;
        quote! { Error::#variant => #name, }
    });
    let decode = model.errors.iter().map(|e| {
        let variant = ident(&e.name);
        let code = number_literal(e.code);
        quote! { #code => Ok(Error::#variant), }
    });
    let unknown = ident(&model.dispatch.unknown_error);
    let unknown_doc = format!(
        " Decodes a non-zero status; codes this build does not know become `Error::{unknown}`."
    );
    quote! {
        /// An error a syscall or invocation returns; the status register holds its code.
        #[repr(u64)]
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum Error {
            #(#variants)*
        }
        impl Error {
            /// Every error, in schema order.
            pub const ALL: &'static [Error] = &[#(Error::#all),*];
            /// The status-register value.
            pub const fn code(self) -> u64 {
                self as u64
            }
            /// The schema name, e.g. `InvalidArgument`.
            pub const fn name(self) -> &'static str {
                match self {
                    #(#names)*
                }
            }
            #[doc = #unknown_doc]
            pub fn from_code(code: u64) -> Error {
                Error::try_from(code).unwrap_or(Error::#unknown)
            }
        }
        impl TryFrom<u64> for Error {
            type Error = ();
            /// Decodes a status code; unknown codes (and 0, success) are `Err(())`.
            fn try_from(code: u64) -> Result<Error, ()> {
                match code {
                    #(#decode)*
                    _ => Err(()),
                }
            }
        }
        impl core::fmt::Display for Error {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                f.write_str(self.name())
            }
        }
    }
}

/// The flag sets, as `bitflags` types (kept verbatim: prettyplease leaves macro bodies
/// unformatted) plus an `ALL` constant.
fn flags(model: &Model, verbatim: &mut Verbatim) -> TokenStream {
    let sets = model.flags.iter().map(|set| {
        let name = ident(&set.name);
        let mut text = String::from("bitflags::bitflags! {\n");
        push_doc_lines(&mut text, "    ", &set.doc);
        text.push_str("    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]\n");
        text.push_str(&format!("    pub struct {}: u64 {{\n", set.name));
        for bit in &set.bits {
            push_doc_lines(&mut text, "        ", &bit.doc);
            text.push_str(&format!(
                "        const {} = 1 << {};\n",
                screaming_case(&bit.name),
                bit.bit
            ));
        }
        text.push_str("    }\n}");
        let block = verbatim.insert(text);
        quote! {
            #block
            impl #name {
                /// Every defined bit.
                pub const ALL: #name = #name::all();
            }
        }
    });
    quote! { #(#sets)* }
}

/// Appends `doc` as `///` lines indented by `indent`.
fn push_doc_lines(text: &mut String, indent: &str, doc: &str) {
    for line in doc.lines() {
        let line = line.trim_end();
        if line.is_empty() {
            text.push_str(&format!("{indent}///\n"));
        } else {
            text.push_str(&format!("{indent}/// {line}\n"));
        }
    }
}

/// The largest array that derives `Default`.
const DEFAULT_ARRAY_MAX: u64 = 32;

/// The array length of a field: its constant (`MSG_MAX_LENGTH as usize`) or its number.
fn array_length(f: &crate::model::Field) -> Option<TokenStream> {
    match (&f.count_constant, f.count) {
        (Some(constant), _) => {
            let constant = ident(constant);
            Some(quote! { #constant as usize })
        }
        (None, Some(count)) => {
            let count = proc_macro2::Literal::u64_unsuffixed(count);
            Some(quote! { #count })
        }
        (None, None) => None,
    }
}

fn struct_tokens(s: &Struct, verbatim: &mut Verbatim) -> TokenStream {
    let doc = doc_attrs(&s.doc);
    let name = ident(&s.name);
    let fields = s.fields.iter().map(|f| {
        let doc = doc_attrs(&f.doc);
        let field = ident(&f.name);
        let ty = ident(f.ty.name());
        match array_length(f) {
            Some(length) => quote! { #doc pub #field: [#ty; #length], },
            None => quote! { #doc pub #field: #ty, },
        }
    });
    // Arrays longer than 32 do not implement `Default`; such a struct spells it out.
    let derivable = s
        .fields
        .iter()
        .all(|f| f.count.is_none_or(|c| c <= DEFAULT_ARRAY_MAX));
    let default_derive = derivable.then(|| quote! { Default, });
    let default_impl = (!derivable).then(|| {
        let zeros = s.fields.iter().map(|f| {
            let field = ident(&f.name);
            match array_length(f) {
                Some(length) => quote! { #field: [0; #length], },
                None => quote! { #field: 0, },
            }
        });
        quote! {
            impl Default for #name {
                /// Every field zero.
                fn default() -> #name {
                    #name { #(#zeros)* }
                }
            }
        }
    });
    let offsets = s.fields.iter().map(|f| {
        let field = ident(&f.name);
        let offset = proc_macro2::Literal::u64_unsuffixed(f.offset);
        quote! { const _: () = assert!(core::mem::offset_of!(#name, #field) == #offset); }
    });
    let size_assert = verbatim.insert(format!(
        "const _: () = assert!(core::mem::size_of::<{}>() == {});",
        s.name, s.size
    ));
    quote! {
        #doc
        #[repr(C)]
        #[derive(Clone, Copy, Debug, #default_derive PartialEq, Eq)]
        pub struct #name {
            #(#fields)*
        }
        #default_impl
        #(#offsets)*
        #size_assert
    }
}

/// A literal of `value` in the word type: hex for masks.
fn mask_literal(value: u64) -> proc_macro2::Literal {
    grouped_hex_literal(value)
}

/// The bitfield type: a transparent word with typed getters and setters per field.
fn bitfield(b: &Bitfield) -> TokenStream {
    let doc = doc_attrs(&b.doc);
    let name = ident(&b.name);
    let word = ident(b.word.name());
    let reserved = b.reserved();
    let reserved_literal = mask_literal(reserved);
    let (from_bits, from_bits_truncate) = if reserved == 0 {
        (quote! { Some(#name(bits)) }, quote! { #name(bits) })
    } else {
        let kept = mask_literal(b.word.max() & !reserved);
        (
            quote! {
                if bits & #reserved_literal != 0 {
                    None
                } else {
                    Some(#name(bits))
                }
            },
            quote! { #name(bits & #kept) },
        )
    };
    let constants = b.fields.iter().map(|f| bitfield_constants(b, f));
    let accessors = b.fields.iter().map(|f| bitfield_accessors(b, f));
    let word_bits = quote! { #word::BITS };
    let mut checks = Vec::new();
    for (i, f) in b.fields.iter().enumerate() {
        let upper = screaming_case(&f.name);
        let lsb = ident(&format!("{upper}_LSB"));
        let width = ident(&format!("{upper}_WIDTH"));
        let mask = ident(&format!("{upper}_MASK"));
        let ty = ident(f.ty.name());
        checks.push(quote! { assert!(#name::#lsb + #name::#width <= #word_bits); });
        checks.push(quote! { assert!(#name::#width <= #ty::BITS); });
        if i > 0 {
            let earlier = b.fields[..i].iter().map(|e| {
                let mask = ident(&format!("{}_MASK", screaming_case(&e.name)));
                quote! { #name::#mask }
            });
            let earlier = if i == 1 {
                quote! { #(#earlier)* }
            } else {
                quote! { (#(#earlier)|*) }
            };
            checks.push(quote! { assert!((#name::#mask & #earlier) == 0); });
        }
    }
    let all = b.fields.iter().map(|f| {
        let mask = ident(&format!("{}_MASK", screaming_case(&f.name)));
        quote! { #name::#mask }
    });
    checks.push(quote! { assert!((#(#all)|* | #name::RESERVED) == #word::MAX); });
    let reserved_doc = format!(
        " The bits no field covers; [`{}::from_bits`] refuses a word with any of them set.",
        b.name
    );
    quote! {
        #doc
        #[repr(transparent)]
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
        pub struct #name(#word);
        impl #name {
            #(#constants)*
            #[doc = #reserved_doc]
            pub const RESERVED: #word = #reserved_literal;
            /// The word `bits`, or `None` if a reserved bit is set.
            pub const fn from_bits(bits: #word) -> Option<#name> {
                #from_bits
            }
            /// The word `bits` with the reserved bits cleared.
            pub const fn from_bits_truncate(bits: #word) -> #name {
                #from_bits_truncate
            }
            /// The word.
            pub const fn bits(self) -> #word {
                self.0
            }
            /// The word with every field zero.
            pub const fn new() -> #name {
                #name(0)
            }
            #(#accessors)*
        }
        // Every field fits the word and its type, and no two overlap.
        const _: () = {
            #(#checks)*
        };
    }
}

/// `NAME_LSB`, `NAME_WIDTH`, `NAME_MAX` and `NAME_MASK` of one field.
fn bitfield_constants(b: &Bitfield, f: &BitfieldField) -> TokenStream {
    let upper = screaming_case(&f.name);
    let lsb = ident(&format!("{upper}_LSB"));
    let width = ident(&format!("{upper}_WIDTH"));
    let max = ident(&format!("{upper}_MAX"));
    let mask = ident(&format!("{upper}_MASK"));
    let word = ident(b.word.name());
    let ty = ident(f.ty.name());
    let lsb_value = proc_macro2::Literal::u32_unsuffixed(f.lsb);
    let width_value = proc_macro2::Literal::u32_unsuffixed(f.width);
    let max_value = number_literal(f.max());
    let mask_value = mask_literal(f.mask());
    let lsb_doc = format!(" The lowest bit of `{}`.", f.name);
    let width_doc = format!(" The width in bits of `{}`.", f.name);
    let max_doc = format!(" The largest value of `{}`.", f.name);
    let mask_doc = format!(" The bits of `{}` in place in the word.", f.name);
    quote! {
        #[doc = #lsb_doc]
        pub const #lsb: u32 = #lsb_value;
        #[doc = #width_doc]
        pub const #width: u32 = #width_value;
        #[doc = #max_doc]
        pub const #max: #ty = #max_value;
        #[doc = #mask_doc]
        pub const #mask: #word = #mask_value;
    }
}

/// The getter, setter and checked setter of one field. The expressions are spelled out
/// so that no shift by zero, full mask or same-type cast reaches the generated code.
fn bitfield_accessors(b: &Bitfield, f: &BitfieldField) -> TokenStream {
    let name = ident(&b.name);
    let word = ident(b.word.name());
    let ty = ident(f.ty.name());
    let getter = ident(&f.name);
    let setter = ident(&format!("with_{}", f.name));
    let checked = ident(&format!("try_with_{}", f.name));
    let max = ident(&format!("{}_MAX", screaming_case(&f.name)));
    let lsb = proc_macro2::Literal::u32_unsuffixed(f.lsb);
    let same_type = f.ty == b.word;
    // Getter: shift down, mask off the bits above the field, convert. `compound` says
    // whether the expression has an operator (and needs parentheses to be an operand).
    let mut get = quote! { self.0 };
    let mut compound = false;
    if f.lsb > 0 {
        get = quote! { self.0 >> #lsb };
        compound = true;
    }
    if f.lsb + f.width < b.word.bits() {
        let max_value = mask_literal(f.max());
        get = if compound {
            quote! { (#get) & #max_value }
        } else {
            quote! { #get & #max_value }
        };
        compound = true;
    }
    if !same_type {
        get = if compound {
            quote! { (#get) as #ty }
        } else {
            quote! { #get as #ty }
        };
    }
    // Setter: convert, shift up, merge with the other bits.
    let mut value = quote! { value };
    let mut compound = false;
    if !same_type {
        value = quote! { value as #word };
        compound = true;
    }
    if f.lsb > 0 {
        value = if compound {
            quote! { (#value) << #lsb }
        } else {
            quote! { #value << #lsb }
        };
        compound = true;
    }
    let set = if f.lsb == 0 && f.width == b.word.bits() {
        value
    } else {
        let keep = mask_literal(b.word.max() & !f.mask());
        if compound {
            quote! { (self.0 & #keep) | (#value) }
        } else {
            quote! { (self.0 & #keep) | #value }
        }
    };
    // A field as wide as its type cannot be given a value above its maximum.
    let fits_type = f.width >= f.ty.bits();
    let message = format!("{}.{} is above {}", b.name, f.name, max);
    let assert = (!fits_type).then(|| quote! { assert!(value <= #name::#max, #message); });
    let try_body = if fits_type {
        quote! { Some(self.#setter(value)) }
    } else {
        quote! {
            if value > #name::#max {
                None
            } else {
                Some(self.#setter(value))
            }
        }
    };
    let doc = doc_attrs(&f.doc);
    let set_doc = format!(
        " The word with `{}` set to `value`; panics (in a constant: fails to compile) if `value` is above `{max}`.",
        f.name
    );
    let try_doc = format!(
        " The word with `{}` set to `value`, or `None` if `value` is above `{max}`.",
        f.name
    );
    quote! {
        #doc
        pub const fn #getter(self) -> #ty {
            #get
        }
        #[doc = #set_doc]
        pub const fn #setter(self, value: #ty) -> #name {
            #assert
            #name(#set)
        }
        #[doc = #try_doc]
        pub const fn #checked(self, value: #ty) -> Option<#name> {
            #try_body
        }
    }
}

/// The IPC types: `MESSAGE_REGISTERS` per architecture, `IpcMessage`, `Received` and
/// `IpcInput`, and the IPC buffer's page-size check.
fn ipc(model: &Model) -> TokenStream {
    let Some(ipc) = &model.ipc else {
        return TokenStream::new();
    };
    let info = ident(&ipc.info);
    let counts = model.arches.iter().filter_map(|a| {
        let count = a.ipc.as_ref()?.message_registers.len();
        let arch = a.name.as_str();
        let count = proc_macro2::Literal::usize_unsuffixed(count);
        let doc = format!(
            " Message registers of an IPC on {arch}: message words below this travel in registers, the others in the IPC buffer."
        );
        Some(quote! {
            #[doc = #doc]
            #[cfg(target_arch = #arch)]
            pub const MESSAGE_REGISTERS: usize = #count;
        })
    });
    let buffer_check = ipc.buffer.as_ref().and_then(|buffer| {
        let page = model.constants.iter().find(|c| c.name == "PAGE_SIZE")?;
        let buffer = ident(buffer);
        let page_size = if page.ty == IntType::U64 {
            quote! { PAGE_SIZE }
        } else {
            quote! { (PAGE_SIZE as u64) }
        };
        Some(quote! {
            const _: () = assert!(core::mem::size_of::<#buffer>() as u64 <= #page_size);
        })
    });
    quote! {
        #(#counts)*
        /// The register part of a message: the info word and the message registers.
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
        pub struct IpcMessage {
            /// The info word: label, length and capabilities.
            pub info: #info,
            /// Message words 0 to `MESSAGE_REGISTERS - 1`.
            pub regs: [u64; MESSAGE_REGISTERS],
        }
        /// A message received: the sender's badge (0 for a reply or a kernel message without one) and the message.
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
        pub struct Received {
            /// The badge of the capability the sender used.
            pub badge: u64,
            /// The message.
            pub message: IpcMessage,
        }
        /// What an IPC trap hands the kernel: the capability register and the message registers.
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
        pub struct IpcInput {
            /// The capability register (the endpoint's address; unused by an IPC without one).
            pub capability: u64,
            /// The info and message registers.
            pub message: IpcMessage,
        }
        #buffer_check
    }
}

fn structs(model: &Model, verbatim: &mut Verbatim) -> TokenStream {
    let structs: Vec<TokenStream> = model
        .structs
        .iter()
        .map(|s| struct_tokens(s, verbatim))
        .collect();
    quote! { #(#structs)* }
}

/// A message struct of `abi::kernel_message`: one `u64` per word, `LENGTH`, `encode` and
/// `decode`; `label` adds the `LABEL` constant.
fn message_struct(
    name: &str,
    doc: &str,
    fields: &[MessageField],
    label: Option<&str>,
) -> TokenStream {
    let doc = doc_attrs(doc);
    let ty = ident(name);
    let length = proc_macro2::Literal::usize_unsuffixed(fields.len());
    let names: Vec<proc_macro2::Ident> = fields.iter().map(|f| ident(&f.name)).collect();
    let field_decls = fields.iter().map(|f| {
        let doc = doc_attrs(&f.doc);
        let field = ident(&f.name);
        quote! { #doc pub #field: u64, }
    });
    let label = label.map(|constant| {
        let constant = ident(constant);
        quote! {
            /// The message's label.
            pub const LABEL: u64 = #constant;
        }
    });
    let (body, encode, decode) = if fields.is_empty() {
        (
            quote! { ; },
            quote! { [] },
            quote! {
                let _ = words;
                Some(#ty)
            },
        )
    } else {
        (
            quote! { { #(#field_decls)* } },
            quote! { [#(self.#names),*] },
            quote! {
                match words {
                    [#(#names,)* ..] => Some(#ty { #(#names: *#names),* }),
                    _ => None,
                }
            },
        )
    };
    quote! {
        #doc
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
        pub struct #ty #body
        impl #ty {
            #label
            /// Its length in message words.
            pub const LENGTH: usize = #length;
            /// Its message words, in order.
            pub fn encode(&self) -> [u64; #length] {
                #encode
            }
            /// Reads it from the first message words; `None` if there are fewer than `LENGTH`.
            pub fn decode(words: &[u64]) -> Option<#ty> {
                #decode
            }
        }
    }
}

/// `abi::kernel_message`: the label block, one label constant and struct per message,
/// the `Fault` enum of the fault messages, and `FaultReply`.
fn kernel_messages(model: &Model) -> TokenStream {
    if model.kernel_messages.is_none() && model.fault_reply.is_none() {
        return TokenStream::new();
    }
    let block = model.kernel_messages.as_ref().map(|k| {
        let doc = doc_attrs(&format!("The labels of kernel messages. {}", k.doc));
        let base = hex_literal(k.label_base);
        let last = hex_literal(k.label_last());
        quote! {
            #doc
            pub const LABELS: core::ops::RangeInclusive<u64> = #base..=#last;
        }
    });
    let messages = model
        .kernel_messages
        .as_ref()
        .map_or(&[][..], |k| k.messages.as_slice());
    let labels = messages.iter().map(|m| {
        let doc = doc_attrs(&format!("The label of [`{}`].", m.name));
        let name = ident(&m.const_name());
        let label = hex_literal(m.label);
        quote! { #doc pub const #name: u64 = #label; }
    });
    let structs = messages
        .iter()
        .map(|m| message_struct(&m.name, &m.doc, &m.fields, Some(&m.const_name())));
    let faults: Vec<_> = messages.iter().filter(|m| m.fault).collect();
    let fault_enum = (!faults.is_empty()).then(|| {
        let variants = faults.iter().map(|m| {
            let doc = doc_attrs(&m.doc);
            let v = ident(&m.name);
            quote! { #doc #v(#v), }
        });
        let decode = faults.iter().map(|m| {
            let v = ident(&m.name);
            let label = ident(&m.const_name());
            quote! { #label => #v::decode(words).map(Fault::#v), }
        });
        let label = faults.iter().map(|m| {
            let v = ident(&m.name);
            quote! { Fault::#v(_) => #v::LABEL, }
        });
        let encode = faults.iter().map(|m| {
            let v = ident(&m.name);
            let n = m.fields.len();
            let length = proc_macro2::Literal::usize_unsuffixed(n);
            quote! {
                Fault::#v(message) => {
                    words[..#length].copy_from_slice(&message.encode());
                    #length
                }
            }
        });
        let longest = faults.iter().map(|m| m.fields.len()).max().unwrap_or(0);
        let longest = proc_macro2::Literal::usize_unsuffixed(longest);
        quote! {
            /// A fault message: what the kernel sends a thread's fault handler.
            #[derive(Clone, Copy, Debug, PartialEq, Eq)]
            pub enum Fault {
                #(#variants)*
            }
            impl Fault {
                /// The most words a fault message has.
                pub const MAX_LENGTH: usize = #longest;
                /// The fault message with `label` read from `words`; `None` for another label
                /// or too few words.
                pub fn decode(label: u64, words: &[u64]) -> Option<Fault> {
                    match label {
                        #(#decode)*
                        _ => None,
                    }
                }
                /// Its label.
                pub fn label(&self) -> u64 {
                    match self {
                        #(#label)*
                    }
                }
                /// Its words, in order, at the start of a `MAX_LENGTH` array; returns how many.
                pub fn encode(&self) -> ([u64; #longest], usize) {
                    let mut words = [0; #longest];
                    let length = match self {
                        #(#encode)*
                    };
                    (words, length)
                }
            }
        }
    });
    let reply = model
        .fault_reply
        .as_ref()
        .map(|r| message_struct("FaultReply", &r.doc, &r.fields, None));
    quote! {
        /// The messages the kernel sends through IPC: fault messages to a thread's fault
        /// handler, and the message a bound notification delivers to `recv`.
        pub mod kernel_message {
            #block
            #(#labels)*
            #(#structs)*
            #fault_enum
            #reply
        }
    }
}
