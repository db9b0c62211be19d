//! `deploy`: register what changed, update or create the service, and watch
//! *our* deployment until ECS says it succeeded (see `rollout` for the watch,
//! the failure report and the rollback). A dry run goes through the same
//! steps with planned values: every call is shown, none is made.

use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Result};
use xtask::docker;
use xtask::errors::BadInput;
use xtask::exec::print_line;
use xtask::flags::{BuildArgs, DeployArgs, WatchOpts};
use xtask::infra::{self, normalize_service_pair, normalize_task_definition, TaskDefinition};
use xtask::produced::Produced;
use xtask::services::{Selection, Service};
use xtask::watch::{short_revision, Verdict};
use xtask::{util, Ctx};

use super::client::{snapshot, Ecs};
use super::convert;
use super::rollout::{describe_rollback, report_failure, roll_back_to, watch_deployment, Sent};
use super::task::{run_one_off, split_command, Ended, Launch};
use super::verify;
use crate::ecr;

/// The image a deploy pins its task definition to.
#[derive(Clone, Debug)]
struct Image {
    repository: String,
    tag: String,
    digest: Produced<String>,
}

impl Image {
    fn pinned(&self) -> Produced<String> {
        let repository = self.repository.clone();
        self.digest.clone().map(|d| format!("{repository}@{d}"))
    }
}

#[derive(Debug)]
enum Outcome {
    Succeeded { revision: String, took: Duration },
    UpToDate { revision: String },
    Started { revision: String },
    Planned,
}

pub async fn deploy(ctx: &Ctx, args: &DeployArgs) -> Result<()> {
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
    let images = images_to_deploy(&ecs, args.service, args.no_build).await?;
    let started = Instant::now();
    let mut handles = Vec::new();
    for (service, image) in services.iter().zip(images) {
        let (ecs, service) = (ecs.clone(), *service);
        let opts = DeployOpts {
            pre: pre.clone(),
            ..DeployOpts::from(args)
        };
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
    summarize(results, started.elapsed())
}

#[derive(Clone)]
struct DeployOpts {
    wait: bool,
    rollback_on_timeout: bool,
    watch: WatchOpts,
    /// `--pre`, split into words.
    pre: Option<Vec<String>>,
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

/// Build and push (both services' builds at once), or find what ECR has.
async fn images_to_deploy(ecs: &Ecs, selection: Selection, no_build: bool) -> Result<Vec<Image>> {
    let ctx = &ecs.ctx;
    let services = selection.services();
    if !no_build {
        docker::build(ctx, &BuildArgs::prod(selection))?;
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
        let digest = ecr::image_digest(ctx, &ecs.aws, service.repo(), "latest").await?;
        let digest = match digest {
            Produced::Value(None) => bail!(
                "ECR has no {}:latest to deploy: push one (`cargo xtask push {}`) or deploy without --no-build",
                service.repo(),
                service.short
            ),
            found => found.map(Option::unwrap_or_default),
        };
        images.push(Image {
            repository: format!("{registry}/{}", service.repo()),
            tag: "latest".into(),
            digest,
        });
    }
    Ok(images)
}

fn say(service: &Service, line: &str) {
    print_line("", &format!("{}: {line}", service.name));
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
    let (wanted, placeholders) = wanted(ecs, service, image).await?;
    let def = infra::load_service(&service.service_definition_file(&ctx.root), &placeholders)?;

    let live = ecs.describe_service(service).await?;
    let previous = live.clone().map(|s| s.and_then(|s| s.task_definition));
    let task_definition = register_if_changed(ecs, service, &wanted, &previous).await?;
    let revision = task_definition
        .clone()
        .map(|td| short_revision(&td).to_string());

    let Produced::Value(live) = live else {
        // A dry run does not know whether the service exists: both calls are the plan.
        run_pre(ecs, service, &task_definition, &def, opts).await?;
        say(service, "if the service exists:");
        ecs.update(service, &task_definition, Some(&def)).await?;
        say(service, "if it does not:");
        ecs.create_service(&def, &task_definition).await?;
        if opts.wait {
            say(
                service,
                &format!(
                    "then watch the new deployment until ECS reports it COMPLETED (timeout {})",
                    util::secs(opts.watch.timeout)
                ),
            );
        }
        return Ok(Outcome::Planned);
    };
    let (task_definition, revision) = (task_definition.real()?, revision.real()?);
    let previous = previous.real()?;
    let before = live.as_ref().map(snapshot);
    let td = Produced::Value(task_definition.clone());
    let ours = match &live {
        None => {
            run_pre(ecs, service, &td, &def, opts).await?;
            let id = ecs.create_service(&def, &td).await?.real()?;
            say(
                service,
                &format!(
                    "created service {} in cluster {} on {revision}",
                    service.name, ecs.cluster
                ),
            );
            id
        }
        Some(svc) => {
            let (want, have) = normalize_service_pair(&def, &convert::service_from_sdk(svc));
            if previous.as_deref() == Some(task_definition.as_str()) && want == have {
                say(
                    service,
                    &format!("already running {revision} with these settings: nothing to deploy"),
                );
                return Ok(Outcome::UpToDate { revision });
            }
            let drifted = changed_keys(&want, &have);
            if !drifted.is_empty() {
                say(
                    service,
                    &format!(
                        "service settings differ from infra/: {}",
                        drifted.join(", ")
                    ),
                );
            }
            run_pre(ecs, service, &td, &def, opts).await?;
            let id = ecs.update(service, &td, Some(&def)).await?.real()?;
            say(
                service,
                &format!("updated service to {revision}: deployment {id}"),
            );
            id
        }
    };
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
                None => bail!(
                    "deployment of {revision} timed out after {waited}; no earlier revision to roll back to"
                ),
            }
        }
    }
}

/// The task definition deploy would register for `image`, and the placeholders it used.
async fn wanted(
    ecs: &Ecs,
    service: &Service,
    image: &Image,
) -> Result<(Produced<TaskDefinition>, infra::Placeholders)> {
    let pinned = image.pinned();
    let placeholders = ecs
        .placeholders_for(service, Some(&pinned.to_string()))
        .await?;
    let wanted =
        infra::load_task_definition(&service.task_definition_file(&ecs.ctx.root), &placeholders)?;
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
    let image = images_to_deploy(ecs, Selection::One(service), false)
        .await?
        .remove(0);
    let (wanted, _) = wanted(ecs, service, &image).await?;
    let current = ecs
        .describe_service(service)
        .await?
        .map(|s| s.and_then(|s| s.task_definition));
    register_if_changed(ecs, service, &wanted, &current).await
}

/// `--pre`: a one-off task of the new revision before the service is touched;
/// anything but exit 0 stops the deploy with the service as it was.
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
    wanted: &Produced<TaskDefinition>,
    current: &Produced<Option<String>>,
) -> Result<Produced<String>> {
    let name = match current {
        Produced::Value(Some(arn)) => Produced::Value(arn.clone()),
        Produced::Value(None) => Produced::Value(service.name.to_string()),
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
    let arn = ecs.register(service.name, wanted).await?;
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

fn summarize(results: Vec<(&Service, Result<Outcome>)>, took: Duration) -> Result<()> {
    if results
        .iter()
        .all(|(_, r)| matches!(r, Ok(Outcome::Planned)))
    {
        return Ok(());
    }
    println!("deploy summary ({}):", util::secs(took));
    let mut failed = Vec::new();
    let mut all_bad_input = true;
    for (service, result) in results {
        let line = match result {
            Ok(Outcome::Succeeded { revision, took }) => {
                format!("succeeded: {revision} in {}", util::secs(took))
            }
            Ok(Outcome::UpToDate { revision }) => format!("up to date: {revision}"),
            Ok(Outcome::Started { revision }) => format!("started: {revision} (not watched)"),
            Ok(Outcome::Planned) => "planned (dry run)".into(),
            Err(e) => {
                failed.push(service.name);
                all_bad_input &= e.downcast_ref::<BadInput>().is_some();
                format!("FAILED: {e:#}")
            }
        };
        println!("  {:<18} {line}", service.name);
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
