//! `diff`: what deploy would change, as a unified diff of the task
//! definition and service against `infra/`, and the load balancer's drift;
//! exit 1 when anything differs or the rollout has not finished.

use anyhow::{bail, Result};
use xtask::infra::{self, normalize_service_pair, normalize_task_definition};
use xtask::produced::Produced;
use xtask::services::Service;
use xtask::Ctx;

use super::client::Ecs;
use super::convert;
use super::rollout::unfinished_rollout;
use super::watch::short_revision;
use crate::ecr;
use crate::report;

pub async fn diff(ctx: &Ctx, service: &'static Service) -> Result<()> {
    infra::check_service_files(ctx, service)?;
    let ecs = Ecs::new(ctx).await?;
    let registry = ecs.aws.registry(ctx).await?;
    // The image `deploy --no-build` would take: this commit's, else latest.
    let found = ecr::deployable_image(ctx, &ecs.aws, service).await?;
    let live = ecs.describe_service(service).await?;
    let (Produced::Value(found), Produced::Value(live)) = (found, live) else {
        xtask::outln!(
            "{service}: (then the live task definition, and the differences from infra/)"
        );
        report::service(service.name, |s| s.outcome = "planned".into());
        return Ok(());
    };
    let image = found.map(|f| format!("{registry}/{}@{}", service.repo(), f.digest));
    report::service(service.name, |s| {
        s.image.clone_from(&image);
        s.image_digest = image.as_deref().and_then(report::digest_of);
    });
    let placeholders = ecs.placeholders_for(service, image.as_deref()).await?;
    let wanted = infra::task_definition(ctx, service, &placeholders)?;
    let def = infra::service_definition(ctx, service, &placeholders)?;
    let Some(live) = live else {
        xtask::outln!(
            "{service}: no such service in cluster {}{}: deploy would create it",
            ecs.cluster,
            ctx.in_environment()
        );
        report::service(service.name, |s| s.outcome = "missing".into());
        bail!("{service} differs: the service does not exist");
    };
    let live_arn = live.task_definition().unwrap_or_default().to_string();
    let current = Produced::Value(live_arn.clone());
    let live_td = ecs.describe_task_definition(&current).await?.real()?;
    let live_td = match &live_td {
        Some(td) => convert::task_definition_from(td),
        None => infra::TaskDefinition::default(),
    };
    let revision = short_revision(&live_arn).to_string();
    let td_file = service.task_definition_file(&ctx.root);
    let svc_file = service.service_definition_file(&ctx.root);
    let (want, have) = normalize_service_pair(&def, &convert::service_from_sdk(&live));
    let found = report::Diff {
        task_definition: unified(
            &normalize_task_definition(&live_td),
            &normalize_task_definition(&wanted),
            &revision,
            &td_file.display().to_string(),
        ),
        service: unified(
            &have,
            &want,
            &format!("service {service}"),
            &svc_file.display().to_string(),
        ),
        load_balancer: crate::lb::drift(&ecs.aws, &crate::lb::load(ctx, &placeholders)?).await?,
    };
    report::service(service.name, |s| {
        s.revision = Some(revision.clone());
        s.task_definition_arn = Some(live_arn.clone());
    });
    show(ctx, service, &live, &revision, &found)
}

/// Prints the differences (or that there are none) and notes them for
/// `--output json`; an error when deploy would change something.
fn show(
    ctx: &Ctx,
    service: &Service,
    live: &aws_sdk_ecs::types::Service,
    revision: &str,
    found: &report::Diff,
) -> Result<()> {
    let env = ctx.in_environment();
    let same = found.task_definition.is_empty()
        && found.service.is_empty()
        && found.load_balancer.is_empty();
    let unfinished = unfinished_rollout(live);
    let outcome = match (same, &unfinished) {
        (false, _) => "differs",
        (true, Some(_)) => "unfinished",
        (true, None) => "same",
    };
    report::service(service.name, |s| {
        s.outcome = outcome.into();
        s.reasons = unfinished.iter().cloned().collect();
        s.diff = Some(found.clone());
    });
    if same {
        xtask::outln!(
            "{service}: no differences{env}: {revision}, the service and the load balancer match infra/"
        );
        if let Some(unfinished) = unfinished {
            bail!("{service}: {unfinished}: deploy would watch it until it completes");
        }
        return Ok(());
    }
    if !env.is_empty() {
        xtask::outln!("{service}: deploy would change{env}:");
    }
    for line in format!("{}{}", found.task_definition, found.service).lines() {
        xtask::outln!("{line}");
    }
    if !found.load_balancer.is_empty() {
        xtask::outln!(
            "--- load balancer (live)\n+++ {}",
            infra::load_balancer_file(&ctx.root).display()
        );
        for line in &found.load_balancer {
            xtask::outln!("{line}");
        }
    }
    bail!("{service}: deploy would change what is shown above")
}

fn unified(
    old: &serde_json::Value,
    new: &serde_json::Value,
    old_name: &str,
    new_name: &str,
) -> String {
    let (old, new) = (pretty(old), pretty(new));
    if old == new {
        return String::new();
    }
    similar::TextDiff::from_lines(&old, &new)
        .unified_diff()
        .context_radius(3)
        .header(old_name, new_name)
        .to_string()
}

fn pretty(v: &serde_json::Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_default() + "\n"
}
