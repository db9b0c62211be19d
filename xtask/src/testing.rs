//! `cargo xtask test`: every test of the repository, with what they need.
//! On a fresh Debian machine (as root) it installs the Debian packages the
//! tests use, brings the sandbox up (docker daemon, moto, registry, base
//! images), runs the frontend, backend and Rust suites, and stops what it
//! started. Nothing is skipped quietly: a missing prerequisite fails the run.

use anyhow::Result;

use crate::ctx::Ctx;
use crate::exec::{shell, Cmd, Stream};
use crate::flags::{BuildArgs, SandboxUpArgs, StateDirArg, TestArgs, DEFAULT_PORT_BASE};
use crate::install;
use crate::lint;
use crate::sandbox::{self, Layout};
use crate::services::{Selection, BACKEND, FRONTEND};
use crate::steps::Steps;
use crate::{aws_build, docker, util};
use xshell::cmd;

/// actionlint on the CI workflows, parliament on the IAM policies (`lint.rs`):
/// a step of the unit run; the full run has them in its integration tests
/// (`xtask/tests/ci_lint.rs`).
const LINT_STEP: &str = "workflows (actionlint) and IAM policies (parliament)";

pub fn run(ctx: &Ctx, args: &TestArgs) -> Result<()> {
    let mut steps = Steps::new("test");
    if args.unit {
        let _ = steps.run("frontend unit tests", || frontend_tests(ctx));
        let _ = steps.run(LINT_STEP, || lint::check(ctx));
        let _ = steps.run("rust unit tests", || {
            nextest(ctx, &["--lib", "--bins"], &args.nextest)
        });
        let _ = steps.run("rust unit tests of the AWS build", || {
            // These need the sandbox's virtualenv (moto, botocore), which
            // `sandbox up` makes; the whole `test` runs them after it.
            aws_unit_tests(ctx, &["-E", "not test(/moto|botocore/)"])
        });
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
    // The AWS part of the tool compiles (minutes, the first time) while the
    // sandbox comes up and the Python and JavaScript suites run.
    std::thread::scope(|scope| {
        let aws_build = scope.spawn(|| aws_build::ensure_built(ctx).map(drop));
        let state = steps.run("sandbox up", || {
            sandbox::up(ctx, &SandboxUpArgs::for_tools(DEFAULT_PORT_BASE, None))
        });
        let _ = steps.run("frontend unit tests", || frontend_tests(ctx));
        let _ = steps.run("backend tests (pytest)", || backend_tests(ctx));
        let _ = steps.run("prod images", || {
            // Built once here so the integration tests find the layers in docker's cache.
            let state = state.as_ref().map_err(|e| anyhow::anyhow!("{e:#}"))?;
            let ctx = ctx.with_settings(state.settings(&ctx.settings));
            docker::build(&ctx, &BuildArgs::prod(Selection::All))
        });
        let _ = steps.run("front end image: nginx as a non-root user", || {
            let sh = shell()?;
            sh.change_dir(FRONTEND.folder(&ctx.root));
            let image = FRONTEND.image(false);
            Cmd::from(cmd!(sh, "node e2e/image-nonroot.mjs {image}")).run(ctx)
        });
        let _ = steps.run("sandbox agent tests (pytest)", || sandbox_tests(ctx));
        let _ = steps.run("the AWS build (compiled alongside)", || {
            aws_build
                .join()
                .unwrap_or_else(|_| Err(anyhow::anyhow!("the compile thread panicked")))
        });
    });
    let _ = steps.run("rust tests of the AWS build", || aws_unit_tests(ctx, &[]));
    let _ = steps.run("fmt and clippy, both builds", || lints(ctx));
    let _ = steps.run("rust tests (unit and integration)", || {
        nextest(ctx, &[], &args.nextest)
    });
    if !was_up {
        let _ = steps.run("sandbox down", || sandbox::down(ctx, &layout));
    }
    steps.finish()
}

/// The local ECS agent's own suite (`sandbox/tests`), in the sandbox's virtualenv.
fn sandbox_tests(ctx: &Ctx) -> Result<()> {
    let sh = shell()?;
    sh.change_dir(ctx.tool_root.join("sandbox"));
    let python = ctx.root.join("target/sandbox/venv/bin/python");
    Cmd::from(cmd!(sh, "{python} -m pytest -q")).run(ctx)
}

/// `cargo fmt --check` and `cargo clippy -D warnings`, for both workspaces.
fn lints(ctx: &Ctx) -> Result<()> {
    let (sh, cargo) = (shell()?, crate::util::cargo());
    sh.change_dir(&ctx.tool_root);
    let aws = ctx.tool_root.join("xtask-aws/Cargo.toml");
    let target = aws_build::target_dir()?;
    Cmd::from(cmd!(sh, "{cargo} fmt --all -- --check")).run(ctx)?;
    Cmd::from(cmd!(sh, "{cargo} fmt --manifest-path {aws} -- --check")).run(ctx)?;
    Cmd::from(cmd!(
        sh,
        "{cargo} clippy --workspace --all-targets -- -D warnings"
    ))
    .run(ctx)?;
    Cmd::from(cmd!(
        sh,
        "{cargo} clippy --manifest-path {aws} --target-dir {target} --all-targets -- -D warnings"
    ))
    .run(ctx)
}

fn frontend_tests(ctx: &Ctx) -> Result<()> {
    let sh = shell()?;
    sh.change_dir(FRONTEND.folder(&ctx.root));
    let log = util::log_file(ctx, "npm-ci")?;
    Cmd::from(cmd!(sh, "npm ci --no-audit --no-fund")).stream(ctx, &Stream::logged(&log))?;
    Cmd::from(cmd!(sh, "npm test")).env("CI", "true").run(ctx)
}

fn backend_tests(ctx: &Ctx) -> Result<()> {
    let sh = shell()?;
    sh.change_dir(BACKEND.folder(&ctx.root));
    let venv = ctx.root.join("target/venv-backend");
    if !venv.join("bin/python").exists() {
        Cmd::from(cmd!(sh, "python3 -m venv {venv}")).run(ctx)?;
    }
    let (pip, python) = (venv.join("bin/pip"), venv.join("bin/python"));
    let log = util::log_file(ctx, "pip-install-backend")?;
    Cmd::from(cmd!(
        sh,
        "{pip} install --disable-pip-version-check -r requirements.txt -r requirements-dev.txt"
    ))
    .stream(ctx, &Stream::logged(&log))?;
    let path = format!(
        "{}:{}",
        venv.join("bin").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    Cmd::from(cmd!(sh, "{python} -m pytest -q"))
        .env("PATH", path)
        .run(ctx)
}

fn nextest(ctx: &Ctx, scope: &[&str], extra: &[String]) -> Result<()> {
    let (sh, cargo) = (shell()?, crate::util::cargo());
    sh.change_dir(&ctx.root);
    Cmd::from(cmd!(
        sh,
        "{cargo} nextest run --workspace --no-fail-fast {scope...} {extra...}"
    ))
    .run(ctx)
}

/// The AWS build's own unit tests (a workspace of its own).
fn aws_unit_tests(ctx: &Ctx, filter: &[&str]) -> Result<()> {
    let (sh, cargo) = (shell()?, crate::util::cargo());
    let manifest = ctx.tool_root.join("xtask-aws/Cargo.toml");
    let target = aws_build::target_dir()?;
    Cmd::from(cmd!(
        sh,
        "{cargo} nextest run --no-fail-fast --manifest-path {manifest} --target-dir {target} {filter...}"
    ))
    .run(ctx)
}
