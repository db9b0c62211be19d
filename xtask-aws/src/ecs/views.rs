//! The read-only views: `diff`, `status`, and `connect` (ECS exec).

use anyhow::{anyhow, bail, Result};
use xshell::cmd;
use xtask::exec::{shell, Cmd};
use xtask::infra::{self, normalize_service_pair, normalize_task_definition};
use xtask::produced::Produced;
use xtask::services::{Selection, Service};
use xtask::watch::short_revision;
use xtask::{util, Ctx};

use super::client::{snapshot, Ecs};
use super::convert;
use crate::ecr;
use aws_sdk_ecs::types as ecs;
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

/// The service's PRIMARY deployment when it has not finished: its rollout is
/// not COMPLETED, or it runs fewer tasks than it wants (what `deploy` does not
/// call "up to date").
pub fn unfinished_rollout(live: &ecs::Service) -> Option<String> {
    let primary = live
        .deployments()
        .iter()
        .find(|d| d.status() == Some("PRIMARY"))?;
    let state = primary.rollout_state().map_or("-", |s| s.as_str());
    let done = state == "COMPLETED"
        && live.deployments().len() == 1
        && primary.running_count() >= primary.desired_count();
    (!done).then(|| {
        format!(
            "deployment {} of {} has not finished (rollout {state}, running {} of {})",
            primary.id().unwrap_or_default(),
            short_revision(primary.task_definition().unwrap_or_default()),
            primary.running_count(),
            primary.desired_count()
        )
    })
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

pub async fn connect(ctx: &Ctx, service: &Service, command: &str) -> Result<()> {
    for (program, hint) in [
        ("aws", "install the AWS CLI v2: https://docs.aws.amazon.com/cli/latest/userguide/getting-started-install.html"),
        ("session-manager-plugin", "install the Session Manager plugin: https://docs.aws.amazon.com/systems-manager/latest/userguide/session-manager-working-with-install-plugin.html"),
    ] {
        if !ctx.dry_run && !util::on_path(program) {
            bail!("`cargo xtask connect` needs `{program}`: {hint}");
        }
    }
    let ecs = Ecs::new(ctx).await?;
    ctx.announce(&format!(
        "ecs ListTasks cluster={} serviceName={} desiredStatus=RUNNING",
        ecs.cluster, service.name
    ));
    let task: Produced<String> = if ctx.dry_run {
        Produced::planned(format!("a running task of {}", service.name))
    } else {
        let arns = ecs.task_arns(service, ecs::DesiredStatus::Running).await?;
        Produced::Value(
            arns.into_iter()
                .next()
                .ok_or_else(|| anyhow!("{service} has no running task to connect to"))?,
        )
    };
    let (sh, cluster, container) = (shell()?, &ecs.cluster, service.name);
    let task = task.to_string();
    Cmd::from(cmd!(
        sh,
        "aws ecs execute-command --cluster {cluster} --task {task} --container {container} --interactive --command {command}"
    ))
    .interactive()
    .run(ctx)
}
