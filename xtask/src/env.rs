//! `cargo xtask env`: the two services' env files, rendered from askama
//! templates (checked at compile time against the structs below) and the
//! process environment.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use anyhow::{bail, Context as _, Result};
use askama::Template;

use crate::ctx::Ctx;
use crate::errors::BadInput;
use crate::files::write_atomic;
use crate::flags::EnvArgs;
use crate::services::{Service, BACKEND, FRONTEND};

pub const DEFAULT_CONNECTION_URL: &str = "postgresql://postgres:password@db:5432/cruddur";
pub const DEFAULT_DYNAMODB_ENDPOINT: &str = "http://dynamodb-local:8000";
pub const DEFAULT_XRAY_DAEMON: &str = "xray-daemon:2000";
pub const HONEYCOMB_ENDPOINT: &str = "https://api.honeycomb.io";
/// The local stack's AWS keys (`backend-flask.env.txt` writes them as they
/// are): moto's DynamoDB takes any, and a developer's real keys never go
/// into a container (issue 31); on ECS the task role's credentials are used.
pub const DEVELOPMENT_ACCESS_KEY: &str = "cruddur-local-development";

#[derive(Template)]
#[template(path = "backend-flask.env.txt")]
struct BackendEnv {
    frontend_url: Value,
    backend_url: Value,
    connection_url: Value,
    aws_default_region: Value,
    aws_endpoint_url_dynamodb: Value,
    otel_service_name: Value,
    otel_exporter_otlp_endpoint: Value,
    otel_exporter_otlp_headers: Value,
    aws_xray_url: Value,
    aws_xray_daemon_address: Value,
    aws_cognito_user_pool_id: Value,
    aws_cognito_user_pool_client_id: Value,
    rollbar_access_token: Value,
}

#[derive(Template)]
#[template(path = "frontend-react-js.env.txt")]
struct FrontendEnv {
    react_app_backend_url: Value,
    react_app_aws_project_region: Value,
    react_app_aws_cognito_region: Value,
    react_app_aws_user_pools_id: Value,
    react_app_client_id: Value,
}

/// One value of an env file, already checked to be writable in the format.
struct Value {
    text: String,
    secret: bool,
    masked: bool,
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.masked && self.secret && !self.text.is_empty() {
            f.write_str("***")
        } else {
            f.write_str(&self.text)
        }
    }
}

/// Reads variables (empty counts as unset) and collects every problem, so one
/// run names all missing variables at once.
struct Resolver<'a> {
    get: &'a dyn Fn(&str) -> Option<String>,
    masked: bool,
    missing: Vec<String>,
    unwritable: Vec<String>,
}

impl<'a> Resolver<'a> {
    fn lookup(&self, names: &[&str]) -> Option<String> {
        names
            .iter()
            .find_map(|n| (self.get)(n).filter(|v| !v.is_empty()))
    }

    fn value(&mut self, key: &str, text: String, secret: bool) -> Value {
        if let Err(why) = check_writable(&text) {
            let shown = if secret {
                String::new()
            } else {
                format!(" ({text:?})")
            };
            self.unwritable.push(format!("{key}{shown}: {why}"));
        }
        Value {
            text,
            secret,
            masked: self.masked,
        }
    }

    fn required(&mut self, key: &str, sources: &[&str], secret: bool) -> Value {
        let text = self.lookup(sources).unwrap_or_else(|| {
            let name = sources.join(" or ");
            if !self.missing.contains(&name) {
                self.missing.push(name);
            }
            String::new()
        });
        self.value(key, text, secret)
    }

    fn optional(&mut self, key: &str, sources: &[&str], default: &str, secret: bool) -> Value {
        let text = self.lookup(sources).unwrap_or_else(|| default.to_string());
        self.value(key, text, secret)
    }
}

/// Where the app is reached from a browser: Gitpod, Codespaces or localhost.
pub fn public_url(get: &dyn Fn(&str) -> Option<String>, port: u16) -> String {
    let var = |n: &str| get(n).filter(|v| !v.is_empty());
    if let (Some(id), Some(host)) = (
        var("GITPOD_WORKSPACE_ID"),
        var("GITPOD_WORKSPACE_CLUSTER_HOST"),
    ) {
        return format!("https://{port}-{id}.{host}");
    }
    if let (Some(name), Some(domain)) = (
        var("CODESPACE_NAME"),
        var("GITHUB_CODESPACES_PORT_FORWARDING_DOMAIN"),
    ) {
        return format!("https://{name}-{port}.{domain}");
    }
    format!("http://localhost:{port}")
}

const REGION: &[&str] = &["AWS_DEFAULT_REGION", "AWS_REGION"];

fn backend_env(r: &mut Resolver) -> BackendEnv {
    let frontend_url = r
        .lookup(&["FRONTEND_URL"])
        .unwrap_or_else(|| public_url(r.get, FRONTEND.port));
    let backend_url = r
        .lookup(&["BACKEND_URL"])
        .unwrap_or_else(|| public_url(r.get, BACKEND.port));
    let backend_host = backend_url
        .split("://")
        .nth(1)
        .unwrap_or(&backend_url)
        .to_string();
    let honeycomb_key = r.lookup(&["HONEYCOMB_API_KEY"]);
    let otlp_endpoint = if honeycomb_key.is_some() {
        HONEYCOMB_ENDPOINT
    } else {
        ""
    };
    let otlp_headers = honeycomb_key
        .map(|k| format!("x-honeycomb-team={k}"))
        .unwrap_or_default();
    BackendEnv {
        frontend_url: r.value("FRONTEND_URL", frontend_url, false),
        backend_url: r.value("BACKEND_URL", backend_url, false),
        connection_url: r.optional(
            "CONNECTION_URL",
            &["CONNECTION_URL"],
            DEFAULT_CONNECTION_URL,
            true,
        ),
        aws_default_region: r.required("AWS_DEFAULT_REGION", REGION, false),
        aws_endpoint_url_dynamodb: r.optional(
            "AWS_ENDPOINT_URL_DYNAMODB",
            &["DYNAMODB_ENDPOINT_URL"],
            DEFAULT_DYNAMODB_ENDPOINT,
            false,
        ),
        otel_service_name: r.optional(
            "OTEL_SERVICE_NAME",
            &["OTEL_SERVICE_NAME"],
            BACKEND.name,
            false,
        ),
        otel_exporter_otlp_endpoint: r.optional(
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            &["OTEL_EXPORTER_OTLP_ENDPOINT"],
            otlp_endpoint,
            false,
        ),
        otel_exporter_otlp_headers: r.optional(
            "OTEL_EXPORTER_OTLP_HEADERS",
            &["OTEL_EXPORTER_OTLP_HEADERS"],
            &otlp_headers,
            true,
        ),
        aws_xray_url: r.optional(
            "AWS_XRAY_URL",
            &["AWS_XRAY_URL"],
            &format!("*{backend_host}*"),
            false,
        ),
        aws_xray_daemon_address: r.optional(
            "AWS_XRAY_DAEMON_ADDRESS",
            &["AWS_XRAY_DAEMON_ADDRESS"],
            DEFAULT_XRAY_DAEMON,
            false,
        ),
        aws_cognito_user_pool_id: r.optional(
            "AWS_COGNITO_USER_POOL_ID",
            &["AWS_COGNITO_USER_POOL_ID"],
            "",
            false,
        ),
        aws_cognito_user_pool_client_id: r.optional(
            "AWS_COGNITO_USER_POOL_CLIENT_ID",
            &["AWS_COGNITO_USER_POOL_CLIENT_ID"],
            "",
            false,
        ),
        rollbar_access_token: r.optional(
            "ROLLBAR_ACCESS_TOKEN",
            &["ROLLBAR_ACCESS_TOKEN"],
            "",
            true,
        ),
    }
}

fn frontend_env(r: &mut Resolver) -> FrontendEnv {
    let backend_url = r
        .lookup(&["REACT_APP_BACKEND_URL", "BACKEND_URL"])
        .unwrap_or_else(|| public_url(r.get, BACKEND.port));
    FrontendEnv {
        react_app_backend_url: r.value("REACT_APP_BACKEND_URL", backend_url, false),
        react_app_aws_project_region: r.required("REACT_APP_AWS_PROJECT_REGION", REGION, false),
        react_app_aws_cognito_region: r.required("REACT_APP_AWS_COGNITO_REGION", REGION, false),
        react_app_aws_user_pools_id: r.optional(
            "REACT_APP_AWS_USER_POOLS_ID",
            &["AWS_COGNITO_USER_POOL_ID"],
            "",
            false,
        ),
        react_app_client_id: r.optional(
            "REACT_APP_CLIENT_ID",
            &["AWS_COGNITO_USER_POOL_CLIENT_ID"],
            "",
            false,
        ),
    }
}

/// Renders the env files of `services`; every missing variable and every
/// value the format cannot carry is reported in one error.
pub fn render(
    services: &[&'static Service],
    get: &dyn Fn(&str) -> Option<String>,
    masked: bool,
) -> Result<Vec<(&'static Service, String)>> {
    let mut r = Resolver {
        get,
        masked,
        missing: Vec::new(),
        unwritable: Vec::new(),
    };
    let mut out = Vec::new();
    for &service in services {
        let text = if service.name == BACKEND.name {
            backend_env(&mut r).render()
        } else {
            frontend_env(&mut r).render()
        };
        // askama drops the template's final newline; a text file ends with one.
        out.push((service, text.context("rendering env template")? + "\n"));
    }
    let mut problems = Vec::new();
    if !r.missing.is_empty() {
        problems.push(format!(
            "missing environment variables: {} (see the README's env table for what each is)",
            r.missing.join(", ")
        ));
    }
    if !r.unwritable.is_empty() {
        problems.push(format!(
            "values an env file cannot carry: {}",
            r.unwritable.join("; ")
        ));
    }
    if !problems.is_empty() {
        bail!(BadInput(format!(
            "{}; no env file was written",
            problems.join("; ")
        )));
    }
    Ok(out)
}

/// Why `value` cannot be written so that `docker run --env-file` (which takes
/// everything after `=` verbatim) and docker compose (which parses dotenv
/// quoting, comments and `$` interpolation) read the same string.
pub fn check_writable(value: &str) -> Result<(), &'static str> {
    if value.contains(['\n', '\r', '\0']) {
        return Err("contains a line break, which env files cannot carry");
    }
    if value.starts_with(['"', '\'', '`']) {
        return Err("starts with a quote, which docker keeps but compose strips");
    }
    if value != value.trim() {
        return Err("has leading or trailing whitespace, which compose strips");
    }
    // python-dotenv (compose) ends a value at `#` after any whitespace, Unicode's included.
    let mut previous = None;
    for c in value.chars() {
        if c == '#' && previous.is_some_and(char::is_whitespace) {
            return Err(
                "has a `#` after whitespace, which compose reads as the start of a comment",
            );
        }
        previous = Some(c);
    }
    if value.contains('$') {
        return Err("contains `$`, which compose expands as a variable");
    }
    Ok(())
}

pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

pub fn run(ctx: &Ctx, args: &EnvArgs) -> Result<()> {
    let services = args.service.services();
    if args.stdout {
        let masked = !args.show_secrets;
        for (service, text) in render(&services, &process_env, masked)? {
            println!("# --- {} ---\n{text}", service.env_file_name());
        }
        return Ok(());
    }
    if args.check {
        return check_up_to_date(ctx, &render(&services, &process_env, false)?);
    }
    write(ctx, &services)
}

/// Renders and writes the env files of `services` from the process environment.
pub fn write(ctx: &Ctx, services: &[&'static Service]) -> Result<()> {
    write_with(ctx, services, &process_env)
}

/// Renders and writes the env files, reading variables through `get`.
pub fn write_with(
    ctx: &Ctx,
    services: &[&'static Service],
    get: &dyn Fn(&str) -> Option<String>,
) -> Result<()> {
    for (service, text) in render(services, get, false)? {
        let path = service.env_file(&ctx.root);
        if ctx.dry_run {
            println!("[dry-run] write {} (mode 0600)", path.display());
            continue;
        }
        write_atomic(&path, text.as_bytes())?;
        println!("wrote {}", path.display());
    }
    Ok(())
}

fn check_up_to_date(ctx: &Ctx, rendered: &[(&'static Service, String)]) -> Result<()> {
    let stale: Vec<String> = rendered
        .iter()
        .filter(|(service, text)| {
            std::fs::read_to_string(service.env_file(&ctx.root))
                .ok()
                .as_ref()
                != Some(text)
        })
        .map(|(service, _)| service.env_file_name())
        .collect();
    if !stale.is_empty() {
        bail!(
            "{} differ from what `cargo xtask env` would write now: run it",
            stale.join(" and ")
        );
    }
    println!("env files are up to date");
    Ok(())
}

/// Reads an env file we wrote (KEY=VALUE lines, values verbatim).
pub fn read_env_file(path: &Path) -> Result<BTreeMap<String, String>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(parse_env_text(&text))
}

pub fn parse_env_text(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .map(str::trim_start)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k: &str| map.get(k).cloned()
    }

    const BASE: &[(&str, &str)] = &[
        ("AWS_DEFAULT_REGION", "ca-central-1"),
        ("AWS_ACCESS_KEY_ID", "AKIAEXAMPLE"),
        ("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG"),
        (
            "CONNECTION_URL",
            "postgresql://u:db-secret-9@db:5432/cruddur",
        ),
    ];

    fn parse(text: &str) -> BTreeMap<String, String> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.env");
        std::fs::write(&path, text).unwrap();
        read_env_file(&path).unwrap()
    }

    #[test]
    fn every_template_variable_is_rendered() {
        let out = render(&[&BACKEND, &FRONTEND], &vars(BASE), false).unwrap();
        for (_, text) in &out {
            assert!(!text.contains("{{") && !text.contains("}}"), "{text}");
            assert!(text.ends_with('\n'));
        }
        let backend = parse(&out[0].1);
        assert_eq!(backend.len(), 15);
        assert_eq!(backend["FRONTEND_URL"], "http://localhost:3000");
        assert_eq!(backend["BACKEND_URL"], "http://localhost:4567");
        assert_eq!(
            backend["CONNECTION_URL"],
            "postgresql://u:db-secret-9@db:5432/cruddur"
        );
        // Never the caller's keys: the development ones (issue 31).
        assert_eq!(backend["AWS_ACCESS_KEY_ID"], DEVELOPMENT_ACCESS_KEY);
        assert_eq!(backend["AWS_SECRET_ACCESS_KEY"], DEVELOPMENT_ACCESS_KEY);
        assert_eq!(backend["AWS_XRAY_URL"], "*localhost:4567*");
        assert_eq!(backend["OTEL_EXPORTER_OTLP_ENDPOINT"], "");
        let frontend = parse(&out[1].1);
        assert_eq!(frontend.len(), 5);
        assert_eq!(frontend["REACT_APP_BACKEND_URL"], "http://localhost:4567");
        assert_eq!(frontend["REACT_APP_AWS_COGNITO_REGION"], "ca-central-1");
    }

    #[test]
    fn urls_follow_gitpod_and_codespaces() {
        let gitpod = vars(&[
            ("GITPOD_WORKSPACE_ID", "abc-123"),
            ("GITPOD_WORKSPACE_CLUSTER_HOST", "ws-us99.gitpod.io"),
        ]);
        assert_eq!(
            public_url(&gitpod, 4567),
            "https://4567-abc-123.ws-us99.gitpod.io"
        );
        let codespaces = vars(&[
            ("CODESPACE_NAME", "fuzzy-x"),
            ("GITHUB_CODESPACES_PORT_FORWARDING_DOMAIN", "app.github.dev"),
        ]);
        assert_eq!(
            public_url(&codespaces, 3000),
            "https://fuzzy-x-3000.app.github.dev"
        );
        assert_eq!(public_url(&vars(&[]), 3000), "http://localhost:3000");
    }

    #[test]
    fn honeycomb_key_turns_tracing_on_and_is_secret() {
        let mut pairs = BASE.to_vec();
        pairs.push(("HONEYCOMB_API_KEY", "hc-key-123"));
        let out = render(&[&BACKEND], &vars(&pairs), false).unwrap();
        let backend = parse(&out[0].1);
        assert_eq!(backend["OTEL_EXPORTER_OTLP_ENDPOINT"], HONEYCOMB_ENDPOINT);
        assert_eq!(
            backend["OTEL_EXPORTER_OTLP_HEADERS"],
            "x-honeycomb-team=hc-key-123"
        );
        let masked = render(&[&BACKEND], &vars(&pairs), true).unwrap();
        assert!(!masked[0].1.contains("hc-key-123"));
    }

    #[test]
    fn every_missing_variable_is_named_at_once() {
        let err = render(
            &[&BACKEND, &FRONTEND],
            &vars(&[("AWS_ACCESS_KEY_ID", "")]),
            false,
        )
        .unwrap_err();
        let msg = err.to_string();
        assert!(err.downcast_ref::<BadInput>().is_some());
        assert!(msg.contains("AWS_DEFAULT_REGION or AWS_REGION"), "{msg}");
        assert!(
            !msg.contains("AWS_ACCESS_KEY_ID"),
            "keys are not asked for: {msg}"
        );
        assert_eq!(
            msg.matches("AWS_DEFAULT_REGION").count(),
            1,
            "named once: {msg}"
        );
    }

    #[test]
    fn frontend_alone_needs_only_the_region() {
        assert!(render(&[&FRONTEND], &vars(&[("AWS_REGION", "eu-west-1")]), false).is_ok());
    }

    #[test]
    fn masked_output_hides_secrets_only() {
        let out = render(&[&BACKEND], &vars(BASE), true).unwrap();
        let text = &out[0].1;
        assert!(
            !text.contains("AKIAEXAMPLE") && !text.contains("wJalrXUtnFEMI"),
            "{text}"
        );
        assert!(!text.contains("db-secret-9"), "{text}");
        assert!(text.contains("CONNECTION_URL=***"));
        assert!(text.contains("AWS_DEFAULT_REGION=ca-central-1"));
        assert!(
            text.contains("ROLLBAR_ACCESS_TOKEN=\n"),
            "empty secrets stay empty"
        );
    }

    #[test]
    fn values_docker_and_compose_read_alike_are_written_verbatim() {
        let tricky = "postgresql://u:p#a'ss w\"rd@db:5432/x?opt=a&b=c";
        let mut pairs = BASE.to_vec();
        pairs.push(("CONNECTION_URL", tricky));
        let out = render(&[&BACKEND], &vars(&pairs), false).unwrap();
        assert_eq!(parse(&out[0].1)["CONNECTION_URL"], tricky);
    }

    #[test]
    fn values_the_format_cannot_carry_are_refused_without_echoing_secrets() {
        for (bad, why) in [
            ("line\nbreak", "line break"),
            ("'quoted'", "quote"),
            ("tail ", "whitespace"),
            ("a #comment", "comment"),
            ("pa$word", "$"),
        ] {
            let mut pairs = BASE.to_vec();
            pairs.push(("ROLLBAR_ACCESS_TOKEN", bad));
            let msg = render(&[&BACKEND], &vars(&pairs), false)
                .unwrap_err()
                .to_string();
            assert!(
                msg.contains("ROLLBAR_ACCESS_TOKEN") && msg.contains(why),
                "{msg}"
            );
            assert!(!msg.contains(bad), "secret echoed: {msg}");
        }
    }
}
