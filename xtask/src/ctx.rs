//! What every command needs to know about this run of the tool: where the
//! repository is, the settings, and whether this is a dry run.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};

use crate::environment::Environment;
use crate::errors::BadInput;
use crate::flags::{BaseImages, Cli, Output, Settings};

#[derive(Debug, Clone)]
pub struct Ctx {
    /// The repository the tool acts on: env files, Dockerfiles, infra/.
    pub root: PathBuf,
    /// The checkout the tool itself was started from (where `xtask-aws/` is built
    /// from); the same as `root` unless a test points `root` at a scratch copy.
    pub tool_root: PathBuf,
    pub dry_run: bool,
    pub verbose: bool,
    /// What stdout carries (`--output`).
    pub output: Output,
    /// The settings, the environment's file applied (`settings.environment`).
    pub settings: Settings,
    /// The variables the environment file set aside (said once, on stderr).
    pub ignored_variables: Vec<String>,
}

impl Ctx {
    pub fn new(cli: &Cli) -> Result<Ctx> {
        let tool_root = tool_root()?;
        crate::exec::set_progress_to_stderr(cli.output == Output::Json);
        let ctx = Ctx {
            root: cli
                .settings
                .root
                .clone()
                .unwrap_or_else(|| tool_root.clone()),
            tool_root,
            dry_run: cli.dry_run,
            verbose: cli.verbose,
            output: cli.output,
            settings: cli.settings.clone(),
            ignored_variables: Vec::new(),
        };
        match cli.settings.env.clone() {
            Some(name) => ctx.with_environment(&name),
            None => Ok(ctx),
        }
    }

    /// The same run acting on environment `name` (its file read and checked).
    pub fn with_environment(&self, name: &str) -> Result<Ctx> {
        let env = Environment::load(&self.root, name)?;
        let mut settings = self.settings.clone();
        settings.env = Some(name.to_string());
        let ignored_variables = env.apply(&mut settings);
        Ok(Ctx {
            settings,
            ignored_variables,
            ..self.clone()
        })
    }

    /// The environment this run acts on, if `--env` named one.
    pub fn environment(&self) -> Option<&Environment> {
        self.settings.environment.as_ref()
    }

    /// ` in environment NAME`, or nothing without `--env` (for lines that name it).
    pub fn in_environment(&self) -> String {
        self.environment()
            .map(|e| format!(" in environment {}", e.name))
            .unwrap_or_default()
    }

    /// Every command's first line names the environment it acts on; and
    /// what the file set aside of the process environment is said once.
    pub fn announce_environment(&self) {
        let Some(env) = self.environment() else {
            return;
        };
        crate::outln!("{}", env.describe(&self.settings.cluster));
        if !self.ignored_variables.is_empty() {
            eprintln!(
                "note: {} decides these, so their variables in this process are ignored: {}",
                env.file,
                self.ignored_variables.join(", ")
            );
        }
    }

    /// Commands that act on the local sandbox only take no environment.
    pub fn refuse_environment(&self, command: &str) -> Result<()> {
        match self.environment() {
            Some(env) => Err(BadInput(format!(
                "`{command}` works on this machine's own sandbox, not an environment: drop --env {} (or CRUDDUR_ENV)",
                env.name
            ))
            .into()),
            None => Ok(()),
        }
    }

    /// A context for unit tests: root `/repo`, dry run, default settings.
    #[doc(hidden)]
    pub fn for_tests() -> Ctx {
        Ctx {
            root: PathBuf::from("/repo"),
            tool_root: PathBuf::from("/repo"),
            dry_run: true,
            verbose: false,
            output: Output::Text,
            settings: Settings {
                cluster: "cruddur".into(),
                ..Settings::default()
            },
            ignored_variables: Vec::new(),
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
            crate::outln!("[dry-run] {what}");
        } else if self.verbose {
            crate::outln!("{what}");
        }
    }

    /// The registry images go to, when it is known without asking AWS: the
    /// setting, else the ECR host of the account in the SDK's configured region.
    pub fn registry_without_aws(&self) -> Option<String> {
        if let Some(registry) = &self.settings.registry {
            return Some(registry.clone());
        }
        let account = self.settings.account.as_ref()?;
        let region = match self.environment() {
            Some(env) => env.region().to_string(),
            None => sdk_region_from_env()?,
        };
        Some(format!("{account}.dkr.ecr.{region}.amazonaws.com"))
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
