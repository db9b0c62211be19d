//! ECR: repositories, login, push, base-image mirror.
use anyhow::{bail, Result};
use crate::exec::Ctx;
use crate::services::Selection;
use crate::PushArgs;

pub async fn login(_ctx: &Ctx) -> Result<()> { bail!("not yet implemented") }
pub async fn create(_ctx: &Ctx, _s: Selection) -> Result<()> { bail!("not yet implemented") }
pub async fn mirror_base(_ctx: &Ctx) -> Result<()> { bail!("not yet implemented") }
pub async fn push(_ctx: &Ctx, _a: &PushArgs) -> Result<()> { bail!("not yet implemented") }
