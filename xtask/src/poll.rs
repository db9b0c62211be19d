//! One way to wait for something: ask until it says yes, or the time is up;
//! and the loopback HTTP probe most waits ask.

use std::io::{Read as _, Write as _};
use std::net::{TcpStream, ToSocketAddrs as _};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _, Result};

use crate::duration::secs;

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

/// Status code of a plain-HTTP GET (loopback health checks; no TLS needed).
pub fn http_status(url: &str) -> Result<u16> {
    let rest = url.strip_prefix("http://").context("only http:// URLs")?;
    let (host, path) = rest
        .split_once('/')
        .map_or((rest, "/".to_string()), |(h, p)| (h, format!("/{p}")));
    let addr = host.to_socket_addrs()?.next().context("no address")?;
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    stream.write_all(
        format!("GET {path} HTTP/1.0\r\nHost: {host}\r\nConnection: close\r\n\r\n").as_bytes(),
    )?;
    let mut head = [0u8; 64];
    let n = stream.read(&mut head)?;
    let line = String::from_utf8_lossy(&head[..n]);
    line.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .context("not an HTTP response")
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
