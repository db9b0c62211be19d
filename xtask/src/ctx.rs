//! What every command needs to know about this run of the tool: where the
//! repository is, the settings, and whether this is a dry run.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};

use crate::flags::{BaseImages, Cli, Settings};

#[derive(Debug, Clone)]
pub struct Ctx {
    /// The repository the tool acts on: env files, Dockerfiles, infra/.
    pub root: PathBuf,
    /// The checkout the tool itself was started from (where `xtask-aws/` is built
    /// from); the same as `root` unless a test points `root` at a scratch copy.
    pub tool_root: PathBuf,
    pub dry_run: bool,
    pub verbose: bool,
    pub settings: Settings,
}

impl Ctx {
    pub fn new(cli: &Cli) -> Result<Ctx> {
        let tool_root = tool_root()?;
        Ok(Ctx {
            root: cli
                .settings
                .root
                .clone()
                .unwrap_or_else(|| tool_root.clone()),
            tool_root,
            dry_run: cli.dry_run,
            verbose: cli.verbose,
            settings: cli.settings.clone(),
        })
    }

    /// A context for unit tests: root `/repo`, dry run, default settings.
    #[doc(hidden)]
    pub fn for_tests() -> Ctx {
        Ctx {
            root: PathBuf::from("/repo"),
            tool_root: PathBuf::from("/repo"),
            dry_run: true,
            verbose: false,
            settings: Settings {
                cluster: "cruddur".into(),
                ..Settings::default()
            },
        }
    }

    /// The same run with other settings (the sandbox's, for demo, test and bench).
    pub fn with_settings(&self, settings: Settings) -> Ctx {
        Ctx {
            settings,
            ..self.clone()
        }
    }

    /// Printed for AWS calls and other effects that are not a command line.
    pub fn announce(&self, what: &str) {
        if self.dry_run {
            println!("[dry-run] {what}");
        } else if self.verbose {
            println!("{what}");
        }
    }

    /// The registry images go to, when it is known without asking AWS: the
    /// setting, else the ECR host of the account in the SDK's configured region.
    pub fn registry_without_aws(&self) -> Option<String> {
        if let Some(registry) = &self.settings.registry {
            return Some(registry.clone());
        }
        let account = self.settings.account.as_ref()?;
        Some(format!(
            "{account}.dkr.ecr.{}.amazonaws.com",
            sdk_region_from_env()?
        ))
    }

    /// The base-image source: the setting, else the account's mirror when its
    /// registry is known, else Docker Hub.
    pub fn base_images(&self) -> BaseImages {
        self.settings
            .base_images
            .unwrap_or(if self.registry_without_aws().is_some() {
                BaseImages::Mirror
            } else {
                BaseImages::Public
            })
    }
}

/// The region as the AWS SDK's environment chain names it (the light build has
/// no SDK to ask; profiles are the AWS build's business).
pub fn sdk_region_from_env() -> Option<String> {
    ["AWS_REGION", "AWS_DEFAULT_REGION"]
        .iter()
        .find_map(|n| std::env::var(n).ok().filter(|v| !v.is_empty()))
}

/// The checkout this run belongs to, found at run time: `cargo run` sets
/// `CARGO_MANIFEST_DIR` to the package's folder (`xtask/` or `xtask-aws/`);
/// otherwise the nearest folder above the working directory that holds the
/// tool. Never the folder the binary was compiled in: with a shared target
/// directory that can be another clone.
fn tool_root() -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os("CARGO_MANIFEST_DIR") {
        let dir = PathBuf::from(dir);
        if let Some(root) = dir.parent().filter(|r| is_tool_root(r)) {
            return Ok(root.to_path_buf());
        }
    }
    let cwd = std::env::current_dir().context("reading the working directory")?;
    cwd.ancestors()
        .find(|d| is_tool_root(d))
        .map(Path::to_path_buf)
        .context("not inside a Cruddur checkout (no xtask/Cargo.toml above the working directory): run `cargo xtask` from the repository")
}

fn is_tool_root(dir: &Path) -> bool {
    dir.join("xtask/Cargo.toml").is_file() && dir.join("xtask-aws/Cargo.toml").is_file()
}
