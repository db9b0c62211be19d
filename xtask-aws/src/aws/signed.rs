//! The read-only calls of services the tool asks one or two things of
//! (CloudWatch Logs, SSM, IAM, EC2, Cloud Map, ACM), without their SDK
//! crates, whose compile costs more than all of the rest (measured here:
//! logs 157 s, SSM 101 s, IAM 61 s, EC2 484 s; see the README). What the SDK
//! does for its own clients is still done by the SDK's parts: aws-config's
//! credentials, region and endpoint settings (`AWS_ENDPOINT_URL_<SERVICE>`,
//! the profile's `[services]`), aws-sigv4's signature, the SDK's HTTP
//! connector, backon's retries, serde_json and aws-smithy-xml for the
//! answers. Only read-only operations may come this way: `Call::new`
//! refuses any other.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use anyhow::{bail, Context as _, Result};
use aws_credential_types::provider::ProvideCredentials as _;
use aws_credential_types::Credentials;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use aws_smithy_xml::decode::{try_data, Document, ScopedDecoder};
use aws_types::service_config::ServiceConfigKey;
use backon::{ExponentialBuilder, Retryable as _};
use serde_json::Value;

use super::error::{AwsError, CREDENTIALS_HINT};
use super::{http, Aws};

/// An AWS service the tool calls without its SDK crate (one name for one
/// thing: `Service` is a Cruddur service, `ecs_types::Service` an ECS one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    Logs,
    Ssm,
    Iam,
    Ec2,
    /// Cloud Map (Service Connect's namespaces).
    CloudMap,
    /// Certificate Manager (the load balancer's certificate).
    Acm,
}

/// How a service's requests are encoded.
enum Protocol {
    /// `application/x-amz-json-1.1` with `X-Amz-Target: <prefix>.<operation>`.
    Json(&'static str),
    /// A form with `Action` and `Version`; the answer is XML.
    Query(&'static str),
}

impl Api {
    /// The signing name, which is also the endpoint's first label.
    fn signing_name(self) -> &'static str {
        match self {
            Api::Logs => "logs",
            Api::Ssm => "ssm",
            Api::Iam => "iam",
            Api::Ec2 => "ec2",
            Api::CloudMap => "servicediscovery",
            Api::Acm => "acm",
        }
    }

    /// The SDK's service id: `AWS_ENDPOINT_URL_<ID>` and `[services]` keys derive from it.
    fn service_id(self) -> &'static str {
        match self {
            Api::Logs => "CloudWatch Logs",
            Api::Ssm => "SSM",
            Api::Iam => "IAM",
            Api::Ec2 => "EC2",
            Api::CloudMap => "ServiceDiscovery",
            Api::Acm => "ACM",
        }
    }

    fn protocol(self) -> Protocol {
        match self {
            Api::Logs => Protocol::Json("Logs_20140328"),
            Api::Ssm => Protocol::Json("AmazonSSM"),
            Api::CloudMap => Protocol::Json("Route53AutoNaming_v20170314"),
            Api::Acm => Protocol::Json("CertificateManager"),
            Api::Iam => Protocol::Query("2010-05-08"),
            Api::Ec2 => Protocol::Query("2016-11-15"),
        }
    }
}

/// The operations that may be signed here: reads only.
const READ_ONLY: [&str; 12] = [
    "GetLogEvents",
    "FilterLogEvents",
    "DescribeLogGroups",
    "DescribeParameters",
    "GetRole",
    "SimulatePrincipalPolicy",
    "DescribeSubnets",
    "DescribeSecurityGroups",
    "ListNamespaces",
    "GetNamespace",
    "DescribeCertificate",
    "ListCertificates",
];

impl Aws {
    /// A JSON-protocol call: `operation` with `body`.
    pub async fn json(&self, service: Api, operation: &str, body: &Value) -> Result<Value> {
        let Protocol::Json(prefix) = service.protocol() else {
            bail!("{} speaks the query protocol", service.signing_name());
        };
        let target = format!("{prefix}.{operation}");
        let headers = [
            ("content-type", "application/x-amz-json-1.1"),
            ("x-amz-target", target.as_str()),
        ];
        let answer = self
            .signed(service, operation, &headers, serde_json::to_vec(body)?)
            .await?;
        if answer.body.is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_slice(&answer.body).with_context(|| {
            format!(
                "{} {operation}: the answer is not JSON",
                service.signing_name()
            )
        })
    }

    /// A query-protocol call: `action` with form `params`; the answer's XML text.
    pub async fn query(
        &self,
        service: Api,
        action: &str,
        params: &[(&str, &str)],
    ) -> Result<String> {
        let Protocol::Query(version) = service.protocol() else {
            bail!("{} speaks the JSON protocol", service.signing_name());
        };
        let mut form = form_urlencoded::Serializer::new(String::new());
        form.append_pair("Action", action)
            .append_pair("Version", version);
        for (k, v) in params {
            form.append_pair(k, v);
        }
        let headers = [(
            "content-type",
            "application/x-www-form-urlencoded; charset=utf-8",
        )];
        let answer = self
            .signed(service, action, &headers, form.finish().into_bytes())
            .await?;
        Ok(String::from_utf8_lossy(&answer.body).into_owned())
    }

    /// Signs and sends one POST as the SDK's standard retry mode would:
    /// throttling, a 5xx answer or no answer at all is tried again, three
    /// attempts at most, with jittered exponential backoff.
    async fn signed(
        &self,
        service: Api,
        operation: &str,
        headers: &[(&str, &str)],
        payload: Vec<u8>,
    ) -> Result<http::Answer> {
        let call = format!("{} {operation}", service.signing_name());
        if !READ_ONLY.contains(&operation) {
            bail!(
                "internal error: {call} is not a read-only call and must go through an SDK client"
            );
        }
        let credentials = self.credentials().await.map_err(|e| AwsError {
            call: call.clone(),
            code: None,
            message: format!("no usable AWS credentials ({e:#}); {CREDENTIALS_HINT}"),
            request_id: None,
            status: None,
        })?;
        let (url, region) = self.endpoint(service);
        let attempt = || async {
            let request = signed_request(
                &url,
                headers,
                &payload,
                &credentials,
                &region,
                service.signing_name(),
            )?;
            let answer = http::send(&self.signed.connector, request)
                .await
                .map_err(|e| AwsError {
                    call: call.clone(),
                    code: None,
                    message: format!("{e:#}"),
                    request_id: None,
                    status: None,
                })?;
            if answer.status >= 300 {
                return Err(error_of(&call, service, &answer).into());
            }
            Ok(answer)
        };
        attempt
            .retry(
                ExponentialBuilder::default()
                    .with_min_delay(Duration::from_millis(500))
                    .with_max_times(2)
                    .with_jitter(),
            )
            .when(transient)
            .await
    }

    /// The service's endpoint and signing region: an endpoint configured
    /// for it or for every service (aws-config's settings), else AWS's own
    /// for the region's partition.
    fn endpoint(&self, service: Api) -> (String, String) {
        let key = ServiceConfigKey::builder()
            .service_id(service.service_id())
            .env("AWS_ENDPOINT_URL")
            .profile("endpoint_url")
            .build()
            .expect("every field is set");
        // An environment's endpoint is set in code: as for the SDK's clients,
        // it wins over the process's AWS_ENDPOINT_URL* and the profile.
        let configured = self.endpoint_override.clone().or_else(|| {
            self.config
                .service_config()
                .and_then(|c| c.load_config(key))
                .or_else(|| self.config.endpoint_url().map(str::to_string))
        });
        let fips = self.config.use_fips().unwrap_or(false);
        let dual_stack = self.config.use_dual_stack().unwrap_or(false);
        let (url, region) = super::endpoints::default_endpoint(
            service.signing_name(),
            &self.region,
            fips,
            dual_stack,
        );
        match configured {
            Some(url) => (url.trim_end_matches('/').to_string() + "/", region),
            None => (url, region),
        }
    }
}

/// A POST to `url` signed with SigV4 at this moment.
fn signed_request(
    url: &str,
    headers: &[(&str, &str)],
    payload: &[u8],
    credentials: &Credentials,
    region: &str,
    name: &str,
) -> Result<::http::Request<Vec<u8>>> {
    let identity = Identity::from(credentials.clone());
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name(name)
        .time(SystemTime::now())
        .settings(SigningSettings::default())
        .build()?
        .into();
    let signable = SignableRequest::new(
        "POST",
        url,
        headers.iter().copied(),
        SignableBody::Bytes(payload),
    )?;
    let (instructions, _) = sign(signable, &params)?.into_parts();
    let mut request = ::http::Request::builder().method("POST").uri(url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let mut request = request.body(payload.to_vec())?;
    instructions.apply_to_request_http1x(&mut request);
    Ok(request)
}

/// AWS's error in `answer` (JSON's `__type`, or XML's `<Error><Code>`).
fn error_of(call: &str, service: Api, answer: &http::Answer) -> AwsError {
    let text = String::from_utf8_lossy(&answer.body);
    let (code, message, request_id) = match service.protocol() {
        Protocol::Json(_) => {
            let value: Value = serde_json::from_str(&text).unwrap_or_default();
            let code = value["__type"].as_str().map(|c| {
                let c = c.rsplit('#').next().unwrap_or(c);
                c.split(':').next().unwrap_or(c).to_string()
            });
            let message = value["message"].as_str().or(value["Message"].as_str());
            (code, message.map(str::to_string), None)
        }
        Protocol::Query(_) => {
            let error = records(&text, "Error", &["Code", "Message"])
                .unwrap_or_default()
                .into_iter()
                .next()
                .unwrap_or_default();
            let id = records(&text, "ErrorResponse", &["RequestId"])
                .into_iter()
                .chain(records(&text, "Response", &["RequestID"]))
                .flatten()
                .find_map(|r| r.into_values().next());
            (
                error.get("Code").cloned(),
                error.get("Message").cloned(),
                id,
            )
        }
    };
    let body_start: String = text.chars().take(200).collect();
    AwsError {
        call: call.to_string(),
        code: Some(code.unwrap_or_else(|| format!("HTTP {}", answer.status))),
        message: message.unwrap_or(body_start),
        request_id: request_id.or_else(|| answer.request_id.clone()),
        status: Some(answer.status),
    }
}

/// Worth another attempt: no answer, throttling, or a failure on AWS's side
/// (the SDKs' standard list of throttling codes).
fn transient(err: &anyhow::Error) -> bool {
    const THROTTLING: [&str; 14] = [
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottledException",
        "TooManyRequestsException",
        "ProvisionedThroughputExceededException",
        "TransactionInProgressException",
        "RequestLimitExceeded",
        "BandwidthLimitExceeded",
        "LimitExceededException",
        "RequestThrottled",
        "SlowDown",
        "PriorRequestNotComplete",
        "EC2ThrottledException",
    ];
    let Some(e) = err.downcast_ref::<AwsError>() else {
        return false;
    };
    match (&e.code, e.status) {
        (None, _) => true,
        (_, Some(status)) if status >= 500 || status == 429 => true,
        (Some(code), _) => THROTTLING.contains(&code.as_str()),
    }
}

/// Every element named `record` in `xml`, each as the text of its child
/// elements named in `fields` (the query protocol's `member`s and EC2's `item`s).
pub fn records(xml: &str, record: &str, fields: &[&str]) -> Result<Vec<BTreeMap<String, String>>> {
    let mut doc = Document::new(xml);
    let mut root = doc
        .root_element()
        .map_err(|e| anyhow::anyhow!("not XML: {e}"))?;
    let mut out = Vec::new();
    walk(&mut root, record, fields, &mut out)?;
    Ok(out)
}

fn walk(
    el: &mut ScopedDecoder,
    record: &str,
    fields: &[&str],
    out: &mut Vec<BTreeMap<String, String>>,
) -> Result<()> {
    if el.start_el().local() == record {
        let mut found = BTreeMap::new();
        while let Some(mut child) = el.next_tag() {
            let name = child.start_el().local().to_string();
            if fields.contains(&name.as_str()) {
                let text = try_data(&mut child).map_err(|e| anyhow::anyhow!("{e}"))?;
                found.insert(name, text.into_owned());
            } else {
                walk(&mut child, record, fields, out)?;
            }
        }
        out.push(found);
        return Ok(());
    }
    while let Some(mut child) = el.next_tag() {
        walk(&mut child, record, fields, out)?;
    }
    Ok(())
}

/// aws-config's credentials, looked up once and shared by the SDK's clients
/// and the calls signed here (a `credential_process` runs once per run),
/// again only when they are about to expire.
#[derive(Debug, Clone)]
pub struct Cached {
    inner: aws_credential_types::provider::SharedCredentialsProvider,
    cached: std::sync::Arc<tokio::sync::Mutex<Option<Credentials>>>,
}

impl Cached {
    pub fn new(inner: aws_credential_types::provider::SharedCredentialsProvider) -> Cached {
        Cached {
            inner,
            cached: std::sync::Arc::new(tokio::sync::Mutex::new(None)),
        }
    }

    pub async fn get(&self) -> aws_credential_types::provider::Result {
        let mut cached = self.cached.lock().await;
        let fresh_until = SystemTime::now() + Duration::from_secs(5 * 60);
        if let Some(c) = cached.as_ref() {
            if c.expiry().is_none_or(|at| at > fresh_until) {
                return Ok(c.clone());
            }
        }
        let c = self.inner.provide_credentials().await?;
        *cached = Some(c.clone());
        Ok(c)
    }
}

impl aws_credential_types::provider::ProvideCredentials for Cached {
    fn provide_credentials<'a>(
        &'a self,
    ) -> aws_credential_types::provider::future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        aws_credential_types::provider::future::ProvideCredentials::new(self.get())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_answers_read_as_records() {
        let xml = r#"<DescribeSubnetsResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">
            <requestId>r-1</requestId>
            <subnetSet>
              <item><subnetId>subnet-1</subnetId><vpcId>vpc-1</vpcId>
                <tagSet><item><key>Name</key><value>a &amp; b</value></item></tagSet></item>
              <item><subnetId>subnet-2</subnetId><vpcId>vpc-1</vpcId></item>
            </subnetSet></DescribeSubnetsResponse>"#;
        let subnets: Vec<_> = records(xml, "item", &["subnetId", "vpcId", "value"])
            .unwrap()
            .into_iter()
            .filter(|r| r.contains_key("subnetId"))
            .collect();
        assert_eq!(subnets.len(), 2);
        assert_eq!(subnets[1]["subnetId"], "subnet-2");
        let tags = records(xml, "item", &["value"]).unwrap();
        assert!(tags
            .iter()
            .any(|t| t.get("value").map(String::as_str) == Some("a & b")));
    }

    #[test]
    fn errors_name_the_code_message_and_request_id() {
        let answer = |status, body: &str| http::Answer {
            status,
            location: None,
            request_id: Some("header-id".into()),
            body: body.as_bytes().to_vec(),
        };
        let xml = "<ErrorResponse><Error><Type>Sender</Type><Code>NoSuchEntity</Code>\
                   <Message>The role with name X cannot be found.</Message></Error>\
                   <RequestId>abc-123</RequestId></ErrorResponse>";
        let e = error_of("iam GetRole", Api::Iam, &answer(404, xml));
        assert_eq!(e.code.as_deref(), Some("NoSuchEntity"));
        assert_eq!(e.request_id.as_deref(), Some("abc-123"));
        let line = e.to_string();
        assert!(
            line.contains("cannot be found") && line.contains("abc-123"),
            "{line}"
        );
        let json = r#"{"__type":"com.amazonaws.logs#ResourceNotFoundException","message":"gone"}"#;
        let e = error_of("logs GetLogEvents", Api::Logs, &answer(400, json));
        assert_eq!(e.code.as_deref(), Some("ResourceNotFoundException"));
        assert_eq!(e.request_id.as_deref(), Some("header-id"));
        let html = "<html><body>502 Bad Gateway</body></html>";
        let e = error_of("ssm DescribeParameters", Api::Ssm, &answer(502, html));
        assert_eq!(e.code.as_deref(), Some("HTTP 502"));
        assert!(e.to_string().contains("502 Bad Gateway"), "{e}");
        assert!(transient(&e.into()));
    }

    #[test]
    fn throttling_and_server_errors_are_transient_and_others_are_not() {
        let err = |code: Option<&str>, status| -> anyhow::Error {
            AwsError {
                call: "x".into(),
                code: code.map(str::to_string),
                message: String::new(),
                request_id: None,
                status,
            }
            .into()
        };
        assert!(transient(&err(Some("ThrottlingException"), Some(400))));
        assert!(transient(&err(Some("InternalFailure"), Some(500))));
        assert!(transient(&err(None, None)));
        assert!(!transient(&err(Some("AccessDeniedException"), Some(400))));
        assert!(!transient(&anyhow::anyhow!("not an AWS error")));
    }
}
