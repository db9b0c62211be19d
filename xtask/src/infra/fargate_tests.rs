//! One test per rule: the repository's backend definition passes; each
//! change ECS would refuse is named by its field, with ECS's words.

use std::collections::BTreeMap;

use super::*;
use crate::infra::{parse, HealthCheck, LogConfiguration, Placeholders, SecretRef};

const ECR: &str = "123456789012.dkr.ecr.us-east-1.amazonaws.com";

fn is_ecr(image: &str) -> bool {
    image.starts_with(ECR)
}

fn backend() -> TaskDefinition {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap();
    let path = "infra/task-definitions/backend-flask.json";
    let text = std::fs::read_to_string(root.join(path)).unwrap();
    let mut p = Placeholders::default();
    p.set("AWS_ACCOUNT_ID", "123456789012")
        .set("AWS_REGION", "us-east-1")
        .set("IMAGE", format!("{ECR}/backend-flask@sha256:0"));
    parse(&text, path, &p).unwrap()
}

fn app(td: &mut TaskDefinition) -> &mut crate::infra::ContainerDefinition {
    td.container_definitions
        .iter_mut()
        .find(|c| c.name == "backend-flask")
        .unwrap()
}

/// The one problem `td` has, which must name `field` and say `words`.
#[track_caller]
fn refused(td: &TaskDefinition, field: &str, words: &str) {
    let found = problems(td, None, &is_ecr);
    assert_eq!(found.len(), 1, "{found:#?}");
    assert!(found[0].starts_with(field), "{found:?} names {field}");
    assert!(found[0].contains(words), "{found:?} says {words}");
}

#[test]
fn the_repositorys_definitions_pass() {
    assert_eq!(problems(&backend(), None, &is_ecr), Vec::<String>::new());
}

#[test]
fn a_cpu_memory_pair_outside_fargates_table_is_refused() {
    let mut td = backend();
    td.memory = Some("4096".into());
    refused(
        &td,
        "cpu/memory",
        "No Fargate configuration exists for given values: 256 CPU, 4096 memory.",
    );
    for (cpu, memory) in [
        ("256", "512"),
        ("512", "3072"),
        ("1 vCPU", "2 GB"),
        ("8192", "20480"),
    ] {
        td.cpu = Some(cpu.into());
        td.memory = Some(memory.into());
        assert!(
            problems(&td, None, &is_ecr).is_empty(),
            "{cpu}/{memory} is a Fargate size"
        );
    }
    td.cpu = Some("300".into());
    assert!(problems(&td, None, &is_ecr)[0].starts_with("cpu/memory"));
    td.cpu = None;
    refused(
        &td,
        "cpu",
        "Fargate requires that 'cpu' be defined at the task level.",
    );
}

#[test]
fn a_container_with_more_memory_than_the_task_is_refused() {
    let mut td = backend();
    app(&mut td).memory = Some(1024);
    refused(
        &td,
        "containerDefinitions[1].memory",
        "The 'memory' setting for container 'backend-flask' is greater than for the task.",
    );
    app(&mut td).memory = Some(64);
    assert!(
        problems(&td, None, &is_ecr).is_empty(),
        "64 MiB of 512 is fine"
    );
}

#[test]
fn a_network_mode_other_than_awsvpc_is_refused() {
    let mut td = backend();
    td.network_mode = Some("bridge".into());
    refused(
        &td,
        "networkMode",
        "Fargate only supports network mode ‘awsvpc’.",
    );
}

#[test]
fn an_ecr_image_awslogs_or_secrets_without_an_execution_role_are_refused() {
    let mut td = backend();
    td.execution_role_arn = None;
    let found = problems(&td, None, &is_ecr).join("\n");
    assert!(
        found.contains("containerDefinitions[1].image: an ECR image needs executionRoleArn"),
        "{found}"
    );
    assert!(found.contains("to support ECR images."), "{found}");
    assert!(
        found.contains("containerDefinitions[0].logConfiguration: awslogs needs executionRoleArn"),
        "{found}"
    );
    assert!(found.contains("to support log driver awslogs."), "{found}");
    assert!(
        found.contains("containerDefinitions[1].secrets: secrets need executionRoleArn"),
        "{found}"
    );
    assert!(
        found.contains("you must also specify a value for 'executionRoleArn'."),
        "{found}"
    );

    // Only what needs the role asks for it: a public image, no logs, no secrets.
    let mut plain = backend();
    plain.execution_role_arn = None;
    plain.container_definitions.retain(|c| c.name == "xray");
    plain.container_definitions[0].log_configuration = None;
    assert!(problems(&plain, None, &is_ecr).is_empty());
    plain.container_definitions[0].secrets = vec![SecretRef {
        name: "X".into(),
        value_from: "/x".into(),
    }];
    refused(
        &plain,
        "containerDefinitions[0].secrets",
        "'executionRoleArn'",
    );
}

#[test]
fn health_check_values_out_of_range_are_refused_each_by_name() {
    type Edit = fn(&mut HealthCheck);
    let cases: [(&str, Edit); 8] = [
        ("interval", |h| h.interval = Some(4)),
        ("interval", |h| h.interval = Some(301)),
        ("timeout", |h| h.timeout = Some(1)),
        ("timeout", |h| h.timeout = Some(61)),
        ("retries", |h| h.retries = Some(0)),
        ("retries", |h| h.retries = Some(11)),
        ("startPeriod", |h| h.start_period = Some(-1)),
        ("startPeriod", |h| h.start_period = Some(301)),
    ];
    for (field, edit) in cases {
        let mut td = backend();
        edit(app(&mut td).health_check.as_mut().unwrap());
        refused(
            &td,
            &format!("containerDefinitions[1].healthCheck.{field}"),
            "is outside what ECS takes",
        );
    }
    let mut edge = backend();
    let hc = app(&mut edge).health_check.as_mut().unwrap();
    (hc.interval, hc.timeout, hc.retries, hc.start_period) = (Some(5), Some(60), Some(10), Some(0));
    assert!(
        problems(&edge, None, &is_ecr).is_empty(),
        "the ends of each range are fine"
    );
}

#[test]
fn awslogs_without_a_stream_prefix_is_refused() {
    let mut td = backend();
    app(&mut td).log_configuration = Some(LogConfiguration {
        log_driver: "awslogs".into(),
        options: BTreeMap::from([("awslogs-group".to_string(), "cruddur".to_string())]),
    });
    refused(
        &td,
        "containerDefinitions[1].logConfiguration.options",
        "Fargate requires log configuration options to include awslogs-stream-prefix",
    );
}

#[test]
fn a_service_on_fargate_needs_a_fargate_task_definition() {
    let mut td = backend();
    td.requires_compatibilities = vec!["EC2".into()];
    let service = ServiceDefinition {
        launch_type: Some("FARGATE".into()),
        ..Default::default()
    };
    let found = problems(&td, Some(&service), &is_ecr);
    assert!(found[0].starts_with("requiresCompatibilities"), "{found:?}");
    assert!(found[0].contains("Task definition does not support launch_type FARGATE."));
    // Without the service, an EC2-only definition is not held to Fargate's rules.
    td.network_mode = Some("bridge".into());
    assert!(problems(&td, None, &is_ecr).is_empty());
}

#[test]
fn private_ecr_images_are_the_accounts_and_the_registry_standing_in_for_it() {
    use crate::infra::is_private_ecr_image;
    let sandbox = "127.0.0.1:4701";
    assert!(is_private_ecr_image(
        &format!("{ECR}/backend-flask:latest"),
        sandbox
    ));
    assert!(is_private_ecr_image(
        "127.0.0.1:4701/backend-flask@sha256:0",
        sandbox
    ));
    assert!(!is_private_ecr_image(
        "public.ecr.aws/xray/aws-xray-daemon",
        sandbox
    ));
    assert!(!is_private_ecr_image("python:3.11", sandbox));
}
