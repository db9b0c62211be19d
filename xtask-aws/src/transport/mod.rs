//! Our own AWS transport: SigV4, the credentials chain and one HTTP client,
//! in place of the AWS SDK for Rust (aws-config, aws-sigv4, aws-smithy-*).
//! The SDK made a cold build of this crate take over 150 s; its HTTP stack
//! alone (aws-smithy-http-client with hyper, h2 and rustls) measured 56-69 s
//! cold with tokio on 2 cores, against 23-26 s for ureq with rustls (ring).

mod credentials;
mod http;
mod profile;
mod sigv4;
mod sources;
#[cfg(test)]
mod testing;

pub use credentials::{resolve, Credentials, CredentialsCache};
pub use http::send;
pub use profile::{AwsConfig, AwsEnv};
pub use sigv4::{amz_date, encode, form, parse_time, sign, SignableRequest};
