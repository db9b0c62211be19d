//! `cargo xtask`: Cruddur's one tool for env files, docker, ECR, ECS and the
//! local sandbox. This library is everything but the AWS SDK: the command line
//! (`flags`), the settings (`ctx`), and one module per concern. The `xtask`
//! binary runs the local commands and hands AWS commands to `xtask-aws`
//! (`aws_build`), which links this library plus the SDK. `pub` marks what the
//! AWS build (or the light binary and its tests) calls; the rest is private.

pub mod aws_build;
mod bench;
mod compose;
mod ctx;
mod demo;
pub mod docker;
pub mod duration;
pub mod env;
pub mod environment;
pub mod errors;
pub mod exec;
mod files;
pub mod flags;
pub mod git;
pub mod host;
pub mod infra;
mod install;
pub mod lint;
pub mod poll;
pub mod produced;
mod sandbox;
pub mod services;
mod settings;
mod steps;
mod testing;

use std::process::ExitCode;

pub use ctx::Ctx;
use errors::BadInput;
use flags::LocalCommand;

/// Runs a command that needs no AWS SDK (both builds call this).
pub fn run(ctx: &Ctx, command: LocalCommand) -> anyhow::Result<()> {
    if ctx.output == flags::Output::Json {
        return Err(BadInput(
            "--output json: only status, diff, verify, deploy and rollback print a JSON result"
                .into(),
        )
        .into());
    }
    match &command {
        LocalCommand::Sandbox { .. } => ctx.refuse_environment("sandbox")?,
        LocalCommand::Demo(_) => ctx.refuse_environment("demo")?,
        LocalCommand::Test(_) => ctx.refuse_environment("test")?,
        LocalCommand::Bench(_) => ctx.refuse_environment("bench")?,
        _ => ctx.announce_environment(),
    }
    match command {
        LocalCommand::Env(args) => env::run(ctx, &args),
        LocalCommand::Build(args) => docker::build(ctx, &args),
        LocalCommand::Run(args) => docker::run(ctx, &args),
        LocalCommand::Up(args) => compose::up(ctx, args),
        LocalCommand::Down => compose::down(ctx),
        LocalCommand::Sandbox { command } => sandbox::run(ctx, command),
        LocalCommand::Demo(args) => demo::run(ctx, &args),
        LocalCommand::Test(args) => testing::run(ctx, &args),
        LocalCommand::Bench(args) => bench::run(ctx, &args),
    }
}

/// The process's end: one line for the user (the chain of causes with -v),
/// exit 2 for bad input, 1 for any other failure.
pub fn exit(verbose: bool, result: anyhow::Result<()>) -> ExitCode {
    let code = exit_code(&result);
    if let Err(err) = result {
        if verbose {
            eprintln!("error: {err:?}");
        } else {
            eprintln!("error: {err:#}");
        }
    }
    ExitCode::from(code)
}

/// 0, 2 for bad input, 1 for any other failure.
pub fn exit_code(result: &anyhow::Result<()>) -> u8 {
    match result {
        Ok(()) => 0,
        Err(err) if err.downcast_ref::<BadInput>().is_some() => 2,
        Err(_) => 1,
    }
}
