//! `cargo xtask test`: every test of the repository, with what they need.
//! On a fresh Debian machine (as root) it installs the Debian packages the
//! tests use, brings the sandbox up (docker daemon, moto, registry, base
//! images), runs the frontend, backend and Rust suites, and stops what it
//! started. Nothing is skipped quietly: a missing prerequisite fails the run.

use anyhow::Result;

use crate::ctx::Ctx;
use crate::exec::cmd;
use crate::flags::{BuildArgs, SandboxUpArgs, StateDirArg, TestArgs, DEFAULT_PORT_BASE};
use crate::install;
use crate::sandbox::{self, Layout};
use crate::services::{Selection, BACKEND, FRONTEND};
use crate::steps::Steps;
use crate::{aws_build, docker};

pub fn run(ctx: &Ctx, args: &TestArgs) -> Result<()> {
    let mut steps = Steps::new("test");
    if args.unit {
        let _ = steps.run("frontend unit tests", || frontend_tests(ctx));
        let _ = steps.run("rust unit tests", || {
            nextest(ctx, &["--lib", "--bins"], &args.nextest)
        });
        let _ = steps.run("rust unit tests of the AWS build", || aws_unit_tests(ctx));
        return steps.finish();
    }
    let _ = steps.run("test packages", || {
        install::ensure(
            ctx,
            &[
                &install::CHROMIUM,
                &install::POSTGRESQL,
                &install::COMPOSE,
                &install::PYTHON_VENV,
            ],
        )
    });
    let layout = Layout::new(ctx, &StateDirArg::default());
    let was_up = sandbox::read_state(&layout).is_some();
    let state = steps.run("sandbox up", || {
        sandbox::up(ctx, &SandboxUpArgs::for_tools(DEFAULT_PORT_BASE, None))
    });
    let _ = steps.run("frontend unit tests", || frontend_tests(ctx));
    let _ = steps.run("backend tests (pytest)", || backend_tests(ctx));
    let _ = steps.run("prod images", || {
        // Built once here so the integration tests find them in docker's cache.
        let state = state.as_ref().map_err(|e| anyhow::anyhow!("{e:#}"))?;
        let ctx = ctx.with_settings(state.settings(&ctx.settings));
        docker::build(&ctx, &BuildArgs::prod(Selection::All))
    });
    let _ = steps.run("the AWS build (compiled once for every test)", || {
        aws_build::ensure_built(ctx).map(drop)
    });
    let _ = steps.run("rust tests of the AWS build", || aws_unit_tests(ctx));
    let _ = steps.run("rust tests (unit and integration)", || {
        nextest(ctx, &[], &args.nextest)
    });
    if !was_up {
        let _ = steps.run("sandbox down", || sandbox::down(ctx, &layout));
    }
    steps.finish()
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
    cmd(&crate::util::cargo())
        .args(["nextest", "run", "--workspace", "--no-fail-fast"])
        .args(scope.iter().copied())
        .args(extra.iter().cloned())
        .dir(&ctx.root)
        .run(ctx)
}

/// The AWS build's own unit tests (a workspace of its own).
fn aws_unit_tests(ctx: &Ctx) -> Result<()> {
    cmd(&crate::util::cargo())
        .args(["nextest", "run", "--no-fail-fast", "--manifest-path"])
        .arg(
            ctx.tool_root
                .join("xtask-aws/Cargo.toml")
                .display()
                .to_string(),
        )
        .arg("--target-dir")
        .arg(aws_build::target_dir()?.display().to_string())
        .dir(&ctx.root)
        .run(ctx)
}
