//! AWS errors as one line: the call, AWS's error code and message, the
//! request id, and what to do for the errors users can fix themselves.

use std::fmt;

use aws_sdk_ecs::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_ecs::operation::RequestId;
use aws_smithy_runtime_api::http::Response as HttpResponse;

pub const CREDENTIALS_HINT: &str =
    "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE \
     (for an SSO profile run `aws sso login --profile NAME` first); \
     for the local sandbox: `source target/sandbox/env.sh`";

/// An error AWS answered with, or no answer at all (`code` None).
#[derive(Debug)]
pub struct AwsError {
    pub call: String,
    pub code: Option<String>,
    pub message: String,
    pub request_id: Option<String>,
    /// The HTTP status, when there was an answer.
    pub status: Option<u16>,
}

impl fmt::Display for AwsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Some(code) = &self.code else {
            return write!(
                f,
                "{} failed: could not get an answer from AWS: {}",
                self.call, self.message
            );
        };
        write!(f, "{} failed: {code}: {}", self.call, self.message)?;
        if let Some(id) = &self.request_id {
            write!(f, " (request id {id})")?;
        }
        match code.as_str() {
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

impl std::error::Error for AwsError {}

/// One line for an SDK error. Callers that branch on a service error do so
/// with the SDK's typed error (`as_service_error()`) before this.
pub fn explain<E>(call: &str, err: &SdkError<E, HttpResponse>) -> anyhow::Error
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let http_status = err.raw_response().map(|r| r.status().as_u16());
    let (code, message) = (err.code().map(str::to_string), err.message());
    // A status matters only when the answer was not AWS's (a proxy's HTML 502).
    let status = http_status.filter(|_| code.is_none());
    let message = match (&code, message) {
        (Some(_), Some(m)) => m.to_string(),
        // Not an AWS answer: no connection, a timeout, a credentials failure,
        // or an answer that is not AWS's (an HTML error page of a proxy).
        _ => DisplayErrorContext(err).to_string(),
    };
    AwsError {
        call: call.to_string(),
        code: code.or_else(|| status.map(|s| format!("HTTP {s}"))),
        message,
        request_id: err.request_id().map(str::to_string),
        status: http_status,
    }
    .into()
}

/// The AWS error code of `err`, for the calls signed without an SDK client.
pub fn code(err: &anyhow::Error) -> Option<&str> {
    err.downcast_ref::<AwsError>()?.code.as_deref()
}
