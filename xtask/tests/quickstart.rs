//! The README's first command on a sandbox of its own, checked as a user
//! would: both services run as containers from the pushed digests, answer at
//! their task addresses and through the load balancer, write their logs to
//! CloudWatch Logs, serve the seed data from the sandbox's database and
//! messages from its DynamoDB; the load balancer serves HTTPS with the
//! sandbox CA's certificate (HSTS on), plain HTTP answers a redirect to it; a
//! new user signs up, posts and messages in a real browser that trusts that
//! CA (and nothing more); a crud posted through the API survives a second run started
//! while the backend's task is stopped (the set-up tasks run every time and
//! change nothing: issue 32); a second run registers no new revision; the
//! tasks hold no AWS key, the front end no credentials at all, and a third
//! run after moto was reset behind the sandbox's back heals it and passes
//! (issue 31); `sandbox down` leaves none of its processes.
//! `demo` writes the checkout's env files: the `checkout` test group.

mod common;

use std::time::{Duration, Instant};

use common::https::{self, Lb};
use common::{alive, docker, http_get, repo_root, require_base_images, run, xtask, Sandbox};
use serde_json::Value;

#[test]
fn demo_deploys_both_services_that_really_run_and_a_second_run_registers_nothing() {
    require_base_images();
    let dir = tempfile::Builder::new()
        .prefix("cruddur-demo-")
        .tempdir()
        .unwrap();
    // Its registry starts with the prod images' layers, as the other tests' do.
    common::layers::seed(&dir.path().join("registry-data"));
    let state_dir = dir.path().display().to_string();
    let docker_config = dir.path().join("docker-config");
    let demo = || {
        let mut c = xtask(&["demo", "--port-base", "0", "--state-dir", &state_dir]);
        c.env("DOCKER_CONFIG", &docker_config);
        run(c)
    };
    let first = demo();
    // Stop the sandbox even when an assertion below fails.
    let sandbox = Sandbox::adopt(dir);
    let first = first.ok();
    assert!(first.stdout.contains("demo done"), "{}", first.stdout);
    let printed = first
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("Cruddur is at "))
        .and_then(|l| l.split_whitespace().next())
        .expect("the demo prints the load balancer's URL");
    let lb = Lb::of(&sandbox);
    assert_eq!(printed, lb.url, "the demo names the HTTPS listener");

    for name in ["backend-flask", "frontend-react-js"] {
        runs_the_pushed_digest(&sandbox, name);
    }
    tasks_run_on_their_roles(&sandbox);
    let backend = sandbox.task_addresses("backend-flask")[0].clone();
    let (code, _) = http_get(&format!("http://{backend}:4567/api/health-check"));
    assert_eq!(code, 200, "the backend task answers at its address");
    backend_log_has_start_lines(&sandbox);

    // The seed data from the sandbox's PostgreSQL (set up by a one-off task).
    let (code, home) = http_get(&format!("http://{backend}:4567/api/activities/home"));
    assert_eq!(code, 200, "{home}");
    assert!(home.contains("andrewbrown"), "seed activities: {home}");

    through_the_load_balancer(&sandbox, &lb);
    let token = messages_from_dynamodb_for_a_new_user(&sandbox, &lb);
    sign_up_to_first_post_in_a_browser(&sandbox, &lb);

    let status = run(xtask(&["sandbox", "status", "--state-dir", &state_dir])).ok();
    assert!(
        status
            .stdout
            .contains("public.ecr.aws/xray/aws-xray-daemon"),
        "the stand-in images are named:\n{}",
        status.stdout
    );

    let crud = post_a_crud_then_stop_the_backend(&sandbox, &lb, &token);
    let second = demo().ok();
    the_crud_is_still_there(&sandbox, &lb, &crud, &second.stdout);
    assert!(
        !second.stdout.contains("registered task definition"),
        "{}",
        second.stdout
    );
    assert_eq!(
        second.stdout.matches("no new revision registered").count(),
        2,
        "{}",
        second.stdout
    );
    assert!(
        second.stdout.contains("nothing to upload"),
        "{}",
        second.stdout
    );

    // Issue 31: moto reset behind the sandbox's back (its control API, from
    // the host); the next demo says so, restarts the sandbox and passes.
    let endpoint = sandbox.export("AWS_ENDPOINT_URL");
    let (code, _) = common::http_post_json(&format!("{endpoint}/moto-api/reset"), &[], "");
    assert_eq!(code, 200, "moto's control API answers on loopback");
    let third = demo().ok();
    assert!(
        third.stdout.contains("its account lost its state")
            && third.stdout.contains("restarting the sandbox")
            && third.stdout.contains("demo done"),
        "{}",
        third.stdout
    );

    let pids = sandbox.pids();
    sandbox.down().ok();
    assert!(
        pids.iter().all(|&p| !alive(p)),
        "processes left after sandbox down"
    );
}

/// One RUNNING task, whose container (found by the ECS agent's labels) runs
/// the digest the task definition pins, which is the one pushed.
fn runs_the_pushed_digest(sandbox: &Sandbox, name: &str) {
    let service = sandbox.service(name);
    assert_eq!(service["runningCount"], 1, "{service}");
    let td = sandbox.aws(&[
        "ecs",
        "describe-task-definition",
        "--task-definition",
        service["taskDefinition"].as_str().unwrap(),
    ]);
    let image = td["taskDefinition"]["containerDefinitions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap()["image"]
        .as_str()
        .unwrap()
        .to_string();
    let digest = image
        .split_once('@')
        .expect("pinned by digest")
        .1
        .to_string();
    let pushed = sandbox.aws(&[
        "ecr",
        "describe-images",
        "--repository-name",
        name,
        "--image-ids",
        "imageTag=latest",
    ])["imageDetails"][0]["imageDigest"]
        .clone();
    assert_eq!(
        pushed,
        digest.as_str(),
        "the task definition pins the pushed digest"
    );
    let id = container_of(sandbox, name);
    let inspect = docker(&["inspect", "--format", "{{.Image}}", &id]);
    let image_id = String::from_utf8_lossy(&inspect.stdout).trim().to_string();
    let digests = docker(&[
        "image",
        "inspect",
        "--format",
        "{{json .RepoDigests}}",
        &image_id,
    ]);
    assert!(
        String::from_utf8_lossy(&digests.stdout).contains(&digest),
        "{name}'s container runs {image_id}, not {digest}"
    );
}

/// The docker id of the service's own container in its running task (by the ECS agent's labels).
fn container_of(sandbox: &Sandbox, name: &str) -> String {
    let tasks = sandbox.aws(&[
        "ecs",
        "list-tasks",
        "--cluster",
        "cruddur",
        "--service-name",
        name,
    ]);
    let task = tasks["taskArns"][0].as_str().unwrap().to_string();
    let found = docker(&[
        "ps",
        "--filter",
        &format!("label=com.amazonaws.ecs.task-arn={task}"),
        "--filter",
        &format!("label=com.amazonaws.ecs.container-name={name}"),
        "--format",
        "{{.ID}}",
    ]);
    let id = String::from_utf8_lossy(&found.stdout).trim().to_string();
    assert!(!id.is_empty(), "no container labelled with task {task}");
    id
}

/// Issue 31: no AWS key in either container; the backend gets its task
/// role's credentials from ECS's endpoint, the front end (no task role) none.
fn tasks_run_on_their_roles(sandbox: &Sandbox) {
    for (name, has_role) in [("backend-flask", true), ("frontend-react-js", false)] {
        let id = container_of(sandbox, name);
        let env = docker(&["inspect", "--format", "{{json .Config.Env}}", &id]);
        let env: Vec<String> = serde_json::from_slice(&env.stdout).unwrap();
        assert!(
            !env.iter()
                .any(|e| e.starts_with("AWS_ACCESS_KEY_ID=")
                    || e.starts_with("AWS_SECRET_ACCESS_KEY=")),
            "{name}: {env:?}"
        );
        assert_eq!(
            env.iter()
                .any(|e| e.starts_with("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI=")),
            has_role,
            "{name}: {env:?}"
        );
    }
    let frontend = container_of(sandbox, "frontend-react-js");
    let asked = docker(&[
        "exec",
        &frontend,
        "bash",
        "-c",
        "exec 3<>/dev/tcp/169.254.170.2/80 && printf 'GET /v2/credentials/ HTTP/1.0\\r\\n\\r\\n' >&3 && head -n1 <&3",
    ]);
    assert!(
        String::from_utf8_lossy(&asked.stdout).contains(" 404 "),
        "the front end finds no credentials: {}",
        String::from_utf8_lossy(&asked.stdout)
    );
}

/// The awslogs stream `backend-flask/backend-flask/<task id>` has gunicorn's start lines.
fn backend_log_has_start_lines(sandbox: &Sandbox) {
    let tasks = sandbox.aws(&[
        "ecs",
        "list-tasks",
        "--cluster",
        "cruddur",
        "--service-name",
        "backend-flask",
    ]);
    let task_id = tasks["taskArns"][0]
        .as_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_string();
    let stream = format!("backend-flask/backend-flask/{task_id}");
    let events = sandbox.aws(&[
        "logs",
        "get-log-events",
        "--log-group-name",
        "cruddur",
        "--log-stream-name",
        &stream,
        "--start-from-head",
    ]);
    let lines: Vec<&str> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["message"].as_str())
        .collect();
    assert!(
        lines
            .iter()
            .any(|l| l.contains("Listening at") || l.contains("Booting worker")),
        "no server start line in {stream}: {lines:?}"
    );
}

/// The URL the demo printed serves the front end and the API over HTTPS
/// (to a client trusting the sandbox's CA; HSTS on the front end's answers,
/// which the load balancer's X-Forwarded-Proto turns on); plain HTTP answers
/// a permanent redirect there. The front end's container was started with
/// the load balancer's URL (from its task definition's environment) and
/// serves it in /config.js (the sign-up run in Chromium proves the app calls
/// it, and Cognito, under the CSP).
fn through_the_load_balancer(sandbox: &Sandbox, lb: &Lb) {
    let index = lb.request("GET", "/", &[], None);
    assert_eq!(index.code, 200, "{index:?}");
    assert!(index.body.contains("<div id=\"root\">"), "{}", index.body);
    assert!(
        index.body.contains("<script src=\"/config.js\">"),
        "{}",
        index.body
    );
    assert_eq!(
        index.header("strict-transport-security"),
        Some("max-age=31536000"),
        "HSTS on HTTPS: {:?}",
        index.headers
    );
    let (code, body) = lb.get("/api/health-check");
    assert_eq!(code, 200, "{body}");
    let (code, config) = lb.get("/config.js");
    assert_eq!(code, 200, "{config}");
    assert!(
        config.contains(&format!("\"REACT_APP_BACKEND_URL\": \"{}\"", lb.url)),
        "/config.js has the load balancer's URL ({}): {config}",
        lb.url
    );
    let http_port = sandbox.state["lb_port"].as_u64().unwrap();
    let plain = https::curl(
        &[],
        &[format!(
            "url = \"http://127.0.0.1:{http_port}/api/activities/home?x=1\""
        )],
    );
    assert_eq!(plain.code, 301, "{plain:?}");
    assert_eq!(
        plain.header("location"),
        Some(format!("{}/api/activities/home?x=1", lb.url).as_str())
    );
    let untrusting = https::curl(&[], &[format!("url = \"{}/\"", lb.url)]);
    assert_eq!(
        untrusting.error.as_ref().map(|e| e.0),
        Some(60),
        "only the sandbox's CA vouches for the certificate: {untrusting:?}"
    );
}

/// A Cognito user of the sandbox's pool signs in and reads its message
/// groups through the load balancer: the backend creates its Cruddur user
/// from Cognito and answers from DynamoDB (no 503). Returns its access token.
fn messages_from_dynamodb_for_a_new_user(sandbox: &Sandbox, lb: &Lb) -> String {
    let pool = sandbox.export("AWS_COGNITO_USER_POOL_ID");
    let client = sandbox.export("AWS_COGNITO_USER_POOL_CLIENT_ID");
    let email = "quickstart@example.com";
    sandbox.aws(&[
        "cognito-idp",
        "admin-create-user",
        "--user-pool-id",
        &pool,
        "--username",
        email,
        "--message-action",
        "SUPPRESS",
        "--user-attributes",
        &format!("Name=email,Value={email}"),
        "Name=name,Value=Quick Start",
        "Name=preferred_username,Value=quickstart",
    ]);
    sandbox.aws(&[
        "cognito-idp",
        "admin-set-user-password",
        "--user-pool-id",
        &pool,
        "--username",
        email,
        "--password",
        "Quickstart-Passw0rd!",
        "--permanent",
    ]);
    let auth = sandbox.aws(&[
        "cognito-idp",
        "admin-initiate-auth",
        "--user-pool-id",
        &pool,
        "--client-id",
        &client,
        "--auth-flow",
        "ADMIN_USER_PASSWORD_AUTH",
        "--auth-parameters",
        &format!("USERNAME={email},PASSWORD=Quickstart-Passw0rd!"),
    ]);
    let token = auth["AuthenticationResult"]["AccessToken"]
        .as_str()
        .unwrap()
        .to_string();
    let (code, body) = lb.get_with(
        "/api/message_groups",
        &[("Authorization", &format!("Bearer {token}"))],
    );
    assert_eq!(code, 200, "message groups from DynamoDB: {body}");
    let groups: Value = serde_json::from_str(&body).unwrap();
    assert!(groups.is_array(), "{body}");
    token
}

/// Waits (up to `limit`) until `check` holds for the load balancer's home feed status.
fn wait_for_home_feed(lb: &Lb, limit: Duration, check: impl Fn(u16) -> bool, what: &str) {
    let deadline = Instant::now() + limit;
    loop {
        let (code, body) = lb.get("/api/activities/home");
        if check(code) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: the home feed answers {code} {body}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// The signed-in user posts a crud through the load balancer; then the
/// backend's task is stopped, and the feed is down when the next demo starts
/// (what made the old demo reload the schema, which dropped every table).
fn post_a_crud_then_stop_the_backend(sandbox: &Sandbox, lb: &Lb, token: &str) -> (String, String) {
    let message = format!("kept across demos ({})", std::process::id());
    let (code, body) = lb.post_json(
        "/api/activities",
        &[("Authorization", &format!("Bearer {token}"))],
        &serde_json::json!({ "message": message }).to_string(),
    );
    assert_eq!(code, 201, "posting a crud: {body}");
    let uuid = serde_json::from_str::<Value>(&body).unwrap()["uuid"]
        .as_str()
        .expect("the new activity's uuid")
        .to_string();
    let tasks = sandbox.aws(&[
        "ecs",
        "list-tasks",
        "--cluster",
        "cruddur",
        "--service-name",
        "backend-flask",
    ]);
    for task in tasks["taskArns"].as_array().unwrap() {
        sandbox.aws(&[
            "ecs",
            "stop-task",
            "--cluster",
            "cruddur",
            "--task",
            task.as_str().unwrap(),
            "--reason",
            "quickstart test: the backend goes away before the next demo",
        ]);
    }
    wait_for_home_feed(
        lb,
        Duration::from_secs(60),
        |code| code != 200,
        "the stopped backend still serves",
    );
    (uuid, message)
}

/// After the second demo: its set-up tasks ran and changed nothing, and the
/// crud is there, through the API (once the replacement task serves) and in
/// the sandbox's PostgreSQL.
fn the_crud_is_still_there(
    sandbox: &Sandbox,
    lb: &Lb,
    (uuid, message): &(String, String),
    demo: &str,
) {
    for line in [
        "db-setup: postgres:5432/cruddur: applied 0 migrations (1 already applied); seed skipped: ",
        "ddb-setup: table cruddur-messages exists",
        "update-cognito-user-ids: 0 linked",
    ] {
        assert!(
            demo.contains(line),
            "the second demo's set-up tasks: no {line:?} in\n{demo}"
        );
    }
    wait_for_home_feed(
        lb,
        Duration::from_secs(180),
        |code| code == 200,
        "no backend after the demo",
    );
    let (code, body) = lb.get(&format!("/api/activities/{uuid}"));
    assert_eq!(code, 200, "the crud through the API: {body}");
    assert!(body.contains(message.as_str()), "{body}");
    let (_, home) = lb.get("/api/activities/home");
    assert!(
        home.contains(message.as_str()),
        "the crud in the home feed: {home}"
    );
    let agent: Value = serde_json::from_str(
        &std::fs::read_to_string(sandbox.dir.path().join("agent.json")).unwrap(),
    )
    .unwrap();
    let container = agent["postgres"]["container"]
        .as_str()
        .expect("the sandbox's PostgreSQL");
    let query = format!("SELECT message FROM activities WHERE uuid = '{uuid}'");
    let out = docker(&[
        "exec", container, "psql", "-U", "postgres", "-d", "cruddur", "-tAc", &query,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        message,
        "the crud's row in PostgreSQL"
    );
}

/// The front end's own sign-up in headless Chromium, against the load
/// balancer and the sandbox's Cognito: sign up, confirm, sign in, post, message
/// a seed user; a second user cannot act as the first.
fn sign_up_to_first_post_in_a_browser(sandbox: &Sandbox, lb: &Lb) {
    let frontend = repo_root().join("frontend-react-js");
    assert!(
        frontend.join("node_modules/playwright-core").exists(),
        "playwright-core is not installed: run `npm ci` in frontend-react-js (`cargo xtask test` does)"
    );
    let mut c = std::process::Command::new("node");
    c.current_dir(&frontend)
        .arg("e2e/signup.mjs")
        .env("CRUDDUR_URL", &lb.url)
        // Chromium trusts the sandbox's CA through an NSS database of its own.
        .env("CRUDDUR_CA_FILE", &lb.ca)
        .env(
            "CRUDDUR_CONFIRM_CMD",
            format!("node {}/e2e/stack.mjs confirm", frontend.display()),
        )
        .env("CRUDDUR_MOTO_URL", sandbox.export("AWS_ENDPOINT_URL"))
        .env(
            "CRUDDUR_USER_POOL_ID",
            sandbox.export("AWS_COGNITO_USER_POOL_ID"),
        )
        .env("CRUDDUR_E2E_TIMEOUT", "30");
    let out = run(c);
    assert_eq!(out.code, 0, "sign-up to first post:\n{}", out.all());
}
