//! The tool acts on the checkout it is run in, and its two builds never
//! replace each other: two clones sharing one target directory each write
//! their own files; light and AWS commands run side by side without failing.

mod common;

use std::path::Path;
use std::process::Command;

use common::{repo_root, run};

fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".into())
}

/// The tool's sources (what a clone has), without build output.
fn copy_checkout(to: &Path) {
    let root = repo_root();
    for entry in [
        "Cargo.toml",
        "Cargo.lock",
        ".cargo",
        "xtask",
        "xtask-aws/Cargo.toml",
        "xtask-aws/Cargo.lock",
        "xtask-aws/src",
        // Fargate's task sizes: one file, read by the sandbox and compiled into the light build.
        "sandbox/cruddur_sandbox/fargate_limits.json",
    ] {
        let status = Command::new("cp")
            .args(["-r", "--parents", entry])
            .arg(to)
            .current_dir(&root)
            .status()
            .unwrap();
        assert!(status.success(), "copying {entry}");
    }
}

/// `cargo xtask …` run inside `dir`, as a user in that clone would.
fn cargo_xtask(dir: &Path, target: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(cargo());
    c.arg("xtask").args(args).current_dir(dir);
    common::scrub(&mut c);
    // What `cargo run` sets for the tool, it must find by itself.
    c.env_remove("CARGO_MANIFEST_DIR")
        .env("CARGO_TARGET_DIR", target);
    c
}

#[test]
fn two_clones_sharing_a_target_directory_each_write_their_own_env_files() {
    let tmp = tempfile::tempdir().unwrap();
    // A target directory of this test's own, kept between runs: the light
    // build's dependencies compiled from nothing took a minute of both cores
    // each run. The clones are new each time, so their own packages are built.
    let (a, b, target) = (
        tmp.path().join("a"),
        tmp.path().join("b"),
        repo_root().join("target/front-door"),
    );
    for clone in [&a, &b] {
        std::fs::create_dir_all(clone).unwrap();
        copy_checkout(clone);
    }
    let env_in = |clone: &Path, secret: &str| {
        let mut c = cargo_xtask(clone, &target, &["env"]);
        c.env("AWS_DEFAULT_REGION", "us-east-1")
            .env("ROLLBAR_ACCESS_TOKEN", secret);
        run(c).ok();
    };
    env_in(&a, "secret-of-clone-a");
    // Clone B reuses the binary cargo built for A (same target directory).
    env_in(&b, "secret-of-clone-b");
    let file = |clone: &Path| std::fs::read_to_string(clone.join("backend-flask.env")).unwrap();
    assert!(file(&a).contains("ROLLBAR_ACCESS_TOKEN=secret-of-clone-a\n"));
    assert!(file(&b).contains("ROLLBAR_ACCESS_TOKEN=secret-of-clone-b\n"));
    assert!(!file(&a).contains("clone-b"), "clone B wrote into clone A");
}

#[test]
fn light_and_aws_commands_run_side_by_side_without_failing() {
    let root = repo_root();
    let scratch = tempfile::tempdir().unwrap();
    let runs = 15;
    let light = std::thread::spawn({
        let root = root.clone();
        let scratch = scratch.path().to_path_buf();
        move || {
            (0..runs)
                .map(|_| {
                    let mut c = Command::new(cargo());
                    c.args(["xtask", "env", "--stdout"])
                        .current_dir(&root)
                        .env("CRUDDUR_ROOT", &scratch)
                        .env("AWS_DEFAULT_REGION", "us-east-1")
                        .env("AWS_ACCESS_KEY_ID", "k")
                        .env("AWS_SECRET_ACCESS_KEY", "s");
                    let out = run(c);
                    (out.code, out.all())
                })
                .collect::<Vec<_>>()
        }
    });
    let aws: Vec<(i32, String)> = (0..runs)
        .map(|_| {
            let mut c = Command::new(cargo());
            c.args(["xtask", "--dry-run", "ecr", "create", "all"])
                .current_dir(&root);
            let out = run(c);
            let ok = out
                .stdout
                .contains("[dry-run] ecr CreateRepository repositoryName=backend-flask");
            (if ok { out.code } else { -1 }, out.all())
        })
        .collect();
    for (code, output) in light.join().unwrap().into_iter().chain(aws) {
        assert_eq!(code, 0, "{output}");
    }
}

/// A failing compile of the AWS part is the tool's failure (exit 1, cargo's
/// output above one line saying so), never cargo's own exit code 101.
#[test]
fn an_aws_part_that_does_not_compile_fails_with_exit_1_and_says_so() {
    let tmp = tempfile::tempdir().unwrap();
    let clone = tmp.path();
    copy_checkout(clone);
    let main = clone.join("xtask-aws/src/main.rs");
    let mut text = std::fs::read_to_string(&main).unwrap();
    text.push_str("\ncompile_error!(\"broken on purpose by the front door test\");\n");
    std::fs::write(&main, text).unwrap();
    // The light build as built for this test run; its AWS part goes to the
    // same target directory (the clone's packages get their own artifacts).
    let mut c = Command::new(env!("CARGO_BIN_EXE_xtask"));
    c.args(["ecr", "create"]).current_dir(clone);
    common::scrub(&mut c);
    c.env_remove("CARGO_MANIFEST_DIR");
    let out = run(c);
    let all = out.all();
    assert_eq!(out.code, 1, "{all}");
    assert!(
        all.contains("broken on purpose"),
        "cargo's error is shown:\n{all}"
    );
    assert!(
        all.contains("error: the AWS part of the tool (xtask-aws) did not compile"),
        "{all}"
    );
}
