//! The load balancer's certificate: each HTTPS listener's ACM certificate
//! exists in the region, is ISSUED, and covers the host names the settings
//! give the front end and the API (`CRUDDUR_FRONTEND_URL`,
//! `CRUDDUR_BACKEND_URL`), so a browser accepts it on both. The names are
//! the services' that are checked: the API's for the backend (the front end's
//! address is only its CORS origin), both for the front end (served at its
//! own, it sends browsers to the API's). Read with ACM's DescribeCertificate;
//! when it is missing, ListCertificates says which issued certificates of the
//! region would do.

use serde_json::{json, Value};
use xtask::infra;

use super::{fail, ok, unknown, Check, Planned};
use crate::aws::{code, Api};
use crate::ecs::client::Ecs;

pub(super) async fn certificates(ecs: &Ecs, planned: &[Planned]) -> Vec<Check> {
    let ctx = &ecs.ctx;
    if !infra::load_balancer_file(&ctx.root).exists() {
        return vec![]; // the target group check says so
    }
    let lb = match ecs.placeholders(None).await {
        Ok(p) => crate::lb::load(ctx, &p),
        Err(e) => Err(e),
    };
    // A file that does not load is the target group check's FAIL line already.
    let Ok(lb) = lb else { return vec![] };
    let front_end = planned
        .iter()
        .any(|p| *p.service == xtask::services::FRONTEND);
    let hosts: Vec<(&str, String)> = infra::public_host_names(&ctx.settings)
        .into_iter()
        .filter(|(setting, _)| front_end || *setting == "CRUDDUR_BACKEND_URL")
        .collect();
    let mut checks: Vec<Check> = lb
        .missing_certificates()
        .into_iter()
        .map(|m| fail(format!("load balancer: {m}")))
        .collect();
    for listener in lb.listeners.iter().filter(|l| l.is_https()) {
        let Some(arn) = listener.certificate() else {
            continue;
        };
        ctx.announce(&format!("acm DescribeCertificate CertificateArn={arn}"));
        if ctx.dry_run {
            continue;
        }
        checks.push(certificate(ecs, listener.port, arn, &hosts).await);
    }
    checks
}

async fn certificate(ecs: &Ecs, port: i32, arn: &str, hosts: &[(&str, String)]) -> Check {
    let what = format!("load balancer: certificate {arn} (HTTPS listener :{port})");
    let body = json!({ "CertificateArn": arn });
    let answer = match ecs.aws.json(Api::Acm, "DescribeCertificate", &body).await {
        Ok(a) => a,
        Err(e) if is_not_found(&e) => {
            let others = issued_covering(ecs, hosts).await;
            return fail(format!(
                "{what} does not exist in ACM in {}: set CRUDDUR_CERTIFICATE_ARN to one that does{}",
                ecs.aws.region,
                if others.is_empty() {
                    format!(" (request one for {} in ACM)", host_list(hosts))
                } else {
                    format!(" (ISSUED there for these names: {})", others.join(", "))
                }
            ));
        }
        Err(e) => return unknown(&what, &e),
    };
    let cert = &answer["Certificate"];
    let status = cert["Status"].as_str().unwrap_or("unknown");
    if status != "ISSUED" {
        return fail(format!(
            "{what} is {status}, not ISSUED: a browser would refuse it (finish its validation, or set \
             CRUDDUR_CERTIFICATE_ARN to an issued one)"
        ));
    }
    let names = names_of(cert);
    let uncovered: Vec<String> = hosts
        .iter()
        .filter(|(_, host)| !infra::certificate_covers(&names, host))
        .map(|(setting, host)| format!("{host} ({setting})"))
        .collect();
    if uncovered.is_empty() {
        ok(format!("{what} is ISSUED and covers {}", host_list(hosts)))
    } else {
        fail(format!(
            "{what} does not cover {}: it is for {}; browsers would refuse the connection: use a \
             certificate for those names (CRUDDUR_CERTIFICATE_ARN), or set the URL settings to names it covers",
            uncovered.join(", "),
            names.join(", ")
        ))
    }
}

/// The names a certificate is valid for: its subject alternative names and
/// domain name (a certificate's, or ListCertificates' summary of one).
fn names_of(cert: &Value) -> Vec<String> {
    let sans = ["SubjectAlternativeNames", "SubjectAlternativeNameSummaries"];
    let mut names: Vec<String> = sans
        .iter()
        .filter_map(|key| cert[*key].as_array())
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_string)
        .collect();
    if let Some(domain) = cert["DomainName"].as_str() {
        if !names.iter().any(|n| n == domain) {
            names.insert(0, domain.to_string());
        }
    }
    names
}

fn host_list(hosts: &[(&str, String)]) -> String {
    let mut names: Vec<&str> = hosts.iter().map(|(_, h)| h.as_str()).collect();
    names.dedup();
    names.join(" and ")
}

fn is_not_found(e: &anyhow::Error) -> bool {
    matches!(
        code(e),
        Some("ResourceNotFoundException" | "InvalidArnException")
    )
}

/// The region's ISSUED certificates that cover every host (all pages): a hint, never a failure.
async fn issued_covering(ecs: &Ecs, hosts: &[(&str, String)]) -> Vec<String> {
    let mut found = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut body = json!({ "CertificateStatuses": ["ISSUED"], "MaxItems": 100 });
        if let Some(t) = &token {
            body["NextToken"] = json!(t);
        }
        let Ok(answer) = ecs.aws.json(Api::Acm, "ListCertificates", &body).await else {
            return found;
        };
        for summary in answer["CertificateSummaryList"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let names = names_of(summary);
            if hosts
                .iter()
                .all(|(_, h)| infra::certificate_covers(&names, h))
            {
                found.extend(summary["CertificateArn"].as_str().map(str::to_string));
            }
        }
        token = answer["NextToken"].as_str().map(str::to_string);
        if token.is_none() {
            return found;
        }
    }
}
