//! The SSM checks: every secret a task definition names exists (by name; no value is read).

use std::collections::BTreeSet;

use anyhow::Result;
use serde_json::json;

use super::{fail, ok, skip, unknown, Check, Planned};
use crate::aws::Api;
use crate::ecs::client::Ecs;

/// `arn:aws:ssm:r:a:parameter/cruddur/x` -> `/cruddur/x`; a plain name as is;
/// None for another service's ARN (Secrets Manager).
fn parameter_name(value_from: &str) -> Option<String> {
    if !value_from.starts_with("arn:") {
        return Some(value_from.to_string());
    }
    let resource = value_from.splitn(6, ':').nth(5)?;
    if !value_from.starts_with("arn:aws:ssm:") && !value_from.contains(":ssm:") {
        return None;
    }
    let name = resource.strip_prefix("parameter")?;
    Some(if name.starts_with('/') {
        name.to_string()
    } else {
        format!("/{name}")
    })
}

pub(super) async fn parameters(ecs: &Ecs, planned: &[Planned]) -> Vec<Check> {
    let mut checks = Vec::new();
    for p in planned {
        // (parameter, secret name, container)
        let mut wanted = Vec::new();
        for c in &p.td.container_definitions {
            for s in &c.secrets {
                match parameter_name(&s.value_from) {
                    Some(name) => wanted.push((name, s.name.clone(), c.name.clone())),
                    None => checks.push(skip(format!(
                        "{}: secret {} of container {} is not an SSM parameter ({}): not checked",
                        p.service.name, s.name, c.name, s.value_from
                    ))),
                }
            }
        }
        if wanted.is_empty() {
            continue;
        }
        let names: Vec<String> = wanted.iter().map(|w| w.0.clone()).collect();
        ecs.ctx.announce(&format!(
            "ssm DescribeParameters ParameterFilters=[Name Equals {}] (names only, no values)",
            names.join(",")
        ));
        if ecs.ctx.dry_run {
            continue;
        }
        let found = match existing_parameters(ecs, &names).await {
            Ok(found) => found,
            Err(e) => {
                checks.push(unknown(&format!("{}: SSM parameters", p.service.name), &e));
                continue;
            }
        };
        let missing: Vec<_> = wanted.iter().filter(|w| !found.contains(&w.0)).collect();
        for (name, secret, container) in &missing {
            checks.push(fail(format!(
                "{}: SSM parameter {name} (secret {secret} of container {container}) does not exist: \
                 create it: `aws ssm put-parameter --type SecureString --name {name} --value …`",
                p.service.name
            )));
        }
        if missing.is_empty() {
            checks.push(ok(format!(
                "{}: the {} SSM parameters its secrets come from exist (values not read)",
                p.service.name,
                wanted.len()
            )));
        }
    }
    checks
}

async fn existing_parameters(ecs: &Ecs, names: &[String]) -> Result<BTreeSet<String>> {
    let mut found = BTreeSet::new();
    for chunk in names.chunks(50) {
        let mut token: Option<String> = None;
        loop {
            let mut body = json!({
                "ParameterFilters": [{ "Key": "Name", "Option": "Equals", "Values": chunk }],
                "MaxResults": 50,
            });
            if let Some(t) = &token {
                body["NextToken"] = json!(t);
            }
            let answer = ecs.aws.json(Api::Ssm, "DescribeParameters", &body).await?;
            for p in answer["Parameters"].as_array().into_iter().flatten() {
                if let Some(name) = p["Name"].as_str() {
                    found.insert(name.to_string());
                }
            }
            token = answer["NextToken"].as_str().map(str::to_string);
            if token.is_none() {
                break;
            }
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ssm_arns_become_parameter_names() {
        assert_eq!(
            parameter_name("arn:aws:ssm:us-east-1:123:parameter/cruddur/backend-flask/X")
                .as_deref(),
            Some("/cruddur/backend-flask/X")
        );
        assert_eq!(
            parameter_name("arn:aws:ssm:us-east-1:123:parameter/plain").as_deref(),
            Some("/plain")
        );
        assert_eq!(parameter_name("/cruddur/y").as_deref(), Some("/cruddur/y"));
        assert_eq!(
            parameter_name("arn:aws:secretsmanager:us-east-1:123:secret:db-AbCd"),
            None
        );
    }
}
