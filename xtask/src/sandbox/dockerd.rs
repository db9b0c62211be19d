//! The docker daemon a sandbox may start: one per checkout, shared by every
//! sandbox of it (the tests run several side by side). Each sandbox that uses
//! it registers; `down` stops it only when it was started here and no other
//! sandbox still runs.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _, Result};
use xshell::cmd;

use super::processes::{self, Part};
use super::Layout;
use crate::ctx::Ctx;
use crate::exec::{shell, Cmd};
use crate::{docker, duration, host, poll};

/// A docker daemon: the user's if one answers; else, as root under CI (or
/// when asked), one started here with the settings this kind of machine needs.
pub fn ensure(ctx: &Ctx, layout: &Layout, allowed: bool) -> Result<()> {
    register(layout)?;
    if docker::ensure_daemon(ctx).is_ok() {
        return Ok(());
    }
    if !((allowed || host::ci()) && host::is_root()) {
        // The local ECS runs tasks as containers and the base images are
        // docker images: nothing of the sandbox works without a daemon.
        bail!(
            "no docker daemon answers: start one (`sudo systemctl start docker`), or as root \
             let the sandbox start one: `cargo xtask sandbox up --start-docker`"
        );
    }
    let sh = shell()?;
    let driver = storage_driver(ctx);
    println!("starting dockerd (storage driver {driver})");
    let dockerd = Cmd::from(cmd!(
        sh,
        "dockerd --storage-driver={driver} --iptables=false --bridge=none"
    ));
    processes::spawn(ctx, layout, Part::Dockerd, &dockerd)?;
    let started = Instant::now();
    poll::until(
        "dockerd answering",
        Duration::from_secs(60),
        Duration::from_millis(300),
        || Ok(docker::ensure_daemon(ctx).is_ok().then_some(())),
    )
    .with_context(|| format!("see {}", Part::Dockerd.log_file(layout).display()))?;
    println!(
        "docker daemon started ({}); the last `sandbox down` stops it",
        duration::secs(started.elapsed())
    );
    Ok(())
}

/// Where docker keeps images and containers (the daemon's default data root).
const DATA_ROOT: &str = "/var/lib/docker";

/// overlay2 where overlayfs mounts on docker's disk: a container or a build
/// layer is a copy-on-write mount. vfs otherwise, which copies the whole image
/// for each (8–10 s to create a Python container on this kind of machine).
/// Named, not left to dockerd: with a previous daemon's vfs data in the data
/// root it would keep vfs.
fn storage_driver(ctx: &Ctx) -> &'static str {
    match overlay_mounts(ctx) {
        Ok(true) => "overlay2",
        Ok(false) => "vfs",
        Err(e) => {
            println!("overlayfs probe failed ({e:#}); using vfs");
            "vfs"
        }
    }
}

fn overlay_mounts(ctx: &Ctx) -> Result<bool> {
    std::fs::create_dir_all(DATA_ROOT)?;
    let probe = Path::new(DATA_ROOT).join(format!("cruddur-overlay-probe-{}", std::process::id()));
    let result = (|| {
        for dir in ["lower", "upper", "work", "merged"] {
            std::fs::create_dir_all(probe.join(dir))?;
        }
        let [lower, upper, work, merged] =
            ["lower", "upper", "work", "merged"].map(|d| probe.join(d).display().to_string());
        let options = format!("lowerdir={lower},upperdir={upper},workdir={work}");
        let sh = shell()?;
        let mounted =
            Cmd::from(cmd!(sh, "mount -t overlay overlay -o {options} {merged}")).succeeds(ctx)?;
        if mounted {
            Cmd::from(cmd!(sh, "umount {merged}")).read(ctx)?;
        }
        Ok(mounted)
    })();
    let _ = std::fs::remove_dir_all(&probe);
    result
}

fn users(layout: &Layout) -> PathBuf {
    layout.shared_path("dockerd.users")
}

fn register(layout: &Layout) -> Result<()> {
    let dir = users(layout);
    std::fs::create_dir_all(&dir)?;
    std::fs::write(dir.join(layout.id()), layout.dir().display().to_string())
        .context("registering the sandbox as a user of the docker daemon")
}

/// This sandbox no longer needs the daemon; stops it when it was started
/// here and no other sandbox of the checkout still runs. Returns whether it stopped it.
pub fn release(layout: &Layout) -> Result<bool> {
    let dir = users(layout);
    let _ = std::fs::remove_file(dir.join(layout.id()));
    let others_running = std::fs::read_dir(&dir)
        .into_iter()
        .flatten()
        .flatten()
        .any(|entry| {
            let other = std::fs::read_to_string(entry.path()).unwrap_or_default();
            let alive = processes::pid_of(&layout.sibling(other.trim()), Part::Agent).is_some();
            if !alive {
                let _ = std::fs::remove_file(entry.path());
            }
            alive
        });
    if others_running {
        return Ok(false);
    }
    Ok(!processes::stop(layout, &[Part::Dockerd])?.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A process whose command line starts with `name` (what the pid checks look for).
    fn fake(ctx: &Ctx, layout: &Layout, part: Part, name: &str) -> u32 {
        let sh = shell().unwrap();
        let script = format!("exec -a {name} sleep 300");
        let c = Cmd::from(cmd!(sh, "bash -c {script}"));
        processes::spawn(ctx, layout, part, &c).unwrap()
    }

    /// Two sandboxes share the daemon one of them started: the first `down`
    /// leaves it to the other, the last one stops it.
    #[test]
    fn the_daemon_is_stopped_by_the_last_sandbox_only() {
        let ctx = Ctx {
            dry_run: false,
            ..Ctx::for_tests()
        };
        let shared = tempfile::tempdir().unwrap();
        let (a_dir, b_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let a = Layout::at(a_dir.path(), shared.path());
        let b = Layout::at(b_dir.path(), shared.path());
        let daemon = fake(&ctx, &a, Part::Dockerd, "dockerd");
        register(&a).unwrap();
        register(&b).unwrap();
        let b_agent = fake(&ctx, &b, Part::Agent, "cruddur_sandbox");

        assert!(!release(&a).unwrap(), "B still runs: the daemon stays");
        assert!(processes::alive(daemon));

        processes::stop(&b, &[Part::Agent]).unwrap();
        assert!(!processes::alive(b_agent));
        assert!(release(&b).unwrap(), "the last sandbox stops the daemon");
        assert!(!processes::alive(daemon));
    }
}
