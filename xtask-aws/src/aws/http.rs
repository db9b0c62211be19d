//! The one HTTP stack of the AWS build: the SDK's hyper 1 connector on rustls
//! with ring. Every SDK client and every credentials provider that talks
//! HTTP (SSO, STS, the ECS container endpoint, IMDS) gets it through
//! `client()`; the few read-only calls signed here and the registry reads of
//! `verify` send through `connector()`. Proxies come from `HTTPS_PROXY`,
//! `HTTP_PROXY` and `NO_PROXY` (the SDK's client reads none of them unless asked).

use std::time::Duration;

use anyhow::{anyhow, Context as _, Result};
use aws_smithy_async::rt::sleep::{SharedAsyncSleep, TokioSleep};
use aws_smithy_http_client::proxy::ProxyConfig;
use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider};
use aws_smithy_http_client::{Builder, Connector};
use aws_smithy_runtime_api::client::http::{
    HttpConnector as _, HttpConnectorSettings, SharedHttpClient,
};
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::byte_stream::ByteStream;
use aws_smithy_types::error::display::DisplayErrorContext;

/// Connect and read timeouts of the connector used outside the SDK's clients.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const READ_TIMEOUT: Duration = Duration::from_secs(30);

fn build(settings: Option<&HttpConnectorSettings>, sleep: Option<SharedAsyncSleep>) -> Connector {
    let mut builder = Connector::builder();
    builder.set_connector_settings(settings.cloned());
    builder.set_sleep_impl(sleep);
    builder
        .proxy_config(ProxyConfig::from_env())
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build()
}

/// The HTTP client handed to aws-config (and so to every SDK client and
/// credentials provider it builds); the SDK sets the timeouts per client.
pub fn client() -> SharedHttpClient {
    Builder::new().build_with_connector_fn(|settings, components| {
        build(
            settings,
            components.and_then(aws_sdk_ecs::config::RuntimeComponents::sleep_impl),
        )
    })
}

/// The same stack for a request the tool sends itself.
pub fn connector() -> Connector {
    let settings = HttpConnectorSettings::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .read_timeout(READ_TIMEOUT)
        .build();
    build(
        Some(&settings),
        Some(SharedAsyncSleep::new(TokioSleep::new())),
    )
}

/// An answer: the status, the headers the callers read, and the body.
pub struct Answer {
    pub status: u16,
    pub location: Option<String>,
    pub request_id: Option<String>,
    pub body: Vec<u8>,
}

/// Sends `request` once; any status comes back (callers read AWS's error
/// bodies), and only no answer at all is an error.
pub async fn send(connector: &Connector, request: http::Request<Vec<u8>>) -> Result<Answer> {
    let url = request.uri().to_string();
    let request = request.map(SdkBody::from);
    let request = aws_smithy_runtime_api::http::Request::try_from(request)
        .with_context(|| format!("not a valid request to {url}"))?;
    let response = connector
        .call(request)
        .await
        .map_err(|e| anyhow!("no answer from {url}: {}", DisplayErrorContext(&e)))?;
    let status = response.status().as_u16();
    let header = |name: &str| response.headers().get(name).map(str::to_string);
    let location = header("location");
    let request_id = header("x-amzn-requestid").or_else(|| header("x-amz-request-id"));
    let body = ByteStream::new(response.into_body())
        .collect()
        .await
        .map_err(|e| anyhow!("the answer from {url} broke off: {e}"))?
        .into_bytes()
        .to_vec();
    Ok(Answer {
        status,
        location,
        request_id,
        body,
    })
}
