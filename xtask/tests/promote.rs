//! `promote`: the digest staging runs deployed to production, copied into
//! production's registry (another sandbox: another account), nothing built;
//! and its bad input refused before AWS is asked anything.

mod common;

use common::envs::environment;
use common::{pushed_digest, require_prod_image, run, scratch, xtask, Sandbox};

fn container_image(sandbox: &Sandbox, arn: &str, container: &str) -> String {
    let td = sandbox.aws(&["ecs", "describe-task-definition", "--task-definition", arn]);
    td["taskDefinition"]["containerDefinitions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == container)
        .unwrap()["image"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn promote_deploys_the_digest_staging_runs_to_production_without_a_build() {
    require_prod_image("frontend-react-js");
    // Two accounts: a sandbox each, with a registry each. Production's starts
    // empty, so the copy below uploads every layer, as it would into a new
    // account's ECR.
    let staging_account = Sandbox::start(&[]);
    let production_account = Sandbox::start_empty(&[]);
    let dir = tempfile::tempdir().unwrap();
    let staging = environment(&staging_account, dir.path(), "staging", &[]);
    let production = environment(&production_account, dir.path(), "production", &[]);
    // The tool on a scratch checkout whose infra/ checks every 5 s: the real
    // files' 30 s checks made each of the two deploys a minute longer.
    let root = scratch::checkout(|_| {});
    let tool = |sandbox: &Sandbox, args: &[&str]| scratch::tool(sandbox, root.path(), args).ok();
    tool(&staging_account, &["ecr", "create"]);
    let digest = pushed_digest(&tool(&staging_account, &["push", "frontend"]).stdout);
    tool(&staging_account, &["--env", &staging, "cluster", "create"]);
    tool(
        &staging_account,
        &["--env", &staging, "deploy", "frontend", "--no-build"],
    );
    tool(
        &production_account,
        &["--env", &production, "ecr", "create"],
    );
    tool(
        &production_account,
        &["--env", &production, "cluster", "create"],
    );
    let image_id = || {
        common::docker(&[
            "image",
            "inspect",
            "--format",
            "{{.Id}}",
            "frontend-react-js-prod",
        ])
        .stdout
    };
    let local_before = image_id();

    let promoted = tool(
        &staging_account,
        &[
            "promote",
            "frontend",
            "--from",
            &staging,
            "--to",
            &production,
        ],
    );
    let out = promoted.stdout;
    assert!(
        out.starts_with(
            "promote frontend-react-js from environment staging to environment production"
        ),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "frontend-react-js: promotes {}/frontend-react-js@{digest}",
            staging_account.registry()
        )),
        "{out}"
    );
    assert!(out.contains("digest unchanged; its ECR lists it"), "{out}");
    assert!(out.contains("succeeded"), "{out}");
    for built in ["docker build", "docker push", "docker tag"] {
        assert!(!out.contains(built), "nothing is built or pushed: {out}");
    }
    assert_eq!(image_id(), local_before, "the local image is untouched");
    let service = production_account.service("frontend-react-js");
    let arn = service["taskDefinition"].as_str().unwrap();
    assert_eq!(
        container_image(&production_account, arn, "frontend-react-js"),
        format!(
            "{}/frontend-react-js@{digest}",
            production_account.registry()
        ),
        "production pins staging's digest, in its own registry"
    );
    let (user, password) = production_account.registry_login();
    let copied = common::registry_head(
        &production_account.registry(),
        &format!("/v2/frontend-react-js/manifests/{digest}"),
        &user,
        &password,
    );
    assert_eq!(copied.as_deref(), Some(digest.as_str()));
}

#[test]
fn promote_refuses_bad_input_before_asking_aws() {
    for (args, says) in [
        (
            vec!["promote", "all", "--from", "staging", "--to", "staging"],
            "--from and --to are both staging",
        ),
        (
            vec![
                "--env",
                "staging",
                "promote",
                "all",
                "--from",
                "staging",
                "--to",
                "production",
            ],
            "promote acts on --from and --to: drop --env staging",
        ),
        (
            vec!["promote", "all", "--from", "stagin", "--to", "production"],
            "--env stagin: no such environment",
        ),
        (
            vec![
                "promote",
                "backend",
                "--from",
                "staging",
                "--to",
                "production",
                "--cluster",
                "x",
            ],
            "not flags (--cluster)",
        ),
    ] {
        let out = run(xtask(&args)).fails_with(2);
        assert!(out.stderr.contains(says), "{args:?}: {}", out.stderr);
        assert!(!out.stdout.contains("[dry-run]"), "{}", out.stdout);
    }
}
