//! What `sandbox up` leaves for `status`, `down`, demo, test and bench, and
//! the settings, exports and environment file it makes of it.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::Layout;
use crate::environment::{self, EnvironmentFile};
use crate::flags::{BaseImages, Settings};

/// What `up` leaves for `status`, `down`, demo, test and bench.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct State {
    pub moto_port: u16,
    pub registry_port: u16,
    pub bridge_port: u16,
    /// The load balancer's HTTP listener port (what `lb create` gives it: it redirects to HTTPS).
    pub lb_port: u16,
    /// Its HTTPS listener's port, with `certificate_arn` (the sandbox's ACM), signed by `ca_file`.
    pub lb_https_port: u16,
    pub certificate_arn: String,
    pub ca_file: PathBuf,
    pub region: String,
    pub vpc_id: String,
    pub subnets: Vec<String>,
    pub security_group: String,
    /// moto as the tasks reach it: on their network's gateway address.
    pub task_endpoint: String,
    pub network: String,
    pub gateway: String,
    pub user_pool_id: String,
    pub user_pool_client_id: String,
    pub ecs_running: u32,
}

pub const REGION: &str = "us-east-1";
/// The account moto serves (its default).
pub const SANDBOX_ACCOUNT: &str = "123456789012";

impl State {
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.moto_port)
    }
    pub fn registry(&self) -> String {
        format!("127.0.0.1:{}", self.registry_port)
    }
    /// The load balancer, as a browser on this machine reaches it (trusting `ca_file`).
    pub fn lb_url(&self) -> String {
        format!("https://127.0.0.1:{}", self.lb_https_port)
    }

    /// The tool's settings for this sandbox: what demo, test and bench use,
    /// and what `env.sh` exports.
    pub fn settings(&self, base: &Settings) -> Settings {
        Settings {
            registry: Some(self.registry()),
            subnets: self.subnets.clone(),
            security_groups: vec![self.security_group.clone()],
            vpc_id: Some(self.vpc_id.clone()),
            base_images: Some(BaseImages::Sandbox),
            build_network: Some("host".into()),
            lb_port: Some(self.lb_port),
            lb_https_port: Some(self.lb_https_port),
            certificate_arn: Some(self.certificate_arn.clone()),
            frontend_url: Some(self.lb_url()),
            backend_url: Some(self.lb_url()),
            cognito_user_pool_id: Some(self.user_pool_id.clone()),
            cognito_client_id: Some(self.user_pool_client_id.clone()),
            cognito_endpoint: Some(self.endpoint()),
            cognito_jwks_url: Some(format!(
                "{}/{}/.well-known/jwks.json",
                self.task_endpoint, self.user_pool_id
            )),
            task_aws_endpoint: Some(self.task_endpoint.clone()),
            // The load balancer's proxy reaches the tasks from the network's gateway.
            forwarded_allow_ips: Some(self.gateway.clone()),
            ..base.clone()
        }
    }

    /// The AWS SDK's variables that point the tool (and the aws CLI) at this sandbox.
    pub fn aws_env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL", self.endpoint()),
            ("AWS_ACCESS_KEY_ID", "sandbox".into()),
            ("AWS_SECRET_ACCESS_KEY", "sandbox".into()),
            ("AWS_REGION", self.region.clone()),
            ("AWS_DEFAULT_REGION", self.region.clone()),
            ("AWS_EC2_METADATA_DISABLED", "true".into()),
        ]
    }

    /// The sandbox as an environment (`--env sandbox`): its settings, and its
    /// AWS endpoint; it is an account of its own.
    pub fn environment(&self) -> EnvironmentFile {
        let s = self.settings(&Settings::default());
        EnvironmentFile {
            account_id: SANDBOX_ACCOUNT.into(),
            region: self.region.clone(),
            dedicated_account: true,
            registry: s.registry,
            subnets: s.subnets,
            security_groups: s.security_groups,
            vpc_id: s.vpc_id,
            frontend_url: s.frontend_url,
            backend_url: s.backend_url,
            forwarded_allow_ips: s.forwarded_allow_ips,
            task_aws_endpoint: s.task_aws_endpoint,
            base_images: Some("sandbox".into()),
            build_network: s.build_network,
            cognito: Some(environment::Cognito {
                user_pool_id: s.cognito_user_pool_id,
                client_id: s.cognito_client_id,
                endpoint: s.cognito_endpoint,
                jwks_url: s.cognito_jwks_url,
            }),
            load_balancer: Some(environment::LoadBalancer {
                port: s.lb_port,
                https_port: s.lb_https_port,
                certificate_arn: s.certificate_arn,
            }),
            aws: Some(environment::AwsAccess {
                profile: None,
                endpoint_url: Some(self.endpoint()),
            }),
            ..EnvironmentFile::default()
        }
    }

    /// Everything a shell (or a child process) needs: the SDK's variables and the settings.
    pub fn exports(&self) -> Vec<(&'static str, String)> {
        let mut exports = self.aws_env();
        let settings = self.settings(&Settings::default());
        exports.extend(
            settings
                .to_env()
                .into_iter()
                .filter(|(name, value)| *name != "CRUDDUR_CLUSTER" && !value.is_empty()),
        );
        exports
    }
}

pub fn read_state(layout: &Layout) -> Option<State> {
    let text = std::fs::read_to_string(layout.path("state.json")).ok()?;
    serde_json::from_str(&text).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::environment::Environment;

    #[test]
    fn the_sandbox_is_an_environment_with_the_settings_its_exports_give() {
        let state = State {
            moto_port: 4700,
            registry_port: 4701,
            bridge_port: 4702,
            lb_port: 4703,
            lb_https_port: 4704,
            certificate_arn: "arn:aws:acm:us-east-1:123456789012:certificate/x".into(),
            ca_file: "/state/ca/ca.pem".into(),
            region: REGION.into(),
            vpc_id: "vpc-1".into(),
            subnets: vec!["subnet-a".into(), "subnet-b".into()],
            security_group: "sg-1".into(),
            task_endpoint: "http://172.18.0.1:4700".into(),
            network: "cruddur-sandbox".into(),
            gateway: "172.18.0.1".into(),
            user_pool_id: "us-east-1_pool".into(),
            user_pool_client_id: "client".into(),
            ecs_running: 1,
        };
        let text = basic_toml::to_string(&state.environment()).unwrap();
        let file = environment::parse(&text, "sandbox.toml").unwrap();
        let env = Environment::new("sandbox".into(), "sandbox.toml".into(), file).unwrap();
        assert_eq!(env.suffix, "", "the sandbox is an account of its own");
        assert_eq!(
            env.aws().endpoint_url.as_deref(),
            Some("http://127.0.0.1:4700")
        );
        let mut from_file = Settings {
            cluster: "x".into(),
            ..Settings::default()
        };
        env.apply(&mut from_file);
        let exported = state.settings(&Settings::default());
        // Past the cluster and the account, which only the file sets.
        assert_eq!(from_file.to_env()[2..], exported.to_env()[1..]);
        assert_eq!(from_file.cluster, "cruddur");
        assert_eq!(from_file.account.as_deref(), Some(SANDBOX_ACCOUNT));
    }
}
