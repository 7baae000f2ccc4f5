//! `cargo xtask gen`: regenerates every file derived from schema.toml, writing only files whose contents changed.

use std::path::PathBuf;

use anyhow::Context;

/// Options of `cargo xtask gen`.
#[derive(clap::Args)]
pub struct Args {
    /// Write nothing; fail naming each stale generated file.
    #[arg(long)]
    check: bool,
    /// The schema to generate from (default: ROOT/schema.toml).
    #[arg(long)]
    schema: Option<PathBuf>,
    /// The tree to write the generated files into (default: the repository root).
    #[arg(long)]
    root: Option<PathBuf>,
}

/// The repository root, found at run time from the current directory.
pub fn repository_root() -> PathBuf {
    crate::cargo::workspace_root()
}

/// Runs `cargo xtask gen`. Schema errors and stale files are reported on stderr and end the
/// process with status 1 (they are user mistakes, not failures worth a backtrace).
pub fn run(args: Args) -> anyhow::Result<()> {
    let root = args.root.unwrap_or_else(repository_root);
    let schema = args.schema.unwrap_or_else(|| root.join("schema.toml"));
    let model = match abigen::load(&schema) {
        Ok(model) => model,
        Err(diagnostics) => fail(&diagnostics.to_string()),
    };
    let files = abigen::render_all(&model);
    let mode = if args.check {
        abigen::SyncMode::Check
    } else {
        abigen::SyncMode::Write
    };
    let report = abigen::sync(&root, &files, mode)
        .with_context(|| format!("syncing generated files under {}", root.display()))?;
    let updated = report.with_status(abigen::FileStatus::Updated);
    let stale = report.with_status(abigen::FileStatus::Stale);
    for path in &updated {
        println!("updated {path}");
    }
    if !stale.is_empty() {
        let mut message = String::new();
        for path in &stale {
            message.push_str(&format!("stale: {path}\n"));
        }
        message.push_str(&format!(
            "{} generated file(s) are out of date; run `cargo xtask gen`",
            stale.len()
        ));
        fail(&message);
    }
    if updated.is_empty() {
        println!("all {} generated files up to date", files.len());
    }
    Ok(())
}

/// Prints `message` and exits with status 1.
fn fail(message: &str) -> ! {
    eprintln!("{message}");
    std::process::exit(1)
}
