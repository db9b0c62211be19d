//! The log checks: the awslogs groups the containers write to exist.

use std::collections::BTreeSet;

use anyhow::Result;
use serde_json::json;

use super::{fail, ok, unknown, Check, Planned};
use crate::aws::Api;
use crate::ecs::client::Ecs;

pub(super) async fn log_groups(ecs: &Ecs, planned: &[Planned]) -> Vec<Check> {
    // (group, created by ECS when missing)
    let groups: BTreeSet<(String, bool)> = planned
        .iter()
        .flat_map(|p| &p.td.container_definitions)
        .filter_map(|c| c.log_configuration.as_ref())
        .filter(|l| l.log_driver == "awslogs")
        .filter_map(|l| {
            Some((
                l.options.get("awslogs-group")?.clone(),
                l.options.get("awslogs-create-group").map(String::as_str) == Some("true"),
            ))
        })
        .collect();
    let mut checks = Vec::new();
    for (group, created) in groups {
        ecs.ctx.announce(&format!(
            "logs DescribeLogGroups logGroupNamePrefix={group}"
        ));
        if ecs.ctx.dry_run {
            continue;
        }
        checks.push(match log_group_exists(ecs, &group).await {
            Ok(true) => ok(format!("CloudWatch log group {group} exists")),
            Ok(false) if created => ok(format!(
                "CloudWatch log group {group} does not exist yet; ECS creates it (awslogs-create-group)"
            )),
            Ok(false) => fail(format!(
                "CloudWatch log group {group} does not exist: tasks will fail to start; create it: \
                 `aws logs create-log-group --log-group-name {group}`"
            )),
            Err(e) => unknown(&format!("CloudWatch log group {group}"), &e),
        });
    }
    checks
}

async fn log_group_exists(ecs: &Ecs, group: &str) -> Result<bool> {
    let mut token: Option<String> = None;
    loop {
        let mut body = json!({ "logGroupNamePrefix": group });
        if let Some(t) = &token {
            body["nextToken"] = json!(t);
        }
        let answer = ecs.aws.json(Api::Logs, "DescribeLogGroups", &body).await?;
        if answer["logGroups"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|g| g["logGroupName"].as_str() == Some(group))
        {
            return Ok(true);
        }
        token = answer["nextToken"].as_str().map(str::to_string);
        if token.is_none() {
            return Ok(false);
        }
    }
}
