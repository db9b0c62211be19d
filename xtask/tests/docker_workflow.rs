//! build, run, up and down on a real docker daemon with the real Dockerfiles
//! (offline base images) and the real docker compose. Publishes the fixed
//! ports and uses the checkout's env files: the `checkout` test group.

mod common;

use common::{docker, http_get, local_env, repo_root, require_base_images, run, xtask, Containers};

fn tool(args: &[&str]) -> common::Run {
    let mut c = xtask(args);
    local_env(&mut c);
    run(c)
}

#[test]
fn host_ports_build_and_run() {
    require_base_images();
    let _cleanup = Containers(vec!["backend-flask", "frontend-react-js"]);

    let build = tool(&["build", "all"]).ok();
    for service in ["backend-flask", "frontend-react-js"] {
        assert!(
            build.stdout.contains(&format!("built {service}-prod")),
            "{}",
            build.stdout
        );
        assert!(
            build
                .stdout
                .lines()
                .any(|l| l.starts_with(&format!("[{service}] "))),
            "lines are prefixed by service"
        );
        assert!(docker(&["image", "inspect", &format!("{service}-prod")])
            .status
            .success());
    }

    tool(&["run", "backend", "--detach"]).ok();
    let (code, body) = http_get("http://127.0.0.1:4567/api/health-check");
    assert_eq!(code, 200, "{body}");
    let health: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(health, serde_json::json!({"success": true, "ver": 1}));

    tool(&["run", "frontend", "--detach"]).ok();
    let (code, index) = http_get("http://127.0.0.1:3000/");
    assert_eq!(code, 200);
    assert!(index.contains("<div id=\"root\">"), "{index}");
    let (code, fallback) = http_get("http://127.0.0.1:3000/@andrewbrown");
    assert_eq!(
        (code, fallback == index),
        (200, true),
        "SPA fallback serves index.html"
    );

    // `run` again replaces the running container instead of failing on the name.
    tool(&["run", "backend", "--detach"]).ok();
    for name in ["backend-flask", "frontend-react-js"] {
        docker(&["rm", "--force", name]);
    }
}

/// docker compose (v2 when its plugin is there, else v1) on the repository's
/// compose file, as the tool runs it.
fn compose(args: &[&str]) -> std::process::Output {
    let root = repo_root();
    let v2 = docker(&["compose", "version"]).status.success();
    let mut c = std::process::Command::new(if v2 { "docker" } else { "docker-compose" });
    if v2 {
        c.arg("compose");
    }
    c.arg("--file")
        .arg(root.join("docker-compose.yml"))
        .arg("--project-directory")
        .arg(&root)
        .args(args)
        .output()
        .expect("docker compose")
}

fn stdout(out: &std::process::Output) -> String {
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The stack's containers, sorted.
fn stack_containers() -> Vec<String> {
    let mut ids: Vec<String> = stdout(&compose(&["ps", "--quiet"]))
        .lines()
        .map(str::to_string)
        .collect();
    ids.sort();
    ids
}

/// `xtask/tests/fixtures/messages_check.py` in the running backend container:
/// the API's message routes as the seed user andrewbrown, who sends `text` to
/// bayko (see the script for how it signs in with sign-in off).
fn messages_check(text: &str) -> serde_json::Value {
    let script = include_str!("fixtures/messages_check.py");
    let out = compose(&["exec", "-T", "backend-flask", "python3", "-c", script, text]);
    serde_json::from_str(stdout(&out).trim()).expect("one JSON object")
}

/// Takes the stack down when the test ends, also when it fails.
struct Stack;

impl Drop for Stack {
    fn drop(&mut self) {
        tool(&["down"]);
    }
}

#[test]
fn host_ports_compose_stack_serves_messages_from_its_dynamodb() {
    require_base_images();
    let _down = Stack;
    let ddb = up_builds_migrates_and_serves_the_seed();
    let first = format!("compose check {}", std::process::id());
    messages_continue_the_seeded_conversation(&first);
    a_second_up_changes_nothing(&first);
    down_removes_the_stack(&ddb);
}

/// `up --build`: healthy, migrated, seeded; the container id of its DynamoDB.
fn up_builds_migrates_and_serves_the_seed() -> String {
    let up = tool(&["up", "--build"]).ok();
    assert!(up.stdout.contains("stack is healthy"), "{}", up.stdout);
    assert!(
        up.stdout.contains(
            "db-setup: db:5432/cruddur: applied 1 migration (0001_users_and_activities); \
             seeded 3 users and 7 activities"
        ),
        "{}",
        up.stdout
    );
    assert!(
        up.stdout
            .contains("ddb-setup: table cruddur-messages created at http://dynamodb-local:8000"),
        "{}",
        up.stdout
    );
    let (code, _) = http_get("http://127.0.0.1:4567/api/health-check");
    assert_eq!(code, 200);
    let (code, home) = http_get("http://127.0.0.1:4567/api/activities/home");
    assert_eq!(code, 200, "the backend reads the seeded database: {home}");
    assert!(home.contains("This was imported as seed data!"), "{home}");

    // DynamoDB is published on loopback only.
    let ddb = stdout(&compose(&["ps", "--quiet", "dynamodb-local"]));
    let port = docker(&["port", ddb.trim(), "8000"]);
    assert_eq!(
        String::from_utf8_lossy(&port.stdout).trim(),
        "127.0.0.1:8000"
    );

    ddb.trim().to_string()
}

/// The conversation bin/ddb-setup --seed adds, read and extended through the API.
fn messages_continue_the_seeded_conversation(first: &str) {
    let seed = stdout(&compose(&[
        "exec",
        "-T",
        "backend-flask",
        "python3",
        "bin/ddb-setup",
        "--seed",
    ]));
    assert!(seed.contains("seeded message group"), "{seed}");
    let check = messages_check(first);
    assert_eq!(check["groups_before"][0], 200, "{check}");
    let groups = check["groups_before"][1].as_array().expect("a list");
    assert_eq!(groups.len(), 1, "{check}");
    assert_eq!(groups[0]["handle"], "bayko", "{check}");
    assert_eq!(check["sent"][0], 201, "{check}");
    assert_eq!(check["sent"][1]["message"], first, "{check}");
    assert_eq!(
        check["sent"][1]["message_group_uuid"], groups[0]["uuid"],
        "continues the seeded conversation: {check}"
    );
    assert_eq!(check["messages"][0], 200, "{check}");
    let messages = check["messages"][1].as_array().expect("a list");
    assert_eq!(messages.len(), 4, "three seeded, one sent: {check}");
    assert_eq!(messages[3]["message"], first, "{check}");
    assert_eq!(check["groups_after"][1][0]["message"], first, "{check}");
}

/// A second `up` changes nothing: same containers, the table and its items kept.
fn a_second_up_changes_nothing(first: &str) {
    let containers = stack_containers();
    let again = tool(&["up"]).ok();
    assert!(
        again
            .stdout
            .contains("cruddur-dynamodb-local is up to date"),
        "{}",
        again.stdout
    );
    assert!(
        again
            .stdout
            .contains("ddb-setup: table cruddur-messages exists at http://dynamodb-local:8000"),
        "{}",
        again.stdout
    );
    assert!(
        again.stdout.contains(
            "db-setup: db:5432/cruddur: applied 0 migrations (1 already applied); \
             seed skipped: 3 users already there"
        ),
        "{}",
        again.stdout
    );
    assert_eq!(
        stack_containers(),
        containers,
        "a second up recreated containers"
    );
    let second = format!("{first}, again");
    let check = messages_check(&second);
    assert_eq!(check["sent"][0], 201, "{check}");
    let texts: Vec<&str> = check["messages"][1]
        .as_array()
        .expect("a list")
        .iter()
        .filter_map(|m| m["message"].as_str())
        .collect();
    assert_eq!(texts[3..], [first, second.as_str()], "{check}");
}

/// `down` removes the stack's containers and, unused now, the network.
fn down_removes_the_stack(ddb: &str) {
    let project = docker(&[
        "inspect",
        "--format",
        "{{index .Config.Labels \"com.docker.compose.project\"}}",
        ddb,
    ]);
    let project = String::from_utf8_lossy(&project.stdout).trim().to_string();
    assert!(!project.is_empty());
    tool(&["down"]).ok();
    let left = docker(&[
        "ps",
        "--all",
        "--quiet",
        "--filter",
        &format!("label=com.docker.compose.project={project}"),
    ]);
    assert!(
        String::from_utf8_lossy(&left.stdout).trim().is_empty(),
        "compose containers left after down"
    );
    let network = docker(&[
        "network",
        "inspect",
        "--format",
        "{{range .Containers}}{{.Name}} {{end}}",
        "cruddur-net",
    ]);
    assert!(
        !network.status.success() || !String::from_utf8_lossy(&network.stdout).trim().is_empty(),
        "down left cruddur-net although nothing uses it"
    );
}

#[test]
fn a_failing_build_exits_1_naming_the_service() {
    require_base_images();
    let root = tempfile::tempdir().unwrap();
    let folder = root.path().join("backend-flask");
    std::fs::create_dir_all(&folder).unwrap();
    // A mark of this run's own in the failing step, to find its container by.
    let mark = format!("broken-on-purpose-{}", std::process::id());
    std::fs::write(
        folder.join("Dockerfile.prod"),
        format!("ARG PYTHON_IMAGE\nFROM ${{PYTHON_IMAGE}}\nRUN echo {mark} && exit 3\n"),
    )
    .unwrap();
    let mut c = xtask(&["build", "backend", "--tag", "cruddur-test-broken"]);
    local_env(&mut c).env("CRUDDUR_ROOT", root.path());
    let out = run(c).fails_with(1);
    assert!(out.stderr.contains("backend-flask"), "{}", out.stderr);
    assert!(out.stderr.contains("docker build failed"), "{}", out.stderr);
    // docker without buildx (the legacy builder) kept the failed step's
    // container unless told otherwise: one per run, for good.
    let left = std::process::Command::new("docker")
        .args(["ps", "--all", "--no-trunc", "--format", "{{.Command}}"])
        .output()
        .unwrap();
    let left = String::from_utf8_lossy(&left.stdout);
    assert!(
        !left.contains(&mark),
        "the failed step's container is left:\n{left}"
    );
}
