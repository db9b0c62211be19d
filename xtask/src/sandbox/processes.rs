//! The sandbox's processes: started detached with a pid file each, found
//! again by that file, and stopped with SIGTERM and, after a grace period,
//! SIGKILL. A pid file holds the pid and the process's start time, and the
//! process's command line must still name the part: a reused pid (someone
//! else's dockerd) is never signalled.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context as _, Result};

use super::Layout;
use crate::ctx::Ctx;
use crate::exec::Cmd;
use crate::poll;

/// The processes a sandbox runs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Part {
    /// moto, the local ECS agent, the load balancer and the ECR push bridge.
    Agent,
    Registry,
    Dockerd,
}

impl Part {
    pub const ALL: [Part; 3] = [Part::Agent, Part::Registry, Part::Dockerd];

    pub fn name(self) -> &'static str {
        match self {
            Part::Agent => "aws",
            Part::Registry => "registry",
            Part::Dockerd => "dockerd",
        }
    }

    /// A word of the process's command line, checked before it is signalled.
    fn cmdline_marker(self) -> &'static str {
        match self {
            Part::Agent => "cruddur_sandbox",
            Part::Registry => "docker-registry",
            Part::Dockerd => "dockerd",
        }
    }

    /// How long it may take to stop: the agent removes every container it
    /// started (a database's copy on vfs takes seconds).
    fn grace(self) -> Duration {
        match self {
            Part::Agent => Duration::from_secs(60),
            Part::Registry => Duration::from_secs(15),
            Part::Dockerd => Duration::from_secs(30),
        }
    }

    /// dockerd is shared by every sandbox of the checkout; the rest are per sandbox.
    fn pid_file(self, layout: &Layout) -> PathBuf {
        match self {
            Part::Dockerd => layout.shared_path("dockerd.pid"),
            _ => layout.path(&format!("{}.pid", self.name())),
        }
    }

    pub fn log_file(self, layout: &Layout) -> PathBuf {
        match self {
            Part::Dockerd => layout.shared_path("dockerd.log"),
            _ => layout.path(&format!("{}.log", self.name())),
        }
    }
}

/// Environment a part must not inherit: the user's real AWS credentials and
/// settings never reach moto, the registry or dockerd (or the fork server
/// the tests' sandboxes fork from).
pub fn scrubbed(command: &Cmd) -> Cmd {
    let mut c = command.clone();
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy();
        if key.starts_with("AWS_") || key.starts_with("CRUDDUR_") {
            c = c.env_remove(&key);
        }
    }
    c
}

/// Starts `part`; returns its pid.
pub fn spawn(ctx: &Ctx, layout: &Layout, part: Part, command: &Cmd) -> Result<u32> {
    let log = part.log_file(layout);
    let child = scrubbed(command)
        .spawn_logged(ctx, &log)?
        .context("spawned nothing")?;
    let pid = child.id();
    // Until the child has exec'd, its command line is still ours: wait for it,
    // so the pid file is never written for a process `pid_of` would disown.
    let _ = poll::until(
        "exec",
        Duration::from_secs(5),
        Duration::from_millis(5),
        || {
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            Ok(
                (!alive(pid) || String::from_utf8_lossy(&cmdline).contains(part.cmdline_marker()))
                    .then_some(()),
            )
        },
    );
    record(layout, part, pid, &format!("log {}", log.display()))
}

/// Starts `part` forked by the fork server at `socket` (the agent only: its
/// command line is the fork server's, which has the same marker); returns
/// its pid. A dry run shows the command and asks nothing.
pub fn spawn_forked(
    ctx: &Ctx,
    layout: &Layout,
    part: Part,
    command: &Cmd,
    socket: &Path,
) -> Result<u32> {
    let command = scrubbed(command);
    if command.announce(ctx) {
        bail!("spawned nothing");
    }
    let log = part.log_file(layout);
    let pid = super::fork_server::spawn(socket, &command, &log)?;
    record(
        layout,
        part,
        pid,
        &format!("forked by {}, log {}", socket.display(), log.display()),
    )
}

fn record(layout: &Layout, part: Part, pid: u32, how: &str) -> Result<u32> {
    let started = start_time(pid).unwrap_or_default();
    std::fs::write(part.pid_file(layout), format!("{pid} {started}\n"))?;
    println!("started {} (pid {pid}, {how})", part.name());
    Ok(pid)
}

/// Whether process `pid` still runs (a zombie does not).
pub fn alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists() && !is_zombie(pid)
}

/// "see <log>" and the log's last lines: why a part stopped, in the error itself.
pub fn see_log(layout: &Layout, part: Part) -> String {
    let path = part.log_file(layout);
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let tail = lines[lines.len().saturating_sub(LOG_TAIL)..].join("\n  ");
    if tail.is_empty() {
        format!("see {} (empty)", path.display())
    } else {
        format!("see {}; it ends:\n  {tail}", path.display())
    }
}

const LOG_TAIL: usize = 6;

/// Waits until `url` answers with one of `expected` (60 s at most), failing
/// at once if the part stops.
pub fn wait_for(layout: &Layout, part: Part, url: &str, expected: &[u16]) -> Result<()> {
    let what = format!("{} answering on {url}", part.name());
    poll::until(
        &what,
        Duration::from_secs(60),
        Duration::from_millis(200),
        || {
            if poll::http_status(url).is_ok_and(|code| expected.contains(&code)) {
                return Ok(Some(()));
            }
            if pid_of(layout, part).is_none() {
                anyhow::bail!("it stopped");
            }
            Ok(None)
        },
    )
    .with_context(|| see_log(layout, part))
}

/// The pid in the part's pid file, if that very process (same start time,
/// same program) is alive.
pub fn pid_of(layout: &Layout, part: Part) -> Option<u32> {
    let text = std::fs::read_to_string(part.pid_file(layout)).ok()?;
    let mut words = text.split_whitespace();
    let pid: u32 = words.next()?.parse().ok()?;
    let started: u64 = words.next()?.parse().ok()?;
    if start_time(pid)? != started || is_zombie(pid) {
        return None;
    }
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    String::from_utf8_lossy(&cmdline)
        .contains(part.cmdline_marker())
        .then_some(pid)
}

/// Stops the parts that run; returns the names of those it stopped.
pub fn stop(layout: &Layout, parts: &[Part]) -> Result<Vec<&'static str>> {
    let mut stopped = Vec::new();
    for &part in parts {
        if let Some(pid) = pid_of(layout, part) {
            terminate(pid, part.grace())?;
            stopped.push(part.name());
        }
        let _ = std::fs::remove_file(part.pid_file(layout));
    }
    Ok(stopped)
}

/// SIGTERM, then SIGKILL after `grace`.
fn terminate(pid: u32, grace: Duration) -> Result<()> {
    let signal = |sig: &str| {
        std::process::Command::new("kill")
            .args([sig, &pid.to_string()])
            .status()
    };
    signal("-TERM").context("running kill")?;
    let gone = || !alive(pid);
    let waited = poll::until(
        "the process ending",
        grace,
        Duration::from_millis(100),
        || Ok(gone().then_some(())),
    );
    if waited.is_err() {
        signal("-KILL")?;
    }
    Ok(())
}

/// The process's start time in clock ticks since boot (`/proc/PID/stat` field 22).
fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit(')')
        .next()?
        .split_whitespace()
        .nth(19)?
        .parse()
        .ok()
}

fn is_zombie(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        s.rsplit(')')
            .next()
            .unwrap_or("")
            .trim_start()
            .starts_with('Z')
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A pid file whose process has another start time is someone else's
    /// process that got the same pid: never ours to stop.
    #[test]
    fn a_reused_pid_is_not_ours() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::at(dir.path(), dir.path());
        let me = std::process::id();
        let started = start_time(me).unwrap();
        // Our own test binary does not say "dockerd"; write a file naming us anyway.
        std::fs::write(
            Part::Registry.pid_file(&layout),
            format!("{me} {}\n", started + 1),
        )
        .unwrap();
        assert_eq!(pid_of(&layout, Part::Registry), None, "start time differs");
        std::fs::write(
            Part::Registry.pid_file(&layout),
            format!("{me} {started}\n"),
        )
        .unwrap();
        assert_eq!(
            pid_of(&layout, Part::Registry),
            None,
            "not a docker-registry"
        );
    }
}
