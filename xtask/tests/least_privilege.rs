//! Least privilege (issue 31), through the tool and from inside the tasks, on
//! sandboxes of the tests' own (a reset would wipe a shared one): the
//! backend runs on its task role's credentials (no key anywhere in its
//! container), which its role's policy decides; its one-off set-up tasks get
//! theirs with `task --task-role`; a task reaches moto only signed, never its
//! control API; the registry refuses moto's constant password; a secret the
//! execution role may not read is named by `verify` and fails the deploy on
//! the breaker; a sandbox whose moto was reset says so and heals.

mod common;

use common::scratch::{deployed, quick_to_fail, tool};
use common::{docker, Sandbox};
use serde_json::Value;

/// The docker id of the backend's container in its running task.
fn backend_container(sandbox: &Sandbox) -> String {
    let tasks = sandbox.aws(&[
        "ecs",
        "list-tasks",
        "--cluster",
        "cruddur",
        "--service-name",
        "backend-flask",
    ]);
    let task = tasks["taskArns"][0].as_str().unwrap().to_string();
    let found = docker(&[
        "ps",
        "--filter",
        &format!("label=com.amazonaws.ecs.task-arn={task}"),
        "--filter",
        "label=com.amazonaws.ecs.container-name=backend-flask",
        "--format",
        "{{.ID}}",
    ]);
    let id = String::from_utf8_lossy(&found.stdout).trim().to_string();
    assert!(!id.is_empty(), "no backend container of task {task}");
    id
}

/// Python in the backend's container (its own boto3, its own environment): stdout.
fn python_in(container: &str, script: &str) -> String {
    let out = docker(&["exec", container, "python3", "-c", script]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A boto3 call in the container: "ok" or the error code.
const CALL: &str = r#"
import sys, boto3
from botocore.exceptions import ClientError
def call(service, op, **kw):
    try:
        getattr(boto3.client(service), op)(**kw)
        print(op, "ok")
    except ClientError as e:
        print(op, e.response["Error"]["Code"])
"#;

#[test]
fn the_backend_runs_on_its_task_role_which_decides_and_the_doors_are_shut() {
    let root = quick_to_fail(|_| {});
    let sandbox = deployed(root.path());
    let container = backend_container(&sandbox);
    let env = docker(&["inspect", "--format", "{{json .Config.Env}}", &container]);
    let env: Vec<String> = serde_json::from_slice(&env.stdout).unwrap();
    assert!(
        !env.iter()
            .any(|e| e.starts_with("AWS_ACCESS_KEY_ID=") || e.starts_with("AWS_SECRET_ACCESS_KEY=")),
        "no AWS key in the backend's container: {env:?}"
    );
    assert!(env
        .iter()
        .any(|e| e.starts_with("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI=/v2/credentials/")));

    // Its role's calls pass (no table yet: DynamoDB's own answer), others are denied.
    let out = python_in(
        &container,
        &format!(
            "{CALL}\ncall('dynamodb', 'query', TableName='cruddur-messages', \
             KeyConditionExpression='pk = :p', ExpressionAttributeValues={{':p': {{'S': 'x'}}}})\n\
             call('dynamodb', 'create_table', TableName='x', KeySchema=[{{'AttributeName': 'pk', 'KeyType': 'HASH'}}], \
             AttributeDefinitions=[{{'AttributeName': 'pk', 'AttributeType': 'S'}}], BillingMode='PAY_PER_REQUEST')\n\
             call('ssm', 'get_parameter', Name='/cruddur/backend-flask/CONNECTION_URL')\n\
             print(boto3.client('sts').get_caller_identity()['Arn'])\n"
        ),
    );
    assert!(out.contains("query ResourceNotFoundException"), "{out}");
    assert!(out.contains("create_table AccessDeniedException"), "{out}");
    assert!(out.contains("get_parameter AccessDeniedException"), "{out}");
    assert!(
        out.contains("assumed-role/CruddurTaskRole/"),
        "the backend's identity is its task role: {out}"
    );

    // Its Cognito call (GetUser with a user's access token) answers as on AWS.
    let token = cognito_access_token(&sandbox);
    let got = python_in(
        &container,
        &format!(
            "import boto3\nprint(boto3.client('cognito-idp').get_user(AccessToken='{token}')['Username'])"
        ),
    );
    assert!(!got.trim().is_empty(), "{got}");

    doors_are_shut(&sandbox, &container);
    set_up_tasks_need_their_role(&sandbox);
    // The table the set-up role made: the backend's role reads and writes it.
    let out = python_in(
        &container,
        &format!(
            r#"{CALL}
call('dynamodb', 'put_item', TableName='cruddur-messages', Item={{'pk': {{'S': 'GRP#x'}}, 'sk': {{'S': '2026'}}}})
call('dynamodb', 'query', TableName='cruddur-messages', KeyConditionExpression='pk = :p',
     ExpressionAttributeValues={{':p': {{'S': 'GRP#x'}}}})
call('dynamodb', 'delete_table', TableName='cruddur-messages')
"#
        ),
    );
    assert!(
        out.contains("put_item ok") && out.contains("query ok"),
        "{out}"
    );
    assert!(out.contains("delete_table AccessDeniedException"), "{out}");
}

/// A seed user's access token from the sandbox's Cognito (as the browser gets one).
fn cognito_access_token(sandbox: &Sandbox) -> String {
    let pool = sandbox.export("AWS_COGNITO_USER_POOL_ID");
    let client = sandbox.export("AWS_COGNITO_USER_POOL_CLIENT_ID");
    sandbox.aws(&[
        "cognito-idp",
        "update-user-pool-client",
        "--user-pool-id",
        &pool,
        "--client-id",
        &client,
        "--explicit-auth-flows",
        "ALLOW_USER_PASSWORD_AUTH",
        "ALLOW_USER_SRP_AUTH",
        "ALLOW_REFRESH_TOKEN_AUTH",
    ]);
    let auth = sandbox.aws(&[
        "cognito-idp",
        "initiate-auth",
        "--client-id",
        &client,
        "--auth-flow",
        "USER_PASSWORD_AUTH",
        "--auth-parameters",
        "USERNAME=andrew@exampro.co,PASSWORD=Cruddur-Sandbox-1!",
    ]);
    auth["AuthenticationResult"]["AccessToken"]
        .as_str()
        .expect("an access token")
        .to_string()
}

/// From the backend's container: moto's control API is not there, an unsigned
/// SSM read is refused; from the host, moto's constant registry password is.
fn doors_are_shut(sandbox: &Sandbox, container: &str) {
    let gateway = sandbox.export("CRUDDUR_TASK_AWS_ENDPOINT");
    let out = python_in(
        container,
        &format!(
            r#"
import urllib.request, urllib.error
def status(req):
    try:
        return urllib.request.urlopen(req, timeout=5).status
    except urllib.error.HTTPError as e:
        return e.code
print("moto-api", status("{gateway}/moto-api/"))
print("reset", status(urllib.request.Request("{gateway}/moto-api/reset", data=b"", method="POST")))
print("unsigned", status(urllib.request.Request("{gateway}/", method="POST",
    data=b'{{"Name": "/cruddur/backend-flask/CONNECTION_URL", "WithDecryption": true}}',
    headers={{"X-Amz-Target": "AmazonSSM.GetParameter", "Content-Type": "application/x-amz-json-1.1"}})))
"#
        ),
    );
    assert!(
        out.contains("moto-api 404") && out.contains("reset 404"),
        "{out}"
    );
    assert!(out.contains("unsigned 403"), "{out}");
    // Nothing was reset: the account's subnets are still there.
    let subnets = sandbox.export("CRUDDUR_SUBNETS");
    sandbox.aws(&[
        "ec2",
        "describe-subnets",
        "--subnet-ids",
        subnets.split(',').next().unwrap(),
    ]);

    let config = tempfile::tempdir().unwrap();
    let mut login = std::process::Command::new("docker");
    login
        .args([
            "login",
            &sandbox.registry(),
            "-u",
            "AWS",
            "--password-stdin",
        ])
        .env("DOCKER_CONFIG", config.path())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = login.spawn().unwrap();
    use std::io::Write as _;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"123456789012-auth-token")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        !out.status.success(),
        "moto's constant password logs in: {}",
        String::from_utf8_lossy(&out.stdout)
    );
}

/// ddb-setup creates the table: not with the backend's own role, yes with the set-up role.
fn set_up_tasks_need_their_role(sandbox: &Sandbox) {
    let denied = sandbox.run(&["task", "backend", "--", "bin/ddb-setup"]);
    assert_ne!(denied.code, 0, "{}", denied.all());
    assert!(
        denied.all().contains("AccessDenied"),
        "the backend's role may not create the table:\n{}",
        denied.all()
    );
    let ok = sandbox
        .run(&[
            "task",
            "backend",
            "--task-role",
            "CruddurSetupTaskRole",
            "--",
            "bin/ddb-setup",
        ])
        .ok();
    assert!(
        ok.stdout
            .contains("ddb-setup: table cruddur-messages created"),
        "{}",
        ok.stdout
    );
}

#[test]
fn a_secret_outside_the_execution_roles_policy_is_named_by_verify_and_fails_the_deploy() {
    let good = quick_to_fail(|_| {});
    let sandbox = deployed(good.path());
    sandbox.aws(&[
        "ssm",
        "put-parameter",
        "--type",
        "SecureString",
        "--name",
        "/other/API_KEY",
        "--value",
        "not-for-cruddur",
    ]);
    let outside =
        quick_to_fail(|td| {
            let app = td["containerDefinitions"]
                .as_array_mut()
                .unwrap()
                .iter_mut()
                .find(|c| c["name"] == "backend-flask")
                .unwrap();
            app["secrets"].as_array_mut().unwrap().push(serde_json::json!({
            "name": "API_KEY",
            "valueFrom": "arn:aws:ssm:${AWS_REGION}:${AWS_ACCOUNT_ID}:parameter/other/API_KEY"
        }));
        });
    let arn = "arn:aws:ssm:us-east-1:123456789012:parameter/other/API_KEY";
    let verify = tool(&sandbox, outside.path(), &["verify", "backend"]);
    assert_eq!(verify.code, 1, "{}", verify.all());
    let line = format!(
        "FAIL  backend-flask: execution role CruddurServiceExecutionRole may not ssm:GetParameters on {arn} \
         (secret API_KEY of container backend-flask)"
    );
    assert!(verify.stdout.contains(&line), "{}", verify.all());
    assert!(
        verify
            .stdout
            .contains("ok    backend-flask: task role CruddurTaskRole may do the"),
        "{}",
        verify.stdout
    );

    let deploy = tool(
        &sandbox,
        outside.path(),
        &[
            "deploy",
            "backend",
            "--no-build",
            "--no-verify",
            "--poll-interval",
            "1s",
            "--timeout",
            "5m",
        ],
    );
    let all = deploy.all();
    assert_eq!(deploy.code, 1, "{all}");
    assert!(
        !all.contains("timed out after"),
        "the breaker decides:\n{all}"
    );
    assert!(all.contains("ResourceInitializationError"), "{all}");
    assert!(
        all.contains(&format!("ssm:GetParameters on resource: {arn}")),
        "the action and the parameter are named:\n{all}"
    );
    // The breaker rolled back (deploy follows the rollback to its end): the
    // service is on the first revision again and a task of it serves.
    let svc = &sandbox.aws(&[
        "ecs",
        "describe-services",
        "--cluster",
        "cruddur",
        "--services",
        "backend-flask",
    ])["services"][0];
    assert!(
        svc["taskDefinition"]
            .as_str()
            .unwrap()
            .ends_with("backend-flask:1"),
        "{svc}"
    );
    // the first revision serves
    sandbox.backend_serves(1);
}

#[test]
fn a_sandbox_whose_moto_was_reset_says_so_and_restarts() {
    let sandbox = Sandbox::start(&[]);
    let endpoint = sandbox.export("AWS_ENDPOINT_URL");
    let old_subnets = sandbox.export("CRUDDUR_SUBNETS");
    let (code, _) = common::http_post_json(&format!("{endpoint}/moto-api/reset"), &[], "");
    assert_eq!(code, 200, "moto's control API on loopback resets it");
    let state_dir = sandbox.dir.path().display().to_string();
    let up = || {
        common::run(common::xtask(&[
            "sandbox",
            "up",
            "--state-dir",
            &state_dir,
            "--port-base",
            "0",
            "--no-base-images",
        ]))
        .ok()
    };
    let healed = up();
    assert!(
        healed.stdout.contains("its account lost its state")
            && healed.stdout.contains("restarting the sandbox"),
        "{}",
        healed.stdout
    );
    let state: Value = serde_json::from_str(
        &std::fs::read_to_string(sandbox.dir.path().join("state.json")).unwrap(),
    )
    .unwrap();
    let subnets: Vec<&str> = state["subnets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    assert_ne!(subnets.join(","), old_subnets, "a new account, seeded");
    // The next check finds the new account whole (its seeded subnets exist).
    let again = up();
    assert!(
        again.stdout.contains("sandbox already up") && !again.stdout.contains("lost"),
        "{}",
        again.stdout
    );
}
