//! The ECS calls the commands make, through aws-sdk-ecs: each announced (and
//! skipped in a dry run), with errors in one line; and ECS's service as the
//! watch's data.

use super::watch::{self, short_revision, Snapshot};
use anyhow::{anyhow, Context as _, Result};
use aws_sdk_ecs::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_ecs::types as ecs;
use aws_smithy_runtime_api::http::Response as HttpResponse;
use xtask::infra::{self, Placeholders, TaskDefinition};
use xtask::produced::Produced;
use xtask::services::Service;
use xtask::Ctx;

use super::convert;
use crate::aws::{explain, Aws};

/// The cluster and clients a command works on.
#[derive(Clone)]
pub struct Ecs {
    pub ctx: Ctx,
    pub aws: Aws,
    pub cluster: String,
}

impl Ecs {
    pub async fn new(ctx: &Ctx) -> Result<Ecs> {
        Ok(Ecs {
            ctx: ctx.clone(),
            aws: Aws::load(ctx).await?,
            cluster: ctx.settings.cluster.clone(),
        })
    }

    pub fn client(&self) -> &aws_sdk_ecs::Client {
        &self.aws.ecs
    }

    /// The desired count the environment's file sets for `service`, if any.
    pub fn desired_count(&self, service: &Service) -> Option<i32> {
        self.ctx
            .environment()
            .and_then(|e| e.desired_count(service))
            .map(|n| i32::try_from(n).unwrap_or(i32::MAX))
    }

    /// The placeholders of `service`'s files: those of every file, plus the
    /// target group its tasks go into (looked up in ELBv2 by its name in
    /// `infra/load-balancer.json`).
    pub async fn placeholders_for(
        &self,
        service: &Service,
        image: Option<&str>,
    ) -> Result<Placeholders> {
        let mut p = self.placeholders(image).await?;
        // Only the target groups' names matter here: the network settings the
        // load balancer is created with may be unset where deploy runs.
        let mut lookup = p.clone();
        for name in ["VPC_ID", "SUBNETS", "SECURITY_GROUP"] {
            if !lookup.values.contains_key(name) {
                lookup.set(name, "not-needed-to-find-a-target-group");
            }
        }
        let file = crate::lb::load(&self.ctx, &lookup)?;
        let arn = crate::lb::target_group_arn(&self.ctx, &self.aws, &file, service).await?;
        p.set("TARGET_GROUP_ARN", arn.to_string());
        Ok(p)
    }

    /// Values for the placeholders of `infra/`: the settings, the account,
    /// region and registry; `image` only when deploying.
    pub async fn placeholders(&self, image: Option<&str>) -> Result<Placeholders> {
        let mut p = Placeholders::from_settings(&self.ctx.settings);
        p.set(
            "AWS_ACCOUNT_ID",
            self.aws.account(&self.ctx).await?.to_string(),
        )
        .set("AWS_REGION", self.aws.region.clone())
        .set("REGISTRY", self.aws.registry(&self.ctx).await?);
        if let Some(image) = image {
            p.set("IMAGE", image);
        }
        Ok(p)
    }

    /// The service if it exists and is not being deleted.
    pub async fn describe_service(
        &self,
        service: &Service,
    ) -> Result<Produced<Option<ecs::Service>>> {
        self.ctx.announce(&format!(
            "ecs DescribeServices cluster={} services=[{}]",
            self.cluster, service.name
        ));
        if self.ctx.dry_run {
            return Ok(Produced::planned(format!("{} as ECS has it", service.name)));
        }
        let out = self
            .client()
            .describe_services()
            .cluster(&self.cluster)
            .services(service.name)
            .send()
            .await
            .map_err(|e| self.cluster_error("ecs DescribeServices", &e))?;
        Ok(Produced::Value(
            out.services()
                .iter()
                .find(|s| s.status() == Some("ACTIVE"))
                .cloned(),
        ))
    }

    /// One line for an ECS error; a missing cluster says how to make it.
    pub fn cluster_error<E>(&self, call: &str, e: &SdkError<E, HttpResponse>) -> anyhow::Error
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        if e.code() == Some("ClusterNotFoundException") {
            anyhow!(
                "ECS cluster {} does not exist: run `cargo xtask cluster create`",
                self.cluster
            )
        } else {
            explain(call, e)
        }
    }

    pub async fn describe_task_definition(
        &self,
        name: &Produced<String>,
    ) -> Result<Produced<Option<ecs::TaskDefinition>>> {
        self.ctx
            .announce(&format!("ecs DescribeTaskDefinition taskDefinition={name}"));
        let name = match name {
            Produced::Value(name) if !self.ctx.dry_run => name,
            _ => return Ok(Produced::planned(format!("task definition {name}"))),
        };
        match self
            .client()
            .describe_task_definition()
            .task_definition(name)
            .send()
            .await
        {
            Ok(out) => Ok(Produced::Value(out.task_definition)),
            // ECS answers a family or revision it does not know with a client error.
            Err(e)
                if e.as_service_error()
                    .is_some_and(aws_sdk_ecs::operation::describe_task_definition::DescribeTaskDefinitionError::is_client_exception) =>
            {
                Ok(Produced::Value(None))
            }
            Err(e) => Err(explain("ecs DescribeTaskDefinition", &e)),
        }
    }

    /// RegisterTaskDefinition; the new revision's ARN. `td` is planned when
    /// its image is (a dry run that would build and push).
    pub async fn register(
        &self,
        family: &str,
        td: &Produced<TaskDefinition>,
    ) -> Result<Produced<String>> {
        self.ctx
            .announce(&format!("ecs RegisterTaskDefinition family={family}"));
        if self.ctx.dry_run {
            return Ok(Produced::planned(format!("new revision of {family}")));
        }
        let td = td.clone().real()?;
        let out = convert::register(&td, self.client())?
            .send()
            .await
            .map_err(|e| explain("ecs RegisterTaskDefinition", &e))?;
        out.task_definition
            .and_then(|t| t.task_definition_arn)
            .map(Produced::Value)
            .context("RegisterTaskDefinition returned no ARN")
    }

    /// UpdateService to `task_definition` with a new deployment; returns its id.
    pub async fn update(
        &self,
        service: &Service,
        task_definition: &Produced<String>,
        def: Option<&infra::ServiceDefinition>,
    ) -> Result<Produced<String>> {
        self.ctx.announce(&format!(
            "ecs UpdateService cluster={} service={} taskDefinition={} forceNewDeployment=true",
            self.cluster,
            service.name,
            task_definition
                .clone()
                .map(|td| short_revision(&td).to_string())
        ));
        if self.ctx.dry_run {
            return Ok(Produced::planned(format!(
                "the deployment UpdateService starts for {}",
                service.name
            )));
        }
        let task_definition = task_definition.clone().real()?;
        let mut update = self
            .client()
            .update_service()
            .cluster(&self.cluster)
            .service(service.name)
            .task_definition(task_definition)
            .force_new_deployment(true);
        // An environment that sets the count owns it (else autoscaling or `scale` may).
        if let Some(n) = self.desired_count(service) {
            update = update.desired_count(n);
        }
        if let Some(def) = def {
            // What UpdateService takes of the file (not the name, count or launch type).
            update = update
                .set_deployment_configuration(convert::deployment_configuration(def))
                .set_network_configuration(convert::network_configuration(def)?)
                .set_service_connect_configuration(convert::service_connect(def)?)
                .set_load_balancers(convert::load_balancers(def))
                .set_enable_execute_command(def.enable_execute_command)
                .set_enable_ecs_managed_tags(def.enable_ecs_managed_tags)
                .set_platform_version(def.platform_version.clone())
                .set_propagate_tags(def.propagate_tags.as_deref().map(ecs::PropagateTags::from))
                .set_health_check_grace_period_seconds(def.health_check_grace_period_seconds);
        }
        let out = update
            .send()
            .await
            .map_err(|e| self.cluster_error("ecs UpdateService", &e))?;
        primary_deployment(out.service.as_ref())
            .map(Produced::Value)
            .context("UpdateService returned no primary deployment")
    }

    /// CreateService with a client token made for this one create: a retry
    /// of a call whose answer was lost does not make a second service.
    pub async fn create_service(
        &self,
        def: &infra::ServiceDefinition,
        task_definition: &Produced<String>,
    ) -> Result<Produced<String>> {
        self.ctx.announce(&format!(
            "ecs CreateService cluster={} serviceName={} taskDefinition={}",
            self.cluster,
            def.service_name,
            task_definition
                .clone()
                .map(|td| short_revision(&td).to_string())
        ));
        if self.ctx.dry_run {
            return Ok(Produced::planned(format!(
                "the deployment CreateService starts for {}",
                def.service_name
            )));
        }
        let task_definition = task_definition.clone().real()?;
        let out = self
            .client()
            .create_service()
            .client_token(client_token())
            .cluster(&self.cluster)
            .service_name(&def.service_name)
            .task_definition(task_definition)
            .set_desired_count(def.desired_count)
            .set_launch_type(def.launch_type.as_deref().map(ecs::LaunchType::from))
            .set_platform_version(def.platform_version.clone())
            .set_enable_ecs_managed_tags(def.enable_ecs_managed_tags)
            .set_enable_execute_command(def.enable_execute_command)
            .set_propagate_tags(def.propagate_tags.as_deref().map(ecs::PropagateTags::from))
            .set_health_check_grace_period_seconds(def.health_check_grace_period_seconds)
            .set_deployment_configuration(convert::deployment_configuration(def))
            .set_network_configuration(convert::network_configuration(def)?)
            .set_service_connect_configuration(convert::service_connect(def)?)
            .set_load_balancers(convert::load_balancers(def))
            .send()
            .await
            .map_err(|e| self.cluster_error("ecs CreateService", &e))?;
        primary_deployment(out.service.as_ref())
            .map(Produced::Value)
            .context("CreateService returned no deployment")
    }

    /// The tasks of `service` whose desired status is `desired` (ListTasks,
    /// every page), optionally only those `started_by` a deployment. ECS
    /// refuses `startedBy` together with `serviceName` (and lists only
    /// RUNNING tasks with `startedBy` alone), so the deployment is a filter
    /// on the described tasks' `startedBy`, never a second ListTasks filter.
    pub async fn tasks(
        &self,
        service: &Service,
        started_by: Option<&str>,
        desired: ecs::DesiredStatus,
    ) -> Result<Vec<ecs::Task>> {
        let arns = self.task_arns(service, desired).await?;
        let tasks = self.describe_tasks(&arns).await?;
        Ok(match started_by {
            Some(id) => tasks
                .into_iter()
                .filter(|t| t.started_by() == Some(id))
                .collect(),
            None => tasks,
        })
    }

    /// ListTasks of `service`, every page.
    pub async fn task_arns(
        &self,
        service: &Service,
        desired: ecs::DesiredStatus,
    ) -> Result<Vec<String>> {
        self.client()
            .list_tasks()
            .cluster(&self.cluster)
            .service_name(service.name)
            .desired_status(desired)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| {
                if e.as_service_error()
                    .is_some_and(aws_sdk_ecs::operation::list_tasks::ListTasksError::is_service_not_found_exception)
                {
                    anyhow!(
                        "ECS service {} does not exist in cluster {}: deploy it first (`cargo xtask deploy {}`)",
                        service.name,
                        self.cluster,
                        service.short
                    )
                } else {
                    self.cluster_error("ecs ListTasks", &e)
                }
            })
    }

    /// DescribeTasks of `arns` (in calls of at most 100, ECS's limit).
    pub async fn describe_tasks(&self, arns: &[String]) -> Result<Vec<ecs::Task>> {
        let mut tasks = Vec::new();
        for chunk in arns.chunks(100) {
            let out = self
                .client()
                .describe_tasks()
                .cluster(&self.cluster)
                .set_tasks(Some(chunk.to_vec()))
                .send()
                .await
                .map_err(|e| self.cluster_error("ecs DescribeTasks", &e))?;
            tasks.extend(out.tasks.unwrap_or_default());
        }
        Ok(tasks)
    }

    /// The service as the watch reads it (only in real runs: a dry run watches nothing).
    pub async fn snapshot(&self, service: &Service) -> Result<Snapshot> {
        let live = self.describe_service(service).await?.real()?;
        Ok(live.as_ref().map(snapshot).unwrap_or_default())
    }
}

/// An idempotency token for one logical call (ECS keeps it for a while and
/// answers a repeat with the first call's result).
pub fn client_token() -> String {
    format!("cruddur-{:032x}", fastrand::u128(..))
}

pub fn primary_deployment(service: Option<&ecs::Service>) -> Option<String> {
    service?
        .deployments()
        .iter()
        .find(|d| d.status() == Some("PRIMARY"))
        .and_then(|d| d.id().map(str::to_string))
}

/// Seconds since the epoch of an SDK timestamp (0 when absent).
pub fn secs(t: Option<&aws_sdk_ecs::primitives::DateTime>) -> f64 {
    t.map(aws_sdk_ecs::primitives::DateTime::as_secs_f64)
        .unwrap_or_default()
}

/// ECS's service as the watch's plain data.
pub fn snapshot(s: &ecs::Service) -> Snapshot {
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
