//! The one HTTP client every AWS call goes through: ureq (blocking, run on
//! tokio's blocking pool), rustls with ring, the system's root certificates.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use anyhow::{anyhow, Context as _, Result};
use ureq::tls::{Certificate, RootCerts, TlsConfig};
use ureq::{Agent, Proxy};

const TIMEOUT: Duration = Duration::from_secs(30);

/// Sends one request; any status comes back (callers read AWS's error
/// bodies), and only no answer at all is an error.
pub async fn send(
    method: &str,
    url: &str,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
) -> Result<(u16, Vec<u8>)> {
    run(agent(url)?, method, url, &headers, body)
        .await?
        .map_err(|e| anyhow!("could not get an answer from AWS at {url}: {e}"))
}

/// A GET that follows up to five redirects, as a registry answers a blob
/// request with S3's URL: ureq sends the authorization header to `url` only,
/// never on to where it redirects.
pub async fn get_following_redirects(
    url: &str,
    headers: Vec<(String, String)>,
) -> Result<(u16, Vec<u8>)> {
    run(build(None, 5), "GET", url, &headers, Vec::new())
        .await?
        .map_err(|e| anyhow!("GET {url}: {e}"))
}

/// The request on tokio's blocking pool (ureq blocks); the outer error is
/// ours (a malformed request), the inner one the network's.
async fn run(
    agent: Agent,
    method: &str,
    url: &str,
    headers: &[(String, String)],
    body: Vec<u8>,
) -> Result<Result<(u16, Vec<u8>), ureq::Error>> {
    let mut request = ureq::http::Request::builder().method(method).uri(url);
    for (name, value) in headers {
        request = request.header(name.as_str(), value.as_str());
    }
    let request = request
        .body(body)
        .with_context(|| format!("not a valid request to {url}"))?;
    tokio::task::spawn_blocking(move || {
        let mut response = agent.run(request)?;
        let status = response.status().as_u16();
        let body = response.body_mut().read_to_vec()?;
        Ok((status, body))
    })
    .await
    .context("the HTTP thread panicked")
}

/// The agent for `url`: plain http (moto on loopback, the ECS credentials
/// endpoint) never goes through a proxy; https does when `HTTPS_PROXY` is
/// set. Without a proxy both are one agent, so one connection pool.
fn agent(url: &str) -> Result<Agent> {
    static AGENTS: OnceLock<Result<(Agent, Agent), String>> = OnceLock::new();
    let agents = AGENTS.get_or_init(|| {
        let direct = build(None, 0);
        // Read here, not in AwsEnv: a network setting, not an AWS one.
        let proxy = ["HTTPS_PROXY", "https_proxy"]
            .iter()
            .find_map(|name| std::env::var(name).ok().filter(|v| !v.is_empty()));
        let https = match proxy {
            Some(p) => {
                let proxy =
                    Proxy::new(&p).map_err(|e| format!("HTTPS_PROXY is not a proxy URL: {e}"))?;
                build(Some(proxy), 0)
            }
            None => direct.clone(),
        };
        Ok((direct, https))
    });
    let (direct, https) = agents.as_ref().map_err(|e| anyhow!("{e}"))?;
    let agent = if url.starts_with("https://") {
        https
    } else {
        direct
    };
    Ok(agent.clone())
}

/// `redirects`: 0 for AWS calls, where a redirect would carry a signature made for another URL.
fn build(proxy: Option<Proxy>, redirects: u32) -> Agent {
    // As aws-smithy-http-client did: the system's store, so corporate CAs
    // keep working. Unreadable certificates are skipped, as rustls would.
    let roots: Vec<Certificate<'static>> = rustls_native_certs::load_native_certs()
        .certs
        .iter()
        .map(|c| Certificate::from_der(c.as_ref()).to_owned())
        .collect();
    let tls = TlsConfig::builder()
        .root_certs(RootCerts::Specific(Arc::new(roots)))
        .unversioned_rustls_crypto_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .build();
    Agent::config_builder()
        .tls_config(tls)
        .proxy(proxy)
        .timeout_global(Some(TIMEOUT))
        .http_status_as_error(false)
        .max_redirects(redirects)
        .user_agent("cruddur-xtask")
        .build()
        .into()
}

#[cfg(test)]
mod tests {
    use std::net::TcpListener;

    use super::super::testing::{moto, serve};
    use super::*;

    #[tokio::test]
    async fn sends_and_reuses_one_connection_and_errors_are_not_failures() {
        let (url, server) = serve(vec![(200, "first".into()), (404, "{\"no\":1}".into())]);
        let headers = vec![("x-amz-target".to_string(), "A.B".to_string())];
        let first = send("POST", &format!("{url}/"), headers, b"hello".to_vec()).await;
        assert_eq!(first.unwrap(), (200, b"first".to_vec()));
        // The server accepts a single connection: the second call reuses it.
        let second = send("GET", &format!("{url}/x?a=1"), vec![], vec![]).await;
        assert_eq!(second.unwrap(), (404, b"{\"no\":1}".to_vec()));
        let seen = server.join().unwrap();
        assert!(seen[0].starts_with("POST / HTTP/1.1\r\n"), "{}", seen[0]);
        // What the signer puts in the canonical `host` header.
        let host = url.trim_start_matches("http://");
        assert!(
            seen[0].contains(&format!("\r\nhost: {host}\r\n")),
            "{}",
            seen[0]
        );
        assert!(seen[0].contains("x-amz-target: A.B\r\n"), "{}", seen[0]);
        assert!(seen[0].ends_with("\r\n\r\nhello"), "{}", seen[0]);
        assert!(
            seen[1].starts_with("GET /x?a=1 HTTP/1.1\r\n"),
            "{}",
            seen[1]
        );
    }

    #[tokio::test]
    async fn no_answer_is_one_line_naming_the_url() {
        // A port that was free a moment ago: nothing listens there.
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let url = format!("http://127.0.0.1:{port}/");
        let err = send("GET", &url, vec![], vec![]).await.unwrap_err();
        let text = format!("{err:#}");
        assert!(
            text.starts_with(&format!("could not get an answer from AWS at {url}: ")),
            "{text}"
        );
        assert!(!text.contains('\n'), "{text}");
    }

    #[tokio::test]
    async fn https_checks_the_certificate_of_moto() {
        // moto over TLS with a certificate of its own making: the handshake
        // must fail on it, so TLS is on and verification with it.
        let moto = moto(true);
        let url = format!("{}/", moto.url);
        let err = send("GET", &url, vec![], vec![]).await.unwrap_err();
        let text = format!("{err:#}");
        assert!(
            text.starts_with(&format!("could not get an answer from AWS at {url}: ")),
            "{text}"
        );
        assert!(
            text.contains("invalid peer certificate: UnknownIssuer"),
            "{text}"
        );
    }
}
