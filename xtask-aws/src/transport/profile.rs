//! The AWS settings of this run: the environment (read in one function) and
//! the profile files (`~/.aws/config`, `~/.aws/credentials`), read once.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};

/// The environment variables the AWS tools read, taken in one place so tests
/// build one by hand instead of changing the process's environment.
#[derive(Clone, Default)]
pub struct AwsEnv {
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
    pub session_token: Option<String>,
    pub profile: Option<String>,
    pub default_profile: Option<String>,
    pub region: Option<String>,
    pub default_region: Option<String>,
    pub endpoint_url: Option<String>,
    pub config_file: Option<PathBuf>,
    pub shared_credentials_file: Option<PathBuf>,
    pub home: Option<PathBuf>,
    pub role_arn: Option<String>,
    pub web_identity_token_file: Option<PathBuf>,
    pub role_session_name: Option<String>,
    pub container_relative_uri: Option<String>,
    pub container_full_uri: Option<String>,
    pub container_authorization_token: Option<String>,
    pub container_authorization_token_file: Option<PathBuf>,
}

impl AwsEnv {
    /// The process's values; empty ones count as unset, as the AWS CLI does.
    pub fn from_process() -> AwsEnv {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let path = |name: &str| var(name).map(PathBuf::from);
        AwsEnv {
            access_key_id: var("AWS_ACCESS_KEY_ID"),
            secret_access_key: var("AWS_SECRET_ACCESS_KEY"),
            session_token: var("AWS_SESSION_TOKEN"),
            profile: var("AWS_PROFILE"),
            default_profile: var("AWS_DEFAULT_PROFILE"),
            region: var("AWS_REGION"),
            default_region: var("AWS_DEFAULT_REGION"),
            endpoint_url: var("AWS_ENDPOINT_URL"),
            config_file: path("AWS_CONFIG_FILE"),
            shared_credentials_file: path("AWS_SHARED_CREDENTIALS_FILE"),
            home: path("HOME"),
            role_arn: var("AWS_ROLE_ARN"),
            web_identity_token_file: path("AWS_WEB_IDENTITY_TOKEN_FILE"),
            role_session_name: var("AWS_ROLE_SESSION_NAME"),
            container_relative_uri: var("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"),
            container_full_uri: var("AWS_CONTAINER_CREDENTIALS_FULL_URI"),
            container_authorization_token: var("AWS_CONTAINER_AUTHORIZATION_TOKEN"),
            container_authorization_token_file: path("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"),
        }
    }
}

/// One profile's settings, keys lower-cased.
pub(super) type Section = HashMap<String, String>;

/// The environment and the profile files, resolved once per run.
pub struct AwsConfig {
    env: AwsEnv,
    profile: String,
    profiles: HashMap<String, Section>,
    sso_sessions: HashMap<String, Section>,
    files: String,
}

impl AwsConfig {
    /// Reads the profile files; a missing file is an empty one.
    pub fn load(env: AwsEnv) -> Result<AwsConfig> {
        let in_home = |p: &str| env.home.as_ref().map(|h| h.join(p));
        let config = env.config_file.as_deref().map(|p| expand(p, &env));
        let config = config.or_else(|| in_home(".aws/config"));
        let credentials = env
            .shared_credentials_file
            .as_deref()
            .map(|p| expand(p, &env));
        let credentials = credentials.or_else(|| in_home(".aws/credentials"));
        let (mut profiles, mut sso_sessions) = (HashMap::new(), HashMap::new());
        for (section, properties) in parse(&read(config.as_deref())?) {
            let words: Vec<&str> = section.split_whitespace().collect();
            let target: &mut Section = match words[..] {
                ["default"] => profiles.entry("default".to_string()).or_default(),
                ["profile", name] => profiles.entry(name.to_string()).or_default(),
                ["sso-session", name] => sso_sessions.entry(name.to_string()).or_default(),
                // `[services x]` and the like: nothing this tool reads.
                _ => continue,
            };
            target.extend(properties);
        }
        // Second, so the credentials file wins where both set a key.
        for (section, properties) in parse(&read(credentials.as_deref())?) {
            profiles.entry(section).or_default().extend(properties);
        }
        let show = |p: Option<PathBuf>| p.map_or("(no HOME)".into(), |p| p.display().to_string());
        Ok(AwsConfig {
            profile: (env.profile.clone())
                .or_else(|| env.default_profile.clone())
                .unwrap_or_else(|| "default".into()),
            files: format!("{} or {}", show(config), show(credentials)),
            env,
            profiles,
            sso_sessions,
        })
    }

    pub fn env(&self) -> &AwsEnv {
        &self.env
    }

    /// `AWS_PROFILE`, else `AWS_DEFAULT_PROFILE`, else `default`.
    pub fn profile_name(&self) -> &str {
        &self.profile
    }

    /// `AWS_REGION`, else `AWS_DEFAULT_REGION`, else the profile's `region`.
    pub fn region(&self) -> Option<String> {
        (self.env.region.clone())
            .or_else(|| self.env.default_region.clone())
            .or_else(|| self.setting("region"))
    }

    /// `AWS_ENDPOINT_URL`, else the profile's `endpoint_url` (the sandbox's moto).
    pub fn endpoint_url(&self) -> Option<String> {
        (self.env.endpoint_url.clone()).or_else(|| self.setting("endpoint_url"))
    }

    fn setting(&self, key: &str) -> Option<String> {
        let value = self.profile(&self.profile)?.get(key)?;
        Some(value.clone()).filter(|v| !v.is_empty())
    }

    pub(super) fn profile(&self, name: &str) -> Option<&Section> {
        self.profiles.get(name)
    }

    pub(super) fn sso_session(&self, name: &str) -> Option<&Section> {
        self.sso_sessions.get(name)
    }

    /// The two files, for messages.
    pub(super) fn files(&self) -> &str {
        &self.files
    }
}

/// `~/` as the AWS CLI expands it in AWS_CONFIG_FILE and the like.
fn expand(path: &Path, env: &AwsEnv) -> PathBuf {
    match (path.strip_prefix("~"), &env.home) {
        (Ok(rest), Some(home)) => home.join(rest),
        _ => path.to_path_buf(),
    }
}

fn read(path: Option<&Path>) -> Result<String> {
    let Some(path) = path else {
        return Ok(String::new());
    };
    match std::fs::read_to_string(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(String::new()),
        other => other.with_context(|| format!("reading {}", path.display())),
    }
}

/// The INI dialect of the AWS files: `[section]`, `key = value`, `#` and
/// `;` comments (inline only after whitespace, as aws-config reads them);
/// indented lines are sub-properties (`s3 =` and its settings), skipped.
fn parse(text: &str) -> Vec<(String, Section)> {
    let mut sections: Vec<(String, Section)> = Vec::new();
    for raw in text.lines() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with(['#', ';']) {
            continue;
        }
        if let Some(rest) = line.strip_prefix('[') {
            let name = rest.split(']').next().unwrap_or_default().trim();
            sections.push((name.to_string(), Section::new()));
        } else if raw.starts_with(char::is_whitespace) {
            continue;
        } else if let (Some((key, value)), Some((_, section))) =
            (line.split_once('='), sections.last_mut())
        {
            let cut = value
                .char_indices()
                .find(|&(i, c)| matches!(c, '#' | ';') && value[..i].ends_with(char::is_whitespace))
                .map_or(value.len(), |(i, _)| i);
            section.insert(
                key.trim().to_ascii_lowercase(),
                value[..cut].trim().to_string(),
            );
        }
    }
    sections
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_ini_dialect() {
        let sections = parse(
            "# top\n[profile dev] ; note\nRegion = eu-west-1 # inline\nkey=a#b\n\
             s3 =\n  max_concurrent_requests = 20\n[default]\n;x\nregion=us-east-1\n",
        );
        assert_eq!(sections.len(), 2);
        assert_eq!(sections[0].0, "profile dev");
        assert_eq!(sections[0].1["region"], "eu-west-1");
        assert_eq!(sections[0].1["key"], "a#b");
        assert_eq!(sections[0].1["s3"], "");
        assert!(!sections[0].1.contains_key("max_concurrent_requests"));
        assert_eq!(sections[1].1["region"], "us-east-1");
    }
}
