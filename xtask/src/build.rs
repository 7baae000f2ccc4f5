//! `cargo xtask build`: builds the user programs, packs them into a boot image, and builds the kernel around it.

use crate::cargo::{Profile, build_binaries, target_dir};
use crate::elf::loadable_only;
use crate::targets::{Arch, Program, ensure_rust_targets, user_crates};
use anyhow::{Context, Result, anyhow, bail};
use boot::Entry;
use std::path::{Path, PathBuf};

/// Build the kernel and the user images for one architecture.
///
/// `run` flattens these into its own arguments, so they form no argument group of their own.
#[derive(clap::Args)]
#[group(skip)]
pub struct Args {
    /// Target architecture.
    #[arg(long, value_enum, default_value = "x86_64")]
    pub arch: Arch,
    /// Build optimized binaries.
    #[arg(long)]
    pub release: bool,
    /// The user program that runs as the root task; the others become boot modules.
    #[arg(long, value_enum, default_value = "init")]
    pub root_task: Program,
}

/// What to build.
#[derive(Clone, Debug)]
pub struct BuildRequest {
    pub arch: Arch,
    pub profile: Profile,
    pub root: Program,
    pub mode: ImageMode,
}

/// The files a build produced.
#[derive(Clone, Debug)]
pub struct Built {
    /// The bootable kernel ELF: a copy in [`output_dir`], so that images for different
    /// root tasks do not overwrite each other.
    pub kernel: PathBuf,
    /// The boot image linked into that kernel.
    pub image: PathBuf,
}

/// What the boot image tells abitest beyond its programs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ImageMode {
    Normal,
    /// Adds the boot module `bench` (docs/CONTRACTS.md, "Bench mode").
    Bench,
    /// Adds the boot module `filter` holding this text: abitest runs only the tests whose
    /// names contain it (docs/CONTRACTS.md, "In-QEMU test protocol").
    Filter(String),
}

/// The kernel's cargo feature that replaces the root server with an arch-level self test.
pub const ARCH_SELFTEST_FEATURE: &str = "arch-selftest";

/// The kernel's cargo feature that replaces the root task with the kernel stack guard test.
pub const KSTACK_GUARD_TEST_FEATURE: &str = "kstack-guard-test";

/// The name and content of the boot module that switches abitest to benchmarks.
const BENCH_MODULE: (&str, &[u8]) = ("bench", b"bench");

/// The name of the boot module that holds abitest's test-name filter.
const FILTER_MODULE: &str = "filter";

impl Args {
    /// The normal build (no benchmark module) these arguments ask for.
    pub fn request(&self) -> BuildRequest {
        BuildRequest {
            arch: self.arch,
            profile: Profile::from_release_flag(self.release),
            root: self.root_task,
            mode: ImageMode::Normal,
        }
    }
}

pub fn run(args: Args) -> Result<()> {
    let built = build(args.request())?;
    println!("{}", built.kernel.display());
    Ok(())
}

/// Builds the user programs, the boot image and the kernel that `request` describes.
pub fn build(request: BuildRequest) -> Result<Built> {
    let arch = request.arch;
    ensure_rust_targets(&[arch.user_target(), arch.kernel_target()])?;

    let programs = user_crates()?.programs;
    if !programs
        .iter()
        .any(|program| program == request.root.name())
    {
        bail!(
            "no workspace member under servers/ builds the program `{}`",
            request.root
        );
    }
    let packages: Vec<&str> = programs.iter().map(String::as_str).collect();
    let binaries = build_binaries(&packages, arch.user_target(), request.profile, &[], &[])?;
    // The root task first, then every other program as a boot module, by name.
    let root = request.root.name();
    let ordered =
        std::iter::once(root).chain(packages.iter().copied().filter(|name| *name != root));
    let mut modules = Vec::new();
    for program in ordered {
        let path = binaries
            .get(program)
            .ok_or_else(|| anyhow!("cargo built no binary named `{program}`"))?;
        modules.push((program.to_string(), loadable_program(path)?));
    }
    let image_name = match &request.mode {
        ImageMode::Normal => request.root.name().to_string(),
        ImageMode::Bench => {
            modules.push((BENCH_MODULE.0.to_string(), BENCH_MODULE.1.to_vec()));
            format!("{}-bench", request.root)
        }
        ImageMode::Filter(filter) => {
            modules.push((FILTER_MODULE.to_string(), filter.as_bytes().to_vec()));
            format!("{}-filtered", request.root)
        }
    };
    build_image_and_kernel(arch, request.profile, &image_name, &modules)
}

/// Reads the program ELF at `path` with only its loadable segments kept, as the boot
/// image carries it.
pub fn loadable_program(path: &Path) -> Result<Vec<u8>> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    loadable_only(&bytes).with_context(|| format!("reading {}", path.display()))
}

/// Packs `modules` (the root task first) into `bootimage-<name>.bin` and builds the kernel
/// around it as `kernel-<name>.elf`, both in [`output_dir`].
pub fn build_image_and_kernel(
    arch: Arch,
    profile: Profile,
    name: &str,
    modules: &[(String, Vec<u8>)],
) -> Result<Built> {
    let out_dir = output_dir(arch)?;
    let image_path = out_dir.join(format!("bootimage-{name}.bin"));
    let entries: Vec<Entry<'_>> = modules
        .iter()
        .map(|(name, data)| Entry {
            name,
            data: data.as_slice(),
        })
        .collect();
    write_if_changed(&image_path, &pack(&entries)?)?;
    let kernel = build_kernel(
        arch,
        profile,
        &image_path,
        &[],
        &out_dir.join(format!("kernel-{name}.elf")),
    )?;
    Ok(Built {
        kernel,
        image: image_path,
    })
}

/// A kernel built with a test in place of the root task: its cargo feature and the file
/// it is written to in [`output_dir`] (so that it never overwrites a normal kernel). They
/// all link the arch self test's empty boot image, since none loads a user program.
#[derive(Clone, Copy, Debug)]
pub struct KernelTest {
    /// The kernel's cargo feature.
    pub feature: &'static str,
    /// The kernel's file name.
    pub file: &'static str,
}

/// The arch self test (feature [`ARCH_SELFTEST_FEATURE`]) in place of the root server.
pub const ARCH_SELFTEST: KernelTest = KernelTest {
    feature: ARCH_SELFTEST_FEATURE,
    file: "kernel-arch-selftest.elf",
};

/// The kernel stack guard test (feature [`KSTACK_GUARD_TEST_FEATURE`]).
pub const KSTACK_GUARD_TEST: KernelTest = KernelTest {
    feature: KSTACK_GUARD_TEST_FEATURE,
    file: "kernel-kstack-guard.elf",
};

/// The kernel fault test: an undefined instruction in kernel mode must panic.
pub const KERNEL_FAULT_TEST: KernelTest = KernelTest {
    feature: "kernel-fault-test",
    file: "kernel-fault.elf",
};

/// Builds the kernel with `test` in place of the root task.
pub fn build_kernel_test(arch: Arch, profile: Profile, test: KernelTest) -> Result<Built> {
    ensure_rust_targets(&[arch.kernel_target()])?;
    let image = arch_selftest_image(arch)?;
    let kernel = build_kernel(
        arch,
        profile,
        &image,
        &[test.feature],
        &output_dir(arch)?.join(test.file),
    )?;
    Ok(Built { kernel, image })
}

/// Writes the boot image that an arch self-test kernel links: empty, since the self test
/// loads no user program. Returns its path.
pub fn arch_selftest_image(arch: Arch) -> Result<PathBuf> {
    let image = output_dir(arch)?.join("bootimage-arch-selftest.bin");
    write_if_changed(&image, &[])?;
    Ok(image)
}

/// `<target dir>/kernite/<arch>/`, where xtask keeps its boot images and kernel copies
/// beside cargo's own output (`$CARGO_TARGET_DIR` when set, else `target/`); created if
/// missing.
pub fn output_dir(arch: Arch) -> Result<PathBuf> {
    let dir = target_dir()?.join("kernite").join(arch.name());
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok(dir)
}

/// Builds the kernel around the boot image at `image` with `features`, and copies the ELF
/// to `copy`: cargo's own output path is shared by every kernel build for the target.
fn build_kernel(
    arch: Arch,
    profile: Profile,
    image: &Path,
    features: &[&str],
    copy: &Path,
) -> Result<PathBuf> {
    let env = [("KERNITE_BOOT_IMAGE", image)];
    let kernels = build_binaries(&["kernel"], arch.kernel_target(), profile, features, &env)?;
    let kernel = kernels
        .get("kernel")
        .ok_or_else(|| anyhow!("cargo built no `kernel` binary"))?;
    std::fs::copy(kernel, copy)
        .with_context(|| format!("copying {} to {}", kernel.display(), copy.display()))?;
    Ok(copy.to_path_buf())
}

/// Packs `entries` (root task first) into a boot image.
fn pack(entries: &[Entry<'_>]) -> Result<Vec<u8>> {
    let len =
        boot::packed_len(entries).map_err(|error| anyhow!("packing the boot image: {error}"))?;
    let mut image = vec![0; len];
    boot::write_image(entries, &mut image)
        .map_err(|error| anyhow!("packing the boot image: {error}"))?;
    Ok(image)
}

/// Writes `contents` unless the file already holds exactly that, so that the kernel's
/// build script (which watches the image) does not rebuild the kernel needlessly.
fn write_if_changed(path: &Path, contents: &[u8]) -> Result<()> {
    if std::fs::read(path).is_ok_and(|old| old == contents) {
        return Ok(());
    }
    std::fs::write(path, contents).with_context(|| format!("writing {}", path.display()))
}
