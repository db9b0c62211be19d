//! Our own AWS transport: SigV4, the credentials chain and one HTTP client,
//! in place of the AWS SDK for Rust (aws-config, aws-sigv4, aws-smithy-*),
//! whose graph made a cold build of this crate take over 150 s.
//! Measured cold (dev profile, 2 cores, fresh target dir, tokio included):
//! tokio alone 11 s; ureq 3 with rustls on ring and the system's roots 21 s;
//! aws-smithy-http-client (hyper, h2, rustls on ring) 48 s; this module
//! with all its dependencies 28 s.

mod credentials;
mod http;
mod profile;
mod sigv4;
mod sources;
#[cfg(test)]
pub(crate) mod testing;

pub use credentials::{Credentials, CredentialsCache};
pub use http::{get_following_redirects, send};
pub use profile::{AwsConfig, AwsEnv};
pub use sigv4::{encode, sign, SignableRequest};
