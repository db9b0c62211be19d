//! Scratch copies of the repository's files for tests that change them, and
//! the few views of the sandbox's ECS that several test files read.

use std::path::Path;

use serde_json::Value;

use super::{repo_root, require_prod_image, Run, Sandbox};

/// A scratch root (`CRUDDUR_ROOT`) holding a copy of `infra/` with fast
/// health checks: both containers' every 5 s (ECS's shortest: the tool
/// refuses a shorter one), the target groups' every 5 s with a 1 s drain, and
/// one gunicorn worker instead of the file's two (each worker imports the
/// app: CPU the two cores share with every other test, and nothing here
/// needs a second); `edit` changes the backend's task definition further.
/// The services keep the file's grace periods (60 s for the backend): a
/// healthy task is healthy as soon as it answers whatever the grace, and on
/// a busy machine the backend has taken 25 s from RUNNING to its first answer
/// (its containers weigh 256 cpu shares against docker's default 1024), which
/// a 20 s grace turned into three "Request timed out" tasks and a tripped
/// breaker.
pub fn infra(edit: impl FnOnce(&mut Value)) -> tempfile::TempDir {
    let root = tempfile::Builder::new()
        .prefix("cruddur-infra-")
        .tempdir()
        .unwrap();
    let status = std::process::Command::new("cp")
        .args(["-r", "infra"])
        .arg(root.path())
        .current_dir(repo_root())
        .status()
        .unwrap();
    assert!(status.success());
    let infra = root.path().join("infra");
    edit_json(&infra.join("task-definitions/backend-flask.json"), |td| {
        let app = backend_container(td);
        app["healthCheck"]["interval"] = 5.into();
        app["environment"]
            .as_array_mut()
            .unwrap()
            .push(serde_json::json!({ "name": "GUNICORN_WORKERS", "value": "1" }));
        edit(td);
    });
    edit_json(
        &infra.join("task-definitions/frontend-react-js.json"),
        |td| {
            td["containerDefinitions"][0]["healthCheck"]["interval"] = 5.into();
        },
    );
    edit_json(&infra.join("load-balancer.json"), |lb| {
        for tg in lb["TargetGroups"].as_array_mut().unwrap() {
            tg["HealthCheckIntervalSeconds"] = 5.into();
            tg["DeregistrationDelaySeconds"] = 1.into();
        }
    });
    root
}

/// `infra(edit)` whose backend also gives up quickly: unhealthy after two
/// failed checks once a 15 s start period is over (the breaker's pace).
pub fn quick_to_fail(edit: impl FnOnce(&mut Value)) -> tempfile::TempDir {
    infra(|td| {
        let app = backend_container(td);
        app["healthCheck"]["retries"] = 2.into();
        app["healthCheck"]["startPeriod"] = 15.into();
        edit(td);
    })
}

/// `infra(edit)` committed to a git repository of its own: the tool run on
/// it (`tool`) tags the images it pushes with that commit and `deploy
/// --no-build` takes that commit's image, as in the checkout, so a test of
/// which image `latest` names needs no `latest` pushed by hand.
pub fn checkout(edit: impl FnOnce(&mut Value)) -> tempfile::TempDir {
    let root = infra(edit);
    for args in [
        &["init", "-q"][..],
        &["add", "."],
        &[
            "-c",
            "user.name=cruddur-tests",
            "-c",
            "user.email=tests@cruddur.invalid",
            "commit",
            "-qm",
            "scratch infra",
        ],
    ] {
        let status = std::process::Command::new("git")
            .args(args)
            .current_dir(root.path())
            .status()
            .unwrap();
        assert!(status.success(), "git {args:?} in the scratch checkout");
    }
    root
}

/// The tool on the sandbox with `root` as its checkout (`CRUDDUR_ROOT`).
pub fn tool(sandbox: &Sandbox, root: &Path, args: &[&str]) -> Run {
    super::run(command(sandbox, root, args))
}

/// [`tool`]'s command, to add to before it runs.
pub fn command(sandbox: &Sandbox, root: &Path, args: &[&str]) -> std::process::Command {
    let mut c = sandbox.xtask(args);
    c.env("CRUDDUR_ROOT", root);
    c
}

/// A sandbox of its own with the backend deployed from `root`, one task answering.
pub fn deployed(root: &Path) -> Sandbox {
    require_prod_image("backend");
    let sandbox = Sandbox::start(&[]);
    sandbox.run(&["ecr", "create"]).ok();
    tool(&sandbox, root, &["cluster", "create"]).ok();
    // The scratch infra/ is no git checkout: `deploy --no-build` takes latest.
    sandbox.run(&["push", "backend", "--tag", "latest"]).ok();
    tool(
        &sandbox,
        root,
        &["deploy", "backend", "--no-build", "--poll-interval", "1s"],
    )
    .ok();
    let addresses = sandbox.task_addresses("backend-flask");
    assert_eq!(addresses.len(), 1, "one task of the first revision");
    sandbox
}

pub fn edit_json(path: &Path, edit: impl FnOnce(&mut Value)) {
    let mut value: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    edit(&mut value);
    std::fs::write(path, serde_json::to_string_pretty(&value).unwrap()).unwrap();
}

/// The backend's own container in its task definition.
pub fn backend_container(td: &mut Value) -> &mut Value {
    td["containerDefinitions"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|c| c["name"] == "backend-flask")
        .unwrap()
}

impl Sandbox {
    /// DescribeServices of `name` in the `cruddur` cluster, as the aws CLI sees it.
    pub fn service(&self, name: &str) -> Value {
        self.service_in("cruddur", name)
    }

    /// DescribeServices of `name` in `cluster`.
    pub fn service_in(&self, cluster: &str, name: &str) -> Value {
        self.aws(&[
            "ecs",
            "describe-services",
            "--cluster",
            cluster,
            "--services",
            name,
        ])["services"][0]
            .clone()
    }

    /// A service's RUNNING tasks (desired and last status): (task id, address).
    pub fn running_tasks(&self, name: &str) -> Vec<(String, String)> {
        self.tasks(name, "RUNNING")
            .iter()
            .filter(|t| t["lastStatus"] == "RUNNING")
            .filter_map(|t| {
                let id = t["taskArn"].as_str()?.rsplit('/').next()?.to_string();
                Some((id, task_address(t)?))
            })
            .collect()
    }

    /// Waits (30 s at most) until `n` RUNNING tasks of the backend answer its
    /// health check directly, and returns their (task id, address). A task
    /// ECS replaced meanwhile (a health check that timed out on a busy
    /// machine) is no failure of the command before; the panic says which
    /// task did not answer and what the service's last events said.
    #[track_caller]
    pub fn backend_serves(&self, n: usize) -> Vec<(String, String)> {
        let start = std::time::Instant::now();
        loop {
            let tasks = self.running_tasks("backend-flask");
            let answers: Vec<(&str, u16, String)> = tasks
                .iter()
                .map(|(id, ip)| {
                    let (status, body) =
                        super::http_get(&format!("http://{ip}:4567/api/health-check"));
                    (id.as_str(), status, body)
                })
                .collect();
            if tasks.len() == n && answers.iter().all(|(_, status, _)| *status == 200) {
                return tasks;
            }
            if start.elapsed() > std::time::Duration::from_secs(30) {
                let service = self.service("backend-flask");
                let events: Vec<&str> = service["events"]
                    .as_array()
                    .map(|e| {
                        e.iter()
                            .take(6)
                            .filter_map(|e| e["message"].as_str())
                            .collect()
                    })
                    .unwrap_or_default();
                panic!(
                    "{n} backend tasks should answer (status 0: no connection); tasks and answers: {answers:?}\nthe service's last events:\n{}",
                    events.join("\n")
                );
            }
            std::thread::sleep(std::time::Duration::from_secs(1));
        }
    }

    /// The tasks of service `name` whose desired status is `desired`, described.
    pub fn tasks(&self, name: &str, desired: &str) -> Vec<Value> {
        let listed = self.aws(&[
            "ecs",
            "list-tasks",
            "--cluster",
            "cruddur",
            "--service-name",
            name,
            "--desired-status",
            desired,
        ]);
        let arns: Vec<&str> = listed["taskArns"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_str)
            .collect();
        if arns.is_empty() {
            return vec![];
        }
        let mut args = vec!["ecs", "describe-tasks", "--cluster", "cruddur", "--tasks"];
        args.extend(arns);
        self.aws(&args)["tasks"].as_array().unwrap().clone()
    }

    /// How many revisions of `family` are registered.
    pub fn revisions(&self, family: &str) -> usize {
        let out = self.aws(&["ecs", "list-task-definitions", "--family-prefix", family]);
        out["taskDefinitionArns"].as_array().unwrap().len()
    }
}

/// A task's address on its network (awsvpc: the ENI's private IPv4 address).
fn task_address(task: &Value) -> Option<String> {
    task["attachments"].as_array()?.iter().find_map(|a| {
        a["details"].as_array()?.iter().find_map(|d| {
            (d["name"] == "privateIPv4Address").then(|| d["value"].as_str().unwrap().to_string())
        })
    })
}
