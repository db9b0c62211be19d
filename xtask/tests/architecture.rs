//! ARCHITECTURE.md stays true: every command `--help` lists is in its table,
//! and every path it names exists.

mod common;

use common::{repo_root, run, xtask};

fn architecture() -> String {
    std::fs::read_to_string(repo_root().join("ARCHITECTURE.md")).unwrap()
}

/// The subcommands `cargo xtask --help` lists (without `help`).
fn commands() -> Vec<String> {
    let help = run(xtask(&["--help"])).ok().stdout;
    help.split("Commands:")
        .nth(1)
        .and_then(|rest| rest.split("Options:").next())
        .expect("a Commands section")
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .map(str::to_string)
        .collect()
}

#[test]
fn every_command_is_in_the_table() {
    let text = architecture();
    let table: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("| `"))
        .map(|l| l.split('|').nth(1).unwrap_or_default())
        .collect();
    let commands = commands();
    assert!(commands.len() > 20, "{commands:?}");
    let missing: Vec<&String> = commands
        .iter()
        .filter(|c| !table.iter().any(|cell| cell.contains(&format!("`{c}`"))))
        .collect();
    assert!(
        missing.is_empty(),
        "not in ARCHITECTURE.md's table: {missing:?}"
    );
}

#[test]
fn every_path_it_names_exists() {
    let text = architecture();
    let named: Vec<&str> = text
        .split('`')
        .skip(1)
        .step_by(2)
        .filter(|s| s.contains('/') && !s.contains(' ') && !s.starts_with("cargo"))
        .collect();
    assert!(named.len() > 30, "{named:?}");
    let missing: Vec<&&str> = named
        .iter()
        .filter(|p| !repo_root().join(p.trim_end_matches('/')).exists())
        .collect();
    assert!(
        missing.is_empty(),
        "ARCHITECTURE.md names what is not there: {missing:?}"
    );
}
