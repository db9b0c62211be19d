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

use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _, Result};
use clap::Subcommand;
use serde::{Deserialize, Serialize};

use crate::docker;
use crate::env::write_atomic;
use crate::exec::{cmd, Ctx};
use crate::util;

pub use base_images::ensure_base_images;

#[derive(Subcommand, Debug)]
pub enum SandboxCommand {
    /// Start (or reuse) moto, the registry and the bridge, seed them, make the base images, print the exports.
    Up(UpArgs),
    /// Stop what `up` started (only those processes).
    Down {
        #[arg(long, hide = true)]
        state_dir: Option<PathBuf>,
    },
    /// What is running, on which port.
    Status {
        #[arg(long, hide = true)]
        state_dir: Option<PathBuf>,
    },
    /// Make the offline base images from Debian packages (cached: a second run only checks).
    BaseImages {
        /// Rebuild even when the images exist.
        #[arg(long)]
        force: bool,
    },
}

/// moto on this port, the registry on the next, the bridge on the one after.
pub const DEFAULT_PORT_BASE: u16 = 4700;

#[derive(clap::Args, Debug, Clone)]
pub struct UpArgs {
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
    /// Where this sandbox keeps its state (tests run extra sandboxes side by side).
    #[arg(long, hide = true)]
    pub state_dir: Option<PathBuf>,
    /// Give the registry another password than ECR hands out (tests of wrong credentials).
    #[arg(long, hide = true)]
    pub registry_password: Option<String>,
}

pub fn run(ctx: &Ctx, command: SandboxCommand) -> Result<()> {
    match command {
        SandboxCommand::Up(args) => up(ctx, &args).map(drop),
        SandboxCommand::Down { state_dir } => down(ctx, &Layout::new(ctx, state_dir)),
        SandboxCommand::Status { state_dir } => status(ctx, &Layout::new(ctx, state_dir)),
        SandboxCommand::BaseImages { force } => ensure_base_images(ctx, force),
    }
}

/// Where the sandbox keeps things.
pub struct Layout {
    dir: PathBuf,
    /// Shared by every sandbox of the checkout: the virtualenv and the rootfs cache.
    shared: PathBuf,
}

impl Layout {
    pub fn new(ctx: &Ctx, state_dir: Option<PathBuf>) -> Layout {
        let shared = ctx.root.join("target/sandbox");
        Layout {
            dir: state_dir.unwrap_or_else(|| shared.clone()),
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

/// The processes a sandbox runs.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Part {
    Moto,
    Registry,
    Bridge,
    Dockerd,
}

impl Part {
    const ALL: [Part; 4] = [Part::Moto, Part::Registry, Part::Bridge, Part::Dockerd];
    fn name(self) -> &'static str {
        match self {
            Part::Moto => "moto",
            Part::Registry => "registry",
            Part::Bridge => "ecr-bridge",
            Part::Dockerd => "dockerd",
        }
    }
    /// A word of the process's command line, checked before it is signalled,
    /// so a pid reused by another program is never killed.
    fn cmdline_marker(self) -> &'static str {
        match self {
            Part::Moto => "moto_server",
            Part::Registry => "docker-registry",
            Part::Bridge => "ecr_bridge.py",
            Part::Dockerd => "dockerd",
        }
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
    /// The variables that point the tool (and the aws CLI) at this sandbox.
    pub fn exports(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL", self.endpoint()),
            ("AWS_ACCESS_KEY_ID", "sandbox".into()),
            ("AWS_SECRET_ACCESS_KEY", "sandbox".into()),
            ("AWS_REGION", self.region.clone()),
            ("AWS_DEFAULT_REGION", self.region.clone()),
            ("AWS_EC2_METADATA_DISABLED", "true".into()),
            ("CRUDDUR_ECR_REGISTRY", self.registry()),
            ("CRUDDUR_SUBNETS", self.subnets.join(",")),
            ("CRUDDUR_SECURITY_GROUP", self.security_group.clone()),
            ("CRUDDUR_BASE_IMAGES", "sandbox".into()),
            ("CRUDDUR_BUILD_NETWORK", "host".into()),
        ]
    }
}

pub fn read_state(layout: &Layout) -> Option<State> {
    let text = std::fs::read_to_string(layout.path("state.json")).ok()?;
    serde_json::from_str(&text).ok()
}

/// Brings the sandbox up (or finds it up) and returns its state.
pub fn up(ctx: &Ctx, args: &UpArgs) -> Result<State> {
    let layout = Layout::new(ctx, args.state_dir.clone());
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
    install_prerequisites(ctx, &layout)?;
    ensure_docker(ctx, &layout, args.start_docker)?;
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

fn start(ctx: &Ctx, layout: &Layout, args: &UpArgs) -> Result<State> {
    stop_parts(layout, &[Part::Moto, Part::Registry, Part::Bridge])?;
    let ports = choose_ports(args.port_base)?;
    let (moto_port, registry_port, bridge_port) = (ports[0], ports[1], ports[2]);
    let endpoint = format!("http://127.0.0.1:{moto_port}");

    let moto = cmd(&layout.venv_bin("moto_server").display().to_string())
        .args(["-H", "127.0.0.1", "-p", &moto_port.to_string()])
        .env("MOTO_ECS_SERVICE_RUNNING", args.ecs_running.to_string());
    spawn(ctx, layout, Part::Moto, moto)?;
    wait_for(Part::Moto, &format!("{endpoint}/moto-api/"), &[200])?;

    let seeded = seed(ctx, layout, &endpoint, args.registry_password.as_deref())?;

    let bridge = cmd(&layout.venv_bin("python").display().to_string())
        .arg(layout.path("ecr_bridge.py").display().to_string())
        .args(["--listen-port", &bridge_port.to_string()])
        .args([
            "--registry",
            &format!("http://127.0.0.1:{registry_port}"),
            "--endpoint",
            &endpoint,
        ])
        .env("AWS_ACCESS_KEY_ID", "sandbox")
        .env("AWS_SECRET_ACCESS_KEY", "sandbox")
        .env("AWS_DEFAULT_REGION", REGION);
    std::fs::write(layout.path("ecr_bridge.py"), include_str!("ecr_bridge.py"))?;
    spawn(ctx, layout, Part::Bridge, bridge)?;
    wait_for(
        Part::Bridge,
        &format!("http://127.0.0.1:{bridge_port}/"),
        &[200],
    )?;

    write_atomic(
        &layout.path("registry.yml"),
        registry_config(layout, registry_port, bridge_port).as_bytes(),
    )?;
    let registry = cmd("docker-registry")
        .arg("serve")
        .arg(layout.path("registry.yml").display().to_string());
    spawn(ctx, layout, Part::Registry, registry)?;
    // 401: up, and asking for the credentials ECR's token carries.
    wait_for(
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

#[derive(Deserialize)]
struct Seeded {
    subnets: Vec<String>,
    security_group: String,
}

fn seed(ctx: &Ctx, layout: &Layout, endpoint: &str, password: Option<&str>) -> Result<Seeded> {
    let script = layout.path("seed.py");
    std::fs::write(&script, include_str!("seed.py"))?;
    let mut seed = cmd(&layout.venv_bin("python").display().to_string())
        .arg(script.display().to_string())
        .args(["--endpoint", endpoint])
        .arg("--policies")
        .arg(ctx.root.join("infra/policies").display().to_string())
        .arg("--htpasswd")
        .arg(layout.path("htpasswd").display().to_string())
        .env("AWS_ACCESS_KEY_ID", "sandbox")
        .env("AWS_SECRET_ACCESS_KEY", "sandbox")
        .env("AWS_DEFAULT_REGION", REGION);
    if let Some(password) = password {
        // An environment variable, not an argument: process lists show arguments.
        seed = seed.env("SANDBOX_REGISTRY_PASSWORD", password);
    }
    let out = seed.read(ctx).context("seeding moto")?;
    println!(
        "seeded moto: default VPC subnets, security group, IAM roles, log group, SSM parameters"
    );
    serde_json::from_str(&out).with_context(|| format!("reading the seed script's answer: {out}"))
}

fn registry_config(layout: &Layout, port: u16, bridge_port: u16) -> String {
    format!(
        r#"version: 0.1
log:
  level: info
  formatter: text
storage:
  filesystem:
    rootdirectory: {data}
  delete:
    enabled: true
http:
  addr: 127.0.0.1:{port}
  secret: cruddur-sandbox-{port}
auth:
  htpasswd:
    realm: cruddur-sandbox
    path: {htpasswd}
notifications:
  endpoints:
    - name: moto-ecr
      url: http://127.0.0.1:{bridge_port}/events
      timeout: 5s
      threshold: 5
      backoff: 1s
"#,
        data = layout.path("registry-data").display(),
        htpasswd = layout.path("htpasswd").display(),
    )
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

fn spawn(ctx: &Ctx, layout: &Layout, part: Part, command: crate::exec::Cmd) -> Result<()> {
    let log = layout.path(&format!("{}.log", part.name()));
    let child = command
        .spawn_logged(ctx, &log)?
        .context("spawned nothing")?;
    std::fs::write(
        layout.path(&format!("{}.pid", part.name())),
        child.id().to_string(),
    )?;
    println!(
        "started {} (pid {}, log {})",
        part.name(),
        child.id(),
        log.display()
    );
    Ok(())
}

fn wait_for(part: Part, url: &str, expected: &[u16]) -> Result<()> {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(60) {
        if let Ok(code) = util::http_status(url) {
            if expected.contains(&code) {
                return Ok(());
            }
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    bail!(
        "{} did not answer on {url} within 60s (see its log under target/sandbox)",
        part.name()
    )
}

fn healthy(layout: &Layout, state: &State) -> bool {
    [Part::Moto, Part::Registry, Part::Bridge]
        .iter()
        .all(|&p| pid_of(layout, p).is_some())
        && util::http_status(&format!("{}/moto-api/", state.endpoint())).is_ok_and(|c| c == 200)
        && util::http_status(&format!("http://{}/v2/", state.registry())).is_ok_and(|c| c == 401)
}

/// The pid in the part's pid file, if that process is alive and is ours.
fn pid_of(layout: &Layout, part: Part) -> Option<u32> {
    let pid: u32 = std::fs::read_to_string(layout.path(&format!("{}.pid", part.name())))
        .ok()?
        .trim()
        .parse()
        .ok()?;
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    String::from_utf8_lossy(&cmdline)
        .contains(part.cmdline_marker())
        .then_some(pid)
}

fn stop_parts(layout: &Layout, parts: &[Part]) -> Result<Vec<&'static str>> {
    let mut stopped = Vec::new();
    for &part in parts {
        let pid_file = layout.path(&format!("{}.pid", part.name()));
        if let Some(pid) = pid_of(layout, part) {
            terminate(pid)?;
            stopped.push(part.name());
        }
        let _ = std::fs::remove_file(pid_file);
    }
    Ok(stopped)
}

/// SIGTERM, then SIGKILL after 15 s.
fn terminate(pid: u32) -> Result<()> {
    let signal = |sig: &str| {
        std::process::Command::new("kill")
            .args([sig, &pid.to_string()])
            .status()
    };
    signal("-TERM").context("running kill")?;
    let started = Instant::now();
    while Path::new(&format!("/proc/{pid}")).exists() && !is_zombie(pid) {
        if started.elapsed() > Duration::from_secs(15) {
            signal("-KILL")?;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(())
}

fn is_zombie(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            s.rsplit(')')
                .next()
                .unwrap_or("")
                .trim_start()
                .starts_with('Z')
        })
        .unwrap_or(false)
}

pub fn down(ctx: &Ctx, layout: &Layout) -> Result<()> {
    if ctx.dry_run {
        println!(
            "[dry-run] would stop the sandbox's processes (pid files in {})",
            layout.dir.display()
        );
        return Ok(());
    }
    let stopped = stop_parts(layout, &Part::ALL)?;
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
        let pid = pid_of(layout, part);
        let shown_pid = pid.map_or("-".to_string(), |p| p.to_string());
        let port = if pid.is_some() {
            port(part).unwrap_or_else(|| "-".into())
        } else {
            "-".into()
        };
        let state = if pid.is_some() { "running" } else { "stopped" };
        println!("{:<12} {:<8} {:<8} {}", part.name(), shown_pid, port, state);
    }
    let daemon = match docker::ensure_daemon(ctx) {
        Ok(()) if pid_of(layout, Part::Dockerd).is_some() => "running (started by the sandbox)",
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

pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

fn ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// Debian packages and the moto virtualenv. As root missing packages are
/// installed; otherwise the error names them.
fn install_prerequisites(ctx: &Ctx, layout: &Layout) -> Result<()> {
    let wanted = [
        ("docker-registry", "docker-registry"),
        ("debootstrap", "debootstrap"),
        ("docker", "docker.io"),
    ];
    let missing: Vec<&str> = wanted
        .iter()
        .filter(|(program, _)| !util::on_path(program))
        .map(|(_, package)| *package)
        .collect();
    if !missing.is_empty() {
        if !is_root() {
            bail!(
                "the sandbox needs {}: run `sudo apt-get install {}`",
                missing.join(", "),
                missing.join(" ")
            );
        }
        println!("installing {} (Debian packages)", missing.join(", "));
        cmd("apt-get").args(["update", "-qq"]).run(ctx)?;
        cmd("apt-get")
            .args(["install", "-y", "-qq", "--no-install-recommends"])
            .args(missing.iter().copied())
            .env("DEBIAN_FRONTEND", "noninteractive")
            .run(ctx)?;
    }
    ensure_venv(ctx, layout)
}

/// moto, boto3 and bcrypt in `target/sandbox/venv`, from the pinned requirements.
fn ensure_venv(ctx: &Ctx, layout: &Layout) -> Result<()> {
    let requirements = include_str!("requirements.txt");
    let stamp = layout.shared.join("venv/.requirements");
    if std::fs::read_to_string(&stamp).is_ok_and(|s| s == requirements) {
        return Ok(());
    }
    let started = Instant::now();
    println!(
        "installing moto into {} (once)",
        layout.shared.join("venv").display()
    );
    std::fs::create_dir_all(&layout.shared)?;
    cmd("python3")
        .args(["-m", "venv"])
        .arg(layout.shared.join("venv").display().to_string())
        .run(ctx)?;
    let req_file = layout.shared.join("requirements.txt");
    std::fs::write(&req_file, requirements)?;
    cmd(&layout.venv_bin("pip").display().to_string())
        .args(["install", "--quiet", "--disable-pip-version-check", "-r"])
        .arg(req_file.display().to_string())
        .run(ctx)?;
    std::fs::write(&stamp, requirements)?;
    println!("moto installed ({})", util::secs(started.elapsed()));
    Ok(())
}

/// A docker daemon: the user's if one answers; else, as root under CI (or
/// when asked), one started here with the settings this kind of machine needs.
fn ensure_docker(ctx: &Ctx, layout: &Layout, allowed: bool) -> Result<()> {
    if docker::ensure_daemon(ctx).is_ok() {
        return Ok(());
    }
    if !((allowed || ci()) && is_root()) {
        println!(
            "no docker daemon answers: start one (`sudo systemctl start docker`, or as root \
             `dockerd --storage-driver=vfs --iptables=false --bridge=none &`); \
             builds, pushes and base images need it"
        );
        return Ok(());
    }
    let dockerd =
        cmd("dockerd").args(["--storage-driver=vfs", "--iptables=false", "--bridge=none"]);
    spawn(ctx, layout, Part::Dockerd, dockerd)?;
    let started = Instant::now();
    while docker::ensure_daemon(ctx).is_err() {
        if started.elapsed() > Duration::from_secs(60) {
            bail!(
                "dockerd did not answer within 60s: see {}",
                layout.path("dockerd.log").display()
            );
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    println!(
        "docker daemon started ({}); `sandbox down` stops it",
        util::secs(started.elapsed())
    );
    Ok(())
}
