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
        .set("TARGET_GROUP_ARN", "arn:tg")
        .set("ENV_SUFFIX", "");
    p
}

#[test]
fn an_environment_suffix_names_everything_an_account_would_share() {
    let mut p = sandbox_placeholders();
    p.set("ENV_SUFFIX", "-stg");
    let path = "infra/task-definitions/backend-flask.json";
    let td: TaskDefinition = parse(&repo_file(path), path, &p).unwrap();
    assert_eq!(td.family, "backend-flask-stg");
    for c in &td.container_definitions {
        let group = &c.log_configuration.as_ref().unwrap().options["awslogs-group"];
        assert_eq!(group, "cruddur-stg");
    }
    assert!(td.container_definitions[1].secrets.iter().all(|s| s
        .value_from
        .contains(":parameter/cruddur-stg/backend-flask/")));
    let path = "infra/services/frontend-react-js.json";
    let s: ServiceDefinition = parse(&repo_file(path), path, &p).unwrap();
    assert_eq!(s.task_definition, "frontend-react-js-stg");
    let namespace = s.service_connect_configuration.unwrap().namespace;
    assert_eq!(namespace.as_deref(), Some("cruddur-stg"));
    let path = "infra/load-balancer.json";
    let lb: LoadBalancerFile = parse(&repo_file(path), path, &p).unwrap();
    assert_eq!(lb.load_balancer.name, "cruddur-alb-stg");
    assert!(lb.problems().is_empty(), "{:?}", lb.problems());
    assert_eq!(
        lb.listeners[0].default_target_group.as_deref(),
        Some("cruddur-frontend-react-js-tg-stg")
    );
    p.set("ENV_SUFFIX", "-staging");
    let lb: LoadBalancerFile = parse(&repo_file(path), path, &p).unwrap();
    let problems = lb.problems().join("; ");
    assert!(
        problems.contains("TargetGroups[1].Name: `cruddur-frontend-react-js-tg-staging` is 36 characters, AWS allows 32"),
        "{problems}"
    );
    assert!(problems.contains("name_suffix"), "{problems}");
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
    let text =
        r#"{"family": "${FAM_X1}", "containerDefinitions": [{"name": "a", "image": "${IMG_X2}"}]}"#;
    let mut p = Placeholders::default();
    p.hint("IMG_X2", "deploy sets it");
    let msg = parse::<TaskDefinition>(text, "f.json", &p)
        .unwrap_err()
        .to_string();
    assert!(msg.contains("family: no value for ${FAM_X1}"), "{msg}");
    assert!(
        msg.contains(
            "containerDefinitions[0].image: no value for ${IMG_X2}: set IMG_X2 (deploy sets it)"
        ),
        "{msg}"
    );
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
