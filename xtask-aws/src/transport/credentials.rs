//! AWS credentials, found in aws-config's default chain order: environment
//! keys, the profile, web identity from the environment, the ECS container
//! endpoint. EC2 instance metadata (IMDS) is left out: the tool runs on
//! developers' machines and CI, not on EC2.

use std::fmt;
use std::time::{Duration, SystemTime};

use anyhow::{bail, Context as _, Result};
use tokio::sync::Mutex;

use super::profile::{AwsConfig, Section};
use super::sources;

/// Reused until this long before they expire.
const REFRESH_BEFORE: Duration = Duration::from_secs(5 * 60);

#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: Option<String>,
    pub expiry: Option<SystemTime>,
}

/// The key id only: the secret and the token stay out of logs and errors.
impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"** redacted **")
            .field(
                "session_token",
                &self.session_token.as_ref().map(|_| "** redacted **"),
            )
            .field("expiry", &self.expiry)
            .finish()
    }
}

/// The chain, run once and then reused while the credentials last.
pub struct CredentialsCache {
    config: AwsConfig,
    cached: Mutex<Option<Credentials>>,
}

impl CredentialsCache {
    pub fn new(config: AwsConfig) -> CredentialsCache {
        CredentialsCache {
            config,
            cached: Mutex::new(None),
        }
    }

    /// Held across the lookup, so concurrent callers wait for one lookup
    /// instead of each running a credential_process or an STS call.
    pub async fn get(&self) -> Result<Credentials> {
        let mut cached = self.cached.lock().await;
        let now = SystemTime::now();
        if let Some(c) = cached.as_ref() {
            if c.expiry.is_none_or(|e| e > now + REFRESH_BEFORE) {
                return Ok(c.clone());
            }
        }
        let fresh = resolve(&self.config).await?;
        *cached = Some(fresh.clone());
        Ok(fresh)
    }
}

/// The first source that has credentials; a source that is configured but
/// fails stops the search (as in aws-config) rather than falling through.
pub async fn resolve(config: &AwsConfig) -> Result<Credentials> {
    let env = config.env();
    let mut tried = Vec::new();
    match (&env.access_key_id, &env.secret_access_key) {
        (Some(id), Some(secret)) => {
            return Ok(Credentials {
                access_key_id: id.clone(),
                secret_access_key: secret.clone(),
                session_token: env.session_token.clone(),
                expiry: None,
            })
        }
        (Some(_), None) => tried.push("environment (AWS_SECRET_ACCESS_KEY not set)".to_string()),
        (None, Some(_)) => tried.push("environment (AWS_ACCESS_KEY_ID not set)".to_string()),
        (None, None) => tried
            .push("environment (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY not set)".to_string()),
    }
    let name = config.profile_name();
    if let Some(creds) = from_profile(config).await? {
        return Ok(creds);
    }
    tried.push(match config.profile(name) {
        Some(_) => format!("profile `{name}` (no credentials in it)"),
        None => format!("profile `{name}` (not in {})", config.files()),
    });
    match (&env.role_arn, &env.web_identity_token_file) {
        (Some(role_arn), Some(file)) => {
            let session = env.role_session_name.clone();
            return sources::web_identity(config, role_arn, file, session).await;
        }
        _ => tried.push(
            "web identity (AWS_ROLE_ARN and AWS_WEB_IDENTITY_TOKEN_FILE not both set)".into(),
        ),
    }
    if let Some(creds) = sources::container(env).await? {
        return Ok(creds);
    }
    tried.push(
        "ECS container (AWS_CONTAINER_CREDENTIALS_RELATIVE_URI/_FULL_URI not set)".to_string(),
    );
    bail!(
        "no AWS credentials found; tried {}; EC2 instance metadata (IMDS) is not supported",
        tried.join(", ")
    )
}

/// The selected profile's credentials, following `source_profile` links
/// and assuming each `role_arn` on the way back; `None` when the default
/// profile is absent or holds none, so the chain goes on.
async fn from_profile(config: &AwsConfig) -> Result<Option<Credentials>> {
    let selected = config.profile_name();
    if config.profile(selected).is_none() && selected != "default" {
        bail!("AWS profile `{selected}` is in neither {}", config.files());
    }
    let (mut name, mut visited, mut roles) = (selected, Vec::new(), Vec::new());
    let base = loop {
        let Some(profile) = config.profile(name) else {
            if visited.is_empty() {
                return Ok(None);
            }
            bail!(
                "profile `{name}` (source_profile of `{}`) is in neither {}",
                visited.join("` <- `"),
                config.files()
            );
        };
        if visited.contains(&name) {
            bail!("AWS profiles loop: {} -> {name}", visited.join(" -> "));
        }
        visited.push(name);
        // As aws-config: a source profile's own keys end the walk.
        if visited.len() > 1 {
            if let Some(creds) = static_keys(name, profile)? {
                break creds;
            }
        }
        if profile.contains_key("role_arn") && !profile.contains_key("web_identity_token_file") {
            roles.push((name, profile));
            match profile.get("source_profile") {
                Some(source) if source != name => {
                    name = source;
                    continue;
                }
                Some(_) => {}
                None if profile.contains_key("credential_source") => bail!(
                    "profile `{name}`: credential_source is not supported; use source_profile"
                ),
                None => bail!("profile `{name}` has role_arn but no source_profile"),
            }
        }
        match base_credentials(config, name, profile).await? {
            Some(creds) => break creds,
            None if roles.is_empty() && visited.len() == 1 => return Ok(None),
            None => bail!("profile `{name}` has no credentials to assume its role with"),
        }
    };
    let mut creds = base;
    for (name, profile) in roles.iter().rev() {
        creds = sources::assume_role(config, &creds, name, profile).await?;
    }
    Ok(Some(creds))
}

/// A profile's own credentials, in aws-config's order: web identity, SSO,
/// credential_process, static keys.
async fn base_credentials(
    config: &AwsConfig,
    name: &str,
    profile: &Section,
) -> Result<Option<Credentials>> {
    if let Some(file) = profile.get("web_identity_token_file") {
        let role_arn = profile.get("role_arn").with_context(|| {
            format!("profile `{name}` has web_identity_token_file but no role_arn")
        })?;
        let session = profile.get("role_session_name").cloned();
        return sources::web_identity(config, role_arn, file.as_ref(), session)
            .await
            .map(Some);
    }
    if [
        "sso_session",
        "sso_start_url",
        "sso_account_id",
        "sso_role_name",
    ]
    .iter()
    .any(|k| profile.contains_key(*k))
    {
        return sources::sso(config, name, profile).await.map(Some);
    }
    if let Some(command) = profile.get("credential_process") {
        return sources::process(name, command).await.map(Some);
    }
    static_keys(name, profile)
}

fn static_keys(name: &str, profile: &Section) -> Result<Option<Credentials>> {
    let Some(id) = profile.get("aws_access_key_id") else {
        return Ok(None);
    };
    let secret = profile.get("aws_secret_access_key").with_context(|| {
        format!("profile `{name}` has aws_access_key_id but no aws_secret_access_key")
    })?;
    Ok(Some(Credentials {
        access_key_id: id.clone(),
        secret_access_key: secret.clone(),
        session_token: profile.get("aws_session_token").cloned(),
        expiry: None,
    }))
}

#[cfg(test)]
#[path = "credentials_tests.rs"]
mod tests;
