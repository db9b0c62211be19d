//! AWS client set-up in one place: aws-config's default chain, a region that
//! must be there, the account (`AWS_ACCOUNT_ID` or STS, asked once), the
//! registry host, and errors turned into one line that says what to do.

use anyhow::{anyhow, bail, Result};
use aws_config::{BehaviorVersion, SdkConfig};
use aws_smithy_http_client::tls;
use tokio::sync::OnceCell;

use xtask::errors::BadInput;
use xtask::produced::Produced;
use xtask::Ctx;

use crate::api;

#[derive(Clone)]
pub struct Aws {
    pub config: SdkConfig,
    pub region: String,
    account: OnceCell<Produced<String>>,
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
        // One HTTP/TLS stack for every client and credentials provider (see Cargo.toml).
        let http = aws_smithy_http_client::Builder::new()
            .tls_provider(tls::Provider::Rustls(
                tls::rustls_provider::CryptoMode::Ring,
            ))
            .build_https();
        let config = aws_config::defaults(BehaviorVersion::latest())
            .http_client(http)
            .load()
            .await;
        let region = match config.region() {
            Some(r) => r.to_string(),
            None if ctx.dry_run => "<region>".to_string(),
            None => bail!(BadInput(format!("no AWS region configured: {REGION_HINT}"))),
        };
        if !ctx.dry_run {
            use aws_credential_types::provider::ProvideCredentials as _;
            // Missing configuration is bad input (exit 2), like a missing variable.
            let provider = config
                .credentials_provider()
                .ok_or_else(|| BadInput(format!("no AWS credentials: {CREDENTIALS_HINT}")))?;
            if let Err(e) = provider.provide_credentials().await {
                bail!(BadInput(format!(
                    "no usable AWS credentials ({e}): {CREDENTIALS_HINT}"
                )));
            }
        }
        Ok(Aws {
            config,
            region,
            account: OnceCell::new(),
        })
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
