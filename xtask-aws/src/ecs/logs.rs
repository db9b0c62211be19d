//! `logs`: the services' CloudWatch logs (see `log_streams` for how they are
//! read): a service's lines, a deployment's, or one task's, running or
//! stopped; `-f` follows new lines and new tasks until Ctrl-C.

use std::time::{Duration, SystemTime};

use anyhow::{anyhow, bail, Result};
use aws_sdk_ecs::types::{DesiredStatus, Task};
use tokio::signal::unix::{signal, SignalKind};
use xtask::errors::BadInput;
use xtask::exec::print_line;
use xtask::flags::LogsArgs;
use xtask::services::Service;
use xtask::Ctx;

use super::client::{primary_deployment, secs, Ecs};
use super::log_streams::{millis, Line, Reader, Streams};

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
    if ctx.dry_run {
        return plan(&ecs, args).await;
    }
    let since = args
        .since
        .or_else(|| (args.task.is_none() && args.deployment.is_none()).then_some(DEFAULT_SINCE));
    // Ctrl-C ends following with 0 from here on.
    let mut sigint = signal(SignalKind::interrupt())?;
    let followed = followed(&ecs, args).await?;
    tokio::select! {
        result = follow(&ecs, args, &followed, since) => result,
        _ = sigint.recv() => {
            eprintln!("stopped following (Ctrl-C)");
            Ok(())
        }
    }
}

/// A dry run: the calls one pass makes, per service.
async fn plan(ecs: &Ecs, args: &LogsArgs) -> Result<()> {
    let ctx = &ecs.ctx;
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
    Ok(())
}

/// Which tasks of each selected service the lines come from.
async fn followed(ecs: &Ecs, args: &LogsArgs) -> Result<Vec<Followed>> {
    let selected = args.service.services().len();
    let mut followed = Vec::new();
    for service in args.service.services() {
        let which = match (&args.deployment, &args.task) {
            (_, Some(task)) => Tasks::One(task.clone()),
            (Some(d), _) if d == "latest" => {
                let live = ecs.describe_service(service).await?.real()?;
                let Some(id) = primary_deployment(live.as_ref()) else {
                    say_missing(ecs, service, selected)?;
                    continue;
                };
                print_line("", &format!("{}: deployment {id}", service.name));
                Tasks::Deployment(id)
            }
            (Some(d), _) => Tasks::Deployment(d.clone()),
            _ => {
                if ecs.describe_service(service).await?.real()?.is_none() {
                    say_missing(ecs, service, selected)?;
                    continue;
                }
                Tasks::Service
            }
        };
        followed.push(Followed { service, which });
    }
    Ok(followed)
}

/// Reads (and with `-f` keeps reading) the followed tasks' lines.
async fn follow(
    ecs: &Ecs,
    args: &LogsArgs,
    followed: &[Followed],
    since: Option<Duration>,
) -> Result<()> {
    let start_time = since.map(|d| millis(SystemTime::now() - d));
    let mut reader = Reader::new(start_time);
    let mut finders: Vec<Streams> = followed
        .iter()
        .map(|f| Streams::new(ecs, f.service, args.container.as_deref()))
        .collect();
    let mut first = true;
    loop {
        match poll_once(ecs, followed, &mut finders, &mut reader, start_time).await {
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
