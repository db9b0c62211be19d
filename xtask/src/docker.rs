//! `build`, `run`, `up` and `down`: the docker CLI and docker compose, through
//! the `exec` wrapper.

use std::collections::BTreeMap;
use std::io::IsTerminal as _;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _, Result};

use crate::ctx::Ctx;
use crate::errors::BadInput;
use crate::exec::{cmd, Cmd};
use crate::flags::{BaseImages, BuildArgs, RunArgs, UpArgs};
use crate::services::{self, BaseImage, Service, ALL_BASE_IMAGES, NETWORK};
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

/// Build args every image of `service` gets: its base images, and the values
/// it bakes in at build time (from the environment, else its env file).
fn build_args(
    ctx: &Ctx,
    service: &'static Service,
    extra: &[(String, String)],
) -> Result<BTreeMap<String, String>> {
    let mut args: BTreeMap<String, String> = service
        .base_images
        .iter()
        .map(|b| (b.arg.to_string(), base_image(ctx, b)))
        .collect();
    if !service.build_args_from_env.is_empty() {
        let file = ensure_env_file(ctx, service)?;
        for &key in service.build_args_from_env {
            let value = std::env::var(key)
                .ok()
                .filter(|v| !v.is_empty())
                .or_else(|| file.get(key).cloned());
            args.insert(key.to_string(), value.unwrap_or_default());
        }
    }
    args.extend(extra.iter().cloned());
    Ok(args)
}

/// The service's env file as written by `cargo xtask env`, generated first
/// when missing.
fn ensure_env_file(ctx: &Ctx, service: &'static Service) -> Result<BTreeMap<String, String>> {
    let path = service.env_file(&ctx.root);
    if path.exists() {
        return env::read_env_file(&path);
    }
    if ctx.dry_run {
        let rendered = env::render(&[service], &env::process_env, false)?;
        return Ok(env::parse_env_text(&rendered[0].1));
    }
    println!("{} is missing: generating it", path.display());
    env::write(ctx, &[service])?;
    env::read_env_file(&path)
}

pub fn build_command(ctx: &Ctx, service: &'static Service, args: &BuildArgs) -> Result<Cmd> {
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
    for (k, v) in build_args(ctx, service, &args.build_arg)? {
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
