//! What the sandbox must never do: hand the user's real AWS credentials to
//! its processes, put a password on a command line, accept push
//! notifications from anyone but its registry, or leave processes behind
//! when `up` fails.

mod common;

use common::{alive, docker, run, xtask, Sandbox};

fn proc_file(pid: u32, name: &str) -> String {
    String::from_utf8_lossy(&std::fs::read(format!("/proc/{pid}/{name}")).unwrap_or_default())
        .replace('\0', " ")
}

#[test]
fn processes_get_no_real_credentials_and_no_password_on_their_command_line() {
    let sandbox = Sandbox::start_with_env(
        &[],
        &[
            ("AWS_SESSION_TOKEN", "leaked-session-token-7f3a"),
            ("AWS_SECRET_ACCESS_KEY", "leaked-secret-key-9c1e"),
            ("AWS_PROFILE", "leaked-profile"),
            ("CRUDDUR_TEST_REGISTRY_PASSWORD", "argv-password-4d2b"),
        ],
    );
    let pids = sandbox.pids();
    assert_eq!(pids.len(), 2, "{pids:?}");
    for pid in pids {
        let environ = proc_file(pid, "environ");
        for leaked in [
            "leaked-session-token-7f3a",
            "leaked-secret-key-9c1e",
            "leaked-profile",
        ] {
            assert!(!environ.contains(leaked), "pid {pid} got {leaked}");
        }
        let cmdline = proc_file(pid, "cmdline");
        assert!(
            !cmdline.contains("argv-password-4d2b"),
            "password in argv: {cmdline}"
        );
    }
}

#[test]
fn the_push_bridge_refuses_notifications_without_the_registrys_secret() {
    let sandbox = Sandbox::start(&[]);
    let port = sandbox.state["bridge_port"].as_u64().unwrap();
    let body = r#"{"events":[{"action":"push","target":{"repository":"backend-flask","tag":"latest","digest":"sha256:0","mediaType":"application/vnd.docker.distribution.manifest.v2+json"}}]}"#;
    let post = |auth: Option<&str>| -> u16 {
        use std::io::{Read as _, Write as _};
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", port as u16)).unwrap();
        let auth = auth
            .map(|a| format!("Authorization: {a}\r\n"))
            .unwrap_or_default();
        write!(
            stream,
            "POST /events HTTP/1.0\r\nHost: x\r\nContent-Type: application/json\r\n{auth}Content-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        response.split_whitespace().nth(1).unwrap().parse().unwrap()
    };
    assert_eq!(post(None), 401);
    assert_eq!(post(Some("Bearer guessed")), 401);
}

#[test]
fn a_failing_up_leaves_nothing_of_its_own_running() {
    let dir = tempfile::tempdir().unwrap();
    let (_bin, path) = common::stand_in::first_on_path(
        "docker-registry",
        "#!/bin/sh\necho 'registry: cannot start' >&2\nexit 1\n",
    );
    let state = dir.path().join("state");
    let state_arg = state.display().to_string();
    let mut up = xtask(&[
        "sandbox",
        "up",
        "--state-dir",
        &state_arg,
        "--port-base",
        "0",
        "--no-base-images",
    ]);
    up.env("PATH", path);
    let out = run(up);
    assert_eq!(out.code, 1, "{}", out.all());
    let started: Vec<u32> = out
        .stdout
        .lines()
        .filter_map(|l| l.split("(pid ").nth(1))
        .filter_map(|rest| rest.split(',').next()?.parse().ok())
        .collect();
    assert!(
        !started.is_empty(),
        "it started something first:\n{}",
        out.stdout
    );
    for pid in started {
        assert!(!alive(pid), "pid {pid} still runs after a failed up");
    }
    // The network the agent was started with (its command line is echoed).
    let network = out
        .stdout
        .split("--network ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .expect("the agent's command line names its network")
        .to_string();
    assert!(
        !docker(&["network", "inspect", &network]).status.success(),
        "the failed up's network {network} is left"
    );
}
