//! The prod images' layers, put in a test sandbox's registry before it
//! starts, so that a test's push uploads only the manifest.
//!
//! A test's sandbox starts with an empty registry, and docker compresses
//! every layer it uploads there: the backend's image (208 MB) took 11 s
//! on a quiet machine and about 30 s under the suite's load, in some 30
//! tests, against 0.4 s when the registry had the layers. So the first
//! test that needs them pushes both prod images once into a registry of
//! its own (`target/test-layers/<a hash of their layers>`), and keeps the
//! blobs and each repository's layer links, not the manifests or tags: a
//! sandbox seeded from it has repositories with no image, as ECR's new
//! ones are.
//! Each sandbox gets hard links (the registry never writes a blob in place:
//! it renames a finished upload over it), so seeding takes milliseconds.
//! docker checks for a layer it pushed before (it remembers the digest)
//! with a HEAD at the new registry and skips the upload when it is there.
//!
//! The test of the push itself (`ecr.rs`) and promote's production account
//! (its copy must upload every layer) start with an empty registry.

use std::fs::File;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{docker, repo_root};

/// The prod images, by the repository names the tool pushes them to.
const IMAGES: [(&str, &str); 2] = [
    ("backend-flask-prod", "backend-flask"),
    ("frontend-react-js-prod", "frontend-react-js"),
];

/// Puts the prod images' layers into `registry_data` (a sandbox's
/// `registry-data`, before `sandbox up`). Without both prod images built
/// it puts nothing there: the push then uploads them, as it would anyway.
pub fn seed(registry_data: &Path) {
    let Some(layers) = IMAGES
        .iter()
        .map(|(image, _)| layers_of(image))
        .collect::<Option<Vec<String>>>()
    else {
        return;
    };
    let root = repo_root().join("target/test-layers");
    std::fs::create_dir_all(&root).unwrap();
    // By the layers, not the image ids: a test that builds the backend with
    // a label more changes its id, not its layers.
    let key = {
        use std::hash::{Hash as _, Hasher as _};
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        layers.hash(&mut hasher);
        format!("{:016x}", hasher.finish())
    };
    let dir = root.join(&key);
    // Tests run in parallel processes: one of them pushes, the others wait;
    // and none removes a template another is linking from.
    let lock = File::create(root.join("lock")).unwrap();
    lock.lock().unwrap();
    if !dir.join("complete").exists() {
        remove_old(&root);
        push_into(&dir);
        std::fs::write(dir.join("complete"), layers.join("\n")).unwrap();
    }
    let template = dir.join("data");
    link_tree(&template, registry_data).unwrap_or_else(|e| {
        panic!(
            "seeding {} from {}: {e}",
            registry_data.display(),
            template.display()
        )
    });
}

/// The image's layers (their uncompressed digests), if docker has it.
fn layers_of(image: &str) -> Option<String> {
    let out = docker(&[
        "image",
        "inspect",
        "--format",
        "{{json .RootFS.Layers}}",
        image,
    ]);
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
        .filter(|layers| layers.contains("sha256:"))
}

/// Templates of layers since rebuilt (or one a test left half made).
fn remove_old(root: &Path) {
    for entry in std::fs::read_dir(root).unwrap().flatten() {
        if entry.path().is_dir() {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// Pushes the prod images into a registry storing in `dir/data`, then
/// drops their manifests and tags.
fn push_into(dir: &Path) {
    let data = dir.join("data");
    std::fs::create_dir_all(&data).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = dir.join("registry.yml");
    std::fs::write(
        &config,
        format!(
            "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{port}\n",
            data.display()
        ),
    )
    .unwrap();
    let mut registry = Registry(
        Command::new("docker-registry")
            .arg("serve")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(File::create(dir.join("registry.log")).unwrap())
            .spawn()
            .expect("starting docker-registry for the test layers"),
    );
    registry.wait_until_up(port);
    for (image, repository) in IMAGES {
        let target = format!("127.0.0.1:{port}/{repository}:layers");
        for args in [
            vec!["tag", image, &target],
            vec!["push", "--quiet", &target],
            vec!["rmi", &target],
        ] {
            let out = docker(&args);
            assert!(
                out.status.success(),
                "docker {args:?} (the test layers): {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
    drop(registry);
    for (_, repository) in IMAGES {
        let repo = data
            .join("docker/registry/v2/repositories")
            .join(repository);
        for part in ["_manifests", "_uploads"] {
            let _ = std::fs::remove_dir_all(repo.join(part));
        }
    }
}

/// The template's registry, stopped when dropped.
struct Registry(Child);

impl Registry {
    fn wait_until_up(&mut self, port: u16) {
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = self.0.try_wait() {
                panic!("docker-registry for the test layers exited: {status}");
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "docker-registry for the test layers did not listen on {port}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `to` as a copy of `from` whose files are hard links.
fn link_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            link_tree(&entry.path(), &target)?;
        } else {
            std::fs::hard_link(entry.path(), target)?;
        }
    }
    Ok(())
}
