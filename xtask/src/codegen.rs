//! `cargo xtask` subcommand module `codegen` (`cargo xtask gen`) (placeholder until its owner lands it).

/// Arguments (placeholder).
#[derive(clap::Args)]
pub struct Args {}

pub fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("xtask gen is not written yet")
}
