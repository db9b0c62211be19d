//! The harness every integration test uses: the tool's binary with a clean
//! environment, and sandboxes of its own (moto + registry + bridge on free
//! loopback ports, stopped when the test ends), so tests never share names.
//! A missing prerequisite fails the test with the reason; nothing is skipped.
#![allow(dead_code)]

mod aws_cli;
pub mod envs;
pub mod https;
pub mod layers;
pub mod proxy;
pub mod scratch;
pub mod stand_in;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// Variables from the developer's shell that would change what the tool does.
const SCRUBBED_PREFIXES: &[&str] = &[
    "AWS_",
    "CRUDDUR_",
    "GITPOD_",
    "CODESPACE",
    "GITHUB_CODESPACES",
    "HONEYCOMB_",
];

/// The tool, with none of the caller's AWS or Cruddur settings.
pub fn xtask(args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_xtask"));
    c.args(args).current_dir(repo_root());
    scrub(&mut c);
    c
}

/// Removes the caller's AWS and Cruddur settings from `c`'s environment.
pub fn scrub(c: &mut Command) {
    for (k, _) in std::env::vars() {
        if SCRUBBED_PREFIXES.iter().any(|p| k.starts_with(p)) {
            c.env_remove(&k);
        }
    }
    // No AWS config files either: credentials only from what a test sets.
    c.env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null");
    c.env("AWS_EC2_METADATA_DISABLED", "true");
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn all(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }
    #[track_caller]
    pub fn ok(self) -> Run {
        assert_eq!(
            self.code, 0,
            "expected success\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout, self.stderr
        );
        self
    }
    #[track_caller]
    pub fn fails_with(self, code: i32) -> Run {
        assert_eq!(
            self.code, code,
            "expected exit {code}\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout, self.stderr
        );
        self
    }
    /// The command lines a dry run printed, as argument vectors.
    pub fn dry_run_argvs(&self) -> Vec<Vec<String>> {
        self.stdout
            .lines()
            .filter_map(|l| l.strip_prefix("[dry-run] "))
            .filter_map(|l| shell_words::split(l).ok())
            .collect()
    }
}

pub fn run(mut c: Command) -> Run {
    let out: Output = c.output().expect("running xtask");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Fails the test (never skips it) when no docker daemon answers.
#[track_caller]
pub fn require_docker() {
    let ok = Command::new("docker")
        .args(["version", "--format", "{{.Server.Version}}"])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(ok, "no docker daemon answers: run the tests through `cargo xtask test` (it starts one), or start dockerd");
}

/// The offline base images (made once by `cargo xtask sandbox up`/`test`; cached after).
pub fn require_base_images() {
    require_docker();
    run(xtask(&["sandbox", "base-images"])).ok();
}

/// A sandbox of the test's own, on free loopback ports, or the one the
/// harness started for the tests to share (`Sandbox::shared`).
pub struct Sandbox {
    pub dir: SandboxDir,
    pub exports: Vec<(String, String)>,
    pub state: serde_json::Value,
    /// docker's credentials store for this test's logins alone: parallel
    /// tests' logins must not clobber each other.
    docker_config: tempfile::TempDir,
}

/// Where a sandbox keeps its state: a test's own temporary directory (the
/// sandbox stops when the test ends), or the shared sandbox's (it stays up).
pub enum SandboxDir {
    Own(tempfile::TempDir),
    Shared(PathBuf),
}

impl SandboxDir {
    pub fn path(&self) -> &Path {
        match self {
            SandboxDir::Own(dir) => dir.path(),
            SandboxDir::Shared(dir) => dir,
        }
    }
}

/// Set by `cargo xtask test` for its nextest run: the state directory of
/// the sandbox it started for the tests to share.
const SHARED_SANDBOX_ENV: &str = "CRUDDUR_TEST_SANDBOX";
/// The socket of the run's sandbox fork server (`xtask/src/testing/shared.rs`).
const FORK_SERVER_ENV: &str = "CRUDDUR_TEST_SANDBOX_FORK_SERVER";

impl Sandbox {
    /// The sandbox `cargo xtask test` started for the tests that only read
    /// what the sandbox seeded and name what they make after themselves (a
    /// cluster of their own, ...): one moto and agent for them all instead
    /// of one each. A test run without the harness (`cargo nextest run`)
    /// gets a sandbox of its own, so it still stops everything it started.
    pub fn shared() -> Sandbox {
        match std::env::var_os(SHARED_SANDBOX_ENV) {
            Some(dir) => {
                let sandbox = Sandbox::read(SandboxDir::Shared(PathBuf::from(dir)));
                assert!(
                    !sandbox.exports.is_empty(),
                    "the shared sandbox ({SHARED_SANDBOX_ENV}={}) has no env.sh: is it up?",
                    sandbox.dir.path().display()
                );
                sandbox
            }
            None => Sandbox::start(&[]),
        }
    }

    pub fn start(extra: &[&str]) -> Sandbox {
        Sandbox::start_with_env(extra, &[])
    }

    /// A sandbox started with extra variables in `up`'s environment.
    pub fn start_with_env(extra: &[&str], env: &[(&str, &str)]) -> Sandbox {
        Sandbox::launch(extra, env, true)
    }

    /// A sandbox whose registry has no layer yet (see `layers`): for the
    /// tests of the push itself, which check what it uploads.
    pub fn start_empty(extra: &[&str]) -> Sandbox {
        Sandbox::launch(extra, &[], false)
    }

    fn launch(extra: &[&str], env: &[(&str, &str)], seeded: bool) -> Sandbox {
        let dir = tempfile::Builder::new()
            .prefix("cruddur-sandbox-")
            .tempdir()
            .unwrap();
        if seeded {
            layers::seed(&dir.path().join("registry-data"));
        }
        let state_dir = dir.path().display().to_string();
        let mut args = vec![
            "sandbox",
            "up",
            "--state-dir",
            &state_dir,
            "--port-base",
            "0",
            "--no-base-images",
        ];
        args.extend_from_slice(extra);
        // Under `cargo xtask test`, forked by the run's fork server (the same
        // server, without importing moto again).
        let fork_server = std::env::var(FORK_SERVER_ENV).ok();
        if let Some(socket) = &fork_server {
            args.extend(["--fork-server", socket.as_str()]);
        }
        let mut up = xtask(&args);
        up.envs(env.iter().copied());
        let up = run(up);
        // Adopted first so a failed `up` still stops whatever it started.
        let sandbox = Sandbox::adopt(dir);
        let up = up.ok();
        assert!(
            up.stdout
                .contains("export AWS_ENDPOINT_URL=http://127.0.0.1:"),
            "{}",
            up.stdout
        );
        assert!(!sandbox.exports.is_empty(), "no env.sh written");
        if let Some(socket) = fork_server {
            assert!(
                up.stdout.contains(&format!("forked by {socket}")),
                "{}",
                up.stdout
            );
        }
        sandbox
    }

    /// A sandbox something else started in `dir` (the demo): read its exports, stop it on drop.
    pub fn adopt(dir: tempfile::TempDir) -> Sandbox {
        Sandbox::read(SandboxDir::Own(dir))
    }

    fn read(dir: SandboxDir) -> Sandbox {
        let mut sandbox = Sandbox {
            exports: Vec::new(),
            state: serde_json::Value::Null,
            dir,
            docker_config: tempfile::Builder::new()
                .prefix("cruddur-docker-config-")
                .tempdir()
                .unwrap(),
        };
        if let Ok(text) = std::fs::read_to_string(sandbox.dir.path().join("state.json")) {
            sandbox.state = serde_json::from_str(&text).unwrap_or_default();
        }
        let env_sh = std::fs::read_to_string(sandbox.dir.path().join("env.sh")).unwrap_or_default();
        sandbox.exports = env_sh
            .lines()
            .filter_map(|l| l.strip_prefix("export "))
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        sandbox
    }

    /// The tool pointed at this sandbox.
    pub fn xtask(&self, args: &[&str]) -> Command {
        let mut c = xtask(args);
        c.envs(self.exports.iter().map(|(k, v)| (k.clone(), v.clone())));
        c.env("DOCKER_CONFIG", self.docker_config());
        c
    }

    /// The docker credentials store the tool run by [`Sandbox::xtask`] uses.
    pub fn docker_config(&self) -> &Path {
        self.docker_config.path()
    }

    pub fn run(&self, args: &[&str]) -> Run {
        run(self.xtask(args))
    }

    /// The aws CLI from the sandbox's virtualenv, as an independent view of
    /// moto: through the harness's server of it when there is one
    /// (`aws_cli_server.py`: the same CLI, imported once), else run here.
    pub fn aws(&self, args: &[&str]) -> serde_json::Value {
        let mut argv: Vec<&str> = args.to_vec();
        argv.extend(["--output", "json"]);
        // The caller's AWS settings never; the sandbox's.
        let env: Vec<(String, String)> = std::env::vars()
            .filter(|(k, _)| !k.starts_with("AWS_"))
            .chain(self.exports.iter().cloned())
            .collect();
        let (code, stdout, stderr) = match std::env::var_os(aws_cli::AWS_CLI_ENV) {
            Some(socket) => aws_cli::aws_cli_server(Path::new(&socket), &argv, &env),
            None => {
                let aws = repo_root().join("target/sandbox/venv/bin/aws");
                let out = Command::new(aws)
                    .args(&argv)
                    .env_clear()
                    .envs(env)
                    .output()
                    .expect("running the aws CLI");
                (
                    out.status.code().unwrap_or(-1),
                    String::from_utf8_lossy(&out.stdout).into_owned(),
                    String::from_utf8_lossy(&out.stderr).into_owned(),
                )
            }
        };
        assert!(code == 0, "aws {args:?}: {stderr}");
        serde_json::from_str(&stdout).unwrap_or(serde_json::Value::Null)
    }

    pub fn export(&self, name: &str) -> String {
        self.exports
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    }

    /// What the sandbox's AWS side seeded (agent.json's `seed`): subnets,
    /// the deploy roles' ARNs, the repository they trust, ...
    pub fn seeded(&self, key: &str) -> String {
        let text = std::fs::read_to_string(self.dir.path().join("agent.json")).unwrap();
        let agent: serde_json::Value = serde_json::from_str(&text).unwrap();
        agent["seed"][key]
            .as_str()
            .unwrap_or_else(|| panic!("agent.json's seed has no {key}"))
            .to_string()
    }

    /// An OIDC token signed with the sandbox's key, as GitHub's token service
    /// gives a job one (`python -m cruddur_sandbox oidc-token ARGS`), written
    /// to a file in `dir`: what `AWS_WEB_IDENTITY_TOKEN_FILE` names.
    pub fn oidc_token_file(&self, dir: &Path, args: &[&str]) -> String {
        let path = dir.join(format!("token-{}", file_name_of(args)));
        let out = Command::new(repo_root().join("target/sandbox/venv/bin/python"))
            .args(["-m", "cruddur_sandbox", "oidc-token", "--state-dir"])
            .arg(self.dir.path())
            .arg("--output")
            .arg(&path)
            .args(args)
            .env("PYTHONPATH", repo_root().join("sandbox"))
            .output()
            .expect("running the sandbox's oidc-token");
        assert!(
            out.status.success(),
            "oidc-token {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        path.display().to_string()
    }

    pub fn registry(&self) -> String {
        self.export("CRUDDUR_ECR_REGISTRY")
    }

    /// The addresses of a service's RUNNING tasks (awsvpc: the ENI's address).
    pub fn task_addresses(&self, service: &str) -> Vec<String> {
        self.running_tasks(service)
            .into_iter()
            .map(|(_, address)| address)
            .collect()
    }

    /// Pids of the processes this sandbox started (from its pid files).
    pub fn pids(&self) -> Vec<u32> {
        std::fs::read_dir(self.dir.path())
            .unwrap()
            .filter_map(std::result::Result::ok)
            .filter(|e| e.path().extension().is_some_and(|x| x == "pid"))
            .filter_map(|e| {
                let text = std::fs::read_to_string(e.path()).ok()?;
                text.split_whitespace().next()?.parse().ok()
            })
            .collect()
    }

    pub fn down(&self) -> Run {
        assert!(
            matches!(self.dir, SandboxDir::Own(_)),
            "a test never stops the shared sandbox: the harness does"
        );
        run(xtask(&[
            "sandbox",
            "down",
            "--state-dir",
            &self.dir.path().display().to_string(),
        ]))
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        if let SandboxDir::Own(_) = self.dir {
            self.down();
        }
    }
}

/// The registry's digest for a manifest path (HEAD with basic auth), if it has one.
pub fn registry_head(registry: &str, path: &str, user: &str, password: &str) -> Option<String> {
    use base64::Engine as _;
    use std::io::{Read as _, Write as _};
    let mut stream = std::net::TcpStream::connect(registry).expect("connecting to the registry");
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    let accept = "application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json";
    write!(
        stream,
        "HEAD {path} HTTP/1.0\r\nHost: {registry}\r\nAuthorization: Basic {auth}\r\nAccept: {accept}\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    if !response.starts_with("HTTP/1.0 200") && !response.starts_with("HTTP/1.1 200") {
        return None;
    }
    response.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case("docker-content-digest")
            .then(|| v.trim().to_string())
    })
}

impl Sandbox {
    /// The registry's user and password, as ECR hands them out.
    pub fn registry_login(&self) -> (String, String) {
        use base64::Engine as _;
        let token = self.aws(&["ecr", "get-authorization-token"]);
        let token = token["authorizationData"][0]["authorizationToken"]
            .as_str()
            .unwrap()
            .to_string();
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(token)
            .unwrap();
        let (user, password) = std::str::from_utf8(&decoded)
            .unwrap()
            .split_once(':')
            .unwrap();
        (user.to_string(), password.to_string())
    }
}

/// GET with basic auth against the sandbox registry's HTTP API: (status, body).
pub fn registry_get(registry: &str, path: &str, user: &str, password: &str) -> (u16, String) {
    use base64::Engine as _;
    use std::io::{Read as _, Write as _};
    let mut stream = std::net::TcpStream::connect(registry).expect("connecting to the registry");
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    write!(
        stream,
        "GET {path} HTTP/1.0\r\nHost: {registry}\r\nAuthorization: Basic {auth}\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    let code = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (code, body.to_string())
}

/// A file name made of a token's arguments.
fn file_name_of(args: &[&str]) -> String {
    args.join("_")
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect()
}

pub fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        !s.rsplit(')')
            .next()
            .unwrap_or("")
            .trim_start()
            .starts_with('Z')
    })
}

/// The prod image of a service, built from the current sources with the
/// offline base images (from docker's cache when nothing changed).
pub fn require_prod_image(service: &str) {
    require_base_images();
    let mut build = xtask(&["build", service]);
    local_env(&mut build);
    run(build).ok();
}

/// The digest `push` reports ECR lists (its "ECR lists REPO:latest as sha256:…" line).
pub fn pushed_digest(stdout: &str) -> String {
    stdout
        .lines()
        .filter(|l| l.contains("ECR lists"))
        .find_map(|l| l.split_whitespace().find(|w| w.starts_with("sha256:")))
        .unwrap_or_else(|| panic!("push reported no digest:\n{stdout}"))
        .to_string()
}

/// What a secret-checking test greps every output for.
pub fn assert_no_secrets(output: &str, secrets: &[&str]) {
    for secret in secrets {
        assert!(
            !output.contains(secret),
            "secret {secret:?} in output:\n{output}"
        );
    }
}

/// Settings a local (non-AWS) run needs: offline base images, host-network
/// builds, and the variables the env files require.
pub fn local_env(c: &mut Command) -> &mut Command {
    c.env("CRUDDUR_BASE_IMAGES", "sandbox")
        .env("CRUDDUR_BUILD_NETWORK", "host")
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "local-test-key")
        .env("AWS_SECRET_ACCESS_KEY", "local-test-secret")
}

pub fn http_get(url: &str) -> (u16, String) {
    http_get_with(url, &[])
}

/// GET with extra request headers: (status, body).
pub fn http_get_with(url: &str, headers: &[(&str, &str)]) -> (u16, String) {
    http_request("GET", url, headers, None)
}

/// POST of a JSON body with extra request headers: (status, body).
pub fn http_post_json(url: &str, headers: &[(&str, &str)], json: &str) -> (u16, String) {
    http_request("POST", url, headers, Some(json))
}

/// One HTTP/1.0 request (plain HTTP, loopback): (status, body); status 0
/// when nothing answers.
fn http_request(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    json: Option<&str>,
) -> (u16, String) {
    use std::io::{Read as _, Write as _};
    let rest = url.strip_prefix("http://").unwrap();
    let (host, path) = rest
        .split_once('/')
        .map(|(h, p)| (h, format!("/{p}")))
        .unwrap_or((rest, "/".into()));
    let Ok(mut stream) = std::net::TcpStream::connect(host) else {
        return (0, String::new());
    };
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    let mut extra: String = headers
        .iter()
        .map(|(k, v)| format!("{k}: {v}\r\n"))
        .collect();
    if let Some(body) = json {
        extra.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    write!(
        stream,
        "{method} {path} HTTP/1.0\r\nHost: {host}\r\n{extra}\r\n{}",
        json.unwrap_or("")
    )
    .unwrap();
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    (
        head.split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0),
        body.to_string(),
    )
}

pub fn docker(args: &[&str]) -> Output {
    Command::new("docker").args(args).output().expect("docker")
}

/// Removes the named containers when dropped (also when the test fails).
pub struct Containers(pub Vec<&'static str>);

impl Drop for Containers {
    fn drop(&mut self) {
        for name in &self.0 {
            docker(&["rm", "--force", "--volumes", name]);
        }
    }
}
