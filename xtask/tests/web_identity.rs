//! The credentials path CI uses, for real against the sandbox: the tool with
//! `AWS_ROLE_ARN` and `AWS_WEB_IDENTITY_TOKEN_FILE` (aws-config's web
//! identity source) gets the deploy role's session from the sandbox's STS,
//! which checks the token as AWS does (its issuer's OIDC provider, the
//! signature, the audience, the role's trust policy from
//! `infra/policies/deploy-trust.json`). As that role the tool pushes,
//! verifies and deploys the backend; a token of another issuer, audience,
//! repository or branch gets AWS's error and nothing else happens.

mod common;

use std::path::Path;

use common::{require_prod_image, run, scratch, Run, Sandbox};

const STAGING: &str = "CruddurDeployRole";
const PRODUCTION: &str = "CruddurDeployProductionRole";

/// The tool as a CI job runs it: the sandbox's settings, no keys, the role
/// and the token file of `token_args` (`oidc-token`'s arguments).
fn as_ci(sandbox: &Sandbox, dir: &Path, role: &str, token_args: &[&str], args: &[&str]) -> Run {
    run(ci_command(sandbox, dir, role, token_args, args))
}

fn ci_command(
    sandbox: &Sandbox,
    dir: &Path,
    role: &str,
    token_args: &[&str],
    args: &[&str],
) -> std::process::Command {
    let token = sandbox.oidc_token_file(dir, token_args);
    let mut c = sandbox.xtask(args);
    c.env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env_remove("AWS_ACCOUNT_ID")
        .env(
            "AWS_ROLE_ARN",
            format!("arn:aws:iam::123456789012:role/{role}"),
        )
        .env("AWS_WEB_IDENTITY_TOKEN_FILE", token)
        .env("AWS_ROLE_SESSION_NAME", "github-actions");
    c
}

/// The ARN `status` prints first: who the credentials are.
fn caller(out: &Run) -> &str {
    let first = out.stdout.lines().next().unwrap_or_default();
    match first.split_once(" as ") {
        Some((_, arn)) => arn,
        None => panic!("no caller on the first line:\n{}", out.all()),
    }
}

/// The tool stopped with STS's error (code and message), before it could say who it is.
#[track_caller]
fn refused(out: &Run, code: &str, message: &str) {
    assert_ne!(out.code, 0, "{}", out.all());
    assert!(
        out.stderr.contains(code) && out.stderr.contains(message),
        "expected {code}: {message}\n--- stderr\n{}",
        out.stderr
    );
    assert!(!out.stdout.contains("AWS account"), "{}", out.stdout);
}

#[test]
fn only_the_trusted_repository_branch_and_environment_get_the_deploy_roles() {
    let sandbox = Sandbox::shared();
    sandbox.aws(&["ecs", "create-cluster", "--cluster-name", "oidc"]);
    let dir = tempfile::tempdir().unwrap();
    let repo = sandbox.seeded("github_repository");
    let main = format!("repo:{repo}:ref:refs/heads/main");
    let production = format!("repo:{repo}:environment:production");
    let status = ["status", "backend", "--cluster", "oidc"];
    let ci = |role: &str, token: &[&str]| as_ci(&sandbox, dir.path(), role, token, &status);

    let out = ci(STAGING, &["--sub", &main]).ok();
    assert_eq!(
        caller(&out),
        "arn:aws:sts::123456789012:assumed-role/CruddurDeployRole/github-actions"
    );
    let out = ci(PRODUCTION, &["--sub", &production]).ok();
    assert_eq!(
        caller(&out),
        "arn:aws:sts::123456789012:assumed-role/CruddurDeployProductionRole/github-actions"
    );

    let denied = (
        "AccessDenied",
        "Not authorized to perform sts:AssumeRoleWithWebIdentity",
    );
    let other_repository = format!(
        "repo:someone-else/{}:ref:refs/heads/main",
        repo.split('/').nth(1).unwrap()
    );
    let other_branch = format!("repo:{repo}:ref:refs/heads/feature");
    for (role, sub) in [
        (STAGING, other_repository.as_str()),
        (STAGING, other_branch.as_str()),
        (STAGING, production.as_str()),
        (PRODUCTION, main.as_str()),
    ] {
        refused(&ci(role, &["--sub", sub]), denied.0, denied.1);
    }
    refused(
        &ci(STAGING, &["--sub", &main, "--aud", "sigstore"]),
        "InvalidIdentityToken",
        "Incorrect token audience",
    );
    refused(
        &ci(
            STAGING,
            &["--sub", &main, "--iss", "https://token.actions.example.org"],
        ),
        "InvalidIdentityToken",
        "No OpenIDConnect provider found in your account for https://token.actions.example.org",
    );
    refused(
        &ci(STAGING, &["--sub", &main, "--foreign-key"]),
        "InvalidIdentityToken",
        "could not be validated",
    );
}

#[test]
fn ci_pushes_verifies_and_deploys_the_backend_as_the_deploy_role() {
    require_prod_image("backend-flask");
    let sandbox = Sandbox::start(&[]);
    // A scratch checkout whose infra/ checks every 5 s: the real files' 30 s
    // checks held the deploy half a minute longer (the image is tagged with
    // the scratch checkout's commit).
    let root = scratch::checkout(|_| {});
    let root = root.path();
    // The team's one-time set-up, with an administrator's credentials (the sandbox's keys).
    sandbox.run(&["build", "backend"]).ok();
    scratch::tool(&sandbox, root, &["ecr", "create"]).ok();
    scratch::tool(&sandbox, root, &["cluster", "create"]).ok();

    // Then CI, with nothing but the deploy role's web identity.
    let dir = tempfile::tempdir().unwrap();
    let main = format!(
        "repo:{}:ref:refs/heads/main",
        sandbox.seeded("github_repository")
    );
    let ci = |args: &[&str]| {
        let mut c = ci_command(&sandbox, dir.path(), STAGING, &["--sub", &main], args);
        c.env("CRUDDUR_ROOT", root);
        run(c)
    };
    let push = ci(&["push", "backend"]).ok();
    let digest = common::pushed_digest(&push.stdout);
    let verify = ci(&["verify", "backend"]).ok();
    for line in [
        "ok    ECS cluster cruddur is ACTIVE",
        "ok    IAM role CruddurServiceExecutionRole exists and trusts ecs-tasks.amazonaws.com",
    ] {
        assert!(
            verify.stdout.contains(line),
            "no {line:?} in:\n{}",
            verify.stdout
        );
    }
    // The image verify finds is the one CI pushed (by whichever tag verify reads).
    let image = format!("({}) is in ECR, linux/amd64", &digest[..19]);
    assert!(
        verify.stdout.lines().any(
            |l| l.starts_with("ok    backend-flask: image backend-flask:") && l.ends_with(&image)
        ),
        "{}",
        verify.stdout
    );
    let deploy = ci(&["deploy", "backend", "--no-build"]).ok();
    assert!(
        deploy.stdout.contains("created service backend-flask"),
        "{}",
        deploy.stdout
    );
    assert!(deploy.stdout.contains("succeeded"), "{}", deploy.stdout);

    // What runs is what CI deployed: the pushed digest, checked with the administrator's view.
    let service = sandbox.aws(&[
        "ecs",
        "describe-services",
        "--cluster",
        "cruddur",
        "--services",
        "backend-flask",
    ]);
    let service = &service["services"][0];
    assert_eq!(service["runningCount"], 1, "{service}");
    let td = service["taskDefinition"].as_str().unwrap();
    let td = sandbox.aws(&["ecs", "describe-task-definition", "--task-definition", td]);
    let images: Vec<&str> = td["taskDefinition"]["containerDefinitions"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["image"].as_str())
        .collect();
    assert!(
        images
            .iter()
            .any(|i| i.ends_with(&format!("/backend-flask@{digest}"))),
        "{images:?}"
    );
}
