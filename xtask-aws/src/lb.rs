//! The load balancer of `infra/load-balancer.json` through ELBv2's API:
//! created and brought in line idempotently (`lb create`, and `cluster
//! create`), read for deploy (target group ARNs), `status` (each target's
//! health, the URL) and `diff`.

use anyhow::{bail, Result};
use xtask::errors::BadInput;
use xtask::infra::{self, LoadBalancerFile, Placeholders, TargetGroup};
use xtask::produced::Produced;
use xtask::services::Service;
use xtask::Ctx;

use crate::api::{self, members, Service as Api};
use crate::aws::Aws;
use crate::xml::Element;

/// The load balancer file, filled with the settings (and the AWS values in `p`).
pub fn load(ctx: &Ctx, p: &Placeholders) -> Result<LoadBalancerFile> {
    infra::load_load_balancer(&infra::load_balancer_file(&ctx.root), p)
}

fn params(pairs: &[(&str, String)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_string(), v.clone()))
        .collect()
}

/// The ARN and answer of the named thing, or None when ELBv2 says it is not there.
async fn describe_one(
    aws: &Aws,
    action: &str,
    name_param: &str,
    name: &str,
    list: &str,
    not_found: &str,
) -> Result<Option<Element>> {
    match aws
        .query(
            Api::Elbv2,
            action,
            &params(&[(name_param, name.to_string())]),
        )
        .await
    {
        Ok(doc) => Ok(doc
            .members(&[&format!("{action}Result"), list])
            .first()
            .map(|e| (*e).clone())),
        Err(e) if api::code(&e) == Some(not_found) => Ok(None),
        Err(e) => Err(e),
    }
}

async fn describe_load_balancer(aws: &Aws, name: &str) -> Result<Option<Element>> {
    describe_one(
        aws,
        "DescribeLoadBalancers",
        "Names.member.1",
        name,
        "LoadBalancers",
        "LoadBalancerNotFound",
    )
    .await
}

async fn describe_target_group(aws: &Aws, name: &str) -> Result<Option<Element>> {
    describe_one(
        aws,
        "DescribeTargetGroups",
        "Names.member.1",
        name,
        "TargetGroups",
        "TargetGroupNotFound",
    )
    .await
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
        Some(found) => Ok(Produced::Value(found.text_at(&["TargetGroupArn"]))),
        None => bail!(
            "target group {} does not exist: run `cargo xtask cluster create` (it creates the load balancer)",
            tg.name
        ),
    }
}

/// Everything in the file exists and has the file's settings; returns the URL.
pub async fn ensure(ctx: &Ctx, aws: &Aws, file: &LoadBalancerFile) -> Result<Produced<String>> {
    let lb = &file.load_balancer;
    ctx.announce(&format!("elbv2 DescribeLoadBalancers names=[{}]", lb.name));
    if ctx.dry_run {
        for line in [
            format!("elbv2 CreateLoadBalancer name={} (if it does not exist)", lb.name),
            "elbv2 CreateTargetGroup / ModifyTargetGroup for each target group (as needed)".into(),
            format!(
                "elbv2 CreateListener port={} / ModifyListener, CreateRule / ModifyRule (as needed)",
                file.listener.port
            ),
        ] {
            ctx.announce(&line);
        }
        return Ok(Produced::planned("the load balancer's URL"));
    }
    let found = match describe_load_balancer(aws, &lb.name).await? {
        Some(found) => {
            println!("load balancer {} already exists", lb.name);
            found
        }
        None => {
            let mut p = params(&[("Name", lb.name.clone())]);
            p.extend(members("Subnets", &lb.subnets));
            p.extend(members("SecurityGroups", &lb.security_groups));
            p.extend(params(&[
                (
                    "Scheme",
                    lb.scheme.clone().unwrap_or("internet-facing".into()),
                ),
                ("Type", lb.r#type.clone().unwrap_or("application".into())),
            ]));
            let doc = aws.query(Api::Elbv2, "CreateLoadBalancer", &p).await?;
            println!("created load balancer {}", lb.name);
            doc.members(&["CreateLoadBalancerResult", "LoadBalancers"])
                .first()
                .map(|e| (*e).clone())
                .unwrap_or_default()
        }
    };
    let lb_arn = found.text_at(&["LoadBalancerArn"]);
    let mut arns = Vec::new();
    for tg in &file.target_groups {
        arns.push((tg.name.clone(), ensure_target_group(aws, tg).await?));
    }
    let arn_of = |name: &str| {
        arns.iter()
            .find(|(n, _)| n == name)
            .map(|(_, a)| a.clone())
            .unwrap_or_default()
    };
    let listener = ensure_listener(
        aws,
        &lb_arn,
        file,
        &arn_of(&file.listener.default_target_group),
    )
    .await?;
    for rule in &file.listener.rules {
        ensure_rule(aws, &listener, rule, &arn_of(&rule.target_group)).await?;
    }
    Ok(Produced::Value(url(
        &found.text_at(&["DNSName"]),
        file.listener.port,
    )))
}

fn url(dns: &str, port: i32) -> String {
    if port == 80 {
        format!("http://{dns}")
    } else {
        format!("http://{dns}:{port}")
    }
}

/// The health check settings the file asks of `tg`, as ELBv2 names them.
fn health_settings(tg: &TargetGroup) -> Vec<(&'static str, String)> {
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

/// What differs between the file's health check and ELBv2's.
fn health_drift(tg: &TargetGroup, live: &Element) -> Vec<(&'static str, String)> {
    health_settings(tg)
        .into_iter()
        .filter(|(key, value)| {
            let path: Vec<&str> = key.split('.').collect();
            live.text_at(&path) != *value
        })
        .collect()
}

async fn ensure_target_group(aws: &Aws, tg: &TargetGroup) -> Result<String> {
    let service = tg.service().expect("checked when the file was loaded");
    let arn = match describe_target_group(aws, &tg.name).await? {
        Some(live) => {
            let arn = live.text_at(&["TargetGroupArn"]);
            let drift = health_drift(tg, &live);
            if !drift.is_empty() {
                let mut p = params(&[("TargetGroupArn", arn.clone())]);
                p.extend(drift.iter().map(|(k, v)| ((*k).to_string(), v.clone())));
                aws.query(Api::Elbv2, "ModifyTargetGroup", &p).await?;
                let keys: Vec<&str> = drift.iter().map(|(k, _)| *k).collect();
                println!("target group {}: updated {}", tg.name, keys.join(", "));
            }
            arn
        }
        None => {
            let mut p = params(&[
                ("Name", tg.name.clone()),
                ("Protocol", tg.protocol.clone()),
                ("Port", service.port.to_string()),
                ("VpcId", tg.vpc_id.clone()),
                ("TargetType", tg.target_type.clone()),
            ]);
            p.extend(
                health_settings(tg)
                    .into_iter()
                    .map(|(k, v)| (k.to_string(), v)),
            );
            let doc = aws.query(Api::Elbv2, "CreateTargetGroup", &p).await?;
            println!("created target group {} ({})", tg.name, service.name);
            doc.members(&["CreateTargetGroupResult", "TargetGroups"])
                .first()
                .map(|e| e.text_at(&["TargetGroupArn"]))
                .unwrap_or_default()
        }
    };
    if let Some(delay) = tg.deregistration_delay_seconds {
        ensure_deregistration_delay(aws, &tg.name, &arn, delay).await?;
    }
    Ok(arn)
}

async fn ensure_deregistration_delay(aws: &Aws, name: &str, arn: &str, delay: i32) -> Result<()> {
    const KEY: &str = "deregistration_delay.timeout_seconds";
    let doc = aws
        .query(
            Api::Elbv2,
            "DescribeTargetGroupAttributes",
            &params(&[("TargetGroupArn", arn.to_string())]),
        )
        .await?;
    let live = doc
        .members(&["DescribeTargetGroupAttributesResult", "Attributes"])
        .into_iter()
        .find(|a| a.text_at(&["Key"]) == KEY)
        .map(|a| a.text_at(&["Value"]));
    if live.as_deref() == Some(delay.to_string().as_str()) {
        return Ok(());
    }
    aws.query(
        Api::Elbv2,
        "ModifyTargetGroupAttributes",
        &params(&[
            ("TargetGroupArn", arn.to_string()),
            ("Attributes.member.1.Key", KEY.to_string()),
            ("Attributes.member.1.Value", delay.to_string()),
        ]),
    )
    .await?;
    println!("target group {name}: deregistration delay {delay}s");
    Ok(())
}

fn forward(prefix: &str, tg_arn: &str) -> Vec<(String, String)> {
    params(&[
        (&format!("{prefix}.member.1.Type"), "forward".into()),
        (
            &format!("{prefix}.member.1.TargetGroupArn"),
            tg_arn.to_string(),
        ),
    ])
}

async fn ensure_listener(
    aws: &Aws,
    lb_arn: &str,
    file: &LoadBalancerFile,
    default_tg: &str,
) -> Result<String> {
    let doc = aws
        .query(
            Api::Elbv2,
            "DescribeListeners",
            &params(&[("LoadBalancerArn", lb_arn.to_string())]),
        )
        .await?;
    let port = file.listener.port.to_string();
    let live = doc
        .members(&["DescribeListenersResult", "Listeners"])
        .into_iter()
        .find(|l| l.text_at(&["Port"]) == port)
        .cloned();
    if let Some(live) = live {
        let arn = live.text_at(&["ListenerArn"]);
        let current = live
            .members(&["DefaultActions"])
            .first()
            .map(|a| a.text_at(&["TargetGroupArn"]));
        if current.as_deref() != Some(default_tg) {
            let mut p = params(&[("ListenerArn", arn.clone())]);
            p.extend(forward("DefaultActions", default_tg));
            aws.query(Api::Elbv2, "ModifyListener", &p).await?;
            println!(
                "listener :{port}: default action forwards to {}",
                file.listener.default_target_group
            );
        }
        return Ok(arn);
    }
    let mut p = params(&[
        ("LoadBalancerArn", lb_arn.to_string()),
        ("Protocol", file.listener.protocol.clone()),
        ("Port", port.clone()),
    ]);
    p.extend(forward("DefaultActions", default_tg));
    let doc = aws.query(Api::Elbv2, "CreateListener", &p).await?;
    println!(
        "created listener :{port} (default: {})",
        file.listener.default_target_group
    );
    Ok(doc
        .members(&["CreateListenerResult", "Listeners"])
        .first()
        .map(|l| l.text_at(&["ListenerArn"]))
        .unwrap_or_default())
}

async fn ensure_rule(
    aws: &Aws,
    listener_arn: &str,
    rule: &infra::Rule,
    tg_arn: &str,
) -> Result<()> {
    let doc = aws
        .query(
            Api::Elbv2,
            "DescribeRules",
            &params(&[("ListenerArn", listener_arn.to_string())]),
        )
        .await?;
    let priority = rule.priority.to_string();
    let conditions = |prefix: &str| {
        let mut p = params(&[(&format!("{prefix}.member.1.Field"), "path-pattern".into())]);
        p.extend(members(
            &format!("{prefix}.member.1.PathPatternConfig.Values"),
            &rule.path_patterns,
        ));
        p
    };
    let live = doc
        .members(&["DescribeRulesResult", "Rules"])
        .into_iter()
        .find(|r| r.text_at(&["Priority"]) == priority)
        .cloned();
    match live {
        Some(live) => {
            let patterns: Vec<String> = live
                .descendants("Values")
                .first()
                .map(|v| v.children.iter().map(|m| m.text.clone()).collect())
                .unwrap_or_default();
            let target = live
                .members(&["Actions"])
                .first()
                .map(|a| a.text_at(&["TargetGroupArn"]))
                .unwrap_or_default();
            if patterns != rule.path_patterns || target != tg_arn {
                let mut p = params(&[("RuleArn", live.text_at(&["RuleArn"]))]);
                p.extend(conditions("Conditions"));
                p.extend(forward("Actions", tg_arn));
                aws.query(Api::Elbv2, "ModifyRule", &p).await?;
                println!(
                    "rule {priority}: {} -> {}",
                    rule.path_patterns.join(" "),
                    rule.target_group
                );
            }
        }
        None => {
            let mut p = params(&[
                ("ListenerArn", listener_arn.to_string()),
                ("Priority", priority.clone()),
            ]);
            p.extend(conditions("Conditions"));
            p.extend(forward("Actions", tg_arn));
            aws.query(Api::Elbv2, "CreateRule", &p).await?;
            println!(
                "created rule {priority}: {} -> {}",
                rule.path_patterns.join(" "),
                rule.target_group
            );
        }
    }
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
    let doc = aws
        .query(
            Api::Elbv2,
            "DescribeTargetHealth",
            &params(&[("TargetGroupArn", tg_arn.to_string())]),
        )
        .await?;
    Ok(doc
        .members(&["DescribeTargetHealthResult", "TargetHealthDescriptions"])
        .into_iter()
        .map(|d| TargetHealth {
            address: d.text_at(&["Target", "Id"]),
            state: d.text_at(&["TargetHealth", "State"]),
            reason: d.text_at(&["TargetHealth", "Reason"]),
            description: d.text_at(&["TargetHealth", "Description"]),
        })
        .collect())
}

/// The URL of the file's load balancer, if it exists.
pub async fn live_url(aws: &Aws, file: &LoadBalancerFile) -> Result<Option<String>> {
    Ok(describe_load_balancer(aws, &file.load_balancer.name)
        .await?
        .map(|lb| url(&lb.text_at(&["DNSName"]), file.listener.port)))
}

/// The file's load balancer settings that ELBv2 has otherwise, as diff lines.
pub async fn drift(aws: &Aws, file: &LoadBalancerFile) -> Result<Vec<String>> {
    let mut lines = Vec::new();
    if describe_load_balancer(aws, &file.load_balancer.name)
        .await?
        .is_none()
    {
        lines.push(format!(
            "+ load balancer {} (`cargo xtask cluster create` creates it)",
            file.load_balancer.name
        ));
        return Ok(lines);
    }
    for tg in &file.target_groups {
        match describe_target_group(aws, &tg.name).await? {
            None => lines.push(format!("+ target group {}", tg.name)),
            Some(live) => {
                for (key, want) in health_drift(tg, &live) {
                    let path: Vec<&str> = key.split('.').collect();
                    lines.push(format!(
                        "~ target group {} {key}: {} -> {want}",
                        tg.name,
                        live.text_at(&path)
                    ));
                }
            }
        }
    }
    Ok(lines)
}
