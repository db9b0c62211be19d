//! Facts about the machine and the process the tool runs as: root or not,
//! under CI or not, which programs are on PATH, which cargo started it.

/// Whether `program` is a file in one of PATH's folders.
pub fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
}

/// Whether the tool runs as root (it may install packages and start daemons).
pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

/// Running under CI (`CI=true`): the sandbox may start a docker daemon itself.
pub fn ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// The `cargo` that started this tool (cargo sets `CARGO`), else the one on PATH.
pub fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".into())
}

/// A cargo command of ours without the package variables `cargo run` and
/// test runners hand down (`CARGO_PKG_NAME=xtask`, `CARGO_MANIFEST_DIR`, ...).
/// Build scripts (ring's) list them as inputs: a build started under `cargo
/// xtask` and one started from a shell or a test disagreed, and each
/// recompiled ring and everything above it (rustls, the SDK's HTTP client,
/// xtask-aws: about a minute of CPU) whenever they took turns, as
/// `cargo xtask test`'s clippy and unit tests and the tests' AWS builds did.
pub fn nested_cargo(mut cmd: crate::exec::Cmd) -> crate::exec::Cmd {
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy();
        if key.starts_with("CARGO_PKG_")
            || [
                "CARGO_MANIFEST_DIR",
                "CARGO_MANIFEST_PATH",
                "CARGO_MANIFEST_LINKS",
                "CARGO_CRATE_NAME",
                "CARGO_BIN_NAME",
                "CARGO_PRIMARY_PACKAGE",
                "OUT_DIR",
            ]
            .contains(&key.as_ref())
        {
            cmd = cmd.env_remove(&key);
        }
    }
    cmd
}

#[cfg(test)]
mod tests {
    use xshell::cmd;

    /// The test runner hands this test `CARGO_PKG_NAME=xtask`, as `cargo
    /// xtask` hands it to the tool; a nested cargo must not see it.
    #[test]
    fn a_nested_cargo_gets_no_package_variables() {
        assert_eq!(std::env::var("CARGO_PKG_NAME").as_deref(), Ok("xtask"));
        let ctx = crate::ctx::Ctx::for_tests();
        let sh = crate::exec::shell().unwrap();
        let script = "echo ${CARGO_PKG_NAME:-none} ${CARGO_MANIFEST_DIR:-none} ${PATH:+path}";
        let out = super::nested_cargo(crate::exec::Cmd::from(cmd!(sh, "sh -c {script}")))
            .read(&ctx)
            .unwrap();
        assert_eq!(out, "none none path");
    }
}
