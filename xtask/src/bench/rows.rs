//! The rows of the bench table, each measured in one run against its
//! baseline (the old scripts' way, in `bench/*.sh`) and its floor.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _, Result};
use xshell::cmd;

use super::{measure, nothing, Bench};
use crate::exec::{shell, Cmd};
use crate::flags::BenchArgs;
use crate::infra;
use crate::services::BACKEND;

pub(super) fn all(b: &Bench, args: &BenchArgs) -> Result<()> {
    let wanted = |row: &str| args.only.is_empty() || args.only.iter().any(|o| o == row);
    if wanted("warm") {
        warm(b)?;
    }
    if args.cold && wanted("cold") {
        cold(b)?;
    }
    if wanted("build") {
        builds(b)?;
    }
    if wanted("push") {
        push(b)?;
    }
    if wanted("deploy") {
        deploy(b)?;
    }
    if wanted("load") {
        super::load::load(b)?;
    }
    Ok(())
}

/// A crate with one dependency, built once: what any `cargo run` costs here.
fn floor_crate(b: &Bench) -> Result<PathBuf> {
    let dir = b.ctx.root.join("target/bench/floor");
    std::fs::create_dir_all(dir.join("src"))?;
    std::fs::write(
        dir.join("Cargo.toml"),
        "[package]\nname = \"floor\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[workspace]\n\n[dependencies]\nanyhow = \"1\"\n",
    )?;
    std::fs::write(
        dir.join("src/main.rs"),
        "fn main() -> anyhow::Result<()> { Ok(()) }\n",
    )?;
    let (sh, cargo) = (shell()?, crate::host::cargo());
    sh.change_dir(&dir);
    Cmd::from(cmd!(sh, "{cargo} build --quiet")).read(b.ctx)?;
    Ok(dir)
}

fn warm(b: &Bench) -> Result<()> {
    println!("== warm commands, side by side with `cargo run` of a one-dependency crate");
    let floor_dir = floor_crate(b)?;
    let (sh, cargo) = (shell()?, crate::host::cargo());
    sh.change_dir(&floor_dir);
    let floor = measure(b.runs, nothing, |_| {
        Cmd::from(cmd!(sh, "{cargo} run --quiet"))
            .read(b.ctx)
            .map(drop)
    })?;
    for (name, args) in [
        ("warm `cargo xtask env`", &["env"][..]),
        ("warm `cargo xtask --help`", &["--help"]),
        (
            "warm `cargo xtask build backend --dry-run`",
            &["build", "backend", "--dry-run"],
        ),
    ] {
        let tool = measure(b.runs, nothing, |_| b.tool(args)?.read(b.ctx).map(drop))?;
        b.row(
            name,
            tool,
            None,
            Some(("`cargo run` of a one-dependency crate", floor)),
            Some("≤ 2× floor"),
        );
    }
    Ok(())
}

/// A fresh clone with an empty target directory and an empty cargo registry
/// (crates are downloaded again). What it cannot undo: installed packages.
fn cold(b: &Bench) -> Result<()> {
    println!("== cold: fresh clone, empty target directory and cargo registry");
    let tmp = b.ctx.root.join("target/bench/cold");
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp)?;
    let clone = tmp.join("repo");
    let (sh, cargo, root) = (shell()?, crate::host::cargo(), &b.ctx.root);
    Cmd::from(cmd!(sh, "git clone --quiet {root} {clone}")).read(b.ctx)?;
    let in_clone = |args: &[&str]| {
        Cmd::from(cmd!(sh, "{cargo} xtask {args...}"))
            .dir(&clone)
            .env("CARGO_TARGET_DIR", tmp.join("target").display().to_string())
            .env("CARGO_HOME", tmp.join("cargo-home").display().to_string())
            .env_remove("CARGO_MANIFEST_DIR")
    };
    let env = measure(1, nothing, |_| {
        b.long(&b.on_sandbox(in_clone(&["env"]))).map(drop)
    })?;
    b.row(
        "cold `cargo xtask env` (fresh clone, empty registry)",
        env,
        None,
        None,
        None,
    );
    let status = measure(1, nothing, |_| {
        b.long(&b.on_sandbox(in_clone(&["status", "--dry-run"])))
            .map(drop)
    })?;
    b.row(
        "cold first AWS command `status --dry-run`, after the cold env (compiles the AWS build)",
        status,
        None,
        None,
        None,
    );
    let _ = std::fs::remove_dir_all(&tmp);
    aws_build_cold(b)
}

/// The AWS build alone from an empty target directory and cargo registry,
/// against its floor: a scratch crate of exactly its `aws-*` crates (same
/// versions and features) and tokio with an empty `main`, built the same way.
fn aws_build_cold(b: &Bench) -> Result<()> {
    let tmp = b.ctx.root.join("target/bench/cold-aws");
    let _ = std::fs::remove_dir_all(&tmp);
    let floor_dir = tmp.join("floor");
    std::fs::create_dir_all(floor_dir.join("src"))?;
    let manifest = std::fs::read_to_string(b.ctx.tool_root.join("xtask-aws/Cargo.toml"))?;
    std::fs::write(floor_dir.join("Cargo.toml"), sdk_floor_manifest(&manifest))?;
    std::fs::write(floor_dir.join("src/main.rs"), "fn main() {}\n")?;
    std::fs::copy(
        b.ctx.tool_root.join("xtask-aws/Cargo.lock"),
        floor_dir.join("Cargo.lock"),
    )?;
    let (sh, cargo) = (shell()?, crate::host::cargo());
    let aws_manifest = b.ctx.tool_root.join("xtask-aws/Cargo.toml");
    let cold_build = |manifest: &Path, name: &str| {
        let target = tmp.join(format!("target-{name}"));
        let home = tmp.join(format!("cargo-home-{name}"));
        let _ = std::fs::remove_dir_all(&target);
        let _ = std::fs::remove_dir_all(&home);
        Cmd::from(cmd!(
            sh,
            "{cargo} build --manifest-path {manifest} --target-dir {target}"
        ))
        .env("CARGO_HOME", home.display().to_string())
        .env_remove("CARGO_MANIFEST_DIR")
    };
    let floor_manifest = floor_dir.join("Cargo.toml");
    let floor = measure(1, nothing, |_| {
        b.long(&cold_build(&floor_manifest, "floor")).map(drop)
    })?;
    let aws = measure(1, nothing, |_| {
        b.long(&cold_build(&aws_manifest, "aws")).map(drop)
    })?;
    b.row(
        "AWS build (xtask-aws) alone, cold: empty target directory and registry",
        aws,
        None,
        Some((
            "its aws-* crates and tokio with an empty main, built the same way",
            floor,
        )),
        Some("≤ 1.15× floor"),
    );
    let _ = std::fs::remove_dir_all(&tmp);
    Ok(())
}

/// The floor's manifest: the AWS build's `aws-*` and tokio dependency lines
/// as they are, and its dev profile.
fn sdk_floor_manifest(aws_manifest: &str) -> String {
    let deps: Vec<&str> = aws_manifest
        .lines()
        .filter(|l| l.starts_with("aws-") || l.starts_with("tokio ="))
        .collect();
    format!(
        "[package]\nname = \"sdk-floor\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[workspace]\n\n\
         [dependencies]\n{}\n\n[profile.dev]\ndebug = 0\n\n[profile.dev.package.\"*\"]\ndebug = 0\n",
        deps.join("\n")
    )
}

fn builds(b: &Bench) -> Result<()> {
    println!("== builds");
    let sequential = |extra: &[&str]| -> Result<()> {
        b.long(&b.tool(&[&["build", "backend"], extra].concat())?)?;
        b.long(&b.tool(&[&["build", "frontend"], extra].concat())?)
            .map(drop)
    };
    let together = |extra: &[&str]| {
        b.long(&b.tool(&[&["build", "all"], extra].concat())?)
            .map(drop)
    };
    together(&[])?; // warm docker's cache
    let cached = measure(b.runs, nothing, |_| together(&[]))?;
    let cached_seq = measure(b.runs, nothing, |_| sequential(&[]))?;
    b.row(
        "`build all`, cached",
        cached,
        Some(("backend then frontend, cached", cached_seq)),
        None,
        None,
    );
    let uncached = measure(1, nothing, |_| together(&["--no-cache"]))?;
    let uncached_seq = measure(1, nothing, |_| sequential(&["--no-cache"]))?;
    b.row(
        "`build all`, uncached",
        uncached,
        Some(("backend then frontend, uncached", uncached_seq)),
        None,
        None,
    );
    Ok(())
}

/// The bash baselines in `bench/`, with the sandbox's aws CLI on PATH.
fn baseline(b: &Bench, script: &str) -> Result<Cmd> {
    let venv_bin = b.ctx.root.join("target/sandbox/venv/bin");
    let path = format!(
        "{}:{}",
        venv_bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let sh = shell()?;
    let script = b.ctx.root.join("bench").join(script);
    Ok(b.on_sandbox(Cmd::from(cmd!(sh, "bash {script}")).env("PATH", path)))
}

fn push(b: &Bench) -> Result<()> {
    println!("== push of an unchanged image: what a user types, against the shell's login + push");
    b.tool(&["ecr", "create"])?.read(b.ctx)?;
    b.tool(&["push", "backend"])?.read(b.ctx)?;
    let sha = crate::git::commit_tag(b.ctx)?;
    let registry = b.state.registry();
    let image = BACKEND.image(false);
    let shell_push = || -> Result<super::Stats> {
        measure(b.runs, nothing, |_| {
            baseline(b, "push-baseline.sh")?
                .args([registry.as_str(), &image, BACKEND.repo(), &sha])
                .read(b.ctx)
                .map(drop)
        })
    };
    let baseline_name = "aws ecr get-login-password | docker login; docker tag + push of both tags";
    let cached = measure(b.runs, nothing, |_| {
        b.tool(&["push", "backend"])?.read(b.ctx).map(drop)
    })?;
    let base = shell_push()?;
    b.row(
        "`push backend`, docker's ECR credentials cached",
        cached,
        Some((baseline_name, base)),
        None,
        Some("≤ 0.8× baseline"),
    );
    let sh = shell()?;
    let logout = |_| {
        b.on_sandbox(Cmd::from(cmd!(sh, "docker logout {registry}")))
            .read(b.ctx)
            .map(drop)
    };
    let forced = measure(b.runs, logout, |_| {
        b.tool(&["push", "backend"])?.read(b.ctx).map(drop)
    })?;
    b.row(
        "`push backend`, logged out first (it logs in itself)",
        forced,
        Some((baseline_name, base)),
        None,
        Some("≤ 0.8× baseline"),
    );
    Ok(())
}

/// The task definition as deploy renders it, with one changed value, for the
/// baseline script (the old scripts registered a finished JSON file).
fn rendered_task_definition(b: &Bench, frontend_url: &str, file: &Path) -> Result<()> {
    let digest_out = baseline(b, "image-digest.sh")?
        .arg(BACKEND.repo())
        .read(b.ctx)?;
    let image = format!(
        "{}/{}@{}",
        b.state.registry(),
        BACKEND.repo(),
        digest_out.trim()
    );
    let mut settings = b.state.settings(&b.ctx.settings);
    settings.frontend_url = Some(frontend_url.into());
    let mut p = infra::Placeholders::from_settings(&settings);
    p.set("AWS_ACCOUNT_ID", "123456789012")
        .set("AWS_REGION", b.state.region.clone())
        .set("IMAGE", image);
    let td = infra::load_task_definition(&BACKEND.task_definition_file(&b.ctx.root), &p)?;
    std::fs::write(file, serde_json::to_string_pretty(&td)?)
        .context("writing the rendered task definition")
}

fn deploy(b: &Bench) -> Result<()> {
    println!("== deploy of one service on the local ECS: new task healthy, old task stopped");
    b.tool(&["ecr", "create"])?.read(b.ctx)?;
    b.tool(&["push", "backend"])?.read(b.ctx)?;
    b.tool(&["cluster", "create"])?.read(b.ctx)?;
    b.long(&b.tool(&["deploy", "backend", "--no-build"])?)?;
    // Each run changes a value so there is a new revision to register and roll out.
    let url = |who: &str, i: usize| format!("https://bench-{who}-{i}.example");
    let tool = measure(b.runs, nothing, |i| {
        let out = b.long(
            &b.tool(&["deploy", "backend", "--no-build"])?
                .env("CRUDDUR_FRONTEND_URL", url("tool", i)),
        )?;
        // A deploy that found nothing to change is no measurement.
        if !out.contains("succeeded: backend-flask:") {
            bail!("the measured deploy rolled nothing out:\n{out}");
        }
        Ok(())
    })?;
    let td_file = b.ctx.root.join("target/bench/task-definition.json");
    let base = measure(
        b.runs,
        |i| rendered_task_definition(b, &url("baseline", i), &td_file),
        |_| {
            b.long(
                &baseline(b, "deploy-baseline.sh")?
                    .arg(td_file.display().to_string())
                    .arg(&b.ctx.settings.cluster)
                    .arg(BACKEND.name),
            )
            .map(drop)
        },
    )?;
    let floor = deploy_floor(b)?;
    b.row(
        "`deploy backend --no-build`, a changed task definition",
        tool,
        Some((
            "bash: register-task-definition, update-service, wait services-stable",
            base,
        )),
        Some((
            "docker run to the first passing health check, the target group's drain, then docker stop of the old one",
            floor,
        )),
        Some("≤ 1.2× floor, below the baseline"),
    );
    Ok(())
}

/// The same change with no tool: a container of the image with the task
/// definition's health check, from `docker run` to its first passing check
/// (at docker's interval), then the old one stopped gracefully after its
/// target group's deregistration delay (behind a load balancer, stopping it
/// sooner cuts the requests in flight; ECS waits the same).
fn deploy_floor(b: &Bench) -> Result<super::Stats> {
    let mut p = infra::Placeholders::from_settings(&b.state.settings(&b.ctx.settings));
    p.set("AWS_ACCOUNT_ID", "123456789012")
        .set("AWS_REGION", b.state.region.clone())
        .set("IMAGE", BACKEND.image(false));
    let td = infra::load_task_definition(&BACKEND.task_definition_file(&b.ctx.root), &p)?;
    let app = td
        .container_definitions
        .iter()
        .find(|c| c.name == BACKEND.name)
        .context("the backend's container")?;
    let health = app
        .health_check
        .clone()
        .context("the backend's health check")?;
    let check = health.command.get(1..).unwrap_or_default().join(" ");
    let mut lb = p.clone();
    lb.set("VPC_ID", "vpc-bench")
        .set("SECURITY_GROUP", "sg-bench")
        .set_list("SUBNETS", vec!["subnet-bench".into()]);
    let lb = infra::load_load_balancer(&infra::load_balancer_file(&b.ctx.root), &lb)?;
    let drain = lb
        .target_group_for(&BACKEND)
        .and_then(|t| t.deregistration_delay_seconds)
        .map_or(Duration::ZERO, |s| {
            Duration::from_secs(s.unsigned_abs().into())
        });
    let flags = vec![
        format!("--health-cmd={check}"),
        format!("--health-interval={}s", health.interval.unwrap_or(30)),
        format!("--health-timeout={}s", health.timeout.unwrap_or(5)),
        format!("--health-retries={}", health.retries.unwrap_or(3)),
        format!(
            "--health-start-period={}s",
            health.start_period.unwrap_or(0)
        ),
    ];
    let (sh, image, network) = (shell()?, BACKEND.image(false), b.state.network.clone());
    let flags = &flags;
    let start = |name: &str| -> Result<()> {
        Cmd::from(cmd!(
            sh,
            "docker run --detach --name {name} --network {network} {flags...} {image}"
        ))
        .read(b.ctx)
        .map(drop)
    };
    let healthy = |name: &str| -> Result<()> {
        let format = "{{.State.Health.Status}}";
        let deadline = Instant::now() + Duration::from_secs(300);
        loop {
            let status =
                Cmd::from(cmd!(sh, "docker inspect --format {format} {name}")).read(b.ctx)?;
            match status.as_str() {
                "healthy" => return Ok(()),
                "unhealthy" => bail!("the floor's container {name} is unhealthy"),
                _ if Instant::now() > deadline => bail!("{name} was not healthy within 300s"),
                _ => std::thread::sleep(Duration::from_millis(100)),
            }
        }
    };
    let remove = |name: &str| {
        let _ = Cmd::from(cmd!(sh, "docker rm --force {name}")).read(b.ctx);
    };
    let names: Vec<String> = (0..=b.runs)
        .map(|i| format!("cruddur-bench-floor-{i}"))
        .collect();
    names.iter().for_each(|n| remove(n));
    start(&names[0])?;
    healthy(&names[0])?;
    let result = measure(b.runs, nothing, |i| {
        let (old, new) = (&names[i], &names[i + 1]);
        start(new)?;
        healthy(new)?;
        std::thread::sleep(drain);
        Cmd::from(cmd!(sh, "docker stop {old}"))
            .read(b.ctx)
            .map(drop)
    });
    names.iter().for_each(|n| remove(n));
    result
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_sdk_floor_has_the_aws_builds_aws_crates_and_tokio_only() {
        let manifest = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../xtask-aws/Cargo.toml"),
        )
        .unwrap();
        let floor = super::sdk_floor_manifest(&manifest);
        for wanted in [
            "aws-config = ",
            "aws-sdk-ecs = ",
            "aws-sdk-ecr = ",
            "tokio = ",
        ] {
            assert!(floor.contains(wanted), "{wanted} missing:\n{floor}");
        }
        for unwanted in ["xtask", "backon", "serde", "clap"] {
            assert!(
                !floor.contains(unwanted),
                "{unwanted} in the floor:\n{floor}"
            );
        }
    }
}
