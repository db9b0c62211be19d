//! Programs the tool runs, stood in for by a script first on PATH.

use std::os::unix::fs::PermissionsExt as _;

/// A directory holding one executable script, `name`, and a PATH with it
/// first: a program the tool runs, stood in for.
pub fn first_on_path(name: &str, script: &str) -> (tempfile::TempDir, String) {
    let bin = tempfile::tempdir().unwrap();
    let program = bin.path().join(name);
    std::fs::write(&program, script).unwrap();
    std::fs::set_permissions(&program, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!(
        "{}:{}",
        bin.path().display(),
        std::env::var("PATH").unwrap()
    );
    (bin, path)
}
