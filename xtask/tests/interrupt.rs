//! Ctrl-C while a deploy or a rollback is being watched: the tool stops
//! watching (ECS carries on), says exactly what it had already sent to ECS
//! and what it had not, and how to go on. SIGINT is sent to the real binary,
//! while it waits for an answer from ECS (a proxy holds DescribeServices'
//! answers back): a Ctrl-C then was once lost, and the watch went on.

mod common;

use std::io::{BufRead as _, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::proxy::Proxy;
use common::{require_prod_image, Sandbox};

/// Starts `c`, waits for a stdout line containing `marker`, sends SIGINT,
/// and returns (exit code, everything printed).
fn interrupt_when(mut c: Command, marker: &str) -> (i32, String) {
    c.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut seen = String::new();
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            seen.push_str(&line);
            seen.push('\n');
            let _ = tx.send(line);
        }
        seen
    });
    let started = Instant::now();
    loop {
        let line = rx
            .recv_timeout(Duration::from_secs(180).saturating_sub(started.elapsed()))
            .expect("the marker line never came");
        if line.contains(marker) {
            break;
        }
    }
    // Let one poll go by, then Ctrl-C.
    std::thread::sleep(Duration::from_secs(1));
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let waited = Instant::now();
    let exit = loop {
        if let Some(exit) = child.try_wait().unwrap() {
            break exit;
        }
        if waited.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            panic!(
                "Ctrl-C was not acted on in 30 s; it printed:\n{}",
                reader.join().unwrap()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    let stdout = reader.join().unwrap();
    (exit.code().unwrap_or(-1), format!("{stdout}{stderr}"))
}

#[test]
fn ctrl_c_during_a_watch_or_a_rollback_says_what_was_sent_and_how_to_go_on() {
    require_prod_image("backend");
    // Tasks are provisioned but never start: every deployment stays in progress.
    let sandbox = Sandbox::start(&["--ecs-running", "0"]);
    sandbox.run(&["ecr", "create"]).ok();
    sandbox.run(&["cluster", "create"]).ok();
    sandbox.run(&["push", "backend"]).ok();
    sandbox
        .run(&["deploy", "backend", "--no-build", "--no-wait"])
        .ok();

    // Each poll's DescribeServices answers 3 s late: the Ctrl-C, a second
    // after the watch begins, comes while the tool waits for the first one.
    let slow = Proxy::slow(
        &sandbox.export("AWS_ENDPOINT_URL"),
        "DescribeServices",
        Duration::from_secs(3),
    );
    let mut deploy = sandbox.xtask(&["deploy", "backend", "--no-build", "--poll-interval", "1s"]);
    deploy
        .env("CRUDDUR_FRONTEND_URL", "https://interrupted.example")
        .env("AWS_ENDPOINT_URL", &slow.url);
    let (code, out) = interrupt_when(deploy, "watching deployment");
    assert_ne!(code, 0, "{out}");
    assert!(
        out.contains("Already sent to ECS: backend-flask:2 registered and UpdateService (deployment ecs-svc/"),
        "{out}"
    );
    assert!(out.contains("nothing else was sent"), "{out}");
    assert!(out.contains("cargo xtask rollback backend"), "{out}");

    let mut rollback = sandbox.xtask(&["rollback", "backend", "--poll-interval", "1s"]);
    rollback.env("AWS_ENDPOINT_URL", &slow.url);
    let (code, out) = interrupt_when(rollback, "watching deployment");
    assert_ne!(code, 0, "{out}");
    assert!(
        out.contains("Already sent to ECS: UpdateService back to backend-flask:1"),
        "{out}"
    );
    assert!(out.contains("cargo xtask status backend"), "{out}");
}
