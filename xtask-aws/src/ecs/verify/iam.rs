//! The IAM checks: the task and execution roles exist and trust ECS tasks.

use std::collections::BTreeSet;

use serde_json::Value;

use super::{fail, ok, unknown, Check, Planned};
use crate::aws::{self, signed, Api};
use crate::ecs::client::Ecs;

const TRUSTED: &str = "ecs-tasks.amazonaws.com";

pub(super) async fn roles(ecs: &Ecs, planned: &[Planned]) -> Vec<Check> {
    let arns: BTreeSet<String> = planned
        .iter()
        .flat_map(|p| [&p.td.execution_role_arn, &p.td.task_role_arn])
        .flatten()
        .cloned()
        .collect();
    let mut checks = Vec::new();
    for arn in arns {
        let name = arn.rsplit('/').next().unwrap_or(&arn).to_string();
        ecs.ctx.announce(&format!("iam GetRole RoleName={name}"));
        if ecs.ctx.dry_run {
            continue;
        }
        let fix = format!(
            "`aws iam create-role --role-name {name} --assume-role-policy-document file://infra/policies/ecs-tasks-trust.json` (and attach its policy from infra/policies/)"
        );
        let role = ecs
            .aws
            .query(Api::Iam, "GetRole", &[("RoleName", &name)])
            .await
            .and_then(|xml| signed::records(&xml, "Role", &["AssumeRolePolicyDocument"]));
        let role = match role {
            Ok(role) => role,
            Err(e) if aws::code(&e) == Some("NoSuchEntity") => {
                checks.push(fail(format!(
                    "IAM role {name} does not exist: create it: {fix}"
                )));
                continue;
            }
            Err(e) => {
                checks.push(unknown(&format!("IAM role {name}"), &e));
                continue;
            }
        };
        // IAM sends the policy percent-encoded inside the XML.
        let document = role
            .into_iter()
            .find_map(|mut r| r.remove("AssumeRolePolicyDocument"))
            .map(|d| {
                percent_encoding::percent_decode_str(&d)
                    .decode_utf8_lossy()
                    .into_owned()
            })
            .unwrap_or_default();
        checks.push(if trusts(&document, TRUSTED) {
            ok(format!("IAM role {name} exists and trusts {TRUSTED}"))
        } else {
            fail(format!(
                "IAM role {name} does not trust {TRUSTED}: ECS cannot use it; set its trust policy: \
                 `aws iam update-assume-role-policy --role-name {name} --policy-document file://infra/policies/ecs-tasks-trust.json`"
            ))
        });
    }
    checks
}

/// Whether a trust policy lets `service` assume the role.
fn trusts(document: &str, service: &str) -> bool {
    let Ok(doc) = serde_json::from_str::<Value>(document) else {
        return false;
    };
    let has = |v: &Value, want: &str| match v {
        Value::String(s) => s == want || s == "*",
        Value::Array(items) => items.iter().any(|i| i.as_str() == Some(want)),
        _ => false,
    };
    let statements = match &doc["Statement"] {
        Value::Array(s) => s.clone(),
        s @ Value::Object(_) => vec![s.clone()],
        _ => vec![],
    };
    statements.iter().any(|s| {
        s["Effect"] == "Allow"
            && has(&s["Principal"]["Service"], service)
            && has(&s["Action"], "sts:AssumeRole")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trust_policies_are_read_like_iam_reads_them() {
        let doc = percent_encoding::percent_decode_str(
            "%7B%22Statement%22%3A%20%5B%7B%22Effect%22%3A%20%22Allow%22%2C%20%22Principal%22%3A%20%7B%22Service%22%3A%20%22ecs-tasks.amazonaws.com%22%7D%2C%20%22Action%22%3A%20%22sts%3AAssumeRole%22%7D%5D%7D",
        )
        .decode_utf8_lossy()
        .into_owned();
        assert!(trusts(&doc, TRUSTED), "{doc}");
        let other = doc.replace("ecs-tasks", "ec2");
        assert!(!trusts(&other, TRUSTED));
        let listed = r#"{"Statement": {"Effect": "Allow", "Principal": {"Service": ["ec2.amazonaws.com", "ecs-tasks.amazonaws.com"]}, "Action": ["sts:AssumeRole"]}}"#;
        assert!(trusts(listed, TRUSTED));
        let denied = listed.replace("Allow", "Deny");
        assert!(!trusts(&denied, TRUSTED));
    }
}
