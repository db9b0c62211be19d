//! Watching one deployment until it has really succeeded. Pure: fed with
//! DescribeServices snapshots (live, or recorded in tests), it says what to
//! print and whether the deployment succeeded, failed, or is still going.
//!
//! "Stable" is not success: after a circuit-breaker rollback the service is
//! stable again on the old revision. Success is *our* deployment (the id
//! UpdateService returned) PRIMARY with rolloutState COMPLETED and every
//! task it wants running (a completed deployment whose task has since
//! stopped serves nothing until ECS replaces it).

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use serde::Deserialize;

/// The parts of a DescribeServices `service` the watch looks at, in AWS's
/// JSON shape so recorded responses can be replayed as they are.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Snapshot {
    #[serde(default)]
    pub deployments: Vec<Deployment>,
    #[serde(default)]
    pub events: Vec<Event>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Deployment {
    pub id: String,
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub task_definition: String,
    #[serde(default)]
    pub desired_count: i32,
    #[serde(default)]
    pub running_count: i32,
    #[serde(default)]
    pub pending_count: i32,
    #[serde(default)]
    pub failed_tasks: i32,
    #[serde(default)]
    pub rollout_state: Option<String>,
    #[serde(default)]
    pub rollout_state_reason: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    pub id: String,
    #[serde(default)]
    pub created_at: f64,
    #[serde(default)]
    pub message: String,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    Waiting,
    Succeeded,
    /// Why, in one line (rollout reason, rollback, disappearance).
    Failed(String),
    TimedOut,
}

/// `arn:aws:ecs:…:task-definition/backend-flask:7` -> `backend-flask:7`
pub fn short_revision(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}

/// The decision alone, on one snapshot.
pub fn judge(ours: &str, s: &Snapshot) -> Verdict {
    let Some(dep) = s.deployments.iter().find(|d| d.id == ours) else {
        let now = s
            .deployments
            .iter()
            .find(|d| d.status == "PRIMARY")
            .map(|d| short_revision(&d.task_definition));
        return Verdict::Failed(format!(
            "deployment {ours} is gone: ECS replaced it{}",
            now.map(|r| format!(" (the service now runs {r})"))
                .unwrap_or_default()
        ));
    };
    let reason = dep.rollout_state_reason.clone().unwrap_or_default();
    match dep.rollout_state.as_deref() {
        Some("FAILED") => return Verdict::Failed(format!("rollout FAILED: {reason}")),
        Some("COMPLETED") if dep.status == "PRIMARY" && dep.running_count >= dep.desired_count => {
            return Verdict::Succeeded
        }
        _ => {}
    }
    if dep.status != "PRIMARY" {
        // Another deployment took over: a circuit-breaker rollback or someone else's deploy.
        let primary = s.deployments.iter().find(|d| d.status == "PRIMARY");
        let to = primary
            .map(|p| format!(" by {} ({})", p.id, short_revision(&p.task_definition)))
            .unwrap_or_default();
        return Verdict::Failed(format!("deployment {ours} was replaced{to}: a rollback"));
    }
    // Services without rollout state: done when ours is the only deployment, all running.
    if dep.rollout_state.is_none()
        && s.deployments.len() == 1
        && dep.running_count == dep.desired_count
        && dep.pending_count == 0
    {
        return Verdict::Succeeded;
    }
    Verdict::Waiting
}

/// Remembers what was printed so each change and each event shows once.
pub struct Watch {
    pub ours: String,
    label: String,
    seen_events: HashSet<String>,
    last_state: HashMap<String, String>,
    timeout: Duration,
    /// When the watch last printed something: a quiet deployment still gets a
    /// line every `QUIET`, so a log never goes silent while it waits.
    last_said: Duration,
}

/// The longest a watch stays silent.
pub const QUIET: Duration = Duration::from_secs(10);

impl Watch {
    /// `before`: the service as it was before the update; its events are old news.
    pub fn new(label: &str, ours: &str, before: Option<&Snapshot>, timeout: Duration) -> Watch {
        let seen_events = before
            .map(|s| s.events.iter().map(|e| e.id.clone()).collect())
            .unwrap_or_default();
        Watch {
            ours: ours.to_string(),
            label: label.to_string(),
            seen_events,
            last_state: HashMap::new(),
            timeout,
            last_said: Duration::ZERO,
        }
    }

    /// Lines worth printing for this snapshot, and the verdict.
    pub fn observe(&mut self, s: &Snapshot, elapsed: Duration) -> (Vec<String>, Verdict) {
        let mut lines = Vec::new();
        for d in &s.deployments {
            let state = format!(
                "{} {} running {}/{} pending {} failed {}",
                d.status,
                d.rollout_state.as_deref().unwrap_or("-"),
                d.running_count,
                d.desired_count,
                d.pending_count,
                d.failed_tasks
            );
            if self.last_state.get(&d.id) != Some(&state) {
                let mine = if d.id == self.ours { " (ours)" } else { "" };
                lines.push(format!(
                    "{}: deployment {}{mine} {}: {state}",
                    self.label,
                    d.id,
                    short_revision(&d.task_definition)
                ));
                self.last_state.insert(d.id.clone(), state);
            }
        }
        let mut new_events: Vec<&Event> = s
            .events
            .iter()
            .filter(|e| !self.seen_events.contains(&e.id))
            .collect();
        new_events.sort_by(|a, b| a.created_at.total_cmp(&b.created_at));
        for e in new_events {
            lines.push(format!("{}: event: {}", self.label, e.message));
            self.seen_events.insert(e.id.clone());
        }
        let verdict = match judge(&self.ours, s) {
            Verdict::Waiting if elapsed >= self.timeout => Verdict::TimedOut,
            v => v,
        };
        if lines.is_empty() && verdict == Verdict::Waiting && elapsed >= self.last_said + QUIET {
            lines.push(self.still_waiting(s, elapsed));
        }
        if !lines.is_empty() {
            self.last_said = elapsed;
        }
        (lines, verdict)
    }

    /// What the deployment waits for, as far as DescribeServices tells.
    fn still_waiting(&self, s: &Snapshot, elapsed: Duration) -> String {
        let ours = s.deployments.iter().find(|d| d.id == self.ours);
        let old_running: i32 = s
            .deployments
            .iter()
            .filter(|d| d.id != self.ours)
            .map(|d| d.running_count)
            .sum();
        let what = match ours {
            Some(d) if d.running_count < d.desired_count => format!(
                "{} of {} task(s) running, the rest starting",
                d.running_count, d.desired_count
            ),
            Some(_) if old_running > 0 => format!(
                "its tasks run; ECS waits for their health checks, then stops the {old_running} old task(s)"
            ),
            _ => "its tasks run; ECS waits for their health checks".to_string(),
        };
        format!(
            "{}: still waiting for deployment {} ({} of {}): {what}",
            self.label,
            self.ours,
            xtask::duration::secs(elapsed),
            xtask::duration::secs(self.timeout)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Replays recorded DescribeServices `service` objects; returns the final
    /// verdict, the poll it came at, and everything printed.
    fn replay(fixture: &str, ours: &str, timeout_polls: u64) -> (Verdict, usize, Vec<String>) {
        let polls: Vec<Snapshot> = serde_json::from_str(fixture).unwrap();
        let mut watch = Watch::new(
            "backend-flask",
            ours,
            None,
            Duration::from_secs(timeout_polls),
        );
        let mut printed = Vec::new();
        for (i, snapshot) in polls.iter().enumerate() {
            let (lines, verdict) = watch.observe(snapshot, Duration::from_secs(i as u64));
            printed.extend(lines);
            if verdict != Verdict::Waiting {
                return (verdict, i, printed);
            }
        }
        (Verdict::Waiting, polls.len(), printed)
    }

    const TD6: &str = "arn:aws:ecs:us-east-1:123456789012:task-definition/backend-flask:6";
    const TD7: &str = "arn:aws:ecs:us-east-1:123456789012:task-definition/backend-flask:7";

    fn dep(
        id: &str,
        status: &str,
        td: &str,
        running: i32,
        rollout: Option<&str>,
        reason: &str,
    ) -> String {
        let rollout = rollout
            .map(|r| format!(r#""rolloutState": "{r}","#))
            .unwrap_or_default();
        format!(
            r#"{{"id": "{id}", "status": "{status}", "taskDefinition": "{td}", "desiredCount": 1,
               "runningCount": {running}, "pendingCount": {pending}, "failedTasks": 0, {rollout}
               "rolloutStateReason": "{reason}", "createdAt": 1764100000.0}}"#,
            pending = 1 - running
        )
    }

    fn poll(task_definition: &str, deployments: &[String], events: &[(&str, &str)]) -> String {
        let events: Vec<String> = events
            .iter()
            .enumerate()
            .map(|(i, (id, m))| {
                format!(
                    r#"{{"id": "{id}", "createdAt": {}, "message": "{m}"}}"#,
                    1764100000 + i
                )
            })
            .collect();
        format!(
            r#"{{"serviceName": "backend-flask", "status": "ACTIVE", "taskDefinition": "{task_definition}",
                "deployments": [{}], "events": [{}]}}"#,
            deployments.join(","),
            events.join(",")
        )
    }

    fn sequence(polls: &[String]) -> String {
        format!("[{}]", polls.join(","))
    }

    /// A deployment waiting on health checks changes nothing DescribeServices
    /// shows for half a minute: a line every 10 s says what it waits for.
    #[test]
    fn a_quiet_wait_says_what_it_waits_for_every_10_seconds() {
        let waiting = poll(
            TD7,
            &[
                dep("ecs-svc/new", "PRIMARY", TD7, 1, Some("IN_PROGRESS"), ""),
                dep("ecs-svc/old", "ACTIVE", TD6, 1, Some("COMPLETED"), ""),
            ],
            &[],
        );
        let polls = sequence(&vec![waiting; 26]);
        let (verdict, _, printed) = replay(&polls, "ecs-svc/new", 100);
        assert_eq!(verdict, Verdict::Waiting);
        let still: Vec<&String> = printed
            .iter()
            .filter(|l| l.contains("still waiting"))
            .collect();
        assert_eq!(still.len(), 2, "{printed:#?}");
        assert!(
            still[0].starts_with(
                "backend-flask: still waiting for deployment ecs-svc/new (10.0s of 100.0s)"
            ) && still[0]
                .ends_with("ECS waits for their health checks, then stops the 1 old task(s)"),
            "{}",
            still[0]
        );
    }

    #[test]
    fn success_needs_our_deployment_primary_and_completed() {
        let polls = sequence(&[
            poll(
                TD7,
                &[
                    dep("ecs-svc/new", "PRIMARY", TD7, 0, Some("IN_PROGRESS"), ""),
                    dep("ecs-svc/old", "ACTIVE", TD6, 1, Some("COMPLETED"), ""),
                ],
                &[("e1", "has started 1 tasks")],
            ),
            poll(
                TD7,
                &[
                    dep("ecs-svc/new", "PRIMARY", TD7, 1, Some("IN_PROGRESS"), ""),
                    dep("ecs-svc/old", "ACTIVE", TD6, 1, Some("COMPLETED"), ""),
                ],
                &[("e1", "has started 1 tasks")],
            ),
            poll(
                TD7,
                &[dep(
                    "ecs-svc/new",
                    "PRIMARY",
                    TD7,
                    1,
                    Some("COMPLETED"),
                    "ECS deployment ecs-svc/new completed.",
                )],
                &[
                    ("e2", "has reached a steady state."),
                    ("e1", "has started 1 tasks"),
                ],
            ),
        ]);
        let (verdict, at, printed) = replay(&polls, "ecs-svc/new", 100);
        assert_eq!(verdict, Verdict::Succeeded);
        assert_eq!(at, 2);
        assert_eq!(
            printed
                .iter()
                .filter(|l| l.contains("has started 1 tasks"))
                .count(),
            1,
            "events print once"
        );
        assert!(printed
            .iter()
            .any(|l| l.contains("(ours) backend-flask:7: PRIMARY COMPLETED running 1/1")));
    }

    #[test]
    fn a_circuit_breaker_rollback_that_restabilises_on_the_old_revision_is_a_failure() {
        let reason = "ECS deployment circuit breaker: tasks failed to start.";
        let polls = sequence(&[
            poll(
                TD7,
                &[
                    dep("ecs-svc/new", "PRIMARY", TD7, 0, Some("IN_PROGRESS"), ""),
                    dep("ecs-svc/old", "ACTIVE", TD6, 1, Some("COMPLETED"), ""),
                ],
                &[],
            ),
            // The rollback: a new PRIMARY deployment on the old revision; ours no longer primary.
            poll(
                TD6,
                &[
                    dep(
                        "ecs-svc/rollback",
                        "PRIMARY",
                        TD6,
                        1,
                        Some("IN_PROGRESS"),
                        "",
                    ),
                    dep("ecs-svc/new", "ACTIVE", TD7, 0, Some("IN_PROGRESS"), ""),
                ],
                &[],
            ),
            poll(
                TD6,
                &[dep(
                    "ecs-svc/rollback",
                    "PRIMARY",
                    TD6,
                    1,
                    Some("COMPLETED"),
                    "",
                )],
                &[("e9", "has reached a steady state.")],
            ),
        ]);
        let (verdict, at, _) = replay(&polls, "ecs-svc/new", 100);
        assert!(
            matches!(&verdict, Verdict::Failed(why) if why.contains("rollback")),
            "{verdict:?}"
        );
        assert_eq!(at, 1);

        // Whichever poll the watch sees first, a stable service on the old revision is never success.
        let only_last = sequence(&[poll(
            TD6,
            &[dep(
                "ecs-svc/rollback",
                "PRIMARY",
                TD6,
                1,
                Some("COMPLETED"),
                "",
            )],
            &[],
        )]);
        let (verdict, _, _) = replay(&only_last, "ecs-svc/new", 100);
        assert!(
            matches!(&verdict, Verdict::Failed(why) if why.contains("gone") && why.contains("backend-flask:6")),
            "{verdict:?}"
        );

        let failed = sequence(&[poll(
            TD7,
            &[dep(
                "ecs-svc/new",
                "PRIMARY",
                TD7,
                0,
                Some("FAILED"),
                reason,
            )],
            &[],
        )]);
        let (verdict, _, _) = replay(&failed, "ecs-svc/new", 100);
        assert_eq!(
            verdict,
            Verdict::Failed(format!("rollout FAILED: {reason}"))
        );
    }

    /// A deployment completed earlier whose task has stopped since (deploy
    /// of an unchanged revision watches it): done once ECS has replaced it.
    #[test]
    fn a_completed_deployment_missing_a_task_is_done_once_it_runs_again() {
        let polls = sequence(&[
            poll(
                TD7,
                &[dep("ecs-svc/new", "PRIMARY", TD7, 0, Some("COMPLETED"), "")],
                &[],
            ),
            poll(
                TD7,
                &[dep("ecs-svc/new", "PRIMARY", TD7, 1, Some("COMPLETED"), "")],
                &[],
            ),
        ]);
        let (verdict, at, _) = replay(&polls, "ecs-svc/new", 100);
        assert_eq!((verdict, at), (Verdict::Succeeded, 1));
    }

    #[test]
    fn a_deployment_that_never_completes_times_out() {
        let stuck = poll(
            TD7,
            &[dep(
                "ecs-svc/new",
                "PRIMARY",
                TD7,
                0,
                Some("IN_PROGRESS"),
                "",
            )],
            &[],
        );
        let polls = sequence(&vec![stuck; 10]);
        let (verdict, at, printed) = replay(&polls, "ecs-svc/new", 5);
        assert_eq!(verdict, Verdict::TimedOut);
        assert_eq!(at, 5);
        assert_eq!(
            printed.len(),
            1,
            "an unchanged deployment prints once: {printed:?}"
        );
    }

    #[test]
    fn without_rollout_state_the_only_deployment_running_everything_is_success() {
        let no_rollout = |running| {
            format!(
                r#"{{"id": "ecs-svc/new", "status": "PRIMARY", "taskDefinition": "{TD7}", "desiredCount": 2,
                   "runningCount": {running}, "pendingCount": {}}}"#,
                2 - running
            )
        };
        let polls = sequence(&[
            poll(TD7, &[no_rollout(1)], &[]),
            poll(TD7, &[no_rollout(2)], &[]),
        ]);
        let (verdict, at, _) = replay(&polls, "ecs-svc/new", 100);
        assert_eq!((verdict, at), (Verdict::Succeeded, 1));
    }

    #[test]
    fn events_from_before_the_update_are_not_repeated() {
        let before: Snapshot =
            serde_json::from_str(&poll(TD6, &[], &[("old", "old news")])).unwrap();
        let mut watch = Watch::new("b", "ecs-svc/new", Some(&before), Duration::from_secs(60));
        let now: Snapshot = serde_json::from_str(&poll(
            TD7,
            &[dep("ecs-svc/new", "PRIMARY", TD7, 1, Some("COMPLETED"), "")],
            &[("new", "fresh"), ("old", "old news")],
        ))
        .unwrap();
        let (lines, verdict) = watch.observe(&now, Duration::ZERO);
        assert_eq!(verdict, Verdict::Succeeded);
        assert!(lines.iter().any(|l| l.ends_with("fresh")));
        assert!(!lines.iter().any(|l| l.contains("old news")));
    }
}
