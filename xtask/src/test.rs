//! `cargo xtask` subcommand module `test` (placeholder until its owner lands it).

/// Arguments (placeholder).
#[derive(clap::Args)]
pub struct Args {}

pub fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("xtask test is not written yet")
}
