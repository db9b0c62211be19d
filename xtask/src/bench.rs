//! `cargo xtask bench`: the performance table.

use anyhow::{bail, Result};
use clap::Args;

use crate::exec::Ctx;

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Also measure cold builds (fresh clone, empty target directory).
    #[arg(long)]
    pub cold: bool,
    /// Runs per row.
    #[arg(long, default_value_t = 5)]
    pub runs: usize,
}

pub fn run(_ctx: &Ctx, _args: &BenchArgs) -> Result<()> {
    bail!("`cargo xtask bench` is not yet implemented")
}
