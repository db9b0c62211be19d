//! What the integration tests share during `cargo xtask test`, started
//! before their nextest run and stopped after it, whatever its outcome: a
//! sandbox (`Sandbox::shared` in `xtask/tests/common`), an aws CLI
//! imported once (`Sandbox::aws`) and the sandbox's fork server (`Sandbox::start`). Each reaches the tests as a variable in
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
/// The socket of the sandbox's fork server (`sandbox/cruddur_sandbox/fork_server.py`):
/// the sandboxes the tests start fork from it (`sandbox up --fork-server`)
/// instead of importing moto each (3 s of CPU a start, 40 starts a run).
const FORK_SERVER_ENV: &str = "CRUDDUR_TEST_SANDBOX_FORK_SERVER";

/// Runs `tests` with the shared things up, given the variables that name them.
pub fn with_shared(
    ctx: &Ctx,
    r: &Runner,
    tests: impl FnOnce(&[(&str, String)]) -> Result<()>,
) -> Result<()> {
    let dir = ctx.root.join(SANDBOX_DIR);
    sandbox(r, &dir, "up")?;
    // Both after the shared sandbox's `up`, which makes the venv they run in.
    let servers =
        SocketServer::aws_cli(ctx).and_then(|cli| Ok((cli, SocketServer::fork_server(ctx)?)));
    let outcome = servers.and_then(|(cli, forks)| {
        tests(&[
            (SANDBOX_ENV, dir.display().to_string()),
            (AWS_CLI_ENV, cli.socket.display().to_string()),
            (FORK_SERVER_ENV, forks.socket.display().to_string()),
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

/// A server of the run's on a Unix socket (the aws CLI server, the sandbox's
/// fork server), stopped (and its socket removed) when dropped.
struct SocketServer {
    child: std::process::Child,
    socket: PathBuf,
}

impl SocketServer {
    /// The tests' aws CLI server.
    fn aws_cli(ctx: &Ctx) -> Result<SocketServer> {
        let sh = shell()?;
        let python = ctx.root.join("target/sandbox/venv/bin/python");
        let script = ctx.tool_root.join("xtask/tests/fixtures/aws_cli_server.py");
        let socket = SocketServer::socket_path("aws-cli");
        let command = Cmd::from(cmd!(sh, "{python} {script} {socket}"));
        SocketServer::start(
            ctx,
            "the tests' aws CLI server",
            "test-rust-aws-cli-server",
            &command,
            socket,
        )
    }

    /// The sandbox's fork server, for the sandboxes the tests start (`sandbox
    /// up --fork-server`): without AWS or Cruddur settings, as `sandbox up`
    /// starts the server itself.
    fn fork_server(ctx: &Ctx) -> Result<SocketServer> {
        let sh = shell()?;
        let python = ctx.root.join("target/sandbox/venv/bin/python");
        let socket = SocketServer::socket_path("sandbox-fork-server");
        let command = crate::sandbox::scrubbed(
            &Cmd::from(cmd!(
                sh,
                "{python} -m cruddur_sandbox fork-server --socket {socket}"
            ))
            .env(
                "PYTHONPATH",
                ctx.tool_root.join("sandbox").display().to_string(),
            ),
        );
        SocketServer::start(
            ctx,
            "the sandbox's fork server",
            "test-rust-fork-server",
            &command,
            socket,
        )
    }

    /// Unix socket paths are short (108 bytes): the temporary directory, not the checkout.
    fn socket_path(name: &str) -> PathBuf {
        std::env::temp_dir().join(format!("cruddur-{name}-{}.sock", std::process::id()))
    }

    fn start(
        ctx: &Ctx,
        what: &str,
        log: &str,
        command: &Cmd,
        socket: PathBuf,
    ) -> Result<SocketServer> {
        let _ = std::fs::remove_file(&socket);
        let log = files::log_file(ctx, log)?;
        let Some(child) = command.spawn_logged(ctx, &log)? else {
            bail!("{what} has no dry run");
        };
        let mut server = SocketServer { child, socket };
        let started = Instant::now();
        while !server.socket.exists() {
            if let Some(status) = server.child.try_wait()? {
                bail!(
                    "{what} exited ({status}) before it listened: see {}",
                    log.display()
                );
            }
            if started.elapsed() > Duration::from_secs(60) {
                bail!("{what} did not listen within 60 s: see {}", log.display());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(server)
    }
}

impl Drop for SocketServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.socket);
    }
}
