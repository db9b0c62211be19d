//! `up` and `down`: the local stack with docker compose, waiting until it is
//! healthy; the stack's DynamoDB (moto, built from `dynamodb-local/`); the
//! database's schema and seed and the messages table, by the backend's own
//! idempotent set-up scripts.

use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use xshell::cmd;

use crate::ctx::Ctx;
use crate::docker::{base_image, ensure_daemon, ensure_network, image_label};
use crate::exec::{shell, Cmd, Stream};
use crate::flags::UpArgs;
use crate::produced::Produced;
use crate::services::{self, ALL_BASE_IMAGES, BACKEND, NETWORK, PYTHON_BASE};
use crate::{duration, env, files, poll};

/// Compose's DynamoDB service: the host the backend's env file points at
/// (`env::DEFAULT_DYNAMODB_ENDPOINT`; a test keeps the two together).
#[cfg(test)]
const DYNAMODB_SERVICE: &str = "dynamodb-local";
/// The image it runs, built from the one recipe in `dynamodb-local/Dockerfile`
/// (by `up`, or by compose itself when plain `docker compose up` finds no image).
pub const DYNAMODB_IMAGE: &str = "cruddur-dynamodb-local";
const DYNAMODB_FOLDER: &str = "dynamodb-local";
/// Holds the hash of the recipe an image was built from.
pub const RECIPE_LABEL: &str = "org.cruddur.recipe";

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
    ensure_dynamodb_image(ctx)?;
    if args.build {
        build_service_images(ctx)?;
    }
    compose(ctx, &["up", "--detach"])?.run(ctx)?;
    if !ctx.dry_run {
        wait_for_healthy_stack(ctx, Duration::from_secs(300))?;
    }
    set_up_data(ctx)
}

pub fn down(ctx: &Ctx) -> Result<()> {
    ensure_daemon(ctx)?;
    compose(ctx, &["down", "--remove-orphans"])?.run(ctx)?;
    remove_network_if_unused(ctx)
}

/// Builds the DynamoDB image unless the local one carries the hash of the
/// current recipe: the Dockerfile, the base image's name and its id (a
/// remade base image rebuilds it too).
fn ensure_dynamodb_image(ctx: &Ctx) -> Result<()> {
    let folder = ctx.root.join(DYNAMODB_FOLDER);
    let dockerfile = folder.join("Dockerfile");
    let base = base_image(ctx, &PYTHON_BASE);
    let recipe = if ctx.dry_run {
        Produced::planned("hash of the Dockerfile and the base image")
    } else {
        let text = std::fs::read_to_string(&dockerfile)
            .with_context(|| format!("reading {}", dockerfile.display()))?;
        let base_id = image_id(ctx, &base).unwrap_or_default();
        let hash = files::recipe_hash(&[&text, &base, &base_id]);
        let built = image_label(ctx, DYNAMODB_IMAGE, RECIPE_LABEL)
            .ok()
            .flatten();
        if built.as_deref() == Some(hash.as_str()) {
            println!("{DYNAMODB_IMAGE} is up to date (recipe {hash})");
            return Ok(());
        }
        Produced::Value(hash)
    };
    let label = format!("{RECIPE_LABEL}={recipe}");
    let base_arg = format!("{}={base}", PYTHON_BASE.arg);
    let network = ctx
        .settings
        .build_network
        .iter()
        .flat_map(|n| ["--network".to_string(), n.clone()]);
    let sh = shell()?;
    let build = Cmd::from(cmd!(
        sh,
        "docker build --file {dockerfile} --tag {DYNAMODB_IMAGE} --label {label} --build-arg {base_arg} {network...} --force-rm {folder}"
    ));
    let log = files::log_file(ctx, "dynamodb-local-build")?;
    if !ctx.dry_run {
        println!(
            "building {DYNAMODB_IMAGE}: moto's DynamoDB FROM {base} (output in {})",
            log.display()
        );
    }
    let started = Instant::now();
    build.stream(ctx, &Stream::logged(&log))?;
    if !ctx.dry_run {
        println!(
            "built {DYNAMODB_IMAGE} ({})",
            duration::secs(started.elapsed())
        );
    }
    Ok(())
}

fn image_id(ctx: &Ctx, image: &str) -> Option<String> {
    let (sh, format) = (shell().ok()?, "{{.Id}}");
    Cmd::from(cmd!(sh, "docker image inspect --format {format} {image}"))
        .read(ctx)
        .ok()
}

/// `up --build`: the two services' images, one line and a heartbeat on the
/// terminal, compose's output in a log. (The DynamoDB image has its own
/// recipe check above.)
fn build_service_images(ctx: &Ctx) -> Result<()> {
    let mut args = vec!["build"];
    args.extend(services::ALL.iter().map(|s| s.name));
    let log = files::log_file(ctx, "compose-build")?;
    if !ctx.dry_run {
        println!(
            "building the stack's images ({}); output in {}",
            services::ALL.map(|s| s.name).join(", "),
            log.display()
        );
    }
    let started = Instant::now();
    compose(ctx, &args)?.stream(ctx, &Stream::logged(&log))?;
    if !ctx.dry_run {
        println!(
            "built the stack's images ({})",
            duration::secs(started.elapsed())
        );
    }
    Ok(())
}

/// The database's migrations and seed (`bin/db-setup`), then the messages
/// table (`bin/ddb-setup`), run in the backend container, so with its env
/// file, against the stores the backend uses: the same scripts as a one-off
/// task in ECS. Both are idempotent: a second `up` applies nothing, seeds
/// nothing into a database with users, and says the table exists.
fn set_up_data(ctx: &Ctx) -> Result<()> {
    for (script, what) in [
        ("bin/db-setup", "setting up the database"),
        ("bin/ddb-setup", "creating the messages table"),
    ] {
        compose(ctx, &["exec", "-T", BACKEND.name, "python3", script])?
            .stream(ctx, &Stream::effect())
            .with_context(|| format!("{what} ({script} in {})", BACKEND.name))?;
    }
    Ok(())
}

/// `up` creates `cruddur-net` when it is missing; `down` removes it unless a
/// container still uses it (one of `cargo xtask run`, or another stack's).
fn remove_network_if_unused(ctx: &Ctx) -> Result<()> {
    let sh = shell()?;
    if !ctx.dry_run {
        let format = "{{range .Containers}}{{.Name}} {{end}}";
        let inspect = cmd!(sh, "docker network inspect --format {format} {NETWORK}");
        let Ok(users) = Cmd::from(inspect).read(ctx) else {
            return Ok(()); // already gone
        };
        if !users.trim().is_empty() {
            println!("kept the {NETWORK} network: used by {}", users.trim());
            return Ok(());
        }
    }
    if Cmd::from(cmd!(sh, "docker network rm {NETWORK}"))
        .run(ctx)
        .is_err()
    {
        println!("kept the {NETWORK} network: a container joined it meanwhile");
    }
    Ok(())
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
    println!("stack is healthy ({})", duration::secs(started.elapsed()));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const COMPOSE_FILE: &str = include_str!("../../docker-compose.yml");
    const DYNAMODB_DOCKERFILE: &str = include_str!("../../dynamodb-local/Dockerfile");
    const SANDBOX_REQUIREMENTS: &str = include_str!("../../sandbox/requirements.txt");

    /// `5.2.1` from a line pinning `moto[...]==5.2.1`.
    fn moto_pin(text: &str) -> Option<&str> {
        let at = text.find("moto[")?;
        let rest = &text[at..];
        let version = &rest[rest.find("]==")? + 3..];
        version
            .split(|c: char| !(c.is_ascii_digit() || c == '.'))
            .next()
    }

    #[test]
    fn the_stack_runs_the_sandboxs_moto() {
        let sandbox = moto_pin(SANDBOX_REQUIREMENTS).expect("moto pinned for the sandbox");
        assert_eq!(moto_pin(DYNAMODB_DOCKERFILE), Some(sandbox));
    }

    #[test]
    fn the_backend_env_points_at_the_compose_dynamodb() {
        assert_eq!(
            env::DEFAULT_DYNAMODB_ENDPOINT,
            format!("http://{DYNAMODB_SERVICE}:8000")
        );
        assert!(COMPOSE_FILE.contains(&format!("\n  {DYNAMODB_SERVICE}:\n")));
        assert!(COMPOSE_FILE.contains(&format!("image: {DYNAMODB_IMAGE}\n")));
        assert!(COMPOSE_FILE.contains(&format!("context: ./{DYNAMODB_FOLDER}\n")));
    }

    /// Every port the stack publishes is on loopback (or the publish-address
    /// setting, whose default is loopback).
    #[test]
    fn compose_publishes_on_loopback_only() {
        let mut ports = 0;
        let mut lines = COMPOSE_FILE.lines();
        while let Some(line) = lines.next() {
            if line.trim() != "ports:" {
                continue;
            }
            for entry in lines
                .by_ref()
                .take_while(|l| l.trim_start().starts_with("- "))
            {
                let value = entry.trim().trim_start_matches("- ").trim_matches('"');
                assert!(
                    value.starts_with("127.0.0.1:")
                        || value.starts_with("${CRUDDUR_PUBLISH_ADDRESS:-127.0.0.1}:"),
                    "{value}"
                );
                ports += 1;
            }
        }
        assert_eq!(ports, 4, "backend, frontend, dynamodb-local, xray-daemon");
    }
}
