//! What the sandbox's processes need before they start: the Python side
//! (`sandbox/`, the agent) in a virtualenv. (The registry's config is the
//! agent's: it writes `registry.yml` into the state directory.)

use std::time::Instant;

use anyhow::{Context as _, Result};
use xshell::cmd;

use super::Layout;
use crate::ctx::Ctx;
use crate::duration;
use crate::exec::{shell, Cmd, Stream};
use crate::files;

/// `sandbox/requirements.txt` (moto, boto3, docker, …) in `target/sandbox/venv`,
/// installed again only when the pins change.
pub fn ensure_venv(ctx: &Ctx, layout: &Layout) -> Result<()> {
    let req_file = ctx.tool_root.join("sandbox/requirements.txt");
    let requirements = std::fs::read_to_string(&req_file)
        .with_context(|| format!("reading {}", req_file.display()))?;
    let venv = layout.shared_path("venv");
    let stamp = venv.join(".requirements");
    if std::fs::read_to_string(&stamp).is_ok_and(|s| s == requirements) {
        return Ok(());
    }
    let started = Instant::now();
    println!(
        "installing the sandbox's Python side into {} (once)",
        venv.display()
    );
    std::fs::create_dir_all(layout.shared_path(""))?;
    let sh = shell()?;
    Cmd::from(cmd!(sh, "python3 -m venv {venv}")).run(ctx)?;
    let log = files::log_file(ctx, "pip-install-sandbox")?;
    let pip = layout.venv_bin("pip");
    Cmd::from(cmd!(
        sh,
        "{pip} install --disable-pip-version-check -r {req_file}"
    ))
    .stream(ctx, &Stream::logged(&log))?;
    std::fs::write(&stamp, requirements)?;
    println!(
        "sandbox virtualenv ready ({}; log {})",
        duration::secs(started.elapsed()),
        log.display()
    );
    Ok(())
}
