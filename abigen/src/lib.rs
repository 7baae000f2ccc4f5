//! abigen: reads schema.toml, validates it into an ABI [`Model`] and renders every generated file of the kernite tree.
//!
//! The public API, used by `cargo xtask gen`, `cargo xtask abi-diff` and `cargo xtask new`:
//!
//! - [`load`] / [`parse_str`]: schema text → [`Model`], or every error as [`Diagnostics`];
//!   [`parse_revision`] reads an earlier revision's schema for `abi-diff`; [`parse_bytes`]
//!   reports text that is not UTF-8 at the offending byte;
//! - [`render_all`]: [`Model`] → `(path relative to the repository root, contents)`;
//! - [`sync`]: compares or writes rendered files under a root directory;
//! - [`fingerprint`]: the `ABI_FINGERPRINT` of a model;
//! - [`handlers::check`]: a hand-written `impl Kernel` names each handler's arguments as the schema does.

mod collisions;
mod diagnostics;
pub mod diff;
mod fingerprint;
pub mod handlers;
pub mod model;
pub mod names;
mod raw;
mod render;
mod sync;
mod validate;

use std::path::Path;

pub use diagnostics::{Diagnostic, Diagnostics};
pub use fingerprint::{
    fingerprint, fnv1a64, normalized, protocol_fingerprint, protocol_normalized,
};
pub use model::*;
pub use render::{GENERATED_HEADER, render_all};
pub use sync::{FileStatus, SyncMode, SyncReport, sync};
pub use validate::{RIGHTS_FLAG_SET, parse_revision, parse_str};

/// The validated model under the name other tools know it by.
pub type Schema = Model;

/// Reads and validates the schema at `path`.
///
/// A file that cannot be read is reported as one diagnostic on an empty source.
pub fn load(path: impl AsRef<Path>) -> Result<Model, Diagnostics> {
    let path = path.as_ref();
    let name = path.display().to_string();
    match std::fs::read(path) {
        Ok(bytes) => parse_bytes(&name, &bytes),
        Err(error) => {
            let mut diagnostics = Diagnostics::new(&name, "");
            diagnostics.error(0..0, format!("cannot read the schema: {error}"));
            Err(diagnostics)
        }
    }
}

/// Validates schema bytes: text that is not UTF-8 is one diagnostic at the first bad byte.
pub fn parse_bytes(file_name: &str, bytes: &[u8]) -> Result<Model, Diagnostics> {
    match std::str::from_utf8(bytes) {
        Ok(text) => parse_str(file_name, text),
        Err(error) => {
            let at = error.valid_up_to();
            // The prefix before `at` is valid, so offsets into it match the lossy text.
            let text = String::from_utf8_lossy(bytes);
            let mut diagnostics = Diagnostics::new(file_name, &text);
            diagnostics.error(
                at..at + 1,
                format!(
                    "the schema is not UTF-8: byte {:#04x} at offset {at}",
                    bytes[at]
                ),
            );
            Err(diagnostics)
        }
    }
}
