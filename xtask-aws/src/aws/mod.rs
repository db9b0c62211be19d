//! AWS set-up in one place: aws-config's configuration (credentials, region,
//! endpoints, retries) over the one HTTP stack, the SDK clients built from
//! it, the account (`AWS_ACCOUNT_ID` or STS, asked once), the registry host,
//! and errors as one line that says what to do.

mod endpoints;
mod error;
pub mod http;
pub mod signed;

use std::sync::Arc;

use anyhow::{anyhow, bail, Result};
use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, SdkConfig};
use aws_credential_types::provider::SharedCredentialsProvider;
use tokio::sync::OnceCell;

use xtask::errors::BadInput;
use xtask::produced::Produced;
use xtask::Ctx;

pub use error::{code, explain, CREDENTIALS_HINT};
pub use signed::Api;

/// The configuration and clients of one run; cheap to clone.
#[derive(Clone)]
pub struct Aws {
    pub config: SdkConfig,
    pub region: String,
    pub ecs: aws_sdk_ecs::Client,
    pub ecr: aws_sdk_ecr::Client,
    pub elb: aws_sdk_elasticloadbalancingv2::Client,
    credentials: Option<signed::Cached>,
    /// The environment's `[aws] endpoint_url`, which wins everywhere.
    endpoint_override: Option<String>,
    signed: Arc<Signer>,
    caller: Arc<OnceCell<Produced<Caller>>>,
}

/// Who the credentials are (STS GetCallerIdentity).
#[derive(Debug, Clone)]
pub struct Caller {
    pub account: String,
    pub arn: String,
}

/// What the calls signed without an SDK client send with.
struct Signer {
    connector: aws_smithy_http_client::Connector,
}

const REGION_HINT: &str = "set AWS_REGION (or AWS_DEFAULT_REGION, or `region` in your AWS profile)";

impl Aws {
    /// Loads aws-config's configuration; outside a dry run also checks that
    /// credentials can be had, so a missing key fails here in one line (with
    /// what aws-config tried) instead of deep in a call.
    pub async fn load(ctx: &Ctx) -> Result<Aws> {
        let endpoint_override = ctx.environment().and_then(|e| e.aws().endpoint_url);
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .http_client(http::client())
            // The SDK's standard mode, said once here: three attempts with
            // jittered backoff, a retry quota, clock-skew correction.
            .retry_config(RetryConfig::standard().with_max_attempts(3));
        // An environment names its region, and how to reach its account when
        // not as the process's AWS settings say (a profile, an emulator).
        if let Some(env) = ctx.environment() {
            loader = loader.region(aws_config::Region::new(env.region().to_string()));
            let access = env.aws();
            if let Some(profile) = access.profile {
                loader = loader.profile_name(profile);
            }
            if let Some(url) = access.endpoint_url {
                loader = loader.endpoint_url(url);
            }
        }
        let loaded = loader.load().await;
        let region = match loaded.region() {
            Some(r) => r.to_string(),
            None if ctx.dry_run => "<region>".to_string(),
            None => bail!(BadInput(format!("no AWS region configured: {REGION_HINT}"))),
        };
        // One cache shared by the SDK's clients and the signed calls.
        let credentials = loaded.credentials_provider().map(signed::Cached::new);
        let config = match &credentials {
            Some(c) => loaded
                .to_builder()
                .credentials_provider(SharedCredentialsProvider::new(c.clone()))
                .build(),
            None => loaded,
        };
        crate::report::aws(&region);
        let aws = Aws {
            ecs: aws_sdk_ecs::Client::new(&config),
            ecr: aws_sdk_ecr::Client::new(&config),
            elb: aws_sdk_elasticloadbalancingv2::Client::new(&config),
            config,
            region,
            credentials,
            endpoint_override,
            signed: Arc::new(Signer {
                connector: http::connector(),
            }),
            caller: Arc::new(OnceCell::new()),
        };
        if !ctx.dry_run {
            if let Some(cache) = &aws.credentials {
                if let Err(e) = cache.get().await {
                    if let Some(refusal) = sts_refusal(&e) {
                        bail!(BadInput(refusal));
                    }
                }
            }
            if let Err(e) = aws.credentials().await {
                bail!(BadInput(format!(
                    "no usable AWS credentials ({e:#}): {CREDENTIALS_HINT}"
                )));
            }
        }
        aws.check_account(ctx).await?;
        Ok(aws)
    }

    /// An environment's account is checked (STS GetCallerIdentity, a read)
    /// before anything else is asked or sent: other credentials stop the
    /// command with exit 2 and nothing changed. A dry run lists the call.
    async fn check_account(&self, ctx: &Ctx) -> Result<()> {
        let Some(env) = ctx.environment() else {
            return Ok(());
        };
        let Produced::Value(caller) = self.caller(ctx).await? else {
            ctx.announce(&format!(
                "(the credentials must be account {} of environment {}, else nothing is sent)",
                env.account_id(),
                env.name
            ));
            return Ok(());
        };
        if caller.account != env.account_id() {
            bail!(BadInput(format!(
                "environment {} ({}) is account {}, but the credentials are account {} ({}): nothing was sent; \
                 use credentials of account {} (AWS_PROFILE, or the environment's [aws] profile)",
                env.name,
                env.file,
                env.account_id(),
                caller.account,
                caller.arn,
                env.account_id()
            )));
        }
        Ok(())
    }

    /// The credentials to sign with (looked up once, renewed before they expire).
    pub async fn credentials(&self) -> Result<aws_credential_types::Credentials> {
        let cache = self
            .credentials
            .as_ref()
            .ok_or_else(|| anyhow!("aws-config found no credentials provider"))?;
        cache.get().await.map_err(|e| anyhow!("{}", one_line(&e)))
    }

    /// `AWS_ACCOUNT_ID`, else STS GetCallerIdentity (asked once per run).
    pub async fn account(&self, ctx: &Ctx) -> Result<Produced<String>> {
        if let Some(id) = &ctx.settings.account {
            return Ok(Produced::Value(id.clone()));
        }
        Ok(self.caller(ctx).await?.map(|c| c.account))
    }

    /// Who the credentials are: STS GetCallerIdentity, asked once per run.
    pub async fn caller(&self, ctx: &Ctx) -> Result<Produced<Caller>> {
        let caller = self
            .caller
            .get_or_try_init(|| async {
                ctx.announce("sts GetCallerIdentity");
                if ctx.dry_run {
                    return Ok(Produced::planned("account STS reports"));
                }
                let out = aws_sdk_sts::Client::new(&self.config)
                    .get_caller_identity()
                    .send()
                    .await
                    .map_err(|e| explain("sts GetCallerIdentity", &e))?;
                match (out.account, out.arn) {
                    (Some(account), Some(arn)) => {
                        crate::report::caller(&account, &arn);
                        Ok(Produced::Value(Caller { account, arn }))
                    }
                    _ => Err(anyhow!("STS returned no account id")),
                }
            })
            .await?;
        Ok(caller.clone())
    }

    /// The registry images are pushed to and task definitions pull from
    /// (written out for docker's command lines, planned or not).
    pub async fn registry(&self, ctx: &Ctx) -> Result<String> {
        if let Some(registry) = &ctx.settings.registry {
            return Ok(registry.clone());
        }
        Ok(format!(
            "{}.dkr.ecr.{}.{}",
            self.account(ctx).await?,
            self.region,
            endpoints::dns_suffix(&self.region)
        ))
    }

    /// The connector for requests the tool sends itself (registry reads).
    pub fn connector(&self) -> &aws_smithy_http_client::Connector {
        &self.signed.connector
    }
}

/// An error and its causes on one line: aws-config lists each provider of
/// its chain it tried on a line of its own.
fn one_line(e: &dyn std::error::Error) -> String {
    let mut parts = vec![e.to_string()];
    let mut source = e.source();
    while let Some(cause) = source {
        parts.push(cause.to_string());
        source = cause.source();
    }
    parts.dedup();
    parts
        .join(": ")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ")
}

/// What STS said when aws-config asked it for the credentials (a web
/// identity, a profile's role), when that is why there are none: the
/// generic hint ("set AWS_ACCESS_KEY_ID") would send the user the wrong way.
fn sts_refusal(e: &(dyn std::error::Error + 'static)) -> Option<String> {
    use aws_sdk_sts::error::{ProvideErrorMetadata as _, SdkError};
    use aws_sdk_sts::operation::assume_role::AssumeRoleError;
    use aws_sdk_sts::operation::assume_role_with_web_identity::AssumeRoleWithWebIdentityError;
    use aws_smithy_runtime_api::http::Response;
    let mut source = Some(e);
    while let Some(err) = source {
        if let Some(s) = err.downcast_ref::<SdkError<AssumeRoleWithWebIdentityError, Response>>() {
            return Some(format!(
                "STS refused the web identity token for AWS_ROLE_ARN (AssumeRoleWithWebIdentity): {}: {}; \
                 check the role's trust policy (the token's issuer, audience and subject) and the account's OIDC provider",
                s.code().unwrap_or("no code"),
                s.message().unwrap_or("no message")
            ));
        }
        if let Some(s) = err.downcast_ref::<SdkError<AssumeRoleError, Response>>() {
            return Some(format!(
                "STS refused to assume the profile's role_arn (AssumeRole): {}: {}; \
                 check the role's trust policy and the source profile's permissions",
                s.code().unwrap_or("no code"),
                s.message().unwrap_or("no message")
            ));
        }
        source = err.source();
    }
    None
}
