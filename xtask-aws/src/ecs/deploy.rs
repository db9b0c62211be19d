//! `deploy` and `rollback`: register what changed, update or create the
//! service, and watch *our* deployment until ECS says it succeeded; on
//! failure explain from ECS's own events and stopped tasks, and roll back.

use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Result};
use aws_sdk_ecs::types::{DesiredStatus, SortOrder, TaskDefinitionStatus};
use xtask::docker;
use xtask::errors::BadInput;
use xtask::exec::print_line;
use xtask::flags::{BuildArgs, DeployArgs, RollbackArgs, WatchOpts};
use xtask::infra::{self, normalize_service_pair, normalize_task_definition, TaskDefinition};
use xtask::services::Service;
use xtask::watch::{short_revision, Snapshot, Verdict, Watch};
use xtask::{util, Ctx};

use super::client::{snapshot, Ecs};
use super::sdk;
use crate::aws::explain;
use crate::ecr;

/// The image a deploy pins its task definition to.
#[derive(Clone, Debug)]
struct Image {
    repository: String,
    tag: String,
    digest: String,
}

impl Image {
    fn pinned(&self) -> String {
        format!("{}@{}", self.repository, self.digest)
    }
}

#[derive(Debug)]
enum Outcome {
    Succeeded { revision: String, took: Duration },
    UpToDate { revision: String },
    Started { revision: String },
}

pub async fn deploy(ctx: &Ctx, args: &DeployArgs) -> Result<()> {
    let ecs = Ecs::new(ctx).await?;
    let services = args.service.services();
    let images = images_to_deploy(&ecs, args).await?;
    let started = Instant::now();
    let mut handles = Vec::new();
    for (service, image) in services.iter().zip(images) {
        let (ecs, service, opts) = (ecs.clone(), *service, DeployOpts::from(args));
        handles.push((
            service,
            tokio::spawn(async move { deploy_one(&ecs, service, &image, &opts).await }),
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
    summarize(ctx, results, started.elapsed())
}

#[derive(Clone)]
struct DeployOpts {
    wait: bool,
    rollback_on_timeout: bool,
    watch: WatchOpts,
}

impl From<&DeployArgs> for DeployOpts {
    fn from(a: &DeployArgs) -> Self {
        DeployOpts {
            wait: !a.no_wait,
            rollback_on_timeout: !a.no_rollback,
            watch: a.watch.clone(),
        }
    }
}

/// Build and push (both services' builds at once), or find what ECR has.
async fn images_to_deploy(ecs: &Ecs, args: &DeployArgs) -> Result<Vec<Image>> {
    let ctx = &ecs.ctx;
    let services = args.service.services();
    if !args.no_build {
        let build = BuildArgs::prod(args.service);
        docker::build(ctx, &build)?;
        let mut images = Vec::new();
        for service in services {
            let pushed = ecr::push_service(ctx, &ecs.aws, service, &[], false).await?;
            images.push(Image {
                repository: pushed.repository,
                tag: pushed.commit_tag,
                digest: pushed.digest,
            });
        }
        return Ok(images);
    }
    let registry = ecs.aws.registry(ctx).await?;
    let mut images = Vec::new();
    for service in services {
        let digest = ecr::image_digest(ctx, &ecs.aws, service.repo(), "latest").await?.ok_or_else(|| {
            anyhow!(
                "ECR has no {}:latest to deploy: push one (`cargo xtask push {}`) or deploy without --no-build",
                service.repo(),
                service.short
            )
        })?;
        images.push(Image {
            repository: format!("{registry}/{}", service.repo()),
            tag: "latest".into(),
            digest,
        });
    }
    Ok(images)
}

async fn deploy_one(
    ecs: &Ecs,
    service: &'static Service,
    image: &Image,
    opts: &DeployOpts,
) -> Result<Outcome> {
    let ctx = &ecs.ctx;
    let label = service.name;
    print_line(
        "",
        &format!(
            "{label}: image {}:{} = {}",
            image.repository, image.tag, image.digest
        ),
    );
    let placeholders = ecs.placeholders(Some(&image.pinned())).await?;
    let wanted =
        infra::load_task_definition(&service.task_definition_file(&ctx.root), &placeholders)?;
    let def = infra::load_service(&service.service_definition_file(&ctx.root), &placeholders)?;

    let live = ecs.describe_service(service).await?;
    let previous = live
        .as_ref()
        .and_then(|s| s.task_definition())
        .map(str::to_string);
    let task_definition = register_if_changed(ecs, service, &wanted, previous.as_deref()).await?;
    let revision = short_revision(&task_definition).to_string();

    let before = live.as_ref().map(snapshot);
    let ours = match &live {
        None => {
            let id = ecs.create_service(&def, &task_definition).await?;
            print_line(
                "",
                &format!(
                    "{label}: created service {label} in cluster {} on {revision}",
                    ecs.cluster
                ),
            );
            id
        }
        Some(svc) => {
            let (want, have) = normalize_service_pair(&def, &sdk::service_from_sdk(svc));
            if previous.as_deref() == Some(task_definition.as_str()) && want == have {
                print_line("", &format!("{label}: already running {revision} with these settings: nothing to deploy"));
                return Ok(Outcome::UpToDate { revision });
            }
            let drifted = changed_keys(&want, &have);
            if !drifted.is_empty() {
                print_line(
                    "",
                    &format!(
                        "{label}: service settings differ from infra/: {}",
                        drifted.join(", ")
                    ),
                );
            }
            let id = ecs.update(service, &task_definition, Some(&def)).await?;
            print_line(
                "",
                &format!("{label}: updated service to {revision}: deployment {id}"),
            );
            id
        }
    };
    if !opts.wait || ctx.dry_run {
        return Ok(Outcome::Started { revision });
    }
    let started = Instant::now();
    match watch_deployment(ecs, service, &ours, before.as_ref(), &opts.watch).await? {
        Verdict::Succeeded => {
            print_line(
                "",
                &format!(
                    "{label}: deployment {ours} of {revision} succeeded ({})",
                    util::secs(started.elapsed())
                ),
            );
            Ok(Outcome::Succeeded {
                revision,
                took: started.elapsed(),
            })
        }
        Verdict::Failed(why) => {
            report_failure(ecs, service, &ours).await;
            bail!("deployment of {revision} failed: {why}")
        }
        Verdict::TimedOut | Verdict::Waiting => {
            report_failure(ecs, service, &ours).await;
            let waited = util::secs(opts.watch.timeout);
            match previous.filter(|p| opts.rollback_on_timeout && *p != task_definition) {
                Some(previous) => {
                    print_line("", &format!("{label}: timed out after {waited}; rolling back to {}", short_revision(&previous)));
                    let back = roll_back_to(ecs, service, &previous, &opts.watch).await;
                    bail!("deployment of {revision} timed out after {waited}; {}", describe_rollback(&previous, back))
                }
                None if !opts.rollback_on_timeout => {
                    bail!("deployment of {revision} timed out after {waited}; left as it is (--no-rollback)")
                }
                None => bail!("deployment of {revision} timed out after {waited}; no earlier revision to roll back to"),
            }
        }
    }
}

/// Top-level settings whose values differ.
fn changed_keys(want: &serde_json::Value, have: &serde_json::Value) -> Vec<String> {
    let Some(want) = want.as_object() else {
        return vec![];
    };
    want.iter()
        .filter(|(k, v)| have.get(k.as_str()) != Some(v))
        .map(|(k, _)| k.clone())
        .collect()
}

/// Registers `wanted` unless the service's current revision (or, for a new
/// service, the family's latest) already has exactly these settings.
async fn register_if_changed(
    ecs: &Ecs,
    service: &Service,
    wanted: &TaskDefinition,
    current: Option<&str>,
) -> Result<String> {
    let label = service.name;
    let existing = ecs
        .describe_task_definition(current.unwrap_or(&wanted.family))
        .await?;
    if let Some(existing) = existing {
        if normalize_task_definition(&sdk::task_definition_from(&existing))
            == normalize_task_definition(wanted)
        {
            let arn = existing.task_definition_arn.unwrap_or_default();
            print_line(
                "",
                &format!(
                    "{label}: task definition unchanged ({}): no new revision registered",
                    short_revision(&arn)
                ),
            );
            return Ok(arn);
        }
    }
    let arn = ecs.register(wanted).await?;
    print_line(
        "",
        &format!(
            "{label}: registered task definition {}",
            short_revision(&arn)
        ),
    );
    Ok(arn)
}

/// Polls until the verdict; Ctrl-C stops watching (not the deployment).
async fn watch_deployment(
    ecs: &Ecs,
    service: &Service,
    ours: &str,
    before: Option<&Snapshot>,
    opts: &WatchOpts,
) -> Result<Verdict> {
    let mut watch = Watch::new(service.name, ours, before, opts.timeout);
    let started = Instant::now();
    print_line(
        "",
        &format!(
            "{}: watching deployment {ours} (timeout {})",
            service.name,
            util::secs(opts.timeout)
        ),
    );
    loop {
        let snapshot = ecs.snapshot(service).await?;
        let (lines, verdict) = watch.observe(&snapshot, started.elapsed());
        for line in lines {
            print_line("", &line);
        }
        if verdict != Verdict::Waiting {
            return Ok(verdict);
        }
        tokio::select! {
            _ = tokio::signal::ctrl_c() => bail!(
                "stopped watching {}; the deployment goes on in ECS: follow it with `cargo xtask status {}`, undo it with `cargo xtask rollback {}`",
                service.name, service.short, service.short
            ),
            _ = tokio::time::sleep(opts.poll_interval) => {}
        }
    }
}

async fn roll_back_to(
    ecs: &Ecs,
    service: &Service,
    target: &str,
    opts: &WatchOpts,
) -> Result<Verdict> {
    let before = ecs.snapshot(service).await?;
    let id = ecs.update(service, target, None).await?;
    print_line(
        "",
        &format!(
            "{}: rollback deployment {id} to {}",
            service.name,
            short_revision(target)
        ),
    );
    watch_deployment(ecs, service, &id, Some(&before), opts).await
}

fn describe_rollback(target: &str, result: Result<Verdict>) -> String {
    let rev = short_revision(target);
    match result {
        Ok(Verdict::Succeeded) => format!("rolled back to {rev}"),
        Ok(Verdict::Failed(why)) => format!("the rollback to {rev} failed too: {why}"),
        Ok(_) => format!("the service is set back to {rev}, but that deployment had not completed either when the wait ended"),
        Err(e) => format!("the rollback to {rev} could not be done: {e:#}"),
    }
}

/// What ECS says went wrong: the rollout reason, recent events, and the
/// stopped tasks' reasons and exit codes.
async fn report_failure(ecs: &Ecs, service: &Service, ours: &str) {
    let label = service.name;
    let say = |line: String| print_line("", &format!("{label}: {line}"));
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
    match stopped_tasks(ecs, service).await {
        Ok(lines) if lines.is_empty() => say("no stopped tasks".into()),
        Ok(lines) => lines.into_iter().for_each(&say),
        Err(e) => say(format!("could not list stopped tasks: {e:#}")),
    }
}

async fn stopped_tasks(ecs: &Ecs, service: &Service) -> Result<Vec<String>> {
    let client = ecs.client();
    let list = client
        .list_tasks()
        .cluster(&ecs.cluster)
        .service_name(service.name)
        .desired_status(DesiredStatus::Stopped)
        .send()
        .await
        .map_err(|e| explain("ecs ListTasks", &e))?;
    let arns: Vec<String> = list.task_arns().iter().take(5).cloned().collect();
    if arns.is_empty() {
        return Ok(vec![]);
    }
    let tasks = client
        .describe_tasks()
        .cluster(&ecs.cluster)
        .set_tasks(Some(arns))
        .send()
        .await
        .map_err(|e| explain("ecs DescribeTasks", &e))?;
    Ok(tasks
        .tasks()
        .iter()
        .map(|t| {
            let containers: Vec<String> = t
                .containers()
                .iter()
                .map(|c| {
                    let code = c.exit_code().map_or("-".to_string(), |x| x.to_string());
                    format!(
                        "{} exit {code}{}",
                        c.name().unwrap_or("?"),
                        c.reason().map(|r| format!(" ({r})")).unwrap_or_default()
                    )
                })
                .collect();
            format!(
                "stopped task {}: {}; {}",
                t.task_arn().map_or("?", short_revision),
                t.stopped_reason().unwrap_or("no reason given"),
                containers.join(", ")
            )
        })
        .collect())
}

fn summarize(ctx: &Ctx, results: Vec<(&Service, Result<Outcome>)>, took: Duration) -> Result<()> {
    if ctx.dry_run {
        return results.into_iter().try_for_each(|(_, r)| r.map(drop));
    }
    println!("deploy summary ({}):", util::secs(took));
    let mut failed = Vec::new();
    for (service, result) in results {
        let line = match result {
            Ok(Outcome::Succeeded { revision, took }) => {
                format!("succeeded: {revision} in {}", util::secs(took))
            }
            Ok(Outcome::UpToDate { revision }) => format!("up to date: {revision}"),
            Ok(Outcome::Started { revision }) => format!("started: {revision} (not watched)"),
            Err(e) => {
                failed.push(service.name);
                format!("FAILED: {e:#}")
            }
        };
        println!("  {:<18} {line}", service.name);
    }
    if !failed.is_empty() {
        bail!("deploy failed for {}", failed.join(" and "));
    }
    Ok(())
}

pub async fn rollback(ctx: &Ctx, args: &RollbackArgs) -> Result<()> {
    let (service, to, watch) = (args.service, args.to, &args.watch);
    let ecs = Ecs::new(ctx).await?;
    let live = ecs.describe_service(service).await?;
    let current = match live.as_ref().and_then(|s| s.task_definition()) {
        Some(td) => td.to_string(),
        None if ctx.dry_run => format!("{}:<current>", service.name),
        None => bail!(
            "ECS service {service} does not exist in cluster {}",
            ecs.cluster
        ),
    };
    let target = match to {
        Some(rev) => format!("{}:{rev}", service.name),
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
            "{}: rolling back from {} to {}",
            service.name,
            short_revision(&current),
            short_revision(&target)
        ),
    );
    if ctx.dry_run {
        ecs.update(service, &target, None).await?;
        return Ok(());
    }
    match roll_back_to(&ecs, service, &target, watch).await? {
        Verdict::Succeeded => {
            println!("{service}: rolled back to {}", short_revision(&target));
            Ok(())
        }
        other => {
            report_failure(&ecs, service, "").await;
            bail!(
                "rollback of {service} to {} did not succeed: {other:?}",
                short_revision(&target)
            )
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
    ecs.ctx.announce(&format!(
        "ecs ListTaskDefinitions familyPrefix={} status=ACTIVE",
        service.name
    ));
    if ecs.ctx.dry_run {
        return Ok(format!("{}:<previous>", service.name));
    }
    let out = ecs
        .client()
        .list_task_definitions()
        .family_prefix(service.name)
        .status(TaskDefinitionStatus::Active)
        .sort(SortOrder::Desc)
        .send()
        .await
        .map_err(|e| explain("ecs ListTaskDefinitions", &e))?;
    out.task_definition_arns()
        .iter()
        .filter(|arn| {
            short_revision(arn)
                .rsplit_once(':')
                .is_some_and(|(family, _)| family == service.name)
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
