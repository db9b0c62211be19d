//! Every AWS call the tool makes, signed and sent by `crate::transport`,
//! without the AWS SDK's crates: measured here, `aws-sdk-ecs` took 52–62 s of
//! a cold build, `aws-sdk-ecr` 23–35 s, `aws-sdk-cloudwatchlogs` alone over two
//! minutes (its event streams rebuild the whole stack), SSM and IAM about a
//! minute each, EC2 more. The calls are JSON (ECS, ECR, Logs, SSM, Cloud Map)
//! or query (ELBv2, IAM, EC2, STS) requests.

use std::time::SystemTime;

use anyhow::{anyhow, Context as _, Result};
use serde_json::Value;

use crate::aws::{Aws, CREDENTIALS_HINT};
use crate::transport::{self, Credentials, SignableRequest};
use crate::xml::{self, Element};

/// A service the tool calls without its SDK crate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    Logs,
    Ssm,
    Elbv2,
    Iam,
    Ec2,
    /// Cloud Map (Service Connect's namespaces).
    CloudMap,
    Ecs,
    Ecr,
    Sts,
}

impl Service {
    /// The signing name, which is also the endpoint's first label.
    fn signing_name(self) -> &'static str {
        match self {
            Service::Logs => "logs",
            Service::Ssm => "ssm",
            Service::Elbv2 => "elasticloadbalancing",
            Service::Iam => "iam",
            Service::Ec2 => "ec2",
            Service::CloudMap => "servicediscovery",
            Service::Ecs => "ecs",
            Service::Ecr => "ecr",
            Service::Sts => "sts",
        }
    }

    fn target_prefix(self) -> &'static str {
        match self {
            Service::Logs => "Logs_20140328",
            Service::Ssm => "AmazonSSM",
            Service::CloudMap => "Route53AutoNaming_v20170314",
            Service::Ecs => "AmazonEC2ContainerServiceV20141113",
            Service::Ecr => "AmazonEC2ContainerRegistry_V20150921",
            _ => "",
        }
    }

    fn query_version(self) -> &'static str {
        match self {
            Service::Elbv2 => "2015-12-01",
            Service::Iam => "2010-05-08",
            Service::Ec2 => "2016-11-15",
            Service::Sts => "2011-06-15",
            _ => "",
        }
    }
}

/// An error AWS answered with: callers branch on `code`.
#[derive(Debug)]
pub struct ApiError {
    pub call: String,
    pub code: String,
    pub message: String,
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} failed: {}: {}", self.call, self.code, self.message)?;
        match self.code.as_str() {
            "ExpiredToken" | "ExpiredTokenException" | "RequestExpired" => {
                write!(f, ": the credentials have expired; {CREDENTIALS_HINT}")
            }
            "UnrecognizedClientException"
            | "InvalidClientTokenId"
            | "InvalidSignatureException"
            | "SignatureDoesNotMatch"
            | "AccessDeniedException"
            | "AccessDenied" => write!(
                f,
                ": AWS rejected the credentials or their permissions; {CREDENTIALS_HINT}"
            ),
            _ => Ok(()),
        }
    }
}
impl std::error::Error for ApiError {}

/// The AWS error code of `err`, when AWS answered with one.
pub fn code(err: &anyhow::Error) -> Option<&str> {
    err.downcast_ref::<ApiError>().map(|e| e.code.as_str())
}

impl Aws {
    /// A JSON-protocol call (CloudWatch Logs, SSM, Cloud Map): `operation` with `body`.
    pub async fn json(&self, service: Service, operation: &str, body: &Value) -> Result<Value> {
        let call = format!("{} {operation}", service.signing_name());
        let payload = serde_json::to_vec(body)?;
        let target = format!("{}.{operation}", service.target_prefix());
        let headers = [
            ("content-type", "application/x-amz-json-1.1"),
            ("x-amz-target", target.as_str()),
        ];
        let (status, answer) = self.send(service, &call, &headers, payload).await?;
        let value: Value = if answer.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&answer)
                .with_context(|| format!("{call}: the answer is not JSON"))?
        };
        if status >= 300 {
            let code = value["__type"].as_str().unwrap_or("Unknown");
            let code = code.rsplit('#').next().unwrap_or(code).to_string();
            let message = value["message"]
                .as_str()
                .or(value["Message"].as_str())
                .unwrap_or("")
                .to_string();
            return Err(ApiError {
                call,
                code,
                message,
            }
            .into());
        }
        Ok(value)
    }

    /// A JSON-protocol call whose answer is read as `T`.
    pub async fn call<T: serde::de::DeserializeOwned>(
        &self,
        service: Service,
        operation: &str,
        body: &Value,
    ) -> Result<T> {
        let answer = self.json(service, operation, body).await?;
        serde_path_to_error::deserialize(&answer).map_err(|e| {
            anyhow!(
                "{} {operation}: the answer does not read as expected: {e}",
                service.signing_name()
            )
        })
    }

    /// A query-protocol call (ELBv2, IAM, EC2): `action` with form `params`.
    pub async fn query(
        &self,
        service: Service,
        action: &str,
        params: &[(String, String)],
    ) -> Result<Element> {
        let call = format!("{} {action}", service.signing_name());
        let mut form = format!("Action={action}&Version={}", service.query_version());
        for (k, v) in params {
            form.push_str(&format!(
                "&{}={}",
                transport::encode(k),
                transport::encode(v)
            ));
        }
        let headers = [(
            "content-type",
            "application/x-www-form-urlencoded; charset=utf-8",
        )];
        let (status, answer) = self
            .send(service, &call, &headers, form.into_bytes())
            .await?;
        let text = String::from_utf8_lossy(&answer);
        let doc = xml::parse(&text).with_context(|| format!("{call}: the answer is not XML"))?;
        if status >= 300 {
            let error = doc.descendants("Error").first().map_or_else(
                || ("Unknown".into(), text.to_string()),
                |e| (e.text_at(&["Code"]), e.text_at(&["Message"])),
            );
            return Err(ApiError {
                call,
                code: error.0,
                message: error.1,
            }
            .into());
        }
        Ok(doc)
    }

    fn endpoint(&self, service: Service) -> String {
        if let Some(url) = &self.endpoint {
            return url.trim_end_matches('/').to_string();
        }
        match service {
            Service::Iam => "https://iam.amazonaws.com".into(),
            Service::Ecr => format!("https://api.ecr.{}.amazonaws.com", self.region),
            _ => format!(
                "https://{}.{}.amazonaws.com",
                service.signing_name(),
                self.region
            ),
        }
    }

    /// Sends one call as the AWS SDKs' standard retry mode does (the tool
    /// had it through the SDK): throttling, a 5xx answer or no answer at all
    /// is tried again, at most three attempts in all, after a random wait of
    /// up to 2 s and then 4 s. Credentials are found once, before: a missing
    /// one is not worth a second look (nor a second credential_process).
    async fn send(
        &self,
        service: Service,
        call: &str,
        headers: &[(&str, &str)],
        payload: Vec<u8>,
    ) -> Result<(u16, Vec<u8>)> {
        const ATTEMPTS: u32 = 3;
        let credentials = self
            .credentials()
            .await
            .map_err(|e| anyhow!("{call}: no usable AWS credentials ({e:#})"))?;
        let mut attempt = 1;
        loop {
            let answer = self
                .send_once(service, call, headers, &payload, &credentials)
                .await;
            let again = match &answer {
                Ok((status, body)) => transient(*status, body),
                Err(_) => true,
            };
            if !again || attempt == ATTEMPTS {
                return answer;
            }
            tokio::time::sleep(backoff(attempt)).await;
            attempt += 1;
        }
    }

    /// Signs (at this attempt's time) and sends one POST; the status and the body.
    async fn send_once(
        &self,
        service: Service,
        call: &str,
        headers: &[(&str, &str)],
        payload: &[u8],
        credentials: &Credentials,
    ) -> Result<(u16, Vec<u8>)> {
        let url = format!("{}/", self.endpoint(service));
        // IAM is global: signed for us-east-1 whatever the configured region.
        let region = if service == Service::Iam {
            "us-east-1"
        } else {
            self.region.as_str()
        };
        // The signer signs the URL's host; the HTTP client sends the same one.
        let request = SignableRequest {
            method: "POST",
            url: &url,
            headers,
            body: payload,
        };
        let signature = transport::sign(
            &request,
            credentials,
            region,
            service.signing_name(),
            SystemTime::now(),
        );
        let headers = headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .chain(signature)
            .collect();
        transport::send("POST", &url, headers, payload.to_vec())
            .await
            .map_err(|e| anyhow!("{call}: {e:#}"))
    }
}

/// Throttling or a failure on AWS's side: worth another attempt. The codes
/// are the SDKs' standard list of throttling errors.
fn transient(status: u16, body: &[u8]) -> bool {
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
    if status >= 500 || status == 429 {
        return true;
    }
    let text = String::from_utf8_lossy(body);
    // JSON names the code in `__type` (`"Code"` or `"prefix#Code"`), XML in `<Code>`.
    status == 400
        && THROTTLING.iter().any(|code| {
            text.contains(&format!("\"{code}\""))
                || text.contains(&format!("#{code}\""))
                || text.contains(&format!("<Code>{code}</Code>"))
        })
}

/// The wait before attempt `attempt + 1`: random up to 2^attempt seconds
/// (the clock's nanoseconds are random enough to spread out many clients).
fn backoff(attempt: u32) -> std::time::Duration {
    let jitter = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos()) as f64
        / 1e9;
    std::time::Duration::from_secs_f64(jitter * f64::from(1u32 << attempt))
}

/// Query-protocol list parameters: `Name.member.1=a&Name.member.2=b`.
pub fn members(name: &str, values: &[String]) -> Vec<(String, String)> {
    values
        .iter()
        .enumerate()
        .map(|(i, v)| (format!("{name}.member.{}", i + 1), v.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttling_and_server_errors_are_transient_and_other_errors_are_not() {
        let json =
            br#"{"__type":"com.amazonaws.ecs#ThrottlingException","message":"Rate exceeded"}"#;
        assert!(transient(400, json));
        assert!(transient(400, b"<Error><Code>Throttling</Code></Error>"));
        assert!(transient(503, b""));
        assert!(transient(429, b""));
        let json = br#"{"__type":"ClusterNotFoundException","message":"Throttling is not it"}"#;
        assert!(!transient(400, json));
        assert!(!transient(200, b"{}"));
    }

    #[tokio::test]
    async fn a_throttled_call_is_sent_again_and_succeeds() {
        let (url, server) = crate::transport::testing::serve(vec![
            (500, String::new()),
            (
                400,
                r#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#.into(),
            ),
            (200, r#"{"clusters":[]}"#.into()),
        ]);
        let aws = Aws::at_endpoint(&url);
        let answer = aws
            .json(Service::Ecs, "DescribeClusters", &serde_json::json!({}))
            .await
            .unwrap();
        assert_eq!(answer["clusters"], serde_json::json!([]));
        let seen = server.join().unwrap();
        assert_eq!(seen.len(), 3);
        assert!(seen.iter().all(|r| r.contains("DescribeClusters")));
    }

    #[tokio::test]
    async fn other_errors_are_not_sent_again() {
        let (url, server) = crate::transport::testing::serve(vec![(
            400,
            r#"{"__type":"ClusterNotFoundException","message":"Cluster not found."}"#.into(),
        )]);
        let aws = Aws::at_endpoint(&url);
        let err = aws
            .json(Service::Ecs, "DescribeServices", &serde_json::json!({}))
            .await
            .unwrap_err();
        assert_eq!(code(&err), Some("ClusterNotFoundException"));
        assert_eq!(server.join().unwrap().len(), 1);
    }

    #[test]
    fn form_values_are_percent_encoded() {
        assert_eq!(transport::encode("a b/c=d&e"), "a%20b%2Fc%3Dd%26e");
        assert_eq!(transport::encode("/api/*"), "%2Fapi%2F%2A");
        assert_eq!(
            members("Subnets", &["s-1".into(), "s-2".into()]),
            [
                ("Subnets.member.1".to_string(), "s-1".to_string()),
                ("Subnets.member.2".to_string(), "s-2".to_string())
            ]
        );
    }
}
