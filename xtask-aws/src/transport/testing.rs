//! What the transport's tests share: homes with AWS files in them, a
//! loopback server standing in for AWS, and moto.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, SystemTime};

use tempfile::TempDir;

use super::credentials::resolve;
use super::sigv4::amz_date;
use super::{AwsConfig, AwsEnv, Credentials};

/// A home directory of its own, with the given files under it.
pub fn home(files: &[(&str, &str)]) -> TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (path, text) in files {
        let path = dir.path().join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    dir
}

pub fn env_at(home: &Path) -> AwsEnv {
    AwsEnv {
        home: Some(home.to_path_buf()),
        ..AwsEnv::default()
    }
}

pub fn config(env: AwsEnv) -> AwsConfig {
    AwsConfig::load(env).unwrap()
}

pub async fn creds(env: AwsEnv) -> anyhow::Result<Credentials> {
    resolve(&config(env)).await
}

/// ISO 8601 as AWS writes it, `now + secs`.
pub fn iso_in(secs: u64) -> String {
    let d = amz_date(SystemTime::now() + Duration::from_secs(secs));
    format!(
        "{}-{}-{}T{}:{}:{}Z",
        &d[..4],
        &d[4..6],
        &d[6..8],
        &d[9..11],
        &d[11..13],
        &d[13..15]
    )
}

/// A server on loopback that answers each of `answers` once, in order,
/// and hands back the requests it read (head and body).
pub fn serve(answers: Vec<(u16, String)>) -> (String, std::thread::JoinHandle<Vec<String>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let handle = std::thread::spawn(move || {
        let mut seen = Vec::new();
        let (mut stream, _) = listener.accept().unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        for (status, body) in answers {
            let (mut request, mut length) = (String::new(), 0);
            loop {
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap();
                }
                request.push_str(&line);
                if line == "\r\n" || line.is_empty() {
                    break;
                }
            }
            let mut body_in = vec![0; length];
            reader.read_exact(&mut body_in).unwrap();
            request.push_str(&String::from_utf8_lossy(&body_in));
            seen.push(request);
            write!(
                stream,
                "HTTP/1.1 {status} X\r\ncontent-length: {}\r\n\r\n{body}",
                body.len()
            )
            .unwrap();
        }
        seen
    });
    (url, handle)
}

/// moto's server from the sandbox's virtualenv, on a free loopback port
/// (https with a self-signed certificate when `tls`), killed when dropped,
/// a failing assertion included.
pub struct Moto {
    child: Child,
    pub url: String,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn moto(tls: bool) -> Moto {
    let path: PathBuf =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/sandbox/venv/bin/moto_server");
    assert!(
        path.exists(),
        "this test runs against moto, and {} is missing: `cargo xtask sandbox up` creates it",
        path.display()
    );
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(&path)
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .args(tls.then_some("--ssl"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting moto_server");
    let mut moto = Moto {
        child,
        url: format!("{}://127.0.0.1:{port}", if tls { "https" } else { "http" }),
    };
    for _ in 0..300 {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return moto;
        }
        if let Ok(Some(status)) = moto.child.try_wait() {
            panic!("moto_server exited at start ({status})");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("moto_server did not listen on port {port} within 30 s");
}
