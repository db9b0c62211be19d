//! Named environments: `--env NAME` (or `CRUDDUR_ENV`) selects the committed,
//! secret-free settings file `infra/environments/NAME.toml` (`sandbox`: the one
//! `sandbox up` writes under `target/`; a path to a `.toml` file works too).
//! It fills the same `Settings` the flags and `CRUDDUR_*` variables fill: a
//! flag on the command line wins over the file, and the file wins over the
//! process environment, whose variables for the target (cluster, registry,
//! network, addresses, Cognito) are then ignored, so a shell that sourced the
//! sandbox's `env.sh` cannot send a staging deploy anywhere else.

mod file;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Result;
use clap::ValueEnum as _;

use crate::errors::BadInput;
use crate::services::{self, Service};
use crate::settings::{BaseImages, Settings};
pub use file::{parse, AwsAccess, Cognito, EnvironmentFile, LoadBalancer, ServiceOverrides};

/// Where the committed environment files are.
pub const DIR: &str = "infra/environments";
/// The file `sandbox up` writes into its state directory.
pub const SANDBOX_FILE: &str = "sandbox.toml";

/// An environment file, loaded and checked.
#[derive(Debug, Clone, PartialEq)]
pub struct Environment {
    pub name: String,
    /// The file, as the user should read it (relative to the repository when inside it).
    pub file: String,
    /// What the names of `infra/` end in: empty when the account is the environment's own.
    pub suffix: String,
    pub values: EnvironmentFile,
    /// The per-service entries by the service's full name.
    services: BTreeMap<&'static str, ServiceOverrides>,
}

impl Environment {
    /// `NAME` (`infra/environments/NAME.toml`, or the sandbox's) or a path to a file.
    pub fn load(root: &Path, name_or_path: &str) -> Result<Environment> {
        let (name, path) = locate(root, name_or_path)?;
        let shown = path
            .strip_prefix(root)
            .unwrap_or(&path)
            .display()
            .to_string();
        let text = std::fs::read_to_string(&path)
            .map_err(|e| BadInput(format!("{shown}: cannot read the environment file: {e}")))?;
        let values = parse(&text, &shown).map_err(BadInput)?;
        let env = Environment::new(name, shown, values)?;
        if path.parent() == Some(root.join(DIR).as_path()) {
            env.check_collisions(&root.join(DIR))?;
        }
        Ok(env)
    }

    /// Checks what the file says beyond its shape; every problem names the file and key.
    pub fn new(name: String, file: String, values: EnvironmentFile) -> Result<Environment> {
        let bad = |key: &str, what: String| BadInput(format!("{file}: key `{key}`: {what}"));
        if !valid_name(&name) {
            return Err(BadInput(format!(
                "{file}: the environment's name `{name}` (the file's name) must be 1 to 20 lowercase letters, digits or hyphens, starting with a letter"
            ))
            .into());
        }
        if values.account_id.len() != 12 || !values.account_id.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad("account_id", "an AWS account id is 12 digits".into()).into());
        }
        if values.region.is_empty()
            || !values
                .region
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err(bad(
                "region",
                format!("`{}` is not an AWS region", values.region),
            )
            .into());
        }
        let suffix = match (&values.name_suffix, values.dedicated_account) {
            (Some(_), true) => {
                return Err(bad(
                    "name_suffix",
                    "only an environment that shares its account has a suffix: drop it, or dedicated_account".into(),
                )
                .into())
            }
            (Some(s), false) if !valid_suffix(s) => {
                return Err(bad(
                    "name_suffix",
                    format!("`{s}` must be a hyphen and 1 to 20 lowercase letters, digits or hyphens"),
                )
                .into())
            }
            (Some(s), false) => s.clone(),
            (None, false) => format!("-{name}"),
            (None, true) => String::new(),
        };
        if let Some(b) = &values.base_images {
            BaseImages::from_str(b, false).map_err(|_| {
                bad(
                    "base_images",
                    format!("`{b}`: one of sandbox, mirror, public"),
                )
            })?;
        }
        let mut services = BTreeMap::new();
        for (key, overrides) in &values.services {
            let service = services::find(key).ok_or_else(|| {
                BadInput(format!(
                    "{file}: unknown key `services.{key}`: not a service (backend, frontend, or their names backend-flask, frontend-react-js)"
                ))
            })?;
            if services.insert(service.name, overrides.clone()).is_some() {
                return Err(BadInput(format!(
                    "{file}: `services.{key}`: {} has two entries",
                    service.name
                ))
                .into());
            }
        }
        Ok(Environment {
            name,
            file,
            suffix,
            values,
            services,
        })
    }

    pub fn account_id(&self) -> &str {
        &self.values.account_id
    }

    pub fn region(&self) -> &str {
        &self.values.region
    }

    /// The cluster: the file's, else `cruddur` with the environment's suffix.
    pub fn cluster(&self) -> String {
        self.values
            .cluster
            .clone()
            .unwrap_or_else(|| format!("cruddur{}", self.suffix))
    }

    pub fn aws(&self) -> AwsAccess {
        self.values.aws.clone().unwrap_or_default()
    }

    /// What the file merges onto `service`'s task definition.
    pub fn overrides(&self, service: &Service) -> Option<&ServiceOverrides> {
        self.services.get(service.name)
    }

    /// The desired count the file sets for `service` (its own entry, else the environment's).
    pub fn desired_count(&self, service: &Service) -> Option<u32> {
        self.overrides(service)
            .and_then(|o| o.desired_count)
            .or(self.values.desired_count)
    }

    /// The first line of every command acting on it.
    pub fn describe(&self, cluster: &str) -> String {
        let names = if self.suffix.is_empty() {
            "its own account".to_string()
        } else {
            format!("names end in {}", self.suffix)
        };
        format!(
            "environment {} ({}): account {}, region {}, cluster {cluster}, {names}",
            self.name,
            self.file,
            self.account_id(),
            self.region()
        )
    }

    /// Fills `settings` from the file: a setting given as a flag keeps the
    /// flag's value; every other target setting is the file's (or its
    /// default), whatever the process environment says. Returns the
    /// variables whose values were set aside (those the file changed).
    pub fn apply(&self, s: &mut Settings) -> Vec<String> {
        let v = &self.values;
        let keep = |id: &str| s.given.flags.iter().any(|f| f == id);
        let cognito = v.cognito.clone().unwrap_or_default();
        let mut out = s.clone();
        // `field` takes the file's value unless its flag was on the command line.
        macro_rules! from_file {
            ($field:ident, $value:expr) => {
                if !keep(stringify!($field)) {
                    out.$field = $value;
                }
            };
        }
        from_file!(cluster, self.cluster());
        from_file!(account, Some(v.account_id.clone()));
        from_file!(registry, v.registry.clone());
        from_file!(subnets, v.subnets.clone());
        from_file!(security_groups, v.security_groups.clone());
        from_file!(vpc_id, v.vpc_id.clone());
        from_file!(frontend_url, v.frontend_url.clone());
        from_file!(backend_url, v.backend_url.clone());
        from_file!(forwarded_allow_ips, v.forwarded_allow_ips.clone());
        from_file!(otlp_endpoint, v.otlp_endpoint.clone());
        from_file!(task_aws_endpoint, v.task_aws_endpoint.clone());
        from_file!(cognito_user_pool_id, cognito.user_pool_id.clone());
        from_file!(cognito_client_id, cognito.client_id.clone());
        from_file!(cognito_endpoint, cognito.endpoint.clone());
        from_file!(cognito_jwks_url, cognito.jwks_url.clone());
        let lb = v.load_balancer.clone().unwrap_or_default();
        from_file!(lb_port, lb.port);
        from_file!(lb_https_port, lb.https_port);
        from_file!(certificate_arn, lb.certificate_arn);
        // This machine's build settings: the file's when it has them, else as before.
        if let Some(b) = v.base_images.as_deref() {
            from_file!(base_images, BaseImages::from_str(b, false).ok());
        }
        if v.build_network.is_some() {
            from_file!(build_network, v.build_network.clone());
        }
        out.environment = Some(self.clone());
        let (before, after) = (s.to_env(), out.to_env());
        let value = |env: &[(&str, String)], var: &str| {
            env.iter().find(|(k, _)| *k == var).map(|(_, v)| v.clone())
        };
        let ignored = s
            .given
            .variables
            .iter()
            .map(|(_, var)| var.clone())
            .filter(|var| value(&before, var) != value(&after, var))
            .collect();
        *s = out;
        ignored
    }

    /// Two files of one account must not name the same things: a file that
    /// says it has the account to itself shares it with no other, and two
    /// that share it differ in suffix and cluster.
    fn check_collisions(&self, dir: &Path) -> Result<()> {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return Ok(());
        };
        let mut others: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "toml"))
            .collect();
        others.sort();
        for path in others {
            let name = stem(&path);
            if name == self.name {
                continue;
            }
            let shown = format!("{DIR}/{name}.toml");
            let text = std::fs::read_to_string(&path)?;
            let values = parse(&text, &shown).map_err(BadInput)?;
            let other = Environment::new(name, shown, values)?;
            if let Some(problem) = self.collides_with(&other) {
                return Err(BadInput(problem).into());
            }
        }
        Ok(())
    }

    fn collides_with(&self, other: &Environment) -> Option<String> {
        let place = |e: &Environment| {
            (
                e.account_id().to_string(),
                e.region().to_string(),
                e.aws().endpoint_url,
            )
        };
        if place(self) != place(other) {
            return None;
        }
        let (a, b) = (&self.file, &other.file);
        let account = format!("account {} in {}", self.account_id(), self.region());
        if self.values.dedicated_account || other.values.dedicated_account {
            let which = if self.values.dedicated_account { a } else { b };
            return Some(format!(
                "{a} and {b} are both {account}, but {which} says it has the account to itself (dedicated_account): \
                 give one of them another account, or drop dedicated_account so their names carry their suffixes"
            ));
        }
        if self.suffix == other.suffix {
            return Some(format!(
                "{a} and {b} are both {account} with the name suffix {}: give one another name_suffix",
                self.suffix
            ));
        }
        if self.cluster() == other.cluster() {
            return Some(format!(
                "{a} and {b} are both {account} with the cluster {}: give one another cluster",
                self.cluster()
            ));
        }
        None
    }
}

/// The settings an environment decides: with `--env`, the process
/// environment's variables for these are ignored.
pub const TARGET: &[&str] = &[
    "cluster",
    "account",
    "registry",
    "subnets",
    "security_groups",
    "vpc_id",
    "frontend_url",
    "backend_url",
    "forwarded_allow_ips",
    "otlp_endpoint",
    "task_aws_endpoint",
    "cognito_user_pool_id",
    "cognito_client_id",
    "cognito_endpoint",
    "cognito_jwks_url",
    "lb_port",
    "lb_https_port",
    "certificate_arn",
];

fn locate(root: &Path, name_or_path: &str) -> Result<(String, PathBuf)> {
    if name_or_path.contains('/') || name_or_path.ends_with(".toml") {
        let path = PathBuf::from(name_or_path);
        if !path.is_file() {
            return Err(BadInput(format!("--env {name_or_path}: no such file")).into());
        }
        return Ok((stem(&path), path));
    }
    if name_or_path == "sandbox" {
        let path = root.join("target/sandbox").join(SANDBOX_FILE);
        if !path.is_file() {
            return Err(BadInput(format!(
                "--env sandbox: no {}: `cargo xtask sandbox up` writes it",
                path.display()
            ))
            .into());
        }
        return Ok(("sandbox".into(), path));
    }
    let path = root.join(DIR).join(format!("{name_or_path}.toml"));
    if !valid_name(name_or_path) || !path.is_file() {
        return Err(BadInput(format!(
            "--env {name_or_path}: no such environment; known: {} (files in {DIR}/, and `sandbox` once `sandbox up` ran)",
            known(root).join(", ")
        ))
        .into());
    }
    Ok((name_or_path.to_string(), path))
}

/// The names of the committed environments.
pub fn known(root: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(root.join(DIR))
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .map(|p| stem(&p))
        .collect();
    names.sort();
    names
}

fn stem(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn valid_name(name: &str) -> bool {
    (1..=20).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

fn valid_suffix(suffix: &str) -> bool {
    suffix.strip_prefix('-').is_some_and(|rest| {
        (1..=20).contains(&rest.len())
            && rest
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    })
}

#[cfg(test)]
mod tests;
