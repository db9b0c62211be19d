//! ECS on the sandbox: deploy registers exactly the file's task definition
//! with the image pinned by digest, watches to success, registers nothing when
//! nothing changed, times out and rolls back when the deployment never
//! completes, diffs, rolls back on request, and deploys both services at once.
//! The five-rollout test deploys from a scratch copy of `infra/` with fast
//! health checks (`common::scratch`) and compares with that copy.

mod common;

use std::path::Path;

use common::proxy::Proxy;
use common::scratch::{self, tool};
use common::{repo_root, require_prod_image, run, Run, Sandbox};
use serde_json::Value;

const ACCOUNT: &str = "123456789012";
const REGION: &str = "us-east-1";

/// A sandbox with the repositories, the cluster and the services' images
/// pushed, by the tool run on the checkout `root`.
fn sandbox_with_image(root: &Path, extra: &[&str], services: &[&str]) -> (Sandbox, Vec<String>) {
    for s in services {
        require_prod_image(s);
    }
    let sandbox = Sandbox::start(extra);
    tool(&sandbox, root, &["ecr", "create"]).ok();
    tool(&sandbox, root, &["cluster", "create"]).ok();
    let again = tool(&sandbox, root, &["cluster", "create"]).ok();
    assert!(again.stdout.contains("already exists"), "{}", again.stdout);
    let mut digests = Vec::new();
    for s in services {
        let push = tool(&sandbox, root, &["push", s]).ok();
        digests.push(common::pushed_digest(&push.stdout));
    }
    (sandbox, digests)
}

/// The infra file with its placeholders filled the way deploy fills them.
fn rendered_file(sandbox: &Sandbox, path: &Path, image: &str, extra: &[(&str, &str)]) -> Value {
    let mut values: std::collections::HashMap<String, String> = [
        ("AWS_ACCOUNT_ID", ACCOUNT),
        ("AWS_REGION", REGION),
        ("IMAGE", image),
    ]
    .iter()
    .chain(extra)
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    // The settings the sandbox exports, as the tool fills them.
    values.extend(sandbox.exports.iter().cloned());
    let mut text = std::fs::read_to_string(path).unwrap();
    // `${NAME}` and `${NAME:-default}`.
    while let Some(start) = text.find("${") {
        let end = start + text[start..].find('}').unwrap();
        let inner = text[start + 2..end].to_string();
        let (name, default) = inner.split_once(":-").unwrap_or((&inner, ""));
        let value = values
            .get(name)
            .cloned()
            .unwrap_or_else(|| default.to_string());
        text.replace_range(start..=end, &value);
    }
    let mut file: Value = serde_json::from_str(&text).unwrap();
    // The tool leaves out environment entries whose value is empty.
    for c in file["containerDefinitions"]
        .as_array_mut()
        .into_iter()
        .flatten()
    {
        if let Some(env) = c["environment"].as_array_mut() {
            env.retain(|e| e["value"] != "");
        }
    }
    file
}

fn sorted_by_name(v: &Value) -> Vec<Value> {
    let mut items = v.as_array().cloned().unwrap_or_default();
    items.sort_by_key(|i| i["name"].as_str().unwrap_or_default().to_string());
    items
}

/// Every field the file sets is in the registered revision, with the file's value.
fn assert_registered_as_file(registered: &Value, file: &Value) {
    for key in [
        "family",
        "executionRoleArn",
        "taskRoleArn",
        "networkMode",
        "cpu",
        "memory",
        "requiresCompatibilities",
    ] {
        assert_eq!(registered[key], file[key], "{key}");
    }
    let live = sorted_by_name(&registered["containerDefinitions"]);
    let wanted = sorted_by_name(&file["containerDefinitions"]);
    assert_eq!(live.len(), wanted.len());
    for (l, w) in live.iter().zip(&wanted) {
        for (key, value) in w.as_object().unwrap() {
            match key.as_str() {
                "environment" | "secrets" => {
                    assert_eq!(sorted_by_name(&l[key]), sorted_by_name(value), "{key}");
                }
                "portMappings" => {
                    for (lp, wp) in l[key]
                        .as_array()
                        .unwrap()
                        .iter()
                        .zip(value.as_array().unwrap())
                    {
                        for (k, v) in wp.as_object().unwrap() {
                            assert_eq!(&lp[k], v, "portMappings.{k}");
                        }
                    }
                }
                _ => assert_eq!(&l[key], value, "container {} field {key}", w["name"]),
            }
        }
    }
}

fn task_definition(sandbox: &Sandbox, arn: &str) -> Value {
    sandbox.aws(&["ecs", "describe-task-definition", "--task-definition", arn])["taskDefinition"]
        .clone()
}

#[test]
fn deploy_registers_the_file_pins_the_digest_and_waits_for_success() {
    let (sandbox, digests) = sandbox_with_image(&repo_root(), &[], &["backend-flask"]);
    // The checks of a scratch copy of infra/ are fast: five rollouts, not five
    // minutes. It is no git checkout: `deploy --no-build` takes latest.
    sandbox.run(&["push", "backend", "--tag", "latest"]).ok();
    let root = scratch::infra(|_| {});
    let root = root.path();
    tool(&sandbox, root, &["lb", "create"]).ok();
    first_deploy_creates_the_service_pinned_by_digest(&sandbox, root, &digests[0]);
    deploys_of_the_same_file_register_nothing(&sandbox, root);
    a_changed_setting_is_diffed_deployed_and_rolled_back(&sandbox, root, &digests[0]);
}

fn first_deploy_creates_the_service_pinned_by_digest(sandbox: &Sandbox, root: &Path, digest: &str) {
    let image = format!("{}/backend-flask@{digest}", sandbox.registry());

    let create_first = tool(sandbox, root, &["service", "create", "backend"]);
    assert_ne!(
        create_first.code,
        0,
        "no task definition yet: {}",
        create_first.all()
    );
    assert!(
        create_first.stderr.contains("cargo xtask deploy backend"),
        "{}",
        create_first.stderr
    );

    // CreateService's first answer is lost on the way back: the SDK sends it
    // again with the same client token, and ECS (the sandbox) answers with the
    // service the first one made instead of making, or refusing, a second.
    let proxy = Proxy::start(&sandbox.export("AWS_ENDPOINT_URL"), Some("CreateService"));
    let mut deploy = scratch::command(sandbox, root, &["deploy", "backend", "--no-build"]);
    deploy.env("AWS_ENDPOINT_URL_ECS", &proxy.url);
    let deploy = run(deploy).ok();
    let creates = proxy
        .seen()
        .iter()
        .filter(|t| t.ends_with(".CreateService"))
        .count();
    assert_eq!(creates, 2, "{:?}", proxy.seen());
    assert!(
        deploy
            .stdout
            .contains("registered task definition backend-flask:1"),
        "{}",
        deploy.stdout
    );
    assert!(
        deploy.stdout.contains("created service backend-flask"),
        "{}",
        deploy.stdout
    );
    assert!(deploy.stdout.contains("succeeded"), "{}", deploy.stdout);

    let service = sandbox.service("backend-flask");
    assert_eq!(service["status"], "ACTIVE");
    let arn = service["taskDefinition"].as_str().unwrap().to_string();
    assert!(arn.ends_with("task-definition/backend-flask:1"), "{arn}");
    let registered = task_definition(sandbox, &arn);
    let app = registered["containerDefinitions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "backend-flask")
        .unwrap();
    assert_eq!(app["image"], image.as_str(), "pinned by digest");
    assert_registered_as_file(
        &registered,
        &rendered_file(
            sandbox,
            &root.join("infra/task-definitions/backend-flask.json"),
            &image,
            &[],
        ),
    );
    let subnets = service["networkConfiguration"]["awsvpcConfiguration"]["subnets"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(
        subnets,
        sandbox.export("CRUDDUR_SUBNETS").split(',').count()
    );
}

fn deploys_of_the_same_file_register_nothing(sandbox: &Sandbox, root: &Path) {
    let again = tool(sandbox, root, &["deploy", "backend", "--no-build"]).ok();
    assert!(
        again.stdout.contains("no new revision registered"),
        "{}",
        again.stdout
    );
    assert_eq!(sandbox.revisions("backend-flask"), 1);
    // moto's CreateService drops enableExecuteCommand and enableECSManagedTags, so the
    // first re-deploy applies them with UpdateService; from then on nothing differs.
    let third = tool(sandbox, root, &["deploy", "backend", "--no-build"]).ok();
    assert!(
        third.stdout.contains("nothing to deploy"),
        "{}",
        third.stdout
    );
    assert_eq!(sandbox.revisions("backend-flask"), 1);

    let exists = tool(sandbox, root, &["service", "create", "backend"]).ok();
    assert!(
        exists.stdout.contains("already exists"),
        "{}",
        exists.stdout
    );
    let same = tool(sandbox, root, &["diff", "backend"]).ok();
    assert!(same.stdout.contains("no differences"), "{}", same.stdout);
}

/// A changed setting: diff shows it, deploy registers revision 2, rollback returns to 1.
fn a_changed_setting_is_diffed_deployed_and_rolled_back(
    sandbox: &Sandbox,
    root: &Path,
    digest: &str,
) {
    let changed = |args: &[&str]| {
        let mut c = scratch::command(sandbox, root, args);
        c.env("CRUDDUR_FRONTEND_URL", "https://changed.example");
        common::run(c)
    };
    let diff = changed(&["diff", "backend"]).fails_with(1);
    // The sandbox's front end is its load balancer.
    let frontend = sandbox.export("CRUDDUR_FRONTEND_URL");
    assert!(
        diff.stdout
            .contains(&format!("-          \"value\": \"{frontend}\"")),
        "{}",
        diff.stdout
    );
    assert!(
        diff.stdout
            .contains("+          \"value\": \"https://changed.example\""),
        "{}",
        diff.stdout
    );
    let second = changed(&["deploy", "backend", "--no-build"]).ok();
    assert!(
        second
            .stdout
            .contains("registered task definition backend-flask:2"),
        "{}",
        second.stdout
    );
    assert!(sandbox.service("backend-flask")["taskDefinition"]
        .as_str()
        .unwrap()
        .ends_with(":2"));

    let status = tool(sandbox, root, &["status", "backend"]).ok();
    assert!(
        status.stdout.contains("backend-flask:2") && status.stdout.contains(digest),
        "{}",
        status.stdout
    );

    let rollback = tool(sandbox, root, &["rollback", "backend"]).ok();
    assert!(
        rollback.stdout.contains("rolled back to backend-flask:1"),
        "{}",
        rollback.stdout
    );
    assert!(sandbox.service("backend-flask")["taskDefinition"]
        .as_str()
        .unwrap()
        .ends_with(":1"));
    tool(sandbox, root, &["rollback", "backend", "--to", "2"]).ok();
    assert!(sandbox.service("backend-flask")["taskDefinition"]
        .as_str()
        .unwrap()
        .ends_with(":2"));
}

/// moto started with no running tasks: deployments stay IN_PROGRESS forever.
#[test]
fn a_deployment_that_never_completes_times_out_and_rolls_back() {
    let (sandbox, _) =
        sandbox_with_image(&repo_root(), &["--ecs-running", "0"], &["backend-flask"]);
    sandbox
        .run(&["deploy", "backend", "--no-build", "--no-wait"])
        .ok();

    let with_url = |url: &str, extra: &[&str]| -> Run {
        let mut args = vec![
            "deploy",
            "backend",
            "--no-build",
            "--timeout",
            "3s",
            "--poll-interval",
            "500ms",
        ];
        args.extend_from_slice(extra);
        let mut c = sandbox.xtask(&args);
        c.env("CRUDDUR_FRONTEND_URL", url);
        common::run(c)
    };
    let timed_out = with_url("https://second.example", &[]).fails_with(1);
    let all = timed_out.all();
    assert!(all.contains("timed out after 3.0s"), "{all}");
    assert!(all.contains("rolling back to backend-flask:1"), "{all}");
    assert!(
        all.contains("IN_PROGRESS"),
        "the report shows the rollout state: {all}"
    );
    let service = sandbox.service("backend-flask");
    assert!(
        service["taskDefinition"]
            .as_str()
            .unwrap()
            .ends_with("backend-flask:1"),
        "rolled back: {service}"
    );

    let left = with_url("https://third.example", &["--no-rollback"]).fails_with(1);
    assert!(
        left.all()
            .contains("left in progress in ECS (--no-rollback)"),
        "{}",
        left.all()
    );
    let service = sandbox.service("backend-flask");
    assert!(
        service["taskDefinition"]
            .as_str()
            .unwrap()
            .ends_with("backend-flask:3"),
        "not rolled back: {service}"
    );
}

#[test]
fn deploy_all_deploys_both_services_and_sums_up() {
    // A scratch checkout whose infra/ checks every 5 s: with the real files'
    // 30 s checks both services waited half a minute longer.
    let root = scratch::checkout(|_| {});
    let root = root.path();
    let services = ["backend-flask", "frontend-react-js"];
    let (sandbox, digests) = sandbox_with_image(root, &[], &services);
    let started = std::time::Instant::now();
    let out = tool(&sandbox, root, &["deploy", "all", "--no-build"]).ok();
    eprintln!("deploy all took {:.1}s", started.elapsed().as_secs_f64());
    let summary = out
        .stdout
        .split("deploy summary")
        .nth(1)
        .expect("a summary");
    assert!(
        summary.contains("backend-flask") && summary.contains("frontend-react-js"),
        "{summary}"
    );
    assert_eq!(summary.matches("succeeded").count(), 2, "{summary}");
    for (service, digest) in ["backend-flask", "frontend-react-js"].iter().zip(&digests) {
        let live = sandbox.service(service);
        assert_eq!(live["status"], "ACTIVE");
        let td = task_definition(&sandbox, live["taskDefinition"].as_str().unwrap());
        let image = td["containerDefinitions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == *service)
            .unwrap()["image"]
            .clone();
        assert!(
            image.as_str().unwrap().ends_with(&format!("@{digest}")),
            "{image}"
        );
    }
}

/// The front end's API address is read at run time from the task definition:
/// a developer's address bound for a real ECR is refused at deploy, before
/// anything is built, pushed or registered.
#[test]
fn deploy_refuses_a_local_api_address_for_a_real_ecr_before_building() {
    let sandbox = Sandbox::shared();
    let mut deploy = sandbox.xtask(&["deploy", "frontend"]);
    deploy
        .env(
            "CRUDDUR_ECR_REGISTRY",
            "123456789012.dkr.ecr.us-east-1.amazonaws.com",
        )
        .env("CRUDDUR_BACKEND_URL", "http://localhost:4567");
    let out = run(deploy).fails_with(2);
    assert!(
        out.stderr.contains("CRUDDUR_BACKEND_URL") && out.stderr.contains("localhost:4567"),
        "{}",
        out.stderr
    );
    assert!(!out.all().contains("docker build"), "{}", out.all());
    assert_eq!(sandbox.revisions("frontend-react-js"), 0);
    // Nothing pushed (the shared sandbox's other tests make the repository,
    // but push nothing to it).
    let repos = sandbox.aws(&["ecr", "describe-repositories"]);
    for repo in repos["repositories"].as_array().unwrap() {
        let name = repo["repositoryName"].as_str().unwrap();
        let images = sandbox.aws(&["ecr", "list-images", "--repository-name", name]);
        assert_eq!(images["imageIds"], serde_json::json!([]), "{name}");
    }
}
