//! `status`: who the credentials are, the load balancer's URL, and per
//! service its revision, image, counts, deployments, tasks (address, health,
//! target health) and recent events.

use anyhow::Result;
use aws_sdk_ecs::types as ecs;
use xtask::produced::Produced;
use xtask::services::{Selection, Service};
use xtask::Ctx;

use super::client::{snapshot, Ecs};
use super::rollout::unfinished_rollout;
use super::watch::short_revision;
use crate::report;

pub async fn status(ctx: &Ctx, selection: Selection) -> Result<()> {
    let ecs = Ecs::new(ctx).await?;
    account_and_load_balancer(ctx, &ecs).await?;
    for service in selection.services() {
        let Produced::Value(live) = ecs.describe_service(service).await? else {
            continue; // a dry run: the call is the plan
        };
        let Some(live) = live else {
            report::service(service.name, |s| s.outcome = "missing".into());
            xtask::outln!(
                "{service}: no such service in cluster {}{} (`cargo xtask deploy {}` creates it)",
                ecs.cluster,
                ctx.in_environment(),
                service.short
            );
            continue;
        };
        let td_arn = live.task_definition().unwrap_or_default();
        let td = ecs
            .describe_task_definition(&Produced::Value(td_arn.to_string()))
            .await?
            .real()?;
        let image = td
            .as_ref()
            .and_then(|t| {
                t.container_definitions()
                    .iter()
                    .find(|c| c.name() == Some(service.name))
            })
            .and_then(ecs::ContainerDefinition::image)
            .unwrap_or("?");
        xtask::outln!(
            "{service}  cluster {}  {}  {}",
            ecs.cluster,
            short_revision(td_arn),
            live.status().unwrap_or_default()
        );
        xtask::outln!("  image    {image}");
        if let Some(unfinished) = unfinished_rollout(&live) {
            xtask::outln!("  NOTE     {unfinished}");
        }
        xtask::outln!(
            "  tasks    desired {}  running {}  pending {}",
            live.desired_count(),
            live.running_count(),
            live.pending_count()
        );
        for d in snapshot(&live).deployments {
            xtask::outln!(
                "  deploy   {} {} {} {} running {}/{} pending {} failed {}",
                d.id,
                d.status,
                short_revision(&d.task_definition),
                d.rollout_state.as_deref().unwrap_or("-"),
                d.running_count,
                d.desired_count,
                d.pending_count,
                d.failed_tasks
            );
        }
        let tasks = task_lines(&ecs, service, &live).await?;
        for (line, _) in &tasks {
            xtask::outln!("  task     {line}");
        }
        let mut events = snapshot(&live).events;
        events.sort_by(|a, b| b.created_at.total_cmp(&a.created_at));
        for e in events.iter().take(5) {
            let when = utc(e.created_at);
            xtask::outln!("  event    {when} {}", e.message);
        }
        note(
            service,
            &live,
            image,
            tasks.into_iter().map(|(_, t)| t).collect(),
        );
    }
    Ok(())
}

/// Who the credentials are, and the load balancer's URL.
async fn account_and_load_balancer(ctx: &Ctx, ecs: &Ecs) -> Result<()> {
    if let Produced::Value(caller) = ecs.aws.caller(ctx).await? {
        xtask::outln!(
            "AWS account {} region {} as {}{}",
            caller.account,
            ecs.aws.region,
            caller.arn,
            ctx.in_environment()
        );
    }
    let lb_file = if ctx.dry_run {
        None
    } else {
        crate::lb::load(ctx, &ecs.placeholders(None).await?).ok()
    };
    if let Some(file) = &lb_file {
        let url = crate::lb::live_url(&ecs.aws, file).await?;
        report::load_balancer(&file.load_balancer.name, url.clone());
        match url {
            Some(url) => xtask::outln!("load balancer {}: {url}", file.load_balancer.name),
            None => xtask::outln!(
                "load balancer {}: not created (`cargo xtask cluster create`)",
                file.load_balancer.name
            ),
        }
    }
    Ok(())
}

/// What `status` says of a service, for `--output json`.
fn note(service: &Service, live: &ecs::Service, image: &str, tasks: Vec<report::Task>) {
    let snap = snapshot(live);
    let primary = snap.deployments.iter().find(|d| d.status == "PRIMARY");
    let mut events = snap.events.clone();
    events.sort_by(|a, b| b.created_at.total_cmp(&a.created_at));
    report::service(service.name, |s| {
        s.outcome = "active".into();
        s.task_definition_arn = live.task_definition().map(str::to_string);
        s.revision = live
            .task_definition()
            .map(|t| short_revision(t).to_string());
        s.image = Some(image.to_string());
        s.image_digest = report::digest_of(image);
        s.desired_count = Some(live.desired_count());
        s.running_count = Some(live.running_count());
        s.pending_count = Some(live.pending_count());
        s.deployment_id = primary.map(|d| d.id.clone());
        s.rollout_state = primary.and_then(|d| d.rollout_state.clone());
        s.reasons = unfinished_rollout(live).into_iter().collect();
        s.deployments = Some(
            snap.deployments
                .iter()
                .map(|d| report::Deployment {
                    id: d.id.clone(),
                    status: d.status.clone(),
                    revision: short_revision(&d.task_definition).to_string(),
                    rollout_state: d.rollout_state.clone(),
                    rollout_state_reason: d.rollout_state_reason.clone(),
                    desired_count: d.desired_count,
                    running_count: d.running_count,
                    pending_count: d.pending_count,
                    failed_tasks: d.failed_tasks,
                })
                .collect(),
        );
        s.tasks = Some(tasks);
        s.events = Some(
            events
                .iter()
                .take(5)
                .map(|e| report::Event {
                    at: utc(e.created_at),
                    message: e.message.clone(),
                })
                .collect(),
        );
    });
}

/// The service's running tasks: address, status, health, and each task's
/// health in its target group (with the reason when it is not healthy).
async fn task_lines(
    ecs: &Ecs,
    service: &Service,
    live: &ecs::Service,
) -> Result<Vec<(String, report::Task)>> {
    let tasks = ecs
        .tasks(service, None, ecs::DesiredStatus::Running)
        .await?;
    let mut health = Vec::new();
    for lb in live.load_balancers() {
        if let Some(arn) = lb.target_group_arn() {
            health.extend(crate::lb::target_health(&ecs.aws, arn).await?);
        }
    }
    Ok(tasks
        .iter()
        .map(|t| {
            let address = task_address(t).unwrap_or_default();
            let found = health.iter().find(|h| h.address == address);
            let target = found
                .map(|h| {
                    let why = [h.reason.as_str(), h.description.as_str()]
                        .into_iter()
                        .filter(|s| !s.is_empty())
                        .collect::<Vec<_>>()
                        .join(": ");
                    if why.is_empty() {
                        format!("  target {}", h.state)
                    } else {
                        format!("  target {} ({why})", h.state)
                    }
                })
                .unwrap_or_default();
            let task = report::Task {
                id: short_revision(t.task_arn().unwrap_or_default()).to_string(),
                revision: short_revision(t.task_definition_arn().unwrap_or_default()).to_string(),
                last_status: t.last_status().unwrap_or_default().to_string(),
                health: t
                    .health_status()
                    .map_or("-", ecs::HealthStatus::as_str)
                    .to_string(),
                address: Some(address.clone()).filter(|a| !a.is_empty()),
                target_health: found.map(|h| h.state.clone()),
                target_health_reason: found.map(|h| h.reason.clone()).filter(|r| !r.is_empty()),
            };
            let line = format!(
                "{} {} {} health {} {address}{target}",
                task.id, task.revision, task.last_status, task.health,
            );
            (line, task)
        })
        .collect())
}

/// The task's address on its network (awsvpc: the ENI's private IPv4 address).
pub fn task_address(task: &ecs::Task) -> Option<String> {
    task.attachments()
        .iter()
        .flat_map(ecs::Attachment::details)
        .find(|d| d.name() == Some("privateIPv4Address"))
        .and_then(|d| d.value().map(str::to_string))
}

/// An ECS timestamp (seconds since the epoch) as `2026-11-26T14:05:09Z`.
fn utc(secs: f64) -> String {
    aws_smithy_types::DateTime::from_secs(secs.floor() as i64)
        .fmt(aws_smithy_types::date_time::Format::DateTime)
        .unwrap_or_default()
}
