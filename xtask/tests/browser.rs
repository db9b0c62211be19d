//! The prod frontend image in headless Chromium. Against the real backend
//! (both started with `cargo xtask run --detach`) and a PostgreSQL seeded by
//! `bin/db-setup`: the home feed shows the seeded activities; with the API
//! down the page says so (publishes the fixed ports and writes the checkout's
//! env files: the `checkout` test group). In a container of its own: its
//! security headers, CSP and settings read at run time.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{docker, http_get, local_env, repo_root, require_prod_image, run, xtask, Containers};

const DB: &str = "cruddur-browser-test-db";

/// The front end's folder, with what its browser scripts need.
fn frontend_with_browser() -> PathBuf {
    let frontend = repo_root().join("frontend-react-js");
    assert!(
        frontend.join("node_modules/playwright-core").exists(),
        "playwright-core is not installed: run `npm ci` in frontend-react-js (`cargo xtask test` does)"
    );
    assert!(
        Path::new("/usr/bin/chromium").exists(),
        "Debian's chromium is missing: `apt-get install chromium` (`cargo xtask test` does)"
    );
    frontend
}

fn browser(url: &str, expect: &str, screenshot: &Path) -> common::Run {
    let frontend = frontend_with_browser();
    let mut c = std::process::Command::new("node");
    c.current_dir(&frontend).args([
        "e2e/browser.mjs",
        "--url",
        url,
        "--expect",
        expect,
        "--timeout",
        "30",
        "--screenshot",
    ]);
    c.arg(screenshot);
    run(c)
}

#[test]
fn host_ports_browser_home_feed_and_api_outage() {
    require_prod_image("backend-flask");
    require_prod_image("frontend-react-js");
    let _cleanup = Containers(vec!["backend-flask", "frontend-react-js", DB]);
    let tool = |args: &[&str]| {
        let mut c = xtask(args);
        local_env(&mut c);
        run(c).ok()
    };
    tool(&["env"]);

    // The database the backend's env file points at (`db` on cruddur-net).
    docker(&["rm", "--force", "--volumes", DB]);
    docker(&["network", "create", "cruddur-net"]);
    let started = docker(&[
        "run",
        "--detach",
        "--name",
        DB,
        "--network",
        "cruddur-net",
        "--network-alias",
        "db",
        "--env",
        "POSTGRES_PASSWORD=password",
        "--env",
        "POSTGRES_DB=cruddur",
        "cruddur-base/postgres:15-bookworm",
    ]);
    assert!(
        started.status.success(),
        "{}",
        String::from_utf8_lossy(&started.stderr)
    );

    tool(&["run", "backend", "--detach"]);
    tool(&["run", "frontend", "--detach"]);

    // Schema and seed as everywhere else: the backend's own bin/db-setup, in its
    // container (its env file), once the database accepts connections.
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let setup = docker(&["exec", "backend-flask", "bin/db-setup"]);
        if setup.status.success() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "bin/db-setup never succeeded: {}",
            String::from_utf8_lossy(&setup.stderr)
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    loop {
        let (code, body) = http_get("http://127.0.0.1:4567/api/activities/home");
        if code == 200 && body.contains("This was imported as seed data!") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the backend never served the seeded feed: {code} {body}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }

    let artifacts = repo_root().join("target/browser");
    std::fs::create_dir_all(&artifacts).unwrap();
    let home = artifacts.join("home.png");
    let _ = std::fs::remove_file(&home);
    let feed = browser("http://localhost:3000", "feed", &home);
    assert_eq!(feed.code, 0, "{}", feed.all());
    assert!(
        std::fs::metadata(&home).is_ok_and(|m| m.len() > 1000),
        "no screenshot at {}",
        home.display()
    );

    docker(&["stop", "backend-flask"]);
    let outage = browser(
        "http://localhost:3000",
        "outage",
        &artifacts.join("outage.png"),
    );
    assert_eq!(outage.code, 0, "{}", outage.all());
}

/// A port on 127.0.0.1 where nothing listens (the browser's calls there fail at once).
fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Removes the image tag and the network this test made, when dropped.
struct Made {
    tag: String,
    network: String,
}

impl Drop for Made {
    fn drop(&mut self) {
        docker(&["rm", "--force", &self.network]);
        docker(&["network", "rm", &self.network]);
        docker(&["image", "rm", &self.tag]);
    }
}

/// Starts `made.tag` with `env` as ECS would with a read-only root filesystem
/// and a volume on /tmp, on a network of its own; its URL once nginx answers.
fn start_on_own_network(made: &Made, env: &[String]) -> String {
    let created = docker(&["network", "create", &made.network]);
    assert!(created.status.success(), "{created:?}");
    let mut args: Vec<&str> = vec![
        "run",
        "--detach",
        "--name",
        &made.network,
        "--network",
        &made.network,
        "--read-only",
        "--tmpfs",
        "/tmp",
    ];
    for e in env {
        args.extend(["--env", e]);
    }
    args.push(&made.tag);
    let started = docker(&args);
    assert!(started.status.success(), "{started:?}");
    let format = "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}";
    let address = docker(&["inspect", "--format", format, &made.network]).stdout;
    let url = format!("http://{}:3000", String::from_utf8_lossy(&address).trim());
    let deadline = Instant::now() + Duration::from_secs(30);
    while http_get(&format!("{url}/healthz")).0 != 200 {
        if Instant::now() > deadline {
            let logs = docker(&["logs", &made.network]);
            panic!(
                "{url} never answered: {}",
                String::from_utf8_lossy(&logs.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    url
}

/// The image just built, started with an API address and a Cognito endpoint of
/// this test's own in its environment, as a task definition would start it
/// (read-only root filesystem, a tmpfs on /tmp): Chromium finds the four
/// headers everywhere, HSTS only behind HTTPS, a CSP whose connect-src names
/// those two origins and that blocks injected inline code and framing, and an
/// app that calls the API address it was started with (`e2e/security.mjs`).
#[test]
fn browser_security_headers_csp_and_settings_read_at_run_time() {
    let frontend = frontend_with_browser();
    common::require_base_images();
    let id = format!("cruddur-security-{}", std::process::id());
    // A tag of this test's own: `frontend-react-js-prod` may move meanwhile.
    let made = Made {
        tag: format!("frontend-react-js-prod:{id}"),
        network: id.clone(),
    };
    let mut build = xtask(&["build", "frontend", "--tag", &id]);
    local_env(&mut build);
    run(build).ok();
    let (api, cognito) = (
        format!("http://127.0.0.1:{}", closed_port()),
        format!("http://127.0.0.1:{}/", closed_port()),
    );
    let url = start_on_own_network(
        &made,
        &[
            format!("REACT_APP_BACKEND_URL={api}"),
            "REACT_APP_AWS_USER_POOLS_ID=us-east-1_Security1".into(),
            "REACT_APP_CLIENT_ID=securityclient".into(),
            format!("REACT_APP_AWS_COGNITO_ENDPOINT={cognito}"),
        ],
    );

    let mut c = std::process::Command::new("node");
    c.current_dir(&frontend).args([
        "e2e/security.mjs",
        "--url",
        &url,
        "--api",
        &api,
        "--cognito",
        &cognito,
        "--timeout",
        "30",
    ]);
    let out = run(c);
    assert_eq!(out.code, 0, "{}", out.all());
    for check in [
        "the app runs under its CSP",
        "the four headers and the CSP on /, /index.html, /assets/",
        "only with X-Forwarded-Proto: https",
        "an injected inline script and event handler were blocked",
        "a page of another origin cannot frame the app",
    ] {
        assert!(out.stdout.contains(check), "{check}: {}", out.all());
    }
}
