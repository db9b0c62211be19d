//! One way to wait for something: ask until it says yes, or the time is up.

use std::time::{Duration, Instant};

use anyhow::{bail, Result};

use crate::util::secs;

/// When a wait started and how long it may take; async waits (the AWS build)
/// use it directly, sync ones through `until`.
#[derive(Debug, Clone, Copy)]
pub struct Deadline {
    started: Instant,
    limit: Duration,
}

impl Deadline {
    pub fn after(limit: Duration) -> Deadline {
        Deadline {
            started: Instant::now(),
            limit,
        }
    }
    pub fn expired(&self) -> bool {
        self.started.elapsed() >= self.limit
    }
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }
    pub fn limit(&self) -> Duration {
        self.limit
    }
}

/// Calls `check` every `interval` until it returns `Some`; after `limit`,
/// fails with "`what` did not happen within …" (callers add what to do).
pub fn until<T>(
    what: &str,
    limit: Duration,
    interval: Duration,
    mut check: impl FnMut() -> Result<Option<T>>,
) -> Result<T> {
    let deadline = Deadline::after(limit);
    loop {
        if let Some(value) = check()? {
            return Ok(value);
        }
        if deadline.expired() {
            bail!("{what} did not happen within {}", secs(limit));
        }
        std::thread::sleep(interval);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn returns_the_first_yes_and_times_out_naming_the_wait() {
        let mut n = 0;
        let got = until("third try", Duration::from_secs(5), Duration::ZERO, || {
            n += 1;
            Ok((n == 3).then_some(n))
        })
        .unwrap();
        assert_eq!(got, 3);
        let err = until(
            "never",
            Duration::from_millis(30),
            Duration::from_millis(5),
            || Ok(None::<()>),
        )
        .unwrap_err();
        assert!(
            err.to_string().starts_with("never did not happen within"),
            "{err}"
        );
    }
}
