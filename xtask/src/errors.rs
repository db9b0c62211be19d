//! The errors a caller branches on: bad input (exit 2), a program that failed
//! (with its exit code), a docker daemon that does not answer.

/// Bad usage or bad input (unknown service, missing variables, malformed
/// infra file): the tool exits with status 2 instead of 1.
#[derive(Debug)]
pub struct BadInput(pub String);

impl std::fmt::Display for BadInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for BadInput {}

/// A command ran and exited non-zero.
#[derive(Debug)]
pub struct Failed {
    pub summary: String,
    /// The program's exit code (None: killed by a signal).
    pub code: Option<i32>,
}

impl std::fmt::Display for Failed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.summary)
    }
}
impl std::error::Error for Failed {}

#[derive(Debug)]
pub struct DockerDaemonDown;

impl std::fmt::Display for DockerDaemonDown {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(
            "the docker daemon is not running: start it (`sudo systemctl start docker`), or as root \
             run `cargo xtask sandbox up --start-docker`: it starts dockerd with the settings this \
             kind of machine needs",
        )
    }
}
impl std::error::Error for DockerDaemonDown {}
