//! ECR on the sandbox: create -> login -> push, digests checked against the
//! registry and against moto's DescribeImages; every failure path one clear
//! line, and no secret in any output.

mod common;

use common::{assert_no_secrets, registry_get, require_prod_image, run, Run, Sandbox};

const ACCESS_KEY: &str = "AKIAECRTEST000000001";
const SECRET_KEY: &str = "ecr-test-secret-0123456789abcdef";

/// The tool on `sandbox`, with distinctive credentials so leaks are greppable.
fn tool(sandbox: &Sandbox, args: &[&str]) -> Run {
    let mut c = sandbox.xtask(args);
    c.env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
        .env("AWS_SECRET_ACCESS_KEY", SECRET_KEY);
    run(c)
}

fn secrets() -> [&'static str; 2] {
    [SECRET_KEY, ACCESS_KEY]
}

#[track_caller]
fn one_line_error(out: &Run) -> String {
    assert_ne!(out.code, 0, "expected a failure:\n{}", out.all());
    let lines: Vec<&str> = out.stderr.trim().lines().collect();
    assert_eq!(
        lines.len(),
        1,
        "expected one line on stderr:\n{}",
        out.stderr
    );
    assert_no_secrets(&out.all(), &secrets());
    lines[0].to_string()
}

#[test]
fn create_login_push_and_the_digests_agree() {
    require_prod_image("backend-flask");
    // Empty: the second push below must find what the first one uploaded.
    let sandbox = Sandbox::start_empty(&[]);

    repositories_are_made_once_and_push_needs_them(&sandbox);
    login_push_and_the_digests_agree(&sandbox);
}

fn repositories_are_made_once_and_push_needs_them(sandbox: &Sandbox) {
    let missing_repo = tool(sandbox, &["push", "backend"]);
    assert!(
        one_line_error(&missing_repo).contains("ecr create"),
        "{}",
        missing_repo.stderr
    );

    let created = tool(sandbox, &["ecr", "create"]).ok();
    for repo in ["backend-flask", "frontend-react-js", "cruddur-python"] {
        assert!(
            created
                .stdout
                .contains(&format!("created ECR repository {repo}")),
            "{}",
            created.stdout
        );
    }
    let again = tool(sandbox, &["ecr", "create"]).ok();
    assert_eq!(
        again.stdout.matches("already exists").count(),
        3,
        "{}",
        again.stdout
    );

    assert_no_secrets(&created.all(), &secrets());
}

fn login_push_and_the_digests_agree(sandbox: &Sandbox) {
    let (user, password) = sandbox.registry_login();
    let login = tool(sandbox, &["ecr", "login"]).ok();
    assert!(
        login.stdout.contains("--password-stdin"),
        "{}",
        login.stdout
    );

    let push = tool(sandbox, &["push", "backend"]).ok();
    let digest = common::pushed_digest(&push.stdout);
    let sha_tag = git_tag();
    let registry = sandbox.registry();
    let (code, tags) = registry_get(&registry, "/v2/backend-flask/tags/list", &user, &password);
    assert_eq!(code, 200, "{tags}");
    let tags: serde_json::Value = serde_json::from_str(&tags).unwrap();
    let tags: Vec<&str> = tags["tags"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t.as_str())
        .collect();
    // `latest` names the image last deployed successfully: push never moves it.
    assert_eq!(tags, [sha_tag.as_str()], "registry tags");

    let described = sandbox.aws(&[
        "ecr",
        "describe-images",
        "--repository-name",
        "backend-flask",
    ]);
    let details = described["imageDetails"].as_array().unwrap();
    assert_eq!(details.len(), 1, "{described}");
    assert_eq!(
        details[0]["imageDigest"],
        digest.as_str(),
        "ECR's digest is the pushed one"
    );

    let (code, _) = registry_get(
        &registry,
        &format!("/v2/backend-flask/manifests/{digest}"),
        &user,
        &password,
    );
    assert_eq!(
        code, 200,
        "the registry serves the manifest by the printed digest"
    );

    let second = tool(sandbox, &["push", "backend"]).ok();
    assert!(
        second.stdout.contains("nothing to upload"),
        "{}",
        second.stdout
    );
    assert!(
        !second.stdout.lines().any(|l| l.ends_with(": Pushed")),
        "a layer was uploaded again:\n{}",
        second.stdout
    );

    let mirror = tool(sandbox, &["ecr", "mirror-base"]).ok();
    let base = sandbox.aws(&[
        "ecr",
        "describe-images",
        "--repository-name",
        "cruddur-python",
    ]);
    let base_tags = base["imageDetails"][0]["imageTags"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        base_tags.contains(&serde_json::json!("3.11-slim-bookworm")),
        "mirror: {base}"
    );

    for out in [&login, &push, &second, &mirror] {
        assert_no_secrets(&out.all(), &[&password, SECRET_KEY, ACCESS_KEY]);
        assert!(
            !out.all().contains(['\u{1b}', '\r']),
            "control characters in a CI log:\n{:?}",
            out.all()
        );
    }
}

fn git_tag() -> String {
    let sha = std::process::Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .output()
        .unwrap();
    let sha = String::from_utf8(sha.stdout).unwrap().trim().to_string();
    let dirty = std::process::Command::new("git")
        .args(["status", "--porcelain", "--untracked-files=no"])
        .output()
        .unwrap();
    if dirty.stdout.is_empty() {
        sha
    } else {
        format!("{sha}-dirty")
    }
}

#[test]
fn a_registry_that_refuses_the_token_fails_in_one_line() {
    common::require_docker();
    let sandbox = Sandbox::start_with_env(
        &[],
        &[("CRUDDUR_TEST_REGISTRY_PASSWORD", "not-what-ecr-hands-out")],
    );
    let out = tool(&sandbox, &["ecr", "login"]);
    let line = one_line_error(&out);
    assert!(
        line.contains("docker login") && line.contains("refused"),
        "{line}"
    );
    assert_no_secrets(&out.all(), &["not-what-ecr-hands-out"]);
}

#[test]
fn missing_credentials_and_region_fail_in_one_line_naming_what_to_set() {
    let sandbox = Sandbox::shared();

    let mut no_keys = sandbox.xtask(&["ecr", "create"]);
    no_keys
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY");
    let line = one_line_error(&run(no_keys));
    assert!(
        line.contains("AWS_ACCESS_KEY_ID") && line.contains("AWS_PROFILE"),
        "{line}"
    );

    let mut no_region = sandbox.xtask(&["ecr", "create"]);
    no_region
        .env_remove("AWS_REGION")
        .env_remove("AWS_DEFAULT_REGION");
    no_region
        .env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
        .env("AWS_SECRET_ACCESS_KEY", SECRET_KEY);
    let line = one_line_error(&run(no_region));
    assert!(
        line.contains("region") && line.contains("AWS_REGION"),
        "{line}"
    );
}

/// `push` where docker has no image of the service: a daemon of the test's
/// own, empty, so the shared daemon's images stay put for the tests alongside.
#[test]
fn push_without_a_local_image_says_to_build_first() {
    let sandbox = Sandbox::shared();
    tool(&sandbox, &["ecr", "create", "frontend"]).ok();
    let empty = EmptyDocker::start();
    let mut push = sandbox.xtask(&["push", "frontend"]);
    push.env("DOCKER_HOST", empty.host())
        .env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
        .env("AWS_SECRET_ACCESS_KEY", SECRET_KEY);
    let out = run(push);
    let line = one_line_error(&out);
    assert!(
        line.contains("no local image frontend-react-js-prod")
            && line.contains("cargo xtask build frontend"),
        "{line}"
    );
    assert_eq!(out.code, 2);
}

/// A docker daemon with nothing in it (its own data and exec roots and
/// socket under a temporary directory), stopped with SIGTERM on drop so it
/// stops the containerd it started.
struct EmptyDocker {
    dir: tempfile::TempDir,
    child: std::process::Child,
}

impl EmptyDocker {
    fn start() -> EmptyDocker {
        let dir = tempfile::Builder::new()
            .prefix("cruddur-empty-docker-")
            .tempdir()
            .unwrap();
        let path = |name: &str| dir.path().join(name).display().to_string();
        let log = std::fs::File::create(path("dockerd.log")).unwrap();
        let child = std::process::Command::new("dockerd")
            .arg(format!("--data-root={}", path("data")))
            .arg(format!("--exec-root={}", path("exec")))
            .arg(format!("--pidfile={}", path("dockerd.pid")))
            .arg(format!("--host=unix://{}", path("docker.sock")))
            .args(["--iptables=false", "--bridge=none", "--storage-driver=vfs"])
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        let docker = EmptyDocker { dir, child };
        let started = std::time::Instant::now();
        loop {
            let version = std::process::Command::new("docker")
                .args(["version", "--format", "{{.Server.Version}}"])
                .env("DOCKER_HOST", docker.host())
                .output()
                .unwrap();
            if version.status.success() {
                return docker;
            }
            assert!(
                started.elapsed() < std::time::Duration::from_secs(60),
                "the empty dockerd never answered: see {}",
                docker.dir.path().join("dockerd.log").display()
            );
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
    }

    fn host(&self) -> String {
        format!("unix://{}", self.dir.path().join("docker.sock").display())
    }
}

impl Drop for EmptyDocker {
    fn drop(&mut self) {
        let _ = std::process::Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
    }
}
