//! Environments (`--env`) and `--output json`, on sandboxes of their own: two
//! environments of one account never touch each other's things; an
//! environment of another account is refused before any call that writes; a
//! misspelt key names the file and the key; every JSON result validates
//! against the schema in the repo (Python's jsonschema, the one in the
//! sandbox's virtualenv). `promote.rs` has promotion.

mod common;

use std::path::Path;

use common::envs::{environment, free_port, shared, through, validate};
use common::proxy::Proxy;
use common::{pushed_digest, require_prod_image, run, scratch, xtask, Sandbox};
use serde_json::Value;

#[test]
fn a_misspelt_key_names_the_file_and_the_key_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("staging.toml");
    std::fs::write(
        &file,
        "account_id = \"111111111111\"\nregion = \"us-east-1\"\nclustr = \"cruddur\"\n",
    )
    .unwrap();
    let shown = file.display().to_string();
    for args in [
        vec!["--env", &shown, "status"],
        vec!["--env", &shown, "--dry-run", "deploy", "all"],
        vec!["--env", &shown, "build", "backend"],
    ] {
        let out = run(xtask(&args)).fails_with(2);
        assert!(
            out.stderr
                .contains(&format!("{shown}: unknown key `clustr` (unknown field")),
            "{}",
            out.stderr
        );
        assert!(out.stdout.is_empty(), "nothing done: {}", out.stdout);
    }
    let mut env = xtask(&["status", "--dry-run"]);
    env.env("CRUDDUR_ENV", "stagin");
    let out = run(env).fails_with(2);
    assert!(
        out.stderr
            .contains("--env stagin: no such environment; known: production, staging"),
        "{}",
        out.stderr
    );
}

#[test]
fn the_environment_is_named_first_and_decides_the_target() {
    // A shell that sourced the sandbox's env.sh: staging's file wins over it.
    let mut c = xtask(&[
        "--env",
        "staging",
        "--dry-run",
        "deploy",
        "backend",
        "--no-build",
    ]);
    c.env("CRUDDUR_ECR_REGISTRY", "127.0.0.1:4701")
        .env("CRUDDUR_CLUSTER", "cruddur")
        .env("AWS_REGION", "eu-west-1");
    let out = run(c).ok();
    let first = out.stdout.lines().next().unwrap_or_default();
    assert_eq!(
        first,
        "environment staging (infra/environments/staging.toml): account 111111111111, region us-east-1, \
         cluster cruddur-staging, names end in -stg"
    );
    let calls: Vec<&str> = out
        .stdout
        .lines()
        .filter(|l| l.starts_with("[dry-run] ") && !l.starts_with("[dry-run] ("))
        .collect();
    assert_eq!(
        calls[0], "[dry-run] sts GetCallerIdentity",
        "{}",
        out.stdout
    );
    for wanted in [
        "ecs RegisterTaskDefinition family=backend-flask-stg",
        "elbv2 DescribeTargetGroups names=[cruddur-backend-flask-tg-stg]",
        "/cruddur-stg/backend-flask/CONNECTION_URL",
        "111111111111.dkr.ecr.us-east-1.amazonaws.com/backend-flask",
        "ecs UpdateService cluster=cruddur-staging",
    ] {
        assert!(out.stdout.contains(wanted), "{wanted}:\n{}", out.stdout);
    }
    assert!(!out.stdout.contains("127.0.0.1:4701"), "{}", out.stdout);
    assert!(
        out.stderr.contains("CRUDDUR_ECR_REGISTRY, CRUDDUR_CLUSTER")
            || out.stderr.contains("CRUDDUR_CLUSTER, CRUDDUR_ECR_REGISTRY"),
        "the variables set aside are said: {}",
        out.stderr
    );
    // A flag on the command line wins over the file.
    let out = run(xtask(&[
        "--env",
        "production",
        "--cluster",
        "other",
        "--dry-run",
        "status",
    ]))
    .ok();
    assert!(
        out.stdout
            .lines()
            .next()
            .unwrap()
            .contains("cluster other,"),
        "{}",
        out.stdout
    );
    // Commands on this machine's sandbox take no environment.
    let out = run(xtask(&["--env", "staging", "sandbox", "status"])).fails_with(2);
    assert!(out.stderr.contains("drop --env staging"), "{}", out.stderr);
}

#[test]
fn credentials_of_another_account_are_refused_before_any_call_that_writes() {
    let sandbox = Sandbox::shared();
    let proxy = Proxy::start(&sandbox.export("AWS_ENDPOINT_URL"), None);
    let dir = tempfile::tempdir().unwrap();
    let other = environment(
        &sandbox,
        dir.path(),
        "elsewhere",
        &[
            (
                "account_id = \"123456789012\"".into(),
                "account_id = \"999999999999\"".into(),
            ),
            through(&sandbox, &proxy),
        ],
    );
    for args in [
        vec!["--env", &other, "deploy", "backend", "--no-build"],
        vec!["--env", &other, "ecr", "create"],
        vec!["--env", &other, "cluster", "create"],
        vec![
            "--env",
            &other,
            "--output",
            "json",
            "deploy",
            "all",
            "--no-build",
        ],
    ] {
        let out = sandbox.run(&args).fails_with(2);
        assert!(
            out.stderr.contains("environment elsewhere (")
                && out.stderr.contains(
                    "is account 999999999999, but the credentials are account 123456789012"
                ),
            "{}",
            out.stderr
        );
        if args.contains(&"json") {
            let doc = validate(&out.stdout);
            assert_eq!(doc["exit_code"], 2);
            assert_eq!(doc["environment"]["name"], "elsewhere");
            assert!(doc["error"].as_str().unwrap().contains("999999999999"));
        }
    }
    // STS, and nothing else, was asked: one GetCallerIdentity per command.
    let seen = proxy.seen();
    assert_eq!(seen.len(), 4, "{seen:?}");
    assert!(seen.iter().all(|t| t == "GetCallerIdentity"), "{seen:?}");
    // The environment's cluster was not made (the shared sandbox's other
    // tests name theirs after themselves).
    let clusters = sandbox.aws(&["ecs", "list-clusters"]);
    assert!(
        !clusters["clusterArns"]
            .as_array()
            .unwrap()
            .iter()
            .any(|arn| arn.as_str().unwrap().ends_with(":cluster/cruddur")),
        "{clusters}"
    );
    // A dry run of the sandbox's own environment plans the check first and validates.
    let own = sandbox
        .dir
        .path()
        .join("sandbox.toml")
        .display()
        .to_string();
    let out = sandbox
        .run(&["--env", &own, "--dry-run", "--output", "json", "verify"])
        .ok();
    let doc = validate(&out.stdout);
    assert_eq!(doc["dry_run"], true);
    assert!(
        out.stderr.contains("[dry-run] sts GetCallerIdentity"),
        "{}",
        out.stderr
    );
}

/// Environments `a` and `b` sharing the sandbox's account, each with its own
/// load balancer ports, log group and Service Connect namespace.
fn two_environments(sandbox: &Sandbox, dir: &Path) -> (String, String) {
    let (lb, https) = (
        sandbox.export("CRUDDUR_LB_PORT"),
        sandbox.export("CRUDDUR_LB_HTTPS_PORT"),
    );
    let (other_lb, other_https) = (free_port().to_string(), free_port().to_string());
    let a = environment(sandbox, dir, "a", &[shared()]);
    let b = environment(
        sandbox,
        dir,
        "b",
        &[
            shared(),
            (
                format!("127.0.0.1:{https}"),
                format!("127.0.0.1:{other_https}"),
            ),
            (format!("\nport = {lb}"), format!("\nport = {other_lb}")),
            (
                format!("https_port = {https}"),
                format!("https_port = {other_https}"),
            ),
        ],
    );
    // What an account holds for each environment: its log group and namespace.
    for env in ["a", "b"] {
        let name = format!("cruddur-{env}");
        sandbox.aws(&["logs", "create-log-group", "--log-group-name", &name]);
        sandbox.aws(&["servicediscovery", "create-http-namespace", "--name", &name]);
    }
    (a, b)
}

/// What `b` has: its service and revisions are as they were.
fn assert_untouched(sandbox: &Sandbox, before: &Value) {
    let after = sandbox.service_in("cruddur-b", "frontend-react-js");
    for key in [
        "taskDefinition",
        "deployments",
        "desiredCount",
        "loadBalancers",
    ] {
        assert_eq!(before[key], after[key], "{key}");
    }
    let revisions = sandbox.aws(&[
        "ecs",
        "list-task-definitions",
        "--family-prefix",
        "frontend-react-js-b",
    ]);
    assert_eq!(revisions["taskDefinitionArns"].as_array().unwrap().len(), 1);
}

#[test]
fn deploy_with_one_environment_never_touches_another_of_the_same_account() {
    require_prod_image("frontend-react-js");
    let sandbox = Sandbox::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = two_environments(&sandbox, dir.path());
    // A scratch checkout whose infra/ checks every 5 s: with the real files'
    // 30 s checks each of this test's three rollouts took a minute longer.
    let root = scratch::checkout(|_| {});
    let root = root.path();
    scratch::tool(&sandbox, root, &["ecr", "create"]).ok();
    let digest = pushed_digest(
        &scratch::tool(&sandbox, root, &["push", "frontend"])
            .ok()
            .stdout,
    );
    for env in [&a, &b] {
        scratch::tool(&sandbox, root, &["--env", env, "cluster", "create"]).ok();
    }
    let deployed_b = scratch::tool(
        &sandbox,
        root,
        &["--env", &b, "deploy", "frontend", "--no-build"],
    )
    .ok();
    assert!(
        deployed_b.stdout.starts_with("environment b ("),
        "{}",
        deployed_b.stdout
    );
    let b_before = sandbox.service_in("cruddur-b", "frontend-react-js");
    assert!(b_before["taskDefinition"]
        .as_str()
        .unwrap()
        .ends_with("task-definition/frontend-react-js-b:1"));

    // Environment a, every call it makes recorded on the way.
    let proxy = Proxy::start(&sandbox.export("AWS_ENDPOINT_URL"), None);
    let proxied_dir = tempfile::tempdir().unwrap();
    let a_proxied = environment(
        &sandbox,
        proxied_dir.path(),
        "a",
        &[shared(), through(&sandbox, &proxy)],
    );
    let deployed = scratch::tool(
        &sandbox,
        root,
        &[
            "--env",
            &a_proxied,
            "--output",
            "json",
            "deploy",
            "frontend",
            "--no-build",
        ],
    );
    let doc = validate(&deployed.ok().stdout);
    let s = &doc["services"][0];
    assert_eq!(doc["environment"]["name"], "a");
    assert_eq!(doc["environment"]["cluster"], "cruddur-a");
    assert_eq!(s["outcome"], "succeeded", "{doc}");
    assert_eq!(s["revision"], "frontend-react-js-a:1");
    assert_eq!(s["image_digest"], digest.as_str());
    assert_eq!(s["running_count"], 1);
    assert!(s["deployment_id"].as_str().unwrap().starts_with("ecs-svc/"));
    let sent = proxy.sent();
    assert!(sent.iter().any(|r| r.contains("cruddur-a")), "{sent:?}");
    for name in ["cruddur-b", "react-js-b", "tg-b", "latest-b", "alb-b"] {
        let touched: Vec<&String> = sent.iter().filter(|r| names(r, name)).collect();
        assert!(touched.is_empty(), "a's deploy sent {name}: {touched:?}");
    }
    assert_untouched(&sandbox, &b_before);

    json_of_each_command(&sandbox, root, &a, &digest);
    assert_untouched(&sandbox, &b_before);
    // Each environment's `latest` names what it runs.
    for tag in ["latest-a", "latest-b"] {
        let found = sandbox.aws(&[
            "ecr",
            "describe-images",
            "--repository-name",
            "frontend-react-js",
            "--image-ids",
            &format!("imageTag={tag}"),
        ]);
        assert_eq!(
            found["imageDetails"][0]["imageDigest"],
            digest.as_str(),
            "{tag}"
        );
    }
}

/// status, diff and verify of a deployed environment, a failed deploy and a
/// rollback, each as JSON that validates.
fn json_of_each_command(sandbox: &Sandbox, root: &Path, a: &str, digest: &str) {
    let json = |args: &[&str]| {
        let mut all = vec!["--env", a, "--output", "json"];
        all.extend_from_slice(args);
        scratch::tool(sandbox, root, &all)
    };
    let status = validate(&json(&["status", "frontend"]).ok().stdout);
    let s = &status["services"][0];
    assert_eq!(s["outcome"], "active");
    assert_eq!(s["image_digest"], digest);
    assert_eq!(s["deployments"].as_array().unwrap().len(), 1);
    assert_eq!(s["tasks"][0]["target_health"], "healthy", "{status}");
    assert_eq!(status["load_balancer"]["name"], "cruddur-alb-a");
    let diff = validate(&json(&["diff", "frontend"]).ok().stdout);
    assert_eq!(diff["services"][0]["outcome"], "same", "{diff}");
    let verify = validate(&json(&["verify", "frontend"]).ok().stdout);
    assert_eq!(verify["services"][0]["outcome"], "ok", "{verify}");
    assert!(verify["checks"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["message"]
            .as_str()
            .unwrap()
            .contains("cruddur-frontend-react-js-tg-a")));

    // A new revision (another API address) whose --pre fails: the deploy fails,
    // exit 1 (past verify, whose certificate check the made-up host would fail).
    let failed = json(&[
        "--backend-url",
        "https://api.example.test",
        "deploy",
        "frontend",
        "--no-build",
        "--no-verify",
        "--pre",
        "sh -c 'exit 3'",
    ])
    .fails_with(1);
    let doc = validate(&failed.stdout);
    let s = &doc["services"][0];
    assert_eq!(
        (doc["ok"].clone(), s["outcome"].clone()),
        (false.into(), "failed".into())
    );
    assert_eq!(s["revision"], "frontend-react-js-a:2");
    assert!(
        s["reasons"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r.as_str().unwrap().contains("exited 3")),
        "{doc}"
    );
    assert!(doc["error"]
        .as_str()
        .unwrap()
        .contains("deploy failed for frontend-react-js"));

    // To the revision --pre left registered, and back.
    let rolled = validate(&json(&["rollback", "frontend", "--to", "2"]).ok().stdout);
    let s = &rolled["services"][0];
    assert_eq!(s["outcome"], "succeeded", "{rolled}");
    assert_eq!(s["previous_revision"], "frontend-react-js-a:1");
    assert_eq!(s["revision"], "frontend-react-js-a:2");
    assert_eq!(s["rollout_state"], "COMPLETED");
}

/// Whether `request` names `name`: not as the start of a longer word, such
/// as a client token `cruddur-b2d6…` that only begins like environment b's
/// cluster (a run failed on one).
fn names(request: &str, name: &str) -> bool {
    request.match_indices(name).any(|(at, _)| {
        !request[at + name.len()..]
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric())
    })
}
