//! `scale`: the desired count (UpdateService desiredCount only: ECS scales the
//! PRIMARY deployment, no new deployment), watched until that many tasks run.
//! Scaling to 0 first keeps the count in a service tag, which `--restore` reads.

use std::time::Instant;

use super::watch::Watch;
use anyhow::{anyhow, bail, Context as _, Result};
use aws_sdk_ecs::types::{HealthStatus, Tag};
use tokio::signal::unix::{signal, SignalKind};
use xtask::exec::print_line;
use xtask::flags::{ScaleArgs, WatchOpts};
use xtask::produced::Produced;
use xtask::services::Service;
use xtask::{duration, Ctx};

use super::client::{primary_deployment, snapshot, Ecs};
use super::log_streams;
use super::logs::{self, Tasks};
use super::rollout::report_failure;
use crate::aws::explain;
use aws_sdk_ecs::types::Service as EcsService;

/// The service tag `scale <svc> 0` keeps the previous desired count in.
pub const PREVIOUS_COUNT_TAG: &str = "cruddur:previous-desired-count";

#[derive(Debug, Clone, Copy)]
enum Target {
    Count(i32),
    Restore,
}

pub async fn scale(ctx: &Ctx, args: &ScaleArgs) -> Result<()> {
    let target =
        match (args.count, args.restore) {
            (Some(n), false) => Target::Count(i32::try_from(n).map_err(|_| {
                xtask::errors::BadInput(format!("{n} tasks is more than ECS can run"))
            })?),
            _ => Target::Restore,
        };
    let ecs = Ecs::new(ctx).await?;
    let single = args.service.services().len() == 1;
    let mut handles = Vec::new();
    for service in args.service.services() {
        let (ecs, watch) = (ecs.clone(), args.watch.clone());
        handles.push((
            service,
            tokio::spawn(async move { scale_one(&ecs, service, target, &watch).await }),
        ));
    }
    let mut failed = Vec::new();
    for (service, handle) in handles {
        let result = handle
            .await
            .unwrap_or_else(|e| Err(anyhow!("scale task panicked: {e}")));
        if let Err(e) = result {
            if single {
                return Err(e);
            }
            eprintln!("{}: {e:#}", service.name);
            failed.push(service.name);
        }
    }
    if !failed.is_empty() {
        bail!("scale failed for {}", failed.join(" and "));
    }
    Ok(())
}

async fn scale_one(
    ecs: &Ecs,
    service: &'static Service,
    target: Target,
    watch: &WatchOpts,
) -> Result<()> {
    let say = |line: String| print_line("", &format!("{}: {line}", service.name));
    let live = match ecs.describe_service(service).await? {
        Produced::Value(live) => live,
        Produced::Planned(_) => {
            plan(ecs, service, target);
            return Ok(());
        }
    };
    let Some(live) = live else {
        bail!(
            "ECS service {} does not exist in cluster {}: deploy it first (`cargo xtask deploy {}`)",
            service.name,
            ecs.cluster,
            service.short
        );
    };
    let arn = live.service_arn().unwrap_or_default().to_string();
    let current = live.desired_count();
    let n = match target {
        Target::Count(n) => n,
        Target::Restore => previous_count(ecs, service, &arn).await?,
    };
    if n == 0 && current > 0 {
        remember(ecs, &arn, current).await?;
        say(format!(
            "kept the desired count {current} in the service tag {PREVIOUS_COUNT_TAG} (`cargo xtask scale {} --restore` brings it back)",
            service.short
        ));
    }
    if done(&live, n) {
        say(format!("already runs {n} of {n} tasks"));
        return Ok(());
    }
    ecs.ctx.announce(&format!(
        "ecs UpdateService cluster={} service={} desiredCount={n}",
        ecs.cluster, service.name
    ));
    ecs.client()
        .update_service()
        .cluster(&ecs.cluster)
        .service(service.name)
        .desired_count(n)
        .send()
        .await
        .map_err(|e| ecs.cluster_error("ecs UpdateService", &e))?;
    say(format!(
        "desired count {current} -> {n}; waiting until {n} run"
    ));
    wait_for_count(ecs, service, &live, n, watch).await
}

fn plan(ecs: &Ecs, service: &Service, target: Target) {
    let n = match target {
        Target::Restore => {
            ecs.ctx.announce(&format!(
                "ecs ListTagsForResource resourceArn=<{}'s ARN> (tag {PREVIOUS_COUNT_TAG})",
                service.name
            ));
            "<the count in the tag>".to_string()
        }
        Target::Count(0) => {
            ecs.ctx.announce(&format!(
                "ecs TagResource resourceArn=<{}'s ARN> tags=[{PREVIOUS_COUNT_TAG}=<the current desired count>] (when it is not 0)",
                service.name
            ));
            "0".to_string()
        }
        Target::Count(n) => n.to_string(),
    };
    ecs.ctx.announce(&format!(
        "ecs UpdateService cluster={} service={} desiredCount={n}",
        ecs.cluster, service.name
    ));
    xtask::outln!(
        "{}: then watch until {n} tasks run (one deployment, running = desired)",
        service.name
    );
}

/// Running tasks of the service that are not (yet) HEALTHY, by id, when its
/// task definition has container health checks: such a task serves once they
/// pass (UNKNOWN is also what ECS says during the start period).
async fn unhealthy(ecs: &Ecs, service: &Service, n: i32, checked: bool) -> Result<Vec<String>> {
    if n == 0 || !checked {
        return Ok(vec![]);
    }
    let tasks = logs::tasks(ecs, service, &Tasks::Service).await?;
    Ok(tasks
        .iter()
        .filter(|t| t.last_status() == Some("RUNNING") && t.desired_status() == Some("RUNNING"))
        .filter(|t| t.health_status() != Some(&HealthStatus::Healthy))
        .map(|t| log_streams::task_id(t.task_arn().unwrap_or_default()).to_string())
        .collect())
}

/// Done: one deployment, and the service's running and desired counts both `n`.
fn done(s: &EcsService, n: i32) -> bool {
    s.deployments().len() == 1
        && s.desired_count() == n
        && s.running_count() == n
        && s.pending_count() == 0
}

async fn wait_for_count(
    ecs: &Ecs,
    service: &'static Service,
    before: &EcsService,
    n: i32,
    opts: &WatchOpts,
) -> Result<()> {
    // The watch prints what changes; no deployment is "ours" (none is started).
    let mut watch = Watch::new(service.name, "", Some(&snapshot(before)), opts.timeout);
    let td = ecs
        .describe_task_definition(&Produced::Value(
            before.task_definition().unwrap_or_default().to_string(),
        ))
        .await?
        .real()?;
    let checked = td.is_some_and(|td| {
        td.container_definitions()
            .iter()
            .any(|c| c.health_check().is_some())
    });
    let started = Instant::now();
    // Made once: a Ctrl-C during a poll is then seen at the next sleep (a
    // `ctrl_c()` made for each sleep missed it).
    let mut interrupt = signal(SignalKind::interrupt()).context("listening for Ctrl-C")?;
    loop {
        let live = ecs
            .describe_service(service)
            .await?
            .real()?
            .ok_or_else(|| anyhow!("ECS service {} disappeared while scaling", service.name))?;
        let (lines, _) = watch.observe(&snapshot(&live), started.elapsed());
        for line in lines {
            print_line("", &line);
        }
        if done(&live, n) && unhealthy(ecs, service, n, checked).await?.is_empty() {
            print_line(
                "",
                &format!(
                    "{}: {n} of {n} tasks running{} ({})",
                    service.name,
                    if n > 0 { " and healthy" } else { "" },
                    duration::secs(started.elapsed())
                ),
            );
            return Ok(());
        }
        if started.elapsed() >= opts.timeout {
            let primary = primary_deployment(Some(&live)).unwrap_or_default();
            report_failure(ecs, service, &primary).await;
            bail!(
                "{} runs {} of {n} tasks after {} (desired {}, {} deployments): see `cargo xtask status {}`",
                service.name,
                live.running_count(),
                duration::secs(opts.timeout),
                live.desired_count(),
                live.deployments().len(),
                service.short
            );
        }
        tokio::select! {
            _ = interrupt.recv() => bail!(
                "stopped watching {}. Already sent to ECS: UpdateService desiredCount={n}, which ECS carries on with; follow it with `cargo xtask status {}`",
                service.name,
                service.short
            ),
            () = tokio::time::sleep(opts.poll_interval) => {}
        }
    }
}

async fn remember(ecs: &Ecs, arn: &str, count: i32) -> Result<()> {
    ecs.ctx.announce(&format!(
        "ecs TagResource resourceArn={arn} tags=[{PREVIOUS_COUNT_TAG}={count}]"
    ));
    ecs.client()
        .tag_resource()
        .resource_arn(arn)
        .tags(
            Tag::builder()
                .key(PREVIOUS_COUNT_TAG)
                .value(count.to_string())
                .build(),
        )
        .send()
        .await
        .map_err(|e| explain("ecs TagResource", &e))?;
    Ok(())
}

async fn previous_count(ecs: &Ecs, service: &Service, arn: &str) -> Result<i32> {
    ecs.ctx
        .announce(&format!("ecs ListTagsForResource resourceArn={arn}"));
    let out = ecs
        .client()
        .list_tags_for_resource()
        .resource_arn(arn)
        .send()
        .await
        .map_err(|e| explain("ecs ListTagsForResource", &e))?;
    let value = out
        .tags()
        .iter()
        .find(|t| t.key() == Some(PREVIOUS_COUNT_TAG))
        .and_then(Tag::value)
        .ok_or_else(|| {
            anyhow!(
                "{} has no tag {PREVIOUS_COUNT_TAG}: nothing to restore (it is set by `cargo xtask scale {} 0`); give the count: `cargo xtask scale {} N`",
                service.name,
                service.short,
                service.short
            )
        })?;
    value.parse().map_err(|_| {
        anyhow!(
            "{}'s tag {PREVIOUS_COUNT_TAG} is {value:?}, not a count: give the count: `cargo xtask scale {} N`",
            service.name,
            service.short
        )
    })
}
