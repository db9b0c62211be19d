//! `connect`: ECS exec into a running task's container, through the AWS CLI
//! and the Session Manager plugin (the SDK has no interactive session).

use anyhow::{anyhow, bail, Result};
use aws_sdk_ecs::types as ecs;
use xshell::cmd;
use xtask::exec::{shell, Cmd};
use xtask::produced::Produced;
use xtask::services::Service;
use xtask::{host, Ctx};

use super::client::Ecs;

pub async fn connect(ctx: &Ctx, service: &Service, command: &str) -> Result<()> {
    for (program, hint) in [
        ("aws", "install the AWS CLI v2: https://docs.aws.amazon.com/cli/latest/userguide/getting-started-install.html"),
        ("session-manager-plugin", "install the Session Manager plugin: https://docs.aws.amazon.com/systems-manager/latest/userguide/session-manager-working-with-install-plugin.html"),
    ] {
        if !ctx.dry_run && !host::on_path(program) {
            bail!("`cargo xtask connect` needs `{program}`: {hint}");
        }
    }
    let ecs = Ecs::new(ctx).await?;
    ctx.announce(&format!(
        "ecs ListTasks cluster={} serviceName={} desiredStatus=RUNNING",
        ecs.cluster, service.name
    ));
    let task: Produced<String> = if ctx.dry_run {
        Produced::planned(format!("a running task of {}", service.name))
    } else {
        let arns = ecs.task_arns(service, ecs::DesiredStatus::Running).await?;
        Produced::Value(
            arns.into_iter()
                .next()
                .ok_or_else(|| anyhow!("{service} has no running task to connect to"))?,
        )
    };
    let (sh, cluster, container) = (shell()?, &ecs.cluster, service.name);
    let task = task.to_string();
    Cmd::from(cmd!(
        sh,
        "aws ecs execute-command --cluster {cluster} --task {task} --container {container} --interactive --command {command}"
    ))
    .interactive()
    .run(ctx)
}
