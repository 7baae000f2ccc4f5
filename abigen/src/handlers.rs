//! Checks a hand-written `impl Kernel` against the schema: each handler must name its arguments as the schema does, in the schema's order, so that swapping two arguments of the same type in either place cannot go unnoticed.

use crate::model::{Model, SyscallKind};

/// One handler whose parameters do not match the schema.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mismatch {
    /// 1-based line of the handler's `fn` in the source.
    pub line: usize,
    /// What differs.
    pub message: String,
}

/// Compares the parameter names of every method of each `impl ... Kernel for ...` block in
/// `source` (a Rust file) with the argument names the schema gives the entry. A leading
/// `_` is ignored; an invocation's first parameter (the invoked capability) may have any
/// name. Returns the mismatches, or the parse error.
pub fn check(model: &Model, source: &str) -> Result<Vec<Mismatch>, String> {
    let file = syn::parse_file(source).map_err(|error| format!("not Rust: {error}"))?;
    let mut expected: Vec<(String, String, Vec<String>, bool)> = Vec::new();
    for s in model
        .syscalls
        .iter()
        .filter(|s| s.kind != SyscallKind::Invoke)
    {
        let mut args: Vec<String> = s.args.iter().map(|p| p.name.clone()).collect();
        if s.kind.ipc().is_some_and(|flow| flow.send) {
            args.push(crate::model::IPC_MESSAGE_PARAM.to_owned());
        }
        expected.push((
            format!("sys_{}", s.name),
            format!("sys.{}", s.name),
            args,
            false,
        ));
    }
    for i in &model.invocations {
        let args = i.args.iter().map(|p| p.name.clone()).collect();
        expected.push((i.fn_name(), i.display_name(), args, true));
    }
    let mut out = Vec::new();
    for item in &file.items {
        let syn::Item::Impl(block) = item else {
            continue;
        };
        let is_kernel = block
            .trait_
            .as_ref()
            .and_then(|(_, path, _)| path.segments.last())
            .is_some_and(|segment| segment.ident == "Kernel");
        if !is_kernel {
            continue;
        }
        for member in &block.items {
            let syn::ImplItem::Fn(method) = member else {
                continue;
            };
            let name = method.sig.ident.to_string();
            let Some((_, entry, args, invoked)) = expected.iter().find(|(n, ..)| *n == name) else {
                continue;
            };
            let mut params: Vec<String> = method
                .sig
                .inputs
                .iter()
                .filter_map(|input| match input {
                    syn::FnArg::Receiver(_) => None,
                    syn::FnArg::Typed(typed) => Some(match typed.pat.as_ref() {
                        syn::Pat::Ident(ident) => ident.ident.to_string(),
                        _ => "_".to_owned(),
                    }),
                })
                .map(|p| p.trim_start_matches('_').to_owned())
                .collect();
            if *invoked && !params.is_empty() {
                params.remove(0);
            }
            if params != *args {
                out.push(Mismatch {
                    line: line_of(source, &name),
                    message: format!(
                        "the handler of `{entry}` names its arguments ({}) but the schema declares ({})",
                        params.join(", "),
                        args.join(", ")
                    ),
                });
            }
        }
    }
    Ok(out)
}

/// The line of the first `fn NAME(` in `source` (1 when it is not found).
fn line_of(source: &str, name: &str) -> usize {
    let pattern = format!("fn {name}(");
    source
        .find(&pattern)
        .map_or(1, |offset| source[..offset].matches('\n').count() + 1)
}
