//! ECS.
use anyhow::{bail, Result};
use crate::exec::Ctx;
use crate::services::{Selection, Service};
use crate::{AwsOpts, DeployArgs, WatchOpts};

pub async fn create_cluster(_ctx: &Ctx, _a: &AwsOpts) -> Result<()> { bail!("not yet implemented") }
pub async fn create_services(_ctx: &Ctx, _a: &AwsOpts, _s: Selection) -> Result<()> { bail!("not yet implemented") }
pub async fn deploy(_ctx: &Ctx, _a: &DeployArgs) -> Result<()> { bail!("not yet implemented") }
pub async fn diff(_ctx: &Ctx, _a: &AwsOpts, _s: &Service) -> Result<()> { bail!("not yet implemented") }
pub async fn rollback(_ctx: &Ctx, _a: &AwsOpts, _s: &Service, _to: Option<u32>, _w: &WatchOpts) -> Result<()> { bail!("not yet implemented") }
pub async fn status(_ctx: &Ctx, _a: &AwsOpts, _s: Selection) -> Result<()> { bail!("not yet implemented") }
pub async fn connect(_ctx: &Ctx, _a: &AwsOpts, _s: &Service, _c: &str) -> Result<()> { bail!("not yet implemented") }
