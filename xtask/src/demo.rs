//! `cargo xtask demo`: the quick start. From a fresh machine to both services
//! deployed on the local sandbox, one plain line per step with its duration.
//! Running it again is fast and ends in the same state: base images and
//! docker layers are cached, unchanged task definitions are not re-registered.

use std::time::Instant;

use anyhow::{anyhow, Result};

use crate::docker::{self, BuildArgs};
use crate::exec::Ctx;
use crate::sandbox::{self, UpArgs};
use crate::services::{Selection, ALL};
use crate::{ecr, ecs, env, util, AwsOpts, DemoArgs, DeployArgs, PushArgs, WatchOpts};

/// One step: its name, and what to do when it fails.
fn step<T>(name: &str, hint: &str, f: impl FnOnce() -> Result<T>) -> Result<T> {
    println!("== {name}");
    let started = Instant::now();
    match f() {
        Ok(v) => {
            println!("== {name}: done ({})", util::secs(started.elapsed()));
            Ok(v)
        }
        Err(e) => Err(anyhow!(
            "demo stopped at step \"{name}\": {e:#}\n  what to do: {hint}"
        )),
    }
}

pub fn run(ctx: &Ctx, args: &DemoArgs) -> Result<()> {
    let started = Instant::now();
    let up = UpArgs {
        port_base: args.port_base,
        ecs_running: 1,
        start_docker: true,
        no_base_images: false,
        state_dir: args.state_dir.clone(),
        registry_password: None,
    };
    let state = step(
        "sandbox: docker, moto, registry, base images",
        "see the log files under target/sandbox; `cargo xtask sandbox status` shows what runs",
        || sandbox::up(ctx, &up),
    )?;
    // Every later step talks to the sandbox, exactly as a user who sourced env.sh.
    for (key, value) in state.exports() {
        std::env::set_var(key, value);
    }
    step(
        "env files",
        "set the variables the error names (README: env table)",
        || env::run(ctx, &ALL, env::Options::default()),
    )?;
    let runtime = tokio::runtime::Runtime::new()?;
    let aws = AwsOpts {
        cluster: std::env::var("CRUDDUR_CLUSTER").unwrap_or_else(|_| "cruddur".into()),
    };
    step(
        "ECR repositories",
        "is moto up? `cargo xtask sandbox status`",
        || runtime.block_on(ecr::create(ctx, Selection::All)),
    )?;
    step(
        "ECS cluster",
        "is moto up? `cargo xtask sandbox status`",
        || runtime.block_on(ecs::create_cluster(ctx, &aws)),
    )?;
    step(
        "build both prod images",
        "read the build output above; `cargo xtask build <svc>` retries one",
        || docker::build(ctx, &BuildArgs::prod(Selection::All)),
    )?;
    step(
        "push both images",
        "`cargo xtask ecr login`, then `cargo xtask push all`",
        || {
            let push = PushArgs {
                service: Selection::All,
                tag: vec![],
                create_repo: true,
            };
            runtime.block_on(ecr::push(ctx, &push)).map(drop)
        },
    )?;
    step(
        "deploy both services",
        "`cargo xtask status` shows the deployments; `cargo xtask deploy all --no-build` retries",
        || {
            let deploy = DeployArgs {
                service: Selection::All,
                no_build: true,
                no_wait: false,
                no_rollback: false,
                watch: WatchOpts {
                    timeout: std::time::Duration::from_secs(300),
                    poll_interval: std::time::Duration::from_secs(2),
                },
                aws: aws.clone(),
            };
            runtime.block_on(ecs::deploy(ctx, &deploy))
        },
    )?;
    step("status", "`cargo xtask status`", || {
        runtime.block_on(ecs::status(ctx, &aws, Selection::All))
    })?;
    println!(
        "\ndemo done in {}: both services deployed on the sandbox.",
        util::secs(started.elapsed())
    );
    println!(
        "Point your shell at it with `source {}`.",
        sandbox::Layout::new(ctx, args.state_dir.clone())
            .env_file()
            .display()
    );
    println!("Run the containers locally too:");
    for service in ALL {
        println!(
            "  cargo xtask run {} --detach   # http://localhost:{}",
            service.short, service.port
        );
    }
    println!("  cargo xtask up                  # the whole stack with docker compose");
    println!("Stop the sandbox with `cargo xtask sandbox down`.");
    Ok(())
}
