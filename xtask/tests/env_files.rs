//! The env files round-trip through real readers: docker's own `--env-file`
//! and docker compose's `env_file`.

mod common;

use std::collections::BTreeMap;

use common::{docker, require_base_images, run, xtask};

const TRICKY: &[(&str, &str)] = &[
    (
        "CONNECTION_URL",
        "postgresql://u:p#a'ss w\"rd=x@db:5432/cruddur?sslmode=require&x=1",
    ),
    ("ROLLBAR_ACCESS_TOKEN", "tok en#with spaces and ünïcode"),
    (
        "OTEL_EXPORTER_OTLP_HEADERS",
        "x-honeycomb-team=wJalr/K7MDENG+bPxRfi=CY",
    ),
    ("AWS_COGNITO_USER_POOL_ID", "us-east-1_AbC\\d"),
];

fn render(dir: &std::path::Path) -> BTreeMap<String, String> {
    let mut c = xtask(&["env"]);
    c.env("CRUDDUR_ROOT", dir)
        .env("AWS_DEFAULT_REGION", "us-east-1");
    c.envs(TRICKY.iter().copied());
    run(c).ok();
    TRICKY
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn values_read_back_the_same_through_docker_run_env_file() {
    require_base_images();
    let dir = tempfile::tempdir().unwrap();
    let expected = render(dir.path());
    let env_file = dir.path().join("backend-flask.env").display().to_string();
    let out = docker(&[
        "run",
        "--rm",
        "--network",
        "none",
        "--env-file",
        &env_file,
        "cruddur-base/python:3.11-bookworm",
        "python3",
        "-c",
        "import os, json; print(json.dumps(dict(os.environ)))",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let seen: BTreeMap<String, String> = serde_json::from_slice(&out.stdout).unwrap();
    for (k, v) in &expected {
        assert_eq!(seen.get(k), Some(v), "{k} through docker run --env-file");
    }
    assert_eq!(seen["FRONTEND_URL"], "http://localhost:3000");
}

#[test]
fn values_read_back_the_same_through_docker_compose_env_file() {
    let dir = tempfile::tempdir().unwrap();
    let expected = render(dir.path());
    std::fs::write(
        dir.path().join("docker-compose.yml"),
        "version: \"3.8\"\nservices:\n  probe:\n    image: cruddur-base/python:3.11-bookworm\n    env_file: backend-flask.env\n",
    )
    .unwrap();
    let compose = if std::process::Command::new("docker")
        .args(["compose", "version"])
        .output()
        .is_ok_and(|o| o.status.success())
    {
        vec!["docker", "compose"]
    } else {
        vec!["docker-compose"]
    };
    let out = std::process::Command::new(compose[0])
        .args(&compose[1..])
        .args([
            "--project-directory",
            &dir.path().display().to_string(),
            "-f",
        ])
        .arg(dir.path().join("docker-compose.yml"))
        .arg("config")
        .output()
        .expect("docker compose (cargo xtask test installs docker-compose)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // compose prints YAML; Debian's python3 (docker-compose's own) has PyYAML to read it.
    let mut parse = std::process::Command::new("/usr/bin/python3")
        .args(["-c", "import sys, json, yaml; print(json.dumps(yaml.safe_load(sys.stdin)['services']['probe']['environment']))"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write as _;
    parse.stdin.take().unwrap().write_all(&out.stdout).unwrap();
    let parsed = parse.wait_with_output().unwrap();
    assert!(parsed.status.success());
    let seen: BTreeMap<String, serde_json::Value> = serde_json::from_slice(&parsed.stdout).unwrap();
    for (k, v) in &expected {
        assert_eq!(
            seen.get(k).and_then(|s| s.as_str()),
            Some(v.as_str()),
            "{k} through compose"
        );
    }
}

/// Awkward values built from characters the two readers treat differently:
/// every value the tool would write must read back the same through docker's
/// `--env-file` and through compose's `env_file`; the rest it must refuse.
fn corpus() -> Vec<String> {
    let chars = [
        " ", "\t", "\u{a0}", "\u{b}", "\u{c}", "\u{2028}", "\u{3000}", "\u{200b}", "\"", "'", "`",
        "\\", "$", "#", "=", "{", "}", "é", "\\n",
    ];
    let mut values = Vec::new();
    for c in chars {
        for pattern in [
            "a{c}b", "a{c}#b", "{c}a", "a{c}", "{c}", "a#{c}b", "x={c}y", "{c}{c}",
        ] {
            values.push(pattern.replace("{c}", c));
        }
    }
    values
}

fn docker_reads(env_file: &std::path::Path) -> BTreeMap<String, String> {
    let out = docker(&[
        "run",
        "--rm",
        "--network",
        "none",
        "--env-file",
        &env_file.display().to_string(),
        "cruddur-base/python:3.11-bookworm",
        "python3",
        "-c",
        "import os, json; print(json.dumps(dict(os.environ)))",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn compose_reads(dir: &std::path::Path, env_file: &str) -> BTreeMap<String, serde_json::Value> {
    std::fs::write(
        dir.join("docker-compose.yml"),
        format!("version: \"3.8\"\nservices:\n  probe:\n    image: cruddur-base/python:3.11-bookworm\n    env_file: {env_file}\n"),
    )
    .unwrap();
    let out = std::process::Command::new("docker-compose")
        .args(["--project-directory", &dir.display().to_string(), "-f"])
        .arg(dir.join("docker-compose.yml"))
        .arg("config")
        .output()
        .expect("docker-compose (cargo xtask test installs it)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut parse = std::process::Command::new("/usr/bin/python3")
        .args(["-c", "import sys, json, yaml; print(json.dumps(yaml.safe_load(sys.stdin)['services']['probe'].get('environment', {})))"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write as _;
    parse.stdin.take().unwrap().write_all(&out.stdout).unwrap();
    let parsed = parse.wait_with_output().unwrap();
    assert!(parsed.status.success());
    serde_json::from_slice(&parsed.stdout).unwrap()
}

#[test]
fn every_value_the_tool_writes_reads_back_the_same_through_both_readers() {
    require_base_images();
    let dir = tempfile::tempdir().unwrap();
    let values = corpus();
    let accepted: Vec<(String, &String)> = values
        .iter()
        .enumerate()
        .filter(|(_, v)| xtask::env::check_writable(v).is_ok())
        .map(|(i, v)| (format!("CORPUS_{i}"), v))
        .collect();
    assert!(
        accepted.len() > 20 && accepted.len() < values.len(),
        "{}",
        accepted.len()
    );
    let text: String = accepted.iter().map(|(k, v)| format!("{k}={v}\n")).collect();
    let file = dir.path().join("corpus.env");
    std::fs::write(&file, text).unwrap();
    let by_docker = docker_reads(&file);
    let by_compose = compose_reads(dir.path(), "corpus.env");
    let mut misread = Vec::new();
    for (key, value) in &accepted {
        let docker_saw = by_docker.get(key);
        let compose_saw = by_compose.get(key).and_then(|v| v.as_str());
        if docker_saw != Some(*value) || compose_saw != Some(value.as_str()) {
            misread.push(format!(
                "{value:?}: docker {docker_saw:?}, compose {compose_saw:?}"
            ));
        }
    }
    assert!(
        misread.is_empty(),
        "accepted but read differently:\n{}",
        misread.join("\n")
    );
}
