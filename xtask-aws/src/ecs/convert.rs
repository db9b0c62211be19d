//! `infra/`'s definitions to the SDK's types and back (the SDK's types have
//! no serde): everything the files can say reaches ECS, and what ECS answers
//! can be compared with them. A field added to `infra/` needs its line in
//! both directions here; `every_field_survives_the_round_trip` fails until it has.

use anyhow::Result;
use aws_sdk_ecs::operation::register_task_definition::builders::RegisterTaskDefinitionFluentBuilder;
use aws_sdk_ecs::types as ecs;
use xtask::infra::{
    AwsVpc, CircuitBreaker, ContainerDefinition, DeploymentConfiguration, HealthCheck,
    LogConfiguration, NameValue, NetworkConfiguration, PortMapping, SecretRef, ServiceDefinition,
    ServiceLoadBalancer, TaskDefinition,
};

/// RegisterTaskDefinition with every field of `td`.
pub fn register(
    td: &TaskDefinition,
    client: &aws_sdk_ecs::Client,
) -> Result<RegisterTaskDefinitionFluentBuilder> {
    let containers = td
        .container_definitions
        .iter()
        .map(container_to_sdk)
        .collect::<Result<Vec<_>>>()?;
    Ok(client
        .register_task_definition()
        .family(&td.family)
        .set_execution_role_arn(td.execution_role_arn.clone())
        .set_task_role_arn(td.task_role_arn.clone())
        .set_network_mode(td.network_mode.as_deref().map(ecs::NetworkMode::from))
        .set_cpu(td.cpu.clone())
        .set_memory(td.memory.clone())
        .set_requires_compatibilities(non_empty(
            td.requires_compatibilities
                .iter()
                .map(|c| ecs::Compatibility::from(c.as_str()))
                .collect(),
        ))
        .set_container_definitions(Some(containers)))
}

fn non_empty<T>(v: Vec<T>) -> Option<Vec<T>> {
    (!v.is_empty()).then_some(v)
}

fn container_to_sdk(c: &ContainerDefinition) -> Result<ecs::ContainerDefinition> {
    let ports = c.port_mappings.iter().map(|p| {
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
    let health = match &c.health_check {
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
    let logs = match &c.log_configuration {
        Some(l) => Some(
            ecs::LogConfiguration::builder()
                .log_driver(ecs::LogDriver::from(l.log_driver.as_str()))
                .set_options(Some(l.options.clone().into_iter().collect()))
                .build()?,
        ),
        None => None,
    };
    let env = c.environment.iter().map(|e| {
        ecs::KeyValuePair::builder()
            .name(&e.name)
            .value(&e.value)
            .build()
    });
    let secrets = c
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
        .name(&c.name)
        .image(&c.image)
        .set_essential(c.essential)
        .set_user(c.user.clone())
        .set_cpu(c.cpu)
        .set_memory(c.memory)
        .set_memory_reservation(c.memory_reservation)
        .set_command(non_empty(c.command.clone()))
        .set_entry_point(non_empty(c.entry_point.clone()))
        .set_working_directory(c.working_directory.clone())
        .set_readonly_root_filesystem(c.readonly_root_filesystem)
        .set_port_mappings(non_empty(ports.collect()))
        .set_health_check(health)
        .set_log_configuration(logs)
        .set_environment(non_empty(env.collect()))
        .set_secrets(non_empty(secrets))
        .build())
}

pub fn deployment_configuration(def: &ServiceDefinition) -> Option<ecs::DeploymentConfiguration> {
    let d = def.deployment_configuration.as_ref()?;
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

pub fn network_configuration(def: &ServiceDefinition) -> Result<Option<ecs::NetworkConfiguration>> {
    let Some(n) = &def.network_configuration else {
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

pub fn service_connect(
    def: &ServiceDefinition,
) -> Result<Option<ecs::ServiceConnectConfiguration>> {
    let Some(sc) = &def.service_connect_configuration else {
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

/// What ECS has, in the file's shape (for comparing and diffing).
pub fn task_definition_from(td: &ecs::TaskDefinition) -> TaskDefinition {
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
            .map(container_from)
            .collect(),
    }
}

fn container_from(c: &ecs::ContainerDefinition) -> ContainerDefinition {
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

/// The service settings ECS reports back, in the file's shape. Fields ECS
/// does not report (moto reports fewer) stay `None` and are not compared.
/// The target groups a service registers its tasks in.
pub fn load_balancers(def: &ServiceDefinition) -> Option<Vec<ecs::LoadBalancer>> {
    non_empty(
        def.load_balancers
            .iter()
            .map(|l| {
                ecs::LoadBalancer::builder()
                    .target_group_arn(&l.target_group_arn)
                    .container_name(&l.container_name)
                    .container_port(l.container_port)
                    .build()
            })
            .collect(),
    )
}

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
        load_balancers: s
            .load_balancers()
            .iter()
            .map(|l| ServiceLoadBalancer {
                target_group_arn: l.target_group_arn().unwrap_or_default().to_string(),
                container_name: l.container_name().unwrap_or_default().to_string(),
                container_port: l.container_port().unwrap_or_default(),
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use xtask::infra::{ClientAlias, ServiceConnect, ServiceConnectService};

    /// A container with every field set. A struct literal without
    /// `..Default::default()`: a field added to `infra/` does not compile
    /// here until the test sets it, and then fails until both directions carry it.
    fn every_container_field() -> ContainerDefinition {
        ContainerDefinition {
            name: "backend-flask".into(),
            image: "127.0.0.1:4701/backend-flask@sha256:abc".into(),
            essential: Some(true),
            user: Some("1000".into()),
            cpu: Some(128),
            memory: Some(512),
            memory_reservation: Some(256),
            command: vec!["python3".into(), "app.py".into()],
            entry_point: vec!["/bin/sh".into(), "-c".into()],
            working_directory: Some("/backend-flask".into()),
            readonly_root_filesystem: Some(false),
            port_mappings: vec![PortMapping {
                name: Some("backend-flask".into()),
                container_port: 4567,
                host_port: Some(4567),
                protocol: Some("tcp".into()),
                app_protocol: Some("http".into()),
            }],
            health_check: Some(HealthCheck {
                command: vec!["CMD-SHELL".into(), "true".into()],
                interval: Some(30),
                timeout: Some(5),
                retries: Some(3),
                start_period: Some(60),
            }),
            log_configuration: Some(LogConfiguration {
                log_driver: "awslogs".into(),
                options: [("awslogs-group".to_string(), "cruddur".to_string())].into(),
            }),
            environment: vec![NameValue {
                name: "OTEL_SERVICE_NAME".into(),
                value: "backend-flask".into(),
            }],
            secrets: vec![SecretRef {
                name: "CONNECTION_URL".into(),
                value_from: "arn:aws:ssm:us-east-1:1:parameter/cruddur/x".into(),
            }],
        }
    }

    #[test]
    fn every_container_field_survives_the_round_trip() {
        let c = every_container_field();
        assert_eq!(container_from(&container_to_sdk(&c).unwrap()), c);
    }

    #[test]
    fn the_repositorys_task_definitions_survive_the_round_trip() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .unwrap();
        let mut p = xtask::infra::Placeholders::default();
        p.set("AWS_ACCOUNT_ID", "123456789012")
            .set("AWS_REGION", "us-east-1")
            .set("IMAGE", "127.0.0.1:4701/backend-flask@sha256:abc");
        for service in xtask::services::ALL {
            let path = service.task_definition_file(root);
            let text = std::fs::read_to_string(&path).unwrap();
            let td: TaskDefinition = xtask::infra::parse(&text, "x", &p).unwrap();
            let sdk = ecs::TaskDefinition::builder()
                .family(&td.family)
                .set_execution_role_arn(td.execution_role_arn.clone())
                .set_task_role_arn(td.task_role_arn.clone())
                .set_network_mode(td.network_mode.as_deref().map(ecs::NetworkMode::from))
                .set_cpu(td.cpu.clone())
                .set_memory(td.memory.clone())
                .set_requires_compatibilities(non_empty(
                    td.requires_compatibilities
                        .iter()
                        .map(|c| ecs::Compatibility::from(c.as_str()))
                        .collect(),
                ))
                .set_container_definitions(Some(
                    td.container_definitions
                        .iter()
                        .map(|c| container_to_sdk(c).unwrap())
                        .collect(),
                ))
                .build();
            assert_eq!(task_definition_from(&sdk), td, "{}", path.display());
        }
    }

    #[test]
    fn every_service_field_survives_the_round_trip() {
        let def = ServiceDefinition {
            cluster: None,
            service_name: "backend-flask".into(),
            task_definition: "backend-flask".into(),
            desired_count: Some(1),
            launch_type: Some("FARGATE".into()),
            platform_version: Some("LATEST".into()),
            enable_ecs_managed_tags: Some(true),
            enable_execute_command: Some(true),
            propagate_tags: Some("SERVICE".into()),
            health_check_grace_period_seconds: Some(60),
            deployment_configuration: Some(DeploymentConfiguration {
                deployment_circuit_breaker: Some(CircuitBreaker {
                    enable: true,
                    rollback: true,
                }),
                maximum_percent: Some(200),
                minimum_healthy_percent: Some(100),
            }),
            network_configuration: Some(NetworkConfiguration {
                awsvpc_configuration: AwsVpc {
                    subnets: vec!["subnet-1".into()],
                    security_groups: vec!["sg-1".into()],
                    assign_public_ip: Some("ENABLED".into()),
                },
            }),
            // ECS reports Service Connect per deployment, not on the service:
            // sent (checked below), never compared.
            service_connect_configuration: None,
            load_balancers: vec![ServiceLoadBalancer {
                target_group_arn: "arn:tg".into(),
                container_name: "backend-flask".into(),
                container_port: 4567,
            }],
        };
        let sdk = ecs::Service::builder()
            .service_name(&def.service_name)
            .task_definition(&def.task_definition)
            .desired_count(1)
            .launch_type(ecs::LaunchType::Fargate)
            .platform_version("LATEST")
            .enable_ecs_managed_tags(true)
            .enable_execute_command(true)
            .propagate_tags(ecs::PropagateTags::Service)
            .health_check_grace_period_seconds(60)
            .set_deployment_configuration(deployment_configuration(&def))
            .set_network_configuration(network_configuration(&def).unwrap())
            .set_load_balancers(load_balancers(&def))
            .build();
        assert_eq!(service_from_sdk(&sdk), def);

        let sc = ServiceDefinition {
            service_connect_configuration: Some(ServiceConnect {
                enabled: true,
                namespace: Some("cruddur".into()),
                services: vec![ServiceConnectService {
                    port_name: "backend-flask".into(),
                    discovery_name: Some("backend-flask".into()),
                    client_aliases: vec![ClientAlias {
                        port: 4567,
                        dns_name: Some("backend-flask.cruddur".into()),
                    }],
                }],
            }),
            ..def
        };
        let sent = service_connect(&sc).unwrap().unwrap();
        let alias = &sent.services()[0].client_aliases()[0];
        assert_eq!(
            (alias.port(), alias.dns_name()),
            (4567, Some("backend-flask.cruddur"))
        );
    }
}
