//! `cargo xtask` without the AWS SDK: local commands run here, AWS commands
//! are handed to the `xtask-aws` build (compiled the first time one is used).

use std::process::ExitCode;

use xtask::flags::{Cli, Command};
use xtask::{aws_build, Ctx};

fn main() -> ExitCode {
    let cli = Cli::parse_args();
    let result = Ctx::new(&cli).and_then(|ctx| match cli.command {
        Command::Local(command) => xtask::run(&ctx, command),
        Command::Aws(_) => aws_build::run_this_command(&ctx),
    });
    xtask::exit(cli.verbose, result)
}
