//! The offline base images come only from verified Debian packages: with a
//! keyring that cannot verify the release, debootstrap stops at the Release
//! file's signature, before any package is downloaded, and the tool says why
//! in one line. Runs as base-image creation does (root, Debian's mirror); no
//! docker: the images are never reached.

mod common;

use common::{run, xtask};

#[test]
fn base_images_refuse_a_release_the_keyring_cannot_verify() {
    let root = tempfile::Builder::new()
        .prefix("cruddur-keyring-")
        .tempdir()
        .unwrap();
    let keyring = root.path().join("empty.gpg");
    std::fs::write(&keyring, "").unwrap();
    let keyring = keyring.display().to_string();
    let mut c = xtask(&["sandbox", "base-images", "--force", "--keyring", &keyring]);
    // A scratch root: its own (empty) rootfs cache, so debootstrap really runs.
    c.env("CRUDDUR_ROOT", root.path());
    let out = run(c).fails_with(1);
    let error = out
        .stderr
        .lines()
        .find(|l| l.contains("could not verify"))
        .unwrap_or_else(|| panic!("no clear error:\n{}", out.all()));
    assert!(
        error.contains(&format!(
            "Release file with the keyring {keyring}: Release signed by unknown key (key id "
        )) && error.contains("no base image is made from unverified packages"),
        "{error}"
    );

    let rootfs = root.path().join("target/sandbox/rootfs");
    let mut suites = 0;
    for entry in std::fs::read_dir(&rootfs).unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().to_string();
        assert!(!name.starts_with("system-"), "a system was made: {name}");
        if let Some(suite) = name.strip_prefix("debs-") {
            suites += 1;
            let debs = std::fs::read_dir(entry.path()).unwrap().count();
            assert_eq!(debs, 0, "packages of {suite} were downloaded");
            let log = std::fs::read_to_string(
                root.path()
                    .join(format!("target/logs/debootstrap-{suite}.log")),
            )
            .unwrap();
            assert!(log.contains("Checking Release signature"), "{log}");
            assert!(!log.contains("Retrieving Packages"), "{log}");
        }
    }
    assert!(suites > 0, "debootstrap never ran:\n{}", out.all());
}

#[test]
fn base_images_refuse_a_keyring_that_is_not_there() {
    let out = run(xtask(&[
        "sandbox",
        "base-images",
        "--keyring",
        "/nonexistent/keyring.gpg",
    ]))
    .fails_with(2);
    assert!(
        out.stderr
            .contains("--keyring /nonexistent/keyring.gpg: no such file"),
        "{}",
        out.stderr
    );
}
