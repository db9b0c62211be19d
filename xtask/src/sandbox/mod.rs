//! `cargo xtask sandbox`: local stand-ins for AWS and ECR, on loopback only.
//!
//! - moto (in a virtualenv under `target/sandbox/venv`) answers the AWS APIs;
//! - a `docker-registry` with basic auth, whose user and password are the ones
//!   moto's ECR GetAuthorizationToken hands out, plays ECR's docker endpoint;
//! - a small bridge turns the registry's push notifications into ECR PutImage
//!   calls on moto, so DescribeImages lists what was pushed, with its digest;
//! - the base images the Dockerfiles need are made from Debian packages.
//!
//! Every process is started detached with a pid file; `down` stops only those.

mod base_images;
mod processes;
mod seed;

use std::fs::File;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _, Result};
use serde::{Deserialize, Serialize};

use crate::ctx::Ctx;
use crate::exec::{shell, Cmd};
use crate::flags::{BaseImages, SandboxCommand, SandboxUpArgs, Settings, StateDirArg};
use crate::install::{self, Need};
use crate::util::write_atomic;
use crate::{docker, poll, util};
pub use base_images::ensure_base_images;
use processes::Part;
use xshell::cmd;

pub fn run(ctx: &Ctx, command: SandboxCommand) -> Result<()> {
    match command {
        SandboxCommand::Up(args) => up(ctx, &args).map(drop),
        SandboxCommand::Down(state) => down(ctx, &Layout::new(ctx, &state)),
        SandboxCommand::Status(state) => status(ctx, &Layout::new(ctx, &state)),
        SandboxCommand::BaseImages { force } => {
            install::ensure(ctx, &[&install::DEBOOTSTRAP])?;
            ensure_base_images(ctx, force)
        }
    }
}

/// Where the sandbox keeps things.
pub struct Layout {
    dir: PathBuf,
    /// Shared by every sandbox of the checkout: the virtualenv and the rootfs cache.
    shared: PathBuf,
}

impl Layout {
    pub fn new(ctx: &Ctx, state: &StateDirArg) -> Layout {
        let shared = ctx.root.join("target/sandbox");
        Layout {
            dir: state.state_dir.clone().unwrap_or_else(|| shared.clone()),
            shared,
        }
    }
    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
    fn venv_bin(&self, program: &str) -> PathBuf {
        self.shared.join("venv/bin").join(program)
    }
    pub fn env_file(&self) -> PathBuf {
        self.path("env.sh")
    }
}

/// What `up` leaves for `status`, `down` and the tests.
#[derive(Debug, Serialize, Deserialize)]
pub struct State {
    pub moto_port: u16,
    pub registry_port: u16,
    pub bridge_port: u16,
    pub region: String,
    pub subnets: Vec<String>,
    pub security_group: String,
    pub ecs_running: u32,
}

pub const REGION: &str = "us-east-1";

impl State {
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.moto_port)
    }
    pub fn registry(&self) -> String {
        format!("127.0.0.1:{}", self.registry_port)
    }

    /// The tool's settings for this sandbox: what demo, test and bench use.
    pub fn settings(&self, base: &Settings) -> Settings {
        Settings {
            registry: Some(self.registry()),
            subnets: self.subnets.clone(),
            security_group: Some(self.security_group.clone()),
            base_images: Some(BaseImages::Sandbox),
            build_network: Some("host".into()),
            ..base.clone()
        }
    }

    /// The AWS SDK's variables that point the tool (and the aws CLI) at this sandbox.
    pub fn aws_env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL", self.endpoint()),
            ("AWS_ACCESS_KEY_ID", "sandbox".into()),
            ("AWS_SECRET_ACCESS_KEY", "sandbox".into()),
            ("AWS_REGION", self.region.clone()),
            ("AWS_DEFAULT_REGION", self.region.clone()),
            ("AWS_EC2_METADATA_DISABLED", "true".into()),
        ]
    }

    /// Everything a shell (or a child process) needs: the SDK's variables and the settings.
    pub fn exports(&self) -> Vec<(&'static str, String)> {
        let mut exports = self.aws_env();
        exports.extend(
            self.settings(&Settings::default())
                .to_env()
                .into_iter()
                .filter(|(name, _)| name.starts_with("CRUDDUR_") && *name != "CRUDDUR_CLUSTER"),
        );
        exports
    }
}

pub fn read_state(layout: &Layout) -> Option<State> {
    let text = std::fs::read_to_string(layout.path("state.json")).ok()?;
    serde_json::from_str(&text).ok()
}

/// Brings the sandbox up (or finds it up) and returns its state.
pub fn up(ctx: &Ctx, args: &SandboxUpArgs) -> Result<State> {
    let layout = Layout::new(ctx, &args.state);
    if ctx.dry_run {
        println!("[dry-run] would start moto, the registry and the ECR bridge on 127.0.0.1 and seed them");
        return Ok(State {
            moto_port: args.port_base,
            registry_port: args.port_base + 1,
            bridge_port: args.port_base + 2,
            region: REGION.into(),
            subnets: vec![],
            security_group: String::new(),
            ecs_running: args.ecs_running,
        });
    }
    std::fs::create_dir_all(&layout.dir)
        .with_context(|| format!("creating {}", layout.dir.display()))?;
    // Tests start in parallel processes: one `up` at a time per state dir.
    let lock = File::create(layout.path("lock"))?;
    lock.lock().context("waiting for another `sandbox up`")?;
    let started = Instant::now();
    install::ensure(ctx, &prerequisites(ctx, args))?;
    ensure_docker(ctx, &layout, args.start_docker)?;
    seed::ensure_venv(ctx, &layout)?;
    let state = match read_state(&layout) {
        Some(state) if healthy(&layout, &state) => {
            println!(
                "sandbox already up (moto on {}, registry on {})",
                state.endpoint(),
                state.registry()
            );
            state
        }
        _ => start(ctx, &layout, args)?,
    };
    if !args.no_base_images {
        if docker::ensure_daemon(ctx).is_ok() {
            ensure_base_images(ctx, false)?;
        } else {
            println!("no docker daemon: base images not made (run `cargo xtask sandbox base-images` once one runs)");
        }
    }
    write_exports(&layout, &state)?;
    println!("sandbox up ({})", util::secs(started.elapsed()));
    println!(
        "# point the tool and the aws CLI at it: source {}",
        layout.env_file().display()
    );
    for (k, v) in state.exports() {
        println!("export {k}={v}");
    }
    Ok(state)
}

/// What `up` will run, by the program it starts: the daemon only when none
/// answers, debootstrap only when a base image must be made.
fn prerequisites(ctx: &Ctx, args: &SandboxUpArgs) -> Vec<&'static Need> {
    let mut needs = vec![
        &install::DOCKER_CLIENT,
        &install::REGISTRY,
        &install::PYTHON_VENV,
    ];
    let daemon = docker::ensure_daemon(ctx).is_ok();
    if !daemon {
        needs.push(&install::DOCKERD);
    }
    if !args.no_base_images && (!daemon || base_images::any_missing(ctx)) {
        needs.push(&install::DEBOOTSTRAP);
    }
    needs
}

fn start(ctx: &Ctx, layout: &Layout, args: &SandboxUpArgs) -> Result<State> {
    processes::stop(layout, &[Part::Moto, Part::Registry, Part::Bridge])?;
    let ports = choose_ports(args.port_base)?;
    let (moto_port, registry_port, bridge_port) = (ports[0], ports[1], ports[2]);
    let endpoint = format!("http://127.0.0.1:{moto_port}");

    let sh = shell()?;
    let moto_server = layout.venv_bin("moto_server");
    let (moto_port_arg, bridge_port_arg) = (moto_port.to_string(), bridge_port.to_string());
    let moto = Cmd::from(cmd!(sh, "{moto_server} -H 127.0.0.1 -p {moto_port_arg}"))
        .env("MOTO_ECS_SERVICE_RUNNING", args.ecs_running.to_string());
    processes::spawn(ctx, layout, Part::Moto, &moto)?;
    processes::wait_for(layout, Part::Moto, &format!("{endpoint}/moto-api/"), &[200])?;

    let seeded = seed::seed(ctx, layout, &endpoint, args.registry_password.as_deref())?;

    let (python, script) = (layout.venv_bin("python"), layout.path("ecr_bridge.py"));
    let registry_url = format!("http://127.0.0.1:{registry_port}");
    let bridge = Cmd::from(cmd!(
        sh,
        "{python} {script} --listen-port {bridge_port_arg} --registry {registry_url} --endpoint {endpoint}"
    ))
    .env("AWS_ACCESS_KEY_ID", "sandbox")
        .env("AWS_SECRET_ACCESS_KEY", "sandbox")
        .env("AWS_DEFAULT_REGION", REGION);
    std::fs::write(layout.path("ecr_bridge.py"), include_str!("ecr_bridge.py"))?;
    processes::spawn(ctx, layout, Part::Bridge, &bridge)?;
    processes::wait_for(
        layout,
        Part::Bridge,
        &format!("http://127.0.0.1:{bridge_port}/"),
        &[200],
    )?;

    write_atomic(
        &layout.path("registry.yml"),
        seed::registry_config(layout, registry_port, bridge_port).as_bytes(),
    )?;
    let config = layout.path("registry.yml");
    let registry = Cmd::from(cmd!(sh, "docker-registry serve {config}"));
    processes::spawn(ctx, layout, Part::Registry, &registry)?;
    // 401: up, and asking for the credentials ECR's token carries.
    processes::wait_for(
        layout,
        Part::Registry,
        &format!("http://127.0.0.1:{registry_port}/v2/"),
        &[401],
    )?;

    let state = State {
        moto_port,
        registry_port,
        bridge_port,
        region: REGION.into(),
        subnets: seeded.subnets,
        security_group: seeded.security_group,
        ecs_running: args.ecs_running,
    };
    write_atomic(
        &layout.path("state.json"),
        serde_json::to_string_pretty(&state)?.as_bytes(),
    )?;
    Ok(state)
}

/// Three loopback ports from `base`, or any free ones when `base` is 0.
fn choose_ports(base: u16) -> Result<Vec<u16>> {
    if base != 0 {
        let ports: Vec<u16> = (base..base + 3).collect();
        for &port in &ports {
            if std::net::TcpListener::bind(("127.0.0.1", port)).is_err() {
                bail!("port {port} on 127.0.0.1 is taken: pick other ports with `--port-base N`");
            }
        }
        return Ok(ports);
    }
    // Hold all three listeners until every port is chosen so none repeats.
    let listeners: Vec<std::net::TcpListener> = (0..3)
        .map(|_| std::net::TcpListener::bind(("127.0.0.1", 0)))
        .collect::<std::io::Result<_>>()?;
    listeners
        .iter()
        .map(|l| Ok(l.local_addr()?.port()))
        .collect()
}

fn healthy(layout: &Layout, state: &State) -> bool {
    [Part::Moto, Part::Registry, Part::Bridge]
        .iter()
        .all(|&p| processes::pid_of(layout, p).is_some())
        && util::http_status(&format!("{}/moto-api/", state.endpoint())).is_ok_and(|c| c == 200)
        && util::http_status(&format!("http://{}/v2/", state.registry())).is_ok_and(|c| c == 401)
}

pub fn down(ctx: &Ctx, layout: &Layout) -> Result<()> {
    if ctx.dry_run {
        println!(
            "[dry-run] would stop the sandbox's processes (pid files in {})",
            layout.dir.display()
        );
        return Ok(());
    }
    let stopped = processes::stop(layout, &Part::ALL)?;
    for name in ["state.json", "env.sh", "htpasswd", "registry.yml"] {
        let _ = std::fs::remove_file(layout.path(name));
    }
    // The registry's content only makes sense with the moto that just stopped.
    let _ = std::fs::remove_dir_all(layout.path("registry-data"));
    if stopped.is_empty() {
        println!("sandbox was not running");
    } else {
        println!("stopped {}", stopped.join(", "));
    }
    if layout.dir == layout.shared {
        println!(
            "kept for next time: the base images ({}), the rootfs cache and the moto virtualenv under {}; \
             remove them with `docker rmi {}` and `rm -rf {}`",
            base_images::TAGS.join(", "),
            layout.shared.display(),
            base_images::TAGS.join(" "),
            layout.shared.display()
        );
    }
    Ok(())
}

fn status(ctx: &Ctx, layout: &Layout) -> Result<()> {
    let state = read_state(layout);
    let port = |p: Part| {
        state.as_ref().map(|s| match p {
            Part::Moto => s.moto_port.to_string(),
            Part::Registry => s.registry_port.to_string(),
            Part::Bridge => s.bridge_port.to_string(),
            Part::Dockerd => "-".into(),
        })
    };
    println!("{:<12} {:<8} {:<8} STATE", "PART", "PID", "PORT");
    for part in Part::ALL {
        let pid = processes::pid_of(layout, part);
        let shown_pid = pid.map_or("-".to_string(), |p| p.to_string());
        let port = pid.and_then(|_| port(part)).unwrap_or_else(|| "-".into());
        let state = if pid.is_some() { "running" } else { "stopped" };
        println!("{:<12} {:<8} {:<8} {}", part.name(), shown_pid, port, state);
    }
    let daemon = match docker::ensure_daemon(ctx) {
        Ok(()) if processes::pid_of(layout, Part::Dockerd).is_some() => {
            "running (started by the sandbox)"
        }
        Ok(()) => "running (yours)",
        Err(_) => "not answering",
    };
    println!("docker daemon: {daemon}");
    for (tag, present) in base_images::present(ctx) {
        println!(
            "base image {tag}: {}",
            if present { "present" } else { "missing" }
        );
    }
    if state.is_some() {
        println!("exports: source {}", layout.env_file().display());
    }
    Ok(())
}

fn write_exports(layout: &Layout, state: &State) -> Result<()> {
    let mut text = String::from(
        "# Written by `cargo xtask sandbox up`: points the tool and the aws CLI at the sandbox.\n",
    );
    text.push_str("unset AWS_PROFILE AWS_SESSION_TOKEN\n");
    for (k, v) in state.exports() {
        text.push_str(&format!("export {k}={v}\n"));
    }
    write_atomic(&layout.env_file(), text.as_bytes())
}

/// A docker daemon: the user's if one answers; else, as root under CI (or
/// when asked), one started here with the settings this kind of machine needs.
fn ensure_docker(ctx: &Ctx, layout: &Layout, allowed: bool) -> Result<()> {
    if docker::ensure_daemon(ctx).is_ok() {
        return Ok(());
    }
    if !((allowed || util::ci()) && util::is_root()) {
        println!(
            "no docker daemon answers: start one (`sudo systemctl start docker`, or as root \
             `dockerd --storage-driver=vfs --iptables=false --bridge=none &`); \
             builds, pushes and base images need it"
        );
        return Ok(());
    }
    let sh = shell()?;
    let dockerd = Cmd::from(cmd!(
        sh,
        "dockerd --storage-driver=vfs --iptables=false --bridge=none"
    ));
    processes::spawn(ctx, layout, Part::Dockerd, &dockerd)?;
    let started = Instant::now();
    poll::until(
        "dockerd answering",
        Duration::from_secs(60),
        Duration::from_millis(300),
        || Ok(docker::ensure_daemon(ctx).is_ok().then_some(())),
    )
    .with_context(|| format!("see {}", Part::Dockerd.log_file(layout).display()))?;
    println!(
        "docker daemon started ({}); `sandbox down` stops it",
        util::secs(started.elapsed())
    );
    Ok(())
}
