//! `cargo xtask` subcommand module `new` (placeholder until its owner lands it).

/// Arguments (placeholder).
#[derive(clap::Args)]
pub struct Args {}

pub fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("xtask new is not written yet")
}
