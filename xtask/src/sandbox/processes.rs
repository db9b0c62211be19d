//! The sandbox's processes: started detached with a pid file each, found
//! again by that file (checked against the process's command line), stopped
//! with SIGTERM and, after 15 s, SIGKILL.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context as _, Result};

use super::Layout;
use crate::ctx::Ctx;
use crate::exec::Cmd;
use crate::{poll, util};

/// The processes a sandbox runs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Part {
    Moto,
    Registry,
    Bridge,
    Dockerd,
}

impl Part {
    pub const ALL: [Part; 4] = [Part::Moto, Part::Registry, Part::Bridge, Part::Dockerd];

    pub fn name(self) -> &'static str {
        match self {
            Part::Moto => "moto",
            Part::Registry => "registry",
            Part::Bridge => "ecr-bridge",
            Part::Dockerd => "dockerd",
        }
    }

    /// A word of the process's command line, checked before it is signalled,
    /// so a pid reused by another program is never killed.
    fn cmdline_marker(self) -> &'static str {
        match self {
            Part::Moto => "moto_server",
            Part::Registry => "docker-registry",
            Part::Bridge => "ecr_bridge.py",
            Part::Dockerd => "dockerd",
        }
    }

    fn pid_file(self, layout: &Layout) -> std::path::PathBuf {
        layout.path(&format!("{}.pid", self.name()))
    }

    pub fn log_file(self, layout: &Layout) -> std::path::PathBuf {
        layout.path(&format!("{}.log", self.name()))
    }
}

pub fn spawn(ctx: &Ctx, layout: &Layout, part: Part, command: &Cmd) -> Result<()> {
    let log = part.log_file(layout);
    let child = command
        .spawn_logged(ctx, &log)?
        .context("spawned nothing")?;
    std::fs::write(part.pid_file(layout), child.id().to_string())?;
    println!(
        "started {} (pid {}, log {})",
        part.name(),
        child.id(),
        log.display()
    );
    Ok(())
}

/// Waits until `url` answers with one of `expected` (60 s at most).
pub fn wait_for(layout: &Layout, part: Part, url: &str, expected: &[u16]) -> Result<()> {
    let what = format!("{} answering on {url}", part.name());
    poll::until(
        &what,
        Duration::from_secs(60),
        Duration::from_millis(200),
        || {
            Ok(util::http_status(url)
                .is_ok_and(|code| expected.contains(&code))
                .then_some(()))
        },
    )
    .with_context(|| format!("see {}", part.log_file(layout).display()))
}

/// The pid in the part's pid file, if that process is alive and is ours.
pub fn pid_of(layout: &Layout, part: Part) -> Option<u32> {
    let pid: u32 = std::fs::read_to_string(part.pid_file(layout))
        .ok()?
        .trim()
        .parse()
        .ok()?;
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
            terminate(pid)?;
            stopped.push(part.name());
        }
        let _ = std::fs::remove_file(part.pid_file(layout));
    }
    Ok(stopped)
}

/// SIGTERM, then SIGKILL after 15 s.
fn terminate(pid: u32) -> Result<()> {
    let signal = |sig: &str| {
        std::process::Command::new("kill")
            .args([sig, &pid.to_string()])
            .status()
    };
    signal("-TERM").context("running kill")?;
    let gone = || !Path::new(&format!("/proc/{pid}")).exists() || is_zombie(pid);
    let waited = poll::until(
        "the process ending",
        Duration::from_secs(15),
        Duration::from_millis(100),
        || Ok(gone().then_some(())),
    );
    if waited.is_err() {
        signal("-KILL")?;
    }
    Ok(())
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
