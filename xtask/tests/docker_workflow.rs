//! build, run, up and down on a real docker daemon with the real Dockerfiles
//! (offline base images). Publishes the fixed ports: `host_ports_` group.

mod common;

use common::{docker, http_get, local_env, require_base_images, run, xtask, Containers};

fn tool(args: &[&str]) -> common::Run {
    let mut c = xtask(args);
    local_env(&mut c);
    run(c)
}

#[test]
fn host_ports_build_run_and_the_compose_stack() {
    require_base_images();
    let _cleanup = Containers(vec!["backend-flask", "frontend-react-js"]);

    let build = tool(&["build", "all"]).ok();
    for service in ["backend-flask", "frontend-react-js"] {
        assert!(
            build.stdout.contains(&format!("built {service}-prod")),
            "{}",
            build.stdout
        );
        assert!(
            build
                .stdout
                .lines()
                .any(|l| l.starts_with(&format!("[{service}] "))),
            "lines are prefixed by service"
        );
        assert!(docker(&["image", "inspect", &format!("{service}-prod")])
            .status
            .success());
    }

    tool(&["run", "backend", "--detach"]).ok();
    let (code, body) = http_get("http://127.0.0.1:4567/api/health-check");
    assert_eq!(code, 200, "{body}");
    let health: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(health, serde_json::json!({"success": true, "ver": 1}));

    tool(&["run", "frontend", "--detach"]).ok();
    let (code, index) = http_get("http://127.0.0.1:3000/");
    assert_eq!(code, 200);
    assert!(index.contains("<div id=\"root\">"), "{index}");
    let (code, fallback) = http_get("http://127.0.0.1:3000/@andrewbrown");
    assert_eq!(
        (code, fallback == index),
        (200, true),
        "SPA fallback serves index.html"
    );

    // `run` again replaces the running container instead of failing on the name.
    tool(&["run", "backend", "--detach"]).ok();
    for name in ["backend-flask", "frontend-react-js"] {
        docker(&["rm", "--force", name]);
    }

    let up = tool(&["up", "--build"]).ok();
    assert!(up.stdout.contains("stack is healthy"), "{}", up.stdout);
    let (code, _) = http_get("http://127.0.0.1:4567/api/health-check");
    assert_eq!(code, 200);
    let (code, home) = http_get("http://127.0.0.1:4567/api/activities/home");
    assert_eq!(code, 200, "the backend reads the seeded database: {home}");
    assert!(home.contains("This was imported as seed data!"), "{home}");
    tool(&["down"]).ok();
    let left = docker(&[
        "ps",
        "--all",
        "--quiet",
        "--filter",
        "label=com.docker.compose.project",
    ]);
    assert!(
        String::from_utf8_lossy(&left.stdout).trim().is_empty(),
        "compose containers left after down"
    );
}

#[test]
fn a_failing_build_exits_1_naming_the_service() {
    require_base_images();
    let root = tempfile::tempdir().unwrap();
    let folder = root.path().join("backend-flask");
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::write(
        folder.join("Dockerfile.prod"),
        "ARG PYTHON_IMAGE\nFROM ${PYTHON_IMAGE}\nRUN echo broken on purpose && exit 3\n",
    )
    .unwrap();
    let mut c = xtask(&["build", "backend", "--tag", "cruddur-test-broken"]);
    local_env(&mut c).env("CRUDDUR_ROOT", root.path());
    let out = run(c).fails_with(1);
    assert!(out.stderr.contains("backend-flask"), "{}", out.stderr);
    assert!(out.stderr.contains("docker build failed"), "{}", out.stderr);
}
