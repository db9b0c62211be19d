//! `infra/` as data: task and service definitions in the AWS CLI's
//! `--cli-input-json` shape, placeholders filled, parsed strictly (an unknown
//! or misspelled field is an error naming the file and the field), converted
//! to the SDK's input types, and normalised for comparison with what ECS has.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use anyhow::{Context as _, Result};
use aws_sdk_ecs::types as ecs;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use crate::exec::BadInput;

// ---------------------------------------------------------------- task definition

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TaskDefinition {
    pub family: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution_role_arn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_role_arn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_mode: Option<String>,
    #[serde(
        default,
        deserialize_with = "string_or_number",
        skip_serializing_if = "Option::is_none"
    )]
    pub cpu: Option<String>,
    #[serde(
        default,
        deserialize_with = "string_or_number",
        skip_serializing_if = "Option::is_none"
    )]
    pub memory: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub requires_compatibilities: Vec<String>,
    pub container_definitions: Vec<ContainerDefinition>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ContainerDefinition {
    pub name: String,
    pub image: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub essential: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_reservation: Option<i32>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub command: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub entry_point: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_directory: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub readonly_root_filesystem: Option<bool>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub port_mappings: Vec<PortMapping>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_check: Option<HealthCheck>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_configuration: Option<LogConfiguration>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub environment: Vec<NameValue>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<SecretRef>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PortMapping {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub container_port: i32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_port: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_protocol: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HealthCheck {
    pub command: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retries: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_period: Option<i32>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LogConfiguration {
    pub log_driver: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub options: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NameValue {
    pub name: String,
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SecretRef {
    pub name: String,
    pub value_from: String,
}

/// The CLI accepts `"cpu": 256` and `"cpu": "256"`; ECS answers with strings.
fn string_or_number<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    match Option::<Value>::deserialize(d)? {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(other) => Err(serde::de::Error::custom(format!(
            "expected a string or a number, got {other}"
        ))),
    }
}

// ---------------------------------------------------------------- service

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ServiceDefinition {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<String>,
    pub service_name: String,
    pub task_definition: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub desired_count: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub launch_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform_version: Option<String>,
    #[serde(
        default,
        rename = "enableECSManagedTags",
        skip_serializing_if = "Option::is_none"
    )]
    pub enable_ecs_managed_tags: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_execute_command: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub propagate_tags: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_check_grace_period_seconds: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment_configuration: Option<DeploymentConfiguration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_configuration: Option<NetworkConfiguration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_connect_configuration: Option<ServiceConnect>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DeploymentConfiguration {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment_circuit_breaker: Option<CircuitBreaker>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maximum_percent: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minimum_healthy_percent: Option<i32>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CircuitBreaker {
    pub enable: bool,
    pub rollback: bool,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NetworkConfiguration {
    pub awsvpc_configuration: AwsVpc,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AwsVpc {
    pub subnets: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub security_groups: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assign_public_ip: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ServiceConnect {
    pub enabled: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub services: Vec<ServiceConnectService>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ServiceConnectService {
    pub port_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discovery_name: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub client_aliases: Vec<ClientAlias>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClientAlias {
    pub port: i32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns_name: Option<String>,
}

// ---------------------------------------------------------------- loading

/// Placeholder values: `${NAME}` or `${NAME:-default}` in any string. Names
/// not given here come from the process environment. A list value standing
/// alone as an array element (`["${SUBNETS}"]`) becomes several elements.
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
        if let Some(v) = self.values.get(name) {
            return Some(v.clone());
        }
        std::env::var(name)
            .ok()
            .filter(|v| !v.is_empty())
            .map(|v| vec![v])
    }
}

pub fn load_task_definition(path: &Path, placeholders: &Placeholders) -> Result<TaskDefinition> {
    load(path, placeholders)
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

// ---------------------------------------------------------------- to the SDK

impl TaskDefinition {
    pub fn register(
        &self,
        client: &aws_sdk_ecs::Client,
    ) -> Result<aws_sdk_ecs::operation::register_task_definition::builders::RegisterTaskDefinitionFluentBuilder>{
        let containers = self
            .container_definitions
            .iter()
            .map(ContainerDefinition::to_sdk)
            .collect::<Result<Vec<_>>>()?;
        Ok(client
            .register_task_definition()
            .family(&self.family)
            .set_execution_role_arn(self.execution_role_arn.clone())
            .set_task_role_arn(self.task_role_arn.clone())
            .set_network_mode(self.network_mode.as_deref().map(ecs::NetworkMode::from))
            .set_cpu(self.cpu.clone())
            .set_memory(self.memory.clone())
            .set_requires_compatibilities(non_empty(
                self.requires_compatibilities
                    .iter()
                    .map(|c| ecs::Compatibility::from(c.as_str()))
                    .collect(),
            ))
            .set_container_definitions(Some(containers)))
    }
}

fn non_empty<T>(v: Vec<T>) -> Option<Vec<T>> {
    (!v.is_empty()).then_some(v)
}

impl ContainerDefinition {
    fn to_sdk(&self) -> Result<ecs::ContainerDefinition> {
        let ports = self.port_mappings.iter().map(|p| {
            ecs::PortMapping::builder()
                .set_name(p.name.clone())
                .container_port(p.container_port)
                .set_host_port(p.host_port)
                .set_protocol(p.protocol.as_deref().map(ecs::TransportProtocol::from))
                .set_app_protocol(
                    p.app_protocol
                        .as_deref()
                        .map(ecs::ApplicationProtocol::from),
                )
                .build()
        });
        let health = match &self.health_check {
            Some(h) => Some(
                ecs::HealthCheck::builder()
                    .set_command(Some(h.command.clone()))
                    .set_interval(h.interval)
                    .set_timeout(h.timeout)
                    .set_retries(h.retries)
                    .set_start_period(h.start_period)
                    .build()?,
            ),
            None => None,
        };
        let logs = match &self.log_configuration {
            Some(l) => Some(
                ecs::LogConfiguration::builder()
                    .log_driver(ecs::LogDriver::from(l.log_driver.as_str()))
                    .set_options(Some(l.options.clone().into_iter().collect()))
                    .build()?,
            ),
            None => None,
        };
        let env = self.environment.iter().map(|e| {
            ecs::KeyValuePair::builder()
                .name(&e.name)
                .value(&e.value)
                .build()
        });
        let secrets = self
            .secrets
            .iter()
            .map(|s| {
                ecs::Secret::builder()
                    .name(&s.name)
                    .value_from(&s.value_from)
                    .build()
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(ecs::ContainerDefinition::builder()
            .name(&self.name)
            .image(&self.image)
            .set_essential(self.essential)
            .set_user(self.user.clone())
            .set_cpu(self.cpu)
            .set_memory(self.memory)
            .set_memory_reservation(self.memory_reservation)
            .set_command(non_empty(self.command.clone()))
            .set_entry_point(non_empty(self.entry_point.clone()))
            .set_working_directory(self.working_directory.clone())
            .set_readonly_root_filesystem(self.readonly_root_filesystem)
            .set_port_mappings(non_empty(ports.collect()))
            .set_health_check(health)
            .set_log_configuration(logs)
            .set_environment(non_empty(env.collect()))
            .set_secrets(non_empty(secrets))
            .build())
    }
}

impl ServiceDefinition {
    pub fn deployment_configuration_sdk(&self) -> Option<ecs::DeploymentConfiguration> {
        let d = self.deployment_configuration.as_ref()?;
        let breaker = d.deployment_circuit_breaker.as_ref().map(|b| {
            ecs::DeploymentCircuitBreaker::builder()
                .enable(b.enable)
                .rollback(b.rollback)
                .build()
        });
        Some(
            ecs::DeploymentConfiguration::builder()
                .set_deployment_circuit_breaker(breaker)
                .set_maximum_percent(d.maximum_percent)
                .set_minimum_healthy_percent(d.minimum_healthy_percent)
                .build(),
        )
    }

    pub fn network_configuration_sdk(&self) -> Result<Option<ecs::NetworkConfiguration>> {
        let Some(n) = &self.network_configuration else {
            return Ok(None);
        };
        let vpc = &n.awsvpc_configuration;
        let awsvpc = ecs::AwsVpcConfiguration::builder()
            .set_subnets(Some(vpc.subnets.clone()))
            .set_security_groups(non_empty(vpc.security_groups.clone()))
            .set_assign_public_ip(
                vpc.assign_public_ip
                    .as_deref()
                    .map(ecs::AssignPublicIp::from),
            )
            .build()?;
        Ok(Some(
            ecs::NetworkConfiguration::builder()
                .awsvpc_configuration(awsvpc)
                .build(),
        ))
    }

    pub fn service_connect_sdk(&self) -> Result<Option<ecs::ServiceConnectConfiguration>> {
        let Some(sc) = &self.service_connect_configuration else {
            return Ok(None);
        };
        let services = sc
            .services
            .iter()
            .map(|s| {
                let aliases = s
                    .client_aliases
                    .iter()
                    .map(|a| {
                        ecs::ServiceConnectClientAlias::builder()
                            .port(a.port)
                            .set_dns_name(a.dns_name.clone())
                            .build()
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(ecs::ServiceConnectService::builder()
                    .port_name(&s.port_name)
                    .set_discovery_name(s.discovery_name.clone())
                    .set_client_aliases(non_empty(aliases))
                    .build()?)
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Some(
            ecs::ServiceConnectConfiguration::builder()
                .enabled(sc.enabled)
                .set_namespace(sc.namespace.clone())
                .set_services(non_empty(services))
                .build(),
        ))
    }
}

// ---------------------------------------------------------------- from the SDK

impl From<&ecs::TaskDefinition> for TaskDefinition {
    fn from(td: &ecs::TaskDefinition) -> Self {
        TaskDefinition {
            family: td.family().unwrap_or_default().to_string(),
            execution_role_arn: td.execution_role_arn().map(str::to_string),
            task_role_arn: td.task_role_arn().map(str::to_string),
            network_mode: td.network_mode().map(|m| m.as_str().to_string()),
            cpu: td.cpu().map(str::to_string),
            memory: td.memory().map(str::to_string),
            requires_compatibilities: td
                .requires_compatibilities()
                .iter()
                .map(|c| c.as_str().to_string())
                .collect(),
            container_definitions: td
                .container_definitions()
                .iter()
                .map(ContainerDefinition::from)
                .collect(),
        }
    }
}

impl From<&ecs::ContainerDefinition> for ContainerDefinition {
    fn from(c: &ecs::ContainerDefinition) -> Self {
        ContainerDefinition {
            name: c.name().unwrap_or_default().to_string(),
            image: c.image().unwrap_or_default().to_string(),
            essential: c.essential(),
            user: c.user().map(str::to_string),
            cpu: Some(c.cpu()).filter(|&cpu| cpu != 0),
            memory: c.memory(),
            memory_reservation: c.memory_reservation(),
            command: c.command().to_vec(),
            entry_point: c.entry_point().to_vec(),
            working_directory: c.working_directory().map(str::to_string),
            readonly_root_filesystem: c.readonly_root_filesystem(),
            port_mappings: c
                .port_mappings()
                .iter()
                .map(|p| PortMapping {
                    name: p.name().map(str::to_string),
                    container_port: p.container_port().unwrap_or_default(),
                    host_port: p.host_port(),
                    protocol: p.protocol().map(|x| x.as_str().to_string()),
                    app_protocol: p.app_protocol().map(|x| x.as_str().to_string()),
                })
                .collect(),
            health_check: c.health_check().map(|h| HealthCheck {
                command: h.command().to_vec(),
                interval: h.interval(),
                timeout: h.timeout(),
                retries: h.retries(),
                start_period: h.start_period(),
            }),
            log_configuration: c.log_configuration().map(|l| LogConfiguration {
                log_driver: l.log_driver().as_str().to_string(),
                options: l
                    .options()
                    .map(|o| o.clone().into_iter().collect())
                    .unwrap_or_default(),
            }),
            environment: c
                .environment()
                .iter()
                .map(|e| NameValue {
                    name: e.name().unwrap_or_default().to_string(),
                    value: e.value().unwrap_or_default().to_string(),
                })
                .collect(),
            secrets: c
                .secrets()
                .iter()
                .map(|s| SecretRef {
                    name: s.name().to_string(),
                    value_from: s.value_from().to_string(),
                })
                .collect(),
        }
    }
}

/// The service settings ECS reports back, in the file's shape. Fields ECS
/// does not report (moto reports fewer) stay `None` and are not compared.
pub fn service_from_sdk(s: &ecs::Service) -> ServiceDefinition {
    let vpc = s
        .network_configuration()
        .and_then(|n| n.awsvpc_configuration());
    ServiceDefinition {
        cluster: None,
        service_name: s.service_name().unwrap_or_default().to_string(),
        task_definition: s.task_definition().unwrap_or_default().to_string(),
        desired_count: Some(s.desired_count()),
        launch_type: s.launch_type().map(|l| l.as_str().to_string()),
        platform_version: s.platform_version().map(str::to_string),
        enable_ecs_managed_tags: Some(s.enable_ecs_managed_tags()),
        enable_execute_command: Some(s.enable_execute_command()),
        propagate_tags: s.propagate_tags().map(|p| p.as_str().to_string()),
        health_check_grace_period_seconds: s.health_check_grace_period_seconds(),
        deployment_configuration: s
            .deployment_configuration()
            .map(|d| DeploymentConfiguration {
                deployment_circuit_breaker: d.deployment_circuit_breaker().map(|b| {
                    CircuitBreaker {
                        enable: b.enable(),
                        rollback: b.rollback(),
                    }
                }),
                maximum_percent: d.maximum_percent(),
                minimum_healthy_percent: d.minimum_healthy_percent(),
            }),
        network_configuration: vpc.map(|v| NetworkConfiguration {
            awsvpc_configuration: AwsVpc {
                subnets: v.subnets().to_vec(),
                security_groups: v.security_groups().to_vec(),
                assign_public_ip: v.assign_public_ip().map(|a| a.as_str().to_string()),
            },
        }),
        service_connect_configuration: None,
    }
}

// ---------------------------------------------------------------- normalising

/// A task definition as comparable JSON: ECS's defaults made explicit, lists
/// whose order means nothing sorted, cpu/memory as strings.
pub fn normalize_task_definition(td: &TaskDefinition) -> Value {
    let mut td = td.clone();
    let awsvpc = td.network_mode.as_deref() == Some("awsvpc");
    td.container_definitions.sort_by(|a, b| a.name.cmp(&b.name));
    for c in &mut td.container_definitions {
        c.essential.get_or_insert(true);
        c.environment.sort_by(|a, b| a.name.cmp(&b.name));
        c.secrets.sort_by(|a, b| a.name.cmp(&b.name));
        c.port_mappings.sort_by_key(|p| p.container_port);
        for p in &mut c.port_mappings {
            p.protocol.get_or_insert_with(|| "tcp".into());
            if awsvpc {
                p.host_port.get_or_insert(p.container_port);
            }
        }
        if let Some(h) = &mut c.health_check {
            h.interval.get_or_insert(30);
            h.timeout.get_or_insert(5);
            h.retries.get_or_insert(3);
        }
    }
    serde_json::to_value(td).unwrap_or(Value::Null)
}

/// The service settings to compare: `wanted` as rendered, and `live` with
/// only the fields `wanted` sets and ECS reports.
pub fn normalize_service_pair(
    wanted: &ServiceDefinition,
    live: &ServiceDefinition,
) -> (Value, Value) {
    let mut wanted = wanted.clone();
    wanted.cluster = None;
    let mut live = live.clone();
    // Deploy does not change the desired count of a running service (autoscaling may own it).
    wanted.desired_count = None;
    live.desired_count = None;
    if let Some(n) = &mut wanted.network_configuration {
        n.awsvpc_configuration.subnets.sort();
        n.awsvpc_configuration.security_groups.sort();
    }
    if let Some(n) = &mut live.network_configuration {
        n.awsvpc_configuration.subnets.sort();
        n.awsvpc_configuration.security_groups.sort();
    }
    let (w, l) = (
        serde_json::to_value(&wanted).unwrap_or(Value::Null),
        serde_json::to_value(&live).unwrap_or(Value::Null),
    );
    let (Value::Object(mut w), Value::Object(l)) = (w, l) else {
        return (Value::Null, Value::Null);
    };
    // The task definition is compared on its own; fields ECS does not report cannot be compared.
    w.remove("taskDefinition");
    let l: serde_json::Map<String, Value> =
        l.into_iter().filter(|(k, _)| w.contains_key(k)).collect();
    w.retain(|k, _| l.contains_key(k));
    (Value::Object(w), Value::Object(l))
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
            .set_list("SUBNETS", vec!["subnet-a".into(), "subnet-b".into()]);
        p
    }

    fn repo_file(path: &str) -> String {
        std::fs::read_to_string(crate::exec::repo_root().join(path)).unwrap()
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
        for name in [
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "CONNECTION_URL",
            "ROLLBAR_ACCESS_TOKEN",
            "OTEL_EXPORTER_OTLP_HEADERS",
        ] {
            assert!(secrets.contains(&name), "{name}");
        }
        assert!(app
            .secrets
            .iter()
            .all(|s| s.value_from.contains("parameter/cruddur/backend-flask/")));
        assert!(td.container_definitions.iter().any(|c| c.name == "xray"));
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

    #[test]
    fn sdk_conversion_keeps_every_field() {
        let p = sandbox_placeholders();
        let td: TaskDefinition = parse(
            &repo_file("infra/task-definitions/backend-flask.json"),
            "x",
            &p,
        )
        .unwrap();
        let sdk_containers: Vec<ecs::ContainerDefinition> = td
            .container_definitions
            .iter()
            .map(|c| c.to_sdk().unwrap())
            .collect();
        let back: Vec<ContainerDefinition> = sdk_containers
            .iter()
            .map(ContainerDefinition::from)
            .collect();
        assert_eq!(back, td.container_definitions);
    }
}
