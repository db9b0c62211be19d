//! `cargo xtask demo`: the quick start. From a fresh machine to both services
//! deployed on the local sandbox, one plain line per step with its duration.
//! Running it again is fast and ends in the same state: base images and
//! docker layers are cached, unchanged task definitions are not re-registered,
//! and the data set-up tasks, run every time, keep the data that is there.
//! The AWS steps are the commands a user would type, run as child processes.

use anyhow::Result;

use crate::ctx::Ctx;
use crate::flags::{BuildArgs, DemoArgs, SandboxUpArgs};
use crate::sandbox::{self, Layout};
use crate::services::{Selection, ALL};
use crate::steps::Steps;
use crate::{aws_build, docker, duration, env};

const MOTO_HINT: &str = "is moto up? `cargo xtask sandbox status`";

/// The role the set-up tasks run with (`infra/policies/setup-task-policy.json`):
/// they create the messages table and list the pool's users, which the
/// running backend's own role may not (issue 31).
pub const SET_UP_ROLE: &str = "CruddurSetupTaskRole";

/// The backend's set-up scripts `demo` runs as one-off tasks, all idempotent.
const SET_UP_TASKS: [(&str, &str); 3] = [
    (
        "database: migrations, seed into an empty one",
        "bin/db-setup",
    ),
    ("messages table", "bin/ddb-setup"),
    (
        "seed users linked to their Cognito users",
        "bin/update-cognito-user-ids",
    ),
];

pub fn run(ctx: &Ctx, args: &DemoArgs) -> Result<()> {
    let mut steps = Steps::new("demo");
    let up = SandboxUpArgs::for_tools(args.port_base, args.state.state_dir.clone());
    // The first time, compiling the AWS part of the tool takes minutes: it
    // runs while the sandbox is set up, and is waited for before the first AWS step.
    let state = std::thread::scope(|scope| {
        let aws_build = scope.spawn(|| aws_build::ensure_built(ctx).map(drop));
        let state = steps.run_or_stop(
            "sandbox: docker, AWS, local ECS, registry, base images",
            "see the log files under target/sandbox and target/logs; `cargo xtask sandbox status` shows what runs",
            || sandbox::up(ctx, &up),
        );
        let built = steps.run_or_stop(
            "the AWS part of the tool (compiled alongside)",
            "read cargo's output above",
            || {
                aws_build
                    .join()
                    .unwrap_or_else(|_| Err(anyhow::anyhow!("the compile thread panicked")))
            },
        );
        built.and(state)
    })?;
    // Every later step talks to the sandbox, exactly as a user who sourced env.sh.
    let ctx = &ctx.with_settings(state.settings(&ctx.settings));
    let aws_env = state.aws_env();
    let sandbox_or_process = |name: &str| {
        aws_env
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.clone())
            .or_else(|| env::process_env(name))
    };
    steps.run_or_stop(
        "env files",
        "set the variables the error names (README: env table)",
        || env::write_with(ctx, &ALL, &sandbox_or_process),
    )?;
    let aws = |args: &[&str]| aws_build::run(ctx, args, &aws_env);
    steps.run_or_stop("ECR repositories", MOTO_HINT, || aws(&["ecr", "create"]))?;
    steps.run_or_stop("ECS cluster and load balancer", MOTO_HINT, || {
        aws(&["cluster", "create"])
    })?;
    steps.run_or_stop(
        "build both prod images",
        "read the build output above; `cargo xtask build <svc>` retries one",
        || docker::build(ctx, &BuildArgs::prod(Selection::All)),
    )?;
    steps.run_or_stop(
        "push both images",
        "`cargo xtask ecr login`, then `cargo xtask push all`",
        || aws(&["push", "all", "--create-repo"]),
    )?;
    steps.run_or_stop(
        "deploy both services",
        "`cargo xtask status` shows the deployments; `cargo xtask deploy all --no-build` retries",
        || {
            aws(&[
                "deploy",
                "all",
                "--no-build",
                "--timeout",
                "300s",
                "--poll-interval",
                "2s",
            ])
        },
    )?;
    // The data, set up as the original did by hand, here as one-off tasks of
    // the backend's revision with the set-up role, on every run: each script is idempotent (db-setup
    // applies only missing migrations and seeds only an empty database,
    // ddb-setup keeps an existing table, the link step re-links nothing), so
    // a second demo keeps every user, crud and message. Nothing is guessed
    // from an HTTP answer, and no reset (db-reset, ddb-setup --recreate) is run.
    for (what, command) in SET_UP_TASKS {
        steps.run_or_stop(
            &format!("{what} (one-off task: {command})"),
            "`cargo xtask logs backend` and `cargo xtask task backend --task-role CruddurSetupTaskRole -- COMMAND` retry it",
            || aws(&["task", "backend", "--task-role", SET_UP_ROLE, "--", command]),
        )?;
    }
    steps.run_or_stop("status", "`cargo xtask status`", || aws(&["status"]))?;
    println!(
        "\ndemo done in {}: both services deployed on the sandbox.",
        duration::secs(steps.elapsed())
    );
    say_what_next(&state, &Layout::new(ctx, &args.state).env_file());
    Ok(())
}

/// Where Cruddur answers and what a user can do next.
fn say_what_next(state: &sandbox::State, env_file: &std::path::Path) {
    println!(
        "Cruddur is at {} (the load balancer; plain HTTP on port {} redirects there).",
        state.lb_url(),
        state.lb_port
    );
    println!(
        "Its certificate is signed by the sandbox's own CA, {}: trust that file in your browser \
         (or `curl --cacert` it).",
        state.ca_file.display()
    );
    println!(
        "Point your shell at it with `source {}`.",
        env_file.display()
    );
    println!("Run the containers locally too:");
    for service in ALL {
        println!(
            "  cargo xtask run {} --detach   # http://localhost:{}",
            service.short, service.port
        );
    }
    println!("  cargo xtask up                  # the whole stack with docker compose");
    println!("Stop the sandbox with `cargo xtask sandbox down`.");
}

#[cfg(test)]
mod tests {
    use super::SET_UP_TASKS;

    /// Every run of `demo` runs these: none may reset a store (issue 32).
    #[test]
    fn the_set_up_tasks_are_the_idempotent_scripts_and_no_reset() {
        let commands: Vec<&str> = SET_UP_TASKS.iter().map(|(_, c)| *c).collect();
        assert_eq!(
            commands,
            [
                "bin/db-setup",
                "bin/ddb-setup",
                "bin/update-cognito-user-ids"
            ]
        );
        for command in commands {
            assert!(
                !command.contains("reset") && !command.contains("--recreate"),
                "{command}"
            );
        }
    }
}
