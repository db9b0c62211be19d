//! The README's first command on a sandbox of its own: both services ACTIVE on
//! digest-pinned images; a second run registers no new revision; `sandbox
//! down` leaves none of its processes.

mod common;

use common::{alive, require_base_images, run, xtask, Sandbox};

#[test]
fn demo_deploys_both_services_and_a_second_run_registers_nothing() {
    require_base_images();
    let dir = tempfile::Builder::new()
        .prefix("cruddur-demo-")
        .tempdir()
        .unwrap();
    let state_dir = dir.path().display().to_string();
    let docker_config = dir.path().join("docker-config");
    let demo = || {
        let mut c = xtask(&["demo", "--port-base", "0", "--state-dir", &state_dir]);
        c.env("DOCKER_CONFIG", &docker_config);
        run(c)
    };
    let first = demo();
    // Stop the sandbox even when an assertion below fails.
    let sandbox = Sandbox::adopt(dir);
    let first = first.ok();
    assert!(first.stdout.contains("demo done"), "{}", first.stdout);

    let services = sandbox.aws(&[
        "ecs",
        "describe-services",
        "--cluster",
        "cruddur",
        "--services",
        "backend-flask",
        "frontend-react-js",
    ]);
    let services = services["services"].as_array().unwrap();
    assert_eq!(services.len(), 2);
    for service in services {
        assert_eq!(service["status"], "ACTIVE", "{service}");
        let td = sandbox.aws(&[
            "ecs",
            "describe-task-definition",
            "--task-definition",
            service["taskDefinition"].as_str().unwrap(),
        ]);
        let name = service["serviceName"].as_str().unwrap();
        let image = td["taskDefinition"]["containerDefinitions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name)
            .unwrap()["image"]
            .clone();
        assert!(
            image.as_str().unwrap().contains("@sha256:"),
            "{name} not pinned by digest: {image}"
        );
    }

    let second = demo().ok();
    assert!(
        !second.stdout.contains("registered task definition"),
        "{}",
        second.stdout
    );
    assert_eq!(
        second.stdout.matches("no new revision registered").count(),
        2,
        "{}",
        second.stdout
    );
    assert!(
        second.stdout.contains("nothing to upload"),
        "{}",
        second.stdout
    );

    let pids = sandbox.pids();
    sandbox.down().ok();
    assert!(
        pids.iter().all(|&p| !alive(p)),
        "processes left after sandbox down"
    );
}
