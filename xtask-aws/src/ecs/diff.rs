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

pub async fn diff(ctx: &Ctx, service: &'static Service) -> Result<()> {
    infra::check_service_files(ctx, service)?;
    let ecs = Ecs::new(ctx).await?;
    let registry = ecs.aws.registry(ctx).await?;
    // The image `deploy --no-build` would take: this commit's, else latest.
    let found = ecr::deployable_image(ctx, &ecs.aws, service).await?;
    let live = ecs.describe_service(service).await?;
    let (Produced::Value(found), Produced::Value(live)) = (found, live) else {
        println!("{service}: (then the live task definition, and the differences from infra/)");
        return Ok(());
    };
    let image = found.map(|f| format!("{registry}/{}@{}", service.repo(), f.digest));
    let placeholders = ecs.placeholders_for(service, image.as_deref()).await?;
    let wanted =
        infra::load_task_definition(&service.task_definition_file(&ctx.root), &placeholders)?;
    let def = infra::load_service(&service.service_definition_file(&ctx.root), &placeholders)?;
    let Some(live) = live else {
        println!(
            "{service}: no such service in cluster {}: deploy would create it",
            ecs.cluster
        );
        bail!("{service} differs: the service does not exist");
    };
    let live_arn = live.task_definition().unwrap_or_default().to_string();
    let current = Produced::Value(live_arn.clone());
    let live_td = ecs.describe_task_definition(&current).await?.real()?;
    let live_td = match &live_td {
        Some(td) => convert::task_definition_from(td),
        None => infra::TaskDefinition::default(),
    };
    let td_file = service
        .task_definition_file(&ctx.root)
        .display()
        .to_string();
    let revision = short_revision(&live_arn).to_string();
    let td_diff = unified(
        &normalize_task_definition(&live_td),
        &normalize_task_definition(&wanted),
        &revision,
        &td_file,
    );
    let (want, have) = normalize_service_pair(&def, &convert::service_from_sdk(&live));
    let svc_file = service
        .service_definition_file(&ctx.root)
        .display()
        .to_string();
    let svc_diff = unified(&have, &want, &format!("service {service}"), &svc_file);
    let lb_file = crate::lb::load(ctx, &placeholders)?;
    let lb_drift = crate::lb::drift(&ecs.aws, &lb_file).await?;
    if td_diff.is_empty() && svc_diff.is_empty() && lb_drift.is_empty() {
        println!(
            "{service}: no differences: {revision}, the service and the load balancer match infra/"
        );
        if let Some(unfinished) = unfinished_rollout(&live) {
            bail!("{service}: {unfinished}: deploy would watch it until it completes");
        }
        return Ok(());
    }
    print!("{td_diff}{svc_diff}");
    if !lb_drift.is_empty() {
        println!(
            "--- load balancer (live)\n+++ {}",
            infra::load_balancer_file(&ctx.root).display()
        );
        for line in lb_drift {
            println!("{line}");
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
