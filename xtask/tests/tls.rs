//! HTTPS at the load balancer on a sandbox of its own (issue 32): `sandbox
//! up` makes a CA under the state dir (its key owner-only, never printed)
//! and `status` names it; `lb create` makes the HTTPS listener with the
//! certificate the sandbox imported into ACM (without one it refuses, exit 2,
//! and makes nothing) and the HTTP listener that
//! redirects to it, turns an old forwarding HTTP listener into the redirect
//! (its `/api/*` rule deleted), and changes nothing the second time; a
//! client trusting the CA is served, one that does not is refused; `verify`
//! fails naming the certificate when it does not cover a host name of the
//! settings, or does not exist.

mod common;

use std::os::unix::fs::PermissionsExt as _;

use common::https::{self, Lb};
use common::{run, xtask, Sandbox};
use serde_json::Value;

fn listeners_and_rules(sandbox: &Sandbox) -> Vec<Value> {
    let lbs = sandbox.aws(&["elbv2", "describe-load-balancers", "--names", "cruddur-alb"]);
    let lb_arn = lbs["LoadBalancers"][0]["LoadBalancerArn"].as_str().unwrap();
    let listeners = sandbox.aws(&["elbv2", "describe-listeners", "--load-balancer-arn", lb_arn]);
    let mut all = Vec::new();
    for l in listeners["Listeners"].as_array().unwrap() {
        let arn = l["ListenerArn"].as_str().unwrap();
        all.push(l.clone());
        all.push(sandbox.aws(&["elbv2", "describe-rules", "--listener-arn", arn]));
    }
    all
}

/// Lines of `lb create` that say it changed something.
fn changes(stdout: &str) -> Vec<&str> {
    stdout
        .lines()
        .filter(|l| {
            ["created", "updated", "deleted"]
                .iter()
                .any(|w| l.contains(w))
        })
        .collect()
}

#[test]
fn lb_create_serves_https_with_the_sandbox_ca_redirects_http_and_changes_nothing_twice() {
    let sandbox = Sandbox::start(&[]);
    let dir = sandbox.dir.path();
    let lb = Lb::of(&sandbox);
    assert_eq!(lb.ca, dir.join("ca/ca.pem"));
    let mode = |p: &str| std::fs::metadata(dir.join(p)).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode("ca/ca.key"), 0o600, "the CA's key is its owner's only");
    assert_eq!(mode("ca"), 0o700);
    let status = run(xtask(&[
        "sandbox",
        "status",
        "--state-dir",
        &dir.display().to_string(),
    ]))
    .ok();
    assert!(
        status
            .stdout
            .contains(&format!("TLS: {}", "the load balancer serves HTTPS"))
            && status.stdout.contains(&lb.ca.display().to_string()),
        "status names the CA file:\n{}",
        status.stdout
    );
    let arn = sandbox.export("CRUDDUR_CERTIFICATE_ARN");
    assert!(arn.starts_with("arn:aws:acm:us-east-1:"), "{arn}");
    let (https_port, http_port) = (
        sandbox.export("CRUDDUR_LB_HTTPS_PORT"),
        sandbox.export("CRUDDUR_LB_PORT"),
    );

    let mut without = sandbox.xtask(&["lb", "create"]);
    without.env_remove("CRUDDUR_CERTIFICATE_ARN");
    let without = run(without).fails_with(2);
    assert!(
        without.stderr.contains(&format!(
            "the HTTPS listener :{https_port} has no certificate: set CRUDDUR_CERTIFICATE_ARN"
        )),
        "{}",
        without.all()
    );
    let none = sandbox.aws(&["elbv2", "describe-load-balancers"]);
    assert_eq!(
        none["LoadBalancers"],
        serde_json::json!([]),
        "nothing made without it"
    );

    let first = sandbox.run(&["lb", "create"]).ok();
    for line in [
        format!("created listener :{https_port} HTTPS with certificate {arn}, default: cruddur-frontend-react-js-tg"),
        format!("created listener :{http_port} HTTP, redirects to HTTPS port {https_port} (HTTP_301)"),
        format!("listener :{https_port}: created rule 10: /api/* -> cruddur-backend-flask-tg"),
        format!("load balancer cruddur-alb: {}", lb.url),
    ] {
        assert!(first.stdout.contains(&line), "{line:?} in:\n{}", first.stdout);
    }
    let before = listeners_and_rules(&sandbox);
    let second = sandbox.run(&["lb", "create"]).ok();
    assert!(changes(&second.stdout).is_empty(), "{}", second.stdout);
    assert_eq!(
        listeners_and_rules(&sandbox),
        before,
        "the second run changed nothing"
    );

    served_to_who_trusts_the_ca_only(&lb, &http_port);
    an_old_forwarding_http_listener_becomes_the_redirect(&sandbox, &http_port);
    let keys: Vec<String> = ["ca/ca.key", "lb-tls/private-key.pem"]
        .iter()
        .map(|k| std::fs::read_to_string(dir.join(k)).unwrap())
        .collect();
    let key_lines: Vec<&str> = keys
        .iter()
        .flat_map(|k| k.lines().filter(|l| !l.starts_with("-----")))
        .collect();
    common::assert_no_secrets(
        &[status.all(), first.all(), second.all()].concat(),
        &key_lines,
    );

    verify_names_the_certificate(&sandbox, &arn, &https_port);
}

/// A client trusting the sandbox's CA gets the listener (503: no targets
/// yet), one that does not is refused by its own TLS check; plain HTTP is
/// a permanent redirect to the same path on the HTTPS listener.
fn served_to_who_trusts_the_ca_only(lb: &Lb, http_port: &str) {
    let answer = lb.request("GET", "/api/health-check", &[], None);
    assert_eq!(answer.code, 503, "{answer:?}");
    let untrusting = https::curl(&[], &[format!("url = \"{}/\"", lb.url)]);
    assert_eq!(
        untrusting.error.map(|e| e.0),
        Some(60),
        "curl: the certificate is not trusted"
    );
    let plain = https::curl(
        &[],
        &[format!("url = \"http://127.0.0.1:{http_port}/a/b?c=d\"")],
    );
    assert_eq!(plain.code, 301, "{plain:?}");
    assert_eq!(
        plain.header("location"),
        Some(format!("{}/a/b?c=d", lb.url).as_str())
    );
}

/// The load balancer as the file had it before HTTPS: its HTTP listener
/// forwarding, `/api/*` to the backend. `lb create` makes it the redirect and
/// deletes the rule, which would keep serving the API in clear text.
fn an_old_forwarding_http_listener_becomes_the_redirect(sandbox: &Sandbox, http_port: &str) {
    let lbs = sandbox.aws(&["elbv2", "describe-load-balancers", "--names", "cruddur-alb"]);
    let lb_arn = lbs["LoadBalancers"][0]["LoadBalancerArn"].as_str().unwrap();
    let listeners = sandbox.aws(&["elbv2", "describe-listeners", "--load-balancer-arn", lb_arn]);
    let http = listeners["Listeners"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["Port"].as_u64().map(|p| p.to_string()).as_deref() == Some(http_port))
        .unwrap()["ListenerArn"]
        .as_str()
        .unwrap()
        .to_string();
    let tg = |name: &str| {
        sandbox.aws(&["elbv2", "describe-target-groups", "--names", name])["TargetGroups"][0]
            ["TargetGroupArn"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let (front, back) = (
        tg("cruddur-frontend-react-js-tg"),
        tg("cruddur-backend-flask-tg"),
    );
    sandbox.aws(&[
        "elbv2",
        "modify-listener",
        "--listener-arn",
        &http,
        "--default-actions",
        &format!("Type=forward,TargetGroupArn={front}"),
    ]);
    sandbox.aws(&[
        "elbv2",
        "create-rule",
        "--listener-arn",
        &http,
        "--priority",
        "10",
        "--conditions",
        "Field=path-pattern,Values=/api/*",
        "--actions",
        &format!("Type=forward,TargetGroupArn={back}"),
    ]);
    let fixed = sandbox.run(&["lb", "create"]).ok();
    for line in [
        format!("listener :{http_port}: updated default action"),
        format!("listener :{http_port}: deleted rule 10 (/api/*), which the file does not have"),
    ] {
        assert!(
            fixed.stdout.contains(&line),
            "{line:?} in:\n{}",
            fixed.stdout
        );
    }
    let again = sandbox.run(&["lb", "create"]).ok();
    assert!(changes(&again.stdout).is_empty(), "{}", again.stdout);
}

/// verify's certificate line: ok for the sandbox's own host names; FAIL
/// naming the certificate and the host it does not cover (the API's for the
/// backend, the front end's too for the front end), and naming the missing
/// certificate (with the one ACM has for those names).
fn verify_names_the_certificate(sandbox: &Sandbox, arn: &str, https_port: &str) {
    let what = format!("load balancer: certificate {arn} (HTTPS listener :{https_port})");
    let verify = |service: &str, env: &[(&str, &str)]| {
        let mut c = sandbox.xtask(&["verify", service]);
        c.envs(env.iter().copied());
        run(c)
    };
    let covered = format!("ok    {what} is ISSUED and covers 127.0.0.1");
    let other_front = [("CRUDDUR_FRONTEND_URL", "https://www.other.example")];
    // The front end's address is only the backend's CORS origin.
    let backend = verify("backend", &other_front);
    assert!(
        backend.stdout.contains(&covered),
        "{covered:?} in:\n{}",
        backend.all()
    );
    let frontend = verify("frontend", &other_front).fails_with(1);
    let line = format!(
        "FAIL  {what} does not cover www.other.example (CRUDDUR_FRONTEND_URL): it is for 127.0.0.1, localhost"
    );
    assert!(
        frontend.stdout.contains(&line),
        "{line:?} in:\n{}",
        frontend.all()
    );
    let other_api = [("CRUDDUR_BACKEND_URL", "https://api.other.example")];
    let backend = verify("backend", &other_api).fails_with(1);
    let line = format!(
        "FAIL  {what} does not cover api.other.example (CRUDDUR_BACKEND_URL): it is for 127.0.0.1, localhost"
    );
    assert!(
        backend.stdout.contains(&line),
        "{line:?} in:\n{}",
        backend.all()
    );

    let missing_arn =
        "arn:aws:acm:us-east-1:123456789012:certificate/00000000-0000-0000-0000-000000000000";
    let missing = verify("backend", &[("CRUDDUR_CERTIFICATE_ARN", missing_arn)]).fails_with(1);
    let line = format!(
        "FAIL  load balancer: certificate {missing_arn} (HTTPS listener :{https_port}) does not exist in ACM in us-east-1: \
         set CRUDDUR_CERTIFICATE_ARN to one that does (ISSUED there for these names: {arn})"
    );
    assert!(
        missing.stdout.contains(&line),
        "{line:?} in:\n{}",
        missing.all()
    );
}
