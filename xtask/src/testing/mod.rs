//! `cargo xtask test`: every test of the repository, with what they need.
//! On a fresh Debian machine (as root) it installs the Debian packages the
//! tests use, brings the sandbox up (docker daemon, moto, registry, base
//! images), and runs the suites side by side (`side_by_side`): the front
//! end's, the backend's and the sandbox's own, and the Rust suites, which
//! wait for the AWS build compiled alongside. It stops what it started and
//! ends with a table of each suite's time. Nothing is skipped quietly: a
//! missing prerequisite fails the run.

mod shared;
mod side_by_side;
mod suites;

use anyhow::{anyhow, bail, Result};

use crate::ctx::Ctx;
use crate::duration::secs;
use crate::flags::{SandboxUpArgs, StateDirArg, TestArgs, DEFAULT_PORT_BASE};
use crate::install;
use crate::sandbox::{self, Layout};
use crate::steps::Steps;
use side_by_side::Suite;

pub fn run(ctx: &Ctx, args: &TestArgs) -> Result<()> {
    if args.unit {
        return suites::unit(ctx, args);
    }
    let started = std::time::Instant::now();
    let mut steps = Steps::new("test");
    steps.run("test packages", || {
        install::ensure(
            ctx,
            &[
                &install::CHROMIUM,
                &install::CERTUTIL,
                &install::POSTGRESQL,
                &install::COMPOSE,
                &install::PYTHON_VENV,
            ],
        )
    })?;
    let layout = Layout::new(ctx, &StateDirArg::default());
    let was_up = sandbox::read_state(&layout).is_some();
    let results = std::thread::scope(|scope| {
        // The AWS part of the tool compiles (minutes, the first time) while
        // the sandbox comes up and the other suites run.
        let aws_build = scope.spawn(|| crate::aws_build::ensure_built(ctx).map(drop));
        let up = steps.run("sandbox up", || {
            sandbox::up(ctx, &SandboxUpArgs::for_tools(DEFAULT_PORT_BASE, None))
        });
        let state = match up {
            Ok(state) => state,
            Err(e) => return vec![("sandbox up", Err(e), std::time::Duration::ZERO)],
        };
        let sandbox_ctx = ctx.with_settings(state.settings(&ctx.settings));
        let rust = move |r: &side_by_side::Runner| {
            suites::prod_images(&sandbox_ctx, r)?;
            aws_build
                .join()
                .unwrap_or_else(|_| Err(anyhow!("the compile thread panicked")))?;
            suites::rust(ctx, r, &args.nextest)
        };
        side_by_side::run(
            ctx,
            vec![
                Suite {
                    name: "rust",
                    run: Box::new(rust),
                },
                Suite {
                    name: "frontend",
                    run: Box::new(|r| suites::frontend(ctx, r)),
                },
                Suite {
                    name: "backend",
                    run: Box::new(|r| suites::backend(ctx, r)),
                },
                Suite {
                    name: "sandbox",
                    run: Box::new(|r| suites::sandbox(ctx, r)),
                },
            ],
        )
    });
    if !was_up {
        let _ = steps.run("sandbox down", || sandbox::down(ctx, &layout));
    }
    table(&results, started.elapsed())
}

/// Each suite's time and outcome; fails naming the suites that failed.
fn table(
    results: &[(&str, Result<()>, std::time::Duration)],
    took: std::time::Duration,
) -> Result<()> {
    println!(
        "\ntest summary ({} in all; the suites ran side by side):",
        secs(took)
    );
    println!("  {:<10} {:<8} time", "suite", "outcome");
    for (name, result, time) in results {
        let outcome = if result.is_ok() { "ok" } else { "FAILED" };
        println!("  {name:<10} {outcome:<8} {}", secs(*time));
    }
    let failed: Vec<&str> = results
        .iter()
        .filter(|(_, r, _)| r.is_err())
        .map(|(n, _, _)| *n)
        .collect();
    if !failed.is_empty() {
        bail!("{} failed", failed.join(", "));
    }
    Ok(())
}
