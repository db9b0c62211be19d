//! Files the tool writes: atomically and private (env files, state), the
//! logs of long steps, and the recipe hash that says when to rebuild.

use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::Path;

use anyhow::{Context as _, Result};

use crate::ctx::Ctx;

/// Writes through a temporary file in the same folder and a rename, so a
/// reader never sees half a file; the file is readable by its owner only.
pub fn write_atomic(path: &Path, contents: &[u8]) -> Result<()> {
    let dir = path.parent().context("path has no parent folder")?;
    let name = path
        .file_name()
        .context("path has no file name")?
        .to_string_lossy();
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let result = (|| -> std::io::Result<()> {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        file.write_all(contents)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.with_context(|| format!("writing {}", path.display()))
}

/// `target/logs/<name>.log`, where long steps keep their full output.
pub fn log_file(ctx: &Ctx, name: &str) -> Result<std::path::PathBuf> {
    let dir = ctx.root.join("target/logs");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok(dir.join(format!("{name}.log")))
}

/// A short stable hash (FNV-1a, 64 bits, hex) of `parts`, each ended by a NUL:
/// the recipe label of images built only when what goes into them changed.
pub fn recipe_hash(parts: &[&str]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in parts.iter().flat_map(|p| p.bytes().chain([0])) {
        h = (h ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recipe_hash_is_stable_and_sees_part_boundaries() {
        // The offline base images carry this value: changing the function rebuilds them all.
        assert_eq!(recipe_hash(&["a", "b"]), recipe_hash(&["a", "b"]));
        assert_ne!(recipe_hash(&["ab", ""]), recipe_hash(&["a", "b"]));
        assert_eq!(recipe_hash(&[]), "cbf29ce484222325");
    }

    #[test]
    fn atomic_write_replaces_the_file_with_mode_0600() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("backend-flask.env");
        std::fs::write(&path, "old").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        write_atomic(&path, b"A=1\n").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "A=1\n");
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let leftovers: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "no temp file left behind");
    }
}
