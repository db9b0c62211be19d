//! `cargo xtask test`: every test of the repository, with what they need.

use anyhow::{bail, Result};
use clap::Args;

use crate::exec::Ctx;

#[derive(Args, Debug)]
pub struct TestArgs {
    /// Unit tests only: no docker, sandbox, database or browser.
    #[arg(long)]
    pub unit: bool,
}

pub fn run(_ctx: &Ctx, _args: &TestArgs) -> Result<()> {
    bail!("`cargo xtask test` is not yet implemented")
}
