//! `cargo xtask test`: every test of the repository, with what they need.
//! On a fresh Debian machine (as root) it installs the Debian packages the
//! tests use, brings the sandbox up (docker daemon, moto, registry, base
//! images), runs the frontend, backend and Rust suites, and stops what it
//! started. Nothing is skipped quietly: a missing prerequisite fails the run.

use std::time::Instant;

use anyhow::{bail, Result};
use clap::Args;

use crate::docker::{self, BuildArgs};
use crate::exec::{cmd, Ctx};
use crate::sandbox::{self, Layout, UpArgs};
use crate::services::{Selection, BACKEND, FRONTEND};
use crate::util;

#[derive(Args, Debug)]
pub struct TestArgs {
    /// Unit tests only (Rust and frontend): no docker, sandbox, database or browser.
    #[arg(long)]
    pub unit: bool,
    /// Extra arguments for `cargo nextest run` (e.g. a test name filter).
    #[arg(last = true)]
    pub nextest: Vec<String>,
}

/// Debian packages the tests use, by the program that shows they are there.
const TEST_PACKAGES: &[(&str, &str)] = &[
    ("/usr/bin/chromium", "chromium"),
    ("/usr/lib/postgresql", "postgresql"),
    ("/usr/bin/docker-compose", "docker-compose"),
];

struct Steps {
    results: Vec<(String, Result<()>, f64)>,
}

impl Steps {
    fn run(&mut self, name: &str, step: impl FnOnce() -> Result<()>) {
        println!("== {name}");
        let started = Instant::now();
        let result = step();
        let took = started.elapsed().as_secs_f64();
        match &result {
            Ok(()) => println!("== {name}: ok ({took:.1}s)"),
            Err(e) => println!("== {name}: FAILED ({took:.1}s): {e:#}"),
        }
        self.results.push((name.to_string(), result, took));
    }

    fn finish(self, started: Instant) -> Result<()> {
        println!("\ntest summary ({}):", util::secs(started.elapsed()));
        let mut failed = Vec::new();
        for (name, result, took) in &self.results {
            let mark = if result.is_ok() { "ok" } else { "FAILED" };
            println!("  {mark:<7} {name} ({took:.1}s)");
            if result.is_err() {
                failed.push(name.as_str());
            }
        }
        if !failed.is_empty() {
            bail!("{} failed", failed.join(", "));
        }
        Ok(())
    }
}

pub fn run(ctx: &Ctx, args: &TestArgs) -> Result<()> {
    let started = Instant::now();
    let mut steps = Steps {
        results: Vec::new(),
    };
    if args.unit {
        steps.run("frontend unit tests", || frontend_tests(ctx));
        steps.run("rust unit tests", || {
            nextest(ctx, &["--bins"], &args.nextest)
        });
        return steps.finish(started);
    }
    steps.run("test packages", || install_packages(ctx));
    let layout = Layout::new(ctx, None);
    let was_up = sandbox::read_state(&layout).is_some();
    steps.run("sandbox up", || {
        let up = UpArgs {
            port_base: sandbox::DEFAULT_PORT_BASE,
            ecs_running: 1,
            start_docker: true,
            no_base_images: false,
            state_dir: None,
            registry_password: None,
        };
        sandbox::up(ctx, &up).map(drop)
    });
    steps.run("frontend unit tests", || frontend_tests(ctx));
    steps.run("backend tests (pytest)", || backend_tests(ctx));
    steps.run("prod images", || {
        // Built once here so the integration tests find them in docker's cache.
        let all = BuildArgs::prod(Selection::All);
        with_sandbox_env(&layout, || docker::build(ctx, &all))
    });
    steps.run("rust tests (unit and integration)", || {
        nextest(ctx, &[], &args.nextest)
    });
    if !was_up {
        steps.run("sandbox down", || sandbox::down(ctx, &layout));
    }
    steps.finish(started)
}

fn install_packages(ctx: &Ctx) -> Result<()> {
    let missing: Vec<&str> = TEST_PACKAGES
        .iter()
        .filter(|(path, _)| !std::path::Path::new(path).exists())
        .map(|(_, package)| *package)
        .collect();
    if missing.is_empty() {
        println!(
            "present: {}",
            TEST_PACKAGES
                .iter()
                .map(|(_, p)| *p)
                .collect::<Vec<_>>()
                .join(", ")
        );
        return Ok(());
    }
    if !sandbox::is_root() {
        bail!(
            "the tests need {}: run `sudo apt-get install {}`",
            missing.join(", "),
            missing.join(" ")
        );
    }
    cmd("apt-get").args(["update", "-qq"]).run(ctx)?;
    cmd("apt-get")
        .args(["install", "-y", "-qq", "--no-install-recommends"])
        .args(missing.iter().copied())
        .env("DEBIAN_FRONTEND", "noninteractive")
        .run(ctx)
}

fn frontend_tests(ctx: &Ctx) -> Result<()> {
    let folder = FRONTEND.folder(&ctx.root);
    cmd("npm")
        .args(["ci", "--no-audit", "--no-fund"])
        .dir(&folder)
        .run(ctx)?;
    cmd("npm")
        .arg("test")
        .dir(&folder)
        .env("CI", "true")
        .run(ctx)
}

fn backend_tests(ctx: &Ctx) -> Result<()> {
    let folder = BACKEND.folder(&ctx.root);
    let venv = ctx.root.join("target/venv-backend");
    if !venv.join("bin/python").exists() {
        cmd("python3")
            .args(["-m", "venv"])
            .arg(venv.display().to_string())
            .run(ctx)?;
    }
    let pip = venv.join("bin/pip").display().to_string();
    cmd(&pip)
        .args([
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "-r",
            "requirements.txt",
            "-r",
            "requirements-dev.txt",
        ])
        .dir(&folder)
        .run(ctx)?;
    cmd(&venv.join("bin/python").display().to_string())
        .args(["-m", "pytest", "-q"])
        .dir(&folder)
        .env(
            "PATH",
            format!(
                "{}:{}",
                venv.join("bin").display(),
                std::env::var("PATH").unwrap_or_default()
            ),
        )
        .run(ctx)
}

fn nextest(ctx: &Ctx, scope: &[&str], extra: &[String]) -> Result<()> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    cmd(&cargo)
        .args([
            "nextest",
            "run",
            "--workspace",
            "--all-features",
            "--no-fail-fast",
        ])
        .args(scope.iter().copied())
        .args(extra.iter().cloned())
        .dir(&ctx.root)
        .run(ctx)
}

/// Runs `f` with the sandbox's exports in the environment (base images, build network).
fn with_sandbox_env<T>(layout: &Layout, f: impl FnOnce() -> Result<T>) -> Result<T> {
    if let Some(state) = sandbox::read_state(layout) {
        for (k, v) in state.exports() {
            std::env::set_var(k, v);
        }
    }
    f()
}
