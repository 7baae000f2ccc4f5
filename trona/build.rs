//! Build script for trona: publishes the path of the user linker script to dependent programs.

use std::env;
use std::path::PathBuf;

fn main() {
    let manifest_dir = env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let script = PathBuf::from(manifest_dir).join("user.ld");
    println!("cargo:rerun-if-changed={}", script.display());
    // Dependents with a build script read this as `DEP_TRONA_USER_LD`.
    println!("cargo:user_ld={}", script.display());
}
