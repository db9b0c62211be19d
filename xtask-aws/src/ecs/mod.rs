//! ECS through aws-sdk-ecs: cluster, services, and a deploy that says "done"
//! only when its own deployment has completed; otherwise it explains the
//! failure from ECS's events and stopped tasks, and rolls back on timeout.

mod client;
mod connect;
mod convert;
mod create;
mod deploy;
mod diff;
mod log_streams;
mod logs;
mod revision;
mod rollout;
mod scale;
mod status;
mod task;
mod verify;
mod watch;

pub use client::Ecs;
pub use connect::connect;
pub use create::{create_cluster, create_load_balancer, create_services};
pub use deploy::{deploy, deploy_images, DeployOpts};
pub use diff::diff;
pub use logs::logs;
pub use revision::Image;
pub use rollout::rollback;
pub use rollout::unfinished_rollout;
pub use scale::scale;
pub use status::status;
pub use task::task;
pub use verify::verify;
pub use verify::{preflight_images, Images};
