//! The tests' way to the aws CLI server `cargo xtask test` starts
//! (`xtask/tests/fixtures/aws_cli_server.py`), which `Sandbox::aws` asks
//! instead of running `aws` when the harness set the variable below.

use std::path::Path;

/// Set by `cargo xtask test` for its nextest run: the socket of its aws CLI
/// server (`xtask/tests/fixtures/aws_cli_server.py`).
pub const AWS_CLI_ENV: &str = "CRUDDUR_TEST_AWS_CLI";

/// `aws ARGV` with environment `env`, answered by the aws CLI server on
/// `socket`: (exit code, stdout, stderr).
pub fn aws_cli_server(
    socket: &Path,
    argv: &[&str],
    env: &[(String, String)],
) -> (i32, String, String) {
    use std::io::{Read as _, Write as _};
    let env: serde_json::Map<String, serde_json::Value> = env
        .iter()
        .map(|(k, v)| (k.clone(), v.clone().into()))
        .collect();
    let request = serde_json::json!({ "args": argv, "env": env });
    let mut stream = std::os::unix::net::UnixStream::connect(socket)
        .unwrap_or_else(|e| panic!("the aws CLI server at {}: {e}", socket.display()));
    stream.write_all(request.to_string().as_bytes()).unwrap();
    stream.shutdown(std::net::Shutdown::Write).unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    let answer: serde_json::Value = serde_json::from_str(&answer).unwrap_or_else(|e| {
        panic!("the aws CLI server answered {argv:?} with no JSON ({e}): {answer:?}")
    });
    (
        answer["code"].as_i64().unwrap_or(-1) as i32,
        answer["stdout"].as_str().unwrap_or_default().to_string(),
        answer["stderr"].as_str().unwrap_or_default().to_string(),
    )
}
