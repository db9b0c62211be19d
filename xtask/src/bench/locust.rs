//! The load generator of the bench's load rows: locust (pinned in
//! `bench/load/requirements.txt`, driven by `bench/load/locustfile.py`). Here:
//! its command line, and what it wrote at the end read back into figures.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context as _, Result};
use serde::{Deserialize, Serialize};

use crate::errors::BadInput;
use crate::exec::{shell, Cmd};
use xshell::cmd;

/// One run of the load: who, where, and its bounds.
#[derive(Debug, Clone)]
pub struct Load {
    /// The load balancer's address: a loopback one, nothing else.
    pub host: String,
    /// Clients at once, each sending its next request as soon as the last one
    /// answered (no think time).
    pub users: u32,
    /// How many of them post (signed in); the others read the home feed.
    pub posters: u32,
    /// The run stops after this long at most.
    pub run_time: Duration,
    /// ... or after this many requests.
    pub max_requests: u64,
}

/// Where a run reads its script and writes its results.
#[derive(Debug, Clone)]
pub struct Files {
    pub locustfile: PathBuf,
    /// locust's `--json-file` stem: it writes `<stem>.json`.
    pub stats_stem: PathBuf,
    pub errors: PathBuf,
}

impl Files {
    pub fn stats(&self) -> PathBuf {
        let mut name = self.stats_stem.clone().into_os_string();
        name.push(".json");
        name.into()
    }
}

/// A loopback address with its port, in an http(s) URL with no path.
fn check_host(host: &str) -> Result<()> {
    let Some(rest) = host
        .strip_prefix("http://")
        .or_else(|| host.strip_prefix("https://"))
    else {
        bail!(BadInput(format!(
            "the load's host {host} is not an http(s) URL"
        )));
    };
    let (ip, port) = match rest.strip_prefix('[') {
        Some(v6) => v6.split_once("]:").unwrap_or((v6, "")),
        None => rest.rsplit_once(':').unwrap_or((rest, "")),
    };
    let loopback = ip.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback());
    if !loopback || port.parse::<u16>().is_err() {
        bail!(BadInput(format!(
            "the load goes only to a loopback address with a port (http://127.0.0.1:PORT), not {host}"
        )));
    }
    Ok(())
}

/// locust's arguments (after the program): headless, the users started at
/// once, bounded in time; failures do not change its exit status (the bench
/// reads them from the results), and users finish the request they are in
/// when it stops.
pub fn arguments(load: &Load, files: &Files) -> Result<Vec<String>> {
    check_host(&load.host)?;
    // locust reads a fixed count of 0 as "not fixed": posters are 1 or more.
    if load.posters == 0 || load.posters >= load.users || load.max_requests == 0 {
        bail!(BadInput(format!(
            "a load needs readers and posters (got {} users, {} posting) and a request bound (got {})",
            load.users, load.posters, load.max_requests
        )));
    }
    let secs = load.run_time.as_secs().max(1);
    Ok([
        "--locustfile",
        &files.locustfile.display().to_string(),
        "--headless",
        "--host",
        &load.host,
        "--users",
        &load.users.to_string(),
        "--spawn-rate",
        &load.users.to_string(),
        "--run-time",
        &format!("{secs}s"),
        "--stop-timeout",
        "30",
        "--exit-code-on-error",
        "0",
        "--only-summary",
        "--json-file",
        &files.stats_stem.display().to_string(),
    ]
    .map(str::to_string)
    .to_vec())
}

/// What the locustfile reads from its environment; the token goes this way,
/// never on the command line.
pub fn environment(load: &Load, files: &Files, token: &str) -> Vec<(&'static str, String)> {
    vec![
        ("CRUDDUR_LOAD_TOKEN", token.to_string()),
        ("CRUDDUR_LOAD_POSTERS", load.posters.to_string()),
        ("CRUDDUR_LOAD_MAX_REQUESTS", load.max_requests.to_string()),
        (
            "CRUDDUR_LOAD_ERRORS_FILE",
            files.errors.display().to_string(),
        ),
    ]
}

/// The whole command.
pub fn command(locust: &Path, load: &Load, files: &Files, token: &str) -> Result<Cmd> {
    let (sh, args) = (shell()?, arguments(load, files)?);
    let mut cmd = Cmd::from(cmd!(sh, "{locust} {args...}"));
    for (k, v) in environment(load, files, token) {
        cmd = cmd.env(k, v);
    }
    Ok(cmd)
}

/// One entry of locust's `--json-file` (its `serialize_stats`).
#[derive(Debug, Deserialize)]
struct Entry {
    name: String,
    num_requests: u64,
    num_failures: u64,
    /// Response time (ms, rounded as locust rounds them) -> count.
    response_times: BTreeMap<String, u64>,
    max_response_time: Option<f64>,
    start_time: f64,
    last_request_timestamp: Option<f64>,
}

/// One entry of the locustfile's errors file (locust's `serialize_errors`).
#[derive(Debug, Deserialize)]
struct Error {
    name: String,
    error: String,
    occurrences: u64,
}

/// What one route did in one run.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Route {
    pub name: String,
    pub requests: u64,
    pub failed: u64,
    pub per_second: f64,
    pub p50_ms: u64,
    pub p99_ms: u64,
    pub max_ms: u64,
    /// Failures by what they were ("HTTP 502", a connection error), most first.
    pub errors: Vec<(String, u64)>,
}

/// The response time that `percent` of the requests finished within, as
/// locust computes it (`calculate_response_time_percentile`).
fn percentile(times: &BTreeMap<u64, u64>, requests: u64, percent: f64) -> u64 {
    // Truncating, as locust does: `int(num_requests * percent)`.
    let within = (requests as f64 * percent) as u64;
    let mut counted = 0;
    for (&ms, &n) in times.iter().rev() {
        counted += n;
        if requests.saturating_sub(counted) <= within {
            return ms;
        }
    }
    0
}

/// A failure as the locustfile named it (`CatchResponseError('HTTP 502')`
/// is `HTTP 502`); other errors (a refused connection) as locust gives them.
fn plain_error(error: &str) -> String {
    error
        .strip_prefix("CatchResponseError('")
        .and_then(|e| e.strip_suffix("')"))
        .unwrap_or(error)
        .to_string()
}

/// The routes of one run, from the two files' text, in the stats' order.
pub fn routes(stats: &str, errors: &str) -> Result<Vec<Route>> {
    let entries: Vec<Entry> =
        serde_json::from_str(stats).context("reading locust's results (--json-file)")?;
    let errors: BTreeMap<String, Error> = if errors.trim().is_empty() {
        BTreeMap::new()
    } else {
        serde_json::from_str(errors).context("reading the load's errors file")?
    };
    entries
        .into_iter()
        .map(|e| {
            let times = e
                .response_times
                .iter()
                .map(|(ms, n)| Ok((ms.parse::<f64>()?.round() as u64, *n)))
                .collect::<Result<BTreeMap<u64, u64>>>()
                .with_context(|| format!("response times of {}", e.name))?;
            let elapsed = e.last_request_timestamp.map_or(0.0, |t| t - e.start_time);
            let per_second = if elapsed > 0.0 {
                e.num_requests as f64 / elapsed
            } else {
                0.0
            };
            let mut kinds: Vec<(String, u64)> = errors
                .values()
                .filter(|x| x.name == e.name)
                .map(|x| (plain_error(&x.error), x.occurrences))
                .collect();
            kinds.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            Ok(Route {
                p50_ms: percentile(&times, e.num_requests, 0.5),
                p99_ms: percentile(&times, e.num_requests, 0.99),
                max_ms: e.max_response_time.unwrap_or(0.0).round() as u64,
                name: e.name,
                requests: e.num_requests,
                failed: e.num_failures,
                per_second,
                errors: kinds,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(host: &str) -> Load {
        Load {
            host: host.into(),
            users: 50,
            posters: 10,
            run_time: Duration::from_secs(360),
            max_requests: 200_000,
        }
    }

    fn files() -> Files {
        Files {
            locustfile: "/repo/bench/load/locustfile.py".into(),
            stats_stem: "/repo/target/bench/load/during-0".into(),
            errors: "/repo/target/bench/load/during-0.errors.json".into(),
        }
    }

    #[test]
    fn the_command_line_is_headless_bounded_and_aimed_at_the_load_balancer() {
        let args = arguments(&load("http://127.0.0.1:9703"), &files()).unwrap();
        let after = |flag: &str| {
            let i = args
                .iter()
                .position(|a| a == flag)
                .unwrap_or_else(|| panic!("{flag} in {args:?}"));
            args[i + 1].as_str()
        };
        assert_eq!(after("--locustfile"), "/repo/bench/load/locustfile.py");
        assert_eq!(after("--host"), "http://127.0.0.1:9703");
        assert_eq!(after("--users"), "50");
        assert_eq!(after("--spawn-rate"), "50", "every client from the start");
        assert_eq!(after("--run-time"), "360s");
        assert_eq!(after("--exit-code-on-error"), "0");
        assert_eq!(after("--json-file"), "/repo/target/bench/load/during-0");
        assert!(args.contains(&"--headless".to_string()));
        assert_eq!(
            files().stats(),
            PathBuf::from("/repo/target/bench/load/during-0.json")
        );
    }

    #[test]
    fn the_token_goes_in_the_environment_never_on_the_command_line() {
        let token = "eyJraWQiOiJzZWNyZXQ";
        let (l, f) = (load("http://127.0.0.1:9703"), files());
        let cmd = command(Path::new("/venv/bin/locust"), &l, &f, token).unwrap();
        assert!(
            cmd.argv().iter().all(|a| !a.contains(token)),
            "{:?}",
            cmd.argv()
        );
        assert_eq!(cmd.argv()[0], "/venv/bin/locust");
        let env = environment(&l, &f, token);
        let get = |k: &str| {
            env.iter()
                .find(|(name, _)| *name == k)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(get("CRUDDUR_LOAD_TOKEN"), Some(token));
        assert_eq!(get("CRUDDUR_LOAD_POSTERS"), Some("10"));
        assert_eq!(get("CRUDDUR_LOAD_MAX_REQUESTS"), Some("200000"));
        assert_eq!(
            get("CRUDDUR_LOAD_ERRORS_FILE"),
            Some("/repo/target/bench/load/during-0.errors.json")
        );
    }

    #[test]
    fn only_loopback_addresses_are_loaded() {
        for ok in [
            "http://127.0.0.1:80",
            "http://127.3.2.1:9703",
            "https://127.0.0.1:443",
            "http://[::1]:8080",
        ] {
            assert!(arguments(&load(ok), &files()).is_ok(), "{ok}");
        }
        for bad in [
            "http://10.0.0.5:80",
            "http://192.168.1.10:80",
            "http://example.com:80",
            "http://localhost:80",
            "http://0.0.0.0:80",
            "http://127.0.0.1",
            "127.0.0.1:80",
            "http://127.0.0.1:80/api",
        ] {
            let err = arguments(&load(bad), &files()).unwrap_err();
            assert!(err.downcast_ref::<BadInput>().is_some(), "{bad}: {err}");
        }
    }

    #[test]
    fn a_load_without_readers_posters_or_bound_is_refused() {
        let l = load("http://127.0.0.1:80");
        for (posters, max_requests) in [(50, 100), (51, 100), (0, 100), (10, 0)] {
            let bad = Load {
                posters,
                max_requests,
                ..l.clone()
            };
            let err = arguments(&bad, &files()).unwrap_err();
            assert!(
                err.downcast_ref::<BadInput>().is_some(),
                "{posters} {max_requests}: {err}"
            );
        }
    }

    /// Recorded from a real run (locust 2.47.0, bench/load/locustfile.py) with
    /// a token the backend refuses: every post failed with 401.
    const STATS: &str = include_str!("fixtures/locust-stats.json");
    const ERRORS: &str = include_str!("fixtures/locust-errors.json");

    #[test]
    fn results_read_as_locust_computes_them() {
        let routes = routes(STATS, ERRORS).unwrap();
        let post = &routes[0];
        assert_eq!(post.name, "POST /api/activities");
        assert_eq!((post.requests, post.failed), (25, 25));
        // locust's own calculate_response_time_percentile on the same file.
        assert_eq!((post.p50_ms, post.p99_ms, post.max_ms), (66, 200, 199));
        assert!(
            (post.per_second - 12.116).abs() < 0.001,
            "{}",
            post.per_second
        );
        assert_eq!(post.errors, vec![("HTTP 401".to_string(), 25)]);
        let home = &routes[1];
        assert_eq!(home.name, "GET /api/activities/home");
        assert_eq!((home.requests, home.failed), (42, 0));
        assert_eq!((home.p50_ms, home.p99_ms, home.max_ms), (80, 270, 274));
        assert!(
            (home.per_second - 20.400).abs() < 0.001,
            "{}",
            home.per_second
        );
        assert!(home.errors.is_empty());
    }

    #[test]
    fn no_errors_file_means_no_failure_kinds() {
        let routes = routes(STATS, "").unwrap();
        assert!(routes.iter().all(|r| r.errors.is_empty()));
    }

    #[test]
    fn unreadable_results_are_an_error() {
        assert!(routes("{\"not\": \"a list\"}", "").is_err());
        assert!(routes("[{\"name\": \"x\"}]", "").is_err());
    }

    #[test]
    fn percentiles_follow_locusts_rule() {
        let times: BTreeMap<u64, u64> = [(10, 98), (500, 1), (2000, 1)].into();
        // Values from locust.stats.calculate_response_time_percentile.
        assert_eq!(percentile(&times, 100, 0.5), 10);
        assert_eq!(percentile(&times, 100, 0.98), 500);
        assert_eq!(percentile(&times, 100, 0.99), 2000);
        assert_eq!(percentile(&times, 100, 1.0), 2000);
        assert_eq!(percentile(&BTreeMap::new(), 0, 0.99), 0);
    }
}
