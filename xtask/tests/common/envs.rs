//! Environment files made from a sandbox's own, and `--output json`
//! documents checked against the schema in the repository.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use super::proxy::Proxy;
use super::{repo_root, Sandbox};

/// The document validated against `xtask/schemas/result.schema.json` (every
/// error listed on failure), then parsed.
#[track_caller]
pub fn validate(doc: &str) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("result.json");
    std::fs::write(&path, doc).unwrap();
    let python = repo_root().join("target/sandbox/venv/bin/python");
    let schema = repo_root().join("xtask/schemas/result.schema.json");
    let script = "import json, sys, jsonschema\n\
        schema = json.load(open(sys.argv[1]))\n\
        jsonschema.Draft202012Validator.check_schema(schema)\n\
        checker = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())\n\
        errors = list(checker.iter_errors(json.load(open(sys.argv[2]))))\n\
        for e in errors: print(e.json_path, e.message)\n\
        sys.exit(1 if errors else 0)";
    let out = Command::new(python)
        .args(["-c", script])
        .arg(schema)
        .arg(&path)
        .output()
        .expect("running the sandbox's python (made by `sandbox up`)");
    assert!(
        out.status.success(),
        "the result does not match the schema:\n{}{}\n{doc}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(doc).unwrap()
}

/// The sandbox's own environment file (`sandbox up` writes it) as environment
/// `name` in `dir`, with `edits` (text replacements) made.
pub fn environment(
    sandbox: &Sandbox,
    dir: &Path,
    name: &str,
    edits: &[(String, String)],
) -> String {
    let mut text = std::fs::read_to_string(sandbox.dir.path().join("sandbox.toml"))
        .expect("sandbox up writes sandbox.toml");
    for (from, to) in edits {
        assert!(text.contains(from.as_str()), "{from} not in\n{text}");
        text = text.replace(from.as_str(), to);
    }
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

/// The edit that makes a sandbox's file an environment sharing the account.
pub fn shared() -> (String, String) {
    ("dedicated_account = true\n".into(), String::new())
}

/// The edit that sends the tool's AWS calls through `proxy` (and nothing else there).
pub fn through(sandbox: &Sandbox, proxy: &Proxy) -> (String, String) {
    let endpoint = sandbox.export("AWS_ENDPOINT_URL");
    (
        format!("endpoint_url = \"{endpoint}\""),
        format!("endpoint_url = \"{}\"", proxy.url),
    )
}

pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}
