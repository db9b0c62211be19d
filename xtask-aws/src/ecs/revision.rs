//! What a deploy registers: the image it pins (built and pushed, or found in
//! ECR), the task definition `infra/` makes of it, and a new revision only
//! when that differs from what ECS has.

use super::watch::short_revision;
use anyhow::{bail, Result};
use xtask::docker;
use xtask::exec::print_line;
use xtask::flags::{BaseImages, BuildArgs};
use xtask::infra::{self, normalize_task_definition, TaskDefinition};
use xtask::produced::Produced;
use xtask::services::{Selection, Service};

use super::client::Ecs;
use super::convert;
use crate::ecr;

/// The image a deploy pins its task definition to.
#[derive(Clone, Debug)]
pub struct Image {
    pub repository: String,
    pub tag: String,
    pub digest: Produced<String>,
}

impl Image {
    pub fn pinned(&self) -> Produced<String> {
        let repository = self.repository.clone();
        self.digest.clone().map(|d| format!("{repository}@{d}"))
    }
}

pub fn say(service: &Service, line: &str) {
    print_line("", &format!("{}: {line}", service.name));
}

/// Build and push (both services' builds at once), or, with `no_build`, the
/// image of this commit that ECR has, else the last one deployed successfully.
pub async fn images(ecs: &Ecs, selection: Selection, no_build: bool) -> Result<Vec<Image>> {
    let ctx = &ecs.ctx;
    let services = selection.services();
    let mut images = Vec::new();
    if !no_build {
        if ctx.base_images() == BaseImages::Mirror {
            ecr::login_if_needed(ctx, &ecs.aws).await?;
        }
        for (service, id) in docker::build_ids(ctx, &BuildArgs::prod(selection))? {
            let pushed = ecr::push_service(ctx, &ecs.aws, service, Some(&id), &[], false).await?;
            images.push(Image {
                repository: pushed.repository,
                tag: pushed.commit_tag,
                digest: pushed.digest,
            });
        }
        return Ok(images);
    }
    let registry = ecs.aws.registry(ctx).await?;
    for service in services {
        let (tag, digest) = match ecr::deployable_image(ctx, &ecs.aws, service).await? {
            Produced::Value(Some(found)) => (found.tag, Produced::Value(found.digest)),
            Produced::Value(None) => bail!(
                "ECR has no image of this commit ({}:{}) and no {}:{} to deploy: push one (`cargo xtask push {}`) or deploy without --no-build",
                service.repo(),
                xtask::git::commit_tag(ctx).unwrap_or_else(|_| "<not a git checkout>".into()),
                service.repo(),
                ctx.settings.latest_tag(),
                service.short
            ),
            Produced::Planned(what) => ("<this commit's tag, else latest>".into(), Produced::Planned(what)),
        };
        images.push(Image {
            repository: format!("{registry}/{}", service.repo()),
            tag,
            digest,
        });
    }
    Ok(images)
}

/// The task definition deploy would register for `image`, and the placeholders it used.
pub async fn wanted(
    ecs: &Ecs,
    service: &Service,
    image: &Image,
) -> Result<(Produced<TaskDefinition>, infra::Placeholders)> {
    let pinned = image.pinned();
    let placeholders = ecs
        .placeholders_for(service, Some(&pinned.to_string()))
        .await?;
    let wanted = infra::task_definition(&ecs.ctx, service, &placeholders)?;
    infra::refuse_local_addresses_for_ecr(&ecs.aws.registry(&ecs.ctx).await?, &wanted)?;
    let wanted = match pinned {
        Produced::Value(_) => Produced::Value(wanted),
        Produced::Planned(_) => {
            Produced::planned(format!("{} with the pushed image", service.name))
        }
    };
    Ok((wanted, placeholders))
}

/// Build, push and register `service`'s task definition as deploy does (a new
/// revision only when it changed), without touching the service: `task --build`.
pub async fn build_and_register(ecs: &Ecs, service: &'static Service) -> Result<Produced<String>> {
    let image = images(ecs, Selection::One(service), false).await?.remove(0);
    let (wanted, _) = wanted(ecs, service, &image).await?;
    let current = ecs
        .describe_service(service)
        .await?
        .map(|s| s.and_then(|s| s.task_definition));
    register_if_changed(ecs, service, &wanted, &current).await
}

/// Registers `wanted` unless the service's current revision (or, for a new
/// service, the family's latest) already has exactly these settings.
pub async fn register_if_changed(
    ecs: &Ecs,
    service: &Service,
    wanted: &Produced<TaskDefinition>,
    current: &Produced<Option<String>>,
) -> Result<Produced<String>> {
    let name = match current {
        Produced::Value(Some(arn)) => Produced::Value(arn.clone()),
        Produced::Value(None) => Produced::Value(ecs.ctx.settings.family(service)),
        Produced::Planned(_) => Produced::planned(format!("{}'s current revision", service.name)),
    };
    let existing = ecs.describe_task_definition(&name).await?;
    if let (Produced::Value(Some(existing)), Produced::Value(wanted)) = (&existing, wanted) {
        let live = convert::task_definition_from(existing);
        if normalize_task_definition(&live) == normalize_task_definition(wanted) {
            let arn = existing
                .task_definition_arn()
                .unwrap_or_default()
                .to_string();
            say(
                service,
                &format!(
                    "task definition unchanged ({}): no new revision registered",
                    short_revision(&arn)
                ),
            );
            return Ok(Produced::Value(arn));
        }
    }
    let arn = ecs
        .register(&ecs.ctx.settings.family(service), wanted)
        .await?;
    if let Produced::Planned(_) = existing {
        say(service, &format!("(only if it differs from {name})"));
    }
    if let Produced::Value(arn) = &arn {
        say(
            service,
            &format!("registered task definition {}", short_revision(arn)),
        );
    }
    Ok(arn)
}
