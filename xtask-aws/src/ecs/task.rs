//! `task`: a one-off task of a service's revision with another command for the
//! service's container (the database set-up, a migration), its log lines
//! streamed as they come, ending with the container's own exit code. Also
//! the runner of `deploy --pre`.

use std::time::{Duration, Instant};

use super::watch::short_revision;
use anyhow::{anyhow, bail, Context as _, Result};
use aws_sdk_ecs::types::{
    CapacityProviderStrategyItem, ContainerOverride, LaunchType, NetworkConfiguration, Task,
    TaskOverride, TaskStopCode,
};
use tokio::signal::unix::{signal, SignalKind};
use xtask::errors::BadInput;
use xtask::exec::{print_line, shell_quote};
use xtask::flags::TaskArgs;
use xtask::produced::Produced;
use xtask::services::Service;
use xtask::{duration, Ctx};

use super::client::Ecs;
use super::log_streams::{task_id, Reader, Streams};
use super::revision;
use crate::aws::explain;

/// What one-off tasks are started by (ECS's `startedBy`), to tell them apart.
pub const STARTED_BY: &str = "cruddur-task";
const POLL: Duration = Duration::from_secs(1);

/// How a one-off task is launched: like the service (or as deploy will set it up).
pub struct Launch {
    /// ECS's `networkConfiguration`, as the service has it or the file says.
    pub network: Option<NetworkConfiguration>,
    pub launch_type: Option<LaunchType>,
    pub capacity_providers: Vec<CapacityProviderStrategyItem>,
    pub platform_version: Option<String>,
}

impl Launch {
    /// The live service's network configuration and launch type.
    pub fn of_service(s: &aws_sdk_ecs::types::Service) -> Launch {
        Launch {
            network: s.network_configuration().cloned(),
            launch_type: s.launch_type().cloned(),
            capacity_providers: s.capacity_provider_strategy().to_vec(),
            platform_version: s.platform_version().map(str::to_string),
        }
    }
}

/// How a one-off task ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Ended {
    /// The service's container exited with this code.
    Exited(i32),
    /// It never ran (or ran without an exit code): ECS's reason.
    DidNotRun(String),
    /// Stopped by us after the timeout.
    TimedOut(Duration),
    /// Stopped by us on Ctrl-C.
    Interrupted,
    /// A dry run: nothing was started.
    Planned,
}

impl Ended {
    /// For messages: "exited 3", "did not run: …".
    pub fn describe(&self) -> String {
        match self {
            Ended::Exited(code) => format!("exited {code}"),
            Ended::DidNotRun(why) => format!("did not run: {why}"),
            Ended::TimedOut(after) => {
                format!("timed out after {} (stopped)", duration::secs(*after))
            }
            Ended::Interrupted => "was interrupted (Ctrl-C; stopped)".into(),
            Ended::Planned => "(dry run)".into(),
        }
    }
}

/// RunTask of `task_definition` with `command` for the service's container;
/// streams its lines until it stops. On timeout or Ctrl-C the task is stopped
/// (with a reason) and waited for.
pub async fn run_one_off(
    ecs: &Ecs,
    service: &'static Service,
    task_definition: &Produced<String>,
    command: &[String],
    launch: &Launch,
    timeout: Duration,
) -> Result<Ended> {
    run_one_off_as(
        ecs,
        service,
        task_definition,
        command,
        launch,
        timeout,
        None,
    )
    .await
}

/// `run_one_off` with `task_role` (an ARN) as the task's role instead of the
/// revision's: RunTask's `overrides.taskRoleArn`.
pub async fn run_one_off_as(
    ecs: &Ecs,
    service: &'static Service,
    task_definition: &Produced<String>,
    command: &[String],
    launch: &Launch,
    timeout: Duration,
    task_role: Option<&str>,
) -> Result<Ended> {
    let shown = command
        .iter()
        .map(|a| shell_quote(a))
        .collect::<Vec<_>>()
        .join(" ");
    ecs.ctx.announce(&format!(
        "ecs RunTask cluster={} taskDefinition={} launchType={} startedBy={STARTED_BY} \
         containerOverrides=[name={} command={shown}]{} networkConfiguration=<the service's>",
        ecs.cluster,
        task_definition
            .clone()
            .map(|t| short_revision(&t).to_string()),
        launch.launch_type.as_ref().map_or("-", LaunchType::as_str),
        service.name,
        task_role.map_or(String::new(), |r| format!(" taskRoleArn={r}")),
    ));
    if ecs.ctx.dry_run {
        xtask::outln!(
            "{}: then stream the task's log lines until it stops (timeout {})",
            service.name,
            duration::secs(timeout)
        );
        return Ok(Ended::Planned);
    }
    let task_definition = task_definition.clone().real()?;
    let task = start(ecs, service, &task_definition, command, launch, task_role).await?;
    let arn = task.task_arn().unwrap_or_default().to_string();
    print_line(
        "",
        &format!(
            "{}: task {} of {} started: {shown}",
            service.name,
            task_id(&arn),
            short_revision(&task_definition)
        ),
    );
    follow(ecs, service, task, timeout).await
}

/// RunTask; the task ECS started.
async fn start(
    ecs: &Ecs,
    service: &'static Service,
    task_definition: &str,
    command: &[String],
    launch: &Launch,
    task_role: Option<&str>,
) -> Result<Task> {
    // The SDK gives RunTask a client token and keeps it across its retries:
    // an answer lost on the way back does not start a second task.
    let out = ecs
        .client()
        .run_task()
        .cluster(&ecs.cluster)
        .task_definition(task_definition)
        .started_by(STARTED_BY)
        .overrides(
            TaskOverride::builder()
                .container_overrides(
                    ContainerOverride::builder()
                        .name(service.name)
                        .set_command(Some(command.to_vec()))
                        .build(),
                )
                .set_task_role_arn(task_role.map(str::to_string))
                .build(),
        )
        .set_launch_type(launch.launch_type.clone())
        .set_capacity_provider_strategy(
            Some(launch.capacity_providers.clone()).filter(|c| !c.is_empty()),
        )
        .set_platform_version(launch.platform_version.clone())
        .set_network_configuration(launch.network.clone())
        .send()
        .await
        .map_err(|e| ecs.cluster_error("ecs RunTask", &e))?;
    if let Some(f) = out.failures().first() {
        bail!(
            "ECS did not start the task: {} {}",
            f.reason().unwrap_or("no reason given"),
            f.detail().unwrap_or_default()
        );
    }
    out.tasks()
        .first()
        .cloned()
        .context("RunTask returned no task")
}

/// Streams the task's lines until it stops; stops it on timeout or Ctrl-C.
async fn follow(
    ecs: &Ecs,
    service: &'static Service,
    task: Task,
    timeout: Duration,
) -> Result<Ended> {
    let arn = task.task_arn().unwrap_or_default().to_string();
    let started = Instant::now();
    let streams = Streams::new(ecs, service, None).of(&[task]).await?;
    let mut reader = Reader::new(None);
    let mut sigint = signal(SignalKind::interrupt())?;
    let deadline = tokio::time::Instant::now() + timeout;
    let mut stopping: Option<Ended> = None;
    loop {
        let task = describe(ecs, &arn).await?;
        for line in reader.read_all(&ecs.aws, &streams).await? {
            line.print();
        }
        if task.last_status() == Some("STOPPED") {
            // The last lines reach CloudWatch as the container exits: one more look.
            tokio::time::sleep(POLL).await;
            for line in reader.read_all(&ecs.aws, &streams).await? {
                line.print();
            }
            let ended = stopping.unwrap_or_else(|| ending(&task, service));
            print_line(
                "",
                &format!(
                    "{}: task {} {} ({})",
                    service.name,
                    task_id(&arn),
                    ended.describe(),
                    duration::secs(started.elapsed())
                ),
            );
            return Ok(ended);
        }
        tokio::select! {
            _ = sigint.recv() => {
                if stopping.is_some() {
                    eprintln!(
                        "{}: no longer waiting; task {} was asked to stop and ECS carries on",
                        service.name, task_id(&arn)
                    );
                    return Ok(Ended::Interrupted);
                }
                stop(ecs, service, &arn, "interrupted (Ctrl-C in cargo xtask task)").await?;
                stopping = Some(Ended::Interrupted);
            }
            () = tokio::time::sleep_until(deadline), if stopping.is_none() => {
                stop(ecs, service, &arn, &format!("timed out after {} (cargo xtask task --timeout)", duration::secs(timeout))).await?;
                stopping = Some(Ended::TimedOut(timeout));
            }
            () = tokio::time::sleep(POLL) => {}
        }
    }
}

async fn describe(ecs: &Ecs, arn: &str) -> Result<Task> {
    ecs.describe_tasks(&[arn.to_string()])
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| anyhow!("ECS no longer knows task {arn}"))
}

async fn stop(ecs: &Ecs, service: &Service, arn: &str, reason: &str) -> Result<()> {
    print_line(
        "",
        &format!(
            "{}: stopping task {}: {reason}; waiting until it has stopped (Ctrl-C again: stop waiting)",
            service.name,
            task_id(arn)
        ),
    );
    ecs.client()
        .stop_task()
        .cluster(&ecs.cluster)
        .task(arn)
        .reason(reason)
        .send()
        .await
        .map_err(|e| explain("ecs StopTask", &e))?;
    Ok(())
}

/// A stopped task's outcome for the service's container.
fn ending(task: &Task, service: &Service) -> Ended {
    let container = task
        .containers()
        .iter()
        .find(|c| c.name() == Some(service.name));
    let code = container.and_then(aws_sdk_ecs::types::Container::exit_code);
    let failed_to_start = task.stop_code() == Some(&TaskStopCode::TaskFailedToStart);
    match code {
        Some(code) if !failed_to_start => Ended::Exited(code),
        _ => {
            let mut why = task
                .stopped_reason()
                .unwrap_or("no reason given")
                .to_string();
            if let Some(reason) = container.and_then(aws_sdk_ecs::types::Container::reason) {
                if !why.contains(reason) {
                    why = format!("{why}; container {}: {reason}", service.name);
                }
            }
            Ended::DidNotRun(why)
        }
    }
}

pub async fn task(ctx: &Ctx, args: &TaskArgs) -> Result<()> {
    let service = args.service;
    if args.build {
        xtask::infra::check_service_files(ctx, service)?;
    }
    let ecs = Ecs::new(ctx).await?;
    let live = ecs.describe_service(service).await?;
    let (task_definition, launch) = match &live {
        Produced::Value(None) => bail!(
            "ECS service {} does not exist in cluster {}: a one-off task runs with the service's revision and network settings; deploy it first (`cargo xtask deploy {}`)",
            service.name,
            ecs.cluster,
            service.short
        ),
        Produced::Value(Some(live)) => (
            Produced::Value(live.task_definition().unwrap_or_default().to_string()),
            Launch::of_service(live),
        ),
        Produced::Planned(_) => (
            Produced::planned(format!("{}'s current revision", service.name)),
            Launch {
                network: None,
                launch_type: None,
                capacity_providers: vec![],
                platform_version: None,
            },
        ),
    };
    let task_definition = if args.build {
        revision::build_and_register(&ecs, service).await?
    } else {
        task_definition
    };
    let task_role = match &args.task_role {
        Some(name) => Some(role_arn(&ecs, name).await?),
        None => None,
    };
    let ended = run_one_off_as(
        &ecs,
        service,
        &task_definition,
        &args.command,
        &launch,
        args.timeout,
        task_role.as_deref(),
    )
    .await?;
    match ended {
        Ended::Exited(0) | Ended::Planned => Ok(()),
        Ended::Exited(code) => {
            eprintln!(
                "error: the one-off task's container {} exited with code {code}",
                service.name
            );
            std::process::exit(code);
        }
        Ended::Interrupted => {
            eprintln!("error: interrupted (Ctrl-C): the one-off task was stopped");
            std::process::exit(130);
        }
        Ended::TimedOut(after) => bail!(
            "the one-off task timed out after {} and was stopped (give it longer with --timeout)",
            duration::secs(after)
        ),
        Ended::DidNotRun(why) => bail!("the one-off task did not run: {why}"),
    }
}

/// `--task-role`'s ARN: as given, or the role of that name in this account.
async fn role_arn(ecs: &Ecs, name: &str) -> Result<String> {
    if name.starts_with("arn:") {
        return Ok(name.to_string());
    }
    let account = ecs.aws.account(&ecs.ctx).await?.to_string();
    Ok(format!(
        "arn:{}:iam::{account}:role/{name}",
        partition(&ecs.aws.region)
    ))
}

/// The ARN partition of a region.
fn partition(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else {
        "aws"
    }
}

/// A command line split as a POSIX shell splits words: blanks separate,
/// '…' is literal, "…" and a backslash escape; no expansion of any kind.
pub fn split_command(line: &str) -> Result<Vec<String>> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' | '\n' => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => word.push(c),
                        None => bail!(BadInput(format!("unterminated ' in command: {line}"))),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c @ ('"' | '\\' | '$' | '`')) => word.push(c),
                            Some('\n') => {}
                            Some(c) => {
                                word.push('\\');
                                word.push(c);
                            }
                            None => bail!(BadInput(format!("unterminated \" in command: {line}"))),
                        },
                        Some(c) => word.push(c),
                        None => bail!(BadInput(format!("unterminated \" in command: {line}"))),
                    }
                }
            }
            '\\' => {
                in_word = true;
                match chars.next() {
                    Some('\n') | None => {}
                    Some(c) => word.push(c),
                }
            }
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    if words.is_empty() {
        bail!(BadInput("the command is empty".into()));
    }
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_split_like_a_shell() {
        let split = |s| split_command(s).unwrap();
        assert_eq!(split("bin/db-setup"), ["bin/db-setup"]);
        assert_eq!(split(r#"sh -c "exit 4""#), ["sh", "-c", "exit 4"]);
        assert_eq!(
            split("sh -c 'echo \"$HOME\"'"),
            ["sh", "-c", "echo \"$HOME\""]
        );
        assert_eq!(split(r#"a\ b "c\"d" '' e"#), ["a b", "c\"d", "", "e"]);
        assert_eq!(split("  x\t y  "), ["x", "y"]);
        assert!(split_command("sh -c 'exit").is_err());
        assert!(split_command("   ").is_err());
    }

    #[test]
    fn a_task_that_never_ran_says_why() {
        let task = |code: Option<i32>, stop: &str, reason: &str| {
            Task::builder()
                .stop_code(TaskStopCode::from(stop))
                .stopped_reason(reason)
                .containers(
                    aws_sdk_ecs::types::Container::builder()
                        .name("backend-flask")
                        .set_exit_code(code)
                        .reason("CannotStartContainerError: exec: \"nope\": not found")
                        .build(),
                )
                .build()
        };
        let backend = &xtask::services::BACKEND;
        assert_eq!(
            ending(
                &task(
                    Some(3),
                    "EssentialContainerExited",
                    "Essential container in task exited"
                ),
                backend
            ),
            Ended::Exited(3)
        );
        let Ended::DidNotRun(why) = ending(
            &task(None, "TaskFailedToStart", "CannotStartContainerError: oops"),
            backend,
        ) else {
            panic!("not a failure to start")
        };
        assert!(why.contains("oops") && why.contains("not found"), "{why}");
    }
}
