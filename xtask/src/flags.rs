//! The whole command line, and the settings, in one place. Both builds parse
//! it (`xtask` and `xtask-aws`); `Command` splits it into the commands the
//! light build runs itself and those that need the AWS SDK, so a new command
//! without its arm in either dispatch fails to compile.

use std::path::PathBuf;
use std::time::Duration;

use clap::parser::ValueSource;
use clap::{
    ArgMatches, Args, CommandFactory as _, FromArgMatches as _, Parser, Subcommand, ValueEnum,
};

use crate::duration::parse_duration;
use crate::services::{self, Selection, Service};
pub use crate::settings::{BaseImages, Given, Settings};

#[derive(Parser, Debug)]
#[command(name = "cargo xtask", bin_name = "cargo xtask", version, about, long_about = None)]
pub struct Cli {
    /// Print every docker command and AWS call that would be made; make none.
    #[arg(long, global = true)]
    pub dry_run: bool,
    /// Print more: read-only commands too.
    #[arg(short, long, global = true)]
    pub verbose: bool,
    /// `json`: one JSON document on stdout (status, diff, verify, deploy, rollback), progress on stderr.
    #[arg(long, global = true, value_enum, default_value = "text")]
    pub output: Output,
    #[command(flatten)]
    pub settings: Settings,
    #[command(subcommand)]
    pub command: Command,
}

/// What stdout carries.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Output {
    /// Lines that read well in a terminal and a CI log.
    #[default]
    Text,
    /// One JSON document (the shape of `xtask/schemas/result.schema.json`); progress goes to stderr.
    Json,
}

impl Cli {
    /// The process's command line, noting which settings came from flags and
    /// which from variables (an environment file yields to the first only).
    pub fn parse_args() -> Cli {
        Cli::from_matches(&Cli::command().get_matches()).unwrap_or_else(|e| e.exit())
    }

    /// `parse_args` of `argv` (tests).
    pub fn try_parse_args_from<I, T>(argv: I) -> Result<Cli, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        Cli::from_matches(&Cli::command().try_get_matches_from(argv)?)
    }

    fn from_matches(matches: &ArgMatches) -> Result<Cli, clap::Error> {
        let mut cli = Cli::from_arg_matches(matches)?;
        let mut given = Given::default();
        for arg in Cli::command().get_arguments() {
            let id = arg.get_id().as_str();
            match matches.value_source(id) {
                Some(ValueSource::CommandLine) => given.flags.push(id.to_string()),
                Some(ValueSource::EnvVariable) => {
                    if let Some(var) = arg.get_env() {
                        given
                            .variables
                            .push((id.to_string(), var.to_string_lossy().into_owned()));
                    }
                }
                _ => {}
            }
        }
        cli.settings.given = given;
        Ok(cli)
    }
}

#[derive(Subcommand, Debug)]
pub enum Command {
    #[command(flatten)]
    Local(LocalCommand),
    #[command(flatten)]
    Aws(AwsCommand),
}

/// Commands that need no AWS SDK: the light build runs them itself.
#[derive(Subcommand, Debug)]
pub enum LocalCommand {
    /// Render backend-flask.env and frontend-react-js.env from the environment.
    Env(EnvArgs),
    /// docker build a service's image (prod Dockerfile unless --dev).
    Build(BuildArgs),
    /// docker run a service's prod image on the cruddur-net network.
    Run(RunArgs),
    /// Start the local stack with docker compose (env files generated first).
    Up(UpArgs),
    /// Stop and remove the local compose stack.
    Down,
    /// Local stand-ins for AWS (moto) and ECR (a registry with basic auth), on loopback.
    Sandbox {
        #[command(subcommand)]
        command: SandboxCommand,
    },
    /// The quick start: sandbox, images, push and deploy of both services, then status.
    Demo(DemoArgs),
    /// Run every test: unit, integration on the sandbox, backend pytest, frontend and browser tests.
    Test(TestArgs),
    /// Measure the tool and print a table (ratios against the shell-script baseline).
    Bench(BenchArgs),
}

/// Commands that talk to AWS: run by `xtask-aws`.
#[derive(Subcommand, Debug)]
pub enum AwsCommand {
    /// ECR: repositories, login, base-image mirror.
    Ecr {
        #[command(subcommand)]
        command: EcrCommand,
    },
    /// Tag the prod image with the git short sha and push it, report the digest (latest moves on deploy).
    Push(PushArgs),
    /// ECS cluster.
    Cluster {
        #[command(subcommand)]
        command: ClusterCommand,
    },
    /// The load balancer of infra/load-balancer.json (`cluster create` makes it too).
    Lb {
        #[command(subcommand)]
        command: LbCommand,
    },
    /// ECS services.
    Service {
        #[command(subcommand)]
        command: ServiceCommand,
    },
    /// Build, push, register, update and wait until the new deployment has succeeded.
    Deploy(DeployArgs),
    /// What deploy would change in the task definition and service.
    Diff {
        #[arg(value_parser = services::parse_one, value_name = "backend|frontend")]
        service: &'static Service,
    },
    /// Back to the previous (or given) task definition revision, and wait.
    Rollback(RollbackArgs),
    /// Per service: revision, image, counts, rollout state, recent events.
    Status {
        #[arg(value_parser = services::parse_selection, default_value = "all", value_name = "backend|frontend|all")]
        service: Selection,
    },
    /// ECS exec into the service's container (needs the aws CLI and the Session Manager plugin).
    Connect {
        #[arg(value_parser = services::parse_one, value_name = "backend|frontend")]
        service: &'static Service,
        /// Command to run in the container.
        #[arg(long, default_value = "/bin/bash")]
        command: String,
    },
    /// The services' CloudWatch logs, read from their tasks' own log streams.
    Logs(LogsArgs),
    /// A one-off task of the service's revision with another command; exits with its exit code.
    Task(TaskArgs),
    /// Set the desired count and wait until that many tasks run.
    Scale(ScaleArgs),
    /// Read-only preflight of everything a deploy depends on (also the first step of deploy).
    Verify {
        #[arg(value_parser = services::parse_selection, default_value = "all", value_name = "backend|frontend|all")]
        service: Selection,
        /// Check what a deploy that builds needs: the image is built then, not
        /// looked up in ECR (CI verifies before `deploy` builds and pushes).
        #[arg(long)]
        before_build: bool,
    },
    /// Deploy to one environment the image digests that run in another (no build).
    Promote(PromoteArgs),
}

impl AwsCommand {
    /// The command as typed (the JSON result's `command`).
    pub fn name(&self) -> &'static str {
        match self {
            AwsCommand::Ecr { .. } => "ecr",
            AwsCommand::Push(_) => "push",
            AwsCommand::Cluster { .. } => "cluster",
            AwsCommand::Lb { .. } => "lb",
            AwsCommand::Service { .. } => "service",
            AwsCommand::Deploy(_) => "deploy",
            AwsCommand::Diff { .. } => "diff",
            AwsCommand::Rollback(_) => "rollback",
            AwsCommand::Status { .. } => "status",
            AwsCommand::Connect { .. } => "connect",
            AwsCommand::Logs(_) => "logs",
            AwsCommand::Task(_) => "task",
            AwsCommand::Scale(_) => "scale",
            AwsCommand::Verify { .. } => "verify",
            AwsCommand::Promote(_) => "promote",
        }
    }

    /// Whether `--output json` is understood.
    pub fn has_json_output(&self) -> bool {
        matches!(
            self,
            AwsCommand::Status { .. }
                | AwsCommand::Diff { .. }
                | AwsCommand::Verify { .. }
                | AwsCommand::Deploy(_)
                | AwsCommand::Rollback(_)
        )
    }
}

#[derive(Args, Debug)]
pub struct EnvArgs {
    #[arg(value_parser = services::parse_selection, default_value = "all", value_name = "backend|frontend|all")]
    pub service: Selection,
    /// Print the files instead of writing them (secrets as *** unless --show-secrets).
    #[arg(long)]
    pub stdout: bool,
    /// With --stdout: show secret values.
    #[arg(long, requires = "stdout")]
    pub show_secrets: bool,
    /// Exit 1 if the files on disk differ from what would be written.
    #[arg(long, conflicts_with = "stdout")]
    pub check: bool,
}

#[derive(Args, Debug, Clone)]
pub struct BuildArgs {
    #[arg(value_parser = services::parse_selection, value_name = "backend|frontend|all")]
    pub service: Selection,
    /// Build the dev image (Dockerfile) instead of the prod one (Dockerfile.prod).
    #[arg(long)]
    pub dev: bool,
    /// Extra tag: `T` tags `<image>:T`; a name with `:` or `/` is used as is.
    #[arg(long, value_name = "T")]
    pub tag: Vec<String>,
    /// Build every layer again (ignore docker's cache).
    #[arg(long)]
    pub no_cache: bool,
    /// Extra build arg, passed to every image built.
    #[arg(long = "build-arg", value_name = "K=V", value_parser = parse_build_arg)]
    pub build_arg: Vec<(String, String)>,
}

impl BuildArgs {
    /// The prod images of `service`, as deploy, demo and the tests build them.
    pub fn prod(service: Selection) -> BuildArgs {
        BuildArgs {
            service,
            dev: false,
            tag: vec![],
            no_cache: false,
            build_arg: vec![],
        }
    }
}

/// An IAM role name (IAM's characters, 1 to 64 of them) or a role ARN.
fn parse_role(s: &str) -> Result<String, String> {
    let name = match s.split_once(":role/") {
        Some((prefix, path)) if prefix.starts_with("arn:") && prefix.contains(":iam::") => {
            path.rsplit('/').next().unwrap_or_default()
        }
        _ => s,
    };
    let valid = (1..=64).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c));
    if valid {
        Ok(s.to_string())
    } else {
        Err(format!(
            "{s:?} is not an IAM role name (letters, digits and +=,.@_-, at most 64) or role ARN"
        ))
    }
}

fn parse_build_arg(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .filter(|(k, _)| !k.is_empty())
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .ok_or_else(|| format!("expected K=V, got '{s}'"))
}

#[derive(Args, Debug, Clone)]
pub struct RunArgs {
    #[arg(value_parser = services::parse_one, value_name = "backend|frontend")]
    pub service: &'static Service,
    /// Run in the background and wait until the service answers.
    #[arg(long)]
    pub detach: bool,
    /// Run the dev image instead of the prod one.
    #[arg(long)]
    pub dev: bool,
}

#[derive(Args, Debug, Clone, Copy)]
pub struct UpArgs {
    /// Build the images before starting.
    #[arg(long)]
    pub build: bool,
}

#[derive(Subcommand, Debug)]
pub enum SandboxCommand {
    /// Start (or reuse) moto, the registry and the bridge, seed them, make the base images, print the exports.
    Up(SandboxUpArgs),
    /// Stop what `up` started (only those processes).
    Down(StateDirArg),
    /// What is running, on which port.
    Status(StateDirArg),
    /// Make the offline base images from Debian packages (cached: a second run only checks).
    BaseImages {
        /// Rebuild even when the images exist.
        #[arg(long)]
        force: bool,
        /// The keyring debootstrap verifies each Debian release's signature with
        /// (default: the debian-archive-keyring package's, installed when missing).
        #[arg(long, value_name = "FILE")]
        keyring: Option<PathBuf>,
    },
}

#[derive(Args, Debug, Clone, Default)]
pub struct StateDirArg {
    /// Where this sandbox keeps its state (tests run extra sandboxes side by side).
    #[arg(long, hide = true)]
    pub state_dir: Option<PathBuf>,
}

/// moto on this port, then the registry, the bridge, and the load balancer's HTTP and HTTPS listeners.
pub const DEFAULT_PORT_BASE: u16 = 4700;

#[derive(Args, Debug, Clone)]
pub struct SandboxUpArgs {
    /// First of five loopback ports: moto, registry, bridge, the load balancer's HTTP and
    /// HTTPS listeners (0: any free ports).
    #[arg(long, default_value_t = DEFAULT_PORT_BASE)]
    pub port_base: u16,
    /// Running tasks moto reports for new services: 1 lets deployments complete,
    /// 0 leaves them in progress forever (to try timeouts and rollbacks).
    #[arg(long, default_value_t = 1)]
    pub ecs_running: u32,
    /// Start a docker daemon (as root) when none answers; implied by CI=true.
    #[arg(long)]
    pub start_docker: bool,
    /// Skip making the base images.
    #[arg(long)]
    pub no_base_images: bool,
    #[command(flatten)]
    pub state: StateDirArg,
    /// Another password for the registry than ECR hands out, for tests of wrong
    /// credentials: from the environment only, never a command line.
    #[arg(skip = std::env::var("CRUDDUR_TEST_REGISTRY_PASSWORD").ok())]
    pub registry_password: Option<String>,
    /// Have the fork server listening on SOCKET start the sandbox's server
    /// (`python -m cruddur_sandbox fork-server`, which `cargo xtask test` runs):
    /// moto is imported once for many sandboxes.
    #[arg(long, value_name = "SOCKET")]
    pub fork_server: Option<PathBuf>,
}

impl SandboxUpArgs {
    /// What demo, test and bench start: docker if need be, base images made.
    pub fn for_tools(port_base: u16, state_dir: Option<PathBuf>) -> SandboxUpArgs {
        SandboxUpArgs {
            port_base,
            ecs_running: 1,
            start_docker: true,
            no_base_images: false,
            state: StateDirArg { state_dir },
            registry_password: None,
            fork_server: None,
        }
    }
}

#[derive(Args, Debug, Clone)]
pub struct DemoArgs {
    /// First of the sandbox's five loopback ports (0: any free ports).
    #[arg(long, default_value_t = DEFAULT_PORT_BASE)]
    pub port_base: u16,
    #[command(flatten)]
    pub state: StateDirArg,
}

#[derive(Args, Debug)]
pub struct TestArgs {
    /// Unit tests only (Rust and frontend): no docker, sandbox, database or browser.
    #[arg(long)]
    pub unit: bool,
    /// Extra arguments for `cargo nextest run` (e.g. a test name filter).
    #[arg(last = true)]
    pub nextest: Vec<String>,
}

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Also measure cold builds (fresh clone, empty target directory; minutes).
    #[arg(long)]
    pub cold: bool,
    /// Runs per row (uncached builds and cold rows run once).
    #[arg(long, default_value_t = 5)]
    pub runs: usize,
    /// Write the table into the README's Performance section: the rows measured
    /// replace theirs, the others stay as they are.
    #[arg(long)]
    pub update_readme: bool,
    /// Only these groups of rows (repeatable).
    #[arg(long, value_parser = ["warm", "cold", "build", "push", "deploy", "load"])]
    pub only: Vec<String>,
}

#[derive(Subcommand, Debug)]
pub enum EcrCommand {
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

#[derive(Args, Debug)]
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

#[derive(Subcommand, Debug)]
pub enum ClusterCommand {
    /// Create the ECS cluster and the load balancer (idempotent).
    Create,
}

#[derive(Subcommand, Debug)]
pub enum LbCommand {
    /// Create the load balancer, its target groups, listener and rules, or bring them in line (idempotent).
    Create,
}

#[derive(Subcommand, Debug)]
pub enum ServiceCommand {
    /// Create the ECS service(s) from infra/ (idempotent).
    Create {
        #[arg(value_parser = services::parse_selection, value_name = "backend|frontend|all")]
        service: Selection,
    },
}

#[derive(Args, Clone, Debug)]
pub struct WatchOpts {
    /// Give up waiting for the deployment after this long (e.g. 10m, 90s).
    #[arg(long, default_value = "10m", value_parser = parse_duration)]
    pub timeout: Duration,
    /// How often to poll ECS.
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    pub poll_interval: Duration,
}

#[derive(Args, Debug)]
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
    /// Skip the preflight checks of `cargo xtask verify`.
    #[arg(long)]
    pub no_verify: bool,
    /// Before touching the service, run this command (split like a shell does) as a
    /// one-off task of the new revision; deploy only if it exits 0.
    #[arg(long, value_name = "CMD")]
    pub pre: Option<String>,
    #[command(flatten)]
    pub watch: WatchOpts,
}

#[derive(Args, Debug)]
pub struct PromoteArgs {
    #[arg(value_parser = services::parse_selection, value_name = "backend|frontend|all")]
    pub service: Selection,
    /// The environment whose running image digests are promoted.
    #[arg(long, value_name = "ENV")]
    pub from: String,
    /// The environment they are deployed to (after its `verify`).
    #[arg(long, value_name = "ENV")]
    pub to: String,
    /// On timeout, leave the deployment as it is instead of rolling back.
    #[arg(long)]
    pub no_rollback: bool,
    #[command(flatten)]
    pub watch: WatchOpts,
}

#[derive(Args, Debug)]
pub struct RollbackArgs {
    #[arg(value_parser = services::parse_one, value_name = "backend|frontend")]
    pub service: &'static Service,
    /// Task definition revision to go back to (default: the one before the current).
    #[arg(long, value_name = "REV")]
    pub to: Option<u32>,
    #[command(flatten)]
    pub watch: WatchOpts,
}

#[derive(Args, Debug)]
pub struct LogsArgs {
    #[arg(value_parser = services::parse_selection, value_name = "backend|frontend|all")]
    pub service: Selection,
    /// Keep following: new lines and new tasks' lines as they come, until Ctrl-C.
    #[arg(short, long)]
    pub follow: bool,
    /// Only lines of the last D (default: 15m; with --task or --deployment: all of them).
    #[arg(long, value_name = "D", value_parser = parse_duration)]
    pub since: Option<Duration>,
    /// Only the tasks of this deployment (`latest`: the service's PRIMARY one when the command starts).
    #[arg(long, value_name = "ID|latest", conflicts_with = "task")]
    pub deployment: Option<String>,
    /// Only this task (its id or ARN), running or stopped.
    #[arg(long, value_name = "ID")]
    pub task: Option<String>,
    /// The container whose lines to show (default: the service's own, named like the service).
    #[arg(long, value_name = "NAME")]
    pub container: Option<String>,
}

#[derive(Args, Debug)]
pub struct TaskArgs {
    #[arg(value_parser = services::parse_one, value_name = "backend|frontend")]
    pub service: &'static Service,
    /// Stop the task after this long (e.g. 30m, 90s).
    #[arg(long, default_value = "30m", value_parser = parse_duration)]
    pub timeout: Duration,
    /// Build, push and register a new revision as deploy would, and run that one.
    #[arg(long)]
    pub build: bool,
    /// Run it with this IAM role (a name in the account, or an ARN) as its task
    /// role instead of the revision's: RunTask's `overrides.taskRoleArn` (the
    /// set-up scripts run with `CruddurSetupTaskRole`).
    #[arg(long, value_name = "NAME", value_parser = parse_role)]
    pub task_role: Option<String>,
    /// The command for the service's container, after `--`.
    #[arg(last = true, required = true, value_name = "CMD")]
    pub command: Vec<String>,
}

#[derive(Args, Debug)]
pub struct ScaleArgs {
    #[arg(value_parser = services::parse_selection, value_name = "backend|frontend|all")]
    pub service: Selection,
    /// The number of tasks to run (scaling to 0 remembers the count for --restore).
    #[arg(required_unless_present = "restore", conflicts_with = "restore")]
    pub count: Option<u32>,
    /// Back to the count the service had before `scale <svc> 0`.
    #[arg(long)]
    pub restore: bool,
    #[command(flatten)]
    pub watch: WatchOpts,
}

#[cfg(test)]
mod tests;
