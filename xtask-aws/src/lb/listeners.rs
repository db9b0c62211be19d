//! The listeners of `infra/load-balancer.json` and their rules, brought in
//! line with the file: matched to the live ones by port; created, modified
//! (protocol, certificate, TLS policy, default action) or left alone when
//! they already match, so a second `lb create` changes nothing. A rule of a
//! listener of the file that the file does not have is deleted (a listener
//! that turned into a redirect must not keep forwarding `/api/*` over HTTP);
//! a live listener on a port the file does not name is left, and said so.

use anyhow::Result;
use aws_sdk_elasticloadbalancingv2 as elb;
use elb::types::{
    Action, ActionTypeEnum, Certificate, Listener as LiveListener, PathPatternConditionConfig,
    ProtocolEnum, RedirectActionConfig, RedirectActionStatusCodeEnum, Rule as LiveRule,
    RuleCondition,
};
use xtask::infra::{self, Listener, LoadBalancerFile, Redirect};

use crate::aws::{explain, Aws};

/// The target groups' ARNs by name.
pub(super) type Arns = [(String, String)];

fn arn_of(arns: &Arns, name: &str) -> String {
    arns.iter()
        .find(|(n, _)| n == name)
        .map(|(_, a)| a.clone())
        .unwrap_or_default()
}

/// Every listener of the load balancer (all pages).
pub(super) async fn live_listeners(aws: &Aws, lb_arn: &str) -> Result<Vec<LiveListener>> {
    aws.elb
        .describe_listeners()
        .load_balancer_arn(lb_arn)
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .map_err(|e| explain("elbv2 DescribeListeners", &e))
}

async fn live_rules(aws: &Aws, listener_arn: &str) -> Result<Vec<LiveRule>> {
    aws.elb
        .describe_rules()
        .listener_arn(listener_arn)
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .map_err(|e| explain("elbv2 DescribeRules", &e))
}

fn forward(tg_arn: &str) -> Action {
    Action::builder()
        .r#type(ActionTypeEnum::Forward)
        .target_group_arn(tg_arn)
        .build()
}

/// ELBv2's value of each redirect part the file leaves out: the request's own.
const REDIRECT_DEFAULTS: [&str; 5] = ["#{protocol}", "#{port}", "#{host}", "/#{path}", "#{query}"];

fn redirect_parts(r: &Redirect) -> [Option<&str>; 5] {
    [&r.protocol, &r.port, &r.host, &r.path, &r.query].map(|p| p.as_deref())
}

fn live_redirect_parts(r: &RedirectActionConfig) -> [Option<&str>; 5] {
    [r.protocol(), r.port(), r.host(), r.path(), r.query()]
}

fn redirect(r: &Redirect) -> Action {
    let [protocol, port, host, path, query] = redirect_parts(r).map(|p| p.map(str::to_string));
    Action::builder()
        .r#type(ActionTypeEnum::Redirect)
        .redirect_config(
            RedirectActionConfig::builder()
                .set_protocol(protocol)
                .set_port(port)
                .set_host(host)
                .set_path(path)
                .set_query(query)
                .status_code(RedirectActionStatusCodeEnum::from(r.status_code.as_str()))
                .build(),
        )
        .build()
}

/// What the listener does with what no rule matches, as the file says.
fn default_action(want: &Listener, arns: &Arns) -> Action {
    match (&want.redirect_config, &want.default_target_group) {
        (Some(r), _) => redirect(r),
        (None, tg) => forward(&arn_of(arns, tg.as_deref().unwrap_or_default())),
    }
}

fn same_action(want: &Listener, live: Option<&Action>, arns: &Arns) -> bool {
    let Some(live) = live else { return false };
    match (&want.redirect_config, live.redirect_config()) {
        (Some(r), Some(l)) => {
            let same = |(i, (w, l)): (usize, (Option<&str>, Option<&str>))| {
                let default = REDIRECT_DEFAULTS[i];
                w.unwrap_or(default)
                    .eq_ignore_ascii_case(l.unwrap_or(default))
            };
            live.r#type() == Some(&ActionTypeEnum::Redirect)
                && redirect_parts(r)
                    .into_iter()
                    .zip(live_redirect_parts(l))
                    .enumerate()
                    .all(same)
                && l.status_code().map(RedirectActionStatusCodeEnum::as_str)
                    == Some(r.status_code.as_str())
        }
        (Some(_), None) => false,
        (None, _) => {
            live.r#type() == Some(&ActionTypeEnum::Forward)
                && live.target_group_arn()
                    == Some(
                        arn_of(arns, want.default_target_group.as_deref().unwrap_or("")).as_str(),
                    )
        }
    }
}

/// The settings of `live` that differ from the file's listener.
fn drift(want: &Listener, live: &LiveListener, arns: &Arns) -> Vec<&'static str> {
    let mut differs = Vec::new();
    if live.protocol().map(ProtocolEnum::as_str) != Some(want.protocol.as_str()) {
        differs.push("protocol");
    }
    let certificate = live
        .certificates()
        .first()
        .and_then(Certificate::certificate_arn);
    if want.is_https() && certificate != want.certificate() {
        differs.push("certificate");
    }
    if want.ssl_policy.is_some() && live.ssl_policy() != want.ssl_policy.as_deref() {
        differs.push("TLS policy");
    }
    if !same_action(want, live.default_actions().first(), arns) {
        differs.push("default action");
    }
    differs
}

/// What the listener does, in a few words.
fn describe(want: &Listener) -> String {
    let action = match (&want.redirect_config, &want.default_target_group) {
        (Some(r), _) => format!(
            "redirects to {} port {} ({})",
            r.protocol.as_deref().unwrap_or("the same protocol"),
            r.port.as_deref().unwrap_or("the same"),
            r.status_code
        ),
        (None, tg) => format!("default: {}", tg.as_deref().unwrap_or_default()),
    };
    match want.certificate() {
        Some(cert) => format!("{} with certificate {cert}, {action}", want.protocol),
        None => format!("{}, {action}", want.protocol),
    }
}

/// Every listener of the file exists on its port and matches it, with its rules.
pub(super) async fn ensure(
    aws: &Aws,
    lb_arn: &str,
    file: &LoadBalancerFile,
    arns: &Arns,
) -> Result<()> {
    let live = live_listeners(aws, lb_arn).await?;
    for want in &file.listeners {
        let arn = match live.iter().find(|l| l.port() == Some(want.port)) {
            Some(found) => modify(aws, want, found, arns).await?,
            None => create(aws, lb_arn, want, arns).await?,
        };
        ensure_rules(aws, &arn, want, arns).await?;
    }
    for extra in live
        .iter()
        .filter(|l| !file.listeners.iter().any(|w| Some(w.port) == l.port()))
    {
        xtask::outln!(
            "listener :{} is not in infra/load-balancer.json: left as it is",
            extra.port().unwrap_or_default()
        );
    }
    Ok(())
}

async fn create(aws: &Aws, lb_arn: &str, want: &Listener, arns: &Arns) -> Result<String> {
    let certificates = want
        .certificate()
        .map(|arn| vec![Certificate::builder().certificate_arn(arn).build()]);
    let out = aws
        .elb
        .create_listener()
        .load_balancer_arn(lb_arn)
        .protocol(ProtocolEnum::from(want.protocol.as_str()))
        .port(want.port)
        .set_certificates(certificates)
        .set_ssl_policy(want.ssl_policy.clone())
        .default_actions(default_action(want, arns))
        .send()
        .await
        .map_err(|e| explain("elbv2 CreateListener", &e))?;
    xtask::outln!("created listener :{} {}", want.port, describe(want));
    Ok(out
        .listeners()
        .first()
        .and_then(|l| l.listener_arn())
        .unwrap_or_default()
        .to_string())
}

async fn modify(aws: &Aws, want: &Listener, live: &LiveListener, arns: &Arns) -> Result<String> {
    let arn = live.listener_arn().unwrap_or_default().to_string();
    let differs = drift(want, live, arns);
    if differs.is_empty() {
        return Ok(arn);
    }
    let certificates = want
        .certificate()
        .map(|arn| vec![Certificate::builder().certificate_arn(arn).build()]);
    aws.elb
        .modify_listener()
        .listener_arn(&arn)
        .protocol(ProtocolEnum::from(want.protocol.as_str()))
        .set_certificates(certificates)
        .set_ssl_policy(want.ssl_policy.clone())
        .default_actions(default_action(want, arns))
        .send()
        .await
        .map_err(|e| explain("elbv2 ModifyListener", &e))?;
    xtask::outln!(
        "listener :{}: updated {} ({})",
        want.port,
        differs.join(", "),
        describe(want)
    );
    Ok(arn)
}

fn path_condition(rule: &infra::Rule) -> RuleCondition {
    RuleCondition::builder()
        .field("path-pattern")
        .path_pattern_config(
            PathPatternConditionConfig::builder()
                .set_values(Some(rule.path_patterns.clone()))
                .build(),
        )
        .build()
}

/// A live rule's path patterns: its path-pattern condition's config, or the
/// condition's own `Values` (how older clients, and the aws CLI's shorthand, give them).
fn live_patterns(live: &LiveRule) -> Vec<String> {
    live.conditions()
        .iter()
        .filter(|c| c.field() == Some("path-pattern"))
        .flat_map(|c| match c.path_pattern_config() {
            Some(p) if !p.values().is_empty() => p.values().to_vec(),
            _ => c.values().to_vec(),
        })
        .collect()
}

/// The listener's rules as the file has them: each created or modified by
/// its priority, and the ones the file does not have deleted.
async fn ensure_rules(aws: &Aws, listener_arn: &str, want: &Listener, arns: &Arns) -> Result<()> {
    let live = live_rules(aws, listener_arn).await?;
    for rule in &want.rules {
        let tg_arn = arn_of(arns, &rule.target_group);
        let priority = rule.priority.to_string();
        let shown = format!("{} -> {}", rule.path_patterns.join(" "), rule.target_group);
        match live
            .iter()
            .find(|r| r.priority() == Some(priority.as_str()))
        {
            Some(found) => {
                let target = found.actions().first().and_then(Action::target_group_arn);
                if live_patterns(found) == rule.path_patterns && target == Some(tg_arn.as_str()) {
                    continue;
                }
                aws.elb
                    .modify_rule()
                    .rule_arn(found.rule_arn().unwrap_or_default())
                    .conditions(path_condition(rule))
                    .actions(forward(&tg_arn))
                    .send()
                    .await
                    .map_err(|e| explain("elbv2 ModifyRule", &e))?;
                xtask::outln!("listener :{}: rule {priority}: {shown}", want.port);
            }
            None => {
                aws.elb
                    .create_rule()
                    .listener_arn(listener_arn)
                    .priority(rule.priority)
                    .conditions(path_condition(rule))
                    .actions(forward(&tg_arn))
                    .send()
                    .await
                    .map_err(|e| explain("elbv2 CreateRule", &e))?;
                xtask::outln!("listener :{}: created rule {priority}: {shown}", want.port);
            }
        }
    }
    for extra in live.iter().filter(|r| !is_wanted(r, want)) {
        aws.elb
            .delete_rule()
            .rule_arn(extra.rule_arn().unwrap_or_default())
            .send()
            .await
            .map_err(|e| explain("elbv2 DeleteRule", &e))?;
        xtask::outln!(
            "listener :{}: deleted rule {} ({}), which the file does not have",
            want.port,
            extra.priority().unwrap_or_default(),
            live_patterns(extra).join(" ")
        );
    }
    Ok(())
}

/// The default rule (the listener's default action) or one of the file's priorities.
fn is_wanted(live: &LiveRule, want: &Listener) -> bool {
    live.is_default() == Some(true)
        || live.priority() == Some("default")
        || want
            .rules
            .iter()
            .any(|r| live.priority() == Some(r.priority.to_string().as_str()))
}

/// The file's listeners that ELBv2 has otherwise, as diff lines.
pub(super) async fn diff(
    aws: &Aws,
    lb_arn: &str,
    file: &LoadBalancerFile,
    arns: &Arns,
) -> Result<Vec<String>> {
    let live = live_listeners(aws, lb_arn).await?;
    let mut lines = Vec::new();
    for want in &file.listeners {
        match live.iter().find(|l| l.port() == Some(want.port)) {
            None => lines.push(format!("+ listener :{} {}", want.port, describe(want))),
            Some(found) => {
                let differs = drift(want, found, arns);
                if !differs.is_empty() {
                    lines.push(format!(
                        "~ listener :{} {}: -> {}",
                        want.port,
                        differs.join(", "),
                        describe(want)
                    ));
                }
            }
        }
    }
    Ok(lines)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file_listener(redirect: bool) -> Listener {
        Listener {
            port: 80,
            protocol: "HTTP".into(),
            redirect_config: redirect.then(|| Redirect {
                protocol: Some("HTTPS".into()),
                port: Some("443".into()),
                status_code: "HTTP_301".into(),
                ..Redirect::default()
            }),
            default_target_group: (!redirect).then(|| "tg".to_string()),
            ..Listener::default()
        }
    }

    fn arns() -> Vec<(String, String)> {
        vec![("tg".into(), "arn:tg".into())]
    }

    /// ELBv2 answers a redirect with every part filled: the parts the file
    /// leaves out are the request's own, which is no drift.
    #[test]
    fn a_redirect_with_elbv2s_defaults_filled_in_is_the_files() {
        let want = file_listener(true);
        let live_action = Action::builder()
            .r#type(ActionTypeEnum::Redirect)
            .redirect_config(
                RedirectActionConfig::builder()
                    .protocol("HTTPS")
                    .port("443")
                    .host("#{host}")
                    .path("/#{path}")
                    .query("#{query}")
                    .status_code(RedirectActionStatusCodeEnum::Http301)
                    .build(),
            )
            .build();
        let live = LiveListener::builder()
            .port(80)
            .protocol(ProtocolEnum::Http)
            .default_actions(live_action)
            .build();
        assert!(drift(&want, &live, &arns()).is_empty());
        let forwarding = LiveListener::builder()
            .port(80)
            .protocol(ProtocolEnum::Http)
            .default_actions(forward("arn:tg"))
            .build();
        assert_eq!(drift(&want, &forwarding, &arns()), ["default action"]);
        assert!(drift(&file_listener(false), &forwarding, &arns()).is_empty());
    }

    #[test]
    fn an_https_listener_drifts_by_protocol_certificate_and_policy() {
        let want = Listener {
            port: 443,
            protocol: "HTTPS".into(),
            certificate_arn: Some("arn:cert-new".into()),
            ssl_policy: Some("ELBSecurityPolicy-TLS13-1-2-2021-06".into()),
            default_target_group: Some("tg".into()),
            ..Listener::default()
        };
        let live = LiveListener::builder()
            .port(443)
            .protocol(ProtocolEnum::Http)
            .certificates(
                Certificate::builder()
                    .certificate_arn("arn:cert-old")
                    .build(),
            )
            .ssl_policy("ELBSecurityPolicy-2016-08")
            .default_actions(forward("arn:tg"))
            .build();
        assert_eq!(
            drift(&want, &live, &arns()),
            ["protocol", "certificate", "TLS policy"]
        );
    }
}
