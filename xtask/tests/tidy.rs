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

/// Longest a function may grow (tests included).
const MAX_FN_LINES: usize = 100;

fn all_sources() -> Vec<(PathBuf, String)> {
    let mut files = sources("xtask/src");
    files.extend(sources("xtask-aws/src"));
    files.extend(sources("xtask/tests"));
    files
}

#[test]
fn no_file_of_either_build_is_over_600_lines() {
    let files = all_sources();
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

/// `text` with string and char literals and comments blanked (newlines
/// kept), so braces inside them do not count.
fn code_only(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let blank = |out: &mut String, s: &[u8]| {
        out.extend(s.iter().map(|&c| if c == b'\n' { '\n' } else { ' ' }));
    };
    let mut i = 0;
    while i < b.len() {
        let rest = &b[i..];
        let end = if rest.starts_with(b"//") {
            rest.iter().position(|&c| c == b'\n').unwrap_or(rest.len())
        } else if rest.starts_with(b"/*") {
            rest.windows(2)
                .position(|w| w == b"*/")
                .map_or(rest.len(), |p| p + 2)
        } else if rest.starts_with(b"r#\"") || rest.starts_with(b"r\"") {
            let hashes = rest[1..].iter().take_while(|&&c| c == b'#').count();
            let close: Vec<u8> = std::iter::once(b'"')
                .chain(std::iter::repeat_n(b'#', hashes))
                .collect();
            let start = 2 + hashes;
            rest[start..]
                .windows(close.len())
                .position(|w| w == close.as_slice())
                .map_or(rest.len(), |p| start + p + close.len())
        } else if rest[0] == b'"' {
            let mut j = 1;
            while j < rest.len() && rest[j] != b'"' {
                j += if rest[j] == b'\\' { 2 } else { 1 };
            }
            (j + 1).min(rest.len())
        } else if rest[0] == b'\'' && rest.len() > 2 && (rest[2] == b'\'' || rest[1] == b'\\') {
            // a char literal ('{' or '\n'); a lifetime has no closing quote here
            rest[1..]
                .iter()
                .skip(1)
                .position(|&c| c == b'\'')
                .map_or(1, |p| p + 3)
        } else {
            out.push(rest[0] as char);
            i += 1;
            continue;
        };
        blank(&mut out, &rest[..end]);
        i += end;
    }
    out
}

/// (name, first line, lines) of each `fn` in `text`.
fn functions(text: &str) -> Vec<(String, usize, usize)> {
    let code = code_only(text);
    let lines: Vec<&str> = code.lines().collect();
    let mut found = Vec::new();
    for (start, line) in lines.iter().enumerate() {
        let Some(at) = line.find("fn ") else { continue };
        let before = line[..at].trim();
        let is_def = before.is_empty()
            || before.split_whitespace().all(|w| {
                matches!(w, "pub" | "async" | "const" | "unsafe") || w.starts_with("pub(")
            });
        if !is_def {
            continue;
        }
        let name: String = line[at + 3..]
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        let (mut depth, mut opened) = (0i32, false);
        for (end, l) in lines.iter().enumerate().skip(start) {
            if !opened && l.contains(';') && !l.contains('{') {
                break;
            }
            for c in l.chars() {
                match c {
                    '{' => {
                        depth += 1;
                        opened = true;
                    }
                    '}' => depth -= 1,
                    _ => {}
                }
            }
            if opened && depth == 0 {
                found.push((name.clone(), start + 1, end - start + 1));
                break;
            }
        }
    }
    found
}

#[test]
fn no_function_of_either_build_or_its_tests_is_over_100_lines() {
    let long: Vec<String> = all_sources()
        .iter()
        .flat_map(|(p, text)| {
            functions(text)
                .into_iter()
                .filter(|(_, _, n)| *n > MAX_FN_LINES)
                .map(move |(name, at, n)| format!("{}:{at} {name} ({n} lines)", p.display()))
        })
        .collect();
    assert!(long.is_empty(), "split these: {long:?}");
}

#[test]
fn the_function_counter_skips_braces_in_strings_and_comments() {
    let text =
        "fn a() {\n    let s = \"{{{\";\n    // }\n    let c = '{';\n}\nfn b() -> u8 {\n    1\n}\n";
    assert_eq!(
        functions(text),
        [("a".to_string(), 1, 5), ("b".to_string(), 6, 3)]
    );
}
