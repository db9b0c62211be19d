//! ECS through the AWS SDK: cluster, services, and a deploy that says "done"
//! only when its own deployment has completed; otherwise it explains the
//! failure from ECS's events and stopped tasks, and rolls back on timeout.

pub mod infra;
pub mod watch;

use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context as _, Result};
use aws_sdk_ecs::types::{self as ecs_types, DesiredStatus, SortOrder, TaskDefinitionStatus};

use crate::aws::{error_code, explain, Aws};
use crate::docker::{self, BuildArgs};
use crate::ecr;
use crate::exec::{cmd, print_line, BadInput, Ctx};
use crate::services::{Selection, Service};
use crate::util;
use crate::{AwsOpts, DeployArgs, WatchOpts};
use infra::{normalize_service_pair, normalize_task_definition, Placeholders, TaskDefinition};
use watch::{short_revision, Snapshot, Verdict, Watch};

/// The cluster and clients a command works on.
#[derive(Clone)]
struct Ecs {
    ctx: Ctx,
    aws: std::sync::Arc<Aws>,
    cluster: String,
}

impl Ecs {
    async fn new(ctx: &Ctx, opts: &AwsOpts) -> Result<Ecs> {
        Ok(Ecs {
            ctx: ctx.clone(),
            aws: std::sync::Arc::new(Aws::load(ctx).await?),
            cluster: opts.cluster.clone(),
        })
    }

    fn client(&self) -> aws_sdk_ecs::Client {
        self.aws.ecs()
    }

    /// Values for the placeholders of `infra/`; `image` only when deploying.
    async fn placeholders(&self, image: Option<&str>) -> Result<Placeholders> {
        let mut p = Placeholders::default();
        p.set("AWS_ACCOUNT_ID", self.aws.account(&self.ctx).await?)
            .set("AWS_REGION", self.aws.region.clone())
            .set("REGISTRY", self.aws.registry(&self.ctx).await?)
            .set("CLUSTER", self.cluster.clone())
            .hint(
                "SUBNETS",
                "through CRUDDUR_SUBNETS: comma-separated subnet ids; `sandbox up` exports them",
            )
            .hint(
                "SECURITY_GROUP",
                "through CRUDDUR_SECURITY_GROUP: the services' security group id",
            )
            .hint("IMAGE", "deploy fills it with the pushed image");
        if let Some(subnets) = std::env::var("CRUDDUR_SUBNETS")
            .ok()
            .filter(|v| !v.is_empty())
        {
            p.set_list(
                "SUBNETS",
                subnets.split(',').map(|s| s.trim().to_string()).collect(),
            );
        }
        if let Some(group) = std::env::var("CRUDDUR_SECURITY_GROUP")
            .ok()
            .filter(|v| !v.is_empty())
        {
            p.set("SECURITY_GROUP", group);
        }
        if let Some(image) = image {
            p.set("IMAGE", image);
        }
        Ok(p)
    }

    /// The service if it exists and is not being deleted.
    async fn describe_service(&self, service: &Service) -> Result<Option<ecs_types::Service>> {
        self.ctx.announce(&format!(
            "ecs DescribeServices cluster={} services=[{}]",
            self.cluster, service.name
        ));
        if self.ctx.dry_run {
            return Ok(None);
        }
        let out = self
            .client()
            .describe_services()
            .cluster(&self.cluster)
            .services(service.name)
            .send()
            .await
            .map_err(|e| self.cluster_error("ecs DescribeServices", e))?;
        Ok(out
            .services
            .unwrap_or_default()
            .into_iter()
            .find(|s| s.status() == Some("ACTIVE")))
    }

    fn cluster_error<E>(
        &self,
        op: &str,
        e: aws_sdk_ecs::error::SdkError<E, HttpResponse>,
    ) -> anyhow::Error
    where
        E: aws_sdk_ecs::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        if error_code(&e) == Some("ClusterNotFoundException") {
            anyhow!(
                "ECS cluster {} does not exist: run `cargo xtask cluster create`",
                self.cluster
            )
        } else {
            explain(op, e)
        }
    }

    async fn describe_task_definition(
        &self,
        name: &str,
    ) -> Result<Option<ecs_types::TaskDefinition>> {
        self.ctx
            .announce(&format!("ecs DescribeTaskDefinition taskDefinition={name}"));
        if self.ctx.dry_run {
            return Ok(None);
        }
        match self
            .client()
            .describe_task_definition()
            .task_definition(name)
            .send()
            .await
        {
            Ok(out) => Ok(out.task_definition),
            Err(e)
                if matches!(
                    error_code(&e),
                    Some("ClientException" | "InvalidParameterException")
                ) =>
            {
                Ok(None)
            }
            Err(e) => Err(explain("ecs DescribeTaskDefinition", e)),
        }
    }

    async fn register(&self, td: &TaskDefinition) -> Result<String> {
        self.ctx
            .announce(&format!("ecs RegisterTaskDefinition family={}", td.family));
        if self.ctx.dry_run {
            return Ok(format!("{}:<new revision>", td.family));
        }
        let out = td
            .register(&self.client())?
            .send()
            .await
            .map_err(|e| explain("ecs RegisterTaskDefinition", e))?;
        out.task_definition
            .and_then(|t| t.task_definition_arn)
            .context("RegisterTaskDefinition returned no ARN")
    }

    /// UpdateService to `task_definition` with a new deployment; returns its id.
    async fn update(
        &self,
        service: &Service,
        task_definition: &str,
        def: Option<&infra::ServiceDefinition>,
    ) -> Result<String> {
        self.ctx.announce(&format!(
            "ecs UpdateService cluster={} service={} taskDefinition={} forceNewDeployment=true",
            self.cluster,
            service.name,
            short_revision(task_definition)
        ));
        if self.ctx.dry_run {
            return Ok("<deployment>".into());
        }
        let mut update = self
            .client()
            .update_service()
            .cluster(&self.cluster)
            .service(service.name)
            .task_definition(task_definition)
            .force_new_deployment(true);
        if let Some(def) = def {
            update = update
                .set_deployment_configuration(def.deployment_configuration_sdk())
                .set_network_configuration(def.network_configuration_sdk()?)
                .set_service_connect_configuration(def.service_connect_sdk()?)
                .set_enable_execute_command(def.enable_execute_command)
                .set_enable_ecs_managed_tags(def.enable_ecs_managed_tags)
                .set_platform_version(def.platform_version.clone())
                .set_propagate_tags(
                    def.propagate_tags
                        .as_deref()
                        .map(ecs_types::PropagateTags::from),
                )
                .set_health_check_grace_period_seconds(def.health_check_grace_period_seconds);
        }
        let out = update
            .send()
            .await
            .map_err(|e| self.cluster_error("ecs UpdateService", e))?;
        primary_deployment(out.service.as_ref())
            .context("UpdateService returned no primary deployment")
    }

    async fn create_service(
        &self,
        def: &infra::ServiceDefinition,
        task_definition: &str,
    ) -> Result<String> {
        self.ctx.announce(&format!(
            "ecs CreateService cluster={} serviceName={} taskDefinition={}",
            self.cluster,
            def.service_name,
            short_revision(task_definition)
        ));
        if self.ctx.dry_run {
            return Ok("<deployment>".into());
        }
        let out = self
            .client()
            .create_service()
            .cluster(&self.cluster)
            .service_name(&def.service_name)
            .task_definition(task_definition)
            .set_desired_count(def.desired_count)
            .set_launch_type(def.launch_type.as_deref().map(ecs_types::LaunchType::from))
            .set_platform_version(def.platform_version.clone())
            .set_enable_ecs_managed_tags(def.enable_ecs_managed_tags)
            .set_enable_execute_command(def.enable_execute_command)
            .set_propagate_tags(
                def.propagate_tags
                    .as_deref()
                    .map(ecs_types::PropagateTags::from),
            )
            .set_health_check_grace_period_seconds(def.health_check_grace_period_seconds)
            .set_deployment_configuration(def.deployment_configuration_sdk())
            .set_network_configuration(def.network_configuration_sdk()?)
            .set_service_connect_configuration(def.service_connect_sdk()?)
            .send()
            .await
            .map_err(|e| self.cluster_error("ecs CreateService", e))?;
        primary_deployment(out.service.as_ref()).context("CreateService returned no deployment")
    }

    async fn snapshot(&self, service: &Service) -> Result<Snapshot> {
        let live = self.describe_service(service).await?;
        Ok(live.as_ref().map(snapshot).unwrap_or_default())
    }
}

use aws_sdk_ecs::config::http::HttpResponse;

fn primary_deployment(service: Option<&ecs_types::Service>) -> Option<String> {
    service?
        .deployments()
        .iter()
        .find(|d| d.status() == Some("PRIMARY"))
        .and_then(|d| d.id().map(str::to_string))
}

/// The SDK's service as the watch's plain data.
fn snapshot(s: &ecs_types::Service) -> Snapshot {
    let secs = |t: Option<&aws_sdk_ecs::primitives::DateTime>| {
        t.map(|t| t.as_secs_f64()).unwrap_or_default()
    };
    Snapshot {
        deployments: s
            .deployments()
            .iter()
            .map(|d| watch::Deployment {
                id: d.id().unwrap_or_default().to_string(),
                status: d.status().unwrap_or_default().to_string(),
                task_definition: d.task_definition().unwrap_or_default().to_string(),
                desired_count: d.desired_count(),
                running_count: d.running_count(),
                pending_count: d.pending_count(),
                failed_tasks: d.failed_tasks(),
                rollout_state: d.rollout_state().map(|r| r.as_str().to_string()),
                rollout_state_reason: d.rollout_state_reason().map(str::to_string),
            })
            .collect(),
        events: s
            .events()
            .iter()
            .map(|e| watch::Event {
                id: e.id().unwrap_or_default().to_string(),
                created_at: secs(e.created_at()),
                message: e.message().unwrap_or_default().to_string(),
            })
            .collect(),
    }
}

// ---------------------------------------------------------------- cluster and services

pub async fn create_cluster(ctx: &Ctx, opts: &AwsOpts) -> Result<()> {
    let ecs = Ecs::new(ctx, opts).await?;
    ctx.announce(&format!("ecs DescribeClusters clusters=[{}]", ecs.cluster));
    if !ctx.dry_run {
        let out = ecs
            .client()
            .describe_clusters()
            .clusters(&ecs.cluster)
            .send()
            .await
            .map_err(|e| explain("ecs DescribeClusters", e))?;
        if out.clusters().iter().any(|c| c.status() == Some("ACTIVE")) {
            println!("ECS cluster {} already exists", ecs.cluster);
            return Ok(());
        }
    }
    ctx.announce(&format!(
        "ecs CreateCluster clusterName={} serviceConnectDefaults.namespace=cruddur",
        ecs.cluster
    ));
    if ctx.dry_run {
        return Ok(());
    }
    ecs.client()
        .create_cluster()
        .cluster_name(&ecs.cluster)
        .service_connect_defaults(
            ecs_types::ClusterServiceConnectDefaultsRequest::builder()
                .namespace("cruddur")
                .build()?,
        )
        .send()
        .await
        .map_err(|e| explain("ecs CreateCluster", e))?;
    println!("created ECS cluster {}", ecs.cluster);
    Ok(())
}

pub async fn create_services(ctx: &Ctx, opts: &AwsOpts, selection: Selection) -> Result<()> {
    let ecs = Ecs::new(ctx, opts).await?;
    for service in selection.services() {
        if ecs.describe_service(service).await?.is_some() {
            println!(
                "ECS service {service} already exists in cluster {}",
                ecs.cluster
            );
            continue;
        }
        let latest = ecs.describe_task_definition(service.name).await?;
        let task_definition = match latest.and_then(|t| t.task_definition_arn) {
            Some(arn) => arn,
            None if ctx.dry_run => format!("{}:<latest>", service.name),
            None => bail!(
                "no task definition {} is registered yet: run `cargo xtask deploy {}` (it registers one and creates the service)",
                service.name,
                service.short
            ),
        };
        let def = infra::load_service(
            &service.service_definition_file(&ctx.root),
            &ecs.placeholders(None).await?,
        )?;
        ecs.create_service(&def, &task_definition).await?;
        if !ctx.dry_run {
            println!(
                "created ECS service {service} on {}",
                short_revision(&task_definition)
            );
        }
    }
    Ok(())
}

// ---------------------------------------------------------------- deploy

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
    let ecs = Ecs::new(ctx, &args.aws).await?;
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
                tag: pushed.tags[1].clone(),
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
            let (want, have) = normalize_service_pair(&def, &infra::service_from_sdk(svc));
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
        if normalize_task_definition(&TaskDefinition::from(&existing))
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
        .map_err(|e| explain("ecs ListTasks", e))?;
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
        .map_err(|e| explain("ecs DescribeTasks", e))?;
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
                t.task_arn().map(short_revision).unwrap_or("?"),
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

// ---------------------------------------------------------------- rollback, diff, status, connect

pub async fn rollback(
    ctx: &Ctx,
    opts: &AwsOpts,
    service: &Service,
    to: Option<u32>,
    watch: &WatchOpts,
) -> Result<()> {
    let ecs = Ecs::new(ctx, opts).await?;
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
        .map_err(|e| explain("ecs ListTaskDefinitions", e))?;
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

pub async fn diff(ctx: &Ctx, opts: &AwsOpts, service: &'static Service) -> Result<()> {
    let ecs = Ecs::new(ctx, opts).await?;
    let registry = ecs.aws.registry(ctx).await?;
    let digest = ecr::image_digest(ctx, &ecs.aws, service.repo(), "latest").await?;
    let image = digest.map(|d| format!("{registry}/{}@{d}", service.repo()));
    let placeholders = ecs.placeholders(image.as_deref()).await?;
    let wanted =
        infra::load_task_definition(&service.task_definition_file(&ctx.root), &placeholders)?;
    let def = infra::load_service(&service.service_definition_file(&ctx.root), &placeholders)?;
    let live = ecs.describe_service(service).await?;
    if ctx.dry_run {
        return Ok(());
    }
    let Some(live) = live else {
        println!(
            "{service}: no such service in cluster {}: deploy would create it",
            ecs.cluster
        );
        bail!("{service} differs: the service does not exist");
    };
    let live_td = ecs
        .describe_task_definition(live.task_definition().unwrap_or_default())
        .await?;
    let live_td = live_td
        .as_ref()
        .map(TaskDefinition::from)
        .unwrap_or_default();
    let td_file = service
        .task_definition_file(&ctx.root)
        .display()
        .to_string();
    let revision = short_revision(live.task_definition().unwrap_or_default()).to_string();
    let td_diff = unified(
        &normalize_task_definition(&live_td),
        &normalize_task_definition(&wanted),
        &revision,
        &td_file,
    );
    let (want, have) = normalize_service_pair(&def, &infra::service_from_sdk(&live));
    let svc_file = service
        .service_definition_file(&ctx.root)
        .display()
        .to_string();
    let svc_diff = unified(&have, &want, &format!("service {service}"), &svc_file);
    if td_diff.is_empty() && svc_diff.is_empty() {
        println!("{service}: no differences: {revision} and the service settings match infra/");
        return Ok(());
    }
    print!("{td_diff}{svc_diff}");
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

pub async fn status(ctx: &Ctx, opts: &AwsOpts, selection: Selection) -> Result<()> {
    let ecs = Ecs::new(ctx, opts).await?;
    for service in selection.services() {
        let Some(live) = ecs.describe_service(service).await? else {
            if !ctx.dry_run {
                println!(
                    "{service}: no such service in cluster {} (`cargo xtask deploy {}` creates it)",
                    ecs.cluster, service.short
                );
            }
            continue;
        };
        let td_arn = live.task_definition().unwrap_or_default();
        let td = ecs.describe_task_definition(td_arn).await?;
        let image = td
            .as_ref()
            .and_then(|t| {
                t.container_definitions()
                    .iter()
                    .find(|c| c.name() == Some(service.name))
            })
            .and_then(|c| c.image())
            .unwrap_or("?");
        println!(
            "{service}  cluster {}  {}  {}",
            ecs.cluster,
            short_revision(td_arn),
            live.status().unwrap_or("?")
        );
        println!("  image    {image}");
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
        let mut events = snapshot(&live).events;
        events.sort_by(|a, b| b.created_at.total_cmp(&a.created_at));
        for e in events.iter().take(5) {
            let when = aws_sdk_ecs::primitives::DateTime::from_secs(e.created_at as i64);
            println!("  event    {when} {}", e.message);
        }
    }
    Ok(())
}

pub async fn connect(ctx: &Ctx, opts: &AwsOpts, service: &Service, command: &str) -> Result<()> {
    for (program, hint) in [
        ("aws", "install the AWS CLI v2: https://docs.aws.amazon.com/cli/latest/userguide/getting-started-install.html"),
        ("session-manager-plugin", "install the Session Manager plugin: https://docs.aws.amazon.com/systems-manager/latest/userguide/session-manager-working-with-install-plugin.html"),
    ] {
        if !ctx.dry_run && !util::on_path(program) {
            bail!("`cargo xtask connect` needs `{program}`: {hint}");
        }
    }
    let ecs = Ecs::new(ctx, opts).await?;
    ctx.announce(&format!(
        "ecs ListTasks cluster={} serviceName={} desiredStatus=RUNNING",
        ecs.cluster, service.name
    ));
    let task = if ctx.dry_run {
        "<task>".to_string()
    } else {
        let out = ecs
            .client()
            .list_tasks()
            .cluster(&ecs.cluster)
            .service_name(service.name)
            .desired_status(DesiredStatus::Running)
            .send()
            .await
            .map_err(|e| ecs.cluster_error("ecs ListTasks", e))?;
        out.task_arns()
            .first()
            .cloned()
            .ok_or_else(|| anyhow!("{service} has no running task to connect to"))?
    };
    cmd("aws")
        .args([
            "ecs",
            "execute-command",
            "--cluster",
            &ecs.cluster,
            "--task",
            &task,
            "--container",
            service.name,
        ])
        .args(["--interactive", "--command", command])
        .interactive()
        .run(ctx)
}
