//! An environment file as written: `infra/environments/<name>.toml`, parsed
//! strictly (an unknown or misspelt key is an error naming the file and the
//! key). Secret-free: ids, names, addresses and counts only.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnvironmentFile {
    /// The AWS account the environment lives in; the credentials' account must be this one.
    pub account_id: String,
    pub region: String,
    /// The environment has its account (and region) to itself: the names of
    /// `infra/` carry no suffix. Otherwise they end in `-<name>`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub dedicated_account: bool,
    /// What the names of `infra/` end in when the account is shared (default `-<name>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name_suffix: Option<String>,
    /// Default: `cruddur`, with the suffix when the account is shared.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registry: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subnets: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub security_groups: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vpc_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frontend_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backend_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forwarded_allow_ips: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub otlp_endpoint: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_aws_endpoint: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_images: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build_network: Option<String>,
    /// Every service's desired count (a service's own entry wins).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub desired_count: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cognito: Option<Cognito>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load_balancer: Option<LoadBalancer>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aws: Option<AwsAccess>,
    /// Per service (`backend`, `frontend` or their long names): values merged
    /// onto its task and service definitions.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub services: BTreeMap<String, ServiceOverrides>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cognito {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_pool_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// Where the browser reaches Cognito (an emulator's address; default AWS's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// The key set as tasks reach it (default: derived from the pool id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks_url: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoadBalancer {
    /// The HTTP listener's port (default 80; it redirects to HTTPS).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// The HTTPS listener's port (default 443).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub https_port: Option<u16>,
    /// The ACM certificate of the HTTPS listener (its ARN: no secret).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate_arn: Option<String>,
}

/// How the tool reaches the environment's AWS, when not as the process's
/// AWS settings say: a named profile, an emulator's endpoint.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AwsAccess {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint_url: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceOverrides {
    /// The task's CPU units (`256`, or `"1 vCPU"`).
    #[serde(
        default,
        deserialize_with = "text_or_number",
        skip_serializing_if = "Option::is_none"
    )]
    pub cpu: Option<String>,
    /// The task's memory in MiB (`512`, or `"1 GB"`).
    #[serde(
        default,
        deserialize_with = "text_or_number",
        skip_serializing_if = "Option::is_none"
    )]
    pub memory: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub desired_count: Option<u32>,
}

/// `cpu = 256` and `cpu = "256"` both mean what ECS takes as text.
fn text_or_number<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Either {
        Text(String),
        Number(u64),
    }
    Ok(Option::<Either>::deserialize(d)?.map(|e| match e {
        Either::Text(t) => t,
        Either::Number(n) => n.to_string(),
    }))
}

/// Parses an environment file's text strictly; the error names `file` and the key.
pub fn parse(text: &str, file: &str) -> Result<EnvironmentFile, String> {
    // First the TOML itself (syntax errors with their line), then the shape,
    // through serde_path_to_error so a misspelt key comes with where it is.
    let value: serde_json::Value =
        basic_toml::from_str(text).map_err(|e| format!("{file}: not valid TOML: {e}"))?;
    serde_path_to_error::deserialize(value).map_err(|e| {
        let at = e.path().to_string();
        let inner = e.inner().to_string();
        // The path ends in the unknown key itself.
        match (at.as_str(), inner.starts_with("unknown field")) {
            (".", _) => format!("{file}: {inner}"),
            (_, true) => format!("{file}: unknown key `{at}` ({inner})"),
            (_, false) => format!("{file}: key `{at}`: {inner}"),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_misspelt_key_names_the_file_and_the_key() {
        let text = "account_id = \"111111111111\"\nregion = \"us-east-1\"\nclustr = \"x\"\n";
        let err = parse(text, "infra/environments/staging.toml").unwrap_err();
        assert!(
            err.starts_with("infra/environments/staging.toml: unknown key `clustr`"),
            "{err}"
        );
        assert!(err.contains("expected one of"), "{err}");
        let nested = "account_id = \"1\"\nregion = \"r\"\n[services.backend]\nmemroy = 1024\n";
        let err = parse(nested, "f.toml").unwrap_err();
        assert!(
            err.contains("unknown key `services.backend.memroy`"),
            "{err}"
        );
        let wrong_type = "account_id = \"1\"\nregion = \"r\"\ndesired_count = \"two\"\n";
        let err = parse(wrong_type, "f.toml").unwrap_err();
        assert!(err.contains("key `desired_count`"), "{err}");
    }

    #[test]
    fn syntax_errors_name_the_file() {
        let err = parse("account_id = \n", "f.toml").unwrap_err();
        assert!(err.starts_with("f.toml: not valid TOML"), "{err}");
    }

    #[test]
    fn cpu_and_memory_take_numbers_or_text_and_round_trip() {
        let text = "account_id = \"1\"\nregion = \"r\"\n[services.backend]\ncpu = 512\nmemory = \"1 GB\"\n";
        let file = parse(text, "f").unwrap();
        let backend = &file.services["backend"];
        assert_eq!(backend.cpu.as_deref(), Some("512"));
        assert_eq!(backend.memory.as_deref(), Some("1 GB"));
        let again = parse(&basic_toml::to_string(&file).unwrap(), "again").unwrap();
        assert_eq!(again, file);
    }
}
