//! Build script for the kernel: picks the linker script and checks that a boot image is given.

use std::env;
use std::path::PathBuf;

fn main() {
    let manifest_dir =
        PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let arch = env::var("CARGO_CFG_TARGET_ARCH").expect("cargo sets CARGO_CFG_TARGET_ARCH");
    let script = manifest_dir.join(format!("link-{arch}.ld"));
    println!("cargo:rerun-if-changed={}", script.display());
    println!("cargo:rustc-link-arg-bins=-T{}", script.display());

    println!("cargo:rerun-if-env-changed=KERNITE_BOOT_IMAGE");
    match env::var("KERNITE_BOOT_IMAGE") {
        Ok(path) => println!("cargo:rerun-if-changed={path}"),
        Err(_) => {
            eprintln!(
                "error: KERNITE_BOOT_IMAGE is not set. The kernel links the boot image (root task \
                 and modules) into itself; build it with `cargo xtask build`, which packs the \
                 image and sets the variable."
            );
            std::process::exit(1);
        }
    }
}
