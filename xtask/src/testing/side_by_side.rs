//! Suites run side by side: each on a thread of its own, its output in a log
//! file of its own, a few lines on the terminal (its summary lines, a
//! heartbeat every 30 s, and on failure the end of its log), then a table of
//! every suite's time. Suites that wait more than they compute (a browser, a
//! sandbox's health checks) overlap instead of queueing on 2 cores.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Result;

use crate::ctx::Ctx;
use crate::duration::secs;
use crate::exec::{print_line, Cmd, Stream};
use crate::files;

/// What a suite does, given its runner.
pub type SuiteFn<'a> = Box<dyn FnOnce(&Runner) -> Result<()> + Send + 'a>;

/// One suite's commands, run one after the other into its log.
pub struct Suite<'a> {
    pub name: &'static str,
    pub run: SuiteFn<'a>,
}

/// What a suite's commands run through: its log, its prefix, its summary lines.
pub struct Runner<'a> {
    ctx: &'a Ctx,
    prefix: String,
    logs: PathBuf,
    name: &'static str,
    shown: fn(&str) -> bool,
}

impl Runner<'_> {
    /// Runs `cmd` into this suite's log (`<suite>-<step>.log`), showing only
    /// the lines that sum it up.
    pub fn run(&self, step: &str, cmd: &Cmd) -> Result<()> {
        let log = self.logs.join(format!("test-{}-{step}.log", self.name));
        let stream = Stream {
            prefix: &self.prefix,
            show: &self.shown,
            heartbeat: Some(Duration::from_secs(30)),
            ..Stream::logged(&log)
        };
        cmd.stream(self.ctx, &stream).map(drop).inspect_err(|_| {
            print_tail(&self.prefix, &log, 40);
        })
    }
}

/// The lines worth a terminal line: test runners' summaries and failures.
fn summary_line(line: &str) -> bool {
    let l = line.trim_start();
    l.starts_with("FAIL")
        || l.starts_with("Summary")
        || l.contains(" passed")
        || l.contains(" failed")
        || l.starts_with("Tests ")
        || l.starts_with("error")
}

/// The end of a failed step's log, so a CI log shows why without the file.
fn print_tail(prefix: &str, log: &Path, n: usize) {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    print_line(prefix, &format!("the last {n} lines of {}:", log.display()));
    for line in &lines[lines.len().saturating_sub(n)..] {
        print_line(prefix, line);
    }
}

/// Runs `suites` at once; each one's outcome and time, in the given order.
pub fn run(ctx: &Ctx, suites: Vec<Suite>) -> Vec<(&'static str, Result<()>, Duration)> {
    let logs = match files::log_file(ctx, "test") {
        Ok(path) => path.parent().map(Path::to_path_buf).unwrap_or_default(),
        Err(e) => return vec![("logs", Err(e), Duration::ZERO)],
    };
    std::thread::scope(|scope| {
        let handles: Vec<_> = suites
            .into_iter()
            .map(|suite| {
                let logs = logs.clone();
                scope.spawn(move || {
                    let runner = Runner {
                        ctx,
                        prefix: format!("[{}] ", suite.name),
                        logs,
                        name: suite.name,
                        shown: summary_line,
                    };
                    println!(
                        "== {} (side by side; logs: target/logs/test-{}-*.log)",
                        suite.name, suite.name
                    );
                    let started = Instant::now();
                    let result = (suite.run)(&runner);
                    let took = started.elapsed();
                    match &result {
                        Ok(()) => println!("== {}: ok ({})", suite.name, secs(took)),
                        Err(e) => println!("== {}: FAILED ({}): {e:#}", suite.name, secs(took)),
                    }
                    (suite.name, result, took)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join().unwrap_or_else(|_| {
                    (
                        "?",
                        Err(anyhow::anyhow!("a suite's thread panicked")),
                        Duration::ZERO,
                    )
                })
            })
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::summary_line;

    #[test]
    fn test_runners_summaries_and_failures_are_shown() {
        for shown in [
            "     Summary [ 848.375s] 13 tests run: 13 passed (6 slow), 0 skipped",
            "        FAIL [ 107.105s] (29/42) xtask::ecs_failures a_test",
            "171 passed, 5 skipped in 73.2s",
            "      Tests  81 passed (81)",
        ] {
            assert!(summary_line(shown), "{shown}");
        }
        assert!(!summary_line(
            "        PASS [   0.057s] (1/42) xtask::cli a_test"
        ));
        assert!(!summary_line("collected 171 items"));
    }
}
