//! `verify`: a read-only preflight of everything a deploy depends on, each
//! check one line (`ok`/`FAIL` and the fix), all run at once. Also the first
//! step of `deploy` (skipped with --no-verify). No check reads a secret's
//! value: SSM parameters are looked up by name only.

use std::collections::BTreeSet;

use anyhow::{bail, Context as _, Result};
use base64::Engine as _;
use serde_json::{json, Value};
use xtask::infra::{self, ServiceDefinition, TaskDefinition};
use xtask::produced::Produced;
use xtask::services::{Selection, Service};
use xtask::Ctx;

use super::client::Ecs;
use crate::api::{self, Service as Api};
use crate::ecr;

/// What Fargate runs (and the only platform ECS pulls for it here).
const PLATFORM: (&str, &str) = ("linux", "amd64");
const TRUSTED: &str = "ecs-tasks.amazonaws.com";

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
        println!("{tag:<5} {}", self.line);
    }
}

/// A service's definitions as deploy would fill them.
struct Planned {
    service: &'static Service,
    td: TaskDefinition,
    def: ServiceDefinition,
}

pub async fn verify(ctx: &Ctx, selection: Selection) -> Result<()> {
    for service in selection.services() {
        infra::check_service_files(ctx, service)?;
    }
    let ecs = Ecs::new(ctx).await?;
    let failed = run(&ecs, selection, false).await?;
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
    let failed = run(ecs, selection, deploy_builds).await?;
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
async fn run(ecs: &Ecs, selection: Selection, deploy_builds: bool) -> Result<usize> {
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
            td: infra::load_task_definition(
                &service.task_definition_file(&ctx.root),
                &placeholders,
            )?,
            def: infra::load_service(&service.service_definition_file(&ctx.root), &placeholders)?,
        });
    }
    let names: Vec<&str> = planned.iter().map(|p| p.service.name).collect();
    println!(
        "verify {} (cluster {}, region {}): read-only checks",
        names.join(" and "),
        ecs.cluster,
        ecs.aws.region
    );
    let (cluster, namespaces, images, roles, parameters, groups, network, targets) = tokio::join!(
        cluster(ecs),
        namespaces(ecs, &planned),
        images(ecs, &planned, deploy_builds),
        roles(ecs, &planned),
        parameters(ecs, &planned),
        log_groups(ecs, &planned),
        network(ecs, &planned),
        target_groups(ecs, &planned),
    );
    if ctx.dry_run {
        return Ok(0);
    }
    let checks: Vec<Check> = [
        cluster, namespaces, images, roles, parameters, groups, network, targets,
    ]
    .into_iter()
    .flatten()
    .collect();
    checks.iter().for_each(Check::print);
    if let Some(endpoint) = &ecs.aws.endpoint {
        println!(
            "note: AWS is {endpoint}, an emulator such as the sandbox: there the IAM trust check reads a stored \
             document (nothing assumes the roles, no permission is evaluated), subnets and the security group \
             are only records (tasks run on the sandbox's docker network), and Service Connect resolves names \
             on that network without Cloud Map; the image, SSM parameters and log groups are what its tasks \
             really use"
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

async fn images(ecs: &Ecs, planned: &[Planned], deploy_builds: bool) -> Vec<Check> {
    let mut checks = Vec::new();
    for p in planned {
        let repo = p.service.repo();
        if deploy_builds {
            checks.push(skip(format!(
                "{}: image: this deploy builds and pushes it",
                p.service.name
            )));
            continue;
        }
        let digest = match ecr::image_digest(&ecs.ctx, &ecs.aws, repo, "latest").await {
            Ok(Produced::Value(Some(d))) => d,
            Ok(Produced::Value(None)) => {
                checks.push(fail(format!(
                    "{}: ECR has no {repo}:latest: push one (`cargo xtask push {}`), or deploy without --no-build",
                    p.service.name, p.service.short
                )));
                continue;
            }
            Ok(Produced::Planned(_)) => {
                ecs.ctx.announce(&format!(
                    "ecr GetAuthorizationToken; registry GET /v2/{repo}/manifests/<digest> and the config blob (platform)"
                ));
                continue;
            }
            Err(e) => {
                checks.push(fail(format!("{}: image: {e:#}", p.service.name)));
                continue;
            }
        };
        checks.push(match platform(ecs, repo, &digest).await {
            Ok(platform) if platform == format!("{}/{}", PLATFORM.0, PLATFORM.1) => ok(format!(
                "{}: image {repo}:latest ({}) is in ECR, {platform}",
                p.service.name,
                short_digest(&digest)
            )),
            Ok(platform) => fail(format!(
                "{}: image {repo}:latest ({}) is {platform}, Fargate runs {}/{}: build it for that platform \
                 (`docker build --platform {}/{}`, or `cargo xtask build` on an x86-64 machine) and push it",
                p.service.name,
                short_digest(&digest),
                PLATFORM.0,
                PLATFORM.1,
                PLATFORM.0,
                PLATFORM.1
            )),
            Err(e) => fail(format!(
                "{}: image {repo}:latest: could not read its platform from the registry ({e:#})",
                p.service.name
            )),
        });
    }
    checks
}

fn short_digest(digest: &str) -> &str {
    &digest[..digest.len().min(19)]
}

/// The image's platform, from its manifest (an index lists its platforms) or
/// its config blob, read through the registry's HTTP API with ECR's token as
/// basic auth, as docker reads it.
async fn platform(ecs: &Ecs, repo: &str, digest: &str) -> Result<String> {
    let registry = ecs.aws.registry(&ecs.ctx).await?;
    let (user, password) = ecr::auth_token(&ecs.aws).await?;
    let auth = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    );
    let base = format!("{}://{registry}/v2/{repo}", scheme(&registry));
    let accept = "application/vnd.oci.image.index.v1+json, \
                  application/vnd.docker.distribution.manifest.list.v2+json, \
                  application/vnd.docker.distribution.manifest.v2+json, \
                  application/vnd.oci.image.manifest.v1+json";
    let manifest = get_json(&format!("{base}/manifests/{digest}"), &auth, accept).await?;
    if let Some(list) = manifest["manifests"].as_array() {
        let platforms: Vec<String> = list
            .iter()
            .filter_map(|m| {
                Some(format!(
                    "{}/{}",
                    m["platform"]["os"].as_str()?,
                    m["platform"]["architecture"].as_str()?
                ))
            })
            .collect();
        let want = format!("{}/{}", PLATFORM.0, PLATFORM.1);
        return Ok(if platforms.contains(&want) {
            want
        } else {
            format!("an index of {}", platforms.join(", "))
        });
    }
    let config = manifest["config"]["digest"]
        .as_str()
        .context("the manifest names no config blob")?;
    let config = get_json(&format!("{base}/blobs/{config}"), &auth, "*/*").await?;
    Ok(format!(
        "{}/{}",
        config["os"].as_str().unwrap_or("?"),
        config["architecture"].as_str().unwrap_or("?")
    ))
}

/// docker's default: loopback registries are plain HTTP, every other one HTTPS.
fn scheme(registry: &str) -> &'static str {
    let host = registry.rsplit_once(':').map_or(registry, |(h, _)| h);
    if host == "localhost" || host.starts_with("127.") || host == "[::1]" {
        "http"
    } else {
        "https"
    }
}

/// GET `url` as JSON; a redirect (ECR sends blobs to S3) is followed without
/// the registry's credentials.
async fn get_json(url: &str, auth: &str, accept: &str) -> Result<Value> {
    let headers = vec![
        ("accept".to_string(), accept.to_string()),
        ("authorization".to_string(), auth.to_string()),
    ];
    let (status, body) = crate::transport::get_following_redirects(url, headers).await?;
    match status {
        200 => serde_json::from_slice(&body).context("the answer is not JSON"),
        401 | 403 => bail!("the registry refused ECR's token (HTTP {status})"),
        404 => bail!("the registry has no such manifest or blob (HTTP 404)"),
        _ => bail!("HTTP {status} from {url}"),
    }
}

async fn roles(ecs: &Ecs, planned: &[Planned]) -> Vec<Check> {
    let arns: BTreeSet<String> = planned
        .iter()
        .flat_map(|p| [&p.td.execution_role_arn, &p.td.task_role_arn])
        .flatten()
        .cloned()
        .collect();
    let mut checks = Vec::new();
    for arn in arns {
        let name = arn.rsplit('/').next().unwrap_or(&arn).to_string();
        ecs.ctx.announce(&format!("iam GetRole RoleName={name}"));
        if ecs.ctx.dry_run {
            continue;
        }
        let fix = format!(
            "`aws iam create-role --role-name {name} --assume-role-policy-document file://infra/policies/ecs-tasks-trust.json` (and attach its policy from infra/policies/)"
        );
        let role = match ecs
            .aws
            .query(Api::Iam, "GetRole", &[("RoleName".into(), name.clone())])
            .await
        {
            Ok(role) => role,
            Err(e) if api::code(&e) == Some("NoSuchEntity") => {
                checks.push(fail(format!(
                    "IAM role {name} does not exist: create it: {fix}"
                )));
                continue;
            }
            Err(e) => {
                checks.push(unknown(&format!("IAM role {name}"), &e));
                continue;
            }
        };
        let document = role
            .descendants("AssumeRolePolicyDocument")
            .first()
            .map(|e| percent_decode(&e.text))
            .unwrap_or_default();
        checks.push(if trusts(&document, TRUSTED) {
            ok(format!("IAM role {name} exists and trusts {TRUSTED}"))
        } else {
            fail(format!(
                "IAM role {name} does not trust {TRUSTED}: ECS cannot use it; set its trust policy: \
                 `aws iam update-assume-role-policy --role-name {name} --policy-document file://infra/policies/ecs-tasks-trust.json`"
            ))
        });
    }
    checks
}

/// Whether a trust policy lets `service` assume the role.
fn trusts(document: &str, service: &str) -> bool {
    let Ok(doc) = serde_json::from_str::<Value>(document) else {
        return false;
    };
    let has = |v: &Value, want: &str| match v {
        Value::String(s) => s == want || s == "*",
        Value::Array(items) => items.iter().any(|i| i.as_str() == Some(want)),
        _ => false,
    };
    let statements = match &doc["Statement"] {
        Value::Array(s) => s.clone(),
        s @ Value::Object(_) => vec![s.clone()],
        _ => vec![],
    };
    statements.iter().any(|s| {
        s["Effect"] == "Allow"
            && has(&s["Principal"]["Service"], service)
            && has(&s["Action"], "sts:AssumeRole")
    })
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(hi), Some(lo)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((hi * 16 + lo) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `arn:aws:ssm:r:a:parameter/cruddur/x` -> `/cruddur/x`; a plain name as is;
/// None for another service's ARN (Secrets Manager).
fn parameter_name(value_from: &str) -> Option<String> {
    if !value_from.starts_with("arn:") {
        return Some(value_from.to_string());
    }
    let resource = value_from.splitn(6, ':').nth(5)?;
    if !value_from.starts_with("arn:aws:ssm:") && !value_from.contains(":ssm:") {
        return None;
    }
    let name = resource.strip_prefix("parameter")?;
    Some(if name.starts_with('/') {
        name.to_string()
    } else {
        format!("/{name}")
    })
}

async fn parameters(ecs: &Ecs, planned: &[Planned]) -> Vec<Check> {
    let mut checks = Vec::new();
    for p in planned {
        // (parameter, secret name, container)
        let mut wanted = Vec::new();
        for c in &p.td.container_definitions {
            for s in &c.secrets {
                match parameter_name(&s.value_from) {
                    Some(name) => wanted.push((name, s.name.clone(), c.name.clone())),
                    None => checks.push(skip(format!(
                        "{}: secret {} of container {} is not an SSM parameter ({}): not checked",
                        p.service.name, s.name, c.name, s.value_from
                    ))),
                }
            }
        }
        if wanted.is_empty() {
            continue;
        }
        let names: Vec<String> = wanted.iter().map(|w| w.0.clone()).collect();
        ecs.ctx.announce(&format!(
            "ssm DescribeParameters ParameterFilters=[Name Equals {}] (names only, no values)",
            names.join(",")
        ));
        if ecs.ctx.dry_run {
            continue;
        }
        let found = match existing_parameters(ecs, &names).await {
            Ok(found) => found,
            Err(e) => {
                checks.push(unknown(&format!("{}: SSM parameters", p.service.name), &e));
                continue;
            }
        };
        let missing: Vec<_> = wanted.iter().filter(|w| !found.contains(&w.0)).collect();
        for (name, secret, container) in &missing {
            checks.push(fail(format!(
                "{}: SSM parameter {name} (secret {secret} of container {container}) does not exist: \
                 create it: `aws ssm put-parameter --type SecureString --name {name} --value …`",
                p.service.name
            )));
        }
        if missing.is_empty() {
            checks.push(ok(format!(
                "{}: the {} SSM parameters its secrets come from exist (values not read)",
                p.service.name,
                wanted.len()
            )));
        }
    }
    checks
}

async fn existing_parameters(ecs: &Ecs, names: &[String]) -> Result<BTreeSet<String>> {
    let mut found = BTreeSet::new();
    for chunk in names.chunks(50) {
        let mut token: Option<String> = None;
        loop {
            let mut body = json!({
                "ParameterFilters": [{ "Key": "Name", "Option": "Equals", "Values": chunk }],
                "MaxResults": 50,
            });
            if let Some(t) = &token {
                body["NextToken"] = json!(t);
            }
            let answer = ecs.aws.json(Api::Ssm, "DescribeParameters", &body).await?;
            for p in answer["Parameters"].as_array().into_iter().flatten() {
                if let Some(name) = p["Name"].as_str() {
                    found.insert(name.to_string());
                }
            }
            token = answer["NextToken"].as_str().map(str::to_string);
            if token.is_none() {
                break;
            }
        }
    }
    Ok(found)
}

async fn log_groups(ecs: &Ecs, planned: &[Planned]) -> Vec<Check> {
    // (group, created by ECS when missing)
    let groups: BTreeSet<(String, bool)> = planned
        .iter()
        .flat_map(|p| &p.td.container_definitions)
        .filter_map(|c| c.log_configuration.as_ref())
        .filter(|l| l.log_driver == "awslogs")
        .filter_map(|l| {
            Some((
                l.options.get("awslogs-group")?.clone(),
                l.options.get("awslogs-create-group").map(String::as_str) == Some("true"),
            ))
        })
        .collect();
    let mut checks = Vec::new();
    for (group, created) in groups {
        ecs.ctx.announce(&format!(
            "logs DescribeLogGroups logGroupNamePrefix={group}"
        ));
        if ecs.ctx.dry_run {
            continue;
        }
        checks.push(match log_group_exists(ecs, &group).await {
            Ok(true) => ok(format!("CloudWatch log group {group} exists")),
            Ok(false) if created => ok(format!(
                "CloudWatch log group {group} does not exist yet; ECS creates it (awslogs-create-group)"
            )),
            Ok(false) => fail(format!(
                "CloudWatch log group {group} does not exist: tasks will fail to start; create it: \
                 `aws logs create-log-group --log-group-name {group}`"
            )),
            Err(e) => unknown(&format!("CloudWatch log group {group}"), &e),
        });
    }
    checks
}

async fn log_group_exists(ecs: &Ecs, group: &str) -> Result<bool> {
    let mut token: Option<String> = None;
    loop {
        let mut body = json!({ "logGroupNamePrefix": group });
        if let Some(t) = &token {
            body["nextToken"] = json!(t);
        }
        let answer = ecs.aws.json(Api::Logs, "DescribeLogGroups", &body).await?;
        if answer["logGroups"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|g| g["logGroupName"].as_str() == Some(group))
        {
            return Ok(true);
        }
        token = answer["nextToken"].as_str().map(str::to_string);
        if token.is_none() {
            return Ok(false);
        }
    }
}

async fn network(ecs: &Ecs, planned: &[Planned]) -> Vec<Check> {
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
    for (what, action, filter, id_tag, ids, setting) in [
        (
            "subnet",
            "DescribeSubnets",
            "subnet-id",
            "subnetId",
            &subnets,
            "CRUDDUR_SUBNETS",
        ),
        (
            "security group",
            "DescribeSecurityGroups",
            "group-id",
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
        let mut params = vec![("Filter.1.Name".to_string(), filter.to_string())];
        params.extend(
            list.iter()
                .enumerate()
                .map(|(i, id)| (format!("Filter.1.Value.{}", i + 1), id.clone())),
        );
        let answer = match ecs.aws.query(Api::Ec2, action, &params).await {
            Ok(a) => a,
            Err(e) => {
                checks.push(unknown(&format!("{what}s {}", list.join(", ")), &e));
                continue;
            }
        };
        let found: BTreeSet<String> = answer
            .descendants(id_tag)
            .iter()
            .map(|e| e.text.clone())
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
async fn target_groups(ecs: &Ecs, planned: &[Planned]) -> Vec<Check> {
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
        // The service definition's side: its own container, on its port.
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
        // The target group's side, as ELBv2 has it.
        ctx.announce(&format!("elbv2 DescribeTargetGroups Names=[{}]", tg.name));
        if ctx.dry_run {
            continue;
        }
        let params = [("Names.member.1".to_string(), tg.name.clone())];
        let found = match ecs
            .aws
            .query(Api::Elbv2, "DescribeTargetGroups", &params)
            .await
        {
            Ok(doc) => doc
                .members(&["DescribeTargetGroupsResult", "TargetGroups"])
                .first()
                .map(|e| (*e).clone()),
            Err(e) if api::code(&e) == Some("TargetGroupNotFound") => None,
            Err(e) => {
                checks.push(unknown(&format!("{name}: target group {}", tg.name), &e));
                continue;
            }
        };
        let Some(found) = found else {
            checks.push(fail(format!(
                "{name}: target group {} does not exist: run `cargo xtask lb create` (or `cargo xtask cluster create`)",
                tg.name
            )));
            continue;
        };
        let wanted = [
            ("HealthCheckPath", p.service.health_path.to_string()),
            ("Port", p.service.port.to_string()),
            ("Protocol", tg.protocol.clone()),
            ("TargetType", tg.target_type.clone()),
        ];
        let differs: Vec<String> = wanted
            .iter()
            .filter(|(key, want)| found.text_at(&[key]) != *want)
            .map(|(key, want)| format!("{key} {} (wanted {want})", found.text_at(&[key])))
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
    }
    checks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ssm_arns_become_parameter_names() {
        assert_eq!(
            parameter_name("arn:aws:ssm:us-east-1:123:parameter/cruddur/backend-flask/X")
                .as_deref(),
            Some("/cruddur/backend-flask/X")
        );
        assert_eq!(
            parameter_name("arn:aws:ssm:us-east-1:123:parameter/plain").as_deref(),
            Some("/plain")
        );
        assert_eq!(parameter_name("/cruddur/y").as_deref(), Some("/cruddur/y"));
        assert_eq!(
            parameter_name("arn:aws:secretsmanager:us-east-1:123:secret:db-AbCd"),
            None
        );
    }

    #[test]
    fn trust_policies_are_read_like_iam_reads_them() {
        let doc = percent_decode(
            "%7B%22Statement%22%3A%20%5B%7B%22Effect%22%3A%20%22Allow%22%2C%20%22Principal%22%3A%20%7B%22Service%22%3A%20%22ecs-tasks.amazonaws.com%22%7D%2C%20%22Action%22%3A%20%22sts%3AAssumeRole%22%7D%5D%7D",
        );
        assert!(trusts(&doc, TRUSTED), "{doc}");
        let other = doc.replace("ecs-tasks", "ec2");
        assert!(!trusts(&other, TRUSTED));
        let listed = r#"{"Statement": {"Effect": "Allow", "Principal": {"Service": ["ec2.amazonaws.com", "ecs-tasks.amazonaws.com"]}, "Action": ["sts:AssumeRole"]}}"#;
        assert!(trusts(listed, TRUSTED));
        let denied = listed.replace("Allow", "Deny");
        assert!(!trusts(&denied, TRUSTED));
        assert_eq!(percent_decode("100%"), "100%");
    }

    #[test]
    fn loopback_registries_are_plain_http() {
        assert_eq!(scheme("127.0.0.1:4701"), "http");
        assert_eq!(scheme("localhost:5000"), "http");
        assert_eq!(scheme("123.dkr.ecr.us-east-1.amazonaws.com"), "https");
    }
}
