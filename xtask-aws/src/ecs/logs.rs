//! `logs`: the services' CloudWatch logs, read stream by stream from what ECS
//! says ran. The streams are named by the task definition's awslogs options
//! and the task ids (`<awslogs-stream-prefix>/<container>/<task id>`), never
//! found by scanning the log group: a service's lines, a deployment's, or one
//! task's, running or stopped. Also the reader `task` streams a one-off task
//! with, and the last lines of a failed deployment's stopped tasks.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::watch::short_revision;
use anyhow::{anyhow, bail, Result};
use aws_sdk_ecs::types::{DesiredStatus, Task};
use serde_json::{json, Value};
use tokio::signal::unix::{signal, SignalKind};
use xtask::errors::BadInput;
use xtask::exec::print_line;
use xtask::flags::LogsArgs;
use xtask::produced::Produced;
use xtask::services::Service;
use xtask::Ctx;

use super::client::{primary_deployment, secs, Ecs};
use crate::aws::{self, Api, Aws};

/// How often `-f` looks for new lines and new tasks.
const FOLLOW_INTERVAL: Duration = Duration::from_secs(1);
/// What `logs` shows without --since, --task or --deployment.
const DEFAULT_SINCE: Duration = Duration::from_secs(15 * 60);

/// Which tasks' lines to show.
#[derive(Debug, Clone)]
pub enum Tasks {
    /// The service's tasks, running and stopped.
    Service,
    /// The tasks ECS started for one deployment (`startedBy` is its id).
    Deployment(String),
    /// One task, by id or ARN.
    One(String),
}

/// One log stream: where a container of a task writes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LogStream {
    /// `backend 3f2a9c1e`: the service's short name and the task id's first 8 characters.
    pub label: String,
    pub group: String,
    pub name: String,
}

/// One log event, ready to print.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub timestamp: i64,
    pub label: String,
    pub message: String,
}

impl Line {
    pub fn print(&self) {
        print_line("", &format!("{}| {}", self.label, self.message));
    }
}

/// Reads streams forward from where the last read ended (GetLogEvents with
/// nextForwardToken, fully paginated), so each line is returned once.
#[derive(Default)]
pub struct Reader {
    start_time: Option<i64>,
    tokens: HashMap<LogStream, String>,
    /// Lines already returned, in case a token repeats them (an emulator
    /// indexes by position; CloudWatch does not): the same message at the same
    /// millisecond in the same stream shows once.
    seen: HashSet<(String, i64, String)>,
    /// The newest timestamp returned: `seen` forgets what is much older.
    newest: i64,
}

/// How many remembered lines make `seen` forget those ten minutes older than the newest.
const SEEN_LIMIT: usize = 50_000;

impl Reader {
    pub fn new(start_time: Option<i64>) -> Reader {
        Reader {
            start_time,
            ..Reader::default()
        }
    }

    /// The new lines of `stream` (none when it does not exist yet).
    pub async fn read(&mut self, aws: &Aws, stream: &LogStream) -> Result<Vec<Line>> {
        let mut lines = Vec::new();
        let mut token = self.tokens.get(stream).cloned();
        loop {
            let body = forward_request(stream, self.start_time, token.as_deref());
            let answer = match aws.json(Api::Logs, "GetLogEvents", &body).await {
                Ok(answer) => answer,
                // The agent creates the stream when the container starts.
                Err(e) if aws::code(&e) == Some("ResourceNotFoundException") => return Ok(lines),
                Err(e) => return Err(e),
            };
            let events = answer["events"].as_array().cloned().unwrap_or_default();
            for event in &events {
                let timestamp = event["timestamp"].as_i64().unwrap_or_default();
                let message = event["message"]
                    .as_str()
                    .unwrap_or_default()
                    .trim_end_matches(['\n', '\r'])
                    .to_string();
                self.newest = self.newest.max(timestamp);
                if self
                    .seen
                    .insert((stream.name.clone(), timestamp, message.clone()))
                {
                    lines.push(Line {
                        timestamp,
                        label: stream.label.clone(),
                        message,
                    });
                }
            }
            let next = answer["nextForwardToken"].as_str().map(str::to_string);
            let at_end = events.is_empty() || next.is_none() || next == token;
            if let Some(next) = &next {
                self.tokens.insert(stream.clone(), next.clone());
            }
            if at_end {
                if self.seen.len() > SEEN_LIMIT {
                    let horizon = self.newest - 10 * 60 * 1000;
                    self.seen.retain(|(_, t, _)| *t >= horizon);
                }
                return Ok(lines);
            }
            token = next;
        }
    }

    /// The new lines of all `streams`, in time order.
    pub async fn read_all(&mut self, aws: &Aws, streams: &[LogStream]) -> Result<Vec<Line>> {
        let mut lines = Vec::new();
        for stream in streams {
            lines.extend(self.read(aws, stream).await?);
        }
        sort(&mut lines);
        Ok(lines)
    }
}

/// GetLogEvents forward from `token`; the window (`startTime`) goes with every
/// page, as the token's position is within it.
fn forward_request(stream: &LogStream, start_time: Option<i64>, token: Option<&str>) -> Value {
    let mut body = json!({
        "logGroupName": stream.group,
        "logStreamName": stream.name,
        "startFromHead": true,
    });
    if let Some(start) = start_time {
        body["startTime"] = json!(start);
    }
    if let Some(token) = token {
        body["nextToken"] = json!(token);
    }
    body
}

fn sort(lines: &mut [Line]) {
    lines.sort_by(|a, b| a.timestamp.cmp(&b.timestamp).then(a.label.cmp(&b.label)));
}

pub fn task_id(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}

pub fn label(service: &Service, task_arn: &str) -> String {
    let id = task_id(task_arn);
    format!("{} {}", service.short, &id[..id.len().min(8)])
}

pub fn millis(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}

/// Finds the log streams of tasks: the task definition's awslogs options for
/// `container`, each asked of ECS once per revision.
pub struct Streams<'a> {
    ecs: &'a Ecs,
    service: &'a Service,
    container: String,
    /// Per task definition ARN: (group, prefix), or why there is no stream.
    options: HashMap<String, Result<(String, String), String>>,
    warned: HashSet<String>,
}

impl<'a> Streams<'a> {
    pub fn new(ecs: &'a Ecs, service: &'a Service, container: Option<&str>) -> Streams<'a> {
        Streams {
            ecs,
            service,
            container: container.unwrap_or(service.name).to_string(),
            options: HashMap::new(),
            warned: HashSet::new(),
        }
    }

    /// The stream of each task (tasks whose definition has no awslogs
    /// configuration for the container are said once and skipped).
    pub async fn of(&mut self, tasks: &[Task]) -> Result<Vec<LogStream>> {
        let mut streams = Vec::new();
        for task in tasks {
            let (arn, td) = (
                task.task_arn().unwrap_or_default(),
                task.task_definition_arn().unwrap_or_default(),
            );
            if arn.is_empty() || td.is_empty() {
                continue;
            }
            if !self.options.contains_key(td) {
                let found = self.awslogs(td).await?;
                self.options.insert(td.to_string(), found);
            }
            match &self.options[td] {
                Ok((group, prefix)) => streams.push(LogStream {
                    label: label(self.service, arn),
                    group: group.clone(),
                    name: format!("{prefix}/{}/{}", self.container, task_id(arn)),
                }),
                Err(why) => {
                    if self.warned.insert(td.to_string()) {
                        eprintln!("{}: {why}", self.service.name);
                    }
                }
            }
        }
        Ok(streams)
    }

    async fn awslogs(&self, td: &str) -> Result<Result<(String, String), String>> {
        let found = self
            .ecs
            .describe_task_definition(&Produced::Value(td.to_string()))
            .await?
            .real()?;
        let rev = short_revision(td);
        let Some(found) = found else {
            return Ok(Err(format!(
                "task definition {rev} is gone: its tasks' logs are not shown"
            )));
        };
        let Some(c) = found
            .container_definitions()
            .iter()
            .find(|c| c.name() == Some(self.container.as_str()))
        else {
            let names: Vec<&str> = found
                .container_definitions()
                .iter()
                .filter_map(|c| c.name())
                .collect();
            return Ok(Err(format!(
                "{rev} has no container {}; its containers: {}",
                self.container,
                names.join(", ")
            )));
        };
        let Some(conf) = c.log_configuration() else {
            return Ok(Err(format!(
                "container {} of {rev} has no logConfiguration: its lines are not in CloudWatch",
                self.container
            )));
        };
        let driver = conf.log_driver().as_str();
        if driver != "awslogs" {
            return Ok(Err(format!(
                "container {} of {rev} logs with {driver}, not awslogs: its lines are not in CloudWatch",
                self.container
            )));
        }
        let empty = std::collections::HashMap::new();
        let options = conf.options().unwrap_or(&empty);
        match (
            options.get("awslogs-group"),
            options.get("awslogs-stream-prefix"),
        ) {
            (Some(group), Some(prefix)) => Ok(Ok((group.clone(), prefix.clone()))),
            _ => Ok(Err(format!(
                "container {} of {rev} sets no awslogs-group or awslogs-stream-prefix: its stream names are unknown",
                self.container
            ))),
        }
    }
}

/// The tasks `which` selects, running and stopped, newest first.
pub async fn tasks(ecs: &Ecs, service: &Service, which: &Tasks) -> Result<Vec<Task>> {
    let mut tasks = match which {
        Tasks::One(id) => ecs.describe_tasks(std::slice::from_ref(id)).await?,
        Tasks::Service | Tasks::Deployment(_) => {
            let started_by = match which {
                Tasks::Deployment(id) => Some(id.as_str()),
                _ => None,
            };
            let mut tasks = Vec::new();
            for status in [DesiredStatus::Running, DesiredStatus::Stopped] {
                tasks.extend(ecs.tasks(service, started_by, status).await?);
            }
            tasks
        }
    };
    if let (Tasks::One(id), true) = (which, tasks.is_empty()) {
        bail!(
            "ECS has no task {id} in cluster {} (stopped tasks stay listed about an hour)",
            ecs.cluster
        );
    }
    tasks.sort_by(|a, b| secs(b.created_at()).total_cmp(&secs(a.created_at())));
    Ok(tasks)
}

/// The last `n` lines of the stopped tasks of deployment `ours` (the
/// service's own container), oldest first; for failure reports.
pub async fn last_lines(ecs: &Ecs, service: &Service, ours: &str, n: usize) -> Result<Vec<Line>> {
    let stopped = ecs
        .tasks(service, Some(ours), DesiredStatus::Stopped)
        .await?;
    let streams = Streams::new(ecs, service, None).of(&stopped).await?;
    let mut lines = Vec::new();
    for stream in &streams {
        // The stream's end: GetLogEvents from the tail, one page of n.
        let body = json!({
            "logGroupName": stream.group,
            "logStreamName": stream.name,
            "startFromHead": false,
            "limit": n,
        });
        let answer = match ecs.aws.json(Api::Logs, "GetLogEvents", &body).await {
            Ok(answer) => answer,
            Err(e) if aws::code(&e) == Some("ResourceNotFoundException") => continue,
            Err(e) => return Err(e),
        };
        for event in answer["events"].as_array().into_iter().flatten() {
            lines.push(Line {
                timestamp: event["timestamp"].as_i64().unwrap_or_default(),
                label: stream.label.clone(),
                message: event["message"]
                    .as_str()
                    .unwrap_or_default()
                    .trim_end_matches(['\n', '\r'])
                    .to_string(),
            });
        }
    }
    sort(&mut lines);
    let skip = lines.len().saturating_sub(n);
    Ok(lines.split_off(skip))
}

/// What one service's part of `logs` follows.
struct Followed {
    service: &'static Service,
    which: Tasks,
}

pub async fn logs(ctx: &Ctx, args: &LogsArgs) -> Result<()> {
    if args.task.is_some() && args.service.services().len() > 1 {
        bail!(BadInput(
            "--task names one task: give its service instead of all".into()
        ));
    }
    let ecs = Ecs::new(ctx).await?;
    let since = args
        .since
        .or_else(|| (args.task.is_none() && args.deployment.is_none()).then_some(DEFAULT_SINCE));
    let start_time = since.map(|d| millis(SystemTime::now() - d));
    if ctx.dry_run {
        for service in args.service.services() {
            if args.deployment.as_deref() == Some("latest") {
                ecs.describe_service(service).await?;
            }
            if args.task.is_none() {
                let only = args
                    .deployment
                    .as_ref()
                    .map(|d| format!(" (then only those whose startedBy is {d})"))
                    .unwrap_or_default();
                ctx.announce(&format!(
                    "ecs ListTasks cluster={} serviceName={} desiredStatus=RUNNING, then STOPPED{only}",
                    ecs.cluster, service.name
                ));
            }
            ctx.announce(&format!(
                "ecs DescribeTasks cluster={} tasks=[{}]",
                ecs.cluster,
                args.task.as_deref().unwrap_or("<the tasks listed>")
            ));
            ctx.announce(&format!(
                "ecs DescribeTaskDefinition (awslogs options of container {})",
                args.container.as_deref().unwrap_or(service.name)
            ));
            ctx.announce(
                "logs GetLogEvents per task stream (startFromHead, nextForwardToken until the end)",
            );
        }
        if args.follow {
            xtask::outln!(
                "then every {}s: the same again, until Ctrl-C",
                FOLLOW_INTERVAL.as_secs()
            );
        }
        return Ok(());
    }
    // Ctrl-C ends following with 0 from here on.
    let mut sigint = signal(SignalKind::interrupt())?;
    let mut followed = Vec::new();
    for service in args.service.services() {
        let which = match (&args.deployment, &args.task) {
            (_, Some(task)) => Tasks::One(task.clone()),
            (Some(d), _) if d == "latest" => {
                let live = ecs.describe_service(service).await?.real()?;
                let Some(id) = primary_deployment(live.as_ref()) else {
                    say_missing(&ecs, service, args.service.services().len())?;
                    continue;
                };
                print_line("", &format!("{}: deployment {id}", service.name));
                Tasks::Deployment(id)
            }
            (Some(d), _) => Tasks::Deployment(d.clone()),
            _ => {
                if ecs.describe_service(service).await?.real()?.is_none() {
                    say_missing(&ecs, service, args.service.services().len())?;
                    continue;
                }
                Tasks::Service
            }
        };
        followed.push(Followed { service, which });
    }
    let mut reader = Reader::new(start_time);
    let mut finders: Vec<Streams> = followed
        .iter()
        .map(|f| Streams::new(&ecs, f.service, args.container.as_deref()))
        .collect();
    let work = async {
        let mut first = true;
        loop {
            let poll = poll_once(&ecs, &followed, &mut finders, &mut reader, start_time).await;
            match poll {
                Ok(lines) if lines.is_empty() && !args.follow => {
                    let window = since.map_or(String::new(), |d| {
                        format!(" in the last {}", xtask::duration::secs(d))
                    });
                    eprintln!("no log lines{window} in the streams of the tasks ECS lists");
                }
                Ok(lines) => lines.iter().for_each(Line::print),
                // The first read says what is wrong; later ones are retried.
                Err(e) if first || !args.follow => return Err(e),
                Err(e) => eprintln!("logs: {e:#} (trying again)"),
            }
            if !args.follow {
                return Ok(());
            }
            first = false;
            tokio::time::sleep(FOLLOW_INTERVAL).await;
        }
    };
    tokio::select! {
        result = work => result,
        _ = sigint.recv() => {
            eprintln!("stopped following (Ctrl-C)");
            Ok(())
        }
    }
}

/// One pass: the tasks as ECS lists them now, and their new lines.
async fn poll_once(
    ecs: &Ecs,
    followed: &[Followed],
    finders: &mut [Streams<'_>],
    reader: &mut Reader,
    start_time: Option<i64>,
) -> Result<Vec<Line>> {
    let mut streams = Vec::new();
    for (f, finder) in followed.iter().zip(finders.iter_mut()) {
        let tasks = tasks(ecs, f.service, &f.which).await?;
        // A task that stopped before the window has nothing in it.
        let tasks: Vec<Task> = tasks
            .into_iter()
            .filter(|t| match (t.stopped_at(), start_time) {
                (Some(stopped), Some(start)) => {
                    stopped.to_millis().unwrap_or(i64::MAX) >= start - 60_000
                }
                _ => true,
            })
            .collect();
        streams.extend(finder.of(&tasks).await?);
    }
    reader.read_all(&ecs.aws, &streams).await
}

fn say_missing(ecs: &Ecs, service: &Service, selected: usize) -> Result<()> {
    let why = format!(
        "ECS service {} does not exist in cluster {}: deploy it first (`cargo xtask deploy {}`)",
        service.name, ecs.cluster, service.short
    );
    if selected > 1 {
        eprintln!("{why}");
        Ok(())
    } else {
        Err(anyhow!(why))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use xtask::services::BACKEND;

    #[test]
    fn lines_are_labelled_with_the_short_name_and_the_task_ids_start() {
        assert_eq!(
            label(
                &BACKEND,
                "arn:aws:ecs:us-east-1:1:task/cruddur/3f2a9c1e55aa4b1c8d0e"
            ),
            "backend 3f2a9c1e"
        );
        assert_eq!(label(&BACKEND, "abc"), "backend abc");
    }

    #[test]
    fn lines_merge_in_time_order() {
        let line = |t, l: &str| Line {
            timestamp: t,
            label: l.into(),
            message: String::new(),
        };
        let mut lines = vec![line(3, "b"), line(1, "b"), line(2, "a"), line(1, "a")];
        sort(&mut lines);
        let order: Vec<(i64, &str)> = lines
            .iter()
            .map(|l| (l.timestamp, l.label.as_str()))
            .collect();
        assert_eq!(order, [(1, "a"), (1, "b"), (2, "a"), (3, "b")]);
        let stream = LogStream {
            label: "backend 3f2a9c1e".into(),
            group: "cruddur".into(),
            name: "backend-flask/backend-flask/3f2a9c1e".into(),
        };
        let page = forward_request(&stream, Some(5), Some("f/1"));
        assert_eq!(
            page["startTime"],
            json!(5),
            "the window goes with every page"
        );
        assert_eq!(page["nextToken"], json!("f/1"));
        assert_eq!(page["startFromHead"], json!(true));
        assert!(forward_request(&stream, None, None)
            .get("startTime")
            .is_none());
    }
}
