//! The ECS calls the commands make, each announced (and skipped in a dry
//! run), with errors in one line; and the SDK's service as the watch's data.

use anyhow::{anyhow, Context as _, Result};
use serde::de::DeserializeOwned;
use serde_json::{json, Value};
use xtask::infra::{self, Placeholders, TaskDefinition};
use xtask::produced::Produced;
use xtask::services::Service;
use xtask::watch::{self, short_revision, Snapshot};
use xtask::Ctx;

use super::model;
use crate::api::{self, Service as Api};
use crate::aws::Aws;
/// The cluster and clients a command works on.
#[derive(Clone)]
pub struct Ecs {
    pub ctx: Ctx,
    pub aws: std::sync::Arc<Aws>,
    pub cluster: String,
}

impl Ecs {
    pub async fn new(ctx: &Ctx) -> Result<Ecs> {
        Ok(Ecs {
            ctx: ctx.clone(),
            aws: std::sync::Arc::new(Aws::load(ctx).await?),
            cluster: ctx.settings.cluster.clone(),
        })
    }

    /// One ECS call, its answer read as `T`; a missing cluster says how to make it.
    pub async fn call<T: DeserializeOwned>(&self, operation: &str, request: Value) -> Result<T> {
        self.aws
            .call(Api::Ecs, operation, &request)
            .await
            .map_err(|e| self.cluster_error(e))
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
    ) -> Result<Produced<Option<model::Service>>> {
        self.ctx.announce(&format!(
            "ecs DescribeServices cluster={} services=[{}]",
            self.cluster, service.name
        ));
        if self.ctx.dry_run {
            return Ok(Produced::planned(format!("{} as ECS has it", service.name)));
        }
        let out: Value = self
            .call(
                "DescribeServices",
                json!({"cluster": self.cluster, "services": [service.name]}),
            )
            .await?;
        for raw in out["services"].as_array().into_iter().flatten() {
            let mut s: model::Service = model::read(raw, "service")?;
            if s.status == "ACTIVE" {
                s.raw = raw.clone();
                return Ok(Produced::Value(Some(s)));
            }
        }
        Ok(Produced::Value(None))
    }

    fn cluster_error(&self, e: anyhow::Error) -> anyhow::Error {
        if api::code(&e) == Some("ClusterNotFoundException") {
            anyhow!(
                "ECS cluster {} does not exist: run `cargo xtask cluster create`",
                self.cluster
            )
        } else {
            e
        }
    }

    pub async fn describe_task_definition(
        &self,
        name: &Produced<String>,
    ) -> Result<Produced<Option<model::TaskDefinition>>> {
        self.ctx
            .announce(&format!("ecs DescribeTaskDefinition taskDefinition={name}"));
        let name = match name {
            Produced::Value(name) if !self.ctx.dry_run => name,
            _ => return Ok(Produced::planned(format!("task definition {name}"))),
        };
        match self
            .call::<Value>("DescribeTaskDefinition", json!({"taskDefinition": name}))
            .await
        {
            Ok(out) => {
                let raw = &out["taskDefinition"];
                let mut td: model::TaskDefinition = model::read(raw, "task definition")?;
                td.raw = raw.clone();
                Ok(Produced::Value(Some(td)))
            }
            Err(e)
                if matches!(
                    api::code(&e),
                    Some("ClientException" | "InvalidParameterException")
                ) =>
            {
                Ok(Produced::Value(None))
            }
            Err(e) => Err(e),
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
        let out: Value = self
            .call("RegisterTaskDefinition", serde_json::to_value(&td)?)
            .await?;
        out["taskDefinition"]["taskDefinitionArn"]
            .as_str()
            .map(|arn| Produced::Value(arn.to_string()))
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
        let mut request = match def {
            // What UpdateService takes of the file (not the name, count or launch type).
            Some(def) => settings(def)?,
            None => json!({}),
        };
        request["cluster"] = json!(self.cluster);
        request["service"] = json!(service.name);
        request["taskDefinition"] = json!(task_definition);
        request["forceNewDeployment"] = json!(true);
        let out: Answer = self.call("UpdateService", request).await?;
        primary_deployment(out.service.as_ref())
            .map(Produced::Value)
            .context("UpdateService returned no primary deployment")
    }

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
        let mut request = serde_json::to_value(def)?;
        request["cluster"] = json!(self.cluster);
        request["taskDefinition"] = json!(task_definition);
        let out: Answer = self.call("CreateService", request).await?;
        primary_deployment(out.service.as_ref())
            .map(Produced::Value)
            .context("CreateService returned no deployment")
    }

    /// ListTasks, every page: the tasks of `service` and/or started by
    /// `started_by` (a deployment id) whose desired status is `desired`.
    pub async fn task_arns(
        &self,
        service: Option<&Service>,
        started_by: Option<&str>,
        desired: &str,
    ) -> Result<Vec<String>> {
        #[derive(serde::Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Page {
            #[serde(default)]
            task_arns: Vec<String>,
            next_token: Option<String>,
        }
        let mut arns = Vec::new();
        let mut next: Option<String> = None;
        loop {
            let mut request = json!({"cluster": self.cluster, "desiredStatus": desired});
            if let Some(service) = service {
                request["serviceName"] = json!(service.name);
            }
            if let Some(id) = started_by {
                request["startedBy"] = json!(id);
            }
            if let Some(token) = &next {
                request["nextToken"] = json!(token);
            }
            let page: Page = match self.call("ListTasks", request).await {
                Err(e) if api::code(&e) == Some("ServiceNotFoundException") => {
                    let (name, short) = service.map_or(("?", "all"), |s| (s.name, s.short));
                    anyhow::bail!(
                        "ECS service {name} does not exist in cluster {}: deploy it first (`cargo xtask deploy {short}`)",
                        self.cluster
                    )
                }
                other => other?,
            };
            arns.extend(page.task_arns);
            next = page.next_token;
            if next.is_none() {
                return Ok(arns);
            }
        }
    }

    /// DescribeTasks of `arns` (in calls of at most 100, ECS's limit).
    pub async fn describe_tasks(&self, arns: &[String]) -> Result<Vec<model::Task>> {
        #[derive(serde::Deserialize)]
        struct Tasks {
            #[serde(default)]
            tasks: Vec<model::Task>,
        }
        let mut tasks = Vec::new();
        for chunk in arns.chunks(100) {
            let out: Tasks = self
                .call(
                    "DescribeTasks",
                    json!({"cluster": self.cluster, "tasks": chunk}),
                )
                .await?;
            tasks.extend(out.tasks);
        }
        Ok(tasks)
    }

    /// The service as the watch reads it (only in real runs: a dry run watches nothing).
    pub async fn snapshot(&self, service: &Service) -> Result<Snapshot> {
        let live = self.describe_service(service).await?.real()?;
        Ok(live.as_ref().map(snapshot).unwrap_or_default())
    }
}

/// The answer of CreateService and UpdateService.
#[derive(serde::Deserialize)]
struct Answer {
    service: Option<model::Service>,
}

/// The fields of a service definition UpdateService takes.
fn settings(def: &infra::ServiceDefinition) -> Result<Value> {
    let mut v = serde_json::to_value(def)?;
    if let Some(map) = v.as_object_mut() {
        for name in [
            "cluster",
            "serviceName",
            "taskDefinition",
            "desiredCount",
            "launchType",
        ] {
            map.remove(name);
        }
    }
    Ok(v)
}

pub fn primary_deployment(service: Option<&model::Service>) -> Option<String> {
    service?
        .deployments
        .iter()
        .find(|d| d.status == "PRIMARY")
        .map(|d| d.id.clone())
}

/// ECS's service as the watch's plain data.
pub fn snapshot(s: &model::Service) -> Snapshot {
    Snapshot {
        deployments: s
            .deployments
            .iter()
            .map(|d| watch::Deployment {
                id: d.id.clone(),
                status: d.status.clone(),
                task_definition: d.task_definition.clone(),
                desired_count: d.desired_count,
                running_count: d.running_count,
                pending_count: d.pending_count,
                failed_tasks: d.failed_tasks,
                rollout_state: d.rollout_state.clone(),
                rollout_state_reason: d.rollout_state_reason.clone(),
            })
            .collect(),
        events: s
            .events
            .iter()
            .map(|e| watch::Event {
                id: e.id.clone(),
                created_at: e.created_at,
                message: e.message.clone(),
            })
            .collect(),
    }
}
