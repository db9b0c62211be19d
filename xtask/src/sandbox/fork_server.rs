//! Asking a fork server (`sandbox/cruddur_sandbox/fork_server.py`) for the
//! sandbox's server instead of starting Python afresh: `sandbox up
//! --fork-server SOCKET`. The server has imported moto and the agent once; a
//! start then costs 0.1 s of CPU instead of 3 s. `cargo xtask test` runs one
//! for the sandboxes its tests start.

use std::io::{BufRead as _, BufReader, Write as _};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context as _, Result};
use serde::Deserialize;

use crate::exec::Cmd;

#[derive(Deserialize)]
struct Answer {
    pid: Option<u32>,
    error: Option<String>,
}

/// Has the fork server at `socket` start `command` (`python -m
/// cruddur_sandbox serve …`) with its output in `log`; returns its pid.
pub fn spawn(socket: &Path, command: &Cmd, log: &Path) -> Result<u32> {
    let failed = || format!("the sandbox's fork server at {}", socket.display());
    let launch = command.launch();
    let Some(argv) = launch
        .args
        .strip_prefix(&["-m".to_string(), "cruddur_sandbox".to_string()])
    else {
        bail!(
            "a fork server starts only `python -m cruddur_sandbox …`, not {}",
            command.display()
        );
    };
    let cwd = match launch.dir {
        Some(dir) => dir,
        None => std::env::current_dir().context("finding the working directory")?,
    };
    let request = serde_json::json!({
        "executable": launch.program,
        "argv": argv,
        "env": launch.env,
        "cwd": cwd,
        "log": log,
    });
    let mut stream = UnixStream::connect(socket).with_context(|| {
        format!(
            "{} does not answer: start one (`python -m cruddur_sandbox fork-server --socket {}` \
             in the sandbox's virtualenv), or leave out --fork-server",
            failed(),
            socket.display()
        )
    })?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    // The request carries the sandbox's secrets (in `env`): a socket, never a command line.
    writeln!(stream, "{request}").with_context(failed)?;
    let mut line = String::new();
    BufReader::new(&stream)
        .read_line(&mut line)
        .with_context(failed)?;
    let answer: Answer =
        serde_json::from_str(&line).with_context(|| format!("{} answered {line:?}", failed()))?;
    match (answer.pid, answer.error) {
        (Some(pid), _) => Ok(pid),
        (None, Some(error)) => bail!("{} refused: {error}", failed()),
        (None, None) => bail!("{} answered {line:?}", failed()),
    }
}
