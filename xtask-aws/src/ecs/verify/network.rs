//! The network checks: subnets, security group and the target groups the services register in.

use std::collections::BTreeSet;

use xtask::infra;

use super::{fail, ok, skip, unknown, Check, Planned};
use crate::aws::{explain, signed, Api};
use crate::ecs::client::Ecs;

pub(super) async fn network(ecs: &Ecs, planned: &[Planned]) -> Vec<Check> {
    let vpcs = planned
        .iter()
        .filter_map(|p| p.def.network_configuration.as_ref())
        .map(|n| &n.awsvpc_configuration);
    let mut subnets = BTreeSet::new();
    let mut groups = BTreeSet::new();
    for vpc in vpcs {
        subnets.extend(vpc.subnets.iter().cloned());
        groups.extend(vpc.security_groups.iter().cloned());
    }
    let mut checks = Vec::new();
    for (what, action, filter, record, id_tag, ids, setting) in [
        (
            "subnet",
            "DescribeSubnets",
            "subnet-id",
            "item",
            "subnetId",
            &subnets,
            "CRUDDUR_SUBNETS",
        ),
        (
            "security group",
            "DescribeSecurityGroups",
            "group-id",
            "item",
            "groupId",
            &groups,
            "CRUDDUR_SECURITY_GROUP",
        ),
    ] {
        if ids.is_empty() {
            continue;
        }
        let list: Vec<String> = ids.iter().cloned().collect();
        ecs.ctx.announce(&format!(
            "ec2 {action} Filter.1.Name={filter} Filter.1.Value={}",
            list.join(",")
        ));
        if ecs.ctx.dry_run {
            continue;
        }
        let keys: Vec<String> = (1..=list.len())
            .map(|i| format!("Filter.1.Value.{i}"))
            .collect();
        let mut params = vec![("Filter.1.Name", filter)];
        params.extend(
            keys.iter()
                .map(String::as_str)
                .zip(list.iter().map(String::as_str)),
        );
        let answer = ecs
            .aws
            .query(Api::Ec2, action, &params)
            .await
            .and_then(|xml| signed::records(&xml, record, &[id_tag]));
        let answer = match answer {
            Ok(a) => a,
            Err(e) => {
                checks.push(unknown(&format!("{what}s {}", list.join(", ")), &e));
                continue;
            }
        };
        let found: BTreeSet<String> = answer
            .into_iter()
            .filter_map(|mut r| r.remove(id_tag))
            .collect();
        let missing: Vec<&String> = list.iter().filter(|id| !found.contains(*id)).collect();
        checks.push(if missing.is_empty() {
            let one = list.len() == 1;
            ok(format!(
                "{what}{} {} exist{}",
                if one { "" } else { "s" },
                list.join(", "),
                if one { "s" } else { "" }
            ))
        } else {
            fail(format!(
                "{what}{} {} do{} not exist in region {}: set {setting} to ones that do",
                if missing.len() == 1 { "" } else { "s" },
                missing
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                if missing.len() == 1 { "es" } else { "" },
                ecs.aws.region
            ))
        });
    }
    checks
}

/// Each service's target group (infra/load-balancer.json) exists and
/// matches: the service definition registers the service's own container and
/// port in it, and it checks that port's health path over HTTP, ip targets.
pub(super) async fn target_groups(ecs: &Ecs, planned: &[Planned]) -> Vec<Check> {
    let ctx = &ecs.ctx;
    let file = infra::load_balancer_file(&ctx.root);
    if !file.exists() {
        return vec![skip(format!(
            "load balancer: {} does not exist: no target groups to check",
            file.display()
        ))];
    }
    let lb = match ecs.placeholders(None).await {
        Ok(p) => crate::lb::load(ctx, &p),
        Err(e) => Err(e),
    };
    let lb = match lb {
        Ok(lb) => lb,
        Err(e) => return vec![fail(format!("load balancer: {e:#}"))],
    };
    let mut checks = Vec::new();
    for p in planned {
        let name = p.service.name;
        let Some(tg) = lb.target_group_for(p.service) else {
            checks.push(fail(format!(
                "{name}: {} has no target group for it: add one with \"Service\": \"{name}\"",
                file.display()
            )));
            continue;
        };
        checks.extend(service_side(p, tg));
        checks.extend(elb_side(ecs, p, tg).await);
    }
    checks
}

/// The service definition's side: it registers its own container, on its port.
fn service_side(p: &Planned, tg: &infra::TargetGroup) -> Vec<Check> {
    let name = p.service.name;
    let mut checks = Vec::new();
    let ports: Vec<i32> =
        p.td.container_definitions
            .iter()
            .filter(|c| c.name == name)
            .flat_map(|c| c.port_mappings.iter().map(|m| m.container_port))
            .collect();
    if p.def.load_balancers.is_empty() {
        checks.push(fail(format!(
            "{name}: infra/services/{name}.json has no loadBalancers: its tasks would not join {}; \
             add {{\"targetGroupArn\": \"${{TARGET_GROUP_ARN}}\", \"containerName\": \"{name}\", \"containerPort\": {}}}",
            tg.name, p.service.port
        )));
    }
    for l in &p.def.load_balancers {
        if l.container_name != name || l.container_port != i32::from(p.service.port) {
            checks.push(fail(format!(
                "{name}: infra/services/{name}.json registers container {} port {} in the load balancer; \
                 the service's container is {name} on port {}: set containerName and containerPort to those",
                l.container_name, l.container_port, p.service.port
            )));
        } else if !ports.contains(&l.container_port) {
            checks.push(fail(format!(
                "{name}: container {name} of infra/task-definitions/{name}.json maps no port {}: \
                 add it to its portMappings",
                l.container_port
            )));
        }
    }
    checks
}

/// The target group's side, as ELBv2 has it: the service's port and health path.
async fn elb_side(ecs: &Ecs, p: &Planned, tg: &infra::TargetGroup) -> Vec<Check> {
    let (ctx, name) = (&ecs.ctx, p.service.name);
    let mut checks = Vec::new();
    ctx.announce(&format!("elbv2 DescribeTargetGroups Names=[{}]", tg.name));
    if ctx.dry_run {
        return checks;
    }
    let found = match ecs
        .aws
        .elb
        .describe_target_groups()
        .names(&tg.name)
        .send()
        .await
    {
        Ok(out) => out.target_groups().first().cloned(),
        Err(e)
            if e.as_service_error()
                .is_some_and(aws_sdk_elasticloadbalancingv2::operation::describe_target_groups::DescribeTargetGroupsError::is_target_group_not_found_exception) =>
        {
            None
        }
        Err(e) => {
            let e = explain("elbv2 DescribeTargetGroups", &e);
            checks.push(unknown(&format!("{name}: target group {}", tg.name), &e));
            return checks;
        }
    };
    let Some(found) = found else {
        checks.push(fail(format!(
            "{name}: target group {} does not exist: run `cargo xtask lb create` (or `cargo xtask cluster create`)",
            tg.name
        )));
        return checks;
    };
    let live = |v: Option<&str>| v.unwrap_or_default().to_string();
    let wanted = [
        (
            "HealthCheckPath",
            p.service.health_path.to_string(),
            live(found.health_check_path()),
        ),
        (
            "Port",
            p.service.port.to_string(),
            found.port().map(|p| p.to_string()).unwrap_or_default(),
        ),
        (
            "Protocol",
            tg.protocol.clone(),
            live(
                found
                    .protocol()
                    .map(aws_sdk_elasticloadbalancingv2::types::ProtocolEnum::as_str),
            ),
        ),
        (
            "TargetType",
            tg.target_type.clone(),
            live(
                found
                    .target_type()
                    .map(aws_sdk_elasticloadbalancingv2::types::TargetTypeEnum::as_str),
            ),
        ),
    ];
    let differs: Vec<String> = wanted
        .iter()
        .filter(|(_, want, have)| have != want)
        .map(|(key, want, have)| format!("{key} {have} (wanted {want})"))
        .collect();
    checks.push(if differs.is_empty() {
        ok(format!(
            "{name}: target group {} exists: container {name} port {}, health check {} {}",
            tg.name, p.service.port, tg.protocol, p.service.health_path
        ))
    } else {
        fail(format!(
            "{name}: target group {} differs: {}: run `cargo xtask lb create` to bring it in line{}",
            tg.name,
            differs.join(", "),
            if differs.iter().any(|d| !d.starts_with("HealthCheck")) {
                " (port, protocol and target type only change by deleting the target group first)"
            } else {
                ""
            }
        ))
    });
    checks
}
