//! What ECR has: the digest of a tag, the image a `deploy --no-build` takes,
//! the tags of a digest, and `latest` moved to the image last deployed
//! successfully (ECR's own PutImage, no docker).

use anyhow::{bail, Context as _, Result};
use aws_sdk_ecr::types::ImageIdentifier;
use xtask::produced::Produced;
use xtask::services::Service;
use xtask::{git, Ctx};

use crate::aws::{explain, Aws};

/// Points `repo:latest` at `digest` with ECR's own API (the image's manifest
/// put again under the tag, no docker involved): `latest` names the image
/// last deployed successfully.
pub async fn tag_latest(ctx: &Ctx, aws: &Aws, service: &Service, digest: &str) -> Result<()> {
    let repo = service.repo();
    // Per environment when environments share the account (`latest-stg`).
    let latest = ctx.settings.latest_tag();
    ctx.announce(&format!(
        "ecr BatchGetImage repositoryName={repo} imageDigest={digest}; ecr PutImage imageTag={latest}"
    ));
    if ctx.dry_run {
        return Ok(());
    }
    if image_digest(ctx, aws, repo, &latest)
        .await?
        .real()?
        .as_deref()
        == Some(digest)
    {
        return Ok(());
    }
    let got = aws
        .ecr
        .batch_get_image()
        .repository_name(repo)
        .image_ids(ImageIdentifier::builder().image_digest(digest).build())
        .send()
        .await
        .map_err(|e| explain("ecr BatchGetImage", &e))?;
    let image = got
        .images()
        .first()
        .with_context(|| format!("ECR has no image {repo}@{digest} to tag as {latest}"))?;
    let manifest = image.image_manifest().context("ECR returned no manifest")?;
    let put = aws
        .ecr
        .put_image()
        .repository_name(repo)
        .image_manifest(manifest)
        .set_image_manifest_media_type(image.image_manifest_media_type().map(str::to_string))
        .image_tag(&latest)
        .image_digest(digest)
        .send()
        .await;
    match put {
        Ok(_) => {}
        Err(e)
            if e.as_service_error().is_some_and(
                aws_sdk_ecr::operation::put_image::PutImageError::is_image_already_exists_exception,
            ) => {}
        Err(e) => return Err(explain("ecr PutImage", &e)),
    }
    xtask::outln!(
        "{service}: ECR {repo}:{latest} is now {digest} (the image last deployed successfully)"
    );
    Ok(())
}

/// An image ECR has under a tag.
pub struct Found {
    pub tag: String,
    pub digest: String,
}

/// What `deploy --no-build` deploys: the image of this commit (the tag `push`
/// gives it), else `latest`, the last image deployed successfully.
pub async fn deployable_image(
    ctx: &Ctx,
    aws: &Aws,
    service: &Service,
) -> Result<Produced<Option<Found>>> {
    let repo = service.repo();
    // Sources outside a git checkout (a test's scratch copy of infra/) have
    // no commit of their own: only `latest` can be meant.
    if let Ok(commit) = git::commit_tag(ctx) {
        match image_digest(ctx, aws, repo, &commit).await? {
            Produced::Value(Some(digest)) => {
                return Ok(Produced::Value(Some(Found {
                    tag: commit,
                    digest,
                })))
            }
            Produced::Planned(what) => return Ok(Produced::Planned(what)),
            Produced::Value(None) => {}
        }
    }
    let latest = ctx.settings.latest_tag();
    Ok(image_digest(ctx, aws, repo, &latest).await?.map(|d| {
        d.map(|digest| Found {
            tag: latest,
            digest,
        })
    }))
}

/// The tags ECR lists for `repo@digest` (none when it is untagged).
pub async fn tags_of(ctx: &Ctx, aws: &Aws, repo: &str, digest: &str) -> Result<Vec<String>> {
    ctx.announce(&format!(
        "ecr DescribeImages repositoryName={repo} imageDigest={digest}"
    ));
    let found = aws
        .ecr
        .describe_images()
        .repository_name(repo)
        .image_ids(ImageIdentifier::builder().image_digest(digest).build())
        .send()
        .await
        .map_err(|e| explain("ecr DescribeImages", &e))?;
    Ok(found
        .image_details()
        .iter()
        .flat_map(|d| d.image_tags().iter().cloned())
        .collect())
}

/// The digest ECR has for `repo:tag`, if any.
pub async fn image_digest(
    ctx: &Ctx,
    aws: &Aws,
    repo: &str,
    tag: &str,
) -> Result<Produced<Option<String>>> {
    ctx.announce(&format!(
        "ecr DescribeImages repositoryName={repo} imageTag={tag}"
    ));
    if ctx.dry_run {
        return Ok(Produced::planned(format!(
            "digest ECR lists for {repo}:{tag}"
        )));
    }
    let found = aws
        .ecr
        .describe_images()
        .repository_name(repo)
        .image_ids(ImageIdentifier::builder().image_tag(tag).build())
        .send()
        .await;
    match found {
        Ok(out) => Ok(Produced::Value(
            out.image_details()
                .first()
                .and_then(|d| d.image_digest())
                .map(str::to_string),
        )),
        Err(e) => match e.as_service_error() {
            Some(s) if s.is_image_not_found_exception() => Ok(Produced::Value(None)),
            Some(s) if s.is_repository_not_found_exception() => {
                bail!("ECR repository {repo} does not exist: run `cargo xtask ecr create`")
            }
            _ => Err(explain("ecr DescribeImages", &e)),
        },
    }
}
