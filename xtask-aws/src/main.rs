//! `cargo xtask` with the AWS SDK: the AWS commands run here; the local ones
//! run from the shared library, so either build understands every command.

mod aws;
mod ecr;
mod ecs;
mod lb;
mod promote;
mod registry;
mod report;

use std::process::ExitCode;

use anyhow::Result;
use xtask::errors::BadInput;
use xtask::flags::{
    AwsCommand, Cli, ClusterCommand, Command, EcrCommand, LbCommand, Output, ServiceCommand,
};
use xtask::Ctx;

fn main() -> ExitCode {
    let cli = Cli::parse_args();
    let json = cli.output == Output::Json;
    if let Command::Aws(command) = &cli.command {
        report::named(command.name());
    }
    let result = Ctx::new(&cli).and_then(|ctx| match cli.command {
        Command::Local(command) => xtask::run(&ctx, command),
        Command::Aws(command) => {
            if json && !command.has_json_output() {
                return Err(BadInput(
                    "--output json: only status, diff, verify, deploy and rollback print a JSON result"
                        .into(),
                )
                .into());
            }
            report::begin(&ctx, command.name());
            ctx.announce_environment();
            run(&ctx, command)
        }
    });
    if json {
        // The one thing on stdout: the document, whatever happened.
        println!("{}", report::finish(&result, xtask::exit_code(&result)));
    }
    xtask::exit(cli.verbose, result)
}

fn run(ctx: &Ctx, command: AwsCommand) -> Result<()> {
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        match command {
            AwsCommand::Ecr { command } => match command {
                EcrCommand::Login => ecr::login(ctx).await,
                EcrCommand::Create { service } => ecr::create(ctx, service).await,
                EcrCommand::MirrorBase => ecr::mirror_base(ctx).await,
            },
            AwsCommand::Push(args) => ecr::push(ctx, &args).await.map(drop),
            AwsCommand::Cluster {
                command: ClusterCommand::Create,
            } => ecs::create_cluster(ctx).await,
            AwsCommand::Lb {
                command: LbCommand::Create,
            } => ecs::create_load_balancer(ctx).await,
            AwsCommand::Service {
                command: ServiceCommand::Create { service },
            } => ecs::create_services(ctx, service).await,
            AwsCommand::Deploy(args) => ecs::deploy(ctx, &args).await,
            AwsCommand::Diff { service } => ecs::diff(ctx, service).await,
            AwsCommand::Rollback(args) => ecs::rollback(ctx, &args).await,
            AwsCommand::Status { service } => ecs::status(ctx, service).await,
            AwsCommand::Connect { service, command } => ecs::connect(ctx, service, &command).await,
            AwsCommand::Logs(args) => ecs::logs(ctx, &args).await,
            AwsCommand::Task(args) => ecs::task(ctx, &args).await,
            AwsCommand::Scale(args) => ecs::scale(ctx, &args).await,
            AwsCommand::Verify {
                service,
                before_build,
            } => ecs::verify(ctx, service, before_build).await,
            AwsCommand::Promote(args) => promote::promote(ctx, &args).await,
        }
    })
}
