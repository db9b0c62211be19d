//! The addresses a deployed front end hands to its users' browsers, checked
//! at deploy time. The front end's image bakes no address in (its container
//! reads them from the task definition's environment at start), so what would
//! send users to a developer's machine is the task definition deploy is about
//! to register: a localhost, loopback or Gitpod/Codespaces address is refused
//! when the images come from a real ECR (the sandbox's registry is on
//! loopback, and its addresses are loopback too).

use anyhow::Result;

use super::TaskDefinition;
use crate::errors::BadInput;

/// Environment variables of a container that name an address a browser
/// calls, and the setting that fills each (`infra/task-definitions/`).
pub const BROWSER_ADDRESSES: [(&str, &str); 2] = [
    ("REACT_APP_BACKEND_URL", "CRUDDUR_BACKEND_URL"),
    ("REACT_APP_AWS_COGNITO_ENDPOINT", "CRUDDUR_COGNITO_ENDPOINT"),
];

/// The host of `url` (`scheme://host[:port]/…`, or `host[:port]`), lower-case,
/// IPv6 without its brackets.
fn host(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let authority = authority.rsplit_once('@').map_or(authority, |(_, a)| a);
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => authority.split(':').next().unwrap_or(""),
    };
    host.trim_end_matches('.').to_ascii_lowercase()
}

/// An address only a developer's machine (or its cloud workspace) answers on.
pub fn is_local_address(url: &str) -> bool {
    let host = host(url);
    host == "localhost"
        || host.ends_with(".localhost")
        || host.starts_with("127.")
        || host == "0.0.0.0"
        || host == "::1"
        || host == "::"
        || host.ends_with(".gitpod.io")
        || host.ends_with(".github.dev")
}

/// The front end's and the API's addresses when the settings name none (the
/// task definitions' defaults).
pub const DEFAULT_FRONTEND_URL: &str = "https://cruddur.com";
pub const DEFAULT_BACKEND_URL: &str = "https://api.cruddur.com";

/// The host names users reach Cruddur by, each with the setting that gives
/// it: what the load balancer's certificate must cover.
pub fn public_host_names(settings: &crate::flags::Settings) -> Vec<(&'static str, String)> {
    vec![
        (
            "CRUDDUR_FRONTEND_URL",
            host(
                settings
                    .frontend_url
                    .as_deref()
                    .unwrap_or(DEFAULT_FRONTEND_URL),
            ),
        ),
        (
            "CRUDDUR_BACKEND_URL",
            host(
                settings
                    .backend_url
                    .as_deref()
                    .unwrap_or(DEFAULT_BACKEND_URL),
            ),
        ),
    ]
}

/// Whether a certificate for `names` (its subject alternative names and
/// domain name, as ACM lists them) is valid for `host`: the same name, or a
/// wildcard `*.example.com` for exactly one label more (`api.example.com`,
/// not `example.com` nor `a.b.example.com`), case-insensitive as DNS is.
pub fn certificate_covers(names: &[String], host: &str) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    names.iter().any(|name| {
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        match name.strip_prefix("*.") {
            Some(parent) => host
                .split_once('.')
                .is_some_and(|(label, rest)| !label.is_empty() && rest == parent),
            None => name == host,
        }
    })
}

/// A real ECR registry host (`<account>.dkr.ecr.<region>.amazonaws.com`).
pub fn is_real_ecr(registry: &str) -> bool {
    registry.contains(".dkr.ecr.") && registry.ends_with(".amazonaws.com")
}

/// Refuses (bad input, exit 2) a task definition whose containers would send
/// browsers to a local address, when its images come from a real ECR. Every
/// such address is named, with the setting to change. Deploy calls it with the
/// filled task definition before anything is built, pushed or registered.
pub fn refuse_local_addresses_for_ecr(registry: &str, td: &TaskDefinition) -> Result<()> {
    if !is_real_ecr(registry) {
        return Ok(());
    }
    let mut problems = Vec::new();
    for container in &td.container_definitions {
        for env in &container.environment {
            let setting = BROWSER_ADDRESSES
                .iter()
                .find(|(name, _)| *name == env.name)
                .map(|(_, setting)| *setting);
            if let Some(setting) = setting.filter(|_| is_local_address(&env.value)) {
                problems.push(format!(
                    "container {}'s {} is {}, which only a developer's machine answers: \
                     set {setting} to the public address",
                    container.name, env.name, env.value
                ));
            }
        }
    }
    if problems.is_empty() {
        return Ok(());
    }
    Err(BadInput(format!(
        "{}: its images come from {registry}, a real ECR: {}",
        td.family,
        problems.join("; ")
    ))
    .into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::infra::{load_task_definition, NameValue, Placeholders};

    const ECR: &str = "123456789012.dkr.ecr.us-east-1.amazonaws.com";

    /// The repository's front-end task definition, filled as deploy fills it.
    fn frontend(settings: &[(&str, &str)]) -> TaskDefinition {
        let mut flags = crate::flags::Settings::default();
        for (name, value) in settings {
            let value = Some((*value).to_string());
            match *name {
                "CRUDDUR_BACKEND_URL" => flags.backend_url = value,
                "CRUDDUR_COGNITO_ENDPOINT" => flags.cognito_endpoint = value,
                "AWS_COGNITO_USER_POOL_ID" => flags.cognito_user_pool_id = value,
                "AWS_COGNITO_USER_POOL_CLIENT_ID" => flags.cognito_client_id = value,
                other => panic!("no such setting in this test: {other}"),
            }
        }
        let mut p = Placeholders::from_settings(&flags);
        p.set("AWS_ACCOUNT_ID", "123456789012")
            .set("AWS_REGION", "us-east-1")
            .set("IMAGE", format!("{ECR}/frontend-react-js@sha256:abc"));
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).parent();
        let file = root
            .unwrap()
            .join("infra/task-definitions/frontend-react-js.json");
        load_task_definition(&file, &p).unwrap()
    }

    #[test]
    fn a_certificate_covers_its_names_and_one_label_under_a_wildcard() {
        let names = vec!["cruddur.com".to_string(), "*.Cruddur.com".to_string()];
        assert!(certificate_covers(&names, "cruddur.com"));
        assert!(certificate_covers(&names, "API.cruddur.com."));
        assert!(!certificate_covers(&names, "a.b.cruddur.com"));
        assert!(!certificate_covers(&names, "cruddur.org"));
        assert!(!certificate_covers(
            &["*.cruddur.com".into()],
            "cruddur.com"
        ));
        assert!(certificate_covers(&["127.0.0.1".into()], "127.0.0.1"));
    }

    #[test]
    fn the_public_host_names_come_from_the_settings_or_the_defaults() {
        let mut settings = crate::flags::Settings::default();
        assert_eq!(
            public_host_names(&settings),
            [
                ("CRUDDUR_FRONTEND_URL", "cruddur.com".to_string()),
                ("CRUDDUR_BACKEND_URL", "api.cruddur.com".to_string())
            ]
        );
        settings.frontend_url = Some("https://127.0.0.1:4704".into());
        settings.backend_url = Some("https://127.0.0.1:4704/".into());
        let hosts: Vec<String> = public_host_names(&settings)
            .into_iter()
            .map(|(_, h)| h)
            .collect();
        assert_eq!(hosts, ["127.0.0.1", "127.0.0.1"]);
    }

    #[test]
    fn local_addresses_are_recognised() {
        for url in [
            "http://localhost:4567",
            "http://LOCALHOST:4567/",
            "http://app.localhost",
            "http://127.0.0.1:4703",
            "http://127.1.2.3",
            "http://0.0.0.0:4567",
            "http://[::1]:4567/api",
            "https://4567-abc.ws-eu1.gitpod.io",
            "https://x-4567.app.github.dev/",
            "http://user@localhost:4567",
            "localhost:4567",
        ] {
            assert!(is_local_address(url), "{url}");
        }
        for url in [
            "https://api.cruddur.com",
            "https://cognito-idp.us-east-1.amazonaws.com/",
            "http://10.0.0.5:4567",
            "https://localhost.example.com",
            "https://gitpod.io.example.com",
        ] {
            assert!(!is_local_address(url), "{url}");
        }
        assert!(is_real_ecr(ECR));
        assert!(!is_real_ecr("127.0.0.1:4701"));
    }

    #[test]
    fn a_local_api_or_cognito_address_is_refused_for_a_real_ecr() {
        let td = frontend(&[
            ("CRUDDUR_BACKEND_URL", "http://localhost:4567"),
            ("CRUDDUR_COGNITO_ENDPOINT", "http://127.0.0.1:4700"),
        ]);
        let err = refuse_local_addresses_for_ecr(ECR, &td).unwrap_err();
        assert!(err.downcast_ref::<BadInput>().is_some(), "exit 2: {err}");
        let msg = err.to_string();
        assert!(msg.starts_with("frontend-react-js: "), "{msg}");
        assert!(msg.contains(ECR), "{msg}");
        assert!(
            msg.contains("REACT_APP_BACKEND_URL is http://localhost:4567")
                && msg.contains("set CRUDDUR_BACKEND_URL"),
            "{msg}"
        );
        assert!(
            msg.contains("REACT_APP_AWS_COGNITO_ENDPOINT is http://127.0.0.1:4700")
                && msg.contains("set CRUDDUR_COGNITO_ENDPOINT"),
            "{msg}"
        );
        let gitpod = frontend(&[("CRUDDUR_BACKEND_URL", "https://4567-abc.ws-eu1.gitpod.io")]);
        assert!(refuse_local_addresses_for_ecr(ECR, &gitpod).is_err());
    }

    #[test]
    fn public_addresses_and_the_sandbox_registry_pass() {
        let public = frontend(&[
            ("CRUDDUR_BACKEND_URL", "https://api.cruddur.com"),
            ("AWS_COGNITO_USER_POOL_ID", "us-east-1_abc"),
            ("AWS_COGNITO_USER_POOL_CLIENT_ID", "client"),
        ]);
        refuse_local_addresses_for_ecr(ECR, &public).unwrap();
        // The default when CRUDDUR_BACKEND_URL is unset is a public address too.
        refuse_local_addresses_for_ecr(ECR, &frontend(&[])).unwrap();
        let sandbox = frontend(&[
            ("CRUDDUR_BACKEND_URL", "http://127.0.0.1:4703"),
            ("CRUDDUR_COGNITO_ENDPOINT", "http://127.0.0.1:4700"),
        ]);
        refuse_local_addresses_for_ecr("127.0.0.1:4701", &sandbox).unwrap();
    }

    #[test]
    fn deploy_can_check_before_it_builds_from_the_settings_alone() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).parent();
        let mut ctx = crate::Ctx::for_tests();
        ctx.root = root.unwrap().to_path_buf();
        ctx.settings.backend_url = Some("http://127.0.0.1:4567".into());
        let frontend = &crate::services::FRONTEND;
        let err = crate::infra::refuse_local_addresses_in_files(&ctx, frontend, ECR).unwrap_err();
        assert!(err.downcast_ref::<BadInput>().is_some(), "{err}");
        assert!(err.to_string().contains("CRUDDUR_BACKEND_URL"), "{err}");
        crate::infra::refuse_local_addresses_in_files(&ctx, frontend, "127.0.0.1:4701").unwrap();
        // The backend's own URLs are not what its users' browsers call.
        crate::infra::refuse_local_addresses_in_files(&ctx, &crate::services::BACKEND, ECR)
            .unwrap();
    }

    #[test]
    fn only_the_browser_addresses_are_checked() {
        // A sidecar on the task's own loopback (the X-Ray daemon, a collector)
        // is not an address a browser calls.
        let mut td = frontend(&[("CRUDDUR_BACKEND_URL", "https://api.cruddur.com")]);
        td.container_definitions[0].environment.push(NameValue {
            name: "OTEL_EXPORTER_OTLP_ENDPOINT".into(),
            value: "http://localhost:4318".into(),
        });
        refuse_local_addresses_for_ecr(ECR, &td).unwrap();
    }
}
