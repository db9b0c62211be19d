//! The shape the front-door issue gave the source, kept: files short enough
//! to read at once, and settings that never travel through the process
//! environment.

mod common;

use std::path::{Path, PathBuf};

/// Longest a file of either build may grow.
const MAX_LINES: usize = 600;

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn sources(dir: &str) -> Vec<(PathBuf, String)> {
    let mut files = Vec::new();
    rust_files(&common::repo_root().join(dir), &mut files);
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(&p).unwrap();
            (p, text)
        })
        .collect()
}

#[test]
fn no_file_of_either_build_is_over_600_lines() {
    let mut files = sources("xtask/src");
    files.extend(sources("xtask-aws/src"));
    let long: Vec<String> = files
        .iter()
        .filter(|(_, text)| text.lines().count() > MAX_LINES)
        .map(|(p, text)| format!("{} ({} lines)", p.display(), text.lines().count()))
        .collect();
    assert!(long.is_empty(), "split these: {long:?}");
}

#[test]
fn no_code_sets_the_process_environment() {
    let mut files = sources("xtask/src");
    files.extend(sources("xtask-aws/src"));
    let offenders: Vec<String> = files
        .iter()
        .filter(|(p, _)| !p.ends_with("tests.rs"))
        .flat_map(|(p, text)| {
            text.lines()
                .enumerate()
                .filter(|(_, l)| l.contains("env::set_var") || l.contains("env::remove_var"))
                .map(move |(i, l)| format!("{}:{}: {}", p.display(), i + 1, l.trim()))
        })
        .collect();
    assert!(
        offenders.is_empty(),
        "settings go through Ctx, not the environment: {offenders:?}"
    );
}

/// A Gitpod prebuild compiles both builds: a workspace's first AWS command
/// then compiles nothing (the AWS build's cold compile is minutes).
#[test]
fn gitpods_init_compiles_the_aws_build_where_the_tool_looks_for_it() {
    let gitpod = std::fs::read_to_string(common::repo_root().join(".gitpod.yml")).unwrap();
    let init = gitpod
        .split("init: |")
        .nth(1)
        .and_then(|rest| rest.split("command:").next())
        .expect("a task with an init");
    assert!(init.contains("cargo xtask env"), "{init}");
    assert!(
        init.contains(
            "cargo build --bin xtask-aws --manifest-path xtask-aws/Cargo.toml --target-dir target"
        ),
        "{init}"
    );
}
