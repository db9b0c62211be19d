//! `--output json`: the result of `status`, `diff`, `verify`, `deploy` and
//! `rollback` as one JSON document on stdout, in the shape of
//! `xtask/schemas/result.schema.json` (progress goes to stderr meanwhile).
//!
//! The commands note what they learn here as they go, whatever the output:
//! the document is one per process, filled from the services' concurrent
//! deploys, so it lives in one mutex of this module rather than being handed
//! down through every call that may learn a revision, a digest or a reason.

use std::sync::Mutex;
use std::time::{Instant, SystemTime};

use serde::Serialize;
use xtask::Ctx;

/// The whole document.
#[derive(Debug, Default, Serialize)]
pub struct Document {
    pub command: String,
    pub ok: bool,
    pub exit_code: u8,
    pub dry_run: bool,
    /// The error's line, as on stderr.
    pub error: Option<String>,
    pub started_at: String,
    pub duration_seconds: f64,
    pub environment: Environment,
    pub services: Vec<ServiceResult>,
    /// `verify`'s checks (and `deploy`'s, which verifies first).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub checks: Vec<CheckResult>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub load_balancer: Option<LoadBalancer>,
    #[serde(skip)]
    started: Option<Instant>,
}

/// Where the command acted: the environment named by `--env` (else `name`
/// and `file` are null and the rest comes from the process's settings).
#[derive(Debug, Default, Serialize)]
pub struct Environment {
    pub name: Option<String>,
    pub file: Option<String>,
    pub account: Option<String>,
    pub region: Option<String>,
    pub cluster: String,
    /// Who the credentials are, when the command asked STS.
    pub caller_arn: Option<String>,
}

#[derive(Debug, Default, Clone, Serialize)]
pub struct ServiceResult {
    pub service: String,
    /// status: `active`, `missing`; diff: `same`, `differs`, `unfinished`,
    /// `missing`, `planned`; verify: `ok`, `failed`; deploy: `succeeded`,
    /// `up_to_date`, `started`, `failed`, `planned`, `not_started`; rollback:
    /// `succeeded`, `failed`, `planned`; any: `error` (failed before it could say).
    pub outcome: String,
    /// The task definition revision (`family:N`): the one running, deployed or rolled back to.
    pub revision: Option<String>,
    pub task_definition_arn: Option<String>,
    pub image: Option<String>,
    pub image_digest: Option<String>,
    pub desired_count: Option<i32>,
    pub running_count: Option<i32>,
    pub pending_count: Option<i32>,
    /// The deployment the command started or watched (status: the PRIMARY one).
    pub deployment_id: Option<String>,
    pub rollout_state: Option<String>,
    /// Why it failed or differs: ECS's reason, events, stopped tasks, the error.
    pub reasons: Vec<String>,
    pub duration_seconds: Option<f64>,
    /// rollback: the revision it went back from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_revision: Option<String>,
    /// status: every deployment of the service.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deployments: Option<Vec<Deployment>>,
    /// status: the running tasks.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tasks: Option<Vec<Task>>,
    /// status: the five latest service events.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub events: Option<Vec<Event>>,
    /// diff: the unified diffs (empty when equal) and the load balancer's drift.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diff: Option<Diff>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Deployment {
    pub id: String,
    pub status: String,
    pub revision: String,
    pub rollout_state: Option<String>,
    pub rollout_state_reason: Option<String>,
    pub desired_count: i32,
    pub running_count: i32,
    pub pending_count: i32,
    pub failed_tasks: i32,
}

#[derive(Debug, Clone, Serialize)]
pub struct Task {
    pub id: String,
    pub revision: String,
    pub last_status: String,
    pub health: String,
    pub address: Option<String>,
    pub target_health: Option<String>,
    pub target_health_reason: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Event {
    pub at: String,
    pub message: String,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Diff {
    pub task_definition: String,
    pub service: String,
    pub load_balancer: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CheckResult {
    /// `ok`, `fail` or `skip`.
    pub status: String,
    /// The service the check is about, when it is about one.
    pub service: Option<String>,
    pub message: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct LoadBalancer {
    pub name: String,
    pub url: Option<String>,
}

static DOCUMENT: Mutex<Option<Document>> = Mutex::new(None);

fn with<T>(f: impl FnOnce(&mut Document) -> T) -> T {
    let mut guard = DOCUMENT
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    f(guard.get_or_insert_with(Document::default))
}

/// The command the document is about, known before anything can fail.
pub fn named(command: &str) {
    with(|d| {
        d.command = command.to_string();
        d.started_at = rfc3339(SystemTime::now());
        d.started = Some(Instant::now());
    });
}

/// What the run's settings say of where it acts.
pub fn begin(ctx: &Ctx, command: &str) {
    with(|d| {
        d.command = command.to_string();
        d.dry_run = ctx.dry_run;
        d.environment.cluster.clone_from(&ctx.settings.cluster);
        d.environment.account.clone_from(&ctx.settings.account);
        if let Some(env) = ctx.environment() {
            d.environment.name = Some(env.name.clone());
            d.environment.file = Some(env.file.clone());
            d.environment.region = Some(env.region().to_string());
        }
    });
}

/// The region and account the AWS configuration settled on.
pub fn aws(region: &str) {
    with(|d| d.environment.region = Some(region.to_string()));
}

pub fn caller(account: &str, arn: &str) {
    with(|d| {
        d.environment.account = Some(account.to_string());
        d.environment.caller_arn = Some(arn.to_string());
    });
}

/// Updates `service`'s entry (made on first use, in the order services come).
pub fn service(name: &str, f: impl FnOnce(&mut ServiceResult)) {
    with(|d| {
        let entry = match d.services.iter().position(|s| s.service == name) {
            Some(i) => &mut d.services[i],
            None => {
                d.services.push(ServiceResult {
                    service: name.to_string(),
                    ..ServiceResult::default()
                });
                d.services.last_mut().expect("just pushed")
            }
        };
        f(entry);
    });
}

/// Gives `service` the outcome `fallback` unless it has one of `allowed`.
pub fn settle(name: &str, allowed: &[&str], fallback: &str) {
    service(name, |s| {
        if !allowed.contains(&s.outcome.as_str()) {
            s.outcome = fallback.to_string();
        }
    });
}

/// One more reason for `service`'s outcome.
pub fn reason(name: &str, line: impl Into<String>) {
    let line = line.into();
    service(name, |s| s.reasons.push(line));
}

pub fn check(status: &str, service: Option<&str>, message: &str) {
    with(|d| {
        d.checks.push(CheckResult {
            status: status.to_string(),
            service: service.map(str::to_string),
            message: message.to_string(),
        });
    });
}

pub fn load_balancer(name: &str, url: Option<String>) {
    with(|d| {
        d.load_balancer = Some(LoadBalancer {
            name: name.to_string(),
            url,
        });
    });
}

/// The document, finished with the command's result: what `--output json` prints.
pub fn finish(result: &anyhow::Result<()>, exit_code: u8) -> String {
    with(|d| {
        for s in &mut d.services {
            if s.outcome.is_empty() {
                s.outcome = "error".into();
            }
        }
        d.ok = result.is_ok();
        d.exit_code = exit_code;
        d.error = result.as_ref().err().map(|e| format!("{e:#}"));
        if d.started_at.is_empty() {
            d.started_at = rfc3339(SystemTime::now());
        }
        d.duration_seconds = d.started.map_or(0.0, |s| {
            (s.elapsed().as_secs_f64() * 1000.0).round() / 1000.0
        });
        serde_json::to_string_pretty(d).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
    })
}

/// The digest of a pinned image reference (`repo@sha256:…`).
pub fn digest_of(image: &str) -> Option<String> {
    image
        .split_once('@')
        .map(|(_, d)| d.to_string())
        .filter(|d| d.starts_with("sha256:"))
}

/// Seconds, rounded to milliseconds.
pub fn seconds(d: std::time::Duration) -> f64 {
    (d.as_secs_f64() * 1000.0).round() / 1000.0
}

fn rfc3339(t: SystemTime) -> String {
    aws_smithy_types::DateTime::from(t)
        .fmt(aws_smithy_types::date_time::Format::DateTime)
        .unwrap_or_default()
}
