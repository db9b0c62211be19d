//! An image copied from one account's ECR into another's by digest, through
//! the registries' HTTP API with each account's ECR token (what `promote`
//! does between environments in different accounts or regions): the
//! manifest's bytes are sent unchanged, so the digest is the same by
//! construction, and checked on both ends (the bytes hash to it, and the
//! target's ECR lists it afterwards). No docker daemon, no pull.

use std::time::Duration;

use anyhow::{bail, Context as _, Result};
use base64::Engine as _;
use serde_json::Value;
use sha2::{Digest as _, Sha256};
use xtask::poll::Deadline;
use xtask::Ctx;

use crate::aws::{explain, Aws};
use crate::ecr;

/// The manifest types a copy asks for (an index's children too).
const ACCEPT: &str = "application/vnd.oci.image.index.v1+json, \
    application/vnd.docker.distribution.manifest.list.v2+json, \
    application/vnd.docker.distribution.manifest.v2+json, \
    application/vnd.oci.image.manifest.v1+json";

/// One end of a copy: a registry and how to sign in to it.
pub struct End<'a> {
    pub ctx: &'a Ctx,
    pub aws: &'a Aws,
}

struct Session {
    base: String,
    auth: String,
}

impl End<'_> {
    async fn session(&self, repo: &str) -> Result<Session> {
        let registry = self.aws.registry(self.ctx).await?;
        let (user, password) = ecr::auth_token(self.aws).await?;
        Ok(Session {
            base: format!("{}://{registry}/v2/{repo}", scheme(&registry)),
            auth: format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
            ),
        })
    }
}

/// Copies `repo@digest` from `from` to `to` under `tags` (none: by digest
/// only), then waits until `to`'s ECR lists the digest.
pub async fn copy(
    from: &End<'_>,
    to: &End<'_>,
    repo: &str,
    digest: &str,
    tags: &[String],
) -> Result<()> {
    let (src, dst) = (from.session(repo).await?, to.session(repo).await?);
    let connector = to.aws.connector();
    let (bytes, media_type) = get_manifest(from.aws, &src, digest).await?;
    let manifest: Value = serde_json::from_slice(&bytes).context("the manifest is not JSON")?;
    if let Some(children) = manifest["manifests"].as_array() {
        // An index: every image it lists first, then the index itself.
        for child in children {
            let child = child["digest"]
                .as_str()
                .context("an index entry without a digest")?;
            let (bytes, media_type) = get_manifest(from.aws, &src, child).await?;
            copy_blobs(
                from.aws,
                &src,
                &dst,
                connector,
                &serde_json::from_slice(&bytes)?,
            )
            .await?;
            put_manifest(connector, &dst, child, &bytes, &media_type).await?;
        }
    } else {
        copy_blobs(from.aws, &src, &dst, connector, &manifest).await?;
    }
    if tags.is_empty() {
        put_manifest(connector, &dst, digest, &bytes, &media_type).await?;
    }
    for tag in tags {
        put_manifest(connector, &dst, tag, &bytes, &media_type).await?;
    }
    listed_in_ecr(to, repo, digest).await
}

/// The manifest's bytes as stored (checked against `digest`) and its media type.
async fn get_manifest(aws: &Aws, s: &Session, digest: &str) -> Result<(Vec<u8>, String)> {
    let bytes = get(
        aws,
        &format!("{}/manifests/{digest}", s.base),
        &s.auth,
        ACCEPT,
    )
    .await?;
    check_digest(&bytes, digest, "manifest")?;
    let media_type = serde_json::from_slice::<Value>(&bytes)
        .ok()
        .and_then(|m| m["mediaType"].as_str().map(str::to_string))
        .unwrap_or_else(|| "application/vnd.docker.distribution.manifest.v2+json".into());
    Ok((bytes, media_type))
}

/// The config and layers the target does not have yet, each checked against its digest.
async fn copy_blobs(
    aws: &Aws,
    src: &Session,
    dst: &Session,
    connector: &aws_smithy_http_client::Connector,
    manifest: &Value,
) -> Result<()> {
    let blobs = std::iter::once(&manifest["config"])
        .chain(manifest["layers"].as_array().into_iter().flatten())
        .filter_map(|b| b["digest"].as_str());
    for blob in blobs {
        let head =
            request("HEAD", &format!("{}/blobs/{blob}", dst.base), &dst.auth).body(Vec::new())?;
        if crate::aws::http::send(connector, head).await?.status == 200 {
            continue;
        }
        let bytes = get(aws, &format!("{}/blobs/{blob}", src.base), &src.auth, "*/*").await?;
        check_digest(&bytes, blob, "blob")?;
        let start = request("POST", &format!("{}/blobs/uploads/", dst.base), &dst.auth)
            .header("content-length", "0")
            .body(Vec::new())?;
        let started = crate::aws::http::send(connector, start).await?;
        let location = match (started.status, started.location) {
            (202, Some(location)) => join(&dst.base, &location),
            (status, _) => bail!("the target registry refused an upload of {blob} (HTTP {status})"),
        };
        let separator = if location.contains('?') { '&' } else { '?' };
        let put = request(
            "PUT",
            &format!("{location}{separator}digest={blob}"),
            &dst.auth,
        )
        .header("content-type", "application/octet-stream")
        .body(bytes)?;
        let status = crate::aws::http::send(connector, put).await?.status;
        if status != 201 {
            bail!("the target registry refused blob {blob} (HTTP {status})");
        }
    }
    Ok(())
}

async fn put_manifest(
    connector: &aws_smithy_http_client::Connector,
    dst: &Session,
    reference: &str,
    bytes: &[u8],
    media_type: &str,
) -> Result<()> {
    let put = request(
        "PUT",
        &format!("{}/manifests/{reference}", dst.base),
        &dst.auth,
    )
    .header("content-type", media_type)
    .body(bytes.to_vec())?;
    let status = crate::aws::http::send(connector, put).await?.status;
    if status != 201 {
        bail!("the target registry refused the manifest as {reference} (HTTP {status})");
    }
    Ok(())
}

/// ECR of the target (moto, through the sandbox's bridge, a moment later)
/// must list the very digest copied.
async fn listed_in_ecr(to: &End<'_>, repo: &str, digest: &str) -> Result<()> {
    let deadline = Deadline::after(Duration::from_secs(15));
    loop {
        let found = to
            .aws
            .ecr
            .describe_images()
            .repository_name(repo)
            .image_ids(
                aws_sdk_ecr::types::ImageIdentifier::builder()
                    .image_digest(digest)
                    .build(),
            )
            .send()
            .await;
        match found {
            Ok(out) if out.image_details().iter().any(|d| d.image_digest() == Some(digest)) => {
                return Ok(())
            }
            Ok(_) => {}
            Err(e)
                if e.as_service_error().is_some_and(
                    aws_sdk_ecr::operation::describe_images::DescribeImagesError::is_image_not_found_exception,
                ) => {}
            Err(e) => return Err(explain("ecr DescribeImages", &e)),
        }
        if deadline.expired() {
            bail!("the copy of {repo}@{digest} was accepted, but the target's ECR does not list that digest");
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

fn check_digest(bytes: &[u8], digest: &str, what: &str) -> Result<()> {
    let got = format!("sha256:{}", hex::encode(Sha256::digest(bytes)));
    if got != digest {
        bail!("the source registry's {what} {digest} hashes to {got}: not copied");
    }
    Ok(())
}

fn request(method: &str, url: &str, auth: &str) -> http::request::Builder {
    http::Request::builder()
        .method(method)
        .uri(url)
        .header("authorization", auth)
}

/// An answer other than 200 or a redirect; verify tells the user what a 401
/// or a 404 from the registry means.
#[derive(Debug)]
pub(crate) struct Refused {
    pub status: u16,
    url: String,
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "HTTP {} from {}", self.status, self.url)
    }
}

impl std::error::Error for Refused {}

/// GET `url`'s body; a redirect (ECR sends blobs to S3) is followed, up to
/// five, without the registry's credentials.
pub(crate) async fn get(aws: &Aws, url: &str, auth: &str, accept: &str) -> Result<Vec<u8>> {
    let mut url = url.to_string();
    let mut authorization = Some(auth);
    for _ in 0..=5 {
        let mut request = http::Request::builder()
            .method("GET")
            .uri(&url)
            .header("accept", accept);
        if let Some(auth) = authorization {
            request = request.header("authorization", auth);
        }
        let answer = crate::aws::http::send(aws.connector(), request.body(Vec::new())?).await?;
        match (answer.status, answer.location) {
            (200, _) => return Ok(answer.body),
            (301 | 302 | 303 | 307 | 308, Some(next)) => {
                url = join(&url, &next);
                authorization = None;
            }
            (status, _) => return Err(Refused { status, url }.into()),
        }
    }
    bail!("more than five redirects from {url}")
}

/// docker's default: loopback registries are plain HTTP, every other one HTTPS.
pub(crate) fn scheme(registry: &str) -> &'static str {
    let host = registry.rsplit_once(':').map_or(registry, |(h, _)| h);
    if host == "localhost" || host.starts_with("127.") || host == "[::1]" {
        "http"
    } else {
        "https"
    }
}

/// `location` as an absolute URL (registries may answer with a path).
fn join(base: &str, location: &str) -> String {
    if location.contains("://") {
        return location.to_string();
    }
    let origin_end = base
        .find("://")
        .and_then(|i| base[i + 3..].find('/').map(|j| i + 3 + j))
        .unwrap_or(base.len());
    format!("{}{location}", &base[..origin_end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_are_checked_against_their_digest() {
        let empty = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        assert!(check_digest(b"", empty, "blob").is_ok());
        let err = check_digest(b"x", empty, "blob").unwrap_err().to_string();
        assert!(err.contains("not copied"), "{err}");
    }

    #[test]
    fn upload_locations_become_absolute() {
        let base = "http://127.0.0.1:5000/v2/backend-flask";
        assert_eq!(
            join(base, "/v2/backend-flask/blobs/uploads/1?_state=x"),
            "http://127.0.0.1:5000/v2/backend-flask/blobs/uploads/1?_state=x"
        );
        assert_eq!(scheme("127.0.0.1:5000"), "http");
        assert_eq!(scheme("1.dkr.ecr.us-east-1.amazonaws.com"), "https");
    }

    // verify's image check reads through `get` too: its registries, and the
    // redirects ECR answers a blob with.
    #[test]
    fn loopback_registries_are_plain_http() {
        assert_eq!(scheme("127.0.0.1:4701"), "http");
        assert_eq!(scheme("localhost:5000"), "http");
        assert_eq!(scheme("123.dkr.ecr.us-east-1.amazonaws.com"), "https");
    }

    #[test]
    fn relative_redirects_keep_the_origin() {
        let base = "http://127.0.0.1:5000/v2/backend-flask/blobs/sha256:1";
        assert_eq!(join(base, "/blob/x"), "http://127.0.0.1:5000/blob/x");
        assert_eq!(
            join(base, "https://s3.example/b?s=1"),
            "https://s3.example/b?s=1"
        );
    }
}
