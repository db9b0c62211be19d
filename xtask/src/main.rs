//! `cargo xtask`: Cruddur's one tool for env files, docker, ECR, ECS and the
//! local sandbox. This file holds the command line; each concern lives in its
//! own module.

mod docker;
mod env;
mod exec;
mod sandbox;
mod services;
mod testing;
mod util;

#[cfg(feature = "aws")]
mod aws;
#[cfg(feature = "aws")]
mod bench;
#[cfg(feature = "aws")]
mod demo;
#[cfg(feature = "aws")]
mod ecr;
#[cfg(feature = "aws")]
mod ecs;

use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use exec::{BadInput, Ctx};
use services::{Selection, Service};

#[derive(Parser)]
#[command(name = "cargo xtask", bin_name = "cargo xtask", version, about, long_about = None)]
struct Cli {
    /// Print every docker command and AWS call that would be made; make none.
    #[arg(long, global = true)]
    dry_run: bool,
    /// Print more: read-only commands too.
    #[arg(short, long, global = true)]
    verbose: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Args, Clone, Debug)]
pub struct AwsOpts {
    /// ECS cluster.
    #[arg(
        long,
        global = true,
        env = "CRUDDUR_CLUSTER",
        default_value = "cruddur"
    )]
    pub cluster: String,
}

#[derive(Subcommand)]
enum Command {
    /// Render backend-flask.env and frontend-react-js.env from the environment.
    Env {
        #[arg(value_parser = services::parse_selection, default_value = "all", value_name = "backend|frontend|all")]
        service: Selection,
        /// Print the files instead of writing them (secrets as *** unless --show-secrets).
        #[arg(long)]
        stdout: bool,
        /// With --stdout: show secret values.
        #[arg(long, requires = "stdout")]
        show_secrets: bool,
        /// Exit 1 if the files on disk differ from what would be written.
        #[arg(long, conflicts_with = "stdout")]
        check: bool,
    },
    /// docker build a service's image (prod Dockerfile unless --dev).
    Build(docker::BuildArgs),
    /// docker run a service's prod image on the cruddur-net network.
    Run(docker::RunArgs),
    /// Start the local stack with docker compose (env files generated first).
    Up {
        /// Build the images before starting.
        #[arg(long)]
        build: bool,
    },
    /// Stop and remove the local compose stack.
    Down,
    /// ECR: repositories, login, base-image mirror.
    Ecr {
        #[command(subcommand)]
        command: EcrCommand,
    },
    /// Tag the prod image as latest and the git short sha, push both, report the digest.
    Push(PushArgs),
    /// ECS cluster.
    Cluster {
        #[command(subcommand)]
        command: ClusterCommand,
        #[command(flatten)]
        aws: AwsOpts,
    },
    /// ECS services.
    Service {
        #[command(subcommand)]
        command: ServiceCommand,
        #[command(flatten)]
        aws: AwsOpts,
    },
    /// Build, push, register, update and wait until the new deployment has succeeded.
    Deploy(DeployArgs),
    /// What deploy would change in the task definition and service.
    Diff {
        #[arg(value_parser = services::parse_one, value_name = "backend|frontend")]
        service: &'static Service,
        #[command(flatten)]
        aws: AwsOpts,
    },
    /// Back to the previous (or given) task definition revision, and wait.
    Rollback {
        #[arg(value_parser = services::parse_one, value_name = "backend|frontend")]
        service: &'static Service,
        /// Task definition revision to go back to (default: the one before the current).
        #[arg(long, value_name = "REV")]
        to: Option<u32>,
        #[command(flatten)]
        watch: WatchOpts,
        #[command(flatten)]
        aws: AwsOpts,
    },
    /// Per service: revision, image, counts, rollout state, recent events.
    Status {
        #[arg(value_parser = services::parse_selection, default_value = "all", value_name = "backend|frontend|all")]
        service: Selection,
        #[command(flatten)]
        aws: AwsOpts,
    },
    /// ECS exec into the service's container (needs the aws CLI and the Session Manager plugin).
    Connect {
        #[arg(value_parser = services::parse_one, value_name = "backend|frontend")]
        service: &'static Service,
        /// Command to run in the container.
        #[arg(long, default_value = "/bin/bash")]
        command: String,
        #[command(flatten)]
        aws: AwsOpts,
    },
    /// Local stand-ins for AWS (moto) and ECR (a registry with basic auth), on loopback.
    Sandbox {
        #[command(subcommand)]
        command: sandbox::SandboxCommand,
    },
    /// The quick start: sandbox, images, push and deploy of both services, then status.
    Demo(DemoArgs),
    /// Run every test: unit, integration on the sandbox, backend pytest, frontend and browser tests.
    Test(testing::TestArgs),
    /// Measure the tool and print a table (ratios against the shell-script baseline).
    Bench(BenchArgs),
}

#[derive(Args, Debug, Clone)]
pub struct DemoArgs {
    /// First of the sandbox's three loopback ports (0: any free ports).
    #[arg(long, default_value_t = sandbox::DEFAULT_PORT_BASE)]
    pub port_base: u16,
    /// Where the sandbox keeps its state (tests run the demo on a sandbox of their own).
    #[arg(long, hide = true)]
    pub state_dir: Option<std::path::PathBuf>,
}

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Also measure cold builds (fresh clone, empty target directory; minutes).
    #[arg(long)]
    pub cold: bool,
    /// Runs per row (uncached builds and cold rows run once).
    #[arg(long, default_value_t = 5)]
    pub runs: usize,
}

#[derive(Subcommand)]
enum EcrCommand {
    /// docker login to the registry with an ECR auth token (password on stdin).
    Login,
    /// Create the ECR repositories (and the base-image mirror); existing ones are fine.
    Create {
        #[arg(value_parser = services::parse_selection, default_value = "all", value_name = "backend|frontend|all")]
        service: Selection,
    },
    /// Copy the Python base image into the account's ECR (cruddur-python).
    MirrorBase,
}

#[derive(Args)]
pub struct PushArgs {
    #[arg(value_parser = services::parse_selection, value_name = "backend|frontend|all")]
    pub service: Selection,
    /// Extra tag to push besides latest and the git short sha.
    #[arg(long, value_name = "T")]
    pub tag: Vec<String>,
    /// Create the ECR repository when it is missing.
    #[arg(long)]
    pub create_repo: bool,
}

#[derive(Subcommand)]
enum ClusterCommand {
    /// Create the ECS cluster (idempotent).
    Create,
}

#[derive(Subcommand)]
enum ServiceCommand {
    /// Create the ECS service(s) from infra/ (idempotent).
    Create {
        #[arg(value_parser = services::parse_selection, value_name = "backend|frontend|all")]
        service: Selection,
    },
}

#[derive(Args, Clone, Debug)]
pub struct WatchOpts {
    /// Give up waiting for the deployment after this long (e.g. 10m, 90s).
    #[arg(long, default_value = "10m", value_parser = util::parse_duration)]
    pub timeout: Duration,
    /// How often to poll ECS.
    #[arg(long, default_value = "5s", value_parser = util::parse_duration)]
    pub poll_interval: Duration,
}

#[derive(Args)]
pub struct DeployArgs {
    #[arg(value_parser = services::parse_selection, value_name = "backend|frontend|all")]
    pub service: Selection,
    /// Use the image already in the registry (tag `latest`) instead of building and pushing.
    #[arg(long)]
    pub no_build: bool,
    /// Return once the service is updated, without watching the deployment.
    #[arg(long)]
    pub no_wait: bool,
    /// On timeout, leave the deployment as it is instead of rolling back.
    #[arg(long)]
    pub no_rollback: bool,
    #[command(flatten)]
    pub watch: WatchOpts,
    #[command(flatten)]
    pub aws: AwsOpts,
}

fn main() -> ExitCode {
    // Set by the re-run of a build without the SDK; the tools this one starts
    // (bench, test) must not inherit it.
    #[cfg(feature = "aws")]
    std::env::remove_var("XTASK_AWS_REEXEC");
    let cli = Cli::parse();
    let ctx = Ctx::from_env(cli.dry_run, cli.verbose);
    match dispatch(&ctx, cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            // One line for the user; the chain of causes only with -v.
            if ctx.verbose {
                eprintln!("error: {err:?}");
            } else {
                eprintln!("error: {err:#}");
            }
            if err.downcast_ref::<BadInput>().is_some() {
                ExitCode::from(2)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

fn dispatch(ctx: &Ctx, command: Command) -> anyhow::Result<()> {
    match command {
        Command::Env {
            service,
            stdout,
            show_secrets,
            check,
        } => env::run(
            ctx,
            &service.services(),
            env::Options {
                stdout,
                show_secrets,
                check,
            },
        ),
        Command::Build(args) => docker::build(ctx, &args),
        Command::Run(args) => docker::run(ctx, &args),
        Command::Up { build } => docker::compose_up(ctx, build),
        Command::Down => docker::compose_down(ctx),
        Command::Sandbox { command } => sandbox::run(ctx, command),
        Command::Test(args) => testing::run(ctx, &args),
        #[cfg(feature = "aws")]
        Command::Demo(args) => demo::run(ctx, &args),
        #[cfg(feature = "aws")]
        Command::Bench(args) => bench::run(ctx, &args),
        aws_command => run_aws(ctx, aws_command),
    }
}

#[cfg(feature = "aws")]
fn run_aws(ctx: &Ctx, command: Command) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        match command {
            Command::Ecr {
                command: EcrCommand::Login,
            } => ecr::login(ctx).await,
            Command::Ecr {
                command: EcrCommand::Create { service },
            } => ecr::create(ctx, service).await,
            Command::Ecr {
                command: EcrCommand::MirrorBase,
            } => ecr::mirror_base(ctx).await,
            Command::Push(args) => ecr::push(ctx, &args).await.map(|_| ()),
            Command::Cluster {
                command: ClusterCommand::Create,
                aws,
            } => ecs::create_cluster(ctx, &aws).await,
            Command::Service {
                command: ServiceCommand::Create { service },
                aws,
            } => ecs::create_services(ctx, &aws, service).await,
            Command::Deploy(args) => ecs::deploy(ctx, &args).await,
            Command::Diff { service, aws } => ecs::diff(ctx, &aws, service).await,
            Command::Rollback {
                service,
                to,
                watch,
                aws,
            } => ecs::rollback(ctx, &aws, service, to, &watch).await,
            Command::Status { service, aws } => ecs::status(ctx, &aws, service).await,
            Command::Connect {
                service,
                command,
                aws,
            } => ecs::connect(ctx, &aws, service, &command).await,
            _ => unreachable!("handled in dispatch"),
        }
    })
}

/// Built without the AWS SDK: hand the command to a build that has it. Cargo
/// keeps both builds, so switching costs only cargo's up-to-date check.
#[cfg(not(feature = "aws"))]
fn run_aws(_ctx: &Ctx, _command: Command) -> anyhow::Result<()> {
    util::reexec_with_aws()
}
