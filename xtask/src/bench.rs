//! `cargo xtask` subcommand module `bench` (placeholder until its owner lands it).

/// Arguments (placeholder).
#[derive(clap::Args)]
pub struct Args {}

pub fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("xtask bench is not written yet")
}
