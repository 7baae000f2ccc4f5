//! `cargo xtask` subcommand module `abi_diff` (placeholder until its owner lands it).

/// Arguments (placeholder).
#[derive(clap::Args)]
pub struct Args {}

pub fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("xtask abi_diff is not written yet")
}
