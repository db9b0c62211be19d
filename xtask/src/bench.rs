//! `cargo xtask bench`: where users wait, measured side by side with the way
//! the old `bin/` scripts did it. Prints a markdown table (median, min, max
//! over N runs, and the ratio) and writes it as JSON under `target/bench/`.
//! Every tool row is the whole `cargo xtask …` process, cargo's check included.

use std::cell::RefCell;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _, Result};
use serde::Serialize;

use crate::ctx::Ctx;
use crate::exec::{shell, Cmd};
use crate::flags::{BenchArgs, SandboxUpArgs, StateDirArg};
use crate::infra;
use crate::sandbox::{self, State};
use crate::services::BACKEND;
use xshell::cmd;

#[derive(Debug, Clone, Copy, Serialize)]
struct Stats {
    runs: usize,
    median_s: f64,
    min_s: f64,
    max_s: f64,
}

#[derive(Debug, Serialize)]
struct Row {
    name: String,
    tool: Stats,
    baseline_name: Option<String>,
    baseline: Option<Stats>,
}

fn stats(mut samples: Vec<Duration>) -> Stats {
    samples.sort();
    let secs: Vec<f64> = samples.iter().map(Duration::as_secs_f64).collect();
    let n = secs.len();
    let median = if n % 2 == 1 {
        secs[n / 2]
    } else {
        (secs[n / 2 - 1] + secs[n / 2]) / 2.0
    };
    Stats {
        runs: n,
        median_s: median,
        min_s: secs[0],
        max_s: secs[n - 1],
    }
}

/// Runs `f` `runs` times (after `before` each time, untimed) and times it.
fn measure(
    runs: usize,
    mut before: impl FnMut(usize) -> Result<()>,
    mut f: impl FnMut(usize) -> Result<()>,
) -> Result<Stats> {
    let mut samples = Vec::new();
    for i in 0..runs {
        before(i)?;
        let started = Instant::now();
        f(i)?;
        samples.push(started.elapsed());
    }
    Ok(stats(samples))
}

fn nothing(_: usize) -> Result<()> {
    Ok(())
}

struct Bench<'a> {
    ctx: &'a Ctx,
    state: State,
    rows: RefCell<Vec<Row>>,
    /// Of the backend image pushed to the bench's registry.
    digest: RefCell<String>,
}

impl Bench<'_> {
    /// `cargo xtask …` pointed at the bench's sandbox.
    fn tool(&self, args: &[&str]) -> Cmd {
        let (sh, cargo) = (shell().expect("a working directory"), crate::util::cargo());
        self.on_sandbox(Cmd::from(cmd!(sh, "{cargo} xtask {args...}")).dir(&self.ctx.root))
    }

    /// The sandbox's exports, and a docker credentials store of the bench's own.
    fn on_sandbox(&self, mut c: Cmd) -> Cmd {
        for (k, v) in self.state.exports() {
            c = c.env(k, v);
        }
        let docker_config = self.ctx.root.join("target/bench/docker-config");
        c.env("DOCKER_CONFIG", docker_config.display().to_string())
    }

    fn row(&self, name: &str, tool: Stats, baseline: Option<(&str, Stats)>) {
        println!("  {name}: {:.2}s median", tool.median_s);
        self.rows.borrow_mut().push(Row {
            name: name.into(),
            tool,
            baseline_name: baseline.map(|(n, _)| n.to_string()),
            baseline: baseline.map(|(_, s)| s),
        });
    }
}

pub fn run(ctx: &Ctx, args: &BenchArgs) -> Result<()> {
    if args.runs == 0 {
        bail!(crate::errors::BadInput("--runs must be at least 1".into()));
    }
    let dir = ctx.root.join("target/bench");
    std::fs::create_dir_all(&dir)?;
    let state_dir = StateDirArg {
        state_dir: Some(dir.join("sandbox")),
    };
    println!("== bench sandbox");
    let state = sandbox::up(
        ctx,
        &SandboxUpArgs::for_tools(0, state_dir.state_dir.clone()),
    )?;
    let bench = Bench {
        ctx,
        state,
        rows: RefCell::default(),
        digest: RefCell::default(),
    };
    let result = all_rows(&bench, args);
    sandbox::down(ctx, &sandbox::Layout::new(ctx, &state_dir))?;
    result?;
    let rows = bench.rows.into_inner();
    let table = markdown(&rows);
    println!("\n{table}");
    std::fs::write(dir.join("bench.json"), serde_json::to_string_pretty(&rows)?)?;
    std::fs::write(dir.join("bench.md"), &table)?;
    println!(
        "written to {} and bench.md",
        dir.join("bench.json").display()
    );
    Ok(())
}

fn all_rows(b: &Bench, args: &BenchArgs) -> Result<()> {
    let n = args.runs;
    println!("== warm commands");
    let env = measure(n, nothing, |_| b.tool(&["env"]).read(b.ctx).map(drop))?;
    b.row("warm `cargo xtask env`", env, None);
    let help = measure(n, nothing, |_| b.tool(&["--help"]).read(b.ctx).map(drop))?;
    b.row("warm `cargo xtask --help`", help, None);
    if args.cold {
        cold_rows(b)?;
    }
    builds(b, n)?;
    push_rows(b, n)?;
    deploy_rows(b, n)?;
    Ok(())
}

/// A fresh clone with an empty target directory (crates already downloaded).
fn cold_rows(b: &Bench) -> Result<()> {
    println!("== cold: fresh clone, empty target directory");
    let tmp = b.ctx.root.join("target/bench/cold");
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp)?;
    let clone = tmp.join("repo");
    let (sh, root) = (shell()?, &b.ctx.root);
    Cmd::from(cmd!(sh, "git clone --quiet {root} {clone}")).read(b.ctx)?;
    let cargo = crate::util::cargo();
    let in_clone = |args: &[&str]| {
        let c = Cmd::from(cmd!(sh, "{cargo} xtask {args...}")).dir(&clone);
        b.on_sandbox(c)
            .env("CARGO_TARGET_DIR", tmp.join("target").display().to_string())
            .env("CRUDDUR_ROOT", clone.display().to_string())
    };
    let env = measure(1, nothing, |_| in_clone(&["env"]).read(b.ctx).map(drop))?;
    b.row("cold `cargo xtask env` (fresh clone)", env, None);
    let status = measure(1, nothing, |_| {
        in_clone(&["status", "--dry-run"]).read(b.ctx).map(drop)
    })?;
    b.row(
        "cold first AWS command `cargo xtask status --dry-run` (after the cold env)",
        status,
        None,
    );
    let _ = std::fs::remove_dir_all(&tmp);
    Ok(())
}

fn builds(b: &Bench, n: usize) -> Result<()> {
    println!("== builds");
    let sequential = |extra: &[&str]| -> Result<()> {
        b.tool(&[&["build", "backend"], extra].concat())
            .read(b.ctx)?;
        b.tool(&[&["build", "frontend"], extra].concat())
            .read(b.ctx)
            .map(drop)
    };
    let together = |extra: &[&str]| {
        b.tool(&[&["build", "all"], extra].concat())
            .read(b.ctx)
            .map(drop)
    };
    together(&[])?; // warm docker's cache
    let cached = measure(n, nothing, |_| together(&[]))?;
    let cached_seq = measure(n, nothing, |_| sequential(&[]))?;
    b.row(
        "`build all`, cached",
        cached,
        Some(("backend then frontend, cached", cached_seq)),
    );
    let uncached = measure(1, nothing, |_| together(&["--no-cache"]))?;
    let uncached_seq = measure(1, nothing, |_| sequential(&["--no-cache"]))?;
    b.row(
        "`build all`, uncached",
        uncached,
        Some(("backend then frontend, uncached", uncached_seq)),
    );
    Ok(())
}

fn push_rows(b: &Bench, n: usize) -> Result<()> {
    println!("== ecr login + push of an unchanged image");
    b.tool(&["ecr", "create"]).read(b.ctx)?;
    let first = b.tool(&["push", "backend"]).read(b.ctx)?;
    *b.digest.borrow_mut() = first
        .split_whitespace()
        .find(|w| w.starts_with("sha256:"))
        .context("push printed no digest")?
        .to_string();
    let tool = measure(n, nothing, |_| {
        b.tool(&["ecr", "login"]).read(b.ctx)?;
        b.tool(&["push", "backend"]).read(b.ctx).map(drop)
    })?;
    let script = b.ctx.root.join("bench/push-baseline.sh");
    let sha = crate::util::git_tag(b.ctx)?;
    let baseline = measure(n, nothing, |_| {
        baseline(b, &script)
            .arg(b.state.registry())
            .arg(BACKEND.image(false))
            .arg(BACKEND.repo())
            .arg(&sha)
            .read(b.ctx)
            .map(drop)
    })?;
    b.row(
        "`ecr login` + `push backend`, nothing to upload",
        tool,
        Some((
            "aws ecr get-login-password | docker login; docker push",
            baseline,
        )),
    );
    Ok(())
}

/// The bash baselines in `bench/`, with the sandbox's aws CLI on PATH.
fn baseline(b: &Bench, script: &Path) -> Cmd {
    let venv_bin = b.ctx.root.join("target/sandbox/venv/bin");
    let path = format!(
        "{}:{}",
        venv_bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let sh = shell().expect("a working directory");
    b.on_sandbox(Cmd::from(cmd!(sh, "bash {script}")).env("PATH", path))
}

fn deploy_rows(b: &Bench, n: usize) -> Result<()> {
    println!("== deploy of one service: register + update + watch to success");
    b.tool(&["cluster", "create"]).read(b.ctx)?;
    b.tool(&["deploy", "backend", "--no-build"]).read(b.ctx)?;
    // Each run changes a value so there is a new revision to register and roll out.
    let url = |tag: &str, i: usize| format!("https://bench-{tag}-{i}.example");
    let tool = measure(n, nothing, |i| {
        b.tool(&["deploy", "backend", "--no-build"])
            .env("CRUDDUR_FRONTEND_URL", url("tool", i))
            .read(b.ctx)
            .map(drop)
    })?;
    let td_file = b.ctx.root.join("target/bench/task-definition.json");
    let script = b.ctx.root.join("bench/deploy-baseline.sh");
    let render = |i: usize| -> Result<()> {
        // The old scripts registered a finished JSON file; the bench fills ours the same way deploy does.
        let image = format!(
            "{}/{}@{}",
            b.state.registry(),
            BACKEND.repo(),
            b.digest.borrow()
        );
        let mut settings = b.state.settings(&b.ctx.settings);
        settings.frontend_url = Some(url("baseline", i));
        let mut p = infra::Placeholders::from_settings(&settings);
        p.set("AWS_ACCOUNT_ID", "123456789012")
            .set("AWS_REGION", b.state.region.clone())
            .set("IMAGE", image);
        let td = infra::load_task_definition(&BACKEND.task_definition_file(&b.ctx.root), &p)?;
        std::fs::write(&td_file, serde_json::to_string_pretty(&td)?)
            .context("writing the rendered task definition")
    };
    let baseline_stats = measure(n, render, |_| {
        baseline(b, &script)
            .arg(td_file.display().to_string())
            .arg("cruddur")
            .arg(BACKEND.name)
            .read(b.ctx)
            .map(drop)
    })?;
    b.row(
        "`deploy backend --no-build` (new revision, watched to success)",
        tool,
        Some((
            "bash: register-task-definition, update-service, wait services-stable",
            baseline_stats,
        )),
    );
    Ok(())
}

fn markdown(rows: &[Row]) -> String {
    let fmt = |s: &Stats| {
        format!(
            "{:.2} s ({:.2}–{:.2}, n={})",
            s.median_s, s.min_s, s.max_s, s.runs
        )
    };
    let mut out = String::from("| measurement | cargo xtask: median (min–max) | baseline | baseline: median (min–max) | ratio |\n");
    out.push_str("| --- | --- | --- | --- | --- |\n");
    for r in rows {
        let (name, base, ratio) = match (&r.baseline_name, &r.baseline) {
            (Some(n), Some(s)) => (
                n.clone(),
                fmt(s),
                format!("{:.2}×", r.tool.median_s / s.median_s),
            ),
            _ => ("—".into(), "—".into(), "—".into()),
        };
        // A `|` inside a cell would end it.
        let cell = |text: &str| text.replace('|', "\\|");
        out.push_str(&format!(
            "| {} | {} | {} | {base} | {ratio} |\n",
            cell(&r.name),
            fmt(&r.tool),
            cell(&name)
        ));
    }
    out.push_str("\nratio = cargo xtask median / baseline median (below 1: the tool is faster).\n");
    out
}
