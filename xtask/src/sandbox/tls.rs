//! The sandbox's TLS: a certificate authority of its own, made by the first
//! `sandbox up` of a state dir and kept there (`ca/ca.pem`, and `ca/ca.key`
//! readable by its owner only), so a browser told to trust it once keeps
//! trusting it; and, on every start, a certificate for the load balancer
//! signed by it (`lb-tls/`), which the agent imports into the sandbox's ACM
//! as an account's certificate would be (its private key goes into ACM, as
//! with AWS). The CA's key never leaves `ca/`: the agent gets only `lb-tls/`.
//!
//! Made with the `openssl` program (no crate in the light build for a few
//! seconds of work once per start); only file names are on its command line,
//! no key is ever printed.

use std::os::unix::fs::{DirBuilderExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use xshell::cmd;

use crate::ctx::Ctx;
use crate::exec::{shell, Cmd, Stream};

/// The names the load balancer's certificate covers: the sandbox's URLs are
/// `https://127.0.0.1:<port>` (an IP SAN, which browsers match for IP URLs).
pub const HOST_NAMES: &str = "IP:127.0.0.1,DNS:localhost";
/// How long a CA lives; a new one is made when less than 30 days are left.
const CA_DAYS: &str = "825";
/// What browsers accept of a server certificate's lifetime.
const LEAF_DAYS: &str = "397";

/// The CA's certificate: what a browser or `curl --cacert` is told to trust.
pub fn ca_file(state_dir: &Path) -> PathBuf {
    state_dir.join("ca/ca.pem")
}

/// The load balancer's certificate, key and chain: the agent imports them (`SANDBOX_TLS_DIR`).
pub fn leaf_dir(state_dir: &Path) -> PathBuf {
    state_dir.join("lb-tls")
}

/// The CA (kept, or made when missing or near its end) and a new load
/// balancer certificate signed by it; returns the CA's certificate file.
pub fn ensure(ctx: &Ctx, state_dir: &Path, name: &str) -> Result<PathBuf> {
    let ca_dir = state_dir.join("ca");
    let usable = ca_dir.join("ca.key").is_file()
        && openssl(
            ctx,
            &["x509", "-checkend", "2592000", "-noout", "-in"],
            &[&ca_file(state_dir)],
        )
        .is_ok();
    if !usable {
        replace_dir(&ca_dir, |tmp| make_ca(ctx, tmp, name))
            .context("making the sandbox's certificate authority")?;
    }
    replace_dir(&leaf_dir(state_dir), |tmp| make_leaf(ctx, tmp, &ca_dir))
        .context("making the load balancer's certificate")?;
    Ok(ca_file(state_dir))
}

/// Removes the load balancer's certificate and key (the CA stays).
pub fn remove_leaf(state_dir: &Path) {
    let _ = std::fs::remove_dir_all(leaf_dir(state_dir));
}

/// The line `up` and `status` print about it.
pub fn describe(ca: &Path) -> String {
    format!(
        "the load balancer serves HTTPS with a certificate of the sandbox's own CA, {}: \
         trust it to browse there (`curl --cacert {}`; Chromium: `certutil -A -t C,, -i` into \
         its NSS database)",
        ca.display(),
        ca.display()
    )
}

/// Fills a new private folder with `make` and puts it in place of `dir`: a
/// reader never finds a key without its certificate.
fn replace_dir(dir: &Path, make: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
    let tmp = dir.with_extension(format!("tmp-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(&tmp)
        .with_context(|| format!("creating {}", tmp.display()))?;
    let made = make(&tmp).and_then(|()| {
        let _ = std::fs::remove_dir_all(dir);
        std::fs::rename(&tmp, dir).with_context(|| format!("moving {}", tmp.display()))
    });
    if made.is_err() {
        let _ = std::fs::remove_dir_all(&tmp);
    }
    made
}

fn make_ca(ctx: &Ctx, dir: &Path, name: &str) -> Result<()> {
    let (key, cert) = (dir.join("ca.key"), dir.join("ca.pem"));
    new_key(ctx, &key)?;
    let subject = format!("/O=Cruddur sandbox/CN=Cruddur sandbox CA {name}");
    let sh = shell()?;
    run(
        ctx,
        &cmd!(sh, "openssl req -x509 -new -key {key} -sha256 -days {CA_DAYS} -subj {subject} -addext basicConstraints=critical,CA:TRUE,pathlen:0 -addext keyUsage=critical,keyCertSign,cRLSign -out {cert}").into(),
    )
}

fn make_leaf(ctx: &Ctx, dir: &Path, ca_dir: &Path) -> Result<()> {
    let (key, cert) = (dir.join("private-key.pem"), dir.join("certificate.pem"));
    let (ca_key, ca_cert) = (ca_dir.join("ca.key"), ca_dir.join("ca.pem"));
    new_key(ctx, &key)?;
    let san = format!("subjectAltName={HOST_NAMES}");
    let subject = "/O=Cruddur sandbox/CN=127.0.0.1";
    let sh = shell()?;
    run(
        ctx,
        &cmd!(sh, "openssl req -x509 -new -key {key} -CA {ca_cert} -CAkey {ca_key} -sha256 -days {LEAF_DAYS} -subj {subject} -addext {san} -addext basicConstraints=critical,CA:FALSE -addext keyUsage=critical,digitalSignature -addext extendedKeyUsage=serverAuth -out {cert}").into(),
    )?;
    std::fs::copy(&ca_cert, dir.join("chain.pem")).context("copying the CA into the chain")?;
    Ok(())
}

/// An EC P-256 key (what ACM imports and every browser takes), owner-only.
fn new_key(ctx: &Ctx, key: &Path) -> Result<()> {
    let sh = shell()?;
    run(
        ctx,
        &cmd!(
            sh,
            "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out {key}"
        )
        .into(),
    )?;
    std::fs::set_permissions(key, std::fs::Permissions::from_mode(0o600))
        .with_context(|| format!("making {} private", key.display()))
}

fn openssl(ctx: &Ctx, args: &[&str], files: &[&Path]) -> Result<()> {
    let sh = shell()?;
    let mut c = Cmd::from(cmd!(sh, "openssl")).args(args.iter().copied());
    for f in files {
        c = c.arg(f.display().to_string());
    }
    run(ctx, &c)
}

/// The tool preparing the sandbox: quiet unless it fails (then with openssl's words).
fn run(ctx: &Ctx, c: &Cmd) -> Result<()> {
    c.stream(
        ctx,
        &Stream {
            show: &|_| false,
            ..Stream::quiet_command()
        },
    )
    .map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> Ctx {
        Ctx::for_tests()
    }

    #[test]
    fn a_ca_is_kept_and_signs_a_new_load_balancer_certificate_each_time() {
        let dir = tempfile::tempdir().unwrap();
        let ca = ensure(&ctx(), dir.path(), "test").unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir.path().join("ca/ca.key")), 0o600);
        assert_eq!(mode(&dir.path().join("ca")), 0o700);
        assert_eq!(mode(&leaf_dir(dir.path()).join("private-key.pem")), 0o600);
        let first_ca = std::fs::read(&ca).unwrap();
        let first_leaf = std::fs::read(leaf_dir(dir.path()).join("certificate.pem")).unwrap();
        ensure(&ctx(), dir.path(), "test").unwrap();
        assert_eq!(std::fs::read(&ca).unwrap(), first_ca, "the CA is kept");
        let leaf = leaf_dir(dir.path()).join("certificate.pem");
        assert_ne!(std::fs::read(&leaf).unwrap(), first_leaf, "a new leaf");
        let sh = shell().unwrap();
        let verified = cmd!(sh, "openssl verify -CAfile {ca} {leaf}")
            .read()
            .unwrap();
        assert!(verified.ends_with(": OK"), "{verified}");
        let text = cmd!(sh, "openssl x509 -noout -ext subjectAltName -in {leaf}")
            .read()
            .unwrap();
        assert!(text.contains("IP Address:127.0.0.1"), "{text}");
        assert!(!std::fs::read_dir(dir.path()).unwrap().any(|e| e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .contains("tmp-")));
    }
}
