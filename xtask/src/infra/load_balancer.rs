//! `infra/load-balancer.json`: the application load balancer in front of
//! both services (as the original's `cruddur-alb`), in the field names of
//! the ELBv2 API: the load balancer, a target group per service (its port
//! and health path come from the service table), and one listener whose
//! rules send `/api/*` to the backend and everything else to the front end.

use serde::{Deserialize, Serialize};

use crate::services::{self, Service};

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoadBalancerFile {
    #[serde(rename = "LoadBalancer")]
    pub load_balancer: LoadBalancer,
    #[serde(rename = "TargetGroups")]
    pub target_groups: Vec<TargetGroup>,
    #[serde(rename = "Listener")]
    pub listener: Listener,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct LoadBalancer {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheme: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub r#type: Option<String>,
    pub subnets: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub security_groups: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct TargetGroup {
    pub name: String,
    /// The service whose tasks it holds: port and health path from the service table.
    pub service: String,
    #[serde(default = "http")]
    pub protocol: String,
    #[serde(default = "ip")]
    pub target_type: String,
    pub vpc_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_check_interval_seconds: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_check_timeout_seconds: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthy_threshold_count: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unhealthy_threshold_count: Option<i32>,
    /// HTTP codes that mean healthy (`200`, `200-299`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub matcher: Option<String>,
    /// The target group attribute `deregistration_delay.timeout_seconds`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deregistration_delay_seconds: Option<i32>,
}

fn http() -> String {
    "HTTP".into()
}
fn ip() -> String {
    "ip".into()
}

impl TargetGroup {
    /// The service it holds, from the service table.
    pub fn service(&self) -> Option<&'static Service> {
        services::find(&self.service)
    }
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct Listener {
    #[serde(deserialize_with = "super::task_definition::number_from_text")]
    pub port: i32,
    #[serde(default = "http")]
    pub protocol: String,
    /// The target group that gets what no rule matches.
    pub default_target_group: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<Rule>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct Rule {
    pub priority: i32,
    pub path_patterns: Vec<String>,
    pub target_group: String,
}

/// What ELBv2 refuses of a load balancer's or target group's name: more
/// than 32 characters, anything but letters, digits and hyphens, or a hyphen
/// at either end. Environments sharing an account add their suffix to these.
fn elb_name_problem(name: &str) -> Option<String> {
    if name.len() > 32 {
        return Some(format!(
            "is {} characters, AWS allows 32 (an environment sharing its account adds its name_suffix: give it a shorter one)",
            name.len()
        ));
    }
    if name.is_empty()
        || name.starts_with('-')
        || name.ends_with('-')
        || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    {
        return Some(
            "must be letters, digits and hyphens, not starting or ending with a hyphen".into(),
        );
    }
    None
}

impl LoadBalancerFile {
    /// The target group holding `service`'s tasks, if any.
    pub fn target_group_for(&self, service: &Service) -> Option<&TargetGroup> {
        self.target_groups
            .iter()
            .find(|tg| tg.service() == Some(service))
    }

    /// What the file says beyond its fields: every target group names a
    /// known service, and the listener only names target groups of the file.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let names = std::iter::once(("LoadBalancer.Name".to_string(), &self.load_balancer.name))
            .chain(
                self.target_groups
                    .iter()
                    .enumerate()
                    .map(|(i, tg)| (format!("TargetGroups[{i}].Name"), &tg.name)),
            );
        for (at, name) in names {
            if let Some(problem) = elb_name_problem(name) {
                problems.push(format!("{at}: `{name}` {problem}"));
            }
        }
        for (i, tg) in self.target_groups.iter().enumerate() {
            if tg.service().is_none() {
                problems.push(format!(
                    "TargetGroups[{i}].Service: unknown service '{}'",
                    tg.service
                ));
            }
        }
        let known = |name: &str| self.target_groups.iter().any(|tg| tg.name == name);
        if !known(&self.listener.default_target_group) {
            problems.push(format!(
                "Listener.DefaultTargetGroup: no target group named '{}'",
                self.listener.default_target_group
            ));
        }
        for (i, rule) in self.listener.rules.iter().enumerate() {
            if !known(&rule.target_group) {
                problems.push(format!(
                    "Listener.Rules[{i}].TargetGroup: no target group named '{}'",
                    rule.target_group
                ));
            }
        }
        problems
    }
}
