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

pub async fn status(ctx: &Ctx, selection: Selection) -> Result<()> {
    let ecs = Ecs::new(ctx).await?;
    if let Produced::Value(caller) = ecs.aws.caller(ctx).await? {
        println!(
            "AWS account {} region {} as {}",
            caller.account, ecs.aws.region, caller.arn
        );
    }
    let lb_file = if ctx.dry_run {
        None
    } else {
        crate::lb::load(ctx, &ecs.placeholders(None).await?).ok()
    };
    if let Some(file) = &lb_file {
        match crate::lb::live_url(&ecs.aws, file).await? {
            Some(url) => println!("load balancer {}: {url}", file.load_balancer.name),
            None => println!(
                "load balancer {}: not created (`cargo xtask cluster create`)",
                file.load_balancer.name
            ),
        }
    }
    for service in selection.services() {
        let Produced::Value(live) = ecs.describe_service(service).await? else {
            continue; // a dry run: the call is the plan
        };
        let Some(live) = live else {
            println!(
                "{service}: no such service in cluster {} (`cargo xtask deploy {}` creates it)",
                ecs.cluster, service.short
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
        println!(
            "{service}  cluster {}  {}  {}",
            ecs.cluster,
            short_revision(td_arn),
            live.status().unwrap_or_default()
        );
        println!("  image    {image}");
        if let Some(unfinished) = unfinished_rollout(&live) {
            println!("  NOTE     {unfinished}");
        }
        println!(
            "  tasks    desired {}  running {}  pending {}",
            live.desired_count(),
            live.running_count(),
            live.pending_count()
        );
        for d in snapshot(&live).deployments {
            println!(
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
        for line in task_lines(&ecs, service, &live).await? {
            println!("  task     {line}");
        }
        let mut events = snapshot(&live).events;
        events.sort_by(|a, b| b.created_at.total_cmp(&a.created_at));
        for e in events.iter().take(5) {
            let when = utc(e.created_at);
            println!("  event    {when} {}", e.message);
        }
    }
    Ok(())
}

/// The service's running tasks: address, status, health, and each task's
/// health in its target group (with the reason when it is not healthy).
async fn task_lines(ecs: &Ecs, service: &Service, live: &ecs::Service) -> Result<Vec<String>> {
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
            let target = health
                .iter()
                .find(|h| h.address == address)
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
            format!(
                "{} {} {} health {} {address}{target}",
                short_revision(t.task_arn().unwrap_or_default()),
                short_revision(t.task_definition_arn().unwrap_or_default()),
                t.last_status().unwrap_or_default(),
                t.health_status().map_or("-", ecs::HealthStatus::as_str),
            )
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
