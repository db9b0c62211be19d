//! The whole command line, and the settings, in one place. Both builds parse
//! it (`xtask` and `xtask-aws`); `Command` splits it into the commands the
//! light build runs itself and those that need the AWS SDK, so a new command
//! without its arm in either dispatch fails to compile.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::duration::parse_duration;
use crate::services::{self, Selection, Service};
pub use crate::settings::{BaseImages, Settings};

#[derive(Parser, Debug)]
#[command(name = "cargo xtask", bin_name = "cargo xtask", version, about, long_about = None)]
pub struct Cli {
    /// Print every docker command and AWS call that would be made; make none.
    #[arg(long, global = true)]
    pub dry_run: bool,
    /// Print more: read-only commands too.
    #[arg(short, long, global = true)]
    pub verbose: bool,
    #[command(flatten)]
    pub settings: Settings,
    #[command(subcommand)]
    pub command: Command,
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
    /// Tag the prod image as latest and the git short sha, push both, report the digest.
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
    },
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

/// moto on this port, the registry on the next, the bridge on the one after.
pub const DEFAULT_PORT_BASE: u16 = 4700;

#[derive(Args, Debug, Clone)]
pub struct SandboxUpArgs {
    /// First of three loopback ports: moto, registry, bridge (0: any free ports).
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
        }
    }
}

#[derive(Args, Debug, Clone)]
pub struct DemoArgs {
    /// First of the sandbox's three loopback ports (0: any free ports).
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
    /// Write the table into the README's Performance section.
    #[arg(long, conflicts_with = "only")]
    pub update_readme: bool,
    /// Only these groups of rows (repeatable).
    #[arg(long, value_parser = ["warm", "cold", "build", "push", "deploy"])]
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
mod tests {
    use super::*;
    use clap::CommandFactory as _;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    /// A child process of the tool gets every setting: `to_env` names each
    /// variable the command line reads.
    #[test]
    fn every_setting_is_handed_to_child_processes() {
        let mut argv = vec!["xtask".to_string(), "status".to_string()];
        let command = Cli::command();
        let declared: Vec<String> = command
            .get_arguments()
            .filter_map(|a| {
                let env = a.get_env()?.to_string_lossy().to_string();
                argv.push(format!("--{}", a.get_long()?));
                argv.push(match a.get_id().as_str() {
                    "base_images" => "public".into(),
                    "lb_port" => "8080".into(),
                    _ => "x".into(),
                });
                Some(env)
            })
            .collect();
        let cli = Cli::try_parse_from(&argv).unwrap();
        let handed: Vec<&str> = cli.settings.to_env().iter().map(|(k, _)| *k).collect();
        for name in &declared {
            assert!(handed.contains(&name.as_str()), "{name} is not handed on");
        }
        assert_eq!(handed.len(), declared.len());
    }

    #[test]
    fn build_arg_needs_a_key() {
        assert_eq!(parse_build_arg("A=b=c"), Ok(("A".into(), "b=c".into())));
        assert!(parse_build_arg("=x").is_err());
        assert!(parse_build_arg("nokey").is_err());
    }

    #[test]
    fn task_role_is_a_role_name_or_arn() {
        assert!(parse_role("CruddurSetupTaskRole").is_ok());
        assert!(parse_role("arn:aws:iam::123456789012:role/path/Setup.Role-1").is_ok());
        assert!(parse_role("").is_err());
        assert!(parse_role("no spaces").is_err());
        assert!(parse_role("arn:aws:iam::123456789012:user/someone").is_err());
        assert!(parse_role(&"r".repeat(65)).is_err());
    }

    #[test]
    fn settings_come_from_flags_and_the_environment_only_through_clap() {
        let cli = Cli::try_parse_from([
            "xtask",
            "status",
            "--cluster",
            "c2",
            "--subnets",
            "subnet-a,subnet-b",
            "--base-images",
            "sandbox",
        ])
        .unwrap();
        assert_eq!(cli.settings.cluster, "c2");
        assert_eq!(cli.settings.subnets, ["subnet-a", "subnet-b"]);
        assert_eq!(cli.settings.base_images, Some(BaseImages::Sandbox));
    }
}
