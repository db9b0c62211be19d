//! Operating Cruddur on the sandbox's local ECS, with real containers: `logs`
//! (following, by deployment), one-off `task`s with their exit codes and the
//! database set-up, `verify` and deploy's preflight, `deploy --pre`, `scale`.
//! The backend runs from a scratch copy of `infra/` whose health checks are
//! fast (every 5 s instead of 30 s), so rollouts take seconds.

mod common;

use std::io::{BufRead as _, BufReader};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::proxy::Proxy;
use common::scratch;
use common::{http_get, require_prod_image, run, Run, Sandbox};
use serde_json::{json, Value};

/// A sandbox with the backend's image pushed, the cluster and load balancer
/// made from a scratch `infra/`, and (optionally) the backend deployed.
struct Ops {
    sandbox: Sandbox,
    root: tempfile::TempDir,
}

impl Ops {
    fn start(deploy: bool) -> Ops {
        let started = Instant::now();
        let step = |what: &str| eprintln!("{what}: {:.1}s", started.elapsed().as_secs_f64());
        require_prod_image("backend-flask");
        step("image");
        let ops = Ops {
            sandbox: Sandbox::start(&[]),
            root: scratch_infra(),
        };
        step("sandbox");
        ops.sandbox.run(&["ecr", "create", "backend"]).ok();
        ops.run(&["cluster", "create"]).ok();
        step("cluster");
        // From the repository: the push tags the image with its git commit.
        // The scratch infra/ is no git checkout: `deploy --no-build` takes latest.
        ops.sandbox
            .run(&["push", "backend", "--tag", "latest"])
            .ok();
        step("push");
        if deploy {
            ops.run(&["deploy", "backend", "--no-build", "--poll-interval", "1s"])
                .ok();
            step("deploy");
        }
        ops
    }

    /// The tool on this sandbox, acting on the scratch `infra/`.
    fn xtask(&self, args: &[&str]) -> Command {
        let mut c = self.sandbox.xtask(args);
        c.env("CRUDDUR_ROOT", self.root.path());
        c
    }

    fn run(&self, args: &[&str]) -> Run {
        run(self.xtask(args))
    }

    /// The backend's RUNNING tasks: (task id, address).
    fn tasks(&self) -> Vec<(String, String)> {
        self.sandbox.running_tasks("backend-flask")
    }

    fn revisions(&self) -> usize {
        self.sandbox.revisions("backend-flask")
    }

    fn service_revision(&self) -> String {
        let service = self.sandbox.service("backend-flask");
        let arn = service["taskDefinition"].as_str().unwrap();
        arn.rsplit('/').next().unwrap().to_string()
    }
}

/// `infra/` with fast health checks (`scratch::infra`) and a 30 s start
/// period. The checks keep the file's timeouts: a 2 s one is the likeliest
/// reason a task was replaced under the scale test once, on a busy CI machine.
fn scratch_infra() -> tempfile::TempDir {
    scratch::infra(|td| {
        scratch::backend_container(td)["healthCheck"]["startPeriod"] = json!(30);
    })
}

#[track_caller]
fn wait_until(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < limit, "waited {limit:?} for {what}");
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// A child process whose stdout is collected as it comes.
struct Child {
    child: std::process::Child,
    out: Arc<Mutex<String>>,
}

impl Child {
    fn spawn(mut c: Command) -> Child {
        let mut child = c.stdout(Stdio::piped()).spawn().unwrap();
        let out = Arc::new(Mutex::new(String::new()));
        let (stdout, sink) = (child.stdout.take().unwrap(), out.clone());
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let mut s = sink.lock().unwrap();
                s.push_str(&line);
                s.push('\n');
            }
        });
        Child { child, out }
    }

    fn output(&self) -> String {
        self.out.lock().unwrap().clone()
    }

    /// SIGINT, as Ctrl-C sends it; the exit code.
    fn interrupt(mut self) -> (i32, String) {
        let pid = self.child.id().to_string();
        assert!(Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .unwrap()
            .success());
        let status = self.child.wait().unwrap();
        std::thread::sleep(Duration::from_millis(200));
        (status.code().unwrap_or(-1), self.output())
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}

fn probe(ip: &str, nonce: &str) {
    // The backend logs one JSON line per request, with its path (here a 404).
    http_get(&format!("http://{ip}:4567/api/probe-{nonce}"));
}

fn nonce() -> String {
    format!(
        "{:x}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    )
}

#[test]
fn logs_follow_new_lines_until_ctrl_c_and_a_deployments_tasks_only() {
    let ops = Ops::start(true);
    let (old_id, old_ip) = ops.tasks().remove(0);
    let old_label = format!("backend {}", &old_id[..8]);

    // -f: a request's line appears, labelled with the task; SIGINT ends it with 0.
    let follow = Child::spawn(ops.xtask(&["logs", "backend", "-f"]));
    wait_until("the first lines", Duration::from_secs(30), || {
        follow.output().contains(&format!("{old_label}| "))
    });
    let first = nonce();
    probe(&old_ip, &first);
    wait_until("the request's line", Duration::from_secs(20), || {
        follow.output().contains(&format!("probe-{first}"))
    });
    let (code, out) = follow.interrupt();
    assert_eq!(code, 0, "Ctrl-C ends following with 0:\n{out}");
    let line = out.lines().find(|l| l.contains(&first)).unwrap();
    assert!(line.starts_with(&format!("{old_label}| {{")), "{line}");

    // A rollout: the old task still serves while the new deployment's starts.
    let mut changed = ops.xtask(&["deploy", "backend", "--no-build", "--no-wait"]);
    changed.env("CRUDDUR_FRONTEND_URL", "https://changed.example");
    run(changed).ok();
    let second = nonce();
    let mut latest = String::new();
    wait_until(
        "lines of the new deployment's task",
        Duration::from_secs(60),
        || {
            probe(&old_ip, &second);
            latest = ops
                .run(&["logs", "backend", "--deployment", "latest"])
                .ok()
                .stdout;
            latest.contains("| {")
        },
    );
    let old_still_running = ops.tasks().iter().any(|(id, _)| *id == old_id);
    assert!(old_still_running, "the check ran during the rollout");
    assert!(
        !latest.contains(&old_label) && !latest.contains(&second),
        "only the new deployment's tasks:\n{latest}"
    );
    let everything = ops.run(&["logs", "backend"]).ok().stdout;
    assert!(
        everything.contains(&second) && everything.contains(&old_label),
        "the service's logs have the old task's lines:\n{everything}"
    );
}

#[test]
fn one_off_tasks_exit_with_the_containers_code_and_set_up_the_database() {
    let ops = Ops::start(true);
    let exited = ops
        .run(&["task", "backend", "--", "sh", "-c", "echo one-off; exit 3"])
        .fails_with(3);
    assert!(
        exited
            .stdout
            .lines()
            .any(|l| l.starts_with("backend ") && l.ends_with("| one-off")),
        "{}",
        exited.stdout
    );

    let missing = ops
        .run(&["task", "backend", "--", "no-such-command"])
        .fails_with(1);
    assert!(
        missing.stderr.contains("did not run") && missing.stderr.contains("no-such-command"),
        "{}",
        missing.all()
    );

    // RunTask's first answer is lost: the SDK's retry carries the same client
    // token, so ECS starts one task, not two.
    let proxy = Proxy::start(&ops.sandbox.export("AWS_ENDPOINT_URL"), Some("RunTask"));
    let marker = nonce();
    let mut lost = ops.xtask(&["task", "backend", "--", "echo", &marker]);
    lost.env("AWS_ENDPOINT_URL_ECS", &proxy.url);
    let lost = run(lost).ok();
    assert!(lost.stdout.contains(&marker), "{}", lost.stdout);
    let sent = proxy
        .seen()
        .iter()
        .filter(|t| t.ends_with(".RunTask"))
        .count();
    assert_eq!(sent, 2, "{:?}", proxy.seen());
    let listed = ops.sandbox.aws(&[
        "ecs",
        "list-tasks",
        "--cluster",
        "cruddur",
        "--started-by",
        "cruddur-task",
        "--desired-status",
        "STOPPED",
    ]);
    let mut args = vec!["ecs", "describe-tasks", "--cluster", "cruddur", "--tasks"];
    args.extend(
        listed["taskArns"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_str),
    );
    let started = ops.sandbox.aws(&args)["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["overrides"].to_string().contains(&marker))
        .count();
    assert_eq!(started, 1, "one task for one `task` command");

    let (_, ip) = ops.tasks().remove(0);
    let home = format!("http://{ip}:4567/api/activities/home");
    let (_, before) = http_get(&home);
    assert!(
        !before.contains("This was imported as seed data!"),
        "{before}"
    );
    let setup = ops.run(&["task", "backend", "--", "bin/db-setup"]).ok();
    assert!(
        setup.stdout.contains(
            "db-setup: postgres:5432/cruddur: applied 1 migration (0001_users_and_activities); \
             seeded 3 users and 7 activities"
        ),
        "{}",
        setup.stdout
    );
    let (status, after) = http_get(&home);
    assert_eq!(status, 200, "{after}");
    assert!(after.contains("This was imported as seed data!"), "{after}");
}

#[test]
fn pre_and_verify_stop_a_deploy_before_the_service_changes() {
    let ops = Ops::start(true);
    let deploy_changed = |url: &str, extra: &[&str]| {
        let mut args = vec!["deploy", "backend", "--no-build", "--poll-interval", "1s"];
        args.extend_from_slice(extra);
        let mut c = ops.xtask(&args);
        c.env("CRUDDUR_FRONTEND_URL", url);
        run(c)
    };

    let pre = deploy_changed("https://pre.example", &["--pre", r#"sh -c "exit 4""#]).fails_with(1);
    let all = pre.all();
    assert!(
        all.contains("--pre command exited 4 in a one-off task of backend-flask:2")
            && all.contains("still on backend-flask:1")
            && all.contains("backend-flask:2 is registered but not in use"),
        "{all}"
    );
    assert_eq!(ops.service_revision(), "backend-flask:1");

    let verified = ops.run(&["verify", "backend"]).ok();
    assert!(!verified.stdout.contains("FAIL"), "{}", verified.stdout);
    let parameter = "/cruddur/backend-flask/ROLLBAR_ACCESS_TOKEN";
    ops.sandbox
        .aws(&["ssm", "delete-parameter", "--name", parameter]);
    let failed = ops.run(&["verify", "backend"]).fails_with(1);
    let fails: Vec<&str> = failed
        .stdout
        .lines()
        .filter(|l| l.starts_with("FAIL"))
        .collect();
    assert_eq!(fails.len(), 1, "{}", failed.stdout);
    assert!(
        fails[0].contains(parameter) && fails[0].contains("put-parameter"),
        "{}",
        fails[0]
    );

    let revisions = ops.revisions();
    let stopped = deploy_changed("https://verify.example", &[]).fails_with(1);
    assert!(
        stopped.stdout.contains(parameter) && stopped.stderr.contains("--no-verify"),
        "{}",
        stopped.all()
    );
    assert_eq!(ops.revisions(), revisions, "nothing registered");
    assert_eq!(ops.service_revision(), "backend-flask:1");
}

#[test]
fn scale_runs_the_count_and_restores_it_after_zero() {
    let ops = Ops::start(true);
    let serving = |n: usize| {
        ops.sandbox.backend_serves(n);
    };
    ops.run(&["scale", "backend", "2", "--poll-interval", "1s"])
        .ok();
    serving(2);
    let zero = ops
        .run(&["scale", "backend", "0", "--poll-interval", "1s"])
        .ok();
    assert!(
        zero.stdout.contains("kept the desired count 2"),
        "{}",
        zero.stdout
    );
    serving(0);
    ops.run(&["scale", "backend", "--restore", "--poll-interval", "1s"])
        .ok();
    serving(2);
}

/// Bad input is exit 2 before any AWS call; dry runs make none.
#[test]
fn operating_commands_refuse_bad_input_and_plan_in_dry_runs() {
    for args in [
        &["scale", "backend"][..],
        &["scale", "backend", "2", "--restore"],
        &["scale", "backend", "-1"],
        &["task", "backend"],
        &["task", "all", "--", "true"],
        &["logs", "db"],
        &["logs", "backend", "--task", "x", "--deployment", "latest"],
        &["logs", "all", "--task", "x"],
        &["deploy", "all", "--pre", "true"],
        &["deploy", "backend", "--pre", "sh -c 'exit"],
        &["task", "backend", "--task-role", "not a role", "--", "true"],
    ] {
        let mut c = common::xtask(args);
        c.env("CRUDDUR_SUBNETS", "subnet-1")
            .env("CRUDDUR_SECURITY_GROUP", "sg-1");
        let out = run(c);
        assert_eq!(out.code, 2, "{args:?}:\n{}", out.all());
    }
    for (args, calls) in [
        (
            &["logs", "all", "--since", "5m", "--dry-run"][..],
            &["ecs ListTasks", "logs GetLogEvents"][..],
        ),
        (
            &["task", "backend", "--dry-run", "--", "bin/db-setup"],
            &[
                "ecs DescribeServices",
                "ecs RunTask",
                "command=bin/db-setup",
            ],
        ),
        (
            &[
                "task",
                "backend",
                "--task-role",
                "CruddurSetupTaskRole",
                "--dry-run",
                "--",
                "bin/ddb-setup",
            ],
            &[
                "ecs RunTask",
                "taskRoleArn=arn:aws:iam::",
                ":role/CruddurSetupTaskRole",
            ],
        ),
        (
            &["scale", "backend", "0", "--dry-run"],
            &["ecs TagResource", "desiredCount=0"],
        ),
        (
            &["verify", "backend", "--dry-run"],
            &[
                "ecs DescribeClusters",
                "iam GetRole",
                "iam SimulatePrincipalPolicy PolicySourceArn=arn:aws:iam::",
                "ssm DescribeParameters",
                "logs DescribeLogGroups",
                "ec2 DescribeSubnets",
                "elbv2 DescribeTargetGroups",
            ],
        ),
    ] {
        let mut c = common::xtask(args);
        c.env("CRUDDUR_SUBNETS", "subnet-1")
            .env("CRUDDUR_SECURITY_GROUP", "sg-1")
            .env("CRUDDUR_VPC_ID", "vpc-1");
        let out = run(c).ok();
        for call in calls {
            assert!(
                out.stdout.contains(&format!("[dry-run] {call}")) || out.stdout.contains(call),
                "{args:?}: {call}:\n{}",
                out.stdout
            );
        }
    }
}
