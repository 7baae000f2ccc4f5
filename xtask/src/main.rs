//! `cargo xtask`: the project's developer commands (code generation, ABI review, build, boot, test, bench, CI).

mod abi_diff;
mod bench;
mod build;
mod cargo;
mod ci;
mod codegen;
mod compat;
mod coverage;
mod elf;
mod new;
mod protocol;
mod qemu;
mod run;
mod targets;
mod test;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Developer commands for kernite.
#[derive(Parser)]
#[command(name = "cargo xtask", bin_name = "cargo xtask")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Regenerate every file derived from schema.toml (only files whose content changed are written).
    Gen(codegen::Args),
    /// Add a syscall or invocation to schema.toml with the next free number, then regenerate.
    New(new::Args),
    /// Compare the ABI declared by schema.toml at two git revisions and classify every change.
    AbiDiff(abi_diff::Args),
    /// Build the kernel and the user images for one architecture.
    Build(build::Args),
    /// Build everything and boot it in QEMU with the serial console on this terminal.
    Run(run::Args),
    /// Run the host tests and the in-QEMU test suite.
    Test(test::Args),
    /// Measure syscall, invocation and context-switch costs inside QEMU.
    Bench(bench::Args),
    /// Exactly what CI runs.
    Ci(ci::Args),
}

fn main() -> ExitCode {
    let result = match Cli::parse().command {
        Command::Gen(args) => codegen::run(args),
        Command::New(args) => new::run(args),
        Command::AbiDiff(args) => abi_diff::run(args),
        Command::Build(args) => build::run(args),
        Command::Run(args) => run::run(args),
        Command::Test(args) => test::run(args),
        Command::Bench(args) => bench::run(args),
        Command::Ci(args) => ci::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // The chain of causes is the message; a backtrace of xtask itself helps nobody.
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn command_line_definition_is_consistent() {
        // Clap checks unique argument and group names only when a command is parsed.
        Cli::command().debug_assert();
    }
}
