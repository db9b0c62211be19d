//! `cargo xtask sandbox`: a small AWS account on this machine, loopback only.
//!
//! - the agent (`sandbox/`, Python, in `target/sandbox/venv`): moto for the
//!   AWS APIs, with ECS's service and task layer run for real — tasks are
//!   containers on a docker network of this sandbox, deployments roll and
//!   fail as on ECS, a proxy serves each load balancer listener — plus the
//!   account's PostgreSQL and the ECR push bridge;
//! - a `docker-registry` with basic auth, whose user and password are the ones
//!   ECR's GetAuthorizationToken hands out, plays ECR's docker endpoint;
//! - the base images the Dockerfiles need, made from Debian packages.
//!
//! Every process is started detached with a pid file; `down` stops only those.

mod base_images;
mod dockerd;
mod fork_server;
mod heal;
mod processes;
mod setup;
mod state;
mod tls;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context as _, Result};
use serde::Deserialize;
use xshell::cmd;

use crate::ctx::Ctx;
use crate::environment;
use crate::exec::{shell, Cmd};
use crate::files::write_atomic;
use crate::flags::{SandboxCommand, SandboxUpArgs, StateDirArg};
use crate::install::{self, Need};
use crate::steps::Steps;
use crate::{docker, duration, poll};
pub use base_images::ensure_base_images;
pub use processes::scrubbed;
use processes::Part;
pub use state::{read_state, State, REGION};

pub fn run(ctx: &Ctx, command: SandboxCommand) -> Result<()> {
    match command {
        SandboxCommand::Up(args) => up(ctx, &args).map(drop),
        SandboxCommand::Down(state) => down(ctx, &Layout::new(ctx, &state)),
        SandboxCommand::Status(state) => status(ctx, &Layout::new(ctx, &state)),
        SandboxCommand::BaseImages { force, keyring } => {
            let keyring = match keyring {
                Some(file) if !file.is_file() => bail!(crate::errors::BadInput(format!(
                    "--keyring {}: no such file (a keyring of the keys that sign the Debian releases)",
                    file.display()
                ))),
                Some(file) => file,
                None => {
                    install::ensure(ctx, &[&install::DEBIAN_KEYRING])?;
                    PathBuf::from(install::DEBIAN_ARCHIVE_KEYRING)
                }
            };
            install::ensure(ctx, &[&install::DEBOOTSTRAP, &install::GPGV])?;
            ensure_base_images(ctx, force, &keyring)
        }
    }
}

/// Where a sandbox keeps things.
pub struct Layout {
    dir: PathBuf,
    /// Shared by every sandbox of the checkout: the virtualenv, the rootfs
    /// cache, the docker daemon.
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
    #[cfg(test)]
    fn at(dir: &Path, shared: &Path) -> Layout {
        Layout {
            dir: dir.to_path_buf(),
            shared: shared.to_path_buf(),
        }
    }
    /// Another sandbox of the same checkout.
    fn sibling(&self, dir: &str) -> Layout {
        Layout {
            dir: PathBuf::from(dir),
            shared: self.shared.clone(),
        }
    }
    fn dir(&self) -> &Path {
        &self.dir
    }
    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
    fn shared_path(&self, name: &str) -> PathBuf {
        self.shared.join(name)
    }
    fn venv_bin(&self, program: &str) -> PathBuf {
        self.shared.join("venv/bin").join(program)
    }
    pub fn env_file(&self) -> PathBuf {
        self.path("env.sh")
    }
    /// A name for this sandbox, the same for the same state dir.
    fn id(&self) -> String {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for byte in self.dir.display().to_string().bytes() {
            h = (h ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
        }
        format!("{:08x}", h & 0xffff_ffff)
    }
    /// The docker network the sandbox's tasks run on (a sandbox of its own per state dir).
    fn network(&self) -> String {
        if self.dir == self.shared {
            "cruddur-sandbox".into()
        } else {
            format!("cruddur-sandbox-{}", self.id())
        }
    }
}

/// Brings the sandbox up (or finds it up) and returns its state.
pub fn up(ctx: &Ctx, args: &SandboxUpArgs) -> Result<State> {
    let layout = Layout::new(ctx, &args.state);
    if ctx.dry_run {
        bail!(crate::errors::BadInput(
            "`sandbox up` has no dry run: it starts local processes only (`sandbox status` shows them)".into()
        ));
    }
    std::fs::create_dir_all(&layout.dir)
        .with_context(|| format!("creating {}", layout.dir.display()))?;
    // Tests start in parallel processes: one `up` at a time per state dir.
    let lock = File::create(layout.path("lock"))?;
    lock.lock().context("waiting for another `sandbox up`")?;
    let mut steps = Steps::new("sandbox up");
    steps.run("prerequisites", || {
        install::ensure(ctx, &prerequisites(ctx, args))
    })?;
    steps.run("docker daemon", || {
        dockerd::ensure(ctx, &layout, args.start_docker)
    })?;
    // moto's virtualenv (a minute of pip the first time) needs neither docker
    // nor the images: it is made while they are.
    std::thread::scope(|scope| {
        let venv = scope.spawn(|| setup::ensure_venv(ctx, &layout));
        let images = if args.no_base_images {
            Ok(())
        } else {
            steps.run("base images", || {
                ensure_base_images(ctx, false, Path::new(install::DEBIAN_ARCHIVE_KEYRING))
            })
        };
        let venv = steps.run("virtualenv (made alongside)", || {
            venv.join()
                .unwrap_or_else(|_| Err(anyhow::anyhow!("the virtualenv thread panicked")))
        });
        images.and(venv)
    })?;
    let running = read_state(&layout).filter(|state| healthy(&layout, state));
    let verdict = match &running {
        Some(_) => Some(heal::check(ctx, &layout)?),
        None => None,
    };
    let state = match (running, verdict) {
        (Some(state), Some(heal::Account::Whole)) => already_up(state),
        (Some(state), Some(heal::Account::Reseeded(what))) => {
            println!("sandbox: its account had lost {what}: re-seeded");
            already_up(state)
        }
        (_, verdict) => {
            if let Some(heal::Account::Lost(why)) = verdict {
                println!(
                    "sandbox: its account lost its state ({why}): restarting the sandbox \
                     (its tasks and database go with it; the registry keeps its images)"
                );
            }
            steps.run("AWS, local ECS and registry", || {
                start_on_free_ports(ctx, &layout, args)
            })?
        }
    };
    write_exports(&layout, &state)?;
    println!("sandbox up ({})", duration::secs(steps.elapsed()));
    println!("TLS: {}", tls::describe(&state.ca_file));
    println!(
        "# point the tool and the aws CLI at it: source {} (or, for the tool, --env sandbox: {})",
        layout.env_file().display(),
        layout.path(environment::SANDBOX_FILE).display()
    );
    for (k, v) in state.exports() {
        println!("export {k}={v}");
    }
    Ok(state)
}

fn already_up(state: State) -> State {
    println!(
        "sandbox already up (AWS on {}, registry on {})",
        state.endpoint(),
        state.registry()
    );
    state
}

/// What `up` will run, by the program it starts: the daemon only when none
/// answers, debootstrap (with gpgv and Debian's keyring, which it verifies
/// the releases with) only when a base image must be made.
fn prerequisites(ctx: &Ctx, args: &SandboxUpArgs) -> Vec<&'static Need> {
    let mut needs = vec![
        &install::DOCKER_CLIENT,
        &install::REGISTRY,
        &install::PYTHON_VENV,
        &install::BUSYBOX,
        &install::OPENSSL,
    ];
    let daemon = docker::ensure_daemon(ctx).is_ok();
    if !daemon {
        needs.push(&install::DOCKERD);
    }
    if !args.no_base_images && (!daemon || base_images::any_missing(ctx)) {
        needs.extend([
            &install::DEBOOTSTRAP,
            &install::GPGV,
            &install::DEBIAN_KEYRING,
        ]);
    }
    needs
}

/// What the agent writes once it serves (`sandbox/README.md`: agent.json).
#[derive(Deserialize)]
struct AgentInfo {
    port: u16,
    task_endpoint: String,
    gateway: String,
    network: String,
    seed: Seed,
}

#[derive(Deserialize)]
struct Seed {
    vpc_id: String,
    subnets: Vec<String>,
    security_group: String,
    user_pool_id: String,
    user_pool_client_id: String,
    certificate_arn: Option<String>,
}

fn start(ctx: &Ctx, layout: &Layout, args: &SandboxUpArgs) -> Result<State> {
    processes::stop(layout, &[Part::Registry, Part::Agent])?;
    let _ = std::fs::remove_file(layout.path("agent.json"));
    let ports = choose_ports(args.port_base)?;
    let (moto_port, registry_port, bridge_port, lb_port) = (ports[0], ports[1], ports[2], ports[3]);
    let ca_file = tls::ensure(ctx, layout.dir(), &layout.id())?;
    let secret = random_hex()?;

    let sh = shell()?;
    let python = layout.venv_bin("python");
    let (moto, bridge) = (moto_port.to_string(), bridge_port.to_string());
    let registry = format!("127.0.0.1:{registry_port}");
    let (dir, network) = (layout.dir(), layout.network());
    let policies = ctx.root.join("infra/policies");
    let htpasswd = layout.path("htpasswd");
    let ecs_running = args.ecs_running.to_string();
    // The account's PostgreSQL needs its base image; a sandbox without base images goes without.
    let postgres = docker::image_exists(ctx, crate::services::POSTGRES_BASE.sandbox)?;
    let no_postgres = (!postgres).then_some("--no-postgres");
    let mut agent = Cmd::from(cmd!(
        sh,
        "{python} -m cruddur_sandbox serve --port {moto} --state-dir {dir} --registry {registry} --network {network} --bridge-port {bridge} --seed-policies {policies} --htpasswd {htpasswd} --ecs-running {ecs_running} {no_postgres...}"
    ))
    .env("PYTHONPATH", ctx.tool_root.join("sandbox").display().to_string())
    .env("SANDBOX_BRIDGE_SECRET", &secret)
    // The certificate the seed imports into ACM; the CA's key stays here.
    .env("SANDBOX_TLS_DIR", tls::leaf_dir(dir).display().to_string());
    if let Some(password) = &args.registry_password {
        // An environment variable, not an argument: process lists show arguments.
        agent = agent.env("SANDBOX_REGISTRY_PASSWORD", password);
    }
    let agent_pid = match &args.fork_server {
        Some(socket) => processes::spawn_forked(ctx, layout, Part::Agent, &agent, socket)?,
        None => processes::spawn(ctx, layout, Part::Agent, &agent)?,
    };
    let info_file = layout.path("agent.json");
    let info: AgentInfo = poll::until(
        "the sandbox's AWS side starting",
        Duration::from_secs(180),
        Duration::from_millis(300),
        || {
            if !processes::alive(agent_pid) {
                bail!("it stopped");
            }
            Ok(std::fs::read_to_string(&info_file)
                .ok()
                .and_then(|text| serde_json::from_str(&text).ok()))
        },
    )
    .with_context(|| processes::see_log(layout, Part::Agent))?;

    // The agent writes the registry's config (`sandbox/README.md`: registry.yml),
    // the same file the sandbox's own tests start their registry with.
    let config = layout.path("registry.yml");
    if !config.exists() {
        bail!(
            "the agent wrote no {} (see {})",
            config.display(),
            Part::Agent.log_file(layout).display()
        );
    }
    let registry_cmd = Cmd::from(cmd!(sh, "docker-registry serve {config}"));
    processes::spawn(ctx, layout, Part::Registry, &registry_cmd)?;
    // 401: up, and asking for the credentials ECR's token carries.
    processes::wait_for(
        layout,
        Part::Registry,
        &format!("http://127.0.0.1:{registry_port}/v2/"),
        &[401],
    )?;

    let state = State {
        moto_port: info.port,
        registry_port,
        bridge_port,
        lb_port,
        lb_https_port: ports[4],
        certificate_arn: (info.seed.certificate_arn)
            .context("the agent imported no certificate into ACM (see its log)")?,
        ca_file,
        region: REGION.into(),
        vpc_id: info.seed.vpc_id,
        subnets: info.seed.subnets,
        security_group: info.seed.security_group,
        task_endpoint: info.task_endpoint,
        network: info.network,
        gateway: info.gateway,
        user_pool_id: info.seed.user_pool_id,
        user_pool_client_id: info.seed.user_pool_client_id,
        ecs_running: args.ecs_running,
    };
    write_atomic(
        &layout.path("state.json"),
        serde_json::to_string_pretty(&state)?.as_bytes(),
    )?;
    Ok(state)
}

/// `start`, tried again on other ports when free ports were asked for and
/// one was taken between being chosen and being listened on (parallel tests
/// open connections all the time). A failing `up` leaves nothing of its own
/// running.
fn start_on_free_ports(ctx: &Ctx, layout: &Layout, args: &SandboxUpArgs) -> Result<State> {
    const TRIES: u32 = 3;
    let mut attempt = 1;
    loop {
        let e = match start(ctx, layout, args) {
            Ok(state) => return Ok(state),
            Err(e) => e,
        };
        let _ = processes::stop(layout, &[Part::Registry, Part::Agent]);
        let taken = format!("{e:#}")
            .to_ascii_lowercase()
            .contains("address already in use");
        if args.port_base != 0 || !taken || attempt == TRIES {
            return Err(e);
        }
        println!("sandbox: a port was taken while it started: trying other free ports");
        attempt += 1;
    }
}

fn random_hex() -> Result<String> {
    use std::io::Read as _;
    let mut bytes = [0u8; 16];
    File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .context("reading /dev/urandom")?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Five loopback ports from `base` (AWS, registry, bridge, the load
/// balancer's HTTP and HTTPS listeners), or any free ones when `base` is 0.
fn choose_ports(base: u16) -> Result<Vec<u16>> {
    if base != 0 {
        let ports: Vec<u16> = (base..base + 5).collect();
        for &port in &ports {
            if std::net::TcpListener::bind(("127.0.0.1", port)).is_err() {
                bail!("port {port} on 127.0.0.1 is taken: pick other ports with `--port-base N`");
            }
        }
        return Ok(ports);
    }
    // Hold every listener until all ports are chosen so none repeats.
    let listeners: Vec<std::net::TcpListener> = (0..5)
        .map(|_| std::net::TcpListener::bind(("127.0.0.1", 0)))
        .collect::<std::io::Result<_>>()?;
    listeners
        .iter()
        .map(|l| Ok(l.local_addr()?.port()))
        .collect()
}

fn healthy(layout: &Layout, state: &State) -> bool {
    [Part::Agent, Part::Registry]
        .iter()
        .all(|&p| processes::pid_of(layout, p).is_some())
        && poll::http_status(&format!("{}/moto-api/", state.endpoint())).is_ok_and(|c| c == 200)
        && poll::http_status(&format!("http://{}/v2/", state.registry())).is_ok_and(|c| c == 401)
}

pub fn down(ctx: &Ctx, layout: &Layout) -> Result<()> {
    if ctx.dry_run {
        println!(
            "[dry-run] would stop the sandbox's processes (pid files in {})",
            layout.dir.display()
        );
        return Ok(());
    }
    // The registry first (it notifies the agent), then the agent, which stops
    // and removes every container it started.
    let mut stopped = processes::stop(layout, &[Part::Registry, Part::Agent])?;
    if dockerd::release(layout)? {
        stopped.push(Part::Dockerd.name());
    }
    for name in [
        "state.json",
        "env.sh",
        environment::SANDBOX_FILE,
        "htpasswd",
        "registry.yml",
    ] {
        let _ = std::fs::remove_file(layout.path(name));
    }
    // The CA stays: a browser that trusts it keeps trusting the next sandbox's certificate.
    tls::remove_leaf(layout.dir());
    // The registry's content only makes sense with the account that just stopped.
    let _ = std::fs::remove_dir_all(layout.path("registry-data"));
    if stopped.is_empty() {
        println!("sandbox was not running");
    } else {
        println!("stopped {}", stopped.join(", "));
    }
    if layout.dir == layout.shared {
        println!(
            "kept for next time: the base images ({}), the rootfs cache and the virtualenv under {}; \
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
            Part::Agent => format!("{} (lb {}, {})", s.moto_port, s.lb_port, s.lb_https_port),
            Part::Registry => s.registry_port.to_string(),
            Part::Dockerd => "-".into(),
        })
    };
    println!("{:<10} {:<8} {:<14} STATE", "PART", "PID", "PORT");
    for part in Part::ALL {
        let pid = processes::pid_of(layout, part);
        let shown_pid = pid.map_or("-".to_string(), |p| p.to_string());
        let port = pid.and_then(|_| port(part)).unwrap_or_else(|| "-".into());
        let state = if pid.is_some() { "running" } else { "stopped" };
        println!(
            "{:<10} {:<8} {:<14} {}",
            part.name(),
            shown_pid,
            port,
            state
        );
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
    if processes::pid_of(layout, Part::Agent).is_some() {
        // Services, tasks, load balancers and stand-ins, as the agent sees them.
        let sh = shell()?;
        let (python, dir) = (layout.venv_bin("python"), layout.dir());
        Cmd::from(cmd!(
            sh,
            "{python} -m cruddur_sandbox status --state-dir {dir}"
        ))
        .env(
            "PYTHONPATH",
            ctx.tool_root.join("sandbox").display().to_string(),
        )
        .run(&Ctx {
            dry_run: false,
            verbose: false,
            ..ctx.clone()
        })?;
    }
    if let Some(state) = &state {
        println!("TLS: {}", tls::describe(&state.ca_file));
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
    write_atomic(&layout.env_file(), text.as_bytes())?;
    let toml = basic_toml::to_string(&state.environment())?;
    let text = format!(
        "# Written by `cargo xtask sandbox up`: this sandbox as an environment (`cargo xtask --env sandbox …`).\n\
         # Its ids change with every sandbox: never commit it.\n{toml}"
    );
    write_atomic(&layout.path(environment::SANDBOX_FILE), text.as_bytes())
}
