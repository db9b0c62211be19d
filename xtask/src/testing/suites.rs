//! The suites `cargo xtask test` runs, each a few commands through its
//! runner (its own log files): the front end's (Vitest), the backend's
//! (pytest against a real PostgreSQL and moto), the sandbox agent's
//! (pytest), and the Rust ones (both builds' unit tests, fmt and clippy, the
//! integration tests against real programs).

use anyhow::Result;
use xshell::cmd;

use super::shared;
use super::side_by_side::Runner;
use crate::ctx::Ctx;
use crate::exec::{shell, Cmd, Stream};
use crate::flags::{BuildArgs, TestArgs};
use crate::host::nested_cargo;
use crate::services::{Selection, BACKEND, FRONTEND, PYTHON_BASE};
use crate::steps::Steps;
use crate::{aws_build, docker, files};

/// `test --unit`: no docker, database or browser; one after the other.
pub fn unit(ctx: &Ctx, args: &TestArgs) -> Result<()> {
    let mut steps = Steps::new("test --unit");
    let sh = shell()?;
    let _ = steps.run("frontend unit tests", || {
        sh.change_dir(FRONTEND.folder(&ctx.root));
        if !node_modules_current(&FRONTEND.folder(&ctx.root)) {
            let log = files::log_file(ctx, "npm-ci")?;
            Cmd::from(cmd!(sh, "npm ci --no-audit --no-fund"))
                .stream(ctx, &Stream::logged(&log))?;
        }
        Cmd::from(cmd!(sh, "npm test")).env("CI", "true").run(ctx)
    });
    // The full run lints them in its integration tests (xtask/tests/ci_lint.rs).
    let _ = steps.run(
        "workflows (actionlint) and IAM policies (parliament)",
        || crate::lint::check(ctx),
    );
    let _ = steps.run("rust unit tests", || {
        nextest(ctx, &["--lib", "--bins"], &args.nextest)?.run(ctx)
    });
    let _ = steps.run("rust unit tests of the AWS build", || {
        // These need the sandbox's virtualenv (moto, botocore), which
        // `sandbox up` makes; the whole `test` runs them after it.
        aws_unit_tests(ctx, &["-E", "not test(/moto|botocore/)"])?.run(ctx)
    });
    steps.finish()
}

/// The prod images, built once here so the integration tests find the
/// layers in docker's cache; and the front end's nginx as a non-root user.
pub fn prod_images(sandbox_ctx: &Ctx, r: &Runner) -> Result<()> {
    docker::build(sandbox_ctx, &BuildArgs::prod(Selection::All))?;
    let sh = shell()?;
    sh.change_dir(FRONTEND.folder(&sandbox_ctx.root));
    let image = FRONTEND.image(false);
    r.run(
        "nonroot-image",
        &Cmd::from(cmd!(sh, "node e2e/image-nonroot.mjs {image}")),
    )
}

/// Both builds' unit tests, fmt and clippy, then every Rust test (the
/// integration tests drive the real binary against the sandbox's programs).
pub fn rust(ctx: &Ctx, r: &Runner, extra: &[String]) -> Result<()> {
    r.run("aws-unit", &aws_unit_tests(ctx, &[])?)?;
    lints(ctx, r)?;
    shared::with_shared(ctx, r, |env| {
        let mut tests = nextest(ctx, &[], extra)?;
        for (k, v) in env {
            tests = tests.env(k, v);
        }
        r.run("nextest", &tests)
    })
}

/// The local ECS agent's own suite (`sandbox/tests`), in the sandbox's virtualenv.
pub fn sandbox(ctx: &Ctx, r: &Runner) -> Result<()> {
    let sh = shell()?;
    sh.change_dir(ctx.tool_root.join("sandbox"));
    let python = ctx.root.join("target/sandbox/venv/bin/python");
    r.run("pytest", &Cmd::from(cmd!(sh, "{python} -m pytest -q")))
}

/// `cargo fmt --check` and `cargo clippy -D warnings`, for both workspaces.
fn lints(ctx: &Ctx, r: &Runner) -> Result<()> {
    let (sh, cargo) = (shell()?, crate::host::cargo());
    sh.change_dir(&ctx.tool_root);
    let aws = ctx.tool_root.join("xtask-aws/Cargo.toml");
    let target = aws_build::target_dir()?;
    r.run("fmt", &Cmd::from(cmd!(sh, "{cargo} fmt --all -- --check")))?;
    r.run(
        "fmt-aws",
        &Cmd::from(cmd!(sh, "{cargo} fmt --manifest-path {aws} -- --check")),
    )?;
    r.run(
        "clippy",
        &nested_cargo(Cmd::from(cmd!(
            sh,
            "{cargo} clippy --workspace --all-targets -- -D warnings"
        ))),
    )?;
    r.run(
        "clippy-aws",
        &nested_cargo(Cmd::from(cmd!(
            sh,
            "{cargo} clippy --manifest-path {aws} --target-dir {target} --all-targets -- -D warnings"
        ))),
    )
}

pub fn frontend(ctx: &Ctx, r: &Runner) -> Result<()> {
    let sh = shell()?;
    sh.change_dir(FRONTEND.folder(&ctx.root));
    if !node_modules_current(&FRONTEND.folder(&ctx.root)) {
        r.run(
            "npm-ci",
            &Cmd::from(cmd!(sh, "npm ci --no-audit --no-fund")),
        )?;
    }
    r.run("vitest", &Cmd::from(cmd!(sh, "npm test")).env("CI", "true"))
}

pub fn backend(ctx: &Ctx, r: &Runner) -> Result<()> {
    let sh = shell()?;
    sh.change_dir(BACKEND.folder(&ctx.root));
    let venv = ctx.root.join("target/venv-backend");
    if !venv.join("bin/python").exists() {
        r.run("venv", &Cmd::from(cmd!(sh, "python3 -m venv {venv}")))?;
    }
    let (pip, python) = (venv.join("bin/pip"), venv.join("bin/python"));
    r.run(
        "pip",
        &Cmd::from(cmd!(
            sh,
            "{pip} install --disable-pip-version-check -r requirements.txt -r requirements-dev.txt"
        )),
    )?;
    let path = format!(
        "{}:{}",
        venv.join("bin").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    // The prod image's one-off commands too (`tests/test_prod_image.py`):
    // the daemon and the offline base image are up by now, and a skipped
    // module would pass quietly.
    r.run(
        "pytest",
        &Cmd::from(cmd!(sh, "{python} -m pytest -q"))
            .env("PATH", path)
            .env("CRUDDUR_DOCKER_TESTS", "1")
            .env(PYTHON_BASE.arg, PYTHON_BASE.sandbox),
    )
}

/// Whether `npm ci` already installed what the lockfile says: npm writes
/// `node_modules/.package-lock.json` last, so one newer than the lockfile
/// and package.json means nothing changed since (`npm ci` deletes and
/// reinstalls every package, 20 s and more here).
fn node_modules_current(folder: &std::path::Path) -> bool {
    let modified = |p: &str| {
        std::fs::metadata(folder.join(p))
            .and_then(|m| m.modified())
            .ok()
    };
    match (
        modified("node_modules/.package-lock.json"),
        modified("package-lock.json"),
        modified("package.json"),
    ) {
        (Some(installed), Some(lock), Some(manifest)) => installed >= lock && installed >= manifest,
        _ => false,
    }
}

fn nextest(ctx: &Ctx, scope: &[&str], extra: &[String]) -> Result<Cmd> {
    let (sh, cargo) = (shell()?, crate::host::cargo());
    sh.change_dir(&ctx.root);
    Ok(nested_cargo(Cmd::from(cmd!(
        sh,
        "{cargo} nextest run --workspace --no-fail-fast {scope...} {extra...}"
    ))))
}

/// The AWS build's own unit tests (a workspace of its own).
fn aws_unit_tests(ctx: &Ctx, filter: &[&str]) -> Result<Cmd> {
    let (sh, cargo) = (shell()?, crate::host::cargo());
    let manifest = ctx.tool_root.join("xtask-aws/Cargo.toml");
    let target = aws_build::target_dir()?;
    Ok(nested_cargo(Cmd::from(cmd!(
        sh,
        "{cargo} nextest run --no-fail-fast --manifest-path {manifest} --target-dir {target} {filter...}"
    ))))
}
