//! One way to run the steps of a long job (demo, test, sandbox up): a line
//! when a step starts, one when it ends with its duration, and a summary.

use std::time::{Duration, Instant};

use anyhow::{bail, Result};

use crate::duration::secs;

pub struct Steps {
    job: String,
    started: Instant,
    done: Vec<(String, bool, Duration)>,
}

impl Steps {
    pub fn new(job: &str) -> Steps {
        Steps {
            job: job.to_string(),
            started: Instant::now(),
            done: Vec::new(),
        }
    }

    /// Runs one step between its `==` lines and records how it went.
    pub fn run<T>(&mut self, name: &str, f: impl FnOnce() -> Result<T>) -> Result<T> {
        crate::outln!("== {name}");
        let started = Instant::now();
        let result = f();
        let took = started.elapsed();
        match &result {
            Ok(_) => crate::outln!("== {name}: ok ({})", secs(took)),
            Err(e) => crate::outln!("== {name}: FAILED ({}): {e:#}", secs(took)),
        }
        self.done.push((name.to_string(), result.is_ok(), took));
        result
    }

    /// Like `run`, for jobs that stop at the first failure: the error says
    /// which step and what to do, and keeps its kind (bad input stays exit 2).
    pub fn run_or_stop<T>(
        &mut self,
        name: &str,
        hint: &str,
        f: impl FnOnce() -> Result<T>,
    ) -> Result<T> {
        let job = self.job.clone();
        self.run(name, f).map_err(|e| {
            e.context(format!(
                "{job} stopped at step \"{name}\" (what to do: {hint})"
            ))
        })
    }

    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Prints every step's outcome; fails naming the failed steps.
    pub fn finish(self) -> Result<()> {
        crate::outln!("\n{} summary ({}):", self.job, secs(self.elapsed()));
        for (name, ok, took) in &self.done {
            let mark = if *ok { "ok" } else { "FAILED" };
            crate::outln!("  {mark:<7} {name} ({})", secs(*took));
        }
        let failed: Vec<&str> = self
            .done
            .iter()
            .filter(|(_, ok, _)| !ok)
            .map(|(name, _, _)| name.as_str())
            .collect();
        if !failed.is_empty() {
            bail!("{} failed", failed.join(", "));
        }
        Ok(())
    }
}
