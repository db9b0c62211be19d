//! The prod frontend image against the real backend (both started with
//! `cargo xtask run --detach`) and a PostgreSQL seeded by `bin/db-setup`, in headless Chromium:
//! the home feed shows the seeded activities; with the API down the page says so.
//! Publishes the fixed ports: `host_ports_` group.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{docker, http_get, local_env, repo_root, require_prod_image, run, xtask, Containers};

const DB: &str = "cruddur-browser-test-db";

fn browser(url: &str, expect: &str, screenshot: &Path) -> common::Run {
    let frontend = repo_root().join("frontend-react-js");
    assert!(
        frontend.join("node_modules/playwright-core").exists(),
        "playwright-core is not installed: run `npm ci` in frontend-react-js (`cargo xtask test` does)"
    );
    assert!(
        Path::new("/usr/bin/chromium").exists(),
        "Debian's chromium is missing: `apt-get install chromium` (`cargo xtask test` does)"
    );
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
