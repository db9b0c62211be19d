//! `infra/` as data: task and service definitions in the AWS CLI's
//! `--cli-input-json` shape, placeholders filled from the settings, parsed
//! strictly (an unknown or misspelled field is an error naming the file and
//! the field), and normalised for comparison with what ECS has. The AWS build
//! converts them to and from the SDK's types.

mod addresses;
mod fargate;
mod load_balancer;
mod normalize;
mod service;
mod task_definition;

use std::collections::HashMap;
use std::path::Path;

use anyhow::{Context as _, Result};
use serde::Deserialize;
use serde_json::Value;

use crate::errors::BadInput;
use crate::flags::Settings;
use crate::services::Service;

pub use addresses::*;
pub use load_balancer::*;
pub use normalize::{normalize_service_pair, normalize_task_definition};
pub use service::*;
pub use task_definition::*;

/// Placeholder values: `${NAME}` or `${NAME:-default}` in any string, filled
/// from the settings only (never the process environment, so what a file
/// becomes is decided in one place). A list value standing alone as an array
/// element (`["${SUBNETS}"]`) becomes several elements.
#[derive(Debug, Default, Clone)]
pub struct Placeholders {
    pub values: HashMap<String, Vec<String>>,
    /// What to tell the user when a placeholder has no value.
    pub hints: HashMap<String, String>,
}

impl Placeholders {
    pub fn set(&mut self, name: &str, value: impl Into<String>) -> &mut Self {
        self.values.insert(name.to_string(), vec![value.into()]);
        self
    }
    pub fn set_list(&mut self, name: &str, values: Vec<String>) -> &mut Self {
        self.values.insert(name.to_string(), values);
        self
    }
    pub fn hint(&mut self, name: &str, hint: &str) -> &mut Self {
        self.hints.insert(name.to_string(), hint.to_string());
        self
    }
    fn lookup(&self, name: &str) -> Option<Vec<String>> {
        self.values.get(name).filter(|v| !v.is_empty()).cloned()
    }

    /// The values the settings give, with hints for the ones a user must set.
    /// The AWS build adds the account, region, registry and image.
    pub fn from_settings(settings: &Settings) -> Placeholders {
        let mut p = Placeholders::default();
        p.set("CLUSTER", settings.cluster.clone())
            .hint(
                "SUBNETS",
                "with CRUDDUR_SUBNETS: comma-separated subnet ids; `sandbox up` exports them",
            )
            .hint(
                "SECURITY_GROUP",
                "with CRUDDUR_SECURITY_GROUP: the services' security group id",
            )
            .hint("IMAGE", "deploy fills it with the pushed image");
        if !settings.subnets.is_empty() {
            p.set_list("SUBNETS", settings.subnets.clone());
        }
        let lb_port = settings.lb_port.map(|p| p.to_string());
        let optional = [
            ("SECURITY_GROUP", &settings.security_group),
            ("VPC_ID", &settings.vpc_id),
            ("LB_PORT", &lb_port),
            ("CRUDDUR_FRONTEND_URL", &settings.frontend_url),
            ("CRUDDUR_BACKEND_URL", &settings.backend_url),
            ("CRUDDUR_COGNITO_ENDPOINT", &settings.cognito_endpoint),
            ("AWS_COGNITO_USER_POOL_ID", &settings.cognito_user_pool_id),
            (
                "AWS_COGNITO_USER_POOL_CLIENT_ID",
                &settings.cognito_client_id,
            ),
            ("CRUDDUR_COGNITO_JWKS_URL", &settings.cognito_jwks_url),
            ("CRUDDUR_TASK_AWS_ENDPOINT", &settings.task_aws_endpoint),
            ("CRUDDUR_FORWARDED_ALLOW_IPS", &settings.forwarded_allow_ips),
            ("CRUDDUR_OTLP_ENDPOINT", &settings.otlp_endpoint),
        ];
        for (name, value) in optional {
            if let Some(value) = value.as_ref().filter(|v| !v.is_empty()) {
                p.set(name, value.clone());
            }
        }
        p
    }
}

/// The settings' placeholders, and stand-ins for what only AWS knows
/// (account, region, target group); the image is `service`'s in `registry`.
fn with_stand_ins(settings: &Settings, registry: &str, service: &Service) -> Placeholders {
    let mut p = Placeholders::from_settings(settings);
    p.set("AWS_ACCOUNT_ID", "000000000000")
        .set("AWS_REGION", "us-east-1")
        .set("REGISTRY", registry)
        .set("IMAGE", format!("{registry}/{}@sha256:0", service.name))
        .set(
            "TARGET_GROUP_ARN",
            "arn:aws:elasticloadbalancing:us-east-1:000000000000:targetgroup/tg/0",
        );
    p
}

/// The registry deploy pushes to: the settings', else (a stand-in for) the account's ECR.
fn stand_in_registry(settings: &Settings) -> String {
    settings
        .registry
        .clone()
        .unwrap_or_else(|| "000000000000.dkr.ecr.us-east-1.amazonaws.com".into())
}

/// Parses a service's task and service definitions with the settings, and
/// stand-ins for what only AWS knows (account, region, registry, image), then
/// holds the task definition to what ECS refuses of it on Fargate
/// (`fargate.rs`): bad input is reported before any credentials are needed and
/// before anything is built or pushed.
pub fn check_service_files(ctx: &crate::Ctx, service: &Service) -> Result<()> {
    let registry = stand_in_registry(&ctx.settings);
    let mut p = with_stand_ins(&ctx.settings, &registry, service);
    let td_file = service.task_definition_file(&ctx.root);
    let td = load_task_definition(&td_file, &p)?;
    let def = load_service(&service.service_definition_file(&ctx.root), &p)?;
    let is_ecr_image = |image: &str| is_private_ecr_image(image, &registry);
    let problems = fargate::problems(&td, Some(&def), &is_ecr_image);
    if !problems.is_empty() {
        return Err(BadInput(format!(
            "{}: {} (fix the file: ECS would refuse it)",
            td_file.display(),
            problems.join("; ")
        ))
        .into());
    }
    let lb_file = load_balancer_file(&ctx.root);
    if lb_file.exists() {
        // Deploy reads only the target groups' names; `cluster create` needs the rest.
        for name in ["VPC_ID", "SUBNETS", "SECURITY_GROUP"] {
            if !p.values.contains_key(name) {
                p.set(name, "checked-when-the-load-balancer-is-created");
            }
        }
        load_load_balancer(&lb_file, &p)?;
    }
    Ok(())
}

/// [`refuse_local_addresses_for_ecr`] on the service's task definition as the
/// settings fill it (the addresses a browser calls come from the settings
/// only): deploy's first check once it knows the registry, before it builds,
/// pushes or registers anything.
pub fn refuse_local_addresses_in_files(
    ctx: &crate::Ctx,
    service: &Service,
    registry: &str,
) -> Result<()> {
    let p = with_stand_ins(&ctx.settings, registry, service);
    let td = load_task_definition(&service.task_definition_file(&ctx.root), &p)?;
    refuse_local_addresses_for_ecr(registry, &td)
}

/// An image from a private ECR registry (the account's, or the registry the
/// settings name in its place): pulling it takes the task's execution role.
pub fn is_private_ecr_image(image: &str, registry: &str) -> bool {
    let host = image.split('/').next().unwrap_or_default();
    host == registry
        || (host.contains(".dkr.ecr.")
            && (host.ends_with(".amazonaws.com") || host.ends_with(".amazonaws.com.cn")))
}

/// A task definition file, filled and parsed. An environment entry whose
/// value is empty is left out: a setting an account does not use (a sandbox
/// endpoint, say) is not set at all, rather than set to "".
pub fn load_task_definition(path: &Path, placeholders: &Placeholders) -> Result<TaskDefinition> {
    let mut td: TaskDefinition = load(path, placeholders)?;
    for c in &mut td.container_definitions {
        c.environment.retain(|e| !e.value.is_empty());
    }
    Ok(td)
}

/// `infra/load-balancer.json`, filled and parsed; a target group naming no
/// known service, or a listener naming no target group of the file, is bad input.
pub fn load_load_balancer(path: &Path, placeholders: &Placeholders) -> Result<LoadBalancerFile> {
    let lb: LoadBalancerFile = load(path, placeholders)?;
    let problems = lb.problems();
    if !problems.is_empty() {
        return Err(BadInput(format!("{}: {}", path.display(), problems.join("; "))).into());
    }
    Ok(lb)
}

/// Where the load balancer's file is.
pub fn load_balancer_file(root: &Path) -> std::path::PathBuf {
    root.join("infra/load-balancer.json")
}

pub fn load_service(path: &Path, placeholders: &Placeholders) -> Result<ServiceDefinition> {
    load(path, placeholders)
}

fn load<T: for<'de> Deserialize<'de>>(path: &Path, placeholders: &Placeholders) -> Result<T> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    parse(&text, &path.display().to_string(), placeholders)
}

/// Fills the placeholders and parses strictly; every problem names `file` and the field.
pub fn parse<T: for<'de> Deserialize<'de>>(
    text: &str,
    file: &str,
    placeholders: &Placeholders,
) -> Result<T> {
    let raw: Value =
        serde_json::from_str(text).map_err(|e| BadInput(format!("{file}: not valid JSON: {e}")))?;
    let mut problems = Vec::new();
    let filled = fill(raw, "", placeholders, &mut problems);
    if !problems.is_empty() {
        return Err(BadInput(format!("{file}: {}", problems.join("; "))).into());
    }
    serde_path_to_error::deserialize(filled).map_err(|e| {
        let field = e.path().to_string();
        let at = if field == "." {
            String::new()
        } else {
            format!(" at {field}")
        };
        BadInput(format!("{file}{at}: {}", e.inner())).into()
    })
}

fn fill(value: Value, path: &str, vars: &Placeholders, problems: &mut Vec<String>) -> Value {
    match value {
        Value::String(s) => Value::String(fill_string(&s, path, vars, problems)),
        Value::Array(items) => {
            let mut out = Vec::new();
            for (i, item) in items.into_iter().enumerate() {
                let here = format!("{path}[{i}]");
                match item.as_str().and_then(whole_placeholder) {
                    Some(name) if vars.lookup(name).is_some_and(|v| v.len() > 1) => {
                        out.extend(
                            vars.lookup(name)
                                .unwrap_or_default()
                                .into_iter()
                                .map(Value::String),
                        );
                    }
                    _ => out.push(fill(item, &here, vars, problems)),
                }
            }
            Value::Array(out)
        }
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| {
                    let here = if path.is_empty() {
                        k.clone()
                    } else {
                        format!("{path}.{k}")
                    };
                    let v = fill(v, &here, vars, problems);
                    (k, v)
                })
                .collect(),
        ),
        other => other,
    }
}

fn whole_placeholder(s: &str) -> Option<&str> {
    s.strip_prefix("${")?
        .strip_suffix('}')
        .filter(|n| !n.contains([':', '$', '{']))
}

fn fill_string(s: &str, path: &str, vars: &Placeholders, problems: &mut Vec<String>) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let Some(len) = rest[start..].find('}') else {
            problems.push(format!("{path}: unclosed `${{` in {s:?}"));
            return s.to_string();
        };
        let inner = &rest[start + 2..start + len];
        let (name, default) = match inner.split_once(":-") {
            Some((n, d)) => (n, Some(d)),
            None => (inner, None),
        };
        match (vars.lookup(name), default) {
            (Some(v), _) => out.push_str(&v.join(",")),
            (None, Some(d)) => out.push_str(d),
            (None, None) => {
                let hint = vars
                    .hints
                    .get(name)
                    .map(|h| format!(" ({h})"))
                    .unwrap_or_default();
                problems.push(format!(
                    "{path}: no value for ${{{name}}}: set {name}{hint}"
                ));
            }
        }
        rest = &rest[start + len + 1..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sandbox_placeholders() -> Placeholders {
        let mut p = Placeholders::default();
        p.set("AWS_ACCOUNT_ID", "123456789012")
            .set("AWS_REGION", "us-east-1")
            .set("IMAGE", "127.0.0.1:4701/backend-flask@sha256:abc")
            .set("CLUSTER", "cruddur")
            .set("SECURITY_GROUP", "sg-1")
            .set_list("SUBNETS", vec!["subnet-a".into(), "subnet-b".into()])
            .set("VPC_ID", "vpc-1")
            .set("TARGET_GROUP_ARN", "arn:tg");
        p
    }

    #[test]
    fn the_load_balancer_file_parses_and_names_known_services() {
        let path = "infra/load-balancer.json";
        let lb: LoadBalancerFile = parse(&repo_file(path), path, &sandbox_placeholders()).unwrap();
        assert!(lb.problems().is_empty(), "{:?}", lb.problems());
        assert_eq!(lb.listener.port, 80, "default listener port");
        for svc in crate::services::ALL {
            let tg = lb
                .target_group_for(svc)
                .expect("a target group per service");
            assert_eq!(tg.vpc_id, "vpc-1");
        }
        let mut p = sandbox_placeholders();
        p.set("LB_PORT", "4703");
        let lb: LoadBalancerFile = parse(&repo_file(path), path, &p).unwrap();
        assert_eq!(lb.listener.port, 4703);
        let mut broken = lb.clone();
        broken.listener.rules[0].target_group = "nope".into();
        assert!(broken.problems()[0].contains("Listener.Rules[0].TargetGroup"));
    }

    fn repo_file(path: &str) -> String {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .unwrap();
        std::fs::read_to_string(root.join(path)).unwrap()
    }

    #[test]
    fn every_infra_file_parses_and_round_trips() {
        let p = sandbox_placeholders();
        for svc in crate::services::ALL {
            let path = format!("infra/task-definitions/{}.json", svc.name);
            let td: TaskDefinition = parse(&repo_file(&path), &path, &p).unwrap();
            assert_eq!(td.family, svc.name);
            let again: TaskDefinition =
                parse(&serde_json::to_string(&td).unwrap(), "again", &p).unwrap();
            assert_eq!(td, again);
            let raw: Value = serde_json::from_str(&repo_file(&path)).unwrap();
            assert_eq!(
                raw["containerDefinitions"].as_array().unwrap().len(),
                td.container_definitions.len()
            );

            let path = format!("infra/services/{}.json", svc.name);
            let s: ServiceDefinition = parse(&repo_file(&path), &path, &p).unwrap();
            assert_eq!(s.service_name, svc.name);
            let vpc = &s
                .network_configuration
                .as_ref()
                .unwrap()
                .awsvpc_configuration;
            assert_eq!(
                vpc.subnets,
                ["subnet-a", "subnet-b"],
                "list placeholder expands"
            );
            assert_eq!(s.cluster.as_deref(), Some("cruddur"));
        }
    }

    #[test]
    fn backend_task_definition_has_what_the_issue_asks() {
        let td: TaskDefinition = parse(
            &repo_file("infra/task-definitions/backend-flask.json"),
            "x",
            &sandbox_placeholders(),
        )
        .unwrap();
        assert_eq!(
            (td.cpu.as_deref(), td.memory.as_deref()),
            (Some("256"), Some("512"))
        );
        let app = td
            .container_definitions
            .iter()
            .find(|c| c.name == "backend-flask")
            .unwrap();
        assert_eq!(app.image, "127.0.0.1:4701/backend-flask@sha256:abc");
        assert_eq!(app.port_mappings[0].app_protocol.as_deref(), Some("http"));
        assert!(app
            .health_check
            .as_ref()
            .unwrap()
            .command
            .join(" ")
            .contains("health-check"));
        let secrets: Vec<&str> = app.secrets.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(
            secrets,
            [
                "CONNECTION_URL",
                "ROLLBAR_ACCESS_TOKEN",
                "OTEL_EXPORTER_OTLP_HEADERS"
            ],
            "no AWS keys: the backend runs on its task role (issue 31)"
        );
        assert!(td
            .task_role_arn
            .as_deref()
            .unwrap()
            .ends_with(":role/CruddurTaskRole"));
        assert!(app
            .secrets
            .iter()
            .all(|s| s.value_from.contains("parameter/cruddur/backend-flask/")));
        assert!(td.container_definitions.iter().any(|c| c.name == "xray"));
    }

    /// nginx serving files calls no AWS API: no task role, so no ECS Exec
    /// (which needs one); the execution role still pulls and logs (issue 31).
    #[test]
    fn the_front_end_has_no_task_role_and_no_ecs_exec() {
        let p = sandbox_placeholders();
        let path = "infra/task-definitions/frontend-react-js.json";
        let td: TaskDefinition = parse(&repo_file(path), path, &p).unwrap();
        assert_eq!(td.task_role_arn, None);
        assert!(td.execution_role_arn.is_some());
        let path = "infra/services/frontend-react-js.json";
        let s: ServiceDefinition = parse(&repo_file(path), path, &p).unwrap();
        assert_eq!(s.enable_execute_command, Some(false));
    }

    #[test]
    fn a_misspelled_field_is_reported_with_file_and_path() {
        let text = r#"{"family": "f", "containerDefinitions": [{"name": "a", "image": "i",
            "portMappings": [{"contianerPort": 80}]}]}"#;
        let err = parse::<TaskDefinition>(
            text,
            "infra/task-definitions/x.json",
            &Placeholders::default(),
        )
        .unwrap_err();
        let msg = err.to_string();
        assert!(err.downcast_ref::<BadInput>().is_some());
        assert!(msg.starts_with("infra/task-definitions/x.json"), "{msg}");
        assert!(
            msg.contains("containerDefinitions[0].portMappings[0]"),
            "{msg}"
        );
        assert!(msg.contains("contianerPort"), "{msg}");
    }

    #[test]
    fn missing_placeholders_are_all_named_with_their_field() {
        let text = r#"{"family": "${FAM_X1}", "containerDefinitions": [{"name": "a", "image": "${IMG_X2}"}]}"#;
        let mut p = Placeholders::default();
        p.hint("IMG_X2", "deploy sets it");
        let msg = parse::<TaskDefinition>(text, "f.json", &p)
            .unwrap_err()
            .to_string();
        assert!(msg.contains("family: no value for ${FAM_X1}"), "{msg}");
        assert!(msg.contains("containerDefinitions[0].image: no value for ${IMG_X2}: set IMG_X2 (deploy sets it)"), "{msg}");
    }

    #[test]
    fn defaults_apply_when_a_placeholder_is_unset() {
        let text = r#"{"family": "${NOT_SET_ANYWHERE_X:-fallback}", "containerDefinitions": []}"#;
        let td: TaskDefinition = parse(text, "f", &Placeholders::default()).unwrap();
        assert_eq!(td.family, "fallback");
    }

    #[test]
    fn normalising_ignores_order_and_ecs_defaults() {
        let p = sandbox_placeholders();
        let td: TaskDefinition = parse(
            &repo_file("infra/task-definitions/backend-flask.json"),
            "x",
            &p,
        )
        .unwrap();
        let mut shuffled = td.clone();
        shuffled.container_definitions.reverse();
        for c in &mut shuffled.container_definitions {
            c.environment.reverse();
            c.secrets.reverse();
            c.essential = Some(true);
            for port in &mut c.port_mappings {
                port.host_port = Some(port.container_port);
            }
        }
        assert_eq!(
            normalize_task_definition(&td),
            normalize_task_definition(&shuffled)
        );
        let mut changed = td.clone();
        changed.container_definitions[1].image = "other".into();
        assert_ne!(
            normalize_task_definition(&td),
            normalize_task_definition(&changed)
        );
    }
}
