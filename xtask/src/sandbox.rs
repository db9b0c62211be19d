//! `cargo xtask sandbox`: moto and an ECR-like registry on loopback.

use anyhow::{bail, Result};
use clap::Subcommand;

use crate::exec::Ctx;

#[derive(Subcommand, Debug)]
pub enum SandboxCommand {
    /// Start (or reuse) moto and the registry, seed them, print the exports.
    Up {
        /// First of the ports the sandbox listens on (moto, registry, bridge).
        #[arg(long, default_value_t = 4700)]
        port_base: u16,
    },
    /// Stop what `up` started.
    Down,
    /// What is running, on which port.
    Status,
    /// Make the base images from Debian packages (cached).
    BaseImages,
}

pub fn run(_ctx: &Ctx, _command: SandboxCommand) -> Result<()> {
    bail!("`cargo xtask sandbox` is not yet implemented")
}
