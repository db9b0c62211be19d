//! The git facts the tool tags images with.

use anyhow::{Context as _, Result};
use xshell::cmd;

use crate::ctx::Ctx;
use crate::exec::{shell, Cmd};

/// The commit images are tagged with: short sha, `-dirty` with uncommitted changes.
pub fn commit_tag(ctx: &Ctx) -> Result<String> {
    let sh = shell()?;
    sh.change_dir(&ctx.root);
    let sha = Cmd::from(cmd!(sh, "git rev-parse --short HEAD"))
        .read(ctx)
        .context("finding the git commit to tag with")?;
    let dirty = !Cmd::from(cmd!(sh, "git status --porcelain --untracked-files=no"))
        .read(ctx)?
        .is_empty();
    Ok(if dirty { format!("{sha}-dirty") } else { sha })
}
