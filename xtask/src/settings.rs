//! The settings: values that differ between the sandbox, a developer's AWS
//! account and production, read once from flags or the environment.

use std::path::PathBuf;

use clap::{Args, ValueEnum};

use crate::environment::Environment;
use crate::services::Service;

/// Values that differ between the sandbox, a developer's AWS account and
/// production. Read once, here (flag or environment variable); commands get
/// them through `Ctx`, never from the process environment.
#[derive(Args, Debug, Clone, Default)]
#[command(next_help_heading = "Settings (a flag, or the environment variable named)")]
pub struct Settings {
    /// The environment to act on: `infra/environments/NAME.toml` (`sandbox`: the one
    /// `sandbox up` writes), or a path to such a file. Its values win over the
    /// variables below; a flag given on the command line wins over it.
    #[arg(
        long = "env",
        global = true,
        env = "CRUDDUR_ENV",
        value_name = "NAME|FILE"
    )]
    pub env: Option<String>,
    /// ECS cluster.
    #[arg(
        long,
        global = true,
        env = "CRUDDUR_CLUSTER",
        default_value = "cruddur"
    )]
    pub cluster: String,
    /// AWS account (default: asked of STS).
    #[arg(long, global = true, env = "AWS_ACCOUNT_ID", value_name = "ID")]
    pub account: Option<String>,
    /// Registry images go to and task definitions pull from (default: the account's ECR).
    #[arg(long, global = true, env = "CRUDDUR_ECR_REGISTRY", value_name = "HOST")]
    pub registry: Option<String>,
    /// Base images for builds (default: mirror when the registry is known, else public).
    #[arg(long, global = true, env = "CRUDDUR_BASE_IMAGES", value_enum)]
    pub base_images: Option<BaseImages>,
    /// Subnets for the services (comma-separated; needed to create a service).
    #[arg(
        long,
        global = true,
        env = "CRUDDUR_SUBNETS",
        value_delimiter = ',',
        value_name = "IDS"
    )]
    pub subnets: Vec<String>,
    /// Security groups of the services (comma-separated; needed to create a service).
    #[arg(
        long = "security-group",
        global = true,
        env = "CRUDDUR_SECURITY_GROUP",
        value_delimiter = ',',
        value_name = "IDS"
    )]
    pub security_groups: Vec<String>,
    /// `--network` for `docker build` (`host` on daemons without a bridge).
    #[arg(
        long,
        global = true,
        env = "CRUDDUR_BUILD_NETWORK",
        value_name = "NAME"
    )]
    pub build_network: Option<String>,
    /// The front end's public address: the backend's CORS origin in ECS.
    #[arg(long, global = true, env = "CRUDDUR_FRONTEND_URL", value_name = "URL")]
    pub frontend_url: Option<String>,
    /// The API's public address: the prod front end's (its task definition's environment,
    /// read when its container starts) and the backend's own URL in ECS (default:
    /// https://api.cruddur.com).
    #[arg(long, global = true, env = "CRUDDUR_BACKEND_URL", value_name = "URL")]
    pub backend_url: Option<String>,
    /// Cognito user pool the deployed services sign in with.
    #[arg(
        long,
        global = true,
        env = "AWS_COGNITO_USER_POOL_ID",
        value_name = "ID"
    )]
    pub cognito_user_pool_id: Option<String>,
    /// Cognito app client of that pool.
    #[arg(
        long,
        global = true,
        env = "AWS_COGNITO_USER_POOL_CLIENT_ID",
        value_name = "ID"
    )]
    pub cognito_client_id: Option<String>,
    /// The address `run` and `up` publish the services' ports on (default: 127.0.0.1,
    /// this machine only; `0.0.0.0` makes them reachable from the network).
    #[arg(
        long,
        global = true,
        env = "CRUDDUR_PUBLISH_ADDRESS",
        value_name = "IP"
    )]
    pub publish_address: Option<String>,
    /// Where the browser reaches Cognito (default: AWS's regional endpoint).
    #[arg(
        long,
        global = true,
        env = "CRUDDUR_COGNITO_ENDPOINT",
        value_name = "URL"
    )]
    pub cognito_endpoint: Option<String>,
    /// The VPC of the subnets (the load balancer's target groups need it).
    #[arg(long, global = true, env = "CRUDDUR_VPC_ID", value_name = "ID")]
    pub vpc_id: Option<String>,
    /// The load balancer's HTTP listener port, which redirects to HTTPS (default 80).
    #[arg(long, global = true, env = "CRUDDUR_LB_PORT", value_name = "PORT")]
    pub lb_port: Option<u16>,
    /// The load balancer's HTTPS listener port (default 443).
    #[arg(
        long,
        global = true,
        env = "CRUDDUR_LB_HTTPS_PORT",
        value_name = "PORT"
    )]
    pub lb_https_port: Option<u16>,
    /// The ACM certificate of the HTTPS listener: it must cover the front end's and the
    /// API's host names (needed to create the load balancer; `sandbox up` exports its own).
    #[arg(
        long,
        global = true,
        env = "CRUDDUR_CERTIFICATE_ARN",
        value_name = "ARN"
    )]
    pub certificate_arn: Option<String>,
    /// Addresses or CIDRs allowed to set the backend's X-Forwarded-* headers: the load
    /// balancer's network (default: 127.0.0.1, nothing else trusted).
    #[arg(
        long,
        global = true,
        env = "CRUDDUR_FORWARDED_ALLOW_IPS",
        value_name = "CIDRS"
    )]
    pub forwarded_allow_ips: Option<String>,
    /// Where the deployed backend sends traces (OTLP; e.g. https://api.honeycomb.io
    /// with the SSM secret OTEL_EXPORTER_OTLP_HEADERS; default: tracing off).
    #[arg(long, global = true, env = "CRUDDUR_OTLP_ENDPOINT", value_name = "URL")]
    pub otlp_endpoint: Option<String>,
    /// Where tasks reach AWS (the sandbox's moto as tasks see it; unset on AWS).
    #[arg(
        long,
        global = true,
        env = "CRUDDUR_TASK_AWS_ENDPOINT",
        value_name = "URL"
    )]
    pub task_aws_endpoint: Option<String>,
    /// The Cognito key set as tasks reach it (unset on AWS: derived from the pool id).
    #[arg(
        long,
        global = true,
        env = "CRUDDUR_COGNITO_JWKS_URL",
        value_name = "URL"
    )]
    pub cognito_jwks_url: Option<String>,
    /// The repository to act on (tests point it at a scratch copy).
    #[arg(long, global = true, env = "CRUDDUR_ROOT", hide = true)]
    pub root: Option<PathBuf>,
    /// The environment `--env` named, loaded (`Ctx::new` fills it).
    #[arg(skip)]
    pub environment: Option<Environment>,
    /// Which settings the command line and the process environment gave.
    #[arg(skip)]
    pub given: Given,
}

/// Where the settings came from: an environment file yields to a flag, and
/// sets aside a variable.
#[derive(Debug, Clone, Default)]
pub struct Given {
    /// The ids (field names) of the settings given as flags.
    pub flags: Vec<String>,
    /// The ids of the settings taken from variables, with the variable's name.
    pub variables: Vec<(String, String)>,
}

impl Settings {
    /// What the names of `infra/` end in: the environment's suffix, or nothing.
    pub fn env_suffix(&self) -> &str {
        self.environment.as_ref().map_or("", |e| e.suffix.as_str())
    }

    /// `service`'s task definition family (the file's `family` with the suffix).
    pub fn family(&self, service: &Service) -> String {
        format!("{}{}", service.name, self.env_suffix())
    }

    /// The ECR tag naming the image last deployed successfully to this
    /// environment (environments sharing an account share the repositories).
    pub fn latest_tag(&self) -> String {
        format!("latest{}", self.env_suffix())
    }

    pub fn publish_address(&self) -> &str {
        self.publish_address.as_deref().unwrap_or("127.0.0.1")
    }

    /// The settings as the environment variables that set them, for the
    /// tool's own child processes (demo and bench run AWS commands as children).
    pub fn to_env(&self) -> Vec<(&'static str, String)> {
        let mut env = vec![("CRUDDUR_CLUSTER", self.cluster.clone())];
        if let Some(name) = &self.env {
            env.push(("CRUDDUR_ENV", name.clone()));
        }
        let mut put = |name: &'static str, value: Option<String>| {
            if let Some(value) = value {
                env.push((name, value));
            }
        };
        put("AWS_ACCOUNT_ID", self.account.clone());
        put("CRUDDUR_ECR_REGISTRY", self.registry.clone());
        put(
            "CRUDDUR_BASE_IMAGES",
            self.base_images
                .and_then(|b| b.to_possible_value())
                .map(|v| v.get_name().to_string()),
        );
        put(
            "CRUDDUR_SUBNETS",
            Some(self.subnets.join(",")).filter(|s| !s.is_empty()),
        );
        put(
            "CRUDDUR_SECURITY_GROUP",
            Some(self.security_groups.join(",")).filter(|s| !s.is_empty()),
        );
        put("CRUDDUR_BUILD_NETWORK", self.build_network.clone());
        put("CRUDDUR_FRONTEND_URL", self.frontend_url.clone());
        put("CRUDDUR_BACKEND_URL", self.backend_url.clone());
        put(
            "AWS_COGNITO_USER_POOL_ID",
            self.cognito_user_pool_id.clone(),
        );
        put(
            "AWS_COGNITO_USER_POOL_CLIENT_ID",
            self.cognito_client_id.clone(),
        );
        put("CRUDDUR_COGNITO_ENDPOINT", self.cognito_endpoint.clone());
        put("CRUDDUR_PUBLISH_ADDRESS", self.publish_address.clone());
        put("CRUDDUR_VPC_ID", self.vpc_id.clone());
        put("CRUDDUR_LB_PORT", self.lb_port.map(|p| p.to_string()));
        put(
            "CRUDDUR_LB_HTTPS_PORT",
            self.lb_https_port.map(|p| p.to_string()),
        );
        put("CRUDDUR_CERTIFICATE_ARN", self.certificate_arn.clone());
        put(
            "CRUDDUR_FORWARDED_ALLOW_IPS",
            self.forwarded_allow_ips.clone(),
        );
        put("CRUDDUR_TASK_AWS_ENDPOINT", self.task_aws_endpoint.clone());
        put("CRUDDUR_OTLP_ENDPOINT", self.otlp_endpoint.clone());
        put("CRUDDUR_COGNITO_JWKS_URL", self.cognito_jwks_url.clone());
        put(
            "CRUDDUR_ROOT",
            self.root.as_ref().map(|r| r.display().to_string()),
        );
        env
    }
}

/// Where the Dockerfiles' base images come from.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum BaseImages {
    /// The images `sandbox base-images` makes offline from Debian packages.
    Sandbox,
    /// The account's ECR copy of the Python image (`ecr mirror-base`).
    Mirror,
    /// Docker Hub.
    Public,
}
