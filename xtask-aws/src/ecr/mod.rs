//! ECR through aws-sdk-ecr: repositories, `docker login` with an auth token,
//! push with the digest reported, and the base-image mirror.

use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context as _, Result};
use aws_sdk_ecr::types::{ImageScanningConfiguration, ImageTagMutability};
use base64::Engine as _;

use xshell::cmd;
use xtask::errors::BadInput;
use xtask::exec::{shell, Cmd};
use xtask::flags::{BaseImages, PushArgs};
use xtask::poll::Deadline;
use xtask::produced::Produced;
use xtask::services::{Selection, Service, PYTHON_BASE};
use xtask::{docker, duration, git, Ctx};

use crate::aws::{explain, Aws};

mod images;

pub use images::{deployable_image, image_digest, tag_latest, tags_of, Found};

pub async fn create(ctx: &Ctx, selection: Selection) -> Result<()> {
    let aws = Aws::load(ctx).await?;
    let mut repos: Vec<&str> = selection.services().iter().map(|s| s.repo()).collect();
    if selection == Selection::All {
        repos.extend(PYTHON_BASE.mirror_repo);
    }
    for repo in repos {
        create_repo(ctx, &aws, repo).await?;
    }
    Ok(())
}

async fn create_repo(ctx: &Ctx, aws: &Aws, name: &str) -> Result<()> {
    ctx.announce(&format!(
        "ecr CreateRepository repositoryName={name} imageTagMutability=MUTABLE scanOnPush=true"
    ));
    if ctx.dry_run {
        return Ok(());
    }
    let created = aws
        .ecr
        .create_repository()
        .repository_name(name)
        .image_tag_mutability(ImageTagMutability::Mutable)
        .image_scanning_configuration(
            ImageScanningConfiguration::builder()
                .scan_on_push(true)
                .build(),
        )
        .send()
        .await;
    match created {
        Ok(_) => xtask::outln!("created ECR repository {name}"),
        Err(e)
            if e.as_service_error()
                .is_some_and(aws_sdk_ecr::operation::create_repository::CreateRepositoryError::is_repository_already_exists_exception) =>
        {
            xtask::outln!("ECR repository {name} already exists");
        }
        Err(e) => return Err(explain("ecr CreateRepository", &e)),
    }
    Ok(())
}

/// A missing repository is an error that says how to make it, unless asked to create it.
pub async fn ensure_repo(ctx: &Ctx, aws: &Aws, name: &str, create: bool) -> Result<()> {
    ctx.announce(&format!(
        "ecr DescribeRepositories repositoryNames=[{name}]"
    ));
    if ctx.dry_run {
        return Ok(());
    }
    let found = aws
        .ecr
        .describe_repositories()
        .repository_names(name)
        .send()
        .await;
    match found {
        Ok(_) => Ok(()),
        Err(e)
            if e.as_service_error()
                .is_some_and(aws_sdk_ecr::operation::describe_repositories::DescribeRepositoriesError::is_repository_not_found_exception) =>
        {
            if create {
                create_repo(ctx, aws, name).await
            } else {
                bail!("ECR repository {name} does not exist: run `cargo xtask ecr create` (or push with --create-repo)")
            }
        }
        Err(e) => Err(explain("ecr DescribeRepositories", &e)),
    }
}

pub async fn login(ctx: &Ctx) -> Result<()> {
    docker::ensure_daemon(ctx)?;
    let aws = Aws::load(ctx).await?;
    docker_login(ctx, &aws, None).await
}

/// GetAuthorizationToken -> `docker login --password-stdin`: the password is
/// never on a command line or in output. `token` is one already asked for.
async fn docker_login(ctx: &Ctx, aws: &Aws, token: Option<Token>) -> Result<()> {
    let registry = aws.registry(ctx).await?;
    ctx.announce("ecr GetAuthorizationToken");
    let (user, password) = match token {
        _ if ctx.dry_run => ("AWS".to_string(), String::new()),
        Some(token) => token
            .await
            .map_err(|e| anyhow!("the ECR token request panicked: {e}"))??,
        None => auth_token(aws).await?,
    };
    let sh = shell()?;
    Cmd::from(cmd!(
        sh,
        "docker login --username {user} --password-stdin {registry}"
    ))
    .secret_stdin(password.clone())
    .redact(password)
    .run_lines(ctx, "")
    .map_err(|e| {
        anyhow!(
            "docker login to {registry} failed ({e:#}): the registry refused ECR's token; \
             check that CRUDDUR_ECR_REGISTRY (if set) is the registry of this account and region"
        )
    })?;
    Ok(())
}

/// `docker login` to the account's registry unless docker has a login for
/// it: a build whose base image is the account's ECR mirror pulls from there
/// before anything is pushed (a fresh CI runner has no login yet).
pub async fn login_if_needed(ctx: &Ctx, aws: &Aws) -> Result<()> {
    let registry = aws.registry(ctx).await?;
    if ctx.dry_run || !docker_has_login(&registry) {
        docker_login(ctx, aws, None).await?;
    }
    Ok(())
}

/// ECR's token, asked for while docker works (a push logged out first waits
/// for docker, not for ECR and then docker).
type Token = tokio::task::JoinHandle<Result<(String, String)>>;

fn ask_for_token(ctx: &Ctx, aws: &Aws) -> Option<Token> {
    if ctx.dry_run {
        return None;
    }
    let aws = aws.clone();
    Some(tokio::spawn(async move { auth_token(&aws).await }))
}

/// Whether docker's config has a login for `registry` (or a credential
/// helper that may): without one, a push is sure to be refused, so the tool
/// logs in first instead of trying.
fn docker_has_login(registry: &str) -> bool {
    // Docker's own settings, read as docker reads them.
    let dir = std::env::var_os("DOCKER_CONFIG")
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| std::path::Path::new(&h).join(".docker")));
    let Some(text) = dir.and_then(|d| std::fs::read_to_string(d.join("config.json")).ok()) else {
        return false;
    };
    let Ok(config) = serde_json::from_str::<serde_json::Value>(&text) else {
        return true; // docker will say what is wrong with it
    };
    config["auths"].get(registry).is_some()
        || config["credHelpers"].get(registry).is_some()
        || config["credsStore"].is_string()
}

/// ECR's registry user and password (for `docker login`, and `verify`'s registry reads).
pub async fn auth_token(aws: &Aws) -> Result<(String, String)> {
    let out = aws
        .ecr
        .get_authorization_token()
        .send()
        .await
        .map_err(|e| explain("ecr GetAuthorizationToken", &e))?;
    let token = out
        .authorization_data()
        .first()
        .and_then(|d| d.authorization_token())
        .context("ECR returned no authorization token")?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(token)
        .context("ECR's token is not base64")?;
    let decoded = String::from_utf8(decoded).context("ECR's token is not text")?;
    let (user, password) = decoded
        .split_once(':')
        .context("ECR's token is not user:password")?;
    Ok((user.to_string(), password.to_string()))
}

/// What a push left in the registry.
#[derive(Debug, Clone)]
pub struct Pushed {
    /// `<registry>/<repo>`
    pub repository: String,
    /// The git commit's tag (`abc1234`, or `abc1234-dirty`). `latest` is not
    /// pushed: it names the last image deployed successfully (`tag_latest`).
    pub commit_tag: String,
    /// `--tag` values.
    pub extra_tags: Vec<String>,
    pub digest: Produced<String>,
}

impl Pushed {
    fn tags(&self) -> Vec<String> {
        let mut tags = vec![self.commit_tag.clone()];
        tags.extend(self.extra_tags.iter().cloned());
        tags
    }
}

pub async fn push(ctx: &Ctx, args: &PushArgs) -> Result<Vec<Pushed>> {
    docker::ensure_daemon(ctx)?;
    let aws = Aws::load(ctx).await?;
    let mut pushed = Vec::new();
    for service in args.service.services() {
        let (tags, create) = (&args.tag, args.create_repo);
        pushed.push(push_service(ctx, &aws, service, None, tags, create).await?);
    }
    Ok(pushed)
}

/// Pushes `built` (an image id a build returned) or else the image
/// `service`'s local name points at now.
pub async fn push_service(
    ctx: &Ctx,
    aws: &Aws,
    service: &'static Service,
    built: Option<&Produced<String>>,
    extra_tags: &[String],
    create_repo: bool,
) -> Result<Pushed> {
    let name = service.image(false);
    let registry = aws.registry(ctx).await?;
    // Every tag is made from this one id, never from the name again.
    let local = match built {
        _ if ctx.dry_run => name.clone(),
        Some(id) => id.clone().real()?,
        None => docker::image_id(ctx, &name)?.ok_or_else(|| {
            BadInput(format!(
                "no local image {name}: run `cargo xtask build {}` first",
                service.short
            ))
        })?,
    };
    ensure_repo(ctx, aws, service.repo(), create_repo).await?;
    let mut pushed = Pushed {
        repository: format!("{registry}/{}", service.repo()),
        commit_tag: git::commit_tag(ctx)?,
        extra_tags: extra_tags.to_vec(),
        digest: Produced::planned("pushing"),
    };
    pushed.digest = push_tags(
        ctx,
        aws,
        &local,
        &pushed.repository,
        &pushed.tags(),
        Some(service),
    )
    .await?;
    Ok(pushed)
}

/// Tags `local` as `repository:tag` for each tag and pushes them; returns the
/// digest docker reports (planned in a dry run). With `service`, ECR must list
/// that digest under the first tag: checked while the other tags are pushed,
/// since the registry tells ECR of a push a moment after it.
async fn push_tags(
    ctx: &Ctx,
    aws: &Aws,
    local: &str,
    repository: &str,
    tags: &[String],
    service: Option<&'static Service>,
) -> Result<Produced<String>> {
    let label = service.map_or(repository, |s| s.name);
    let mut digest = None;
    let (mut uploaded, mut present) = (0, 0);
    let started = Instant::now();
    let mut confirmation = None;
    let mut token = ask_for_token(ctx, aws);
    for tag in tags {
        let remote = format!("{repository}:{tag}");
        let sh = shell()?;
        Cmd::from(cmd!(sh, "docker tag {local} {remote}")).run(ctx)?;
        let lines = push_with_login(ctx, aws, &remote, label, &mut token).await?;
        uploaded += lines.iter().filter(|l| l.ends_with(": Pushed")).count();
        present += lines
            .iter()
            .filter(|l| l.ends_with(": Layer already exists") || l.contains(": Mounted from"))
            .count();
        digest = lines.iter().find_map(|l| parse_digest(l)).or(digest);
        if let (Some(service), Some(found), None) = (service, &digest, &confirmation) {
            let (ctx, aws, found, tag) = (ctx.clone(), aws.clone(), found.clone(), tag.clone());
            confirmation = Some(tokio::spawn(async move {
                confirm_in_ecr(&ctx, &aws, service, &tag, &found).await
            }));
        }
    }
    if let Some(confirmation) = confirmation {
        confirmation
            .await
            .map_err(|e| anyhow!("the ECR check panicked: {e}"))??;
    }
    if ctx.dry_run {
        return Ok(Produced::planned(format!(
            "digest docker push reports for {repository}"
        )));
    }
    let digest = digest.context("docker push printed no digest")?;
    let shown_tags = tags.join(", ");
    if uploaded == 0 {
        xtask::outln!("{label}: nothing to upload, every layer was already in the registry; {repository} [{shown_tags}] is {digest}");
    } else {
        xtask::outln!(
            "{label}: pushed {repository} [{shown_tags}] {digest} ({uploaded} layers uploaded, {present} already there, {})",
            duration::secs(started.elapsed())
        );
    }
    Ok(Produced::Value(digest))
}

/// `docker push`, logging in first when docker has no login for the
/// registry, or again when the registry refuses the one it has (stale).
async fn push_with_login(
    ctx: &Ctx,
    aws: &Aws,
    remote: &str,
    label: &str,
    token: &mut Option<Token>,
) -> Result<Vec<String>> {
    let prefix = format!("[{label}] ");
    let sh = shell()?;
    let push = Cmd::from(cmd!(sh, "docker push {remote}"));
    let registry = remote.split('/').next().unwrap_or_default();
    if !ctx.dry_run && !docker_has_login(registry) {
        xtask::outln!("{label}: docker has no login for {registry}; logging in");
        docker_login(ctx, aws, token.take()).await?;
        return push.run_lines(ctx, &prefix);
    }
    match push.run_lines(ctx, &prefix) {
        Err(e) if needs_login(&format!("{e:#}")) => {
            xtask::outln!("{label}: docker has no valid credentials for the registry; logging in");
            docker_login(ctx, aws, token.take()).await?;
            push.run_lines(ctx, &prefix)
        }
        other => other,
    }
}

fn needs_login(error: &str) -> bool {
    [
        "no basic auth credentials",
        "unauthorized",
        "authentication required",
        "authorization token has expired",
    ]
    .iter()
    .any(|s| error.contains(s))
}

/// `latest: digest: sha256:abc… size: 1234` -> `sha256:abc…`
fn parse_digest(line: &str) -> Option<String> {
    let rest = line.split(": digest: ").nth(1)?;
    let digest = rest.split_whitespace().next()?;
    digest.starts_with("sha256:").then(|| digest.to_string())
}

/// ECR (moto, through the sandbox's bridge, a moment later) must list the digest docker printed.
async fn confirm_in_ecr(
    ctx: &Ctx,
    aws: &Aws,
    service: &Service,
    tag: &str,
    digest: &str,
) -> Result<()> {
    let deadline = Deadline::after(Duration::from_secs(15));
    let repo = service.repo();
    loop {
        let listed = image_digest(ctx, aws, repo, tag).await?.real()?;
        if listed.as_deref() == Some(digest) {
            xtask::outln!("{service}: ECR lists {repo}:{tag} as {digest}");
            return Ok(());
        }
        if deadline.expired() {
            bail!(
                "ECR lists {repo}:{tag} as {} but docker pushed {digest}: is CRUDDUR_ECR_REGISTRY the registry of this account?",
                listed.unwrap_or_else(|| "nothing".into()),
            );
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// Copies the Python base image into the account's ECR so prod builds do not
/// depend on Docker Hub.
pub async fn mirror_base(ctx: &Ctx) -> Result<()> {
    docker::ensure_daemon(ctx)?;
    let aws = Aws::load(ctx).await?;
    let repo = PYTHON_BASE
        .mirror_repo
        .context("the Python base image has no mirror repository")?;
    let source = match ctx.base_images() {
        BaseImages::Sandbox => PYTHON_BASE.sandbox,
        BaseImages::Mirror | BaseImages::Public => PYTHON_BASE.public,
    };
    if !ctx.dry_run && !docker::image_exists(ctx, source)? {
        let sh = shell()?;
        Cmd::from(cmd!(sh, "docker pull {source}")).run(ctx)?;
    }
    ensure_repo(ctx, &aws, repo, true).await?;
    let repository = format!("{}/{repo}", aws.registry(ctx).await?);
    let tag = docker::public_tag(&PYTHON_BASE).to_string();
    push_tags(
        ctx,
        &aws,
        source,
        &repository,
        std::slice::from_ref(&tag),
        None,
    )
    .await?;
    xtask::outln!("prod builds now use {repository}:{tag} (when AWS_ACCOUNT_ID or CRUDDUR_ECR_REGISTRY is set)");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_is_read_from_the_push_summary_line() {
        assert_eq!(
            parse_digest("latest: digest: sha256:8b89 size: 736").as_deref(),
            Some("sha256:8b89")
        );
        assert_eq!(parse_digest("f5d5f6401cd8: Pushed"), None);
    }

    #[test]
    fn auth_failures_trigger_a_login() {
        assert!(needs_login(
            "`docker push` failed (exit status 1): no basic auth credentials"
        ));
        assert!(needs_login("unauthorized: authentication required"));
        assert!(!needs_login("name unknown: repository does not exist"));
    }
}
