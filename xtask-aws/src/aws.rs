//! AWS set-up in one place: the credentials chain (src/transport), a region
//! that must be there, the account (`AWS_ACCOUNT_ID` or STS, asked once), the
//! registry host, and errors turned into one line that says what to do.

use std::sync::Arc;

use anyhow::{anyhow, bail, Result};
use tokio::sync::OnceCell;

use xtask::errors::BadInput;
use xtask::produced::Produced;
use xtask::Ctx;

use crate::api;
use crate::transport::{AwsConfig, AwsEnv, Credentials, CredentialsCache};

#[derive(Clone)]
pub struct Aws {
    pub region: String,
    /// `AWS_ENDPOINT_URL` (or the profile's `endpoint_url`): an emulator such as the sandbox.
    pub endpoint: Option<String>,
    credentials: Arc<CredentialsCache>,
    account: Arc<OnceCell<Produced<String>>>,
}

const REGION_HINT: &str = "set AWS_REGION (or AWS_DEFAULT_REGION, or `region` in your AWS profile)";
pub const CREDENTIALS_HINT: &str =
    "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE \
     (for an SSO profile run `aws sso login --profile NAME` first); \
     for the local sandbox: `source target/sandbox/env.sh`";

impl Aws {
    /// Loads the configuration; outside a dry run also checks that credentials
    /// can be had, so a missing key fails here in one line instead of deep in a call.
    pub async fn load(ctx: &Ctx) -> Result<Aws> {
        // Missing or broken configuration is bad input (exit 2), like a missing variable.
        let config = AwsConfig::load(AwsEnv::from_process())
            .map_err(|e| BadInput(format!("{e:#}: {CREDENTIALS_HINT}")))?;
        let region = match config.region() {
            Some(r) => r,
            None if ctx.dry_run => "<region>".to_string(),
            None => bail!(BadInput(format!("no AWS region configured: {REGION_HINT}"))),
        };
        let endpoint = config.endpoint_url();
        let credentials = CredentialsCache::new(config);
        if !ctx.dry_run {
            if let Err(e) = credentials.get().await {
                bail!(BadInput(format!(
                    "no usable AWS credentials ({e:#}): {CREDENTIALS_HINT}"
                )));
            }
        }
        Ok(Aws {
            region,
            endpoint,
            credentials: Arc::new(credentials),
            account: Arc::new(OnceCell::new()),
        })
    }

    /// An `Aws` for tests: `endpoint` with fixed keys, in us-east-1.
    #[cfg(test)]
    pub fn at_endpoint(endpoint: &str) -> Aws {
        let env = AwsEnv {
            access_key_id: Some("AKIDEXAMPLE".into()),
            secret_access_key: Some("not-a-secret".into()),
            ..AwsEnv::default()
        };
        Aws {
            region: "us-east-1".into(),
            endpoint: Some(endpoint.to_string()),
            credentials: Arc::new(CredentialsCache::new(AwsConfig::load(env).unwrap())),
            account: Arc::new(OnceCell::new()),
        }
    }

    /// The credentials to sign with (looked up once, renewed before they expire).
    pub async fn credentials(&self) -> Result<Credentials> {
        self.credentials.get().await
    }

    /// `AWS_ACCOUNT_ID`, else STS GetCallerIdentity (asked once per run).
    pub async fn account(&self, ctx: &Ctx) -> Result<Produced<String>> {
        if let Some(id) = &ctx.settings.account {
            return Ok(Produced::Value(id.clone()));
        }
        let id = self
            .account
            .get_or_try_init(|| async {
                ctx.announce("sts GetCallerIdentity");
                if ctx.dry_run {
                    return Ok(Produced::planned("account STS reports"));
                }
                let answer = self
                    .query(api::Service::Sts, "GetCallerIdentity", &[])
                    .await?;
                match answer.descendants("Account").first() {
                    Some(account) => Ok(Produced::Value(account.text.clone())),
                    None => Err(anyhow!("STS returned no account id")),
                }
            })
            .await?;
        Ok(id.clone())
    }

    /// The registry images are pushed to and task definitions pull from
    /// (written out for docker's command lines, planned or not).
    pub async fn registry(&self, ctx: &Ctx) -> Result<String> {
        if let Some(registry) = &ctx.settings.registry {
            return Ok(registry.clone());
        }
        Ok(format!(
            "{}.dkr.ecr.{}.amazonaws.com",
            self.account(ctx).await?,
            self.region
        ))
    }
}
