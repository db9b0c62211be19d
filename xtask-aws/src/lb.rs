//! The load balancer of `infra/load-balancer.json` through aws-sdk-elasticloadbalancingv2:
//! created and brought in line idempotently (`lb create`, and `cluster
//! create`; its listeners and rules in `lb/listeners.rs`), read for deploy
//! (target group ARNs), `status` (each target's health, the URL) and `diff`.

mod listeners;

use anyhow::{bail, Result};
use aws_sdk_elasticloadbalancingv2 as elb;
use elb::types::{
    LoadBalancer as LiveLoadBalancer, LoadBalancerSchemeEnum, LoadBalancerTypeEnum, Matcher,
    ProtocolEnum, TargetGroup as LiveTargetGroup, TargetGroupAttribute, TargetTypeEnum,
};
use xtask::errors::BadInput;
use xtask::infra::{self, LoadBalancerFile, Placeholders, TargetGroup};
use xtask::produced::Produced;
use xtask::services::Service;
use xtask::Ctx;

use crate::aws::{explain, Aws};

/// The load balancer file, filled with the settings (and the AWS values in `p`).
pub fn load(ctx: &Ctx, p: &Placeholders) -> Result<LoadBalancerFile> {
    infra::load_load_balancer(&infra::load_balancer_file(&ctx.root), p)
}

async fn describe_load_balancer(aws: &Aws, name: &str) -> Result<Option<LiveLoadBalancer>> {
    match aws.elb.describe_load_balancers().names(name).send().await {
        Ok(out) => Ok(out.load_balancers().first().cloned()),
        Err(e)
            if e.as_service_error()
                .is_some_and(aws_sdk_elasticloadbalancingv2::operation::describe_load_balancers::DescribeLoadBalancersError::is_load_balancer_not_found_exception) =>
        {
            Ok(None)
        }
        Err(e) => Err(explain("elbv2 DescribeLoadBalancers", &e)),
    }
}

async fn describe_target_group(aws: &Aws, name: &str) -> Result<Option<LiveTargetGroup>> {
    match aws.elb.describe_target_groups().names(name).send().await {
        Ok(out) => Ok(out.target_groups().first().cloned()),
        Err(e)
            if e.as_service_error()
                .is_some_and(aws_sdk_elasticloadbalancingv2::operation::describe_target_groups::DescribeTargetGroupsError::is_target_group_not_found_exception) =>
        {
            Ok(None)
        }
        Err(e) => Err(explain("elbv2 DescribeTargetGroups", &e)),
    }
}

/// The ARN of the target group holding `service`'s tasks: what deploy puts
/// into the service definition's `loadBalancers`.
pub async fn target_group_arn(
    ctx: &Ctx,
    aws: &Aws,
    file: &LoadBalancerFile,
    service: &Service,
) -> Result<Produced<String>> {
    let Some(tg) = file.target_group_for(service) else {
        bail!(BadInput(format!(
            "{}: no target group for {}",
            infra::load_balancer_file(&ctx.root).display(),
            service.name
        )));
    };
    ctx.announce(&format!("elbv2 DescribeTargetGroups names=[{}]", tg.name));
    if ctx.dry_run {
        return Ok(Produced::planned(format!(
            "ARN of target group {}",
            tg.name
        )));
    }
    match describe_target_group(aws, &tg.name).await? {
        Some(found) => Ok(Produced::Value(
            found.target_group_arn().unwrap_or_default().to_string(),
        )),
        None => bail!(
            "target group {} does not exist: run `cargo xtask cluster create` (it creates the load balancer)",
            tg.name
        ),
    }
}

/// Everything in the file exists and has the file's settings; returns the URL.
pub async fn ensure(ctx: &Ctx, aws: &Aws, file: &LoadBalancerFile) -> Result<Produced<String>> {
    let missing = file.missing_certificates();
    if !missing.is_empty() {
        bail!(BadInput(format!(
            "{}: {}",
            infra::load_balancer_file(&ctx.root).display(),
            missing.join("; ")
        )));
    }
    let lb = &file.load_balancer;
    ctx.announce(&format!("elbv2 DescribeLoadBalancers names=[{}]", lb.name));
    if ctx.dry_run {
        for line in [
            format!("elbv2 CreateLoadBalancer name={} (if it does not exist)", lb.name),
            "elbv2 CreateTargetGroup / ModifyTargetGroup for each target group (as needed)".into(),
            format!(
                "elbv2 CreateListener / ModifyListener ports={}, CreateRule / ModifyRule / DeleteRule (as needed)",
                file.listeners
                    .iter()
                    .map(|l| format!("{}:{}", l.protocol, l.port))
                    .collect::<Vec<_>>()
                    .join(",")
            ),
        ] {
            ctx.announce(&line);
        }
        return Ok(Produced::planned("the load balancer's URL"));
    }
    let found = match describe_load_balancer(aws, &lb.name).await? {
        Some(found) => {
            xtask::outln!("load balancer {} already exists", lb.name);
            found
        }
        None => {
            let scheme = lb.scheme.as_deref().unwrap_or("internet-facing");
            let kind = lb.r#type.as_deref().unwrap_or("application");
            let out = aws
                .elb
                .create_load_balancer()
                .name(&lb.name)
                .set_subnets(Some(lb.subnets.clone()))
                .set_security_groups(Some(lb.security_groups.clone()).filter(|g| !g.is_empty()))
                .scheme(LoadBalancerSchemeEnum::from(scheme))
                .r#type(LoadBalancerTypeEnum::from(kind))
                .send()
                .await
                .map_err(|e| explain("elbv2 CreateLoadBalancer", &e))?;
            xtask::outln!("created load balancer {}", lb.name);
            out.load_balancers().first().cloned().unwrap_or_else(|| {
                LiveLoadBalancer::builder()
                    .load_balancer_name(&lb.name)
                    .build()
            })
        }
    };
    let lb_arn = found.load_balancer_arn().unwrap_or_default().to_string();
    let mut arns = Vec::new();
    for tg in &file.target_groups {
        arns.push((tg.name.clone(), ensure_target_group(aws, tg).await?));
    }
    listeners::ensure(aws, &lb_arn, file, &arns).await?;
    Ok(Produced::Value(
        file.url(found.dns_name().unwrap_or_default()),
    ))
}

/// One health check setting: its name in ELBv2's API and the file's value.
type Setting = (&'static str, String);

/// The health check settings the file asks of `tg`.
fn health_settings(tg: &TargetGroup) -> Vec<Setting> {
    let service = tg.service().expect("checked when the file was loaded");
    let mut wanted = vec![
        ("HealthCheckPath", service.health_path.to_string()),
        ("HealthCheckProtocol", tg.protocol.clone()),
    ];
    let optional = [
        (
            "HealthCheckIntervalSeconds",
            tg.health_check_interval_seconds,
        ),
        ("HealthCheckTimeoutSeconds", tg.health_check_timeout_seconds),
        ("HealthyThresholdCount", tg.healthy_threshold_count),
        ("UnhealthyThresholdCount", tg.unhealthy_threshold_count),
    ];
    for (key, value) in optional {
        if let Some(value) = value {
            wanted.push((key, value.to_string()));
        }
    }
    if let Some(matcher) = &tg.matcher {
        wanted.push(("Matcher.HttpCode", matcher.clone()));
    }
    wanted
}

/// The live value of a health check setting, as text.
fn live_setting(live: &LiveTargetGroup, key: &str) -> String {
    let number = |n: Option<i32>| n.map(|n| n.to_string()).unwrap_or_default();
    match key {
        "HealthCheckPath" => live.health_check_path().unwrap_or_default().to_string(),
        "HealthCheckProtocol" => live
            .health_check_protocol()
            .map(|p| p.as_str().to_string())
            .unwrap_or_default(),
        "HealthCheckIntervalSeconds" => number(live.health_check_interval_seconds()),
        "HealthCheckTimeoutSeconds" => number(live.health_check_timeout_seconds()),
        "HealthyThresholdCount" => number(live.healthy_threshold_count()),
        "UnhealthyThresholdCount" => number(live.unhealthy_threshold_count()),
        "Matcher.HttpCode" => live
            .matcher()
            .and_then(Matcher::http_code)
            .unwrap_or_default()
            .to_string(),
        _ => String::new(),
    }
}

/// What differs between the file's health check and ELBv2's.
fn health_drift(tg: &TargetGroup, live: &LiveTargetGroup) -> Vec<Setting> {
    health_settings(tg)
        .into_iter()
        .filter(|(key, value)| live_setting(live, key) != *value)
        .collect()
}

fn number(settings: &[Setting], key: &str) -> Option<i32> {
    settings
        .iter()
        .find(|(k, _)| *k == key)
        .and_then(|(_, v)| v.parse().ok())
}

fn text<'a>(settings: &'a [Setting], key: &str) -> Option<&'a str> {
    settings
        .iter()
        .find(|(k, _)| *k == key)
        .map(|(_, v)| v.as_str())
}

async fn ensure_target_group(aws: &Aws, tg: &TargetGroup) -> Result<String> {
    let service = tg.service().expect("checked when the file was loaded");
    let arn = match describe_target_group(aws, &tg.name).await? {
        Some(live) => {
            let arn = live.target_group_arn().unwrap_or_default().to_string();
            let drift = health_drift(tg, &live);
            if !drift.is_empty() {
                aws.elb
                    .modify_target_group()
                    .target_group_arn(&arn)
                    .set_health_check_path(text(&drift, "HealthCheckPath").map(str::to_string))
                    .set_health_check_protocol(
                        text(&drift, "HealthCheckProtocol").map(ProtocolEnum::from),
                    )
                    .set_health_check_interval_seconds(number(&drift, "HealthCheckIntervalSeconds"))
                    .set_health_check_timeout_seconds(number(&drift, "HealthCheckTimeoutSeconds"))
                    .set_healthy_threshold_count(number(&drift, "HealthyThresholdCount"))
                    .set_unhealthy_threshold_count(number(&drift, "UnhealthyThresholdCount"))
                    .set_matcher(
                        text(&drift, "Matcher.HttpCode")
                            .map(|c| Matcher::builder().http_code(c).build()),
                    )
                    .send()
                    .await
                    .map_err(|e| explain("elbv2 ModifyTargetGroup", &e))?;
                let keys: Vec<&str> = drift.iter().map(|(k, _)| *k).collect();
                xtask::outln!("target group {}: updated {}", tg.name, keys.join(", "));
            }
            arn
        }
        None => {
            let wanted = health_settings(tg);
            let out = aws
                .elb
                .create_target_group()
                .name(&tg.name)
                .protocol(ProtocolEnum::from(tg.protocol.as_str()))
                .port(i32::from(service.port))
                .vpc_id(&tg.vpc_id)
                .target_type(TargetTypeEnum::from(tg.target_type.as_str()))
                .set_health_check_path(text(&wanted, "HealthCheckPath").map(str::to_string))
                .set_health_check_protocol(
                    text(&wanted, "HealthCheckProtocol").map(ProtocolEnum::from),
                )
                .set_health_check_interval_seconds(number(&wanted, "HealthCheckIntervalSeconds"))
                .set_health_check_timeout_seconds(number(&wanted, "HealthCheckTimeoutSeconds"))
                .set_healthy_threshold_count(number(&wanted, "HealthyThresholdCount"))
                .set_unhealthy_threshold_count(number(&wanted, "UnhealthyThresholdCount"))
                .set_matcher(
                    text(&wanted, "Matcher.HttpCode")
                        .map(|c| Matcher::builder().http_code(c).build()),
                )
                .send()
                .await
                .map_err(|e| explain("elbv2 CreateTargetGroup", &e))?;
            xtask::outln!("created target group {} ({})", tg.name, service.name);
            out.target_groups()
                .first()
                .and_then(LiveTargetGroup::target_group_arn)
                .unwrap_or_default()
                .to_string()
        }
    };
    if let Some(delay) = tg.deregistration_delay_seconds {
        ensure_deregistration_delay(aws, &tg.name, &arn, delay).await?;
    }
    Ok(arn)
}

async fn ensure_deregistration_delay(aws: &Aws, name: &str, arn: &str, delay: i32) -> Result<()> {
    const KEY: &str = "deregistration_delay.timeout_seconds";
    let out = aws
        .elb
        .describe_target_group_attributes()
        .target_group_arn(arn)
        .send()
        .await
        .map_err(|e| explain("elbv2 DescribeTargetGroupAttributes", &e))?;
    let live = out
        .attributes()
        .iter()
        .find(|a| a.key() == Some(KEY))
        .and_then(TargetGroupAttribute::value);
    if live == Some(delay.to_string().as_str()) {
        return Ok(());
    }
    aws.elb
        .modify_target_group_attributes()
        .target_group_arn(arn)
        .attributes(
            TargetGroupAttribute::builder()
                .key(KEY)
                .value(delay.to_string())
                .build(),
        )
        .send()
        .await
        .map_err(|e| explain("elbv2 ModifyTargetGroupAttributes", &e))?;
    xtask::outln!("target group {name}: deregistration delay {delay}s");
    Ok(())
}

/// One target's health as ELBv2 reports it.
pub struct TargetHealth {
    pub address: String,
    pub state: String,
    pub reason: String,
    pub description: String,
}

pub async fn target_health(aws: &Aws, tg_arn: &str) -> Result<Vec<TargetHealth>> {
    let out = aws
        .elb
        .describe_target_health()
        .target_group_arn(tg_arn)
        .send()
        .await
        .map_err(|e| explain("elbv2 DescribeTargetHealth", &e))?;
    Ok(out
        .target_health_descriptions()
        .iter()
        .map(|d| {
            let health = d.target_health();
            TargetHealth {
                address: d
                    .target()
                    .and_then(|t| t.id())
                    .unwrap_or_default()
                    .to_string(),
                state: health
                    .and_then(|h| h.state())
                    .map(|s| s.as_str().to_string())
                    .unwrap_or_default(),
                reason: health
                    .and_then(|h| h.reason())
                    .map(|r| r.as_str().to_string())
                    .unwrap_or_default(),
                description: health
                    .and_then(|h| h.description())
                    .unwrap_or_default()
                    .to_string(),
            }
        })
        .collect())
}

/// The URL of the file's load balancer, if it exists.
pub async fn live_url(aws: &Aws, file: &LoadBalancerFile) -> Result<Option<String>> {
    Ok(describe_load_balancer(aws, &file.load_balancer.name)
        .await?
        .map(|lb| file.url(lb.dns_name().unwrap_or_default())))
}

/// The file's load balancer settings that ELBv2 has otherwise, as diff lines.
pub async fn drift(aws: &Aws, file: &LoadBalancerFile) -> Result<Vec<String>> {
    let mut lines = Vec::new();
    let Some(lb) = describe_load_balancer(aws, &file.load_balancer.name).await? else {
        lines.push(format!(
            "+ load balancer {} (`cargo xtask cluster create` creates it)",
            file.load_balancer.name
        ));
        return Ok(lines);
    };
    let mut arns = Vec::new();
    for tg in &file.target_groups {
        match describe_target_group(aws, &tg.name).await? {
            None => lines.push(format!("+ target group {}", tg.name)),
            Some(live) => {
                let arn = live.target_group_arn().unwrap_or_default().to_string();
                arns.push((tg.name.clone(), arn));
                for (key, want) in health_drift(tg, &live) {
                    lines.push(format!(
                        "~ target group {} {key}: {} -> {want}",
                        tg.name,
                        live_setting(&live, key)
                    ));
                }
            }
        }
    }
    let lb_arn = lb.load_balancer_arn().unwrap_or_default();
    lines.extend(listeners::diff(aws, lb_arn, file, &arns).await?);
    Ok(lines)
}
