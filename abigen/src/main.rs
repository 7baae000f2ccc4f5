//! The `abigen` command: check a schema or regenerate a tree outside of `cargo xtask`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Validate schema.toml and render the kernite ABI files.
#[derive(Parser)]
#[command(name = "abigen")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Validate a schema and print every error with its location.
    Check {
        /// The schema file.
        schema: PathBuf,
    },
    /// Render every generated file under a repository root.
    Gen {
        /// The repository root; generated paths are relative to it.
        #[arg(long, default_value = ".")]
        root: PathBuf,
        /// The schema file (default: ROOT/schema.toml).
        #[arg(long)]
        schema: Option<PathBuf>,
        /// Write nothing; fail if any generated file is stale.
        #[arg(long)]
        check: bool,
    },
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Check { schema } => match abigen::load(&schema) {
            Ok(model) => {
                println!(
                    "{}: ok ({} syscalls, {} invocations, fingerprint {:#018x})",
                    schema.display(),
                    model.syscalls.len(),
                    model.invocations.len(),
                    abigen::fingerprint(&model)
                );
                ExitCode::SUCCESS
            }
            Err(diagnostics) => {
                eprintln!("{diagnostics}");
                ExitCode::FAILURE
            }
        },
        Command::Gen {
            root,
            schema,
            check,
        } => {
            let schema = schema.unwrap_or_else(|| root.join("schema.toml"));
            let model = match abigen::load(&schema) {
                Ok(model) => model,
                Err(diagnostics) => {
                    eprintln!("{diagnostics}");
                    return ExitCode::FAILURE;
                }
            };
            let mode = if check {
                abigen::SyncMode::Check
            } else {
                abigen::SyncMode::Write
            };
            let report = match abigen::sync(&root, &abigen::render_all(&model), mode) {
                Ok(report) => report,
                Err(error) => {
                    eprintln!("error: {error}");
                    return ExitCode::FAILURE;
                }
            };
            for path in report.with_status(abigen::FileStatus::Updated) {
                println!("updated {path}");
            }
            let stale = report.with_status(abigen::FileStatus::Stale);
            for path in &stale {
                eprintln!("stale: {path}");
            }
            if !stale.is_empty() {
                eprintln!("run `abigen gen` (or `cargo xtask gen`) to update them");
                return ExitCode::FAILURE;
            }
            ExitCode::SUCCESS
        }
    }
}
