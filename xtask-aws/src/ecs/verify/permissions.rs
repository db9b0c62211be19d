//! The permissions checks, asked of IAM itself (SimulatePrincipalPolicy,
//! read-only): the execution role may do what ECS does with it for each task
//! definition (ECR login and pulls of its images, reads of its secrets, its
//! log streams, its log group when awslogs creates it), and the task role
//! what the app in it needs (the backend: its messages table; the X-Ray
//! daemon beside it; ECS Exec where the service enables it). No policy is
//! evaluated here: IAM's answer (or the sandbox's, the same evaluation its
//! tasks get) names what is denied.

use std::collections::BTreeMap;

use anyhow::Result;
use xtask::infra::{ContainerDefinition, TaskDefinition};

use super::{fail, ok, skip, Check, Planned};
use crate::aws::{self, signed, Api};
use crate::ecs::client::Ecs;

/// One thing a role must be allowed, and why (for the FAIL line).
#[derive(Debug, Clone, PartialEq)]
struct Need {
    action: &'static str,
    resource: String,
    why: String,
}

fn need(action: &'static str, resource: impl Into<String>, why: impl Into<String>) -> Need {
    Need {
        action,
        resource: resource.into(),
        why: why.into(),
    }
}

/// Where the account's ARNs point.
struct Arns<'a> {
    region: &'a str,
    account: &'a str,
}

impl Arns<'_> {
    fn of(&self, service: &str, resource: &str) -> String {
        format!(
            "arn:aws:{service}:{}:{}:{resource}",
            self.region, self.account
        )
    }
}

/// What ECS does with the execution role for this task definition.
fn execution_needs(td: &TaskDefinition, registry: &str, arns: &Arns) -> Vec<Need> {
    let mut needs = Vec::new();
    for c in &td.container_definitions {
        if let Some(repo) = ecr_repository(&c.image, registry) {
            let why = format!("pull of {} (container {})", c.image, c.name);
            needs.push(need("ecr:GetAuthorizationToken", "*", &why));
            let arn = arns.of("ecr", &format!("repository/{repo}"));
            needs.push(need("ecr:BatchGetImage", &arn, &why));
            needs.push(need("ecr:GetDownloadUrlForLayer", &arn, &why));
        }
        for s in &c.secrets {
            let why = format!("secret {} of container {}", s.name, c.name);
            needs.push(secret_need(&s.value_from, arns, why));
        }
        needs.extend(log_needs(c, arns));
    }
    dedupe(needs)
}

/// The repository of an image in the account's ECR (or the registry the
/// tool pushes to, which stands in for it), else None (a public image).
fn ecr_repository(image: &str, registry: &str) -> Option<String> {
    let (host, rest) = image.split_once('/')?;
    if host != registry && !(host.contains(".dkr.ecr.") && host.contains(".amazonaws.com")) {
        return None;
    }
    let rest = rest.split('@').next().unwrap_or(rest);
    let repo = match rest.rsplit_once(':') {
        Some((repo, tag)) if !tag.contains('/') => repo,
        _ => rest,
    };
    Some(repo.to_string())
}

fn secret_need(value_from: &str, arns: &Arns, why: String) -> Need {
    if value_from.starts_with("arn:") && value_from.contains(":secretsmanager:") {
        let arn: Vec<&str> = value_from.split(':').take(7).collect();
        return need("secretsmanager:GetSecretValue", arn.join(":"), why);
    }
    let arn = if value_from.starts_with("arn:") {
        value_from.to_string()
    } else {
        arns.of(
            "ssm",
            &format!("parameter/{}", value_from.trim_start_matches('/')),
        )
    };
    need("ssm:GetParameters", arn, why)
}

fn log_needs(c: &ContainerDefinition, arns: &Arns) -> Vec<Need> {
    let Some(log) = c
        .log_configuration
        .as_ref()
        .filter(|l| l.log_driver == "awslogs")
    else {
        return vec![];
    };
    let Some(group) = log.options.get("awslogs-group") else {
        return vec![];
    };
    let region = log
        .options
        .get("awslogs-region")
        .map_or(arns.region, String::as_str);
    let group_arn = format!("arn:aws:logs:{region}:{}:log-group:{group}", arns.account);
    let prefix = log
        .options
        .get("awslogs-stream-prefix")
        .map_or("", String::as_str);
    let stream = format!("{group_arn}:log-stream:{prefix}/{}/*", c.name);
    let why = format!("the log of container {} (group {group})", c.name);
    let mut needs = vec![
        need("logs:CreateLogStream", &stream, &why),
        need("logs:PutLogEvents", &stream, &why),
    ];
    if log.options.get("awslogs-create-group").map(String::as_str) == Some("true") {
        needs.push(need(
            "logs:CreateLogGroup",
            &group_arn,
            why + ", awslogs-create-group",
        ));
    }
    needs
}

/// What the app in the task calls AWS for, with the task role.
fn task_needs(p: &Planned, arns: &Arns) -> Vec<Need> {
    let mut needs = Vec::new();
    let env = |container: &ContainerDefinition, name: &str| {
        container
            .environment
            .iter()
            .find(|e| e.name == name)
            .map(|e| e.value.clone())
    };
    for c in &p.td.container_definitions {
        if c.name == "backend-flask" {
            let table = env(c, "DDB_MESSAGE_TABLE")
                .filter(|t| !t.is_empty())
                .unwrap_or_else(|| "cruddur-messages".into());
            let table_arn = arns.of("dynamodb", &format!("table/{table}"));
            let why = format!("the messages of the running API (table {table})");
            needs.push(need("dynamodb:Query", &table_arn, &why));
            needs.push(need(
                "dynamodb:Query",
                format!("{table_arn}/index/message-group-sk-index"),
                &why,
            ));
            needs.push(need("dynamodb:PutItem", &table_arn, &why));
            needs.push(need("dynamodb:DeleteItem", &table_arn, &why));
        }
        if c.image.contains("xray-daemon") {
            let why = format!("the X-Ray daemon (container {})", c.name);
            for action in [
                "xray:PutTraceSegments",
                "xray:PutTelemetryRecords",
                "xray:GetSamplingRules",
                "xray:GetSamplingTargets",
            ] {
                needs.push(need(action, "*", &why));
            }
        }
    }
    if p.def.enable_execute_command == Some(true) {
        for action in [
            "ssmmessages:CreateControlChannel",
            "ssmmessages:CreateDataChannel",
            "ssmmessages:OpenControlChannel",
            "ssmmessages:OpenDataChannel",
        ] {
            needs.push(need(action, "*", "ECS Exec (enableExecuteCommand)"));
        }
    }
    dedupe(needs)
}

fn dedupe(needs: Vec<Need>) -> Vec<Need> {
    let mut out: Vec<Need> = Vec::new();
    for n in needs {
        if !out
            .iter()
            .any(|o| o.action == n.action && o.resource == n.resource)
        {
            out.push(n);
        }
    }
    out
}

/// The file of `infra/policies/` a role's permissions come from.
fn policy_file(role: &str) -> &'static str {
    match role {
        "CruddurServiceExecutionRole" => "infra/policies/service-execution-policy.json",
        "CruddurTaskRole" => "infra/policies/task-policy.json",
        "CruddurSetupTaskRole" => "infra/policies/setup-task-policy.json",
        _ => "its policy",
    }
}

pub(super) async fn permissions(ecs: &Ecs, planned: &[Planned]) -> Vec<Check> {
    let ctx = &ecs.ctx;
    let (registry, account) = match (ecs.aws.registry(ctx).await, ecs.aws.account(ctx).await) {
        (Ok(r), Ok(a)) => (r, a.to_string()),
        (Err(e), _) | (_, Err(e)) => return vec![super::unknown("IAM permissions", &e)],
    };
    let arns = Arns {
        region: &ecs.aws.region,
        account: &account,
    };
    let mut checks = Vec::new();
    for p in planned {
        let name = p.service.name;
        if let Some(role) = &p.td.execution_role_arn {
            let needs = execution_needs(&p.td, &registry, &arns);
            checks.extend(simulate(ecs, name, "execution role", role, &needs).await);
        }
        let needs = task_needs(p, &arns);
        match &p.td.task_role_arn {
            Some(role) => checks.extend(simulate(ecs, name, "task role", role, &needs).await),
            None if needs.is_empty() => checks.push(ok(format!(
                "{name}: no task role, and the app needs no AWS permission"
            ))),
            None => checks.push(fail(format!(
                "{name}: no task role, but it needs one for {}: set taskRoleArn",
                needs[0].why
            ))),
        }
    }
    checks
}

/// One SimulatePrincipalPolicy per resource (all its actions at once);
/// a line per denied need, or one ok.
async fn simulate(ecs: &Ecs, service: &str, kind: &str, role: &str, needs: &[Need]) -> Vec<Check> {
    let role_name = role.rsplit('/').next().unwrap_or(role);
    let mut by_resource: BTreeMap<&str, Vec<&Need>> = BTreeMap::new();
    for n in needs {
        by_resource.entry(n.resource.as_str()).or_default().push(n);
    }
    let mut denied = Vec::new();
    for (resource, wanted) in by_resource {
        let actions: Vec<&str> = wanted.iter().map(|n| n.action).collect();
        ecs.ctx.announce(&format!(
            "iam SimulatePrincipalPolicy PolicySourceArn={role} ActionNames={} ResourceArns={resource}",
            actions.join(",")
        ));
        if ecs.ctx.dry_run {
            continue;
        }
        match decisions(ecs, role, &actions, resource).await {
            Ok(decided) => {
                for n in wanted {
                    let decision = decided.get(n.action).map_or("implicitDeny", String::as_str);
                    if decision != "allowed" {
                        denied.push((n, decision.to_string()));
                    }
                }
            }
            Err(e) if aws::code(&e) == Some("NoSuchEntity") => {
                return vec![skip(format!(
                    "{service}: {kind} {role_name} does not exist: its permissions were not checked (see its IAM line)"
                ))]
            }
            Err(e) if aws::code(&e).is_some_and(|c| c.starts_with("AccessDenied")) => {
                return vec![skip(format!(
                    "{service}: {kind} {role_name}: its permissions were not checked: these credentials may not \
                     iam:SimulatePrincipalPolicy on it ({e:#})"
                ))]
            }
            Err(e) => return vec![super::unknown(&format!("{service}: {kind} {role_name}"), &e)],
        }
    }
    if ecs.ctx.dry_run {
        return vec![];
    }
    if denied.is_empty() {
        return vec![ok(format!(
            "{service}: {kind} {role_name} may do the {} things it is used for (IAM SimulatePrincipalPolicy)",
            needs.len()
        ))];
    }
    denied
        .into_iter()
        .map(|(n, decision)| {
            let how = if decision == "explicitDeny" {
                "explicitly denied by a statement of its policies"
            } else {
                "no statement of its policies allows it"
            };
            fail(format!(
                "{service}: {kind} {role_name} may not {} on {} ({}): {how}; allow it in {}",
                n.action,
                n.resource,
                n.why,
                policy_file(role_name)
            ))
        })
        .collect()
}

/// IAM's decision per action on `resource`.
async fn decisions(
    ecs: &Ecs,
    role: &str,
    actions: &[&str],
    resource: &str,
) -> Result<BTreeMap<String, String>> {
    let names: Vec<String> = (1..=actions.len())
        .map(|i| format!("ActionNames.member.{i}"))
        .collect();
    let mut params: Vec<(&str, &str)> = vec![
        ("PolicySourceArn", role),
        ("ResourceArns.member.1", resource),
    ];
    params.extend(
        names
            .iter()
            .map(String::as_str)
            .zip(actions.iter().copied()),
    );
    let xml = ecs
        .aws
        .query(Api::Iam, "SimulatePrincipalPolicy", &params)
        .await?;
    let results = signed::records(
        &xml,
        "member",
        &["EvalActionName", "EvalResourceName", "EvalDecision"],
    )?;
    Ok(results
        .into_iter()
        .filter_map(|mut r| Some((r.remove("EvalActionName")?, r.remove("EvalDecision")?)))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images_of_the_accounts_registry_are_its_repositories() {
        let registry = "123456789012.dkr.ecr.us-east-1.amazonaws.com";
        assert_eq!(
            ecr_repository(&format!("{registry}/backend-flask@sha256:abc"), registry).as_deref(),
            Some("backend-flask")
        );
        assert_eq!(
            ecr_repository("127.0.0.1:4701/backend-flask:latest", "127.0.0.1:4701").as_deref(),
            Some("backend-flask")
        );
        assert_eq!(
            ecr_repository("public.ecr.aws/xray/aws-xray-daemon", registry),
            None
        );
    }

    #[test]
    fn secrets_need_their_service_read_on_their_arn() {
        let arns = Arns {
            region: "us-east-1",
            account: "123456789012",
        };
        let ssm = secret_need("/cruddur/x", &arns, "w".into());
        assert_eq!(
            (ssm.action, ssm.resource.as_str()),
            (
                "ssm:GetParameters",
                "arn:aws:ssm:us-east-1:123456789012:parameter/cruddur/x"
            )
        );
        let asm = secret_need(
            "arn:aws:secretsmanager:us-east-1:1:secret:db-AbCd:password::",
            &arns,
            "w".into(),
        );
        assert_eq!(
            (asm.action, asm.resource.as_str()),
            (
                "secretsmanager:GetSecretValue",
                "arn:aws:secretsmanager:us-east-1:1:secret:db-AbCd"
            )
        );
    }
}
