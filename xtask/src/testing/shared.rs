//! What the integration tests share during `cargo xtask test`, started
//! before their nextest run and stopped after it, whatever its outcome: a
//! sandbox (`Sandbox::shared` in `xtask/tests/common`) and an aws CLI
//! imported once (`Sandbox::aws`). Each reaches the tests as a variable in
//! nextest's environment; a test run without the harness (`cargo nextest
//! run`) finds neither and starts its own sandbox and runs `aws` itself.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _, Result};
use xshell::cmd;

use super::side_by_side::Runner;
use crate::ctx::Ctx;
use crate::exec::{shell, Cmd};
use crate::files;

/// The shared sandbox's state directory, for the tests that only read what
/// the sandbox seeded and name what they make after themselves: one moto and
/// agent for them all instead of one each (4 s to start, 3 s to stop and
/// 3.5 s of CPU each).
const SANDBOX_ENV: &str = "CRUDDUR_TEST_SANDBOX";
const SANDBOX_DIR: &str = "target/test-sandbox";
/// The socket of the aws CLI server (`xtask/tests/fixtures/aws_cli_server.py`).
const AWS_CLI_ENV: &str = "CRUDDUR_TEST_AWS_CLI";

/// Runs `tests` with the shared things up, given the variables that name them.
pub fn with_shared(
    ctx: &Ctx,
    r: &Runner,
    tests: impl FnOnce(&[(&str, String)]) -> Result<()>,
) -> Result<()> {
    let dir = ctx.root.join(SANDBOX_DIR);
    sandbox(r, &dir, "up")?;
    let outcome = AwsCli::start(ctx).and_then(|cli| {
        tests(&[
            (SANDBOX_ENV, dir.display().to_string()),
            (AWS_CLI_ENV, cli.socket.display().to_string()),
        ])
    });
    outcome.and(sandbox(r, &dir, "down"))
}

/// `sandbox up` or `down` of the shared sandbox, through the tool itself so
/// its lines go to this suite's log. `up` starts it afresh: a sandbox a
/// killed run left behind is stopped first, so no test finds another run's
/// clusters.
fn sandbox(r: &Runner, dir: &Path, verb: &str) -> Result<()> {
    let sh = shell()?;
    let exe = std::env::current_exe().context("finding the tool's own executable")?;
    if verb == "up" && dir.join("state.json").exists() {
        r.run(
            "shared-sandbox-down",
            &Cmd::from(cmd!(sh, "{exe} sandbox down --state-dir {dir}")),
        )?;
    }
    let extra: &[&str] = if verb == "up" {
        &["--port-base", "0", "--no-base-images"]
    } else {
        &[]
    };
    r.run(
        &format!("shared-sandbox-{verb}"),
        &Cmd::from(cmd!(
            sh,
            "{exe} sandbox {verb} --state-dir {dir} {extra...}"
        )),
    )
}

/// The aws CLI server, stopped (and its socket removed) when dropped.
struct AwsCli {
    child: std::process::Child,
    socket: PathBuf,
}

impl AwsCli {
    fn start(ctx: &Ctx) -> Result<AwsCli> {
        let sh = shell()?;
        let python = ctx.root.join("target/sandbox/venv/bin/python");
        let script = ctx.tool_root.join("xtask/tests/fixtures/aws_cli_server.py");
        // Unix socket paths are short (108 bytes): the temporary directory, not the checkout.
        let socket =
            std::env::temp_dir().join(format!("cruddur-aws-cli-{}.sock", std::process::id()));
        let _ = std::fs::remove_file(&socket);
        let log = files::log_file(ctx, "test-rust-aws-cli-server")?;
        let Some(child) =
            Cmd::from(cmd!(sh, "{python} {script} {socket}")).spawn_logged(ctx, &log)?
        else {
            bail!("the aws CLI server has no dry run");
        };
        let mut cli = AwsCli { child, socket };
        let started = Instant::now();
        while !cli.socket.exists() {
            if let Some(status) = cli.child.try_wait()? {
                bail!(
                    "the tests' aws CLI server exited ({status}) before it listened: see {}",
                    log.display()
                );
            }
            if started.elapsed() > Duration::from_secs(60) {
                bail!(
                    "the tests' aws CLI server did not listen within 60 s: see {}",
                    log.display()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(cli)
    }
}

impl Drop for AwsCli {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.socket);
    }
}
