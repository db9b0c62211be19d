//! The credential sources that ask something else: STS (AssumeRole,
//! AssumeRoleWithWebIdentity), IAM Identity Center (SSO), a
//! `credential_process`, the ECS container endpoint.

use std::net::Ipv4Addr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context as _, Result};
use serde_json::Value;
use sha1::{Digest as _, Sha1};

use super::credentials::Credentials;
use super::http;
use super::profile::{AwsConfig, AwsEnv, Section};
use super::sigv4::{self, SignableRequest};
use crate::xml;

const FORM: &str = "application/x-www-form-urlencoded; charset=utf-8";

pub(super) async fn web_identity(
    config: &AwsConfig,
    role_arn: &str,
    token_file: &Path,
    session: Option<String>,
) -> Result<Credentials> {
    let token = std::fs::read_to_string(token_file)
        .with_context(|| format!("reading the web identity token {}", token_file.display()))?;
    let session = session.unwrap_or_else(session_name);
    let params = [
        ("RoleArn", role_arn),
        ("RoleSessionName", &session),
        ("WebIdentityToken", token.trim()),
    ];
    sts(config, None, "AssumeRoleWithWebIdentity", &params).await
}

/// The `role_arn` of profile `name`, assumed with `source`'s credentials.
pub(super) async fn assume_role(
    config: &AwsConfig,
    source: &Credentials,
    name: &str,
    profile: &Section,
) -> Result<Credentials> {
    let role_arn = profile.get("role_arn").map_or("", String::as_str);
    let session = profile.get("role_session_name").cloned();
    let session = session.unwrap_or_else(session_name);
    let mut params = vec![("RoleArn", role_arn), ("RoleSessionName", &session)];
    for (key, param) in [
        ("external_id", "ExternalId"),
        ("duration_seconds", "DurationSeconds"),
    ] {
        if let Some(value) = profile.get(key) {
            params.push((param, value));
        }
    }
    sts(config, Some(source), "AssumeRole", &params)
        .await
        .with_context(|| format!("assuming the role of profile `{name}`"))
}

fn session_name() -> String {
    let now = SystemTime::now().duration_since(UNIX_EPOCH);
    format!("cruddur-xtask-{}", now.unwrap_or_default().as_secs())
}

/// A query-protocol STS call, form-encoded in a POST so the web identity
/// token never lands in a URL (which errors name).
async fn sts(
    config: &AwsConfig,
    signer: Option<&Credentials>,
    action: &str,
    params: &[(&str, &str)],
) -> Result<Credentials> {
    let region = config.region().unwrap_or_else(|| "us-east-1".into());
    let url = match config.endpoint_url() {
        Some(endpoint) => format!("{}/", endpoint.trim_end_matches('/')),
        None => format!("https://sts.{region}.amazonaws.com/"),
    };
    let mut all = vec![("Action", action), ("Version", "2011-06-15")];
    all.extend_from_slice(params);
    let body = sigv4::form(&all);
    let mut headers = vec![("content-type".to_string(), FORM.to_string())];
    if let Some(creds) = signer {
        let req = SignableRequest {
            method: "POST",
            url: &url,
            headers: &[("content-type", FORM)],
            body: body.as_bytes(),
        };
        headers.extend(sigv4::sign(&req, creds, &region, "sts", SystemTime::now()));
    }
    let call = format!("sts {action}");
    let (status, answer) = http::send("POST", &url, headers, body.into_bytes())
        .await
        .with_context(|| call.clone())?;
    let text = String::from_utf8_lossy(&answer);
    let doc = xml::parse(&text)
        .with_context(|| format!("{call}: HTTP {status} and an answer that is not XML"))?;
    if status >= 300 {
        let error = doc.descendants("Error");
        let error = error.first();
        let code = error.map_or(format!("HTTP {status}"), |e| e.text_at(&["Code"]));
        let message = error.map(|e| e.text_at(&["Message"])).unwrap_or_default();
        bail!("{call} failed: {code}: {message}");
    }
    let found = doc.descendants("Credentials");
    let creds = found
        .first()
        .with_context(|| format!("{call}: no Credentials in the answer"))?;
    let expiration = creds.text_at(&["Expiration"]);
    Ok(Credentials {
        access_key_id: creds.text_at(&["AccessKeyId"]),
        secret_access_key: creds.text_at(&["SecretAccessKey"]),
        session_token: Some(creds.text_at(&["SessionToken"])),
        expiry: Some(sigv4::parse_time(&expiration).with_context(|| call.clone())?),
    })
}

/// What an SSO profile needs for the portal call.
pub(super) struct SsoLogin {
    pub token: String,
    pub region: String,
    pub account: String,
    pub role: String,
}

pub(super) async fn sso(config: &AwsConfig, name: &str, profile: &Section) -> Result<Credentials> {
    let login = sso_login(config, name, profile)?;
    let portal = format!("https://portal.sso.{}.amazonaws.com", login.region);
    role_credentials(&portal, &login, name).await
}

/// The cached token `aws sso login` left, and the account and role to ask for.
pub(super) fn sso_login(config: &AwsConfig, name: &str, profile: &Section) -> Result<SsoLogin> {
    let (settings, cache_key) = match profile.get("sso_session") {
        Some(session) => {
            let settings = config.sso_session(session).with_context(|| {
                format!(
                    "profile `{name}` names sso_session `{session}`, but no [sso-session {session}] is in {}",
                    config.files()
                )
            })?;
            (settings, session.as_str())
        }
        // Before sso-session sections, the CLI keyed its cache by the start URL.
        None => (
            profile,
            profile.get("sso_start_url").map_or("", String::as_str),
        ),
    };
    let get = |from: &Section, key: &str| {
        let value = from.get(key).filter(|v| !v.is_empty()).cloned();
        value.with_context(|| format!("SSO profile `{name}` has no {key}"))
    };
    let (region, start_url) = (
        get(settings, "sso_region")?,
        get(settings, "sso_start_url")?,
    );
    let (account, role) = (
        get(profile, "sso_account_id")?,
        get(profile, "sso_role_name")?,
    );
    let home = config
        .env()
        .home
        .as_ref()
        .context("HOME is not set: no SSO token cache")?;
    let file = home.join(".aws/sso/cache").join(format!(
        "{}.json",
        sigv4::hex(&Sha1::digest(cache_key.as_bytes()))
    ));
    let cached = std::fs::read(&file).ok();
    let cached: Option<Value> = cached.and_then(|bytes| serde_json::from_slice(&bytes).ok());
    let token = cached.and_then(|v| {
        let expires = sigv4::parse_time(v["expiresAt"].as_str()?).ok()?;
        let token = v["accessToken"].as_str()?.to_string();
        (expires > SystemTime::now()).then_some(token)
    });
    let token = token.with_context(|| {
        format!(
            "the SSO login for profile `{name}` ({start_url}) is missing or expired: \
             run `aws sso login --profile {name}`"
        )
    })?;
    Ok(SsoLogin {
        token,
        region,
        account,
        role,
    })
}

/// GetRoleCredentials on the SSO portal at `portal` (a parameter for tests).
pub(super) async fn role_credentials(
    portal: &str,
    login: &SsoLogin,
    name: &str,
) -> Result<Credentials> {
    let url = format!(
        "{portal}/federation/credentials?account_id={}&role_name={}",
        sigv4::encode(&login.account),
        sigv4::encode(&login.role)
    );
    let headers = vec![("x-amz-sso_bearer_token".to_string(), login.token.clone())];
    let (status, answer) = http::send("GET", &url, headers, Vec::new())
        .await
        .context("sso GetRoleCredentials")?;
    let value: Value = serde_json::from_slice(&answer).unwrap_or_default();
    if status == 401 {
        bail!("SSO refused the login of profile `{name}`: run `aws sso login --profile {name}`");
    }
    if status >= 300 {
        let message = value["message"].as_str().unwrap_or_default();
        bail!("sso GetRoleCredentials for profile `{name}` failed: HTTP {status}: {message}");
    }
    let creds = &value["roleCredentials"];
    let what = "sso GetRoleCredentials";
    Ok(Credentials {
        access_key_id: text(creds, "accessKeyId", what)?,
        secret_access_key: text(creds, "secretAccessKey", what)?,
        session_token: Some(text(creds, "sessionToken", what)?),
        expiry: (creds["expiration"].as_u64()).map(|ms| UNIX_EPOCH + Duration::from_millis(ms)),
    })
}

/// Runs `command` through `sh -c`; its stderr (prompts, errors) goes to ours.
pub(super) async fn process(name: &str, command: &str) -> Result<Credentials> {
    let what = format!("credential_process of profile `{name}`");
    let command = command.to_string();
    let output = tokio::task::spawn_blocking(move || {
        Command::new("sh")
            .args(["-c", &command])
            .stdin(Stdio::inherit())
            .stderr(Stdio::inherit())
            .output()
    })
    .await
    .context("the credential_process thread panicked")?
    .with_context(|| format!("{what}: could not start sh"))?;
    if !output.status.success() {
        bail!("{what} failed ({})", output.status);
    }
    let value: Value = serde_json::from_slice(&output.stdout)
        .with_context(|| format!("{what} printed no JSON"))?;
    if value["Version"] != 1 {
        bail!("{what} printed Version {}, not 1", value["Version"]);
    }
    credentials_json(&value, "SessionToken", &what)
}

/// The ECS (or EKS pod identity) credentials endpoint, when one is set.
pub(super) async fn container(env: &AwsEnv) -> Result<Option<Credentials>> {
    let url = match (&env.container_relative_uri, &env.container_full_uri) {
        (Some(relative), _) => format!("http://169.254.170.2{relative}"),
        (None, Some(full)) if allowed_container_url(full) => full.clone(),
        (None, Some(full)) => bail!(
            "AWS_CONTAINER_CREDENTIALS_FULL_URI {full} is neither https nor a loopback or \
             ECS/EKS address: its authorization token is not sent there"
        ),
        (None, None) => return Ok(None),
    };
    let token = match &env.container_authorization_token_file {
        Some(file) => Some(
            std::fs::read_to_string(file)
                .with_context(|| format!("reading {}", file.display()))?
                .trim()
                .to_string(),
        ),
        None => env.container_authorization_token.clone(),
    };
    let headers = token.map(|t| vec![("authorization".to_string(), t)]);
    let what = "ECS container credentials";
    let (status, answer) = http::send("GET", &url, headers.unwrap_or_default(), Vec::new())
        .await
        .context(what)?;
    if status >= 300 {
        bail!("{what}: {url} answered HTTP {status}");
    }
    let value: Value =
        serde_json::from_slice(&answer).with_context(|| format!("{what}: {url}: not JSON"))?;
    credentials_json(&value, "Token", what).map(Some)
}

/// Plain http carries the token only to loopback or the addresses ECS and
/// EKS use for this endpoint (as aws-config allows).
fn allowed_container_url(url: &str) -> bool {
    if url.starts_with("https://") {
        return true;
    }
    let Some(rest) = url.strip_prefix("http://") else {
        return false;
    };
    let authority = rest.split(['/', '?']).next().unwrap_or_default();
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => authority.split(':').next().unwrap_or_default(),
    };
    matches!(
        host,
        "localhost" | "::1" | "169.254.170.2" | "169.254.170.23" | "fd00:ec2::23"
    ) || host.parse::<Ipv4Addr>().is_ok_and(|ip| ip.is_loopback())
}

/// `AccessKeyId`, `SecretAccessKey`, the token under `token_key`, `Expiration`.
fn credentials_json(value: &Value, token_key: &str, what: &str) -> Result<Credentials> {
    let expiry = value["Expiration"].as_str().map(sigv4::parse_time);
    Ok(Credentials {
        access_key_id: text(value, "AccessKeyId", what)?,
        secret_access_key: text(value, "SecretAccessKey", what)?,
        session_token: value[token_key].as_str().map(Into::into),
        expiry: expiry.transpose().with_context(|| what.to_string())?,
    })
}

fn text(value: &Value, key: &str, what: &str) -> Result<String> {
    let found = value[key].as_str().filter(|s| !s.is_empty());
    found
        .map(Into::into)
        .with_context(|| format!("{what}: no {key} in the answer"))
}

#[cfg(test)]
#[path = "sources_tests.rs"]
mod tests;
