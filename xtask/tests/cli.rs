//! The command line as a user meets it: help, bad input, env files, and dry
//! runs (which must print exactly the docker commands and AWS calls, and run none).

mod common;

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

use common::{repo_root, run, xtask};

const ENV_VARS: &[(&str, &str)] = &[
    ("AWS_DEFAULT_REGION", "ca-central-1"),
    // A developer's real keys: they must never reach an env file (issue 31).
    ("AWS_ACCESS_KEY_ID", "AKIACLITESTKEY000001"),
    ("AWS_SECRET_ACCESS_KEY", "cli-test-secret-value-0001"),
    (
        "CONNECTION_URL",
        "postgresql://u:cli-db-secret-0001@db:5432/cruddur",
    ),
];

/// The tool with its root in a scratch folder (env files land there).
fn in_scratch(dir: &Path, args: &[&str]) -> std::process::Command {
    let mut c = xtask(args);
    c.env("CRUDDUR_ROOT", dir);
    c
}

#[test]
fn help_lists_every_command_of_the_contract() {
    let out = run(xtask(&["--help"])).ok();
    for command in [
        "env", "build", "run", "up", "down", "ecr", "push", "cluster", "service", "deploy", "diff",
        "rollback", "status", "connect", "sandbox", "test", "bench",
    ] {
        assert!(
            out.stdout
                .lines()
                .any(|l| l.trim_start().starts_with(command)),
            "{command} missing:\n{}",
            out.stdout
        );
    }
    let ecr = run(xtask(&["ecr", "--help"])).ok();
    for sub in ["login", "create", "mirror-base"] {
        assert!(ecr.stdout.contains(sub), "{}", ecr.stdout);
    }
}

#[test]
fn an_unknown_service_lists_the_valid_ones_and_exits_2() {
    for args in [
        &["build", "db"][..],
        &["deploy", "api"],
        &["env", "nope"],
        &["diff", "all"],
    ] {
        let out = run(xtask(args)).fails_with(2);
        for name in ["backend", "backend-flask", "frontend", "frontend-react-js"] {
            assert!(out.stderr.contains(name), "{args:?}: {}", out.stderr);
        }
    }
}

#[test]
fn env_names_every_missing_variable_at_once_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(in_scratch(dir.path(), &["env"])).fails_with(2);
    assert!(out.stderr.contains("AWS_DEFAULT_REGION"), "{}", out.stderr);
    assert!(
        !out.stderr.contains("AWS_SECRET_ACCESS_KEY"),
        "keys are not asked for: {}",
        out.stderr
    );
    assert_eq!(
        out.stderr.trim().lines().count(),
        1,
        "one line: {}",
        out.stderr
    );
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "nothing written"
    );
}

#[test]
fn env_writes_both_files_private_and_check_notices_drift() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = in_scratch(dir.path(), &["env"]);
    c.envs(ENV_VARS.iter().copied());
    let out = run(c).ok();
    assert!(
        !out.all().contains("cli-test-secret-value-0001"),
        "secret printed: {}",
        out.all()
    );
    for name in ["backend-flask.env", "frontend-react-js.env"] {
        let path = dir.path().join(name);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{name}");
    }
    let backend = std::fs::read_to_string(dir.path().join("backend-flask.env")).unwrap();
    assert!(
        backend.contains("\nCONNECTION_URL=postgresql://u:cli-db-secret-0001@db:5432/cruddur\n")
    );
    assert!(
        backend.contains("\nAWS_SECRET_ACCESS_KEY=cruddur-local-development\n")
            && !backend.contains("cli-test-secret-value-0001")
            && !backend.contains("AKIACLITESTKEY000001"),
        "only development keys in the env file: {backend}"
    );
    assert!(backend.contains("\nFRONTEND_URL=http://localhost:3000\n"));

    let mut check = in_scratch(dir.path(), &["env", "--check"]);
    check.envs(ENV_VARS.iter().copied());
    run(check).ok();

    let mut drifted = in_scratch(dir.path(), &["env", "--check"]);
    drifted
        .envs(ENV_VARS.iter().copied())
        .env("GITPOD_WORKSPACE_ID", "ws1")
        .env("GITPOD_WORKSPACE_CLUSTER_HOST", "gitpod.io");
    let out = run(drifted).fails_with(1);
    assert!(
        out.stderr.contains("backend-flask.env") && out.stderr.contains("frontend-react-js.env"),
        "{}",
        out.stderr
    );
}

#[test]
fn stdout_hides_secrets_unless_asked() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = in_scratch(dir.path(), &["env", "--stdout"]);
    c.envs(ENV_VARS.iter().copied())
        .env("ROLLBAR_ACCESS_TOKEN", "rollbar-token-xyz");
    let out = run(c).ok();
    for secret in [
        "cli-test-secret-value-0001",
        "AKIACLITESTKEY000001",
        "cli-db-secret-0001",
        "rollbar-token-xyz",
    ] {
        assert!(
            !out.stdout.contains(secret),
            "{secret} shown:\n{}",
            out.stdout
        );
    }
    assert!(out.stdout.contains("CONNECTION_URL=***"));
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "--stdout writes nothing"
    );

    let mut shown = in_scratch(dir.path(), &["env", "--stdout", "--show-secrets"]);
    shown.envs(ENV_VARS.iter().copied());
    let shown = run(shown).ok().stdout;
    assert!(shown.contains("cli-db-secret-0001"), "{shown}");
    assert!(
        !shown.contains("cli-test-secret-value-0001"),
        "a developer's keys are never in the env files: {shown}"
    );
}

/// A `docker` that records every call: a dry run must leave its log empty.
fn fake_docker(dir: &Path) -> (String, std::path::PathBuf) {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let log = dir.join("docker-calls.log");
    let script = format!("#!/bin/sh\necho \"$@\" >> {}\nexit 0\n", log.display());
    for program in ["docker", "docker-compose"] {
        std::fs::write(bin.join(program), &script).unwrap();
        std::fs::set_permissions(bin.join(program), std::fs::Permissions::from_mode(0o755))
            .unwrap();
    }
    (
        format!("{}:{}", bin.display(), std::env::var("PATH").unwrap()),
        log,
    )
}

fn dry_run(dir: &Path, args: &[&str]) -> Vec<Vec<String>> {
    let (path, log) = fake_docker(dir);
    let mut c = in_scratch(dir, args);
    c.env("PATH", path)
        .envs(ENV_VARS.iter().copied())
        .env("CRUDDUR_BASE_IMAGES", "sandbox");
    let out = run(c).ok();
    assert!(
        !log.exists(),
        "a dry run ran docker: {}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    out.dry_run_argvs()
}

#[test]
fn dry_run_build_prints_the_exact_docker_build_and_runs_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().display().to_string();
    let argvs = dry_run(
        dir.path(),
        &["build", "backend", "--tag", "v9", "--dry-run"],
    );
    assert_eq!(
        argvs,
        vec![vec![
            "docker",
            "build",
            "--file",
            &format!("{root}/backend-flask/Dockerfile.prod"),
            "--tag",
            "backend-flask-prod",
            "--tag",
            "backend-flask-prod:v9",
            "--build-arg",
            "PYTHON_IMAGE=cruddur-base/python:3.11-bookworm",
            "--force-rm",
            &format!("{root}/backend-flask"),
        ]]
    );
    // The prod front end bakes no setting in: its container reads them at start.
    let all = dry_run(dir.path(), &["build", "all", "--dry-run"]);
    assert_eq!(all.len(), 2);
    let frontend = all
        .iter()
        .find(|a| a.contains(&"frontend-react-js-prod".to_string()))
        .expect("frontend build");
    assert!(frontend.contains(&format!("{root}/frontend-react-js/Dockerfile.prod")));
    assert!(
        frontend
            .iter()
            .all(|a| !a.starts_with("REACT_APP_") && !a.starts_with("org.cruddur.api-url")),
        "{frontend:?}"
    );
    for arg in [
        "NODE_IMAGE=cruddur-base/node:20-trixie",
        "NGINX_IMAGE=cruddur-base/nginx:bookworm",
    ] {
        assert!(
            frontend.contains(&arg.to_string()),
            "{arg} missing from {frontend:?}"
        );
    }
    assert_eq!(
        std::fs::read_dir(dir.path())
            .unwrap()
            .filter(|e| e
                .as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "env"))
            .count(),
        0,
        "a dry run writes no env file"
    );
}

#[test]
fn dry_run_run_up_and_down_print_their_docker_commands() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().display().to_string();
    let argvs = dry_run(dir.path(), &["run", "frontend", "--detach", "--dry-run"]);
    assert_eq!(
        argvs,
        vec![
            vec!["docker", "network", "create", "cruddur-net"],
            vec![
                "docker",
                "run",
                "--rm",
                "--name",
                "frontend-react-js",
                "--env-file",
                &format!("{root}/frontend-react-js.env"),
                "--network",
                "cruddur-net",
                "--publish",
                "127.0.0.1:3000:3000",
                "--detach",
                "frontend-react-js-prod",
            ],
        ]
    );
    let compose = |args: &[&str]| -> Vec<String> {
        [
            &[
                "docker",
                "compose",
                "--file",
                &format!("{root}/docker-compose.yml"),
                "--project-directory",
                &root,
            ][..],
            args,
        ]
        .concat()
        .iter()
        .map(std::string::ToString::to_string)
        .collect()
    };
    let up = dry_run(dir.path(), &["up", "--build", "--dry-run"]);
    let ddb = format!("{root}/dynamodb-local");
    let network = ["docker", "network", "create", "cruddur-net"].map(String::from);
    assert_eq!(up[up.len() - 6], network, "{up:?}");
    assert_eq!(
        up[up.len() - 5..],
        [
            [
                "docker",
                "build",
                "--file",
                &format!("{ddb}/Dockerfile"),
                "--tag",
                "cruddur-dynamodb-local",
                "--label",
                "org.cruddur.recipe=<hash of the Dockerfile and the base image>",
                "--build-arg",
                "PYTHON_IMAGE=cruddur-base/python:3.11-bookworm",
                "--force-rm",
                &ddb,
            ]
            .map(String::from)
            .to_vec(),
            compose(&["build", "backend-flask", "frontend-react-js"]),
            compose(&["up", "--detach"]),
            compose(&["exec", "-T", "backend-flask", "python3", "bin/db-setup"]),
            compose(&["exec", "-T", "backend-flask", "python3", "bin/ddb-setup"]),
        ]
    );
    let down = dry_run(dir.path(), &["down", "--dry-run"]);
    assert_eq!(
        down,
        vec![
            compose(&["down", "--remove-orphans"]),
            ["docker", "network", "rm", "cruddur-net"]
                .map(String::from)
                .to_vec(),
        ]
    );
}

#[test]
fn aws_dry_runs_print_the_calls_and_need_no_credentials() {
    let out = run(xtask(&["ecr", "create", "--dry-run"])).ok();
    for repo in ["backend-flask", "frontend-react-js", "cruddur-python"] {
        assert!(
            out.stdout.contains(&format!(
                "[dry-run] ecr CreateRepository repositoryName={repo}"
            )),
            "{}",
            out.stdout
        );
    }
    let mut deploy = xtask(&["deploy", "backend", "--no-build", "--dry-run"]);
    deploy
        .env("CRUDDUR_SUBNETS", "subnet-1")
        .env("CRUDDUR_SECURITY_GROUP", "sg-1");
    let out = run(deploy).ok();
    for call in [
        "ecr DescribeImages",
        "ecs DescribeServices",
        "ecs RegisterTaskDefinition",
        "ecs CreateService",
    ] {
        assert!(
            out.stdout.contains(&format!("[dry-run] {call}")),
            "{call}:\n{}",
            out.stdout
        );
    }
    let status = run(xtask(&["status", "--dry-run"])).ok();
    assert!(
        status
            .stdout
            .contains("[dry-run] ecs DescribeServices cluster=cruddur"),
        "{}",
        status.stdout
    );
}

#[test]
fn generated_env_files_are_git_ignored() {
    let gitignore = std::fs::read_to_string(repo_root().join(".gitignore")).unwrap();
    assert!(gitignore.lines().any(|l| l.trim() == "*.env"));
}

/// The README's env table documents every variable the templates write.
#[test]
fn readme_env_table_covers_every_template_variable() {
    let readme = std::fs::read_to_string(repo_root().join("README.md")).unwrap();
    for template in ["backend-flask.env.txt", "frontend-react-js.env.txt"] {
        let text =
            std::fs::read_to_string(repo_root().join("xtask/templates").join(template)).unwrap();
        for key in text
            .lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| l.split_once('='))
            .map(|(k, _)| k)
        {
            assert!(
                readme.contains(&format!("| `{key}` |")),
                "README's env table lacks {key}"
            );
        }
    }
}

/// The README's settings table documents every setting the command line reads.
#[test]
fn readme_settings_table_covers_every_setting() {
    let readme = std::fs::read_to_string(repo_root().join("README.md")).unwrap();
    let help = run(xtask(&["--help"])).ok().stdout;
    let documented: Vec<&str> = help
        .split("[env: ")
        .skip(1)
        .filter_map(|rest| rest.split(['=', ']']).next())
        .collect();
    assert!(documented.len() >= 10, "{help}");
    for name in documented {
        assert!(
            readme.contains(&format!("| `{name}` (")),
            "README's settings table lacks {name}"
        );
    }
}

#[test]
fn no_docker_on_path_says_how_to_install_it_in_one_line() {
    let empty = tempfile::tempdir().unwrap();
    let mut c = xtask(&["build", "backend"]);
    c.env("PATH", empty.path());
    let out = run(c).fails_with(1);
    assert_eq!(out.stderr.trim().lines().count(), 1, "{}", out.stderr);
    assert!(
        out.stderr.contains("`docker` is not installed")
            && out.stderr.contains("apt-get install docker.io"),
        "{}",
        out.stderr
    );
}

#[test]
fn a_docker_daemon_that_does_not_answer_says_how_to_start_one() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = xtask(&["run", "backend"]);
    c.env(
        "DOCKER_HOST",
        format!("unix://{}/no-daemon.sock", dir.path().display()),
    );
    let out = run(c).fails_with(1);
    assert_eq!(out.stderr.trim().lines().count(), 1, "{}", out.stderr);
    assert!(
        out.stderr.contains("docker daemon is not running") && out.stderr.contains("dockerd"),
        "{}",
        out.stderr
    );
}

/// The README's exit-code contract, over every command: 0 success, 1 the
/// operation failed, 2 bad usage or bad input (and no AWS credentials are
/// needed to be told the input is bad).
/// A copy of `infra/` whose backend task definition misspells a field.
fn misspelt_infra(dir: &std::path::Path) -> std::path::PathBuf {
    let scratch = dir.join("root");
    std::fs::create_dir_all(scratch.join("infra")).unwrap();
    let status = std::process::Command::new("cp")
        .args(["-r", "infra/task-definitions", "infra/services"])
        .arg(scratch.join("infra"))
        .current_dir(repo_root())
        .status()
        .unwrap();
    assert!(status.success());
    let td = scratch.join("infra/task-definitions/backend-flask.json");
    let text = std::fs::read_to_string(&td).unwrap();
    std::fs::write(&td, text.replace("\"essential\"", "\"esential\"")).unwrap();
    scratch
}

#[test]
fn exit_codes_follow_the_readme_for_every_command() {
    // The AWS build compiled first: its progress lines are not an error's.
    run(xtask(&["--dry-run", "status"])).ok();
    let dir = tempfile::tempdir().unwrap();
    let scratch = misspelt_infra(dir.path());
    let empty_path = dir.path().join("empty-bin");
    std::fs::create_dir_all(&empty_path).unwrap();
    let (fake_path, _) = fake_docker(dir.path());
    let no_daemon = format!("unix://{}/no.sock", dir.path().display());
    let state = dir.path().join("sandbox-state").display().to_string();
    let sandbox_status = ["sandbox", "status", "--state-dir", state.as_str()];
    let root = scratch.display().to_string();
    let keys: &[(&str, &str)] = ENV_VARS;
    let lb_settings: &[(&str, &str)] = &[
        ("CRUDDUR_SUBNETS", "subnet-1"),
        ("CRUDDUR_SECURITY_GROUP", "sg-1"),
        ("CRUDDUR_VPC_ID", "vpc-1"),
        (
            "CRUDDUR_CERTIFICATE_ARN",
            "arn:aws:acm:us-east-1:123456789012:certificate/c1",
        ),
    ];
    let sandbox_like: &[(&str, &str)] = &[
        ("CRUDDUR_SUBNETS", "subnet-1"),
        ("CRUDDUR_SECURITY_GROUP", "sg-1"),
    ];
    type Row<'a> = (&'a [&'a str], Vec<(&'static str, String)>, i32);
    fn env(pairs: &[(&'static str, &str)]) -> Vec<(&'static str, String)> {
        pairs.iter().map(|(k, v)| (*k, v.to_string())).collect()
    }
    let rows: Vec<Row> = vec![
        (&["env"], vec![("CRUDDUR_ROOT", root.clone())], 2),
        (&["env", "--stdout"], env(keys), 0),
        (&["build", "db"], vec![], 2),
        (
            &["build", "backend"],
            vec![("PATH", empty_path.display().to_string())],
            1,
        ),
        (&["run", "api"], vec![], 2),
        (&["up"], vec![("DOCKER_HOST", no_daemon.clone())], 1),
        (&["down"], vec![("DOCKER_HOST", no_daemon.clone())], 1),
        (&["ecr", "create"], vec![], 2),
        (
            &["ecr", "login", "--dry-run"],
            vec![("PATH", fake_path.clone())],
            0,
        ),
        (&["push", "backend"], vec![("PATH", fake_path.clone())], 2),
        (&["cluster", "create", "--dry-run"], env(lb_settings), 0),
        // The load balancer needs the network settings and the certificate: bad input without them.
        (&["cluster", "create", "--dry-run"], vec![], 2),
        (&["service", "create", "all"], vec![], 2),
        (&["deploy", "all"], env(keys), 2),
        (&["deploy", "all", "--dry-run"], env(keys), 2),
        (
            &["deploy", "backend", "--no-build"],
            [
                env(keys),
                env(sandbox_like),
                vec![("CRUDDUR_ROOT", root.clone())],
            ]
            .concat(),
            2,
        ),
        (
            &["diff", "backend"],
            [env(sandbox_like), vec![("CRUDDUR_ROOT", root.clone())]].concat(),
            2,
        ),
        (&["rollback", "backend", "--dry-run"], vec![], 0),
        (&["status", "--dry-run"], vec![], 0),
        // No `aws` CLI or Session Manager plugin on this machine's PATH.
        (&["connect", "backend"], vec![], 1),
        (&sandbox_status, vec![], 0),
        (&["demo", "--port-base", "70000"], vec![], 2),
        (&["test", "--no-such-flag"], vec![], 2),
        (&["bench", "--runs", "0"], vec![], 2),
        (&["no-such-command"], vec![], 2),
    ];
    for (args, env, code) in rows {
        let mut c = xtask(args);
        c.envs(env.iter().map(|(k, v)| (*k, v.as_str())));
        let out = run(c);
        assert_eq!(out.code, code, "{args:?}:\n{}", out.all());
        // clap's usage errors add a hint line; every other error is one line.
        let usage = out.stderr.contains("For more information, try '--help'");
        if code != 0 && !usage {
            assert_eq!(
                out.stderr.trim().lines().count(),
                1,
                "{args:?}: one line:\n{}",
                out.stderr
            );
        }
    }
}
