//! `cluster create` and `service create`: idempotent, as a first deploy needs them.

use super::watch::short_revision;
use anyhow::{bail, Result};
use aws_sdk_ecs::types::ClusterServiceConnectDefaultsRequest;
use xtask::infra;
use xtask::produced::Produced;
use xtask::services::Selection;
use xtask::Ctx;

use super::client::Ecs;

pub async fn create_cluster(ctx: &Ctx) -> Result<()> {
    let ecs = Ecs::new(ctx).await?;
    ctx.announce(&format!("ecs DescribeClusters clusters=[{}]", ecs.cluster));
    if !ctx.dry_run && active_cluster(&ecs).await? {
        xtask::outln!("ECS cluster {} already exists", ecs.cluster);
        return load_balancer(&ecs).await;
    }
    let namespace = infra::service_connect_namespace(ctx)?;
    ctx.announce(&format!(
        "ecs CreateCluster clusterName={} serviceConnectDefaults.namespace={}",
        ecs.cluster,
        namespace.as_deref().unwrap_or("-")
    ));
    if ctx.dry_run {
        return load_balancer(&ecs).await;
    }
    let defaults = match namespace {
        Some(ns) => Some(
            ClusterServiceConnectDefaultsRequest::builder()
                .namespace(ns)
                .build()?,
        ),
        None => None,
    };
    ecs.client()
        .create_cluster()
        .cluster_name(&ecs.cluster)
        .set_service_connect_defaults(defaults)
        .send()
        .await
        .map_err(|e| crate::aws::explain("ecs CreateCluster", &e))?;
    xtask::outln!("created ECS cluster {}", ecs.cluster);
    load_balancer(&ecs).await
}

/// Whether DescribeClusters lists the cluster as ACTIVE (also `verify`'s check).
pub async fn active_cluster(ecs: &Ecs) -> anyhow::Result<bool> {
    let out = ecs
        .client()
        .describe_clusters()
        .clusters(&ecs.cluster)
        .send()
        .await
        .map_err(|e| crate::aws::explain("ecs DescribeClusters", &e))?;
    Ok(out.clusters().iter().any(|c| c.status() == Some("ACTIVE")))
}

/// `lb create`: the load balancer of `infra/load-balancer.json`.
pub async fn create_load_balancer(ctx: &Ctx) -> Result<()> {
    load_balancer(&Ecs::new(ctx).await?).await
}

async fn load_balancer(ecs: &Ecs) -> Result<()> {
    let file = crate::lb::load(&ecs.ctx, &ecs.placeholders(None).await?)?;
    let url = crate::lb::ensure(&ecs.ctx, &ecs.aws, &file).await?;
    if let Produced::Value(url) = url {
        xtask::outln!("load balancer {}: {url}", file.load_balancer.name);
    }
    Ok(())
}

pub async fn create_services(ctx: &Ctx, selection: Selection) -> Result<()> {
    for service in selection.services() {
        infra::check_service_files(ctx, service)?;
    }
    let ecs = Ecs::new(ctx).await?;
    for service in selection.services() {
        if let Produced::Value(Some(_)) = ecs.describe_service(service).await? {
            xtask::outln!(
                "ECS service {service} already exists in cluster {}",
                ecs.cluster
            );
            continue;
        }
        let family = Produced::Value(ctx.settings.family(service));
        let latest = ecs.describe_task_definition(&family).await?;
        let task_definition = match latest {
            Produced::Value(latest) => match latest.and_then(|t| t.task_definition_arn) {
                Some(arn) => Produced::Value(arn),
                None => bail!(
                    "no task definition {} is registered yet: run `cargo xtask deploy {}` (it registers one and creates the service)",
                    ctx.settings.family(service),
                    service.short
                ),
            },
            Produced::Planned(_) => Produced::planned(format!("latest revision of {}", ctx.settings.family(service))),
        };
        let def =
            infra::service_definition(ctx, service, &ecs.placeholders_for(service, None).await?)?;
        ecs.create_service(&def, &task_definition).await?;
        if let Produced::Value(td) = &task_definition {
            xtask::outln!("created ECS service {service} on {}", short_revision(td));
        } else {
            xtask::outln!("{service}: (only if the service does not exist yet)");
        }
    }
    Ok(())
}
