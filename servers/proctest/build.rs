//! Build script: links proctest with trona's user linker script.

fn main() {
    let script = std::env::var("DEP_TRONA_USER_LD").expect("trona publishes user.ld");
    println!("cargo:rustc-link-arg-bins=-T{script}");
    println!("cargo:rustc-link-arg-bins=-zmax-page-size=4096");
    println!("cargo:rerun-if-changed={script}");
}
