//! `verify`: a read-only preflight of everything a deploy depends on, each
//! check one line (`ok`/`FAIL` and the fix), all run at once. Also the first
//! step of `deploy` (skipped with --no-verify). No check reads a secret's
//! value: SSM parameters are looked up by name only.

use std::collections::BTreeSet;

use anyhow::{bail, Result};
use serde_json::json;
use xtask::infra::{self, ServiceDefinition, TaskDefinition};
use xtask::services::{Selection, Service};
use xtask::Ctx;

use super::client::Ecs;
use crate::aws::Api;

mod certificate;
mod iam;
mod image;
mod log_groups;
mod network;
mod parameters;
mod permissions;

use certificate::certificates;
use iam::roles;
use image::images;
use log_groups::log_groups;
use network::{network, target_groups};
use parameters::parameters;
use permissions::permissions;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    Ok,
    Fail,
    Skip,
}

#[derive(Debug, Clone)]
struct Check {
    status: Status,
    line: String,
}

fn ok(line: impl Into<String>) -> Check {
    Check {
        status: Status::Ok,
        line: line.into(),
    }
}
fn fail(line: impl Into<String>) -> Check {
    Check {
        status: Status::Fail,
        line: line.into(),
    }
}
fn skip(line: impl Into<String>) -> Check {
    Check {
        status: Status::Skip,
        line: line.into(),
    }
}

impl Check {
    fn print(&self) {
        let tag = match self.status {
            Status::Ok => "ok",
            Status::Fail => "FAIL",
            Status::Skip => "skip",
        };
        xtask::outln!("{tag:<5} {}", self.line);
        crate::report::check(&tag.to_lowercase(), self.service(), &self.line);
    }

    /// The service a check is about: its line starts with the service's name.
    fn service(&self) -> Option<&'static str> {
        xtask::services::ALL
            .iter()
            .map(|s| s.name)
            .find(|name| self.line.starts_with(&format!("{name}: ")))
    }
}

/// Per service for `--output json`: failed when a check about it, or about
/// what every service needs (the cluster, the roles), failed.
fn note(planned: &[Planned], checks: &[Check]) {
    for p in planned {
        let failed: Vec<String> = checks
            .iter()
            .filter(|c| c.status == Status::Fail)
            .filter(|c| c.service().is_none_or(|s| s == p.service.name))
            .map(|c| c.line.clone())
            .collect();
        crate::report::service(p.service.name, |s| {
            s.outcome = if failed.is_empty() { "ok" } else { "failed" }.into();
            s.reasons = failed;
        });
    }
}

/// A service's definitions as deploy would fill them.
struct Planned {
    service: &'static Service,
    td: TaskDefinition,
    def: ServiceDefinition,
}

pub async fn verify(ctx: &Ctx, selection: Selection, before_build: bool) -> Result<()> {
    for service in selection.services() {
        infra::check_service_files(ctx, service)?;
    }
    let ecs = Ecs::new(ctx).await?;
    let images = if before_build {
        Images::Built
    } else {
        Images::Deployable
    };
    let failed = run(&ecs, selection, &images).await?;
    if failed > 0 {
        bail!(
            "{failed} check{} failed: fix what is shown above",
            if failed == 1 { "" } else { "s" }
        );
    }
    Ok(())
}

/// `deploy`'s first step: the same checks; the image is skipped when deploy
/// builds and pushes it.
pub async fn preflight(ecs: &Ecs, selection: Selection, deploy_builds: bool) -> Result<()> {
    let images = if deploy_builds {
        Images::Built
    } else {
        Images::Deployable
    };
    preflight_images(ecs, selection, &images).await
}

/// Which image of each service the image check is about.
pub enum Images {
    /// None yet: the deploy builds and pushes them.
    Built,
    /// What `deploy --no-build` takes: this commit's in ECR, else the latest deployed.
    Deployable,
    /// `promote`'s digests by service name; `copied`: copied into ECR after the checks.
    Promoted {
        digests: Vec<(&'static str, String)>,
        copied: bool,
    },
}

/// `preflight` of the given images.
pub async fn preflight_images(ecs: &Ecs, selection: Selection, images: &Images) -> Result<()> {
    let failed = run(ecs, selection, images).await?;
    if failed > 0 {
        bail!(
            "deploy stopped before changing anything: {failed} preflight check{} failed (above); fix {}, or skip the checks with --no-verify",
            if failed == 1 { "" } else { "s" },
            if failed == 1 { "it" } else { "them" }
        );
    }
    Ok(())
}

/// Runs every check at once, prints one line each; the number that failed.
async fn run(ecs: &Ecs, selection: Selection, source: &Images) -> Result<usize> {
    let ctx = &ecs.ctx;
    let registry = ecs.aws.registry(ctx).await?;
    let mut planned = Vec::new();
    for service in selection.services() {
        let image = format!("{registry}/{}:latest", service.repo());
        let mut placeholders = ecs.placeholders(Some(&image)).await?;
        // The ARN is looked up by the target group check; the files only need a value.
        placeholders.set("TARGET_GROUP_ARN", "<the service's target group>");
        planned.push(Planned {
            service,
            td: infra::task_definition(ctx, service, &placeholders)?,
            def: infra::service_definition(ctx, service, &placeholders)?,
        });
    }
    let names: Vec<&str> = planned.iter().map(|p| p.service.name).collect();
    xtask::outln!(
        "verify {} (cluster {}, region {}{}): read-only checks",
        names.join(" and "),
        ecs.cluster,
        ecs.aws.region,
        ctx.in_environment()
    );
    let (
        cluster,
        namespaces,
        images,
        roles,
        permissions,
        parameters,
        groups,
        network,
        targets,
        certs,
    ) = tokio::join!(
        cluster(ecs),
        namespaces(ecs, &planned),
        images(ecs, &planned, source),
        roles(ecs, &planned),
        permissions(ecs, &planned),
        parameters(ecs, &planned),
        log_groups(ecs, &planned),
        network(ecs, &planned),
        target_groups(ecs, &planned),
        certificates(ecs, &planned),
    );
    if ctx.dry_run {
        return Ok(0);
    }
    let checks: Vec<Check> = [
        cluster,
        namespaces,
        images,
        roles,
        permissions,
        parameters,
        groups,
        network,
        targets,
        certs,
    ]
    .into_iter()
    .flatten()
    .collect();
    checks.iter().for_each(Check::print);
    note(&planned, &checks);
    if let Some(endpoint) = ecs.aws.config.endpoint_url() {
        xtask::outln!(
            "note: AWS is {endpoint}, an emulator such as the sandbox: there the roles' permissions are \
             evaluated as its tasks get them (identity policies with real ARNs; conditions, resource policies \
             and boundaries are not: sandbox/README.md), subnets and the security group are only records \
             (tasks run on the sandbox's docker network), and Service Connect resolves names on that network \
             without Cloud Map; the image, SSM parameters and log groups are what its tasks really use"
        );
    }
    Ok(checks.iter().filter(|c| c.status == Status::Fail).count())
}

/// A check whose call failed for another reason than "not there".
fn unknown(what: &str, e: &anyhow::Error) -> Check {
    fail(format!("{what}: could not check ({e:#})"))
}

async fn cluster(ecs: &Ecs) -> Vec<Check> {
    ecs.ctx
        .announce(&format!("ecs DescribeClusters clusters=[{}]", ecs.cluster));
    if ecs.ctx.dry_run {
        return vec![];
    }
    match super::create::active_cluster(ecs).await {
        Err(e) => vec![unknown("ECS cluster", &e)],
        Ok(true) => vec![ok(format!("ECS cluster {} is ACTIVE", ecs.cluster))],
        Ok(false) => vec![fail(format!(
            "ECS cluster {} does not exist (or is not ACTIVE): run `cargo xtask cluster create`",
            ecs.cluster
        ))],
    }
}

/// The namespace each service's Service Connect uses, else the cluster's default.
async fn namespaces(ecs: &Ecs, planned: &[Planned]) -> Vec<Check> {
    let wanted: BTreeSet<String> = planned
        .iter()
        .filter_map(|p| p.def.service_connect_configuration.as_ref())
        .filter(|sc| sc.enabled)
        .filter_map(|sc| sc.namespace.clone())
        .collect();
    if wanted.is_empty() {
        return vec![skip("Service Connect: not used by these services")];
    }
    ecs.ctx
        .announce("servicediscovery ListNamespaces (Cloud Map)");
    if ecs.ctx.dry_run {
        return vec![];
    }
    let mut found = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut body = json!({ "MaxResults": 100 });
        if let Some(t) = &token {
            body["NextToken"] = json!(t);
        }
        let answer = match ecs.aws.json(Api::CloudMap, "ListNamespaces", &body).await {
            Ok(a) => a,
            Err(e) => return vec![unknown("Service Connect namespace", &e)],
        };
        for n in answer["Namespaces"].as_array().into_iter().flatten() {
            for key in ["Name", "Arn", "Id"] {
                if let Some(v) = n[key].as_str() {
                    found.push(v.to_string());
                }
            }
        }
        token = answer["NextToken"].as_str().map(str::to_string);
        if token.is_none() {
            break;
        }
    }
    wanted
        .into_iter()
        .map(|ns| {
            if found.contains(&ns) {
                ok(format!("Service Connect namespace {ns} exists in Cloud Map"))
            } else {
                fail(format!(
                    "Service Connect namespace {ns} does not exist in Cloud Map: `cargo xtask cluster create` makes a new cluster with it; \
                     for an existing cluster: `aws servicediscovery create-http-namespace --name {ns}`"
                ))
            }
        })
        .collect()
}
