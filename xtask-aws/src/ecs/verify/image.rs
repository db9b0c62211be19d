//! The image check: ECR has it, and it is built for the platform Fargate runs.

use anyhow::{anyhow, Context as _, Result};
use base64::Engine as _;
use serde_json::Value;
use xtask::produced::Produced;

use super::{fail, ok, skip, Check, Images, Planned};
use crate::aws::Aws;
use crate::ecr;
use crate::ecs::client::Ecs;
use crate::registry::{self, scheme};

/// What Fargate runs (and the only platform ECS pulls for it here).
const PLATFORM: (&str, &str) = ("linux", "amd64");

pub(super) async fn images(ecs: &Ecs, planned: &[Planned], source: &Images) -> Vec<Check> {
    let mut checks = Vec::new();
    for p in planned {
        let repo = p.service.repo();
        let promoted = match source {
            Images::Built => {
                checks.push(skip(format!(
                    "{}: image: the deploy builds and pushes it (not looked up in ECR)",
                    p.service.name
                )));
                continue;
            }
            Images::Promoted { digests, copied } => {
                let digest = digests.iter().find(|(s, _)| *s == p.service.name);
                match (digest, copied) {
                    (Some((_, digest)), false) => Some(digest.clone()),
                    _ => {
                        checks.push(skip(format!(
                            "{}: image: promote copies it into this registry first, by digest",
                            p.service.name
                        )));
                        continue;
                    }
                }
            }
            Images::Deployable => None,
        };
        let found = match promoted {
            Some(digest) => Ok(Produced::Value(Some(ecr::Found {
                tag: digest.clone(),
                digest,
            }))),
            // What `deploy --no-build` takes: this commit's image, else `latest`.
            None => ecr::deployable_image(&ecs.ctx, &ecs.aws, p.service).await,
        };
        let (tag, digest) = match found {
            Ok(Produced::Value(Some(found))) => (found.tag, found.digest),
            Ok(Produced::Value(None)) => {
                checks.push(fail(format!(
                    "{}: ECR has no image of this commit and no {repo}:{}: push one (`cargo xtask push {}`), or deploy without --no-build",
                    p.service.name, ecs.ctx.settings.latest_tag(), p.service.short
                )));
                continue;
            }
            Ok(Produced::Planned(_)) => {
                ecs.ctx.announce(&format!(
                    "ecr GetAuthorizationToken; registry GET /v2/{repo}/manifests/<digest> and the config blob (platform)"
                ));
                continue;
            }
            Err(e) => {
                checks.push(fail(format!("{}: image: {e:#}", p.service.name)));
                continue;
            }
        };
        checks.push(match platform(ecs, repo, &digest).await {
            Ok(platform) if platform == format!("{}/{}", PLATFORM.0, PLATFORM.1) => ok(format!(
                "{}: image {repo}:{tag} ({}) is in ECR, {platform}",
                p.service.name,
                short_digest(&digest)
            )),
            Ok(platform) => fail(format!(
                "{}: image {repo}:{tag} ({}) is {platform}, Fargate runs {}/{}: build it for that platform \
                 (`docker build --platform {}/{}`, or `cargo xtask build` on an x86-64 machine) and push it",
                p.service.name,
                short_digest(&digest),
                PLATFORM.0,
                PLATFORM.1,
                PLATFORM.0,
                PLATFORM.1
            )),
            Err(e) => fail(format!(
                "{}: image {repo}:{tag}: could not read its platform from the registry ({e:#})",
                p.service.name
            )),
        });
    }
    checks
}

fn short_digest(digest: &str) -> &str {
    &digest[..digest.len().min(19)]
}

/// The image's platform, from its manifest (an index lists its platforms) or
/// its config blob, read through the registry's HTTP API with ECR's token as
/// basic auth, as docker reads it.
async fn platform(ecs: &Ecs, repo: &str, digest: &str) -> Result<String> {
    let registry = ecs.aws.registry(&ecs.ctx).await?;
    let (user, password) = ecr::auth_token(&ecs.aws).await?;
    let auth = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    );
    let base = format!("{}://{registry}/v2/{repo}", scheme(&registry));
    let accept = "application/vnd.oci.image.index.v1+json, \
                  application/vnd.docker.distribution.manifest.list.v2+json, \
                  application/vnd.docker.distribution.manifest.v2+json, \
                  application/vnd.oci.image.manifest.v1+json";
    let manifest = get_json(
        &ecs.aws,
        &format!("{base}/manifests/{digest}"),
        &auth,
        accept,
    )
    .await?;
    if let Some(list) = manifest["manifests"].as_array() {
        let platforms: Vec<String> = list
            .iter()
            .filter_map(|m| {
                Some(format!(
                    "{}/{}",
                    m["platform"]["os"].as_str()?,
                    m["platform"]["architecture"].as_str()?
                ))
            })
            .collect();
        let want = format!("{}/{}", PLATFORM.0, PLATFORM.1);
        return Ok(if platforms.contains(&want) {
            want
        } else {
            format!("an index of {}", platforms.join(", "))
        });
    }
    let config = manifest["config"]["digest"]
        .as_str()
        .context("the manifest names no config blob")?;
    let config = get_json(&ecs.aws, &format!("{base}/blobs/{config}"), &auth, "*/*").await?;
    Ok(format!(
        "{}/{}",
        config["os"].as_str().unwrap_or("?"),
        config["architecture"].as_str().unwrap_or("?")
    ))
}

/// GET `url` as JSON, saying what the registry's refusals mean here.
async fn get_json(aws: &Aws, url: &str, auth: &str, accept: &str) -> Result<Value> {
    let body = registry::get(aws, url, auth, accept).await.map_err(|e| {
        match e.downcast_ref::<registry::Refused>().map(|r| r.status) {
            Some(status @ (401 | 403)) => {
                anyhow!("the registry refused ECR's token (HTTP {status})")
            }
            Some(404) => anyhow!("the registry has no such manifest or blob (HTTP 404)"),
            _ => e,
        }
    })?;
    serde_json::from_slice(&body).context("the answer is not JSON")
}
