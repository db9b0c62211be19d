//! A running sandbox whose account lost its state says so and heals: before
//! `up` calls a running sandbox up, the agent checks the seeded account
//! (`python -m cruddur_sandbox check`, `sandbox/README.md`). What keeps its
//! name (roles, policies, the log group, SSM placeholders) it re-seeds in
//! place; when moto lost its state (a reset: the seeded subnets, user pool
//! and database address are gone) only a restart gives a whole account.

use anyhow::{bail, Result};
use xshell::cmd;

use super::Layout;
use crate::ctx::Ctx;
use crate::exec::{shell, Cmd};

/// What the check found.
#[derive(Debug, PartialEq)]
pub enum Account {
    Whole,
    /// Put back in place: what was missing.
    Reseeded(String),
    /// Only a restart heals it: what is gone.
    Lost(String),
}

pub fn check(ctx: &Ctx, layout: &Layout) -> Result<Account> {
    let sh = shell()?;
    let (python, dir) = (layout.venv_bin("python"), layout.dir());
    let policies = ctx.root.join("infra/policies");
    let line = Cmd::from(cmd!(
        sh,
        "{python} -m cruddur_sandbox check --state-dir {dir} --policies {policies}"
    ))
    .env(
        "PYTHONPATH",
        ctx.tool_root.join("sandbox").display().to_string(),
    )
    .read(&Ctx {
        dry_run: false,
        ..ctx.clone()
    })?;
    parse(line.lines().last().unwrap_or_default())
}

fn parse(line: &str) -> Result<Account> {
    if line == "whole" {
        return Ok(Account::Whole);
    }
    if let Some(what) = line.strip_prefix("re-seeded: ") {
        return Ok(Account::Reseeded(what.to_string()));
    }
    if let Some(why) = line.strip_prefix("lost: ") {
        return Ok(Account::Lost(why.to_string()));
    }
    bail!("the sandbox's account check said {line:?}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_checks_line_is_its_verdict() {
        assert_eq!(parse("whole").unwrap(), Account::Whole);
        assert_eq!(
            parse("re-seeded: log group cruddur").unwrap(),
            Account::Reseeded("log group cruddur".into())
        );
        assert_eq!(
            parse("lost: the seeded subnets a, b are gone").unwrap(),
            Account::Lost("the seeded subnets a, b are gone".into())
        );
        assert!(parse("Traceback").is_err());
    }
}
