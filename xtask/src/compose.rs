//! `up` and `down`: the local stack with docker compose, waiting until it is
//! healthy.

use std::time::{Duration, Instant};

use anyhow::Result;
use xshell::cmd;

use crate::ctx::Ctx;
use crate::docker::{base_image, ensure_daemon, ensure_network};
use crate::exec::{shell, Cmd};
use crate::flags::UpArgs;
use crate::services::{self, ALL_BASE_IMAGES};
use crate::{env, poll, util};

/// docker compose v2 (`docker compose`) when the plugin is there, else v1;
/// the base images, build network and publish address as compose's variables.
fn compose(ctx: &Ctx, args: &[&str]) -> Result<Cmd> {
    let sh = shell()?;
    let (file, dir) = (ctx.root.join("docker-compose.yml"), &ctx.root);
    let v2 = !ctx.dry_run && Cmd::from(cmd!(sh, "docker compose version")).succeeds(ctx)?;
    let (program, plugin) = if v2 || ctx.dry_run {
        ("docker", Some("compose"))
    } else {
        ("docker-compose", None)
    };
    let mut c: Cmd = cmd!(
        sh,
        "{program} {plugin...} --file {file} --project-directory {dir} {args...}"
    )
    .into();
    for image in ALL_BASE_IMAGES {
        c = c.env(image.arg, base_image(ctx, image));
    }
    if let Some(network) = &ctx.settings.build_network {
        c = c.env("CRUDDUR_BUILD_NETWORK", network);
    }
    Ok(c.env("CRUDDUR_PUBLISH_ADDRESS", ctx.settings.publish_address()))
}

pub fn up(ctx: &Ctx, args: UpArgs) -> Result<()> {
    ensure_daemon(ctx)?;
    env::write(ctx, &services::ALL)?;
    ensure_network(ctx)?;
    let build = args.build.then_some("--build");
    let mut up_args = vec!["up", "--detach"];
    up_args.extend(build);
    compose(ctx, &up_args)?.run(ctx)?;
    if !ctx.dry_run {
        wait_for_healthy_stack(ctx, Duration::from_secs(300))?;
    }
    Ok(())
}

pub fn down(ctx: &Ctx) -> Result<()> {
    ensure_daemon(ctx)?;
    compose(ctx, &["down", "--remove-orphans"])?.run(ctx)
}

/// Every container of the stack healthy (or running, where it has no healthcheck).
fn wait_for_healthy_stack(ctx: &Ctx, limit: Duration) -> Result<()> {
    let started = Instant::now();
    let mut last = String::new();
    let mut waiting_for = String::new();
    let format =
        "{{.Name}} {{if .State.Health}}{{.State.Health.Status}}{{else}}{{.State.Status}}{{end}}";
    poll::until(
        "the stack being healthy",
        limit,
        Duration::from_secs(2),
        || {
            let ids = compose(ctx, &["ps", "--quiet"])?.read(ctx)?;
            let ids: Vec<&str> = ids.lines().filter(|l| !l.is_empty()).collect();
            let sh = shell()?;
            let containers = ids.clone();
            let states = Cmd::from(cmd!(sh, "docker inspect --format {format} {containers...}"))
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
        },
    )
    .map_err(|e| e.context(format!("still waiting for: {waiting_for}")))?;
    println!("stack is healthy ({})", util::secs(started.elapsed()));
    Ok(())
}
