use super::*;
use xshell::cmd;

fn sh_c(script: &str) -> Cmd {
    let sh = shell().unwrap();
    Cmd::from(cmd!(sh, "sh -c {script}"))
}

#[test]
fn the_last_value_set_wins_and_a_set_beats_a_removal() {
    let ctx = crate::ctx::Ctx::for_tests();
    let out = sh_c("echo $A $B")
        .env("A", "first")
        .env_remove("B")
        .env("A", "second")
        .env("B", "kept")
        .read(&ctx)
        .unwrap();
    assert_eq!(out, "second kept");
}

#[test]
fn a_launch_gives_another_process_the_environment_a_spawn_would() {
    let launch = sh_c("true")
        .env("A", "first")
        .env_remove("PATH")
        .env("A", "second")
        .env_remove("HOME")
        .env("HOME", "/kept")
        .dir("/tmp")
        .launch();
    assert_eq!(launch.program, "sh");
    assert_eq!(launch.args, ["-c", "true"]);
    assert_eq!(launch.dir.as_deref(), Some(std::path::Path::new("/tmp")));
    assert_eq!(launch.env.get("A").map(String::as_str), Some("second"));
    assert_eq!(launch.env.get("HOME").map(String::as_str), Some("/kept"));
    assert!(!launch.env.contains_key("PATH"));
}

/// A command written as every call site writes it.
fn c(sh: &xshell::Shell, line: &str) -> Cmd {
    let words: Vec<&str> = line.split(' ').collect();
    let (program, args) = (words[0], &words[1..]);
    Cmd::from(cmd!(sh, "{program} {args...}"))
}

fn dry() -> Ctx {
    Ctx::for_tests()
}

#[test]
fn display_quotes_and_redacts() {
    let (sh, password) = (shell().unwrap(), "hunter2 x");
    let c = Cmd::from(cmd!(sh, "docker login --username AWS {password}")).redact("hunter2");
    assert_eq!(c.display(), "docker login --username AWS '*** x'");
    assert_eq!(c.argv(), ["docker", "login", "--username", "AWS", "*** x"]);
}

#[test]
fn dry_run_runs_nothing() {
    // A program that does not exist would fail if it were started.
    let c = c(&shell().unwrap(), "definitely-not-a-program-xtask x");
    c.run(&dry()).unwrap();
    assert!(c.run_lines(&dry(), "[x] ").unwrap().is_empty());
}

#[test]
fn missing_program_says_how_to_install() {
    let ctx = Ctx {
        dry_run: false,
        ..dry()
    };
    let err = c(&shell().unwrap(), "definitely-not-a-program-xtask")
        .run(&ctx)
        .unwrap_err()
        .to_string();
    assert!(err.contains("not installed"), "{err}");
}

#[test]
fn failure_names_the_command_and_quotes_its_last_line() {
    let ctx = Ctx {
        dry_run: false,
        ..dry()
    };
    let err = sh_c("echo first; echo 'the reason' >&2; exit 3")
        .read(&ctx)
        .unwrap_err();
    let failed = err.downcast_ref::<Failed>().expect("a Failed error");
    assert!(failed.summary.contains("exit status 3"), "{failed}");
    assert!(failed.summary.ends_with("the reason"), "{failed}");
}

#[test]
fn run_lines_keeps_output_and_strips_control_characters() {
    let ctx = Ctx {
        dry_run: false,
        ..dry()
    };
    let lines = sh_c(r"printf 'a\rb\n\033[1mbold\033[0m\n'; echo err >&2")
        .run_lines(&ctx, "")
        .unwrap();
    assert_eq!(lines, ["b", "bold", "err"]);
}

/// What every long step relies on (apt, debootstrap, the SDK's compile):
/// a child silent for 25 s still gets a line every 10 s.
#[test]
fn a_silent_child_gets_a_heartbeat_line_every_10_seconds() {
    let ctx = Ctx {
        dry_run: false,
        ..dry()
    };
    let shown = std::sync::Mutex::new(Vec::new());
    let sink = |line: &str| shown.lock().unwrap().push(line.to_string());
    sh_c("sleep 25; echo done")
        .stream(
            &ctx,
            &Stream {
                heartbeat: Some(Duration::from_secs(10)),
                sink: Some(&sink),
                ..Stream::effect()
            },
        )
        .unwrap();
    let shown = shown.into_inner().unwrap();
    let beats = shown.iter().filter(|l| l.contains("still running")).count();
    assert!(beats >= 2, "{shown:?}");
    assert_eq!(shown.last().map(String::as_str), Some("done"));
}

/// Output that goes only to the log is silence on the terminal.
#[test]
fn hidden_output_does_not_hold_back_the_heartbeat() {
    let ctx = Ctx {
        dry_run: false,
        ..dry()
    };
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("chatty.log");
    let shown = std::sync::Mutex::new(Vec::new());
    let sink = |line: &str| shown.lock().unwrap().push(line.to_string());
    sh_c("for i in $(seq 1 24); do echo $i; sleep 0.5; done")
        .stream(
            &ctx,
            &Stream {
                show: &|_| false,
                log: Some(&log),
                heartbeat: Some(Duration::from_secs(5)),
                sink: Some(&sink),
                ..Stream::effect()
            },
        )
        .unwrap();
    let beats = shown.into_inner().unwrap();
    assert!(beats.len() >= 2, "{beats:?}");
}

#[test]
fn a_failure_names_the_log_with_the_full_output() {
    let ctx = Ctx {
        dry_run: false,
        ..dry()
    };
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("step.log");
    let err = sh_c("echo one; echo two; exit 4")
        .stream(
            &ctx,
            &Stream {
                show: &|_| false,
                log: Some(&log),
                ..Stream::effect()
            },
        )
        .unwrap_err();
    let msg = format!("{err:#}");
    assert!(msg.contains("step.log") && msg.contains("two"), "{msg}");
    assert_eq!(std::fs::read_to_string(&log).unwrap(), "one\ntwo\n");
}

#[test]
fn the_short_name_skips_leading_long_options() {
    let sh = shell().unwrap();
    let file = "/repo/docker-compose.yml";
    let compose = Cmd::from(cmd!(
        sh,
        "/usr/bin/docker-compose --file {file} --project-directory /repo build backend-flask"
    ));
    assert_eq!(compose.short_display(), "docker-compose build");
    assert_eq!(
        c(&sh, "docker build --file x .").short_display(),
        "docker build"
    );
    assert_eq!(c(&sh, "sh -c true").short_display(), "sh -c");
    assert_eq!(c(&sh, "tar --numeric-owner -C x").short_display(), "tar -C");
    assert_eq!(c(&sh, "git").short_display(), "git");
}

#[test]
fn secret_stdin_reaches_the_program() {
    let ctx = Ctx {
        dry_run: false,
        ..dry()
    };
    let out = c(&shell().unwrap(), "cat")
        .secret_stdin("s3cret")
        .read(&ctx)
        .unwrap();
    assert_eq!(out, "s3cret");
}
