//! A loopback HTTP proxy in front of the sandbox's AWS endpoint: it records
//! each request's target (`X-Amz-Target`, or the query's `Action`) and can
//! lose the answer of the first request matching a pattern (forwarded, then
//! the connection closed without a reply), as a network may, or hold back
//! the answers of requests matching a pattern, as a slow one does.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub struct Proxy {
    pub url: String,
    seen: Arc<Mutex<Vec<String>>>,
    sent: Arc<Mutex<Vec<String>>>,
}

impl Proxy {
    /// Forwards to `upstream` (`http://host:port`); the first request whose
    /// target contains `lose` has its answer lost.
    pub fn start(upstream: &str, lose: Option<&str>) -> Proxy {
        Proxy::with(upstream, lose, None)
    }

    /// Forwards to `upstream`; each answer to a request whose target
    /// contains `pattern` comes `delay` late.
    pub fn slow(upstream: &str, pattern: &str, delay: Duration) -> Proxy {
        Proxy::with(upstream, None, Some((pattern.to_string(), delay)))
    }

    fn with(upstream: &str, lose: Option<&str>, slow: Option<(String, Duration)>) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let upstream = upstream.trim_start_matches("http://").to_string();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sent = Arc::new(Mutex::new(Vec::new()));
        let lose = Arc::new(Mutex::new(lose.map(str::to_string)));
        let slow = Arc::new(slow);
        let (recorded, bodies) = (Arc::clone(&seen), Arc::clone(&sent));
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let (upstream, seen, sent, lose, slow) = (
                    upstream.clone(),
                    Arc::clone(&recorded),
                    Arc::clone(&bodies),
                    Arc::clone(&lose),
                    Arc::clone(&slow),
                );
                std::thread::spawn(move || {
                    serve(client, &upstream, (&seen, &sent), (&lose, &slow));
                });
            }
        });
        Proxy { url, seen, sent }
    }

    /// The targets of the requests seen so far, in order.
    pub fn seen(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }

    /// Each request so far as its first line and its body, in order.
    pub fn sent(&self) -> Vec<String> {
        self.sent.lock().unwrap().clone()
    }
}

/// One connection: requests one after another until the client closes it.
fn serve(
    client: TcpStream,
    upstream: &str,
    (seen, sent): (&Mutex<Vec<String>>, &Mutex<Vec<String>>),
    (lose, slow): (&Mutex<Option<String>>, &Option<(String, Duration)>),
) {
    let mut reader = BufReader::new(client.try_clone().unwrap());
    let mut client = client;
    loop {
        let Some((head, body)) = read_request(&mut reader) else {
            return;
        };
        let target = target(&head, &body);
        seen.lock().unwrap().push(target.clone());
        sent.lock().unwrap().push(format!(
            "{} {}",
            head.lines().next().unwrap_or_default(),
            String::from_utf8_lossy(&body)
        ));
        let answer = forward(upstream, &head, &body);
        let mut lose = lose.lock().unwrap();
        if lose.as_deref().is_some_and(|l| target.contains(l)) {
            *lose = None;
            // Forwarded and acted on; the answer never arrives.
            let _ = client.shutdown(std::net::Shutdown::Both);
            return;
        }
        drop(lose);
        if let Some((_, delay)) = slow.as_ref().filter(|(p, _)| target.contains(p.as_str())) {
            std::thread::sleep(*delay);
        }
        if client.write_all(&answer).is_err() {
            return;
        }
    }
}

fn read_request(reader: &mut BufReader<TcpStream>) -> Option<(String, Vec<u8>)> {
    let mut head = String::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        head.push_str(&line);
        if line == "\r\n" {
            break;
        }
    }
    let length = header(&head, "content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some((head, body))
}

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

fn target(head: &str, body: &[u8]) -> String {
    if let Some(t) = header(head, "x-amz-target") {
        return t.to_string();
    }
    let body = String::from_utf8_lossy(body);
    body.split('&')
        .find_map(|kv| kv.strip_prefix("Action="))
        .map_or_else(
            || head.lines().next().unwrap_or("").to_string(),
            str::to_string,
        )
}

/// The request to `upstream` on a connection of its own; the answer with
/// `Connection: close`, so the client opens a new connection next time.
fn forward(upstream: &str, head: &str, body: &[u8]) -> Vec<u8> {
    let mut server = TcpStream::connect(upstream).unwrap();
    let head: String = head
        .lines()
        .filter(|l| !l.to_ascii_lowercase().starts_with("connection:") && !l.is_empty())
        .map(|l| format!("{l}\r\n"))
        .collect();
    server
        .write_all(format!("{head}Connection: close\r\n\r\n").as_bytes())
        .unwrap();
    server.write_all(body).unwrap();
    let mut answer = Vec::new();
    server.read_to_end(&mut answer).unwrap();
    let split = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(answer.len(), |i| i + 2);
    let (head, rest) = answer.split_at(split);
    let head: String = String::from_utf8_lossy(head)
        .lines()
        .filter(|l| !l.to_ascii_lowercase().starts_with("connection:") && !l.is_empty())
        .map(|l| format!("{l}\r\n"))
        .collect();
    [format!("{head}Connection: close\r\n").as_bytes(), rest].concat()
}
