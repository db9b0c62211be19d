//! A dry run is a plan: `--dry-run deploy all` against a sandbox with both
//! services deployed prints every docker command and AWS call it would make,
//! and changes nothing (no revision, service, deployment, repository, image,
//! tag or env file), checked independently with the aws CLI and docker.
//! The checkout's env files are written by other tests too: this one runs in
//! the `checkout` test group (`.config/nextest.toml`).

mod common;

use common::{docker, repo_root, require_prod_image, scratch, Sandbox};
use serde_json::Value;

/// Everything a deploy could change, as the aws CLI and docker see it.
fn world(sandbox: &Sandbox) -> Vec<Value> {
    let mut seen = vec![
        sandbox.aws(&["ecs", "list-task-definitions"]),
        sandbox.aws(&["ecs", "list-services", "--cluster", "cruddur"]),
        sandbox.aws(&["ecr", "describe-repositories"]),
    ];
    for repo in ["backend-flask", "frontend-react-js"] {
        seen.push(sandbox.aws(&["ecr", "list-images", "--repository-name", repo]));
    }
    let services = sandbox.aws(&[
        "ecs",
        "describe-services",
        "--cluster",
        "cruddur",
        "--services",
        "backend-flask",
        "frontend-react-js",
    ]);
    for service in services["services"].as_array().unwrap() {
        seen.push(service["taskDefinition"].clone());
        seen.push(service["deployments"].clone());
    }
    let images = docker(&["images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}"]);
    let registry = sandbox.registry();
    let mut ours: Vec<String> = String::from_utf8_lossy(&images.stdout)
        .lines()
        .filter(|l| l.starts_with(&registry))
        .map(str::to_string)
        .collect();
    ours.sort();
    seen.push(Value::from(ours));
    for file in ["backend-flask.env", "frontend-react-js.env"] {
        let meta = std::fs::metadata(repo_root().join(file));
        seen.push(Value::from(
            meta.and_then(|m| m.modified())
                .map_or_else(|_| "absent".into(), |t| format!("{t:?}")),
        ));
    }
    seen
}

#[test]
fn dry_run_deploy_all_prints_the_plan_and_changes_nothing() {
    require_prod_image("backend");
    require_prod_image("frontend");
    let sandbox = Sandbox::start(&[]);
    // Deployed from a scratch infra/ with 5 s health checks: the real files'
    // 30 s checks of the front end made this set-up a minute longer. The
    // dry run below plans from the checkout's files.
    let root = scratch::infra(|_| {});
    sandbox.run(&["ecr", "create"]).ok();
    scratch::tool(&sandbox, root.path(), &["cluster", "create"]).ok();
    // The scratch infra/ is no git checkout: `deploy --no-build` takes latest.
    sandbox.run(&["push", "all", "--tag", "latest"]).ok();
    scratch::tool(
        &sandbox,
        root.path(),
        &["deploy", "all", "--no-build", "--poll-interval", "1s"],
    )
    .ok();
    let before = world(&sandbox);

    let plan = sandbox.run(&["--dry-run", "deploy", "all"]).ok();
    let argvs = plan.dry_run_argvs();
    let has = |words: &[&str]| {
        argvs
            .iter()
            .filter(|a| words.iter().all(|w| a.iter().any(|x| x.contains(w))))
            .count()
    };
    assert_eq!(
        has(&["docker", "build", "Dockerfile.prod"]),
        2,
        "{}",
        plan.stdout
    );
    // The commit's tag of each image; `latest` moves only once a deploy succeeded.
    assert_eq!(
        has(&["docker", "push", &sandbox.registry()]),
        2,
        "{}",
        plan.stdout
    );
    assert_eq!(has(&["docker", "push", ":latest"]), 0, "{}", plan.stdout);
    for call in [
        "ecr DescribeRepositories repositoryNames=[backend-flask]",
        "ecs DescribeServices cluster=cruddur services=[frontend-react-js]",
        "ecs RegisterTaskDefinition family=backend-flask",
        "ecs UpdateService cluster=cruddur service=frontend-react-js taskDefinition=<new revision of frontend-react-js>",
    ] {
        assert!(
            plan.stdout.contains(&format!("[dry-run] {call}")),
            "{call} missing:\n{}",
            plan.stdout
        );
    }
    assert!(
        plan.stdout.contains("<digest docker push reports for"),
        "a value only a real push produces is shown as planned:\n{}",
        plan.stdout
    );
    assert!(!plan.stdout.contains("sha256:<"), "{}", plan.stdout);

    assert_eq!(world(&sandbox), before, "the dry run changed something");
}
