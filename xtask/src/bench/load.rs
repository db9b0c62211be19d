//! The load rows: 50 clients through the sandbox's load balancer (40 read the
//! home feed, 10 post cruds signed in), first on a settled backend, then for
//! the whole of a backend deploy (a changed task definition, as the deploy
//! row's). What users see meanwhile: requests/s, p50/p99, failed requests.
//!
//! The load generator is locust, pinned in `bench/load/requirements.txt` and
//! installed here (never by the tests) into `target/bench/locust-venv`.

use std::path::{Path, PathBuf};
use std::process::{Child, ExitStatus};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _, Result};
use serde::Serialize;
use xshell::cmd;

use super::locust::{self, Files, Load, Route};
use super::Bench;
use crate::ctx::Ctx;
use crate::exec::{shell, Cmd, Stream};
use crate::{duration, files};

const USERS: u32 = 50;
const POSTERS: u32 = 10;
/// The window on a settled backend.
const BEFORE: Duration = Duration::from_secs(20);
/// The deploy's own timeout; the load may run a minute past it, no more.
const DEPLOY_TIMEOUT: &str = "5m";
const LOAD_LIMIT: Duration = Duration::from_secs(360);
/// No window gets near this here (about 200 requests/s); it bounds a faster machine.
const MAX_REQUESTS: u64 = 200_000;

/// One window of load.
#[derive(Debug, Serialize)]
pub(super) struct Window {
    pub routes: Vec<Route>,
    /// The deploy's length, for a window during one.
    pub deploy_s: Option<f64>,
    /// The machine's 1-minute load average as the window ended: what else
    /// shared the cores.
    pub load_average: Option<f64>,
}

#[derive(Debug, Default, Serialize)]
pub(super) struct Report {
    pub users: u32,
    pub posters: u32,
    pub before: Vec<Window>,
    pub during: Vec<Window>,
}

pub(super) fn load(b: &Bench) -> Result<()> {
    println!(
        "== load: {USERS} clients through the load balancer ({} read the home feed, {POSTERS} post), \
         before and during a backend deploy",
        USERS - POSTERS
    );
    let locust = ensure_locust(b.ctx)?;
    prepare(b)?;
    let token = sign_in(b)?;
    let mut report = Report {
        users: USERS,
        posters: POSTERS,
        ..Report::default()
    };
    for i in 0..b.runs {
        report.before.push(before(b, &locust, &token, i)?);
        report.during.push(during(b, &locust, &token, i)?);
    }
    let deploys = report
        .during
        .iter()
        .filter_map(|w| w.deploy_s.map(Duration::from_secs_f64))
        .collect();
    b.row(
        &format!(
            "`deploy backend --no-build` under load ({USERS} clients through the load balancer)"
        ),
        super::stats(deploys),
        None,
        None,
        None,
    );
    *b.load.borrow_mut() = Some(report);
    Ok(())
}

/// locust and what it needs in `target/bench/locust-venv`, from the pins in
/// `bench/load/requirements.txt`; installed again only when they change.
fn ensure_locust(ctx: &Ctx) -> Result<PathBuf> {
    let requirements = ctx.tool_root.join("bench/load/requirements.txt");
    let pins = std::fs::read_to_string(&requirements)
        .with_context(|| format!("reading {}", requirements.display()))?;
    let venv = ctx.root.join("target/bench/locust-venv");
    let (locust, stamp) = (venv.join("bin/locust"), venv.join(".requirements"));
    if locust.is_file() && std::fs::read_to_string(&stamp).is_ok_and(|s| s == pins) {
        return Ok(locust);
    }
    let started = Instant::now();
    println!(
        "installing the load generator (locust, pinned in bench/load/requirements.txt) into {} (once)",
        venv.display()
    );
    let _ = std::fs::remove_dir_all(&venv);
    let sh = shell()?;
    Cmd::from(cmd!(sh, "python3 -m venv {venv}")).read(ctx)?;
    let log = files::log_file(ctx, "pip-install-locust")?;
    let pip = venv.join("bin/pip");
    Cmd::from(cmd!(
        sh,
        "{pip} install --disable-pip-version-check -r {requirements}"
    ))
    .stream(ctx, &Stream::logged(&log))?;
    std::fs::write(&stamp, pins)?;
    println!(
        "load generator ready ({}; log {})",
        duration::secs(started.elapsed()),
        log.display()
    );
    Ok(locust)
}

/// The backend deployed behind the load balancer (this run's image), with its
/// database set up (idempotent).
fn prepare(b: &Bench) -> Result<()> {
    b.long(&b.tool(&["build", "backend"])?)?;
    b.tool(&["ecr", "create"])?.read(b.ctx)?;
    b.tool(&["push", "backend"])?.read(b.ctx)?;
    b.tool(&["cluster", "create"])?.read(b.ctx)?;
    b.long(&b.tool(&["deploy", "backend", "--no-build"])?)?;
    b.long(&b.tool(&["task", "backend", "--", "bin/db-setup"])?)
        .map(drop)
}

/// The bench user's access token, from the sandbox's Cognito (see
/// `bench/load/signin.py`): only ever in this process and the load
/// generator's environment.
fn sign_in(b: &Bench) -> Result<String> {
    let python = b.ctx.root.join("target/sandbox/venv/bin/python");
    let script = b.ctx.tool_root.join("bench/load/signin.py");
    let sh = shell()?;
    let token = b
        .on_sandbox(Cmd::from(cmd!(sh, "{python} {script}")))
        .read(b.ctx)?;
    if token.is_empty() || token.contains(char::is_whitespace) {
        bail!("signing the bench's user in to the sandbox's Cognito gave no token");
    }
    Ok(token)
}

fn run_files(b: &Bench, name: &str) -> Result<Files> {
    let dir = b.ctx.root.join("target/bench/load");
    std::fs::create_dir_all(&dir)?;
    let files = Files {
        locustfile: b.ctx.tool_root.join("bench/load/locustfile.py"),
        stats_stem: dir.join(name),
        errors: dir.join(format!("{name}.errors.json")),
    };
    // A result is only ever this run's.
    let _ = std::fs::remove_file(files.stats());
    let _ = std::fs::remove_file(&files.errors);
    Ok(files)
}

fn the_load(b: &Bench, run_time: Duration) -> Load {
    Load {
        host: b.state.lb_url(),
        users: USERS,
        posters: POSTERS,
        run_time,
        max_requests: MAX_REQUESTS,
    }
}

fn read_window(files: &Files, deploy: Option<Duration>) -> Result<Window> {
    let stats = std::fs::read_to_string(files.stats())
        .with_context(|| format!("the load wrote no results ({})", files.stats().display()))?;
    let errors = std::fs::read_to_string(&files.errors).unwrap_or_default();
    let mut routes = locust::routes(&stats, &errors)?;
    // locust lists them in no fixed order.
    routes.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(Window {
        routes,
        deploy_s: deploy.map(|d| d.as_secs_f64()),
        load_average: load_average(),
    })
}

/// The 1-minute load average (Linux's /proc/loadavg).
fn load_average() -> Option<f64> {
    let text = std::fs::read_to_string("/proc/loadavg").ok()?;
    text.split_whitespace().next()?.parse().ok()
}

/// Shows a window's figures, and what failed.
fn show(what: &str, w: &Window) {
    for r in &w.routes {
        println!(
            "  {what}: {}: {} requests, {:.0}/s, p50 {} ms, p99 {} ms, max {} ms, {} failed",
            r.name, r.requests, r.per_second, r.p50_ms, r.p99_ms, r.max_ms, r.failed
        );
        for (error, n) in &r.errors {
            println!("    {n}× {error}");
        }
    }
}

/// A settled backend under the load for `BEFORE`.
fn before(b: &Bench, locust: &Path, token: &str, i: usize) -> Result<Window> {
    let name = format!("before-{i}");
    let files = run_files(b, &name)?;
    let cmd = locust::command(locust, &the_load(b, BEFORE), &files, token)?;
    let log = files::log_file(b.ctx, &format!("bench-load-{name}"))?;
    cmd.stream(
        b.ctx,
        &Stream {
            effect: false,
            ..Stream::logged(&log)
        },
    )?;
    let window = read_window(&files, None)?;
    show("before the deploy", &window);
    // A route that never answered leaves nothing to compare a deploy with.
    if let Some(r) = window.routes.iter().find(|r| r.failed == r.requests) {
        let why = r.errors.first().map_or("", |(e, _)| e.as_str());
        bail!(
            "every request of {} failed before any deploy ({why}): see the lines above",
            r.name
        );
    }
    Ok(window)
}

/// The load from just before a deploy starts until it has ended (the new
/// task healthy in the target group, the old one drained and stopped).
fn during(b: &Bench, locust: &Path, token: &str, i: usize) -> Result<Window> {
    let name = format!("during-{i}");
    let files = run_files(b, &name)?;
    let cmd = locust::command(locust, &the_load(b, LOAD_LIMIT), &files, token)?;
    let log = files::log_file(b.ctx, &format!("bench-load-{name}"))?;
    let child = cmd
        .spawn_logged(b.ctx, &log)?
        .context("the load does not run in a dry run")?;
    let mut running = Running { ctx: b.ctx, child };
    wait_for_users(&log, &mut running)?;
    let started = Instant::now();
    let deploy = b.long(
        &b.tool(&[
            "deploy",
            "backend",
            "--no-build",
            "--timeout",
            DEPLOY_TIMEOUT,
        ])?
        .env(
            "CRUDDUR_FRONTEND_URL",
            format!("https://bench-load-{i}.example"),
        ),
    );
    let took = started.elapsed();
    let ended_first = running.child.try_wait()?.is_some();
    let status = running.interrupt(Duration::from_secs(60))?;
    let deploy = deploy?;
    // A deploy that found nothing to change is no measurement.
    if !deploy.contains("succeeded: backend-flask:") {
        bail!("the deploy under load rolled nothing out:\n{deploy}");
    }
    if ended_first {
        bail!(
            "the load ended before the deploy did (at {MAX_REQUESTS} requests or {}s): see {}",
            LOAD_LIMIT.as_secs(),
            log.display()
        );
    }
    if !status.success() {
        bail!(
            "the load generator failed ({status}): see {}",
            log.display()
        );
    }
    let window = read_window(&files, Some(took))?;
    show(
        &format!("during the deploy ({})", duration::secs(took)),
        &window,
    );
    Ok(window)
}

/// Every client started (locust says so in its log), or locust gone.
fn wait_for_users(log: &Path, running: &mut Running) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if std::fs::read_to_string(log).is_ok_and(|l| l.contains("All users spawned")) {
            return Ok(());
        }
        if let Some(status) = running.child.try_wait()? {
            bail!(
                "the load generator stopped ({status}): see {}",
                log.display()
            );
        }
        if Instant::now() > deadline {
            bail!(
                "the load generator did not start its clients within 60s: see {}",
                log.display()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The load generator in the background; never left running.
struct Running<'a> {
    ctx: &'a Ctx,
    child: Child,
}

impl Running<'_> {
    /// Ctrl-C, as a user stops locust: clients finish the request they are
    /// in, then it writes its results; killed if it has not ended in `grace`.
    fn interrupt(&mut self, grace: Duration) -> Result<ExitStatus> {
        if let Some(status) = self.child.try_wait()? {
            return Ok(status);
        }
        let (sh, pid) = (shell()?, self.child.id().to_string());
        Cmd::from(cmd!(sh, "kill -INT {pid}")).read(self.ctx)?;
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait()? {
                return Ok(status);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        self.child.kill()?;
        bail!(
            "the load generator did not stop within {}s of Ctrl-C",
            grace.as_secs()
        );
    }
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

/// Median, min and max.
fn spread(mut values: Vec<f64>) -> (f64, f64, f64) {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n == 0 {
        return (0.0, 0.0, 0.0);
    }
    let median = if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    };
    (median, values[0], values[n - 1])
}

/// `1,234,567`
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The load table: per phase and route, the figures over the runs.
pub(super) fn markdown(r: &Report) -> String {
    let mut out = format!(
        "| load: {} clients at once through the load balancer, no think time | route (clients) | requests/s | p50 (ms) | p99 (ms) | failed / requests | goal |\n",
        r.users
    );
    out.push_str("| --- | --- | --- | --- | --- | --- | --- |\n");
    let (deploy_median, _, _) = spread(r.during.iter().filter_map(|w| w.deploy_s).collect());
    let phases = [
        (
            format!(
                "before the deploy ({} s windows, n={})",
                BEFORE.as_secs(),
                r.before.len()
            ),
            &r.before,
            "—",
        ),
        (
            format!(
                "during `deploy backend --no-build` ({deploy_median:.0} s median, n={})",
                r.during.len()
            ),
            &r.during,
            "0 failed",
        ),
    ];
    for (label, windows, goal) in phases {
        let mut names: Vec<&str> = Vec::new();
        for route in windows.iter().flat_map(|w| &w.routes) {
            if !names.contains(&route.name.as_str()) {
                names.push(&route.name);
            }
        }
        for name in names {
            let runs: Vec<&Route> = windows
                .iter()
                .filter_map(|w| w.routes.iter().find(|x| x.name == name))
                .collect();
            let cell = |figure: fn(&Route) -> f64| {
                let (median, min, max) = spread(runs.iter().map(|x| figure(x)).collect());
                format!("{median:.0} ({min:.0}–{max:.0})")
            };
            let clients = if name.starts_with("POST") {
                format!("{} posting, signed in", r.posters)
            } else {
                format!("{} reading", r.users - r.posters)
            };
            out.push_str(&format!(
                "| {label} | `{name}` ({clients}) | {} | {} | {} | {} / {} | {goal} |\n",
                cell(|x| x.per_second),
                cell(|x| x.p50_ms as f64),
                cell(|x| x.p99_ms as f64),
                thousands(runs.iter().map(|x| x.failed).sum()),
                thousands(runs.iter().map(|x| x.requests).sum()),
            ));
        }
    }
    out.push_str(
        "\nrequests/s, p50, p99: median over the runs (min–max), as locust records times (to the ms \
         below 100 ms, to 10 ms below 1 s); failed / requests: all runs together, a failure being any \
         answer but the route's 200 or 201, or none.",
    );
    let loads: Vec<f64> = r
        .before
        .iter()
        .chain(&r.during)
        .filter_map(|w| w.load_average)
        .collect();
    if !loads.is_empty() {
        let (_, min, max) = spread(loads);
        out.push_str(&format!(
            " The machine's 1-minute load average as the windows ended: {min:.1}–{max:.1} (all \
             that ran on its cores, the bench included)."
        ));
    }
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(name: &str, requests: u64, failed: u64, rps: f64, p50: u64, p99: u64) -> Route {
        Route {
            name: name.into(),
            requests,
            failed,
            per_second: rps,
            p50_ms: p50,
            p99_ms: p99,
            max_ms: p99 + 100,
            errors: vec![],
        }
    }

    fn window(deploy_s: Option<f64>, routes: Vec<Route>) -> Window {
        Window {
            routes,
            deploy_s,
            load_average: Some(if deploy_s.is_some() { 6.5 } else { 2.3 }),
        }
    }

    #[test]
    fn the_load_table_has_a_line_per_phase_and_route_with_medians_and_sums() {
        let report = Report {
            users: 50,
            posters: 10,
            before: vec![
                window(
                    None,
                    vec![
                        route("GET /api/activities/home", 3000, 0, 150.0, 200, 600),
                        route("POST /api/activities", 700, 0, 35.0, 210, 640),
                    ],
                ),
                window(
                    None,
                    vec![
                        route("GET /api/activities/home", 3200, 0, 160.0, 190, 700),
                        route("POST /api/activities", 800, 0, 40.0, 200, 650),
                    ],
                ),
                window(
                    None,
                    vec![
                        route("GET /api/activities/home", 2800, 0, 140.0, 220, 500),
                        route("POST /api/activities", 750, 0, 37.5, 230, 660),
                    ],
                ),
            ],
            during: vec![
                window(
                    Some(50.0),
                    vec![
                        route("GET /api/activities/home", 7000, 2, 140.0, 250, 900),
                        route("POST /api/activities", 1700, 1, 34.0, 260, 950),
                    ],
                ),
                window(
                    Some(52.0),
                    vec![
                        route("GET /api/activities/home", 7100, 0, 136.0, 240, 800),
                        route("POST /api/activities", 1800, 0, 35.0, 250, 990),
                    ],
                ),
                window(
                    Some(49.0),
                    vec![
                        route("GET /api/activities/home", 6900, 0, 141.0, 260, 1000),
                        route("POST /api/activities", 1750, 0, 33.0, 270, 1000),
                    ],
                ),
            ],
        };
        let table = markdown(&report);
        let lines: Vec<&str> = table.lines().collect();
        assert!(
            lines[0].starts_with("| load: 50 clients at once"),
            "{table}"
        );
        assert_eq!(
            lines[2],
            "| before the deploy (20 s windows, n=3) | `GET /api/activities/home` (40 reading) | 150 (140–160) | 200 (190–220) | 600 (500–700) | 0 / 9,000 | — |"
        );
        assert_eq!(
            lines[3],
            "| before the deploy (20 s windows, n=3) | `POST /api/activities` (10 posting, signed in) | 38 (35–40) | 210 (200–230) | 650 (640–660) | 0 / 2,250 | — |"
        );
        assert_eq!(
            lines[4],
            "| during `deploy backend --no-build` (50 s median, n=3) | `GET /api/activities/home` (40 reading) | 140 (136–141) | 250 (240–260) | 900 (800–1000) | 2 / 21,000 | 0 failed |"
        );
        assert!(
            lines[5].contains("| 1 / 5,250 | 0 failed |"),
            "{}",
            lines[5]
        );
        assert!(
            lines[7].ends_with(
                "as the windows ended: 2.3–6.5 (all that ran on its cores, the bench included)."
            ),
            "{}",
            lines[7]
        );
        assert_eq!(lines.len(), 8, "{table}");
    }

    #[test]
    fn spreads_and_thousands() {
        assert_eq!(spread(vec![3.0, 1.0, 2.0]), (2.0, 1.0, 3.0));
        assert_eq!(spread(vec![4.0, 1.0, 2.0, 3.0]), (2.5, 1.0, 4.0));
        assert_eq!(spread(vec![]), (0.0, 0.0, 0.0));
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }
}
