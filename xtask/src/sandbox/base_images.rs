//! The base images the real Dockerfiles take as build args, made offline from
//! Debian packages: one debootstrap per Debian release (a minimal system with
//! the CA certificates; the release's signature verified with Debian's
//! keyring, so a mirror reached over plain HTTP cannot hand us other
//! packages), copied and given each image's packages with apt in a
//! chroot, `docker import`ed, then a small Dockerfile for what a rootfs cannot
//! hold (see base-images/README.md). An image is rebuilt only when its recipe
//! changed (a label holds its hash).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Instant;

use anyhow::{Context as _, Result};

use crate::ctx::Ctx;
use crate::duration;
use crate::exec::{shell, Cmd, Stream};
use crate::files;
use crate::services::{BaseImage, NGINX_BASE, NODE_BASE, POSTGRES_BASE, PYTHON_BASE};
use xshell::cmd;

struct Recipe {
    image: &'static BaseImage,
    /// Also the name of the rootfs cache folder and the Dockerfile.
    name: &'static str,
    suite: &'static str,
    packages: &'static str,
    dockerfile: &'static str,
}

const RECIPES: [Recipe; 4] = [
    Recipe {
        image: &PYTHON_BASE,
        name: "python",
        suite: "bookworm",
        packages: "python3 python3-venv python-is-python3",
        dockerfile: include_str!("base-images/python.Dockerfile"),
    },
    Recipe {
        image: &NGINX_BASE,
        name: "nginx",
        suite: "bookworm",
        packages: "nginx",
        dockerfile: include_str!("base-images/nginx.Dockerfile"),
    },
    Recipe {
        image: &POSTGRES_BASE,
        name: "postgres",
        suite: "bookworm",
        packages: "postgresql-15",
        dockerfile: include_str!("base-images/postgres.Dockerfile"),
    },
    Recipe {
        image: &NODE_BASE,
        name: "node",
        suite: "trixie",
        packages: "nodejs",
        dockerfile: include_str!("base-images/node.Dockerfile"),
    },
];

const POSTGRES_ENTRYPOINT: &str = include_str!("base-images/postgres-entrypoint.sh");
/// The npm the node image carries (the official node:20 image's major).
const NPM: &str = "npm@10.9.9";
const MIRROR: &str = "http://deb.debian.org/debian";
/// What every image's system has (debootstrap's minimal variant plus these).
const SUITE_PACKAGES: &str = "ca-certificates";
const HOST_CA: &str = "/etc/ssl/certs/ca-certificates.crt";
const LABEL: &str = "org.cruddur.sandbox.recipe";

pub const TAGS: [&str; 4] = [
    RECIPES[0].image.sandbox,
    RECIPES[1].image.sandbox,
    RECIPES[2].image.sandbox,
    RECIPES[3].image.sandbox,
];

/// Files excluded from the imported rootfs: package caches, docs, locales, and
/// the cluster debootstrap's postgresql-15 makes (the entrypoint makes its own).
const EXCLUDES: &[&str] = &[
    "./dev/*",
    "./proc/*",
    "./sys/*",
    "./tmp/*",
    "./var/lib/apt/lists/*",
    "./var/cache/apt/*.bin",
    "./var/cache/apt/archives/*.deb",
    "./var/log/*.log",
    "./usr/share/doc/*",
    "./usr/share/man/*",
    "./usr/share/info/*",
    "./usr/share/locale/*",
    "./var/lib/postgresql/*",
    "./etc/postgresql/*",
];

const IMPORT_CHANGES: &[&str] = &[
    "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "ENV LANG=C.UTF-8",
    "ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt",
    "ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt",
    "ENV REQUESTS_CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt",
    "ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt",
    "CMD [\"bash\"]",
];

impl Recipe {
    /// Changes whenever anything that goes into the image changes.
    fn hash(&self) -> String {
        files::recipe_hash(&[
            self.suite,
            SUITE_PACKAGES,
            self.packages,
            self.dockerfile,
            POSTGRES_ENTRYPOINT,
            if self.name == "node" { NPM } else { "" },
            &EXCLUDES.join(" "),
            &IMPORT_CHANGES.join(" "),
        ])
    }

    fn rootfs_tag(&self) -> String {
        format!("cruddur-base/rootfs:{}-{}", self.name, self.suite)
    }

    fn is_current(&self, ctx: &Ctx) -> bool {
        let format = format!("{{{{index .Config.Labels \"{LABEL}\"}}}}");
        let image = self.image.sandbox;
        shell()
            .and_then(|sh| {
                Cmd::from(cmd!(sh, "docker image inspect --format {format} {image}")).read(ctx)
            })
            .is_ok_and(|label| label == self.hash())
    }
}

/// Whether any base image must be made (so debootstrap is needed).
pub fn any_missing(ctx: &Ctx) -> bool {
    RECIPES.iter().any(|r| !r.is_current(ctx))
}

/// Which sandbox base images exist (for `sandbox status`).
pub fn present(ctx: &Ctx) -> Vec<(&'static str, bool)> {
    RECIPES
        .iter()
        .map(|r| (r.image.sandbox, r.is_current(ctx)))
        .collect()
}

/// `keyring`: what debootstrap verifies each release's Release file with
/// (`install::DEBIAN_ARCHIVE_KEYRING` unless told otherwise).
pub fn ensure_base_images(ctx: &Ctx, force: bool, keyring: &Path) -> Result<()> {
    let started = Instant::now();
    let cache = ctx.root.join("target/sandbox/rootfs");
    let context = ctx.root.join("target/sandbox/base-images");
    let mut nth_of_suite: HashMap<&str, usize> = HashMap::new();
    let mut todo: Vec<(usize, &Recipe)> = RECIPES
        .iter()
        .filter(|r| force || ctx.dry_run || !r.is_current(ctx))
        .map(|r| {
            let n = nth_of_suite.entry(r.suite).or_default();
            *n += 1;
            (*n, r)
        })
        .collect();
    // One image of each release first, so the two workers debootstrap two
    // releases side by side instead of one waiting for the other's.
    todo.sort_by_key(|(n, _)| *n);
    let todo: Vec<&Recipe> = todo.into_iter().map(|(_, r)| r).collect();
    let built = todo.len();
    let suites: HashMap<&str, Mutex<()>> =
        RECIPES.iter().map(|r| (r.suite, Mutex::new(()))).collect();
    // Two at a time: debootstrap and apt mostly wait on the mirror and dpkg,
    // the import and build on the disk; on 2 cores that overlaps well.
    let queue = std::sync::Mutex::new(todo.into_iter());
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..2)
            .map(|_| {
                scope.spawn(|| -> Result<()> {
                    loop {
                        let next = queue.lock().expect("queue").next();
                        let Some(recipe) = next else {
                            return Ok(());
                        };
                        build(ctx, recipe, &cache, &context, &suites, keyring)?;
                    }
                })
            })
            .collect();
        workers.into_iter().try_for_each(|w| {
            w.join()
                .unwrap_or_else(|_| Err(anyhow::anyhow!("a base image build panicked")))
        })
    })?;
    if built == 0 {
        println!(
            "base images present: {} ({})",
            TAGS.join(", "),
            duration::secs(started.elapsed())
        );
    } else if !ctx.dry_run {
        println!(
            "base images ready ({built} built, {})",
            duration::secs(started.elapsed())
        );
    }
    Ok(())
}

fn build(
    ctx: &Ctx,
    recipe: &Recipe,
    cache: &Path,
    context: &Path,
    suites: &HashMap<&str, Mutex<()>>,
    keyring: &Path,
) -> Result<()> {
    let tag = recipe.image.sandbox;
    let prefix = format!("[{}] ", recipe.name);
    println!(
        "{prefix}making base image {tag} from Debian {} packages",
        recipe.suite
    );
    let rootfs = cache.join(format!("{}-{}", recipe.name, recipe.suite));

    let step = Instant::now();
    if !rootfs.is_dir() && !ctx.dry_run {
        let system = {
            let _one_at_a_time = suites[recipe.suite].lock().expect("suite lock");
            suite_system(ctx, recipe.suite, cache, &prefix, keyring)?
        };
        install(ctx, recipe, &system, &rootfs, &prefix)?;
    }
    if !ctx.dry_run {
        std::fs::copy(HOST_CA, rootfs.join("etc/ssl/certs/ca-certificates.crt"))
            .context("copying the host's CA bundle into the rootfs")?;
    }
    let debootstrap_took = step.elapsed();

    let step = Instant::now();
    let tarball = cache.join(format!("{}-{}.tar", recipe.name, recipe.suite));
    let sh = shell()?;
    let excludes = EXCLUDES.iter().map(|p| format!("--exclude={p}"));
    Cmd::from(cmd!(
        sh,
        "tar --numeric-owner -C {rootfs} -c -f {tarball} --anchored {excludes...} ."
    ))
    .run(ctx)?;
    let changes = IMPORT_CHANGES.iter().flat_map(|c| ["--change", c]);
    let rootfs_tag = recipe.rootfs_tag();
    Cmd::from(cmd!(
        sh,
        "docker import {changes...} {tarball} {rootfs_tag}"
    ))
    .run(ctx)?;
    let _ = std::fs::remove_file(&tarball);
    let import_took = step.elapsed();

    let step = Instant::now();
    if !ctx.dry_run {
        std::fs::create_dir_all(context)?;
        std::fs::write(
            context.join(format!("{}.Dockerfile", recipe.name)),
            recipe.dockerfile,
        )?;
        std::fs::write(context.join("postgres-entrypoint.sh"), POSTGRES_ENTRYPOINT)?;
    }
    if recipe.name == "node" {
        pack_npm(ctx, context)?;
    }
    let rootfs_arg = format!("ROOTFS={}", recipe.rootfs_tag());
    let label = format!("{LABEL}={}", recipe.hash());
    let dockerfile = context.join(format!("{}.Dockerfile", recipe.name));
    Cmd::from(cmd!(
        sh,
        "docker build --network host --build-arg {rootfs_arg} --label {label} --file {dockerfile} --tag {tag} --force-rm {context}"
    ))
    .stream(
        ctx,
        &Stream {
            prefix: &prefix,
            ..Stream::logged(&files::log_file(
                ctx,
                &format!("base-image-build-{}", recipe.name),
            )?)
        },
    )?;
    println!(
        "{prefix}{tag}: system {}, import {}, build {}",
        duration::secs(debootstrap_took),
        duration::secs(import_took),
        duration::secs(step.elapsed())
    );
    Ok(())
}

/// npm's registry tarball as `npm.tgz` in the build context, packed by the
/// host's npm (its cache and CA settings), once per version.
fn pack_npm(ctx: &Ctx, context: &Path) -> Result<()> {
    let version = NPM.trim_start_matches("npm@");
    let packed = context.join(format!("npm-{version}.tgz"));
    if !packed.exists() {
        let sh = shell()?;
        Cmd::from(cmd!(
            sh,
            "npm pack --silent {NPM} --pack-destination {context}"
        ))
        .run(ctx)
        .context("fetching npm for the node base image")?;
    }
    if !ctx.dry_run {
        std::fs::copy(&packed, context.join("npm.tgz"))?;
    }
    Ok(())
}

/// Debian `suite`'s minimal system with `SUITE_PACKAGES`, made once by
/// debootstrap into `<cache>/system-<suite>` (into `.tmp`, then renamed, so an
/// interrupted run leaves no half system).
fn suite_system(
    ctx: &Ctx,
    suite: &str,
    cache: &Path,
    prefix: &str,
    keyring: &Path,
) -> Result<PathBuf> {
    let system = cache.join(format!("system-{suite}"));
    if system.is_dir() {
        return Ok(system);
    }
    let tmp = system.with_extension("tmp");
    let debs = cache.join(format!("debs-{suite}"));
    std::fs::create_dir_all(&debs)?;
    let _ = std::fs::remove_dir_all(&tmp);
    let sh = shell()?;
    println!("{prefix}debootstrap of Debian {suite} (shared by its images)");
    let args = debootstrap_args(suite, &debs, keyring, &tmp);
    let log = files::log_file(ctx, &format!("debootstrap-{suite}"))?;
    Cmd::from(cmd!(sh, "debootstrap {args...}"))
        .stream(
            ctx,
            &Stream {
                prefix,
                ..Stream::logged(&log)
            },
        )
        .map_err(|e| {
            // Nothing half-made stays behind (the next run would remove it too).
            let _ = std::fs::remove_dir_all(&tmp);
            match unverified(&std::fs::read_to_string(&log).unwrap_or_default()) {
                Some(why) => unverified_error(suite, keyring, &why, &log),
                None => e.context(format!("debootstrap of Debian {suite}")),
            }
        })?;
    std::fs::rename(&tmp, &system)?;
    Ok(system)
}

/// Always `--keyring`: debootstrap then refuses a release whose signature it
/// cannot check, where without it (no keyring found, e.g. on Ubuntu) it warns
/// and goes on unverified.
fn debootstrap_args(suite: &str, debs: &Path, keyring: &Path, target: &Path) -> Vec<String> {
    vec![
        "--variant=minbase".into(),
        format!("--keyring={}", keyring.display()),
        format!("--cache-dir={}", debs.display()),
        format!("--include={SUITE_PACKAGES}"),
        suite.into(),
        target.display().to_string(),
        MIRROR.into(),
    ]
}

fn unverified_error(suite: &str, keyring: &Path, why: &str, log: &Path) -> anyhow::Error {
    anyhow::anyhow!(
        "debootstrap could not verify Debian {suite}'s Release file with the keyring {}: {why}; \
         no base image is made from unverified packages (`apt-get install \
         debian-archive-keyring` brings Debian's current keys; full output in {})",
        keyring.display(),
        log.display()
    )
}

/// debootstrap's error when a release could not be verified (its `E:` line:
/// unknown key, bad signature, gpgv failing or missing, keyring missing).
fn unverified(output: &str) -> Option<String> {
    const SIGNS: &[&str] = &[
        "Release signed by unknown key",
        "Invalid Release signature",
        "Error executing gpgv",
        "gpgv not installed",
        "keyring file",
    ];
    output
        .lines()
        .filter_map(|l| l.trim().strip_prefix("E: "))
        .find(|l| SIGNS.iter().any(|s| l.contains(s)))
        .map(str::to_string)
}

/// A copy of `system` with the recipe's packages, installed by apt in a
/// chroot (debootstrap left apt's package lists; /proc is mounted in a mount
/// namespace of its own, gone when apt exits; services are not started).
fn install(ctx: &Ctx, recipe: &Recipe, system: &Path, rootfs: &Path, prefix: &str) -> Result<()> {
    let tmp = rootfs.with_extension("tmp");
    let _ = std::fs::remove_dir_all(&tmp);
    let sh = shell()?;
    Cmd::from(cmd!(sh, "cp -a --reflink=auto {system} {tmp}")).run(ctx)?;
    let no_services = tmp.join("usr/sbin/policy-rc.d");
    std::fs::write(&no_services, "#!/bin/sh\nexit 101\n")?;
    Cmd::from(cmd!(sh, "chmod 755 {no_services}")).run(ctx)?;
    let script = format!(
        "mount -t proc proc /proc && apt-get install -y --no-install-recommends {} && apt-get clean",
        recipe.packages
    );
    Cmd::from(cmd!(
        sh,
        "unshare --mount --fork chroot {tmp} /bin/sh -c {script}"
    ))
    .env("DEBIAN_FRONTEND", "noninteractive")
    .env("LC_ALL", "C")
    .env(
        "PATH",
        "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    )
    .stream(
        ctx,
        &Stream {
            prefix,
            ..Stream::logged(&files::log_file(ctx, &format!("apt-{}", recipe.name))?)
        },
    )
    .with_context(|| {
        format!(
            "installing {} into the {} rootfs",
            recipe.packages, recipe.name
        )
    })?;
    std::fs::remove_file(&no_services)?;
    std::fs::rename(&tmp, rootfs)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debootstrap_always_verifies_with_the_keyring() {
        let args = debootstrap_args(
            "bookworm",
            Path::new("/c/debs-bookworm"),
            Path::new("/usr/share/keyrings/debian-archive-keyring.gpg"),
            Path::new("/c/system-bookworm.tmp"),
        );
        assert_eq!(
            args,
            [
                "--variant=minbase",
                "--keyring=/usr/share/keyrings/debian-archive-keyring.gpg",
                "--cache-dir=/c/debs-bookworm",
                "--include=ca-certificates",
                "bookworm",
                "/c/system-bookworm.tmp",
                "http://deb.debian.org/debian",
            ]
        );
    }

    /// What debootstrap 1.0.128 prints (checked with an empty keyring file).
    #[test]
    fn an_unverifiable_release_is_told_from_other_failures() {
        let unknown = "I: Retrieving InRelease \nI: Checking Release signature\n\
            E: Release signed by unknown key (key id F8D2585B8783D481)\n\
            \x20  The specified keyring /tmp/empty.gpg may be incorrect or out of date.\n";
        assert_eq!(
            unverified(unknown).as_deref(),
            Some("Release signed by unknown key (key id F8D2585B8783D481)")
        );
        let other =
            "I: Retrieving InRelease \nE: Failed getting release file http://x/dists/y/Release\n";
        assert_eq!(unverified(other), None);
    }
}
