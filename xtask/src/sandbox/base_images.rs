//! The base images the real Dockerfiles need, made offline from Debian packages.
use anyhow::{bail, Result};
use crate::exec::Ctx;
use crate::services::ALL_BASE_IMAGES;

pub const TAGS: [&str; 4] = [
    ALL_BASE_IMAGES[0].sandbox,
    ALL_BASE_IMAGES[1].sandbox,
    ALL_BASE_IMAGES[2].sandbox,
    ALL_BASE_IMAGES[3].sandbox,
];

pub fn present(_ctx: &Ctx) -> Vec<(&'static str, bool)> {
    TAGS.iter().map(|t| (*t, false)).collect()
}

pub fn ensure_base_images(_ctx: &Ctx, _force: bool) -> Result<()> {
    bail!("not yet implemented")
}
