//! `infra/load-balancer.json`: the application load balancer in front of
//! both services (as the original's `cruddur-alb`), in the field names of
//! the ELBv2 API: the load balancer, a target group per service (its port
//! and health path come from the service table), and its listeners: an
//! HTTPS one (the certificate from the settings) whose rules send `/api/*`
//! to the backend and everything else to the front end, and an HTTP one
//! that redirects every request to it.

use serde::{Deserialize, Serialize};

use crate::services::{self, Service};

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoadBalancerFile {
    #[serde(rename = "LoadBalancer")]
    pub load_balancer: LoadBalancer,
    #[serde(rename = "TargetGroups")]
    pub target_groups: Vec<TargetGroup>,
    #[serde(rename = "Listeners")]
    pub listeners: Vec<Listener>,
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
    /// `HTTP` or `HTTPS`.
    #[serde(default = "http")]
    pub protocol: String,
    /// The ACM certificate an HTTPS listener serves (its default certificate).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate_arn: Option<String>,
    /// The TLS policy of an HTTPS listener (ELBv2's name, e.g. `ELBSecurityPolicy-TLS13-1-2-2021-06`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssl_policy: Option<String>,
    /// The target group that gets what no rule matches (a forwarding listener).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_target_group: Option<String>,
    /// What a redirecting listener answers every request with instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redirect_config: Option<Redirect>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<Rule>,
}

/// ELBv2's `RedirectConfig`: an unset part keeps the request's own
/// (`#{protocol}`, `#{port}`, `#{host}`, `/#{path}`, `#{query}`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct Redirect {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
    /// `HTTP_301` (permanent) or `HTTP_302`.
    pub status_code: String,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct Rule {
    pub priority: i32,
    pub path_patterns: Vec<String>,
    pub target_group: String,
}

impl Listener {
    pub fn is_https(&self) -> bool {
        self.protocol == "HTTPS"
    }

    /// The certificate the file names (a placeholder left empty names none).
    pub fn certificate(&self) -> Option<&str> {
        self.certificate_arn.as_deref().filter(|c| !c.is_empty())
    }
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

    /// The listener users are sent to: the HTTPS one, else the first that forwards.
    pub fn serving_listener(&self) -> Option<&Listener> {
        let forwards = |l: &&Listener| l.default_target_group.is_some();
        self.listeners
            .iter()
            .filter(forwards)
            .find(|l| l.is_https())
            .or_else(|| self.listeners.iter().find(forwards))
    }

    /// The load balancer's URL for a browser, from its DNS name: the serving
    /// listener's scheme, its port unless the scheme's default.
    pub fn url(&self, dns: &str) -> String {
        let (scheme, port) = match self.serving_listener() {
            Some(l) if l.is_https() => ("https", l.port),
            Some(l) => ("http", l.port),
            None => ("http", 80),
        };
        match (scheme, port) {
            ("https", 443) | ("http", 80) => format!("{scheme}://{dns}"),
            _ => format!("{scheme}://{dns}:{port}"),
        }
    }

    /// An HTTPS listener without its certificate, which only creating the
    /// load balancer (and verify) needs: deploy finds its target groups without.
    pub fn missing_certificates(&self) -> Vec<String> {
        self.listeners
            .iter()
            .enumerate()
            .filter(|(_, l)| l.is_https() && l.certificate().is_none())
            .map(|(i, l)| {
                format!(
                    "Listeners[{i}].CertificateArn: the HTTPS listener :{} has no certificate: \
                     set CRUDDUR_CERTIFICATE_ARN to the ACM certificate of the front end's and the \
                     API's host names (`sandbox up` exports the sandbox's)",
                    l.port
                )
            })
            .collect()
    }

    /// What the file says beyond its fields: every target group names a
    /// known service, and each listener forwards to a target group of the file
    /// or redirects, is HTTP or HTTPS (only this one with a certificate), on a
    /// port of its own.
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
        if self.listeners.is_empty() {
            problems.push("Listeners: no listener: add an HTTPS one".into());
        }
        for (i, listener) in self.listeners.iter().enumerate() {
            let at = format!("Listeners[{i}]");
            if self.listeners[..i].iter().any(|l| l.port == listener.port) {
                problems.push(format!(
                    "{at}.Port: {} is another listener's port too",
                    listener.port
                ));
            }
            problems.extend(self.listener_problems(&at, listener));
        }
        problems
    }

    fn listener_problems(&self, at: &str, listener: &Listener) -> Vec<String> {
        let mut problems = Vec::new();
        let known = |name: &str| self.target_groups.iter().any(|tg| tg.name == name);
        match listener.protocol.as_str() {
            "HTTPS" => {}
            "HTTP" if listener.certificate().is_some() || listener.ssl_policy.is_some() => {
                problems.push(format!(
                    "{at}: CertificateArn and SslPolicy are for HTTPS listeners only"
                ));
            }
            "HTTP" => {}
            other => problems.push(format!(
                "{at}.Protocol: '{other}' is not HTTP or HTTPS (an application load balancer's)"
            )),
        }
        match (&listener.default_target_group, &listener.redirect_config) {
            (Some(tg), None) if !known(tg) => problems.push(format!(
                "{at}.DefaultTargetGroup: no target group named '{tg}'"
            )),
            (Some(_), None) => {}
            (None, Some(redirect)) => {
                if !["HTTP_301", "HTTP_302"].contains(&redirect.status_code.as_str()) {
                    problems.push(format!(
                        "{at}.RedirectConfig.StatusCode: '{}' is not HTTP_301 or HTTP_302",
                        redirect.status_code
                    ));
                }
            }
            _ => problems.push(format!(
                "{at}: give it either DefaultTargetGroup (forward) or RedirectConfig (redirect)"
            )),
        }
        for (j, rule) in listener.rules.iter().enumerate() {
            if !known(&rule.target_group) {
                problems.push(format!(
                    "{at}.Rules[{j}].TargetGroup: no target group named '{}'",
                    rule.target_group
                ));
            }
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::super::{parse, Placeholders};
    use super::*;

    const PATH: &str = "infra/load-balancer.json";

    fn placeholders() -> Placeholders {
        let mut p = Placeholders::default();
        p.set("SECURITY_GROUP", "sg-1")
            .set_list("SUBNETS", vec!["subnet-a".into(), "subnet-b".into()])
            .set("VPC_ID", "vpc-1");
        p
    }

    fn repo_file() -> String {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .unwrap();
        std::fs::read_to_string(root.join(PATH)).unwrap()
    }

    #[test]
    fn the_load_balancer_file_parses_and_names_known_services() {
        let mut p = placeholders();
        p.set(
            "CERTIFICATE_ARN",
            "arn:aws:acm:us-east-1:123456789012:certificate/c1",
        );
        let lb: LoadBalancerFile = parse(&repo_file(), PATH, &p).unwrap();
        assert!(lb.problems().is_empty(), "{:?}", lb.problems());
        let ports: Vec<i32> = lb.listeners.iter().map(|l| l.port).collect();
        assert_eq!(ports, [443, 80], "default listener ports");
        assert_eq!(lb.url("lb.example"), "https://lb.example");
        let https = lb.serving_listener().unwrap();
        assert_eq!(
            https.certificate_arn.as_deref(),
            Some("arn:aws:acm:us-east-1:123456789012:certificate/c1")
        );
        let redirect = lb.listeners[1].redirect_config.as_ref().unwrap();
        assert_eq!(
            (redirect.protocol.as_deref(), redirect.port.as_deref()),
            (Some("HTTPS"), Some("443"))
        );
        assert_eq!(redirect.status_code, "HTTP_301");
        for svc in crate::services::ALL {
            let tg = lb
                .target_group_for(svc)
                .expect("a target group per service");
            assert_eq!(tg.vpc_id, "vpc-1");
        }
        p.set("LB_PORT", "4703").set("LB_HTTPS_PORT", "4704");
        let lb: LoadBalancerFile = parse(&repo_file(), PATH, &p).unwrap();
        assert_eq!(lb.listeners[1].port, 4703);
        assert_eq!(
            lb.listeners[1]
                .redirect_config
                .as_ref()
                .unwrap()
                .port
                .as_deref(),
            Some("4704"),
            "the redirect goes to the HTTPS listener's port"
        );
        assert_eq!(lb.url("127.0.0.1"), "https://127.0.0.1:4704");
    }

    #[test]
    fn the_load_balancer_file_needs_a_certificate_and_one_action_per_listener() {
        let lb: LoadBalancerFile = parse(&repo_file(), PATH, &placeholders()).unwrap();
        assert!(lb.problems().is_empty(), "{:?}", lb.problems());
        let missing = lb.missing_certificates().join("; ");
        assert!(
            missing.contains(
                "Listeners[0].CertificateArn: the HTTPS listener :443 has no certificate"
            ) && missing.contains("CRUDDUR_CERTIFICATE_ARN"),
            "{missing}"
        );
        let mut p = placeholders();
        p.set("CERTIFICATE_ARN", "arn:c");
        let lb: LoadBalancerFile = parse(&repo_file(), PATH, &p).unwrap();
        assert!(lb.missing_certificates().is_empty());
        let problems = |f: &dyn Fn(&mut LoadBalancerFile)| {
            let mut broken = lb.clone();
            f(&mut broken);
            broken.problems().join("; ")
        };
        assert!(
            problems(&|b| b.listeners[0].rules[0].target_group = "nope".into())
                .contains("Listeners[0].Rules[0].TargetGroup: no target group named 'nope'")
        );
        assert!(problems(&|b| b.listeners[1].redirect_config = None)
            .contains("Listeners[1]: give it either DefaultTargetGroup"));
        assert!(problems(&|b| b.listeners[1].port = 443)
            .contains("Listeners[1].Port: 443 is another listener's port too"));
        assert!(problems(&|b| b.listeners[1].protocol = "TCP".into())
            .contains("Listeners[1].Protocol: 'TCP' is not HTTP or HTTPS"));
        assert!(
            problems(&|b| b.listeners[1].certificate_arn = Some("arn:c".into())).contains(
                "Listeners[1]: CertificateArn and SslPolicy are for HTTPS listeners only"
            )
        );
        assert!(problems(&|b| {
            b.listeners[1].redirect_config.as_mut().unwrap().status_code = "HTTP_307".into();
        })
        .contains("'HTTP_307' is not HTTP_301 or HTTP_302"));
        assert!(problems(&|b| b.listeners.clear()).contains("Listeners: no listener"));
        let text = repo_file().replace("\"RedirectConfig\"", "\"Redirect\"");
        let err = parse::<LoadBalancerFile>(&text, PATH, &p)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("Listeners[1]") && err.contains("Redirect"),
            "{err}"
        );
    }
}
