//! `build`, `run`, `up` and `down`: the docker CLI and docker compose, through
//! the `exec` wrapper.

use std::collections::BTreeMap;
use std::io::IsTerminal as _;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _, Result};

use crate::ctx::sdk_region_from_env;
use crate::ctx::Ctx;
use crate::errors::BadInput;
use crate::exec::{cmd, Cmd};
use crate::flags::{BaseImages, BuildArgs, RunArgs, UpArgs};
use crate::services::{self, Baked, BaseImage, Service, ALL_BASE_IMAGES, BACKEND, NETWORK};
use crate::{env, poll, util};

fn docker() -> Cmd {
    cmd("docker")
}

/// Fails with one line when docker is missing or its daemon is down.
pub fn ensure_daemon(ctx: &Ctx) -> Result<()> {
    if ctx.dry_run {
        return Ok(());
    }
    docker()
        .args(["version", "--format", "{{.Server.Version}}"])
        .read(ctx)
        .map(drop)
}

/// The base image a build uses for `image`, by the base-image setting.
pub fn base_image(ctx: &Ctx, image: &BaseImage) -> String {
    match ctx.base_images() {
        BaseImages::Sandbox => image.sandbox.to_string(),
        BaseImages::Public => image.public.to_string(),
        BaseImages::Mirror => match (image.mirror_repo, ctx.registry_without_aws()) {
            (Some(repo), Some(registry)) => format!("{registry}/{repo}:{}", public_tag(image)),
            _ => image.public.to_string(),
        },
    }
}

/// `python:3.11-slim-bookworm` -> `3.11-slim-bookworm`.
pub fn public_tag(image: &BaseImage) -> &'static str {
    image
        .public
        .rsplit_once(':')
        .map_or("latest", |(_, tag)| tag)
}

/// Build args every image of `service` gets: its base images, and for a prod
/// image the settings it bakes in.
fn build_args(ctx: &Ctx, service: &'static Service, args: &BuildArgs) -> BTreeMap<String, String> {
    let mut out: BTreeMap<String, String> = service
        .base_images
        .iter()
        .map(|b| (b.arg.to_string(), base_image(ctx, b)))
        .collect();
    if !args.dev {
        for (arg, from) in service.baked {
            out.insert((*arg).to_string(), baked(ctx, *from));
        }
    }
    out.extend(args.build_arg.iter().cloned());
    out
}

/// A baked setting's value. The API address defaults to where `cargo xtask
/// run backend` answers (Gitpod, Codespaces or localhost), for local runs.
pub fn baked(ctx: &Ctx, from: Baked) -> String {
    let s = &ctx.settings;
    match from {
        Baked::ApiUrl => s
            .backend_url
            .clone()
            .unwrap_or_else(|| env::public_url(&env::process_env, BACKEND.port)),
        Baked::Region => sdk_region_from_env().unwrap_or_default(),
        Baked::UserPoolId => s.cognito_user_pool_id.clone().unwrap_or_default(),
        Baked::ClientId => s.cognito_client_id.clone().unwrap_or_default(),
        Baked::CognitoEndpoint => s.cognito_endpoint.clone().unwrap_or_default(),
    }
}

/// The label a prod image carries with the API address it calls, so a push
/// can refuse an image built for a laptop.
pub const API_URL_LABEL: &str = "org.cruddur.api-url";

/// An address only a developer's machine answers on.
pub fn is_local_address(url: &str) -> bool {
    let host = url
        .split("://")
        .nth(1)
        .unwrap_or(url)
        .split(['/', ':'])
        .next()
        .unwrap_or("");
    host == "localhost"
        || host.ends_with(".localhost")
        || host.starts_with("127.")
        || host == "0.0.0.0"
        || host == "[::1]"
        || host.ends_with(".gitpod.io")
        || host.ends_with(".github.dev")
        || host.ends_with(".app.github.dev")
}

/// A real ECR registry host (`<account>.dkr.ecr.<region>.amazonaws.com`).
pub fn is_real_ecr(registry: &str) -> bool {
    registry.contains(".dkr.ecr.") && registry.ends_with(".amazonaws.com")
}

/// Refuses a prod image calling a local API address bound for a real ECR.
pub fn refuse_local_api_for_ecr(registry: &str, api_url: &str, image: &str) -> Result<()> {
    if is_real_ecr(registry) && is_local_address(api_url) {
        bail!(BadInput(format!(
            "{image} calls the API at {api_url}, which only a developer's machine answers; \
             it is bound for {registry}: set CRUDDUR_BACKEND_URL to the API's public address and build again"
        )));
    }
    Ok(())
}

/// `run` reads the service's env file: written first when missing.
fn ensure_env_file(ctx: &Ctx, service: &'static Service) -> Result<()> {
    if !service.env_file(&ctx.root).exists() {
        println!(
            "{} is missing: generating it",
            service.env_file(&ctx.root).display()
        );
        env::write(ctx, &[service])?;
    }
    Ok(())
}

pub fn build_command(ctx: &Ctx, service: &'static Service, args: &BuildArgs) -> Result<Cmd> {
    let build_args = build_args(ctx, service, args);
    if let Some(api_url) = build_args.get("REACT_APP_BACKEND_URL") {
        if let Some(registry) = ctx.registry_without_aws() {
            refuse_local_api_for_ecr(&registry, api_url, &service.image(args.dev))?;
        }
    }
    let image = service.image(args.dev);
    let folder = service.folder(&ctx.root);
    let mut c = docker().arg("build").arg("--file").arg(
        folder
            .join(service.dockerfile(args.dev))
            .display()
            .to_string(),
    );
    c = c.arg("--tag").arg(&image);
    for tag in &args.tag {
        let full = if tag.contains([':', '/']) {
            tag.clone()
        } else {
            format!("{image}:{tag}")
        };
        c = c.arg("--tag").arg(full);
    }
    if let Some(network) = &ctx.settings.build_network {
        c = c.arg("--network").arg(network);
    }
    if args.no_cache {
        c = c.arg("--no-cache");
    }
    if let Some(api_url) = build_args
        .get("REACT_APP_BACKEND_URL")
        .filter(|_| !args.dev)
    {
        c = c.arg("--label").arg(format!("{API_URL_LABEL}={api_url}"));
    }
    for (k, v) in build_args {
        c = c.arg("--build-arg").arg(format!("{k}={v}"));
    }
    Ok(c.arg(folder.display().to_string()))
}

pub fn build(ctx: &Ctx, args: &BuildArgs) -> Result<()> {
    ensure_daemon(ctx)?;
    let services = args.service.services();
    let commands: Vec<(&'static Service, Cmd)> = services
        .iter()
        .map(|s| Ok((*s, build_command(ctx, s, args)?)))
        .collect::<Result<_>>()?;
    let started = Instant::now();
    let results: Vec<(&Service, Result<()>)> = if commands.len() == 1 {
        let (service, c) = &commands[0];
        vec![(*service, c.run(ctx))]
    } else {
        // Both at once: each line prefixed with its service so the logs stay readable.
        std::thread::scope(|scope| {
            let handles: Vec<_> = commands
                .iter()
                .map(|(service, c)| {
                    let prefix = format!("[{}] ", service.name);
                    (
                        *service,
                        scope.spawn(move || c.run_lines(ctx, &prefix).map(drop)),
                    )
                })
                .collect();
            handles
                .into_iter()
                .map(|(s, h)| {
                    (
                        s,
                        h.join()
                            .unwrap_or_else(|_| Err(anyhow::anyhow!("panicked"))),
                    )
                })
                .collect()
        })
    };
    report_builds(ctx, args.dev, results, started.elapsed())
}

fn report_builds(
    ctx: &Ctx,
    dev: bool,
    results: Vec<(&Service, Result<()>)>,
    took: Duration,
) -> Result<()> {
    let mut failed = Vec::new();
    for (service, result) in results {
        match result {
            Ok(()) if !ctx.dry_run => {
                println!("built {} ({})", service.image(dev), util::secs(took));
            }
            Ok(()) => {}
            Err(e) => {
                eprintln!("build of {service} failed: {e:#}");
                failed.push(service.name);
            }
        }
    }
    if !failed.is_empty() {
        bail!(
            "docker build failed for {} (see its output above)",
            failed.join(" and ")
        );
    }
    Ok(())
}

pub fn ensure_network(ctx: &Ctx) -> Result<()> {
    let exists = !ctx.dry_run
        && docker()
            .args(["network", "inspect", NETWORK])
            .succeeds(ctx)?;
    if !exists {
        docker().args(["network", "create", NETWORK]).run(ctx)?;
    }
    Ok(())
}

pub fn run_command(ctx: &Ctx, service: &Service, args: &RunArgs, interactive: bool) -> Cmd {
    let env_file = service.env_file(&ctx.root).display().to_string();
    let port = format!("{0}:{0}", service.port);
    let mut c = docker().args([
        "run",
        "--rm",
        "--name",
        service.name,
        "--env-file",
        &env_file,
    ]);
    c = c.args(["--network", NETWORK, "--publish", &port]);
    if args.detach {
        c = c.arg("--detach");
    } else if interactive {
        c = c.arg("-it").interactive();
    }
    c.arg(service.image(args.dev))
}

pub fn run(ctx: &Ctx, args: &RunArgs) -> Result<()> {
    let service = args.service;
    ensure_daemon(ctx)?;
    if !ctx.dry_run {
        let image = service.image(args.dev);
        if !docker().args(["image", "inspect", &image]).succeeds(ctx)? {
            let dev = if args.dev { " --dev" } else { "" };
            bail!(BadInput(format!(
                "no local image {image}: run `cargo xtask build {}{dev}` first",
                service.short
            )));
        }
        ensure_env_file(ctx, service)?;
        // A container of an earlier `run --detach` holds the name and the port.
        if docker()
            .args(["container", "inspect", service.name])
            .succeeds(ctx)?
        {
            docker().args(["rm", "--force", service.name]).run(ctx)?;
        }
    }
    ensure_network(ctx)?;
    let interactive = std::io::stdin().is_terminal() && std::io::stdout().is_terminal();
    run_command(ctx, service, args, interactive).run(ctx)?;
    if args.detach && !ctx.dry_run {
        wait_until_answering(ctx, service, Duration::from_secs(90))?;
    }
    Ok(())
}

/// Polls the published port until the service answers its health path.
fn wait_until_answering(ctx: &Ctx, service: &Service, limit: Duration) -> Result<()> {
    let url = format!("http://127.0.0.1:{}{}", service.port, service.health_path);
    let started = Instant::now();
    let what = format!("{} answering {url}", service.name);
    poll::until(&what, limit, Duration::from_millis(500), || {
        Ok(matches!(util::http_status(&url), Ok(200)).then_some(()))
    })
    .map_err(|e| {
        let logs = docker()
            .args(["logs", "--tail", "20", service.name])
            .read(ctx)
            .unwrap_or_default();
        e.context(format!(
            "last log lines:\n{logs}\n(see `docker logs {}`)",
            service.name
        ))
    })?;
    println!(
        "{} answers on http://localhost:{} ({})",
        service.name,
        service.port,
        util::secs(started.elapsed())
    );
    Ok(())
}

/// docker compose v2 (`docker compose`) when the plugin is there, else v1.
fn compose(ctx: &Ctx) -> Result<Cmd> {
    let file = ctx.root.join("docker-compose.yml").display().to_string();
    let v2 = !ctx.dry_run
        && docker()
            .args(["compose", "version"])
            .succeeds(ctx)
            .unwrap_or(false);
    let base = if v2 || ctx.dry_run {
        docker().arg("compose")
    } else {
        cmd("docker-compose")
    };
    let mut c = base
        .args(["--file", &file, "--project-directory"])
        .arg(ctx.root.display().to_string());
    for image in ALL_BASE_IMAGES {
        c = c.env(image.arg, base_image(ctx, image));
    }
    if let Some(network) = &ctx.settings.build_network {
        c = c.env("CRUDDUR_BUILD_NETWORK", network);
    }
    Ok(c)
}

pub fn compose_up(ctx: &Ctx, args: UpArgs) -> Result<()> {
    ensure_daemon(ctx)?;
    env::write(ctx, &services::ALL)?;
    ensure_network(ctx)?;
    let mut up = compose(ctx)?.args(["up", "--detach"]);
    if args.build {
        up = up.arg("--build");
    }
    up.run(ctx)?;
    if !ctx.dry_run {
        wait_for_healthy_stack(ctx, Duration::from_secs(300))?;
    }
    Ok(())
}

pub fn compose_down(ctx: &Ctx) -> Result<()> {
    ensure_daemon(ctx)?;
    compose(ctx)?.args(["down", "--remove-orphans"]).run(ctx)
}

/// Every container of the stack healthy (or running, where it has no healthcheck).
fn wait_for_healthy_stack(ctx: &Ctx, limit: Duration) -> Result<()> {
    let started = Instant::now();
    let mut last = String::new();
    let mut waiting_for = String::new();
    poll::until("the stack being healthy", limit, Duration::from_secs(2), || {
        let ids = compose(ctx)?.args(["ps", "--quiet"]).read(ctx)?;
        let ids: Vec<&str> = ids.lines().filter(|l| !l.is_empty()).collect();
        let states = docker()
            .args(["inspect", "--format", "{{.Name}} {{if .State.Health}}{{.State.Health.Status}}{{else}}{{.State.Status}}{{end}}"])
            .args(ids.iter().copied())
            .read(ctx)?;
        if states != last {
            for line in states.lines() {
                println!("  {}", line.trim_start_matches('/'));
            }
            last.clone_from(&states);
        }
        let waiting: Vec<&str> = states
            .lines()
            .filter(|l| !(l.ends_with(" healthy") || l.ends_with(" running")))
            .collect();
        waiting_for = waiting.join(", ");
        Ok((!ids.is_empty() && waiting.is_empty()).then_some(()))
    })
    .map_err(|e| e.context(format!("still waiting for: {waiting_for}")))?;
    println!("stack is healthy ({})", util::secs(started.elapsed()));
    Ok(())
}

/// A label of a local image (None: no such label).
pub fn image_label(ctx: &Ctx, image: &str, label: &str) -> Result<Option<String>> {
    let format = format!("{{{{index .Config.Labels \"{label}\"}}}}");
    let value = docker()
        .args(["image", "inspect", "--format", &format, image])
        .read(ctx)
        .context("asking docker for the image's labels")?;
    Ok(Some(value).filter(|v| !v.is_empty() && v != "<no value>"))
}

/// Does the local image exist? (push and deploy check before they start)
pub fn image_exists(ctx: &Ctx, image: &str) -> Result<bool> {
    docker()
        .args(["image", "inspect", "--format", "{{.Id}}", image])
        .succeeds(ctx)
        .context("asking docker for the image")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::services::{Selection, BACKEND};

    fn ctx() -> Ctx {
        Ctx::for_tests()
    }

    #[test]
    fn laptop_addresses_are_refused_for_a_real_ecr_only() {
        for url in [
            "http://localhost:4567",
            "http://127.0.0.1:4790",
            "https://4567-abc.ws-eu1.gitpod.io",
            "https://x-4567.app.github.dev/",
        ] {
            assert!(is_local_address(url), "{url}");
            let err = refuse_local_api_for_ecr("1234.dkr.ecr.us-east-1.amazonaws.com", url, "f")
                .unwrap_err();
            assert!(err.to_string().contains("CRUDDUR_BACKEND_URL"), "{err}");
            assert!(refuse_local_api_for_ecr("127.0.0.1:4701", url, "f").is_ok());
        }
        assert!(!is_local_address("https://api.cruddur.com"));
        assert!(refuse_local_api_for_ecr(
            "1234.dkr.ecr.us-east-1.amazonaws.com",
            "https://api.cruddur.com",
            "f"
        )
        .is_ok());
    }

    #[test]
    fn run_command_matches_the_contract() {
        let args = RunArgs {
            service: &BACKEND,
            detach: false,
            dev: false,
        };
        let argv = run_command(&ctx(), &BACKEND, &args, true).argv();
        assert_eq!(
            argv,
            [
                "docker",
                "run",
                "--rm",
                "--name",
                "backend-flask",
                "--env-file",
                "/repo/backend-flask.env",
                "--network",
                "cruddur-net",
                "--publish",
                "4567:4567",
                "-it",
                "backend-flask-prod"
            ]
        );
        let not_a_tty = run_command(&ctx(), &BACKEND, &args, false).argv();
        assert!(!not_a_tty.contains(&"-it".to_string()));
        let detached = RunArgs {
            detach: true,
            ..args
        };
        assert!(run_command(&ctx(), &BACKEND, &detached, true)
            .argv()
            .contains(&"--detach".to_string()));
    }

    #[test]
    fn build_command_uses_the_prod_dockerfile_and_base_image_args() {
        let args = BuildArgs {
            service: Selection::One(&BACKEND),
            dev: false,
            no_cache: false,
            tag: vec!["v1".into(), "registry.example/x:y".into()],
            build_arg: vec![("EXTRA".into(), "1".into())],
        };
        let argv = build_command(&ctx(), &BACKEND, &args).unwrap().argv();
        let joined = argv.join(" ");
        assert!(joined.starts_with(
            "docker build --file /repo/backend-flask/Dockerfile.prod --tag backend-flask-prod"
        ));
        assert!(joined.contains("--tag backend-flask-prod:v1 --tag registry.example/x:y"));
        assert!(argv.iter().any(|a| a.starts_with("PYTHON_IMAGE=")));
        assert!(argv.contains(&"EXTRA=1".to_string()));
        assert_eq!(argv.last().unwrap(), "/repo/backend-flask");
        let dev = BuildArgs { dev: true, ..args };
        let argv = build_command(&ctx(), &BACKEND, &dev).unwrap().argv();
        let joined = argv.join(" ");
        assert!(
            joined.starts_with(
                "docker build --file /repo/backend-flask/Dockerfile --tag backend-flask "
            ),
            "{joined}"
        );
    }
}
