//! Deployments that fail for real on the sandbox's local ECS (tasks are
//! containers): an image that exits at start, a health check that never
//! passes, a secret that does not resolve, a container over its memory. Each
//! fails from the circuit breaker's verdict (not a timeout), names the stopped
//! task and why, and leaves the service on the previous revision with its task
//! still serving. A file ECS would refuse never gets that far: deploy refuses
//! it first. The infra files are a scratch copy with fast health checks.

mod common;

use std::path::Path;

use common::scratch::{self, backend_container, deployed, quick_to_fail, tool};
use common::{docker, http_get, registry_get, require_prod_image, Run, Sandbox};
use serde_json::Value;

fn answers_health_check(address: &str) -> bool {
    http_get(&format!("http://{address}:4567/api/health-check")).0 == 200
}

/// A revision of `root`'s task definition for the next deploy, then the deploy.
fn deploy_expecting_failure(sandbox: &Sandbox, root: &Path) -> Run {
    deploy_expecting_failure_with(sandbox, root, &[])
}

fn deploy_expecting_failure_with(sandbox: &Sandbox, root: &Path, extra: &[&str]) -> Run {
    let mut args = vec![
        "deploy",
        "backend",
        "--no-build",
        "--poll-interval",
        "1s",
        "--timeout",
        "5m",
    ];
    args.extend_from_slice(extra);
    let out = tool(sandbox, root, &args);
    assert_eq!(out.code, 1, "{}", out.all());
    assert!(
        // The tool's own words: a load balancer's health check may have
        // timed out on the way ("reason Request timed out").
        !out.all().contains("timed out after"),
        "the breaker decides, not the timeout:\n{}",
        out.all()
    );
    assert!(
        out.all().contains("rolled back to backend-flask:1"),
        "the breaker's rollback is followed to its end:\n{}",
        out.all()
    );
    out
}

/// The service is back on revision 1, and its task (the same one) still serves.
fn assert_still_serving_the_first_revision(sandbox: &Sandbox, before: &[String]) {
    let svc = sandbox.service("backend-flask");
    assert!(
        svc["taskDefinition"]
            .as_str()
            .unwrap()
            .ends_with("backend-flask:1"),
        "{svc}"
    );
    // The breaker's rollback is a deployment of revision 1 (ECS starts its own
    // task, then stops the first one): deploy follows it to its end, so by now
    // a task of revision 1 serves, the first one or its replacement.
    let tasks = sandbox.tasks("backend-flask", "RUNNING");
    assert!(
        !tasks.is_empty()
            && tasks.iter().all(|t| t["taskDefinitionArn"]
                .as_str()
                .unwrap()
                .ends_with("backend-flask:1")),
        "{tasks:?}"
    );
    let now = sandbox.task_addresses("backend-flask");
    assert!(
        now.iter().any(|a| answers_health_check(a)),
        "a task of revision 1 serves: {before:?} -> {now:?}"
    );
}
#[test]
fn an_image_that_exits_at_start_fails_on_the_breaker_and_keeps_the_old_task_serving() {
    let root = quick_to_fail(|_| {});
    let sandbox = deployed(root.path());
    let before = sandbox.task_addresses("backend-flask");
    // The same image with a command that exits 3, pushed as `latest`.
    let tag = format!("{}/backend-flask:exits-3", sandbox.registry());
    let context = tempfile::tempdir().unwrap();
    std::fs::write(
        context.path().join("Dockerfile"),
        "FROM backend-flask-prod\nCMD [\"sh\", \"-c\", \"echo starting; exit 3\"]\n",
    )
    .unwrap();
    assert!(
        docker(&["build", "-t", &tag, &context.path().display().to_string()])
            .status
            .success()
    );
    let _cleanup = Image(tag.clone());
    let latest = format!("{}/backend-flask:latest", sandbox.registry());
    assert!(docker(&["tag", &tag, &latest]).status.success());
    let mut push = std::process::Command::new("docker");
    push.args(["push", &latest])
        .env("DOCKER_CONFIG", sandbox.docker_config());
    let pushed = push.output().unwrap();
    assert!(
        pushed.status.success(),
        "{}",
        String::from_utf8_lossy(&pushed.stderr)
    );
    let stdout = String::from_utf8_lossy(&pushed.stdout);
    let digest = stdout
        .split_whitespace()
        .find(|w| w.starts_with("sha256:"))
        .expect("docker push printed a digest");
    wait_until_ecr_lists(&sandbox, digest);

    let out = deploy_expecting_failure(&sandbox, root.path());
    let all = out.all();
    assert!(all.contains("FAILED"), "{all}");
    assert!(all.contains("stopped task"), "{all}");
    assert!(all.contains("exit 3"), "the container's exit code:\n{all}");
    assert!(all.contains("EssentialContainerExited"), "{all}");
    assert_still_serving_the_first_revision(&sandbox, &before);
}

#[test]
fn a_health_check_that_never_passes_fails_on_the_breaker_with_its_reason() {
    let good = quick_to_fail(|_| {});
    let sandbox = deployed(good.path());
    let before = sandbox.task_addresses("backend-flask");
    let never_healthy = quick_to_fail(|td| {
        let app = backend_container(td);
        app["healthCheck"]["command"] = serde_json::json!(["CMD-SHELL", "exit 1"]);
        app["healthCheck"]["startPeriod"] = 0.into();
    });
    let out = deploy_expecting_failure(&sandbox, never_healthy.path());
    let all = out.all();
    assert!(all.contains("FAILED"), "{all}");
    assert!(
        all.contains("health checks"),
        "the health check is named as the reason:\n{all}"
    );
    assert_still_serving_the_first_revision(&sandbox, &before);
}

#[test]
fn a_secret_that_does_not_resolve_fails_naming_the_parameter() {
    let good = quick_to_fail(|_| {});
    let sandbox = deployed(good.path());
    let before = sandbox.task_addresses("backend-flask");
    let missing = quick_to_fail(|td| {
        let app = backend_container(td);
        app["secrets"].as_array_mut().unwrap().push(serde_json::json!({
            "name": "NOT_THERE",
            "valueFrom": "arn:aws:ssm:${AWS_REGION}:${AWS_ACCOUNT_ID}:parameter/cruddur/backend-flask/NOT_THERE"
        }));
    });
    // The preflight names it before anything changes...
    let stopped = tool(
        &sandbox,
        missing.path(),
        &["deploy", "backend", "--no-build"],
    );
    assert_eq!(stopped.code, 1, "{}", stopped.all());
    let all = stopped.all();
    assert!(
        all.contains("FAIL  backend-flask: SSM parameter /cruddur/backend-flask/NOT_THERE")
            && all.contains("deploy stopped before changing anything"),
        "{all}"
    );
    let svc = sandbox.service("backend-flask");
    assert!(
        svc["taskDefinition"]
            .as_str()
            .unwrap()
            .ends_with("backend-flask:1")
            && svc["deployments"].as_array().unwrap().len() == 1,
        "the service is untouched: {svc}"
    );
    // ...and past it, the task that cannot start is explained the same way.
    let out = deploy_expecting_failure_with(&sandbox, missing.path(), &["--no-verify"]);
    let all = out.all();
    assert!(all.contains("FAILED"), "{all}");
    assert!(all.contains("ResourceInitializationError"), "{all}");
    assert!(
        all.contains("/cruddur/backend-flask/NOT_THERE"),
        "the parameter is named:\n{all}"
    );
    assert_still_serving_the_first_revision(&sandbox, &before);
}

#[test]
fn a_timeout_without_rollback_leaves_the_deployment_in_progress_and_says_so() {
    let good = quick_to_fail(|_| {});
    let sandbox = deployed(good.path());
    let slow = quick_to_fail(|td| {
        // Healthy only after a minute: still in progress when the wait ends.
        backend_container(td)["healthCheck"]["startPeriod"] = 120.into();
        backend_container(td)["healthCheck"]["command"] =
            serde_json::json!(["CMD-SHELL", "sleep 1; exit 1"]);
    });
    let out = tool(
        &sandbox,
        slow.path(),
        &[
            "deploy",
            "backend",
            "--no-build",
            "--poll-interval",
            "1s",
            "--timeout",
            "15s",
            "--no-rollback",
        ],
    );
    assert_eq!(out.code, 1, "{}", out.all());
    assert!(out.all().contains("timed out after 15.0s"), "{}", out.all());
    assert!(out.all().contains("left in progress"), "{}", out.all());
    let svc = sandbox.service("backend-flask");
    let primary = svc["deployments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["status"] == "PRIMARY")
        .unwrap();
    assert_eq!(primary["rolloutState"], "IN_PROGRESS", "{svc}");
    assert!(primary["taskDefinition"]
        .as_str()
        .unwrap()
        .ends_with("backend-flask:2"));

    // The same deploy again (a CI job re-run): nothing to register or update,
    // but the rollout is unfinished, so it is watched, never "up to date".
    let again = tool(
        &sandbox,
        slow.path(),
        &[
            "deploy",
            "backend",
            "--no-build",
            "--poll-interval",
            "1s",
            "--timeout",
            "10s",
        ],
    );
    assert_eq!(again.code, 1, "{}", again.all());
    let all = again.all();
    assert!(
        all.contains("has not finished (rollout IN_PROGRESS"),
        "{all}"
    );
    assert!(all.contains("still has not completed"), "{all}");
    assert!(!all.contains("up to date"), "{all}");
    let diff = tool(&sandbox, slow.path(), &["diff", "backend"]);
    assert_eq!(diff.code, 1, "{}", diff.all());
    assert!(diff.all().contains("has not finished"), "{}", diff.all());
}

/// A scratch git repository with the backend's sources and infra/: deploys
/// that build, each from a commit of its own.
fn scratch_repo() -> tempfile::TempDir {
    let root = quick_to_fail(|_| {});
    let status = std::process::Command::new("cp")
        .args(["-r", "backend-flask"])
        .arg(root.path())
        .current_dir(common::repo_root())
        .status()
        .unwrap();
    assert!(status.success());
    git(root.path(), &["init", "--quiet"]);
    commit(root.path(), "good");
    root
}

fn git(dir: &Path, args: &[&str]) -> String {
    let out = std::process::Command::new("git")
        .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn commit(dir: &Path, message: &str) {
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "--quiet", "-m", message]);
}

/// What ECR lists as `repo:latest`, and the registry's own `latest`.
fn latest(sandbox: &Sandbox) -> (Value, Option<String>) {
    let ecr = sandbox.aws(&[
        "ecr",
        "describe-images",
        "--repository-name",
        "backend-flask",
        "--image-ids",
        "imageTag=latest",
    ])["imageDetails"][0]["imageDigest"]
        .clone();
    let (user, password) = sandbox.registry_login();
    let head = common::registry_head(
        &sandbox.registry(),
        "/v2/backend-flask/manifests/latest",
        &user,
        &password,
    );
    (ecr, head)
}

fn image_id(image: &str) -> String {
    let out = docker(&["image", "inspect", "--format", "{{.Id}}", image]);
    assert!(out.status.success(), "{image}: {out:?}");
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// A `docker` first on PATH that says `backend-flask-prod` is `id` (whatever
/// was built last) and passes everything else to the real one.
fn name_points_elsewhere(id: &str) -> (tempfile::TempDir, String) {
    let real = String::from_utf8(docker_path()).unwrap();
    let script = format!(
        "#!/bin/sh\nif [ \"$*\" = 'image inspect --format {{{{.Id}}}} backend-flask-prod' ]; then echo {id}; exit 0; fi\nexec {} \"$@\"\n",
        real.trim()
    );
    common::stand_in::first_on_path("docker", &script)
}

fn docker_path() -> Vec<u8> {
    let out = std::process::Command::new("sh")
        .args(["-c", "command -v docker"])
        .output()
        .unwrap();
    assert!(out.status.success(), "no docker on PATH");
    out.stdout
}

/// `latest` names the image last deployed successfully: a deploy that fails
/// (and rolls back) leaves it where it was, and `deploy --no-build` of the
/// good commit afterwards changes nothing.
#[test]
fn a_failed_deploy_leaves_latest_on_the_last_good_image() {
    require_prod_image("backend");
    let repo = scratch_repo();
    let sandbox = Sandbox::start(&[]);
    sandbox.run(&["ecr", "create"]).ok();
    tool(&sandbox, repo.path(), &["cluster", "create"]).ok();
    let deploy_on = |extra: &[&str], path: Option<&str>| {
        let args = [
            "deploy",
            "backend",
            "--poll-interval",
            "1s",
            "--timeout",
            "5m",
        ];
        let mut c = scratch::command(&sandbox, repo.path(), &args);
        c.args(extra);
        if let Some(path) = path {
            c.env("PATH", path);
        }
        common::run(c)
    };
    let deploy = |extra: &[&str]| deploy_on(extra, None);
    let first = deploy(&[]).ok();
    let good = common::pushed_digest(&first.stdout);
    assert!(
        first.stdout.contains("ECR backend-flask:latest is now"),
        "{}",
        first.stdout
    );
    assert_eq!(latest(&sandbox).0, good.as_str());
    let good_commit = git(repo.path(), &["rev-parse", "--short", "HEAD"]);

    // A commit whose image is another (a label more) and whose task exits at
    // start. The crash is in the task definition, not the image: the build
    // tags `backend-flask-prod`, which tests alongside push.
    let dockerfile = repo.path().join("backend-flask/Dockerfile.prod");
    let text = std::fs::read_to_string(&dockerfile).unwrap();
    std::fs::write(&dockerfile, format!("{text}\nLABEL cruddur.test=crashes\n")).unwrap();
    scratch::edit_json(
        &repo
            .path()
            .join("infra/task-definitions/backend-flask.json"),
        |td| backend_container(td)["command"] = serde_json::json!(["sh", "-c", "exit 3"]),
    );
    commit(repo.path(), "crashes");
    // Meanwhile the local name goes back to the good image, as another
    // build of it alongside leaves it: the deploy ships what its build made.
    let good_id = image_id(&format!("{}/backend-flask@{good}", sandbox.registry()));
    let (_bin, path) = name_points_elsewhere(&good_id);
    let failed = deploy_on(&[], Some(&path));
    assert_eq!(failed.code, 1, "{}", failed.all());
    assert!(failed.all().contains("exit 3"), "{}", failed.all());
    let bad = common::pushed_digest(&failed.stdout);
    assert_ne!(bad, good);
    let (ecr, registry) = latest(&sandbox);
    assert_eq!(ecr, good.as_str(), "ECR's latest is still the good image");
    assert_eq!(
        registry.as_deref(),
        Some(good.as_str()),
        "and the registry's"
    );

    git(repo.path(), &["checkout", "--quiet", &good_commit]);
    let again = deploy(&["--no-build"]).ok();
    assert!(
        again
            .stdout
            .contains(&format!("backend-flask:{good_commit} = {good}")),
        "the good commit's image: {}",
        again.stdout
    );
    assert!(
        again.stdout.contains("nothing to deploy"),
        "{}",
        again.stdout
    );
    assert!(
        !again.stdout.contains("registered task definition"),
        "{}",
        again.stdout
    );
}

/// A backend container with less memory than it needs (a container-level
/// limit: the task's size stays valid) is OOM-killed: the deploy fails on the
/// breaker with ECS's reason, rolls back, and the old task keeps serving.
#[test]
fn a_backend_over_its_memory_is_oom_killed_fails_on_the_breaker_and_rolls_back() {
    let good = quick_to_fail(|_| {});
    let sandbox = deployed(good.path());
    let before = sandbox.task_addresses("backend-flask");
    let small = quick_to_fail(|td| backend_container(td)["memory"] = 64.into());
    let out = deploy_expecting_failure(&sandbox, small.path());
    let all = out.all();
    assert!(all.contains("FAILED"), "{all}");
    // ECS's word for it, as DescribeTasks has it...
    let stopped = sandbox.aws(&[
        "ecs",
        "list-tasks",
        "--cluster",
        "cruddur",
        "--service-name",
        "backend-flask",
        "--desired-status",
        "STOPPED",
    ]);
    let mut args = vec!["ecs", "describe-tasks", "--cluster", "cruddur", "--tasks"];
    args.extend(
        stopped["taskArns"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap()),
    );
    let tasks = sandbox.aws(&args);
    let oom = tasks["tasks"].as_array().unwrap().iter().any(|t| {
        t["taskDefinitionArn"]
            .as_str()
            .unwrap()
            .ends_with("backend-flask:2")
            && t["containers"].as_array().unwrap().iter().any(|c| {
                c["name"] == "backend-flask"
                    && c["reason"] == "OutOfMemoryError: Container killed due to memory usage"
            })
    });
    assert!(
        oom,
        "a stopped task of revision 2 says OutOfMemoryError: {tasks}"
    );
    assert_still_serving_the_first_revision(&sandbox, &before);
    // ...and as the failure report shows it.
    assert!(
        all.contains("OutOfMemoryError: Container killed due to memory usage"),
        "the report names the OOM kill:\n{all}"
    );
}

/// A task definition ECS would refuse (a health check every second): deploy
/// says so first, exit 2 naming the file and the field, and builds, pushes
/// and registers nothing: the registry's tags and the task definitions are
/// what they were.
#[test]
fn a_file_ecs_would_refuse_stops_deploy_before_anything_is_pushed_or_registered() {
    require_prod_image("backend");
    let sandbox = Sandbox::start(&[]);
    sandbox.run(&["ecr", "create"]).ok();
    sandbox.run(&["push", "backend"]).ok();
    let before = (registry_tags(&sandbox), task_definitions(&sandbox));
    assert!(!before.0.is_empty(), "the pushed commit's tag: {before:?}");

    let bad = quick_to_fail(|td| backend_container(td)["healthCheck"]["interval"] = 1.into());
    let out = tool(&sandbox, bad.path(), &["deploy", "backend"]).fails_with(2);
    let all = out.all();
    assert!(
        all.contains("task-definitions/backend-flask.json")
            && all.contains("containerDefinitions[1].healthCheck.interval: 1 is outside what ECS takes (5 to 300 seconds"),
        "the file and the field are named:\n{all}"
    );
    assert!(!all.contains("ECR lists"), "nothing was pushed:\n{all}");
    assert_eq!(
        (registry_tags(&sandbox), task_definitions(&sandbox)),
        before,
        "the registry and ECS are as they were"
    );
}

/// The sandbox registry's tags of backend-flask, read with ECR's credentials.
fn registry_tags(sandbox: &Sandbox) -> String {
    let (user, password) = sandbox.registry_login();
    let (code, body) = registry_get(
        &sandbox.registry(),
        "/v2/backend-flask/tags/list",
        &user,
        &password,
    );
    assert_eq!(code, 200, "{body}");
    let mut tags: Vec<String> = serde_json::from_str::<Value>(&body).unwrap()["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap().to_string())
        .collect();
    tags.sort();
    tags.join(",")
}

fn task_definitions(sandbox: &Sandbox) -> Value {
    sandbox.aws(&["ecs", "list-task-definitions"])["taskDefinitionArns"].clone()
}

/// Removes a test image (by exact reference) when dropped.
struct Image(String);

impl Drop for Image {
    fn drop(&mut self) {
        docker(&["rmi", &self.0]);
    }
}

/// Waits until ECR lists `digest` as `backend-flask:latest` (the sandbox's
/// registry tells moto of each push a moment later).
fn wait_until_ecr_lists(sandbox: &Sandbox, digest: &str) {
    let start = std::time::Instant::now();
    loop {
        let listed = sandbox.aws(&[
            "ecr",
            "describe-images",
            "--repository-name",
            "backend-flask",
            "--image-ids",
            "imageTag=latest",
        ])["imageDetails"][0]["imageDigest"]
            .clone();
        if listed == digest {
            return;
        }
        assert!(start.elapsed().as_secs() < 30, "ECR never listed {digest}");
        std::thread::sleep(std::time::Duration::from_millis(300));
    }
}
