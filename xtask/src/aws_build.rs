//! The AWS build of the tool, `xtask-aws`: a package and workspace of its own
//! beside `xtask/`, built on first use into the same target directory. Its own
//! executable means the two builds never replace each other (a light command
//! looping in one terminal and a deploy in another both get the build they
//! asked for); its own workspace means a light command never makes cargo
//! resolve the SDK's dependency graph.

use std::ffi::OsString;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{anyhow, Context as _, Result};

use crate::ctx::Ctx;
use crate::errors::Failed;
use crate::exec::{shell, Cmd, Stream};
use xshell::cmd;

/// What a cold build costs on the project's 2-core machine, for the notice.
const FIRST_BUILD: &str = "about 2 minutes on 2 cores";

/// Hands this very command line to the AWS build: it replaces this process,
/// so its output, Ctrl-C and exit code are the command's own.
pub fn run_this_command(ctx: &Ctx) -> Result<()> {
    let binary = ensure_built(ctx)?;
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    let err = std::process::Command::new(&binary).args(args).exec();
    Err(anyhow!("could not start {}: {err}", binary.display()))
}

/// An AWS command as a child process (demo, test and bench run the same
/// commands a user would type); the settings go with it as its environment.
pub fn command(ctx: &Ctx, args: &[&str]) -> Result<Cmd> {
    let binary = ensure_built(ctx)?;
    let dry_run = ctx.dry_run.then_some("--dry-run");
    let sh = shell()?;
    let mut c = Cmd::from(cmd!(sh, "{binary} {dry_run...} {args...}"))
        .dir(&ctx.root)
        .env(
            "CARGO_MANIFEST_DIR",
            ctx.tool_root.join("xtask-aws").display().to_string(),
        );
    for (name, value) in ctx.settings.to_env() {
        c = c.env(name, value);
    }
    Ok(c)
}

/// `cargo build` of `xtask-aws`, its progress on stderr (with a line every 10
/// seconds while one crate takes long), nothing shown when it is up to date.
pub fn ensure_built(ctx: &Ctx) -> Result<PathBuf> {
    let target = target_dir()?;
    let binary = target.join("debug/xtask-aws");
    if newer_than_its_sources(ctx, &binary) {
        return Ok(binary);
    }
    if !binary.exists() {
        eprintln!(
            "compiling the AWS part of the tool, xtask-aws (the first time only: {FIRST_BUILD}; later runs start at once)"
        );
    }
    let cargo = crate::host::cargo();
    let manifest = ctx.tool_root.join("xtask-aws/Cargo.toml");
    let sh = shell()?;
    let build = crate::host::nested_cargo(Cmd::from(cmd!(
        sh,
        "{cargo} build --bin xtask-aws --manifest-path {manifest} --target-dir {target}"
    )));
    let stream = Stream {
        show: &|line: &str| !line.trim_start().starts_with("Finished "),
        to_stderr: true,
        heartbeat: Some(Duration::from_secs(10)),
        ..Stream::quiet_command()
    };
    build.stream(ctx, &stream).map_err(|e| match e.downcast_ref::<Failed>() {
        Some(failed) => anyhow!(
            "the AWS part of the tool (xtask-aws) did not compile: {failed}; see cargo's output above"
        ),
        None => e,
    })?;
    Ok(binary)
}

/// Whether the AWS build is newer than every file it is built from: then
/// even cargo's up-to-date check (about a tenth of a second) is skipped.
/// Anything touched since (an edit, a checkout, a new lock) sends it to cargo.
fn newer_than_its_sources(ctx: &Ctx, binary: &Path) -> bool {
    let Ok(built) = std::fs::metadata(binary).and_then(|m| m.modified()) else {
        return false;
    };
    let root = &ctx.tool_root;
    let sources = [
        "Cargo.toml",
        "Cargo.lock",
        ".cargo",
        "xtask/Cargo.toml",
        "xtask/src",
        "xtask/templates",
        "xtask-aws/Cargo.toml",
        "xtask-aws/Cargo.lock",
        "xtask-aws/src",
    ];
    sources
        .iter()
        .all(|s| newest(&root.join(s)).is_some_and(|t| t < built))
}

/// The newest modification time under `path` (None: unreadable).
fn newest(path: &Path) -> Option<std::time::SystemTime> {
    let meta = std::fs::metadata(path).ok()?;
    let mut latest = meta.modified().ok()?;
    if meta.is_dir() {
        for entry in std::fs::read_dir(path).ok()? {
            latest = latest.max(newest(&entry.ok()?.path())?);
        }
    }
    Some(latest)
}

/// The target directory this binary was built into (`<target>/debug/xtask`),
/// so both builds share it whatever `CARGO_TARGET_DIR` says.
pub fn target_dir() -> Result<PathBuf> {
    let exe = std::env::current_exe().context("finding the tool's own executable")?;
    exe.parent()
        .and_then(|debug| debug.parent())
        .map(PathBuf::from)
        .context("the tool's executable is not in a cargo target directory")
}

/// Runs an AWS command of the tool as a child process and waits for it; its
/// exit code 2 (bad input) stays bad input. In a dry run the child does the
/// dry run itself.
pub fn run(ctx: &Ctx, args: &[&str], env: &[(&str, String)]) -> Result<()> {
    let mut c = command(ctx, args)?;
    for (name, value) in env {
        c = c.env(name, value.clone());
    }
    let real = Ctx {
        dry_run: false,
        ..ctx.clone()
    };
    c.run(&real).map_err(|e| match e.downcast_ref::<Failed>() {
        Some(Failed {
            code: Some(2),
            summary,
        }) => crate::errors::BadInput(summary.clone()).into(),
        _ => e,
    })
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};
    use std::path::Path;

    fn root() -> &'static Path {
        Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap()
    }

    /// `cargo tree … --prefix none` in the repository: one `name vX` per line.
    fn cargo_tree(args: &[&str]) -> String {
        let out = std::process::Command::new(crate::host::cargo())
            .arg("tree")
            .args(args)
            .args(["--prefix", "none"])
            .current_dir(root())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// name -> versions, from a Cargo.lock.
    fn locked(path: &str) -> BTreeMap<String, BTreeSet<String>> {
        let text = std::fs::read_to_string(root().join(path)).unwrap();
        let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        let mut name = None;
        for line in text.lines() {
            if let Some(n) = line.strip_prefix("name = ") {
                name = Some(n.trim_matches('"').to_string());
            } else if let (Some(v), Some(n)) = (line.strip_prefix("version = "), name.take()) {
                out.entry(n)
                    .or_default()
                    .insert(v.trim_matches('"').to_string());
            }
        }
        out
    }

    /// The AWS build reuses the light build's compiled crates only when its
    /// lock picks the same version of every crate the library is built with.
    #[test]
    fn the_aws_lock_has_every_crate_of_the_library_at_the_same_version() {
        let tree = cargo_tree(&["--offline", "-p", "xtask", "-e", "normal"]);
        let aws = locked("xtask-aws/Cargo.lock");
        let differing: BTreeSet<String> = tree
            .lines()
            .filter_map(|l| {
                let mut words = l.split_whitespace();
                let (name, version) = (words.next()?, words.next()?.trim_start_matches('v'));
                (name != "xtask" && !aws.get(name).is_some_and(|v| v.contains(version)))
                    .then(|| format!("{name} {version}"))
            })
            .collect();
        assert!(
            differing.is_empty(),
            "not in xtask-aws/Cargo.lock: {differing:?}"
        );
    }

    /// The AWS build talks to AWS through the SDK the design names, over one
    /// HTTP stack (hyper 1) and one TLS stack (rustls on ring): the crates'
    /// default features would add hyper 0.14 with rustls 0.21 and build
    /// aws-lc from C. And no signing code of our own: SigV4 is aws-sigv4's.
    #[test]
    fn the_aws_build_uses_the_sdk_over_one_http_and_one_tls_stack() {
        let manifest = root().join("xtask-aws/Cargo.toml").display().to_string();
        let tree = cargo_tree(&["--manifest-path", &manifest, "-e", "normal,build"]);
        let mut versions: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for line in tree.lines() {
            let mut words = line.split_whitespace();
            if let (Some(name), Some(version)) = (words.next(), words.next()) {
                versions
                    .entry(name.to_string())
                    .or_default()
                    .insert(version.to_string());
            }
        }
        for named in ["aws-config", "aws-sdk-ecs", "aws-sdk-ecr", "aws-sigv4"] {
            assert!(
                versions.contains_key(named),
                "{named} is missing from the AWS build"
            );
        }
        for banned in [
            "aws-lc-sys",
            "aws-lc-rs",
            "openssl-sys",
            "native-tls",
            "reqwest",
            "ureq",
        ] {
            assert!(
                !versions.contains_key(banned),
                "{banned} is in the AWS build"
            );
        }
        for stack in ["hyper", "rustls", "ring", "h2"] {
            let found = versions.get(stack).map_or(0, BTreeSet::len);
            assert!(found <= 1, "two {stack}s: {:?}", versions.get(stack));
        }
        for stack in ["hyper", "rustls", "ring"] {
            assert!(versions.contains_key(stack), "no {stack}");
        }
        // The marks of a SigV4 signer: the algorithm name, the scope's
        // terminator and the signing key's derivation.
        let mut ours = Vec::new();
        let mut dirs = vec![root().join("xtask-aws/src")];
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(dir).unwrap().flatten() {
                let path = entry.path();
                if path.is_dir() {
                    dirs.push(path);
                    continue;
                }
                let text = std::fs::read_to_string(&path).unwrap_or_default();
                for mark in ["AWS4-HMAC-SHA256", "aws4_request", "\"AWS4\"", "Hmac<"] {
                    if text.contains(mark) {
                        ours.push(format!("{}: {mark}", path.display()));
                    }
                }
            }
        }
        assert!(ours.is_empty(), "signing code of our own: {ours:?}");
    }

    /// Cargo compiles a crate again for a different feature set, and
    /// everything above it: one shared crate with other features in the AWS
    /// build (percent-encoding, asked for by ureq) made it compile askama,
    /// serde, clap and the light crate a second time (30 s of CPU).
    #[test]
    fn crates_in_both_builds_have_the_same_features() {
        let manifest = root().join("xtask-aws/Cargo.toml").display().to_string();
        // A crate built for the host (proc macros, build scripts) and for the
        // target is listed once per feature set.
        let features = |args: &[&str]| {
            let mut found: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
            let tree = cargo_tree(&[args, &["-e", "normal,build", "-f", "{p} [{f}]"]].concat());
            for line in tree.lines() {
                let Some((package, features)) = line.split_once(" [") else {
                    continue;
                };
                let mut words = package.split_whitespace();
                if let (Some(name), Some(version)) = (words.next(), words.next()) {
                    found
                        .entry(format!("{name} {version}"))
                        .or_default()
                        .insert(format!("[{}", features.trim_end_matches(" (*)")));
                }
            }
            found
        };
        let light = features(&["-p", "xtask"]);
        let aws = features(&["--manifest-path", &manifest]);
        let differing: Vec<String> = light
            .iter()
            .filter(|(id, _)| !id.starts_with("xtask "))
            .filter_map(|(id, f)| {
                let other = aws.get(id)?;
                (other != f).then(|| format!("{id}: {f:?} vs {other:?}"))
            })
            .collect();
        assert!(differing.is_empty(), "built twice: {differing:?}");
    }

    /// A different dev profile would rebuild every shared crate.
    #[test]
    fn both_workspaces_build_with_the_same_dev_profile() {
        let profile = |path: &str| {
            let text = std::fs::read_to_string(root().join(path)).unwrap();
            text.split("[profile.dev]")
                .nth(1)
                .expect("a [profile.dev] section")
                .lines()
                .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
                .collect::<Vec<_>>()
                .join("\n")
        };
        assert_eq!(profile("Cargo.toml"), profile("xtask-aws/Cargo.toml"));
    }
}
