//! `deploy`: register what changed, update or create the service, and watch
//! *our* deployment until ECS says it succeeded (see `rollout` for the watch,
//! the failure report and the rollback, `revision` for what is registered).
//! A service already on our revision and settings is "up to date" only when
//! its rollout completed with every task running; an unfinished one is
//! watched as a fresh deployment would be. `latest` moves to the image only
//! once it has been deployed successfully. A dry run goes through the same
//! steps with planned values: every call is shown, none is made.

use std::time::{Duration, Instant};

use super::watch::{short_revision, Snapshot, Verdict};
use anyhow::{anyhow, bail, Result};
use aws_sdk_ecs::types::{self as ecs_types, DeploymentRolloutState};
use xtask::errors::BadInput;
use xtask::flags::{DeployArgs, Output, WatchOpts};
use xtask::infra::{self, normalize_service_pair};
use xtask::produced::Produced;
use xtask::services::{Selection, Service};
use xtask::{duration, Ctx};

use super::client::{snapshot, Ecs};
use super::convert;
use super::revision::{self, say, Image};
use super::rollout::unfinished_rollout;
use super::rollout::{describe_rollback, report_failure, roll_back_to, watch_deployment, Sent};
use super::task::{run_one_off, split_command, Ended, Launch};
use super::verify;
use crate::ecr;
use crate::report;

#[derive(Debug)]
enum Outcome {
    Succeeded { revision: String, took: Duration },
    UpToDate { revision: String },
    Started { revision: String },
    Planned,
}

pub async fn deploy(ctx: &Ctx, args: &DeployArgs) -> Result<()> {
    let result = deploy_selection(ctx, args).await;
    if result.is_err() {
        // What a failed check, build or push stopped before anything was sent.
        for service in args.service.services() {
            report::settle(service.name, DEPLOY_OUTCOMES, "not_started");
        }
    }
    result
}

/// The outcomes a deploy's document gives a service (`xtask/schemas/`).
const DEPLOY_OUTCOMES: &[&str] = &["succeeded", "up_to_date", "started", "failed", "planned"];

async fn deploy_selection(ctx: &Ctx, args: &DeployArgs) -> Result<()> {
    let services = args.service.services();
    // Bad input first: every file must parse with the settings before AWS is asked anything.
    for service in &services {
        infra::check_service_files(ctx, service)?;
    }
    let pre = pre_command(args)?;
    let ecs = Ecs::new(ctx).await?;
    // A browser cannot reach a developer's address from a real account: refused
    // before anything is built (the front end reads these at run time).
    let registry = ecs.aws.registry(ctx).await?;
    for service in &services {
        infra::refuse_local_addresses_in_files(ctx, service, &registry)?;
    }
    if !args.no_verify {
        verify::preflight(&ecs, args.service, !args.no_build).await?;
    }
    let images = revision::images(&ecs, args.service, args.no_build).await?;
    let opts = DeployOpts {
        pre,
        ..DeployOpts::from(args)
    };
    deploy_images(&ecs, services.into_iter().zip(images).collect(), &opts).await
}

/// Deploys each service's image at once, and sums up.
pub async fn deploy_images(
    ecs: &Ecs,
    images: Vec<(&'static Service, Image)>,
    opts: &DeployOpts,
) -> Result<()> {
    let started = Instant::now();
    let mut handles = Vec::new();
    for (service, image) in images {
        let (ecs, opts) = (ecs.clone(), opts.clone());
        note_image(service, &image);
        handles.push((
            service,
            tokio::spawn(async move {
                let started = Instant::now();
                let result = deploy_one(&ecs, service, &image, &opts).await;
                note_end(&ecs, service, started.elapsed()).await;
                result
            }),
        ));
    }
    let mut results = Vec::new();
    for (service, handle) in handles {
        results.push((
            service,
            handle
                .await
                .unwrap_or_else(|e| Err(anyhow!("deploy task panicked: {e}"))),
        ));
    }
    summarize(results, started.elapsed())
}

#[derive(Clone)]
pub struct DeployOpts {
    pub wait: bool,
    pub rollback_on_timeout: bool,
    pub watch: WatchOpts,
    /// `--pre`, split into words.
    pub pre: Option<Vec<String>>,
}

fn note_image(service: &Service, image: &Image) {
    report::service(service.name, |s| {
        s.image = image.pinned().as_value().cloned();
        s.image_digest = image.digest.as_value().cloned();
    });
}

/// The time a service's deploy took, and (for `--output json`) the counts it ended with.
async fn note_end(ecs: &Ecs, service: &Service, took: Duration) {
    report::service(service.name, |s| {
        s.duration_seconds = Some(report::seconds(took));
    });
    if ecs.ctx.dry_run || ecs.ctx.output != Output::Json {
        return;
    }
    if let Ok(Produced::Value(Some(live))) = ecs.describe_service(service).await {
        report::service(service.name, |s| {
            s.desired_count = Some(live.desired_count());
            s.running_count = Some(live.running_count());
            s.pending_count = Some(live.pending_count());
            // Our deployment's state, else (up to date) the PRIMARY one's.
            let ours = live.deployments().iter().find(|d| {
                d.id() == s.deployment_id.as_deref()
                    || (s.deployment_id.is_none() && d.status() == Some("PRIMARY"))
            });
            s.rollout_state = ours
                .and_then(|d| d.rollout_state())
                .map(|r| r.as_str().to_string());
        });
    }
}

impl From<&DeployArgs> for DeployOpts {
    fn from(a: &DeployArgs) -> Self {
        DeployOpts {
            wait: !a.no_wait,
            rollback_on_timeout: !a.no_rollback,
            watch: a.watch.clone(),
            pre: None,
        }
    }
}

/// `--pre` as words; bad input before anything is asked of AWS.
fn pre_command(args: &DeployArgs) -> Result<Option<Vec<String>>> {
    let Some(pre) = &args.pre else {
        return Ok(None);
    };
    if args.service == Selection::All {
        bail!(BadInput(
            "--pre runs in one service's container: deploy that service alone with it".into()
        ));
    }
    split_command(pre).map(Some)
}

/// What deploy found the service doing, and what it did about it.
enum Start {
    /// A deployment to watch: one just started, or ours left unfinished.
    Deployment {
        id: String,
        before: Option<Snapshot>,
    },
    /// Our revision and settings, rollout completed, every task running.
    UpToDate,
}

async fn deploy_one(
    ecs: &Ecs,
    service: &'static Service,
    image: &Image,
    opts: &DeployOpts,
) -> Result<Outcome> {
    let ctx = &ecs.ctx;
    say(
        service,
        &format!(
            "image {}:{} = {}",
            image.repository, image.tag, image.digest
        ),
    );
    let (wanted, placeholders) = revision::wanted(ecs, service, image).await?;
    let def = infra::service_definition(ctx, service, &placeholders)?;
    let live = ecs.describe_service(service).await?;
    let previous = live.clone().map(|s| s.and_then(|s| s.task_definition));
    let task_definition = revision::register_if_changed(ecs, service, &wanted, &previous).await?;
    if let Produced::Value(arn) = &task_definition {
        report::service(service.name, |s| {
            s.task_definition_arn = Some(arn.clone());
            s.revision = Some(short_revision(arn).to_string());
        });
    }
    let Produced::Value(live) = live else {
        return plan(ecs, service, &task_definition, &def, opts).await;
    };
    let (task_definition, previous) = (task_definition.real()?, previous.real()?);
    let revision = short_revision(&task_definition).to_string();
    let start = start(ecs, service, live.as_ref(), &task_definition, &def, opts).await?;
    let (ours, before) = match start {
        Start::UpToDate => {
            move_latest(ecs, service, image).await;
            return Ok(Outcome::UpToDate { revision });
        }
        Start::Deployment { id, before } => (id, before),
    };
    report::service(service.name, |s| s.deployment_id = Some(ours.clone()));
    if !opts.wait {
        return Ok(Outcome::Started { revision });
    }
    let started = Instant::now();
    let sent = Sent::Deploy {
        revision: revision.clone(),
        deployment: ours.clone(),
    };
    match watch_deployment(ecs, service, &ours, before.as_ref(), &opts.watch, &sent).await? {
        Verdict::Succeeded => {
            say(
                service,
                &format!(
                    "deployment {ours} of {revision} succeeded ({})",
                    duration::secs(started.elapsed())
                ),
            );
            move_latest(ecs, service, image).await;
            Ok(Outcome::Succeeded {
                revision,
                took: started.elapsed(),
            })
        }
        Verdict::Failed(why) => {
            report_failure(ecs, service, &ours).await;
            let back = follow_breaker_rollback(ecs, service, &ours, &opts.watch).await;
            bail!("deployment of {revision} failed: {why}{back}")
        }
        Verdict::TimedOut | Verdict::Waiting => {
            report_failure(ecs, service, &ours).await;
            timed_out(ecs, service, &ours, &task_definition, previous, opts).await
        }
    }
}

/// A dry run does not know whether the service exists: both calls are the plan.
async fn plan(
    ecs: &Ecs,
    service: &'static Service,
    task_definition: &Produced<String>,
    def: &infra::ServiceDefinition,
    opts: &DeployOpts,
) -> Result<Outcome> {
    run_pre(ecs, service, task_definition, def, opts).await?;
    say(service, "if the service exists:");
    ecs.update(service, task_definition, Some(def)).await?;
    say(service, "if it does not:");
    ecs.create_service(def, task_definition).await?;
    if opts.wait {
        say(
            service,
            &format!(
                "then watch the new deployment until ECS reports it COMPLETED (timeout {}), and point ECR's {} at the image",
                duration::secs(opts.watch.timeout),
                ecs.ctx.settings.latest_tag()
            ),
        );
    }
    Ok(Outcome::Planned)
}

/// Creates or updates the service, or finds it already on our revision.
async fn start(
    ecs: &Ecs,
    service: &'static Service,
    live: Option<&ecs_types::Service>,
    task_definition: &str,
    def: &infra::ServiceDefinition,
    opts: &DeployOpts,
) -> Result<Start> {
    let revision = short_revision(task_definition);
    let td = Produced::Value(task_definition.to_string());
    let Some(svc) = live else {
        run_pre(ecs, service, &td, def, opts).await?;
        let id = ecs.create_service(def, &td).await?.real()?;
        say(
            service,
            &format!(
                "created service {} in cluster {} on {revision}",
                service.name, ecs.cluster
            ),
        );
        return Ok(Start::Deployment { id, before: None });
    };
    let (want, have) = normalize_service_pair(def, &convert::service_from_sdk(svc));
    let count = ecs
        .desired_count(service)
        .filter(|n| *n != svc.desired_count());
    if svc.task_definition() == Some(task_definition) && want == have && count.is_none() {
        return unchanged(service, svc, revision);
    }
    let mut drifted = changed_keys(&want, &have);
    if let Some(n) = count {
        drifted.push(format!(
            "desiredCount ({} -> {n}, the environment's)",
            svc.desired_count()
        ));
    }
    if !drifted.is_empty() {
        say(
            service,
            &format!(
                "service settings differ from infra/: {}",
                drifted.join(", ")
            ),
        );
    }
    run_pre(ecs, service, &td, def, opts).await?;
    let id = ecs.update(service, &td, Some(def)).await?.real()?;
    say(
        service,
        &format!("updated service to {revision}: deployment {id}"),
    );
    Ok(Start::Deployment {
        id,
        before: Some(snapshot(svc)),
    })
}

/// The service is already set to our revision and settings. Up to date only
/// when that deployment completed and runs every task: an unfinished one (a
/// deploy that timed out with --no-rollback, a task stopped since) is watched
/// as a fresh deploy would; a failed one is a failure, never "up to date".
fn unchanged(service: &Service, svc: &ecs_types::Service, revision: &str) -> Result<Start> {
    let primary = svc
        .deployments()
        .iter()
        .find(|d| d.status() == Some("PRIMARY"))
        .ok_or_else(|| anyhow!("ECS lists no PRIMARY deployment of {}", service.name))?;
    let id = primary.id().unwrap_or_default().to_string();
    if primary.rollout_state() == Some(&DeploymentRolloutState::Failed) {
        bail!(
            "the service is set to {revision}, but its deployment {id} FAILED ({}): nothing was sent; \
             fix what the reason says and deploy again, or go back with `cargo xtask rollback {}`",
            primary.rollout_state_reason().unwrap_or("no reason given"),
            service.short
        );
    }
    let Some(unfinished) = unfinished_rollout(svc) else {
        say(
            service,
            &format!("already running {revision} with these settings: nothing to deploy"),
        );
        return Ok(Start::UpToDate);
    };
    say(
        service,
        &format!(
            "already set to {revision} with these settings, but its {unfinished}: watching it as a deploy would"
        ),
    );
    Ok(Start::Deployment {
        id,
        before: Some(snapshot(svc)),
    })
}

/// When the circuit breaker started a rollback (a new PRIMARY deployment of
/// another revision), watches it to its end: the deploy then ends on a
/// settled service, and says what it settled on.
async fn follow_breaker_rollback(
    ecs: &Ecs,
    service: &Service,
    ours: &str,
    watch: &WatchOpts,
) -> String {
    let Ok(now) = ecs.snapshot(service).await else {
        return String::new();
    };
    let Some(rollback) = now
        .deployments
        .iter()
        .find(|d| d.status == "PRIMARY" && d.id != ours)
    else {
        return String::new();
    };
    let (id, target) = (rollback.id.clone(), rollback.task_definition.clone());
    say(
        service,
        &format!(
            "ECS rolls back to {} (deployment {id}): watching it",
            short_revision(&target)
        ),
    );
    let sent = Sent::Rollback {
        to: short_revision(&target).to_string(),
        deployment: id.clone(),
    };
    let result = watch_deployment(ecs, service, &id, Some(&now), watch, &sent).await;
    format!("; {}", describe_rollback(&target, result))
}

/// After a timeout: roll back to the revision before ours when there is one
/// (and --no-rollback was not given), and fail saying what was left.
async fn timed_out(
    ecs: &Ecs,
    service: &'static Service,
    ours: &str,
    task_definition: &str,
    previous: Option<String>,
    opts: &DeployOpts,
) -> Result<Outcome> {
    let revision = short_revision(task_definition);
    let waited = duration::secs(opts.watch.timeout);
    let unchanged = previous.as_deref() == Some(task_definition);
    match previous.filter(|p| opts.rollback_on_timeout && p != task_definition) {
        Some(previous) => {
            say(
                service,
                &format!(
                    "timed out after {waited}; rolling back to {}",
                    short_revision(&previous)
                ),
            );
            let back = roll_back_to(ecs, service, &previous, &opts.watch).await;
            bail!(
                "deployment of {revision} timed out after {waited}; {}",
                describe_rollback(&previous, back)
            )
        }
        None if !opts.rollback_on_timeout => bail!(
            "deployment of {revision} timed out after {waited}; deployment {ours} is left in progress in ECS (--no-rollback): follow it with `cargo xtask status {}`",
            service.short
        ),
        None if unchanged => bail!(
            "deployment {ours} of {revision} still has not completed after {waited}; it is left in progress: \
             `cargo xtask rollback {}` goes back to the revision before",
            service.short
        ),
        None => bail!(
            "deployment of {revision} timed out after {waited}; no earlier revision to roll back to"
        ),
    }
}

/// Points ECR's `latest` at the image now deployed. The deployment has
/// succeeded whatever happens here: a failure is said, not returned.
async fn move_latest(ecs: &Ecs, service: &Service, image: &Image) {
    let Produced::Value(digest) = &image.digest else {
        return;
    };
    if let Err(e) = ecr::tag_latest(&ecs.ctx, &ecs.aws, service, digest).await {
        say(
            service,
            &format!(
                "warning: the deployment succeeded, but ECR's latest was not moved to it: {e:#}"
            ),
        );
    }
}

async fn run_pre(
    ecs: &Ecs,
    service: &'static Service,
    task_definition: &Produced<String>,
    def: &infra::ServiceDefinition,
    opts: &DeployOpts,
) -> Result<()> {
    let Some(command) = &opts.pre else {
        return Ok(());
    };
    let launch = Launch {
        network: convert::network_configuration(def)?,
        launch_type: def
            .launch_type
            .as_deref()
            .map(aws_sdk_ecs::types::LaunchType::from),
        capacity_providers: vec![],
        platform_version: def.platform_version.clone(),
    };
    say(service, "--pre: a one-off task of the new revision first");
    let ended = run_one_off(
        ecs,
        service,
        task_definition,
        command,
        &launch,
        opts.watch.timeout,
    )
    .await?;
    match ended {
        Ended::Exited(0) | Ended::Planned => Ok(()),
        other => {
            let revision = task_definition
                .clone()
                .map(|t| short_revision(&t).to_string());
            let live = ecs.describe_service(service).await?.real()?;
            let now = live
                .as_ref()
                .and_then(|s| s.task_definition())
                .map_or("no service yet".to_string(), |t| {
                    format!("still on {}", short_revision(t))
                });
            bail!(
                "--pre command {} in a one-off task of {revision}; the service was not changed ({now}); {revision} is registered but not in use",
                other.describe()
            )
        }
    }
}

fn changed_keys(want: &serde_json::Value, have: &serde_json::Value) -> Vec<String> {
    let Some(want) = want.as_object() else {
        return vec![];
    };
    want.iter()
        .filter(|(k, v)| have.get(k.as_str()) != Some(v))
        .map(|(k, _)| k.clone())
        .collect()
}

fn summarize(results: Vec<(&Service, Result<Outcome>)>, took: Duration) -> Result<()> {
    if results
        .iter()
        .all(|(_, r)| matches!(r, Ok(Outcome::Planned)))
    {
        for (service, _) in results {
            report::service(service.name, |s| s.outcome = "planned".into());
        }
        return Ok(());
    }
    xtask::outln!("deploy summary ({}):", duration::secs(took));
    let mut failed = Vec::new();
    let mut all_bad_input = true;
    for (service, result) in results {
        let (outcome, line) = match result {
            Ok(Outcome::Succeeded { revision, took }) => (
                "succeeded",
                format!("succeeded: {revision} in {}", duration::secs(took)),
            ),
            Ok(Outcome::UpToDate { revision }) => ("up_to_date", format!("up to date: {revision}")),
            Ok(Outcome::Started { revision }) => {
                ("started", format!("started: {revision} (not watched)"))
            }
            Ok(Outcome::Planned) => ("planned", "planned (dry run)".into()),
            Err(e) => {
                failed.push(service.name);
                all_bad_input &= e.downcast_ref::<BadInput>().is_some();
                report::reason(service.name, format!("{e:#}"));
                ("failed", format!("FAILED: {e:#}"))
            }
        };
        report::service(service.name, |s| s.outcome = outcome.into());
        xtask::outln!("  {:<18} {line}", service.name);
    }
    if failed.is_empty() {
        return Ok(());
    }
    let message = format!("deploy failed for {}", failed.join(" and "));
    if all_bad_input {
        bail!(BadInput(message));
    }
    bail!(message)
}
