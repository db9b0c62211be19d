//! `build`, `run`, `up` and `down`: the docker CLI and docker compose, through
//! the `exec` wrapper.

use std::collections::BTreeMap;
use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _, Result};

use xshell::cmd;

use crate::ctx::Ctx;
use crate::errors::BadInput;
use crate::exec::{shell, Cmd};
use crate::flags::{BaseImages, BuildArgs, RunArgs};
use crate::produced::Produced;
use crate::services::{BaseImage, Service, NETWORK};
use crate::{duration, env, poll};

/// Fails with one line when docker is missing or its daemon is down.
pub fn ensure_daemon(ctx: &Ctx) -> Result<()> {
    if ctx.dry_run {
        return Ok(());
    }
    let (sh, format) = (shell()?, "{{.Server.Version}}");
    Cmd::from(cmd!(sh, "docker version --format {format}"))
        .read(ctx)
        .map(drop)
}

/// The base image a build uses for `image`, by the base-image setting.
pub fn base_image(ctx: &Ctx, image: &BaseImage) -> String {
    match ctx.base_images() {
        BaseImages::Sandbox => image.sandbox.to_string(),
        BaseImages::Public => image.public.to_string(),
        BaseImages::Mirror => match (image.mirror_repo, ctx.registry_without_aws()) {
            (Some(repo), Some(registry)) => format!("{registry}/{repo}:{}", public_tag(image)),
            _ => image.public.to_string(),
        },
    }
}

/// `python:3.11-slim-bookworm` -> `3.11-slim-bookworm`.
pub fn public_tag(image: &BaseImage) -> &'static str {
    image
        .public
        .rsplit_once(':')
        .map_or("latest", |(_, tag)| tag)
}

/// Build args every image of `service` gets: its base images. No setting is
/// baked in: the prod front end reads its settings when its container starts
/// (`frontend-react-js/docker-entrypoint.sh`), so one image runs anywhere.
fn build_args(ctx: &Ctx, service: &'static Service, args: &BuildArgs) -> BTreeMap<String, String> {
    let mut out: BTreeMap<String, String> = service
        .base_images
        .iter()
        .map(|b| (b.arg.to_string(), base_image(ctx, b)))
        .collect();
    out.extend(args.build_arg.iter().cloned());
    out
}

/// `run` reads the service's env file: written first when missing.
fn ensure_env_file(ctx: &Ctx, service: &'static Service) -> Result<()> {
    if !service.env_file(&ctx.root).exists() {
        crate::outln!(
            "{} is missing: generating it",
            service.env_file(&ctx.root).display()
        );
        env::write(ctx, &[service])?;
    }
    Ok(())
}

/// The `docker build` of one image. Describing it reads nothing and writes
/// nothing: its base images come from the settings. With `iidfile`, docker
/// writes the id of the image it made there.
pub fn build_command(
    ctx: &Ctx,
    service: &'static Service,
    args: &BuildArgs,
    iidfile: Option<&Path>,
) -> Result<Cmd> {
    let build_args = build_args(ctx, service, args);
    let image = service.image(args.dev);
    let folder = service.folder(&ctx.root);
    let dockerfile = folder.join(service.dockerfile(args.dev));
    let tags = args.tag.iter().flat_map(|tag| {
        let full = if tag.contains([':', '/']) {
            tag.clone()
        } else {
            format!("{image}:{tag}")
        };
        ["--tag".to_string(), full]
    });
    let network = ctx
        .settings
        .build_network
        .iter()
        .flat_map(|n| ["--network".to_string(), n.clone()]);
    let no_cache = args.no_cache.then_some("--no-cache");
    let iidfile = iidfile
        .into_iter()
        .flat_map(|p| ["--iidfile".into(), p.to_owned()]);
    let build_args = build_args
        .iter()
        .flat_map(|(k, v)| ["--build-arg".to_string(), format!("{k}={v}")]);
    let sh = shell()?;
    // --force-rm: docker without buildx builds with the legacy builder, which
    // keeps a failed step's container for good (BuildKit accepts the flag and
    // has nothing to remove).
    Ok(cmd!(
        sh,
        "docker build --file {dockerfile} --tag {image} {tags...} {network...} {no_cache...} {iidfile...} {build_args...} --force-rm {folder}"
    )
    .into())
}

pub fn build(ctx: &Ctx, args: &BuildArgs) -> Result<()> {
    build_ids(ctx, args).map(drop)
}

/// Builds as `build` does and returns the id of each image made (planned in a
/// dry run). A deploy pushes these ids, not what the image's name points at
/// by then: another build of the same name meanwhile (a second checkout, a
/// test alongside) would otherwise change what it ships.
pub fn build_ids(ctx: &Ctx, args: &BuildArgs) -> Result<Vec<(&'static Service, Produced<String>)>> {
    ensure_daemon(ctx)?;
    let services = args.service.services();
    let iidfiles: Vec<Option<PathBuf>> = services
        .iter()
        .map(|s| (!ctx.dry_run).then(|| iidfile(s)))
        .collect();
    let commands: Vec<(&'static Service, Cmd)> = services
        .iter()
        .zip(&iidfiles)
        .map(|(s, iid)| Ok((*s, build_command(ctx, s, args, iid.as_deref())?)))
        .collect::<Result<_>>()?;
    let started = Instant::now();
    let results: Vec<(&Service, Result<()>)> = if commands.len() == 1 {
        let (service, c) = &commands[0];
        vec![(*service, c.run(ctx))]
    } else {
        // Both at once: each line prefixed with its service so the logs stay readable.
        std::thread::scope(|scope| {
            let handles: Vec<_> = commands
                .iter()
                .map(|(service, c)| {
                    let prefix = format!("[{}] ", service.name);
                    (
                        *service,
                        scope.spawn(move || c.run_lines(ctx, &prefix).map(drop)),
                    )
                })
                .collect();
            handles
                .into_iter()
                .map(|(s, h)| {
                    (
                        s,
                        h.join()
                            .unwrap_or_else(|_| Err(anyhow::anyhow!("panicked"))),
                    )
                })
                .collect()
        })
    };
    let reported = report_builds(ctx, args.dev, results, started.elapsed());
    // Each file read and removed whatever happened; a failed build's error comes first.
    let ids: Result<Vec<_>> = services
        .iter()
        .zip(iidfiles)
        .map(|(s, iid)| Ok((*s, read_iidfile(&s.image(args.dev), iid)?)))
        .collect();
    reported?;
    ids
}

/// Where docker writes one build's image id: named by process and service so
/// that builds alongside never share one.
fn iidfile(service: &Service) -> PathBuf {
    std::env::temp_dir().join(format!(
        "cruddur-build-{}-{}.iid",
        std::process::id(),
        service.name
    ))
}

/// The id docker wrote, the file removed; planned in a dry run, where no
/// file was asked for.
fn read_iidfile(image: &str, iid: Option<PathBuf>) -> Result<Produced<String>> {
    let Some(path) = iid else {
        return Ok(Produced::planned(format!("the id of the {image} built")));
    };
    let id = std::fs::read_to_string(&path);
    let _ = std::fs::remove_file(&path);
    let id =
        id.with_context(|| format!("reading the image id docker wrote to {}", path.display()))?;
    Ok(Produced::Value(id.trim().to_string()))
}

fn report_builds(
    ctx: &Ctx,
    dev: bool,
    results: Vec<(&Service, Result<()>)>,
    took: Duration,
) -> Result<()> {
    let mut failed = Vec::new();
    for (service, result) in results {
        match result {
            Ok(()) if !ctx.dry_run => {
                crate::outln!("built {} ({})", service.image(dev), duration::secs(took));
            }
            Ok(()) => {}
            Err(e) => {
                eprintln!("build of {service} failed: {e:#}");
                failed.push(service.name);
            }
        }
    }
    if !failed.is_empty() {
        bail!(
            "docker build failed for {} (see its output above)",
            failed.join(" and ")
        );
    }
    Ok(())
}

pub fn ensure_network(ctx: &Ctx) -> Result<()> {
    let sh = shell()?;
    let exists =
        !ctx.dry_run && Cmd::from(cmd!(sh, "docker network inspect {NETWORK}")).succeeds(ctx)?;
    if !exists {
        Cmd::from(cmd!(sh, "docker network create {NETWORK}")).run(ctx)?;
    }
    Ok(())
}

/// `docker run` of a service's image, published on the loopback address
/// unless `CRUDDUR_PUBLISH_ADDRESS` says otherwise.
pub fn run_command(ctx: &Ctx, service: &Service, args: &RunArgs, interactive: bool) -> Result<Cmd> {
    let env_file = service.env_file(&ctx.root);
    let publish = format!("{0}:{1}:{1}", ctx.settings.publish_address(), service.port);
    let name = service.name;
    let mode = if args.detach {
        Some("--detach")
    } else {
        interactive.then_some("-it")
    };
    let image = service.image(args.dev);
    let sh = shell()?;
    let c: Cmd = cmd!(
        sh,
        "docker run --rm --name {name} --env-file {env_file} --network {NETWORK} --publish {publish} {mode...} {image}"
    )
    .into();
    Ok(if interactive && !args.detach {
        c.interactive()
    } else {
        c
    })
}

pub fn run(ctx: &Ctx, args: &RunArgs) -> Result<()> {
    let service = args.service;
    let name = service.name;
    ensure_daemon(ctx)?;
    if !ctx.dry_run {
        let image = service.image(args.dev);
        if !image_exists(ctx, &image)? {
            let dev = if args.dev { " --dev" } else { "" };
            bail!(BadInput(format!(
                "no local image {image}: run `cargo xtask build {}{dev}` first",
                service.short
            )));
        }
        ensure_env_file(ctx, service)?;
        // A container of an earlier `run --detach` holds the name and the port.
        let sh = shell()?;
        if Cmd::from(cmd!(sh, "docker container inspect {name}")).succeeds(ctx)? {
            Cmd::from(cmd!(sh, "docker rm --force {name}")).run(ctx)?;
        }
    }
    ensure_network(ctx)?;
    let interactive = std::io::stdin().is_terminal() && std::io::stdout().is_terminal();
    run_command(ctx, service, args, interactive)?.run(ctx)?;
    if args.detach && !ctx.dry_run {
        wait_until_answering(ctx, service, Duration::from_secs(90))?;
    }
    Ok(())
}

/// Polls the published port until the service answers its health path.
fn wait_until_answering(ctx: &Ctx, service: &Service, limit: Duration) -> Result<()> {
    let url = format!("http://127.0.0.1:{}{}", service.port, service.health_path);
    let started = Instant::now();
    let what = format!("{} answering {url}", service.name);
    poll::until(&what, limit, Duration::from_millis(500), || {
        Ok(matches!(poll::http_status(&url), Ok(200)).then_some(()))
    })
    .map_err(|e| {
        let name = service.name;
        let logs = shell()
            .and_then(|sh| Cmd::from(cmd!(sh, "docker logs --tail 20 {name}")).read(ctx))
            .unwrap_or_default();
        e.context(format!(
            "last log lines:\n{logs}\n(see `docker logs {}`)",
            service.name
        ))
    })?;
    crate::outln!(
        "{} answers on http://{}:{} ({})",
        service.name,
        ctx.settings.publish_address(),
        service.port,
        duration::secs(started.elapsed())
    );
    Ok(())
}

/// A label of a local image (None: no such label).
pub fn image_label(ctx: &Ctx, image: &str, label: &str) -> Result<Option<String>> {
    let format = format!("{{{{index .Config.Labels \"{label}\"}}}}");
    let sh = shell()?;
    let value = Cmd::from(cmd!(sh, "docker image inspect --format {format} {image}"))
        .read(ctx)
        .context("asking docker for the image's labels")?;
    Ok(Some(value).filter(|v| !v.is_empty() && v != "<no value>"))
}

/// Does the local image exist? (push and deploy check before they start)
pub fn image_exists(ctx: &Ctx, image: &str) -> Result<bool> {
    Ok(image_id(ctx, image)?.is_some())
}

/// The id of the local image `image` names now (None: no such image). A push
/// tags from the id, so every tag gets the same image even if the name moves.
pub fn image_id(ctx: &Ctx, image: &str) -> Result<Option<String>> {
    let (sh, format) = (shell()?, "{{.Id}}");
    let c = Cmd::from(cmd!(sh, "docker image inspect --format {format} {image}"));
    match c.read(ctx) {
        Ok(id) => Ok(Some(id)),
        Err(e) if e.downcast_ref::<crate::errors::Failed>().is_some() => Ok(None),
        Err(e) => Err(e).context("asking docker for the image"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::services::{Selection, BACKEND, FRONTEND};

    fn ctx() -> Ctx {
        Ctx::for_tests()
    }

    #[test]
    fn the_prod_front_end_bakes_no_setting_in() {
        let args = BuildArgs {
            service: Selection::One(&FRONTEND),
            dev: false,
            no_cache: false,
            tag: vec![],
            build_arg: vec![],
        };
        let argv = build_command(&ctx(), &FRONTEND, &args, None)
            .unwrap()
            .argv();
        assert!(
            argv.iter()
                .all(|a| !a.starts_with("REACT_APP_") && !a.contains("org.cruddur.api-url")),
            "{argv:?}"
        );
        assert!(
            argv.iter().any(|a| a.starts_with("NGINX_IMAGE=")),
            "{argv:?}"
        );
    }

    #[test]
    fn run_command_matches_the_contract() {
        let args = RunArgs {
            service: &BACKEND,
            detach: false,
            dev: false,
        };
        let argv = run_command(&ctx(), &BACKEND, &args, true).unwrap().argv();
        assert_eq!(
            argv,
            [
                "docker",
                "run",
                "--rm",
                "--name",
                "backend-flask",
                "--env-file",
                "/repo/backend-flask.env",
                "--network",
                "cruddur-net",
                "--publish",
                "127.0.0.1:4567:4567",
                "-it",
                "backend-flask-prod"
            ]
        );
        let not_a_tty = run_command(&ctx(), &BACKEND, &args, false).unwrap().argv();
        assert!(!not_a_tty.contains(&"-it".to_string()));
        let detached = RunArgs {
            detach: true,
            ..args
        };
        assert!(run_command(&ctx(), &BACKEND, &detached, true)
            .unwrap()
            .argv()
            .contains(&"--detach".to_string()));
    }

    #[test]
    fn build_command_uses_the_prod_dockerfile_and_base_image_args() {
        let args = BuildArgs {
            service: Selection::One(&BACKEND),
            dev: false,
            no_cache: false,
            tag: vec!["v1".into(), "registry.example/x:y".into()],
            build_arg: vec![("EXTRA".into(), "1".into())],
        };
        let argv = build_command(&ctx(), &BACKEND, &args, None).unwrap().argv();
        let joined = argv.join(" ");
        assert!(joined.starts_with(
            "docker build --file /repo/backend-flask/Dockerfile.prod --tag backend-flask-prod"
        ));
        assert!(joined.contains("--tag backend-flask-prod:v1 --tag registry.example/x:y"));
        assert!(argv.iter().any(|a| a.starts_with("PYTHON_IMAGE=")));
        assert!(argv.contains(&"EXTRA=1".to_string()));
        assert!(argv.contains(&"--force-rm".to_string()));
        assert_eq!(argv.last().unwrap(), "/repo/backend-flask");
        let dev = BuildArgs { dev: true, ..args };
        let argv = build_command(&ctx(), &BACKEND, &dev, None).unwrap().argv();
        let joined = argv.join(" ");
        assert!(
            joined.starts_with(
                "docker build --file /repo/backend-flask/Dockerfile --tag backend-flask "
            ),
            "{joined}"
        );
    }
}
