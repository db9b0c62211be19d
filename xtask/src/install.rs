//! The Debian packages a job needs, decided by the very program each step
//! will start (the docker *daemon*, not the client; PostgreSQL's `initdb`, not
//! `psql`), installed as root in one `apt-get` call, or else named in one
//! error with the one command that installs them.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Result};

use crate::ctx::Ctx;
use crate::duration::secs;
use crate::exec::{shell, Cmd, Stream};
use crate::files;
use xshell::cmd;

/// How to tell that what a step runs is there.
#[derive(Debug)]
pub enum Probe {
    /// A program on PATH.
    Program(&'static str),
    /// A file matching `dir/*/rest` (e.g. PostgreSQL's versioned bin folder).
    VersionedFile(&'static str, &'static str),
    /// A command that must succeed (a compose plugin, a Python that makes venvs).
    Succeeds(&'static [&'static str]),
    /// A file a package installs (a keyring).
    File(&'static str),
}

/// A Debian package, present when any of its probes passes.
#[derive(Debug)]
pub struct Need {
    pub package: &'static str,
    /// What needs it, for the error message.
    pub for_what: &'static str,
    pub probes: &'static [Probe],
}

pub const DOCKERD: Need = Need {
    package: "docker.io",
    for_what: "the docker daemon",
    probes: &[Probe::Program("dockerd")],
};
pub const DOCKER_CLIENT: Need = Need {
    package: "docker.io",
    for_what: "the docker client",
    probes: &[Probe::Program("docker")],
};
pub const REGISTRY: Need = Need {
    package: "docker-registry",
    for_what: "the sandbox's registry",
    probes: &[Probe::Program("docker-registry")],
};
pub const DEBOOTSTRAP: Need = Need {
    package: "debootstrap",
    for_what: "making the offline base images",
    probes: &[Probe::Program("debootstrap")],
};
/// The keys Debian signs its releases with: what debootstrap verifies a
/// release's Release file against (`base_images.rs`).
pub const DEBIAN_ARCHIVE_KEYRING: &str = "/usr/share/keyrings/debian-archive-keyring.gpg";
/// Debian pulls it in with apt; elsewhere (Ubuntu: Gitpod's workspace image)
/// it is missing, and debootstrap without it goes on unverified.
pub const DEBIAN_KEYRING: Need = Need {
    package: "debian-archive-keyring",
    for_what: "verifying the Debian releases the base images are made from",
    probes: &[Probe::File(DEBIAN_ARCHIVE_KEYRING)],
};
pub const GPGV: Need = Need {
    package: "gpgv",
    for_what: "debootstrap's check of a release's signature",
    probes: &[Probe::Program("gpgv")],
};
pub const BUSYBOX: Need = Need {
    package: "busybox-static",
    for_what: "the sandbox's tasks (their pause container)",
    probes: &[Probe::Program("busybox")],
};
pub const PYTHON_VENV: Need = Need {
    package: "python3-venv",
    for_what: "the sandbox's and the backend tests' virtualenvs",
    probes: &[Probe::Succeeds(&[
        "python3",
        "-c",
        "import venv, ensurepip",
    ])],
};
pub const COMPOSE: Need = Need {
    package: "docker-compose",
    for_what: "`cargo xtask up` and its test",
    probes: &[
        Probe::Succeeds(&["docker", "compose", "version"]),
        Probe::Program("docker-compose"),
    ],
};
pub const CHROMIUM: Need = Need {
    package: "chromium",
    for_what: "the browser tests",
    probes: &[Probe::Program("chromium")],
};
pub const POSTGRESQL: Need = Need {
    package: "postgresql",
    for_what: "the backend tests' database",
    probes: &[Probe::VersionedFile("/usr/lib/postgresql", "bin/initdb")],
};

/// The machine as the probes see it; tests give it another PATH.
pub struct Host {
    pub path: OsString,
}

impl Host {
    pub fn current() -> Host {
        Host {
            path: std::env::var_os("PATH").unwrap_or_default(),
        }
    }

    fn program(&self, name: &str) -> Option<PathBuf> {
        std::env::split_paths(&self.path)
            .map(|dir| dir.join(name))
            .find(|p| p.is_file())
    }

    fn passes(&self, probe: &Probe) -> bool {
        match probe {
            Probe::Program(name) => self.program(name).is_some(),
            Probe::File(path) => Path::new(path).is_file(),
            Probe::VersionedFile(dir, rest) => std::fs::read_dir(dir)
                .is_ok_and(|entries| entries.flatten().any(|e| e.path().join(rest).is_file())),
            Probe::Succeeds(argv) => self.program(argv[0]).is_some_and(|program| {
                std::process::Command::new(program)
                    .args(&argv[1..])
                    .env("PATH", &self.path)
                    .stdin(std::process::Stdio::null())
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::null())
                    .status()
                    .is_ok_and(|s| s.success())
            }),
        }
    }

    /// The packages to install, each once, in the order first needed.
    pub fn missing<'a>(&self, needs: &[&'a Need]) -> Vec<&'a Need> {
        let mut missing: Vec<&Need> = Vec::new();
        for need in needs {
            let absent = !need.probes.iter().any(|p| self.passes(p));
            if absent && !missing.iter().any(|m| m.package == need.package) {
                missing.push(need);
            }
        }
        missing
    }
}

/// Makes sure every need is met: as root, `apt-get update` and one `apt-get
/// install` (one line each on the terminal, the output in a log under
/// `target/logs`); otherwise one error naming the packages and the command.
pub fn ensure(ctx: &Ctx, needs: &[&Need]) -> Result<()> {
    let host = Host::current();
    let missing = host.missing(needs);
    if missing.is_empty() {
        return Ok(());
    }
    let packages: Vec<&str> = missing.iter().map(|n| n.package).collect();
    let reasons: Vec<String> = missing
        .iter()
        .map(|n| format!("{} ({})", n.package, n.for_what))
        .collect();
    if ctx.dry_run {
        println!("[dry-run] apt-get install {}", packages.join(" "));
        return Ok(());
    }
    if !crate::host::is_root() {
        bail!(
            "missing Debian packages: {}; install them with `sudo apt-get install -y --no-install-recommends {}`",
            reasons.join(", "),
            packages.join(" ")
        );
    }
    println!("installing {}", reasons.join(", "));
    apt(ctx, &files::log_file(ctx, "apt-update")?, &["update"])?;
    let mut install = vec!["install", "-y", "--no-install-recommends"];
    install.extend(&packages);
    apt(ctx, &files::log_file(ctx, "apt-install")?, &install)?;
    let still: Vec<&str> = host.missing(needs).iter().map(|n| n.package).collect();
    if !still.is_empty() {
        bail!(
            "installed {} but still missing what they should provide: {}",
            packages.join(" "),
            still.join(", ")
        );
    }
    Ok(())
}

fn apt(ctx: &Ctx, log: &Path, args: &[&str]) -> Result<()> {
    let started = Instant::now();
    let sh = shell()?;
    Cmd::from(cmd!(sh, "apt-get {args...}"))
        .env("DEBIAN_FRONTEND", "noninteractive")
        .stream(ctx, &Stream::logged(log))?;
    println!(
        "apt-get {}: done ({}; log {})",
        args[0],
        secs(started.elapsed()),
        log.display()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;

    fn path_with(programs: &[&str]) -> (tempfile::TempDir, Host) {
        let dir = tempfile::tempdir().unwrap();
        for name in programs {
            let file = dir.path().join(name);
            std::fs::write(&file, "#!/bin/sh\nexit 1\n").unwrap();
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let host = Host {
            path: dir.path().as_os_str().to_owned(),
        };
        (dir, host)
    }

    /// The fresh machine of the project's kind: a docker client, no daemon.
    #[test]
    fn a_docker_client_without_dockerd_still_needs_docker_io() {
        let (_dir, host) = path_with(&["docker"]);
        let missing: Vec<&str> = host
            .missing(&[&DOCKERD, &REGISTRY, &DEBOOTSTRAP])
            .iter()
            .map(|n| n.package)
            .collect();
        assert_eq!(missing, ["docker.io", "docker-registry", "debootstrap"]);
    }

    #[test]
    fn neither_client_nor_daemon_installs_docker_io_once() {
        let (_dir, host) = path_with(&[]);
        let missing: Vec<&str> = host
            .missing(&[&DOCKER_CLIENT, &DOCKERD, &COMPOSE])
            .iter()
            .map(|n| n.package)
            .collect();
        assert_eq!(missing, ["docker.io", "docker-compose"]);
    }

    #[test]
    fn present_programs_need_nothing() {
        let (_dir, host) = path_with(&["dockerd", "docker-registry", "debootstrap"]);
        assert!(host
            .missing(&[&DOCKERD, &REGISTRY, &DEBOOTSTRAP])
            .is_empty());
    }

    /// An Ubuntu host with debootstrap and gpgv but not Debian's keys.
    #[test]
    fn a_missing_keyring_file_needs_its_package() {
        let (_dir, host) = path_with(&["debootstrap", "gpgv"]);
        let keyring = Need {
            probes: &[Probe::File("/nonexistent/debian-archive-keyring.gpg")],
            ..DEBIAN_KEYRING
        };
        let missing: Vec<&str> = host
            .missing(&[&DEBOOTSTRAP, &GPGV, &keyring])
            .iter()
            .map(|n| n.package)
            .collect();
        assert_eq!(missing, ["debian-archive-keyring"]);
        let present = Need {
            probes: &[Probe::File("/proc/self/status")],
            ..DEBIAN_KEYRING
        };
        assert!(host.missing(&[&present]).is_empty());
    }

    /// A compose plugin that does not answer is not compose.
    #[test]
    fn a_failing_probe_command_counts_as_missing() {
        let (_dir, host) = path_with(&["docker"]);
        assert_eq!(host.missing(&[&COMPOSE]).len(), 1);
    }
}
