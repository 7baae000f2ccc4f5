//! Running cargo from xtask: the `$CARGO` command, artifact paths from JSON messages, and streamed output.

use anyhow::{Context, Result, bail};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

/// The repository xtask works on, found at run time from the current directory (see
/// [`find_repository`]); exits with a message when there is none.
///
/// Never the compile-time `CARGO_MANIFEST_DIR`: with a shared `CARGO_TARGET_DIR`, one xtask
/// binary serves several checkouts, and it must work on the one it was started in.
pub fn workspace_root() -> PathBuf {
    static ROOT: OnceLock<PathBuf> = OnceLock::new();
    ROOT.get_or_init(|| {
        let cwd = std::env::current_dir().unwrap_or_else(|error| {
            eprintln!("error: cannot read the current directory: {error}");
            std::process::exit(1)
        });
        find_repository(&cwd).unwrap_or_else(|| {
            eprintln!(
                "error: {} is not inside a kernite checkout (no ancestor holds schema.toml \
                 beside a workspace Cargo.toml); run `cargo xtask` inside one",
                cwd.display()
            );
            std::process::exit(1)
        })
    })
    .clone()
}

/// The nearest ancestor of `start` (itself included) that holds `schema.toml` beside a
/// `Cargo.toml` with a `[workspace]` table: the directory `cargo locate-project
/// --workspace` names, checked to be a kernite repository.
pub fn find_repository(start: &Path) -> Option<PathBuf> {
    start
        .ancestors()
        .find(|dir| dir.join("schema.toml").is_file() && is_workspace_manifest(dir))
        .map(Path::to_path_buf)
}

fn is_workspace_manifest(dir: &Path) -> bool {
    std::fs::read_to_string(dir.join("Cargo.toml"))
        .is_ok_and(|text| text.lines().any(|line| line.trim() == "[workspace]"))
}

/// A `cargo` command (the one that runs xtask, from `$CARGO`) in the workspace root.
pub fn cargo() -> Command {
    let program = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(program);
    command.current_dir(workspace_root());
    command
}

/// Build profile of the kernel and the user programs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Profile {
    Dev,
    Release,
}

impl Profile {
    /// The profile from the `--release` command-line flag.
    pub fn from_release_flag(release: bool) -> Profile {
        if release {
            Profile::Release
        } else {
            Profile::Dev
        }
    }

    fn args(self) -> &'static [&'static str] {
        match self {
            Profile::Dev => &[],
            Profile::Release => &["--release"],
        }
    }
}

/// Runs `cargo build` for `packages` on `target` and returns each binary's path by name.
///
/// `features` are cargo features to enable; `envs` are extra environment variables for
/// the build. Diagnostics go to the terminal as usual; the artifact list is read from
/// cargo's JSON messages.
pub fn build_binaries(
    packages: &[&str],
    target: &str,
    profile: Profile,
    features: &[&str],
    envs: &[(&str, &Path)],
) -> Result<BTreeMap<String, PathBuf>> {
    build_binaries_in(&workspace_root(), packages, target, profile, features, envs)
}

/// [`build_binaries`] in the workspace at `dir` (another checkout, such as the
/// compatibility check's copy of a release).
pub fn build_binaries_in(
    dir: &Path,
    packages: &[&str],
    target: &str,
    profile: Profile,
    features: &[&str],
    envs: &[(&str, &Path)],
) -> Result<BTreeMap<String, PathBuf>> {
    let mut command = cargo();
    command.current_dir(dir);
    command.args([
        "build",
        "--message-format=json-render-diagnostics",
        "--target",
        target,
    ]);
    command.args(profile.args());
    for package in packages {
        command.args(["-p", package]);
    }
    if !features.is_empty() {
        command.args(["--features", &features.join(",")]);
    }
    for (key, value) in envs {
        command.env(key, value);
    }
    command.stdout(Stdio::piped());
    let mut child = command.spawn().context("starting cargo build")?;
    let stdout = child
        .stdout
        .take()
        .context("cargo build has no stdout pipe")?;

    let mut binaries = BTreeMap::new();
    for line in BufReader::new(stdout).lines() {
        let line = line.context("reading cargo build output")?;
        if let Some((name, path)) = executable_artifact(&line) {
            binaries.insert(name, path);
        }
    }
    let status = child.wait().context("waiting for cargo build")?;
    if !status.success() {
        bail!(
            "cargo build -p {} --target {target} failed",
            packages.join(" -p ")
        );
    }
    Ok(binaries)
}

/// A workspace member, as `cargo metadata` describes it.
#[derive(Clone, Debug)]
pub struct Package {
    pub name: String,
    /// The directory holding the package's `Cargo.toml`.
    pub dir: PathBuf,
    /// Whether the package has a binary target.
    pub has_binary: bool,
}

/// The workspace members, from `cargo metadata`.
pub fn workspace_packages() -> Result<Vec<Package>> {
    packages_from_metadata(&metadata()?).context("unexpected cargo metadata layout")
}

/// Cargo's target directory for this workspace (`$CARGO_TARGET_DIR`, `build.target-dir`,
/// or `target/`), from `cargo metadata`.
pub fn target_dir() -> Result<PathBuf> {
    let metadata = metadata()?;
    let dir = metadata
        .get("target_directory")
        .and_then(|dir| dir.as_str())
        .context("cargo metadata names no target_directory")?;
    Ok(PathBuf::from(dir))
}

/// `cargo metadata --no-deps` of the workspace, read once per process.
fn metadata() -> Result<serde_json::Value> {
    static METADATA: OnceLock<serde_json::Value> = OnceLock::new();
    if let Some(metadata) = METADATA.get() {
        return Ok(metadata.clone());
    }
    let output = cargo()
        .args(["metadata", "--no-deps", "--format-version", "1"])
        .stderr(Stdio::inherit())
        .output()
        .context("running cargo metadata")?;
    if !output.status.success() {
        bail!("cargo metadata failed");
    }
    let metadata: serde_json::Value =
        serde_json::from_slice(&output.stdout).context("parsing cargo metadata")?;
    Ok(METADATA.get_or_init(|| metadata).clone())
}

fn packages_from_metadata(metadata: &serde_json::Value) -> Option<Vec<Package>> {
    let mut packages = Vec::new();
    for package in metadata.get("packages")?.as_array()? {
        let name = package.get("name")?.as_str()?.to_string();
        let manifest = Path::new(package.get("manifest_path")?.as_str()?);
        let has_binary = package.get("targets")?.as_array()?.iter().any(|target| {
            let kinds = target.get("kind").and_then(|kind| kind.as_array());
            kinds.is_some_and(|kinds| kinds.iter().any(|kind| kind.as_str() == Some("bin")))
        });
        let dir = manifest.parent()?.to_path_buf();
        packages.push(Package {
            name,
            dir,
            has_binary,
        });
    }
    Some(packages)
}

/// Runs `command`, echoing its stdout line by line to ours and handing each line to
/// `on_line`; returns whether it succeeded.
pub fn run_streaming(command: &mut Command, mut on_line: impl FnMut(&str)) -> Result<bool> {
    command.stdout(Stdio::piped());
    let mut child = command
        .spawn()
        .with_context(|| format!("starting {command:?}"))?;
    let stdout = child.stdout.take().context("child has no stdout pipe")?;
    let mut reader = BufReader::new(stdout);
    let mut buffer = Vec::new();
    loop {
        buffer.clear();
        let read = reader
            .read_until(b'\n', &mut buffer)
            .context("reading child output")?;
        if read == 0 {
            break;
        }
        let line = String::from_utf8_lossy(&buffer);
        let line = line.trim_end_matches(['\n', '\r']);
        println!("{line}");
        on_line(line);
    }
    Ok(child.wait().context("waiting for child")?.success())
}

/// Runs `command` with inherited output and fails if it does.
pub fn run_checked(command: &mut Command) -> Result<()> {
    let line = command_line(command);
    eprintln!("xtask: {line}");
    let status = command
        .status()
        .with_context(|| format!("starting `{line}`"))?;
    if !status.success() {
        bail!("`{line}` failed ({status})");
    }
    Ok(())
}

/// The command as a shell line, for messages (the program's file name, then the arguments).
pub fn command_line(command: &Command) -> String {
    let program = Path::new(command.get_program());
    let mut line = program
        .file_name()
        .unwrap_or(program.as_os_str())
        .to_string_lossy()
        .into_owned();
    for arg in command.get_args() {
        line.push(' ');
        line.push_str(&arg.to_string_lossy());
    }
    line
}

/// The `(binary name, path)` of a cargo `compiler-artifact` message with an executable.
fn executable_artifact(line: &str) -> Option<(String, PathBuf)> {
    let message: serde_json::Value = serde_json::from_str(line).ok()?;
    if message.get("reason")?.as_str()? != "compiler-artifact" {
        return None;
    }
    let executable = message.get("executable")?.as_str()?;
    let name = message.get("target")?.get("name")?.as_str()?;
    Some((name.to_string(), PathBuf::from(executable)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_repository_is_found_from_the_start_directory() {
        let scratch = tempfile::tempdir().expect("creating a scratch directory");
        let root = scratch.path().join("checkout");
        let write = |path: &str, text: &str| {
            let path = root.join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        };
        write("Cargo.toml", "[workspace]\nmembers = [\"xtask\"]\n");
        write("schema.toml", "");
        // A member's own manifest (no `[workspace]`) does not stop the search.
        write("xtask/Cargo.toml", "[package]\nname = \"xtask\"\n");
        write("xtask/src/main.rs", "");
        // A workspace without schema.toml is some other project.
        write("vendored/Cargo.toml", "[workspace]\n");
        let cases = [
            ("", Some("")),
            ("xtask/src", Some("")),
            ("xtask", Some("")),
            ("vendored", Some("")),
        ];
        for (start, expected) in cases {
            let found = find_repository(&root.join(start));
            assert_eq!(found, expected.map(|dir| root.join(dir)), "from `{start}`");
        }
        assert_eq!(find_repository(scratch.path()), None);
        // The compile-time answer would be this checkout, whichever directory is asked.
        let this_checkout = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        assert_ne!(find_repository(&root), Some(this_checkout.to_path_buf()));
    }

    #[test]
    fn artifacts_are_read_from_json_messages() {
        let artifact =
            r#"{"reason":"compiler-artifact","target":{"name":"init"},"executable":"/t/init"}"#;
        let library =
            r#"{"reason":"compiler-artifact","target":{"name":"trona"},"executable":null}"#;
        let other = r#"{"reason":"build-finished","success":true}"#;
        assert_eq!(
            executable_artifact(artifact),
            Some(("init".into(), "/t/init".into()))
        );
        assert_eq!(executable_artifact(library), None);
        assert_eq!(executable_artifact(other), None);
        assert_eq!(executable_artifact("not json"), None);
    }

    #[test]
    fn packages_are_read_from_metadata() {
        let metadata = serde_json::json!({"packages": [
            {"name": "init", "manifest_path": "/w/servers/init/Cargo.toml",
             "targets": [{"kind": ["bin"]}, {"kind": ["custom-build"]}]},
            {"name": "rootlib", "manifest_path": "/w/servers/rootlib/Cargo.toml",
             "targets": [{"kind": ["lib"]}]},
        ]});
        let packages = packages_from_metadata(&metadata).unwrap();
        let summary: Vec<_> = packages
            .iter()
            .map(|p| (p.name.as_str(), p.has_binary))
            .collect();
        assert_eq!(summary, [("init", true), ("rootlib", false)]);
        assert_eq!(packages[0].dir, Path::new("/w/servers/init"));
    }
}
