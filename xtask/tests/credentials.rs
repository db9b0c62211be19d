//! Where the AWS build's credentials and endpoints come from: aws-config's
//! chain, each source tried for real against the sandbox's own STS (the
//! identity `status` prints is what STS says the credentials are), and the
//! per-service endpoint variables. Also the client token that keeps a
//! retried RunTask from starting a second task.

mod common;

use std::io::{BufRead as _, BufReader, Write as _};
use std::net::TcpListener;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use common::proxy::Proxy;
use common::{run, Run, Sandbox};

const ROLE: &str = "arn:aws:iam::123456789012:role/CruddurServiceExecutionRole";

/// The shared sandbox with a cluster of the test's own: `status` reads it
/// without failing.
fn sandbox(cluster: &str) -> Sandbox {
    let sandbox = Sandbox::shared();
    sandbox.aws(&["ecs", "create-cluster", "--cluster-name", cluster]);
    sandbox
}

/// `status backend` with the sandbox's settings but the credentials `set`
/// gives instead of its keys.
fn status_with(
    sandbox: &Sandbox,
    cluster: &str,
    set: impl FnOnce(&mut std::process::Command),
) -> Run {
    let mut c = sandbox.xtask(&["status", "backend", "--cluster", cluster]);
    c.env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env_remove("AWS_ACCOUNT_ID");
    set(&mut c);
    run(c)
}

/// The ARN `status` says the credentials are.
fn identity(out: &Run) -> String {
    out.stdout
        .lines()
        .find_map(|l| l.strip_prefix("AWS account 123456789012 region us-east-1 as "))
        .unwrap_or_else(|| panic!("no identity line:\n{}", out.all()))
        .to_string()
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

#[test]
fn environment_keys() {
    let sandbox = sandbox("creds-env");
    let keys = (
        sandbox.export("AWS_ACCESS_KEY_ID"),
        sandbox.export("AWS_SECRET_ACCESS_KEY"),
    );
    let out = status_with(&sandbox, "creds-env", |c| {
        c.env("AWS_ACCESS_KEY_ID", &keys.0)
            .env("AWS_SECRET_ACCESS_KEY", &keys.1);
    })
    .ok();
    assert!(identity(&out).starts_with("arn:aws:"), "{}", out.stdout);
    assert!(out.stdout.contains("no such service"), "{}", out.stdout);
}

#[test]
fn a_profile_with_credential_process_runs_it_once() {
    let sandbox = sandbox("creds-process");
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("runs");
    let script = write(
        dir.path(),
        "creds.sh",
        &format!(
            "#!/bin/sh\necho run >> {}\necho '{{\"Version\": 1, \"AccessKeyId\": \"AKIDPROCESS\", \"SecretAccessKey\": \"process-secret\"}}'\n",
            marker.display()
        ),
    );
    std::process::Command::new("chmod")
        .args(["+x", &script])
        .status()
        .unwrap();
    let config = write(
        dir.path(),
        "config",
        &format!("[profile proc]\ncredential_process = {script}\n"),
    );
    let out = status_with(&sandbox, "creds-process", |c| {
        c.env("AWS_CONFIG_FILE", &config).env("AWS_PROFILE", "proc");
    })
    .ok();
    identity(&out);
    let runs = std::fs::read_to_string(&marker).unwrap();
    assert_eq!(
        runs.lines().count(),
        1,
        "the process ran more than once in one command"
    );
    common::assert_no_secrets(&out.all(), &["process-secret"]);
}

#[test]
fn a_profile_with_role_arn_and_source_profile_assumes_the_role() {
    let sandbox = sandbox("creds-role");
    let dir = tempfile::tempdir().unwrap();
    let config = write(
        dir.path(),
        "config",
        &format!(
            "[profile base]\naws_access_key_id = AKIDBASE\naws_secret_access_key = base-secret\n\
             [profile deploy]\nrole_arn = {ROLE}\nsource_profile = base\nrole_session_name = deploy-test\n"
        ),
    );
    let out = status_with(&sandbox, "creds-role", |c| {
        c.env("AWS_CONFIG_FILE", &config)
            .env("AWS_PROFILE", "deploy");
    })
    .ok();
    assert_eq!(
        identity(&out),
        "arn:aws:sts::123456789012:assumed-role/CruddurServiceExecutionRole/deploy-test"
    );
}

/// The source CI uses: a GitHub-like OIDC token of the repository's main
/// branch, which the sandbox's STS checks against the deploy role's trust
/// policy (`web_identity.rs` has the refusals and a deploy).
#[test]
fn web_identity_from_the_environment_assumes_the_role() {
    let sandbox = sandbox("creds-oidc");
    let dir = tempfile::tempdir().unwrap();
    let token = sandbox.oidc_token_file(dir.path(), &[]);
    let role = sandbox.seeded("deploy_role_arn");
    let out = status_with(&sandbox, "creds-oidc", |c| {
        c.env("AWS_WEB_IDENTITY_TOKEN_FILE", &token)
            .env("AWS_ROLE_ARN", &role)
            .env("AWS_ROLE_SESSION_NAME", "ci-deploy");
    })
    .ok();
    assert_eq!(
        identity(&out),
        "arn:aws:sts::123456789012:assumed-role/CruddurDeployRole/ci-deploy"
    );
}

/// A stand-in for ECS's credentials endpoint on loopback, serving `body`;
/// counts the requests.
fn credentials_endpoint(body: String) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!(
        "http://{}/v2/credentials/test",
        listener.local_addr().unwrap()
    );
    let count = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&count);
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                line.clear();
            }
            seen.fetch_add(1, Ordering::SeqCst);
            let mut stream = stream;
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    (url, count)
}

#[test]
fn the_ecs_container_endpoint() {
    let sandbox = sandbox("creds-ecs");
    let assumed = sandbox.aws(&[
        "sts",
        "assume-role",
        "--role-arn",
        ROLE,
        "--role-session-name",
        "ecs-task",
    ]);
    let c = &assumed["Credentials"];
    let body = serde_json::json!({
        "AccessKeyId": c["AccessKeyId"],
        "SecretAccessKey": c["SecretAccessKey"],
        "Token": c["SessionToken"],
        "Expiration": c["Expiration"],
        "RoleArn": ROLE,
    })
    .to_string();
    let (url, requests) = credentials_endpoint(body);
    let out = status_with(&sandbox, "creds-ecs", |c| {
        c.env("AWS_CONTAINER_CREDENTIALS_FULL_URI", &url);
    })
    .ok();
    assert_eq!(
        identity(&out),
        "arn:aws:sts::123456789012:assumed-role/CruddurServiceExecutionRole/ecs-task"
    );
    assert_eq!(requests.load(Ordering::SeqCst), 1);
    let secret = c["SecretAccessKey"].as_str().unwrap();
    common::assert_no_secrets(&out.all(), &[secret]);
}

#[test]
fn aws_endpoint_url_ecs_sends_ecs_alone_elsewhere() {
    let sandbox = sandbox("creds-endpoint");
    let proxy = Proxy::start(&sandbox.export("AWS_ENDPOINT_URL"), None);
    let mut c = sandbox.xtask(&["status", "backend", "--cluster", "creds-endpoint"]);
    c.env("AWS_ENDPOINT_URL_ECS", &proxy.url);
    let out = run(c).ok();
    identity(&out);
    let seen = proxy.seen();
    assert!(
        seen.iter()
            .any(|t| t == "AmazonEC2ContainerServiceV20141113.DescribeServices"),
        "{seen:?}"
    );
    assert!(
        seen.iter()
            .all(|t| t.starts_with("AmazonEC2ContainerServiceV20141113.")),
        "only ECS goes to AWS_ENDPOINT_URL_ECS: {seen:?}"
    );
}
