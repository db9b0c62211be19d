//! What the sandbox's processes need before they start: the Python side in a
//! virtualenv, an account seeded like a real one, and the registry's config.

use std::time::Instant;

use anyhow::{Context as _, Result};
use serde::Deserialize;

use super::{Layout, REGION};
use crate::ctx::Ctx;
use crate::exec::{shell, Cmd, Stream};
use crate::util;
use xshell::cmd;

/// moto, boto3 and bcrypt in `target/sandbox/venv`, from the pinned requirements.
pub fn ensure_venv(ctx: &Ctx, layout: &Layout) -> Result<()> {
    let requirements = include_str!("requirements.txt");
    let stamp = layout.shared.join("venv/.requirements");
    if std::fs::read_to_string(&stamp).is_ok_and(|s| s == requirements) {
        return Ok(());
    }
    let started = Instant::now();
    let venv = layout.shared.join("venv");
    println!("installing moto into {} (once)", venv.display());
    std::fs::create_dir_all(&layout.shared)?;
    let sh = shell()?;
    Cmd::from(cmd!(sh, "python3 -m venv {venv}")).run(ctx)?;
    let req_file = layout.shared.join("requirements.txt");
    std::fs::write(&req_file, requirements)?;
    let log = layout.shared.join("pip-install.log");
    let pip = layout.venv_bin("pip");
    Cmd::from(cmd!(
        sh,
        "{pip} install --disable-pip-version-check -r {req_file}"
    ))
    .stream(ctx, &Stream::logged(&log))?;
    std::fs::write(&stamp, requirements)?;
    println!(
        "moto installed ({}; log {})",
        util::secs(started.elapsed()),
        log.display()
    );
    Ok(())
}

#[derive(Deserialize)]
pub struct Seeded {
    pub subnets: Vec<String>,
    pub security_group: String,
}

/// Subnets, a security group, IAM roles, the log group, the SSM parameters and
/// the namespace, as a real account has them; the registry's htpasswd.
pub fn seed(ctx: &Ctx, layout: &Layout, endpoint: &str, password: Option<&str>) -> Result<Seeded> {
    let script = layout.path("seed.py");
    std::fs::write(&script, include_str!("seed.py"))?;
    let (sh, python) = (shell()?, layout.venv_bin("python"));
    let (policies, htpasswd) = (ctx.root.join("infra/policies"), layout.path("htpasswd"));
    let mut seed = Cmd::from(cmd!(
        sh,
        "{python} {script} --endpoint {endpoint} --policies {policies} --htpasswd {htpasswd}"
    ))
    .env("AWS_ACCESS_KEY_ID", "sandbox")
    .env("AWS_SECRET_ACCESS_KEY", "sandbox")
    .env("AWS_DEFAULT_REGION", REGION);
    if let Some(password) = password {
        // An environment variable, not an argument: process lists show arguments.
        seed = seed.env("SANDBOX_REGISTRY_PASSWORD", password);
    }
    let out = seed.read(ctx).context("seeding moto")?;
    println!(
        "seeded moto: default VPC subnets, security group, IAM roles, log group, SSM parameters"
    );
    serde_json::from_str(&out).with_context(|| format!("reading the seed script's answer: {out}"))
}

pub fn registry_config(layout: &Layout, port: u16, bridge_port: u16) -> String {
    format!(
        r"version: 0.1
log:
  level: info
  formatter: text
storage:
  filesystem:
    rootdirectory: {data}
  delete:
    enabled: true
http:
  addr: 127.0.0.1:{port}
  secret: cruddur-sandbox-{port}
auth:
  htpasswd:
    realm: cruddur-sandbox
    path: {htpasswd}
notifications:
  endpoints:
    - name: moto-ecr
      url: http://127.0.0.1:{bridge_port}/events
      timeout: 5s
      threshold: 5
      backoff: 1s
",
        data = layout.path("registry-data").display(),
        htpasswd = layout.path("htpasswd").display(),
    )
}
