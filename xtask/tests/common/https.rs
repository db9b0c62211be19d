//! HTTPS to the sandbox's load balancer as a client that trusts the
//! sandbox's CA and nothing else: curl with `--cacert`, every option (a
//! bearer token too) handed on its stdin as a config file, never in its
//! arguments. A certificate curl does not accept is a failed request (code 0
//! and curl's words), never an answer.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// One answer: status (0 when there was none), headers (names lower-case), body.
#[derive(Debug)]
pub struct Answer {
    pub code: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
    /// curl's exit code and stderr when it got no answer.
    pub error: Option<(i32, String)>,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// The load balancer at `url` (`https://127.0.0.1:PORT`), its certificate signed by `ca`.
#[derive(Debug, Clone)]
pub struct Lb {
    pub url: String,
    pub ca: PathBuf,
}

impl Lb {
    /// The sandbox's, from its state (`ca_file`, the HTTPS listener's port).
    pub fn of(sandbox: &super::Sandbox) -> Lb {
        let port = sandbox.state["lb_https_port"]
            .as_u64()
            .expect("lb_https_port");
        Lb {
            url: format!("https://127.0.0.1:{port}"),
            ca: PathBuf::from(sandbox.state["ca_file"].as_str().expect("ca_file")),
        }
    }

    pub fn get(&self, path: &str) -> (u16, String) {
        let a = self.request("GET", path, &[], None);
        (a.code, a.body)
    }

    pub fn get_with(&self, path: &str, headers: &[(&str, &str)]) -> (u16, String) {
        let a = self.request("GET", path, headers, None);
        (a.code, a.body)
    }

    pub fn post_json(&self, path: &str, headers: &[(&str, &str)], json: &str) -> (u16, String) {
        let a = self.request("POST", path, headers, Some(json));
        (a.code, a.body)
    }

    pub fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        json: Option<&str>,
    ) -> Answer {
        let mut config = vec![
            format!("url = {}", quoted(&format!("{}{path}", self.url))),
            format!("request = {}", quoted(method)),
        ];
        for (k, v) in headers {
            config.push(format!("header = {}", quoted(&format!("{k}: {v}"))));
        }
        if let Some(body) = json {
            config.push(format!(
                "header = {}",
                quoted("Content-Type: application/json")
            ));
            config.push(format!("data-binary = {}", quoted(body)));
        }
        curl(&["--cacert", &self.ca.display().to_string()], &config)
    }
}

/// A curl config string: double quotes, with `\` and `"` escaped.
fn quoted(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// curl with `args` and the config lines on its stdin; the answer, headers included.
pub fn curl(args: &[&str], config: &[String]) -> Answer {
    let mut child = Command::new("curl")
        .args(["--silent", "--show-error", "--include", "--max-time", "15"])
        .args(args)
        .args(["--config", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("curl (Debian's curl package) runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(config.join("\n").as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() {
        return Answer {
            code: 0,
            headers: vec![],
            body: text,
            error: Some((
                out.status.code().unwrap_or(-1),
                String::from_utf8_lossy(&out.stderr).into_owned(),
            )),
        };
    }
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let code = lines
        .next()
        .and_then(|status| status.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Answer {
        code,
        headers,
        body: body.to_string(),
        error: None,
    }
}
