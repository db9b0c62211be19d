//! Following a deployment: the watch loop over the pure `watch` state
//! machine, the failure report from ECS's own events and our deployment's
//! stopped tasks, rolling back, and the `rollback` command.

use std::time::Instant;

use super::watch::{short_revision, Snapshot, Verdict, Watch};
use anyhow::{anyhow, bail, Context as _, Result};
use aws_sdk_ecs::types::{DesiredStatus, SortOrder, TaskDefinitionStatus};
use tokio::signal::unix::{signal, SignalKind};
use xtask::errors::BadInput;
use xtask::exec::print_line;
use xtask::flags::{RollbackArgs, WatchOpts};
use xtask::produced::Produced;
use xtask::services::Service;
use xtask::{duration, Ctx};

use super::client::{secs, Ecs};
use super::log_streams;
use crate::report;

/// What was already sent to ECS when a watch began: said if the user stops it.
pub enum Sent {
    Deploy {
        revision: String,
        deployment: String,
    },
    Rollback {
        to: String,
        deployment: String,
    },
}

impl Sent {
    fn on_interrupt(&self, service: &Service) -> String {
        let (short, name) = (service.short, service.name);
        match self {
            Sent::Deploy { revision, deployment } => format!(
                "stopped watching {name}. Already sent to ECS: {revision} registered and UpdateService \
                 (deployment {deployment}), which ECS carries on with; nothing else was sent. \
                 Follow it with `cargo xtask status {short}`, undo it with `cargo xtask rollback {short}`"
            ),
            Sent::Rollback { to, deployment } => format!(
                "stopped watching {name}'s rollback. Already sent to ECS: UpdateService back to {to} \
                 (deployment {deployment}), which ECS carries on with; nothing else was sent. \
                 Follow it with `cargo xtask status {short}`"
            ),
        }
    }
}

/// Polls until the verdict; Ctrl-C stops watching (not the deployment) and
/// says what was sent.
pub async fn watch_deployment(
    ecs: &Ecs,
    service: &Service,
    ours: &str,
    before: Option<&Snapshot>,
    opts: &WatchOpts,
    sent: &Sent,
) -> Result<Verdict> {
    let mut watch = Watch::new(service.name, ours, before, opts.timeout);
    let started = Instant::now();
    // One listener for the whole watch: a `ctrl_c()` made anew for each sleep
    // missed a Ctrl-C that came during a poll, and the tool went on watching.
    let mut interrupt = signal(SignalKind::interrupt()).context("listening for Ctrl-C")?;
    print_line(
        "",
        &format!(
            "{}: watching deployment {ours} (timeout {})",
            service.name,
            duration::secs(opts.timeout)
        ),
    );
    loop {
        let snapshot = tokio::select! {
            _ = interrupt.recv() => bail!(sent.on_interrupt(service)),
            snapshot = ecs.snapshot(service) => snapshot?,
        };
        let (lines, verdict) = watch.observe(&snapshot, started.elapsed());
        for line in lines {
            print_line("", &line);
        }
        if verdict != Verdict::Waiting {
            return Ok(verdict);
        }
        tokio::select! {
            _ = interrupt.recv() => bail!(sent.on_interrupt(service)),
            () = tokio::time::sleep(opts.poll_interval) => {}
        }
    }
}

pub async fn roll_back_to(
    ecs: &Ecs,
    service: &Service,
    target: &str,
    opts: &WatchOpts,
) -> Result<Verdict> {
    let before = ecs.snapshot(service).await?;
    let id = ecs
        .update(service, &Produced::Value(target.to_string()), None)
        .await?
        .real()?;
    print_line(
        "",
        &format!(
            "{}: rollback deployment {id} to {}",
            service.name,
            short_revision(target)
        ),
    );
    let sent = Sent::Rollback {
        to: short_revision(target).to_string(),
        deployment: id.clone(),
    };
    watch_deployment(ecs, service, &id, Some(&before), opts, &sent).await
}

pub fn describe_rollback(target: &str, result: Result<Verdict>) -> String {
    let rev = short_revision(target);
    match result {
        Ok(Verdict::Succeeded) => format!("rolled back to {rev}"),
        Ok(Verdict::Failed(why)) => format!("the rollback to {rev} failed too: {why}"),
        Ok(_) => format!("the service is set back to {rev}, but that deployment had not completed either when the wait ended"),
        Err(e) => format!("the rollback to {rev} could not be done: {e:#}"),
    }
}

/// What ECS says went wrong: the rollout reason, recent events, and the
/// stopped tasks of deployment `ours` with their reasons and exit codes.
pub async fn report_failure(ecs: &Ecs, service: &Service, ours: &str) {
    let label = service.name;
    // Also the failure's reasons in `--output json`.
    let say = |line: String| {
        print_line("", &format!("{label}: {line}"));
        crate::report::reason(label, line);
    };
    if let Ok(s) = ecs.snapshot(service).await {
        if let Some(d) = s.deployments.iter().find(|d| d.id == ours) {
            say(format!(
                "deployment {ours}: {} {} ({})",
                d.status,
                d.rollout_state.as_deref().unwrap_or("-"),
                d.rollout_state_reason
                    .as_deref()
                    .unwrap_or("no reason given")
            ));
        }
        let mut events = s.events.clone();
        events.sort_by(|a, b| b.created_at.total_cmp(&a.created_at));
        for e in events.iter().take(5).rev() {
            say(format!("recent event: {}", e.message));
        }
    }
    match stopped_tasks(ecs, service, ours).await {
        Ok(lines) if lines.is_empty() => say(format!("no stopped tasks of deployment {ours}")),
        Ok(lines) => lines.into_iter().for_each(&say),
        Err(e) => say(format!("could not list stopped tasks: {e:#}")),
    }
    match log_streams::last_lines(ecs, service, ours, FAILURE_LOG_LINES).await {
        Ok(lines) if lines.is_empty() => {}
        Ok(lines) => {
            say(format!(
                "the last {} log lines of its stopped tasks:",
                lines.len()
            ));
            lines.iter().for_each(log_streams::Line::print);
        }
        Err(e) => say(format!("could not read the stopped tasks' logs: {e:#}")),
    }
}

/// How many log lines of the stopped tasks a failure report ends with.
const FAILURE_LOG_LINES: usize = 20;

/// Stopped tasks started by deployment `ours` (ECS sets `startedBy` to the
/// deployment id), newest first, at most five.
async fn stopped_tasks(ecs: &Ecs, service: &Service, ours: &str) -> Result<Vec<String>> {
    let mut tasks = ecs
        .tasks(service, Some(ours), DesiredStatus::Stopped)
        .await?;
    tasks.sort_by(|a, b| secs(b.stopped_at()).total_cmp(&secs(a.stopped_at())));
    tasks.truncate(5);
    Ok(tasks
        .iter()
        .map(|t| {
            let containers: Vec<String> = t
                .containers()
                .iter()
                .map(|c| {
                    let code = c.exit_code().map_or("-".to_string(), |x| x.to_string());
                    format!(
                        "{} exit {code}{}",
                        c.name().unwrap_or_default(),
                        c.reason().map(|r| format!(" ({r})")).unwrap_or_default()
                    )
                })
                .collect();
            format!(
                "stopped task {}: {}{}; {}",
                short_revision(t.task_arn().unwrap_or_default()),
                t.stop_code()
                    .map(|c| format!("{} ", c.as_str()))
                    .unwrap_or_default(),
                t.stopped_reason().unwrap_or("no reason given"),
                containers.join(", ")
            )
        })
        .collect())
}

pub async fn rollback(ctx: &Ctx, args: &RollbackArgs) -> Result<()> {
    let (service, watch) = (args.service, &args.watch);
    let ecs = Ecs::new(ctx).await?;
    let live = ecs.describe_service(service).await?;
    let Produced::Value(live) = live else {
        // A dry run: the plan, with the revisions only ECS knows shown as such.
        if args.to.is_none() {
            ctx.announce(&format!(
                "ecs ListTaskDefinitions familyPrefix={} status=ACTIVE",
                ctx.settings.family(service)
            ));
        }
        let target = args.to.map_or_else(
            || {
                Produced::planned(format!(
                    "the revision before {}'s current one",
                    service.name
                ))
            },
            |rev| Produced::Value(format!("{}:{rev}", ctx.settings.family(service))),
        );
        ecs.update(service, &target, None).await?;
        xtask::outln!("{service}: then watch the rollback until ECS reports it COMPLETED");
        report::service(service.name, |s| s.outcome = "planned".into());
        return Ok(());
    };
    let current = live
        .as_ref()
        .and_then(|s| s.task_definition())
        .ok_or_else(|| {
            anyhow!(
                "ECS service {service} does not exist in cluster {}",
                ecs.cluster
            )
        })?
        .to_string();
    let target = match args.to {
        Some(rev) => format!("{}:{rev}", ctx.settings.family(service)),
        None => previous_revision(&ecs, service, &current).await?,
    };
    if short_revision(&target) == short_revision(&current) {
        bail!(BadInput(format!(
            "{service} already runs {}",
            short_revision(&current)
        )));
    }
    print_line(
        "",
        &format!(
            "{}: rolling back from {} to {}{}",
            service.name,
            short_revision(&current),
            short_revision(&target),
            ctx.in_environment()
        ),
    );
    report::service(service.name, |s| {
        s.previous_revision = Some(short_revision(&current).to_string());
        s.revision = Some(short_revision(&target).to_string());
        s.task_definition_arn = Some(target.clone()).filter(|t| t.starts_with("arn:"));
    });
    let started = Instant::now();
    let verdict = roll_back_to(&ecs, service, &target, watch).await;
    let primary = ecs
        .snapshot(service)
        .await
        .ok()
        .and_then(|s| s.deployments.into_iter().find(|d| d.status == "PRIMARY"));
    report::service(service.name, |s| {
        s.duration_seconds = Some(report::seconds(started.elapsed()));
        s.outcome = match &verdict {
            Ok(Verdict::Succeeded) => "succeeded",
            _ => "failed",
        }
        .into();
        if let Some(d) = &primary {
            s.deployment_id = Some(d.id.clone());
            s.rollout_state.clone_from(&d.rollout_state);
            s.desired_count = Some(d.desired_count);
            s.running_count = Some(d.running_count);
            s.pending_count = Some(d.pending_count);
        }
    });
    match verdict? {
        Verdict::Succeeded => {
            xtask::outln!("{service}: rolled back to {}", short_revision(&target));
            Ok(())
        }
        other => {
            let primary = primary.map(|d| d.id).unwrap_or_default();
            report_failure(&ecs, service, &primary).await;
            let why = format!(
                "rollback of {service} to {} did not succeed: {other:?}",
                short_revision(&target)
            );
            report::reason(service.name, why.clone());
            bail!(why)
        }
    }
}

/// The highest ACTIVE revision of the family below the current one.
async fn previous_revision(ecs: &Ecs, service: &Service, current: &str) -> Result<String> {
    let current_rev: u32 = current
        .rsplit(':')
        .next()
        .and_then(|r| r.parse().ok())
        .unwrap_or(u32::MAX);
    let family = ecs.ctx.settings.family(service);
    ecs.ctx.announce(&format!(
        "ecs ListTaskDefinitions familyPrefix={family} status=ACTIVE"
    ));
    let arns: Vec<String> = ecs
        .client()
        .list_task_definitions()
        .family_prefix(&family)
        .status(TaskDefinitionStatus::Active)
        .sort(SortOrder::Desc)
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .map_err(|e| crate::aws::explain("ecs ListTaskDefinitions", &e))?;
    arns.iter()
        .filter(|arn| {
            short_revision(arn)
                .rsplit_once(':')
                .is_some_and(|(f, _)| f == family)
        })
        .filter_map(|arn| Some((arn.rsplit(':').next()?.parse::<u32>().ok()?, arn)))
        .filter(|(rev, _)| *rev < current_rev)
        .max_by_key(|(rev, _)| *rev)
        .map(|(_, arn)| arn.clone())
        .ok_or_else(|| {
            anyhow!(
                "{service} has no revision before {} to roll back to",
                short_revision(current)
            )
        })
}

/// The service's PRIMARY deployment when it has not finished: its rollout is
/// not COMPLETED, or it runs fewer tasks than it wants (what `deploy` does not
/// call "up to date").
pub fn unfinished_rollout(live: &aws_sdk_ecs::types::Service) -> Option<String> {
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
