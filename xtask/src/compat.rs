//! The compatibility check of `cargo xtask test --compat`: the in-QEMU suite as of the latest ABI release tag, booted on the current kernel.

use crate::abi_diff::{latest_release_tag, model_at_revision};
use crate::build::{Built, build_image_and_kernel, loadable_program};
use crate::cargo::{Profile, build_binaries_in, target_dir};
use crate::coverage::entries_of;
use crate::targets::{Arch, Program};
use anyhow::{Context, Result, anyhow, bail};
use std::path::{Path, PathBuf};
use std::process::Command;

/// A release's suite, ready to build.
pub struct ReleaseSuite {
    /// The release tag, e.g. `abi-v1.1`.
    pub tag: String,
    /// Where the tag's tree is unpacked.
    source: PathBuf,
    /// The `COVERS` entries the release's suite must print: its own schema's entries.
    pub coverage: Vec<String>,
}

/// Whether the check applies to this tree.
pub enum Prepared {
    Ready(ReleaseSuite),
    /// The check does not apply; the sentence says why.
    Skipped(String),
}

/// Finds the latest release tag and unpacks its tree, unless the check does not apply:
/// no tag is reachable, or the ABI's major version changed since (a new major version
/// owes older programs nothing).
pub fn prepare(root: &Path) -> Result<Prepared> {
    let Some(tag) = latest_release_tag(root)? else {
        return Ok(Prepared::Skipped(
            "no `abi-v*` tag is reachable from HEAD (in a shallow or tagless clone, \
             `git fetch --tags` first)"
                .to_string(),
        ));
    };
    let release = model_at_revision(root, &tag)?;
    let current = abigen::load(root.join("schema.toml"))
        .map_err(|diagnostics| anyhow!("schema.toml is not a valid schema:\n{diagnostics}"))?;
    let (old, new) = (&release.abi, &current.abi);
    if old.version_major != new.version_major {
        return Ok(Prepared::Skipped(format!(
            "the ABI major version changed since {tag} ({}.{} -> {}.{})",
            old.version_major, old.version_minor, new.version_major, new.version_minor
        )));
    }
    let source = compat_dir()?.join(&tag);
    unpack(root, &tag, &source)?;
    let (old_print, new_print) = (abigen::fingerprint(&release), abigen::fingerprint(&current));
    if old_print != new_print && !accepts_later_minor_versions(&source) {
        return Ok(Prepared::Skipped(format!(
            "the ABI changed since {tag} (fingerprint {old_print:#018x} -> {new_print:#018x}) \
             and that release's trona refuses any kernel but its own ABI (it predates \
             `BootInfo::runs_abi`), so the first release that has it is the first this \
             check can run on a newer kernel"
        )));
    }
    Ok(Prepared::Ready(ReleaseSuite {
        coverage: entries_of(&release),
        tag,
        source,
    }))
}

impl ReleaseSuite {
    /// Builds the release's user programs (with the release's trona and abi crate) in
    /// their own target directory, and the current kernel around a boot image of them:
    /// abitest as the root task, the others as boot modules, as the release packed them
    /// (the suite starts some of them, such as its IPC peer).
    pub fn build(&self, arch: Arch, profile: Profile) -> Result<Built> {
        let target = compat_dir()?.join("target");
        let abitest = Program::Abitest.name();
        let programs = release_programs(&self.source)?;
        let packages: Vec<&str> = programs.iter().map(String::as_str).collect();
        let binaries = build_binaries_in(
            &self.source,
            &packages,
            arch.user_target(),
            profile,
            &[],
            &[("CARGO_TARGET_DIR", &target)],
        )
        .with_context(|| format!("building the user programs as of {}", self.tag))?;
        let mut modules = Vec::new();
        for program in
            std::iter::once(abitest).chain(packages.iter().copied().filter(|p| *p != abitest))
        {
            let path = binaries
                .get(program)
                .ok_or_else(|| anyhow!("cargo built no `{program}` as of {}", self.tag))?;
            modules.push((program.to_string(), loadable_program(path)?));
        }
        build_image_and_kernel(arch, profile, &format!("{abitest}-{}", self.tag), &modules)
    }
}

/// The user programs of an unpacked release: every crate under `servers/` with a
/// `src/main.rs`, by its package name, sorted.
fn release_programs(source: &Path) -> Result<Vec<String>> {
    let servers = source.join("servers");
    let mut programs = Vec::new();
    for entry in
        std::fs::read_dir(&servers).with_context(|| format!("reading {}", servers.display()))?
    {
        let dir = entry?.path();
        if !dir.join("src/main.rs").is_file() {
            continue;
        }
        let manifest = std::fs::read_to_string(dir.join("Cargo.toml"))
            .with_context(|| format!("reading {}/Cargo.toml", dir.display()))?;
        let name = manifest
            .lines()
            .find_map(|line| line.trim().strip_prefix("name = \"")?.strip_suffix('"'))
            .ok_or_else(|| anyhow!("{}/Cargo.toml has no package name", dir.display()))?;
        programs.push(name.to_string());
    }
    programs.sort();
    if !programs.iter().any(|p| p == Program::Abitest.name()) {
        bail!("the release has no `{}` program", Program::Abitest.name());
    }
    Ok(programs)
}

/// Whether the release's userland runs on a kernel of a later minor version: its boot
/// crate has `BootInfo::runs_abi`, which trona's `boot_info` uses.
fn accepts_later_minor_versions(source: &Path) -> bool {
    std::fs::read_to_string(source.join("boot/src/lib.rs"))
        .is_ok_and(|text| text.contains("pub fn runs_abi("))
}

/// `<target dir>/kernite/compat/`: the unpacked releases and their build output.
fn compat_dir() -> Result<PathBuf> {
    Ok(target_dir()?.join("kernite").join("compat"))
}

/// Unpacks the tree at `tag` into `dest` with `git archive`, unless an earlier run
/// unpacked the same tree (its hash is kept in `dest/.unpacked`, so a tag that was moved
/// is unpacked afresh).
fn unpack(root: &Path, tag: &str, dest: &Path) -> Result<()> {
    let tree = tree_of(root, tag)?;
    let complete = dest.join(".unpacked");
    if std::fs::read_to_string(&complete).is_ok_and(|unpacked| unpacked == tree) {
        return Ok(());
    }
    if dest.exists() {
        std::fs::remove_dir_all(dest).with_context(|| format!("removing {}", dest.display()))?;
    }
    std::fs::create_dir_all(dest).with_context(|| format!("creating {}", dest.display()))?;
    let archive = dest.join("tree.tar");
    let status = Command::new("git")
        .args(["archive", "--format=tar", "--output"])
        .arg(&archive)
        .arg(&tree)
        .current_dir(root)
        .status()
        .context("running git archive")?;
    if !status.success() {
        bail!("`git archive {tag}` failed");
    }
    let status = Command::new("tar")
        .arg("-xf")
        .arg(&archive)
        .current_dir(dest)
        .status()
        .context("running tar")?;
    if !status.success() {
        bail!("unpacking {} failed", archive.display());
    }
    std::fs::remove_file(&archive).with_context(|| format!("removing {}", archive.display()))?;
    std::fs::write(&complete, &tree).with_context(|| format!("writing {}", complete.display()))
}

/// The hash of the tree `revision` names.
fn tree_of(root: &Path, revision: &str) -> Result<String> {
    let output = Command::new("git")
        .args(["rev-parse", &format!("{revision}^{{tree}}")])
        .current_dir(root)
        .output()
        .context("running git rev-parse")?;
    if !output.status.success() {
        bail!("`git rev-parse {revision}^{{tree}}` failed");
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_string())
}
