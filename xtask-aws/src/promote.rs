//! `promote <svc|all> --from A --to B`: the exact image digests that run in
//! environment A (read from its live services' task definitions) deployed to
//! B with nothing built: B's `verify` first, then, when B's registry is
//! another (another account or region), the image copied into it by digest,
//! then B's deploy of that digest, watched as `deploy` watches.

use anyhow::{anyhow, bail, Result};
use xtask::environment::TARGET;
use xtask::errors::BadInput;
use xtask::flags::PromoteArgs;
use xtask::produced::Produced;
use xtask::services::Service;
use xtask::{infra, Ctx};

use crate::ecs::{self, Ecs, Image};
use crate::registry::{self, End};

/// What runs in the source environment.
struct Running {
    service: &'static Service,
    /// `registry/repo`
    repository: String,
    digest: Produced<String>,
    /// Its tags in the source's ECR (`latest…` left out): the copy's tags.
    tags: Vec<String>,
}

pub async fn promote(ctx: &Ctx, args: &PromoteArgs) -> Result<()> {
    let (from, to) = environments(ctx, args)?;
    let services = args.service.services();
    let names: Vec<&str> = services.iter().map(|s| s.name).collect();
    let (from_name, to_name) = (env_name(&from), env_name(&to));
    xtask::outln!(
        "promote {} from environment {from_name} to environment {to_name} (no build)",
        names.join(" and "),
    );
    for (end, label) in [(&from, "from"), (&to, "to")] {
        if let Some(env) = end.environment() {
            xtask::outln!("  {label:<4} {}", env.describe(&end.settings.cluster));
        }
    }
    for service in &services {
        infra::check_service_files(&to, service)?;
    }
    // Both accounts are checked (a read each) before anything is written.
    let source = Ecs::new(&from).await?;
    let target = Ecs::new(&to).await?;
    let mut running = Vec::new();
    for service in &services {
        running.push(running_image(&source, service).await?);
    }
    let (from_registry, to_registry) = (
        source.aws.registry(&from).await?,
        target.aws.registry(&to).await?,
    );
    let copy = from_registry != to_registry;
    for r in &running {
        xtask::outln!(
            "{}: promotes {}@{} (what runs in {from_name}){}",
            r.service.name,
            r.repository,
            r.digest,
            if copy {
                format!(", copied into {to_registry} by digest first")
            } else {
                String::new()
            }
        );
    }
    let digests = running
        .iter()
        .filter_map(|r| Some((r.service.name, r.digest.as_value()?.clone())))
        .collect();
    ecs::preflight_images(
        &target,
        args.service,
        &ecs::Images::Promoted {
            digests,
            copied: copy,
        },
    )
    .await?;
    if copy {
        copy_images(&source, &target, &running).await?;
    }
    let images = running
        .into_iter()
        .map(|r| {
            let tag = r.tags.first().cloned().unwrap_or_else(|| "promoted".into());
            let image = Image {
                repository: format!("{to_registry}/{}", r.service.repo()),
                tag,
                digest: r.digest,
            };
            (r.service, image)
        })
        .collect();
    let opts = ecs::DeployOpts {
        wait: true,
        rollback_on_timeout: !args.no_rollback,
        watch: args.watch.clone(),
        pre: None,
    };
    ecs::deploy_images(&target, images, &opts).await
}

fn env_name(ctx: &Ctx) -> String {
    ctx.environment()
        .map_or_else(|| "?".to_string(), |e| e.name.clone())
}

/// The two environments' runs; promote takes every target setting from their files.
fn environments(ctx: &Ctx, args: &PromoteArgs) -> Result<(Ctx, Ctx)> {
    if let Some(env) = ctx.environment() {
        bail!(BadInput(format!(
            "promote acts on --from and --to: drop --env {} (or CRUDDUR_ENV)",
            env.name
        )));
    }
    if args.from == args.to {
        bail!(BadInput(format!(
            "--from and --to are both {}: promote goes from one environment to another",
            args.from
        )));
    }
    let flags: Vec<&String> = ctx
        .settings
        .given
        .flags
        .iter()
        .filter(|f| TARGET.contains(&f.as_str()))
        .collect();
    if !flags.is_empty() {
        bail!(BadInput(format!(
            "promote takes the target settings from the two environment files, not flags ({})",
            flags
                .iter()
                .map(|f| format!("--{}", f.replace('_', "-")))
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    Ok((
        ctx.with_environment(&args.from)?,
        ctx.with_environment(&args.to)?,
    ))
}

/// The image digest `service`'s live task definition in `source` pins; a
/// service that is missing, still rolling out, or runs a tag is refused.
async fn running_image(source: &Ecs, service: &'static Service) -> Result<Running> {
    let env = source.ctx.environment().map_or("?", |e| e.name.as_str());
    let live = source.describe_service(service).await?;
    let Produced::Value(live) = live else {
        let planned = Produced::planned(format!("digest {service} runs in {env}"));
        let registry = source.aws.registry(&source.ctx).await?;
        return Ok(Running {
            service,
            repository: format!("{registry}/{}", service.repo()),
            digest: planned,
            tags: vec![],
        });
    };
    let live = live.ok_or_else(|| {
        anyhow!(
            "{service} does not run in environment {env} (cluster {}): nothing to promote",
            source.cluster
        )
    })?;
    if let Some(unfinished) = crate::ecs::unfinished_rollout(&live) {
        bail!("{service} in {env}: {unfinished}: promote what runs there once it has finished");
    }
    let arn = live.task_definition().unwrap_or_default().to_string();
    let td = source
        .describe_task_definition(&Produced::Value(arn.clone()))
        .await?
        .real()?
        .ok_or_else(|| anyhow!("{env}: ECS has no task definition {arn}"))?;
    let image = td
        .container_definitions()
        .iter()
        .find(|c| c.name() == Some(service.name))
        .and_then(|c| c.image())
        .ok_or_else(|| anyhow!("{env}: {arn} has no container {}", service.name))?;
    let Some((repository, digest)) = image.split_once('@') else {
        bail!(
            "{service} in {env} runs {image}, a tag rather than a digest: deploy it there with `cargo xtask --env {env} deploy {}` first",
            service.short
        );
    };
    let tags = crate::ecr::tags_of(&source.ctx, &source.aws, service.repo(), digest)
        .await?
        .into_iter()
        .filter(|t| !t.starts_with("latest"))
        .collect();
    Ok(Running {
        service,
        repository: repository.to_string(),
        digest: Produced::Value(digest.to_string()),
        tags,
    })
}

async fn copy_images(source: &Ecs, target: &Ecs, running: &[Running]) -> Result<()> {
    for r in running {
        let repo = r.service.repo();
        target.ctx.announce(&format!(
            "registry copy {repo}@{} by digest: GET manifest and blobs from {}, PUT into {} (tags: {})",
            r.digest,
            r.repository,
            target.aws.registry(&target.ctx).await?,
            r.tags.join(", ")
        ));
        let Produced::Value(digest) = &r.digest else {
            continue;
        };
        if target.ctx.dry_run {
            continue;
        }
        crate::ecr::ensure_repo(&target.ctx, &target.aws, repo, false).await?;
        let (from, to) = (
            End {
                ctx: &source.ctx,
                aws: &source.aws,
            },
            End {
                ctx: &target.ctx,
                aws: &target.aws,
            },
        );
        registry::copy(&from, &to, repo, digest, &r.tags).await?;
        xtask::outln!(
            "{}: copied {repo}@{digest} into {} (digest unchanged; its ECR lists it)",
            r.service.name,
            target.aws.registry(&target.ctx).await?
        );
    }
    Ok(())
}
