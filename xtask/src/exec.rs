//! The one wrapper every external program goes through: it prints the command
//! line (secrets redacted) before running, honours `--dry-run`, streams output
//! as plain lines, and turns failures into one-line errors that say what to do.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _, Result};

use crate::ctx::Ctx;
use crate::errors::{DockerDaemonDown, Failed};

/// One external command. Built up with the methods below, then run.
#[derive(Debug, Clone, Default)]
pub struct Cmd {
    program: String,
    args: Vec<String>,
    /// Substrings replaced by `***` wherever the command is shown.
    secrets: Vec<String>,
    stdin: Option<Vec<u8>>,
    /// Keep the terminal's stdin (interactive sessions).
    interactive: bool,
    env: Vec<(String, String)>,
    /// Variables of this process the child must not inherit.
    env_remove: Vec<String>,
    dir: Option<PathBuf>,
}

/// How `Cmd::stream` treats a command's output.
pub struct Stream<'a> {
    /// Put before every line shown (two commands running at once).
    pub prefix: &'a str,
    /// Which lines to show; every line is kept, and logged when there is a log.
    pub show: &'a dyn Fn(&str) -> bool,
    /// Show on stderr (the tool's own preparations, not the command's result).
    pub to_stderr: bool,
    /// Every line also goes to this file; a failure names it.
    pub log: Option<&'a Path>,
    /// After this long without output, a line says the command still runs.
    pub heartbeat: Option<Duration>,
    /// A command that changes something: echoed, and only shown in a dry run.
    /// Otherwise it runs in a dry run too (the tool preparing itself).
    pub effect: bool,
    /// Where shown lines go instead of the terminal (tests).
    pub sink: Option<&'a dyn Fn(&str)>,
}

impl Stream<'_> {
    /// Every line shown on stdout; the command is an effect.
    pub fn effect() -> Stream<'static> {
        Stream {
            prefix: "",
            show: &|_| true,
            to_stderr: false,
            log: None,
            heartbeat: None,
            effect: true,
            sink: None,
        }
    }

    /// A long step (apt, pip, npm, debootstrap): its output only in `log`,
    /// a heartbeat line on the terminal every 10 s.
    pub fn logged(log: &Path) -> Stream<'_> {
        Stream {
            show: &|_| false,
            log: Some(log),
            heartbeat: Some(Duration::from_secs(10)),
            ..Stream::effect()
        }
    }

    /// The tool's own preparation (a build of itself): runs in dry runs too.
    pub fn quiet_command() -> Stream<'static> {
        Stream {
            effect: false,
            ..Stream::effect()
        }
    }
}

/// A shell for `xshell::cmd!`, which writes every command line here: each
/// `{x}` is one argument, `{xs...}` several; there is no shell to inject into.
/// The result converts into `Cmd`, which runs it.
pub fn shell() -> Result<xshell::Shell> {
    xshell::Shell::new().context("reading the working directory")
}

impl From<xshell::Cmd<'_>> for Cmd {
    fn from(c: xshell::Cmd<'_>) -> Cmd {
        let c = std::process::Command::from(c);
        let text = |s: &std::ffi::OsStr| s.to_string_lossy().into_owned();
        Cmd {
            program: text(c.get_program()),
            args: c.get_args().map(text).collect(),
            env: c
                .get_envs()
                .filter_map(|(k, v)| Some((text(k), text(v?))))
                .collect(),
            dir: c.get_current_dir().map(Path::to_path_buf),
            ..Cmd::default()
        }
    }
}

impl Cmd {
    pub fn arg(mut self, arg: impl Into<String>) -> Self {
        self.args.push(arg.into());
        self
    }

    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// Feeds `bytes` on stdin; they are never shown (passwords go this way).
    pub fn secret_stdin(mut self, bytes: impl Into<Vec<u8>>) -> Self {
        self.stdin = Some(bytes.into());
        self
    }

    /// Lets the program read the terminal (`-it` sessions).
    pub fn interactive(mut self) -> Self {
        self.interactive = true;
        self
    }

    /// Hides `value` wherever this command is printed.
    pub fn redact(mut self, value: impl Into<String>) -> Self {
        let value = value.into();
        if !value.is_empty() {
            self.secrets.push(value);
        }
        self
    }

    /// Keeps a variable of this process from the child (a variable the
    /// command also sets is set).
    pub fn env_remove(mut self, key: &str) -> Self {
        self.env_remove.push(key.to_string());
        self
    }

    /// Sets a variable in the child's environment; values are never printed.
    /// The last value given for a name wins.
    pub fn env(mut self, key: &str, value: impl Into<String>) -> Self {
        self.env.retain(|(k, _)| k != key);
        self.env.push((key.to_string(), value.into()));
        self
    }

    pub fn dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.dir = Some(dir.into());
        self
    }

    /// The argument vector, secrets redacted (what dry runs print and tests parse).
    pub fn argv(&self) -> Vec<String> {
        std::iter::once(&self.program)
            .chain(&self.args)
            .map(|a| self.redacted(a))
            .collect()
    }

    /// The command line as a shell would read it, secrets redacted.
    pub fn display(&self) -> String {
        self.argv()
            .iter()
            .map(|a| shell_quote(a))
            .collect::<Vec<_>>()
            .join(" ")
    }

    fn redacted(&self, text: &str) -> String {
        self.secrets
            .iter()
            .fold(text.to_string(), |t, s| t.replace(s.as_str(), "***"))
    }

    /// A command that changes something: shown, then run with the terminal's
    /// stdout/stderr; in a dry run only shown.
    pub fn run(&self, ctx: &Ctx) -> Result<()> {
        if self.announce(ctx) {
            return Ok(());
        }
        let mut expression = self.expression();
        if progress_to_stderr() {
            expression = expression.stdout_to_stderr();
        }
        let status = expression
            .unchecked()
            .run()
            .map_err(|e| self.spawn_error(&e))?;
        self.check(status.status, "")
    }

    /// Like `run`, but output is read line by line: each line is printed with
    /// `prefix` (used when two commands run at once) and kept for the caller.
    pub fn run_lines(&self, ctx: &Ctx, prefix: &str) -> Result<Vec<String>> {
        self.stream(
            ctx,
            &Stream {
                prefix,
                ..Stream::effect()
            },
        )
    }

    /// Runs with stdout and stderr merged and read line by line, as `how` says:
    /// which lines to show and where, a log file of everything, a heartbeat
    /// line while the program is silent. Returns every line.
    pub fn stream(&self, ctx: &Ctx, how: &Stream) -> Result<Vec<String>> {
        if how.effect {
            if self.announce_prefixed(ctx, how.prefix) {
                return Ok(Vec::new());
            }
        } else if ctx.verbose {
            print_line(how.prefix, &format!("+ {}", self.display()));
        }
        let emit = |line: &str| match how.sink {
            Some(sink) => sink(line),
            None if how.to_stderr => eprintln!("{}{line}", how.prefix),
            None => print_line(how.prefix, line),
        };
        let mut log = match how.log {
            Some(path) => Some(
                std::fs::File::create(path)
                    .with_context(|| format!("creating {}", path.display()))?,
            ),
            None => None,
        };
        let reader = std::sync::Arc::new(
            self.expression()
                .stderr_to_stdout()
                .unchecked()
                .reader()
                .map_err(|e| self.spawn_error(&e))?,
        );
        let (tx, rx) = std::sync::mpsc::channel::<Vec<u8>>();
        let pipe = std::sync::Arc::clone(&reader);
        let read_thread = std::thread::spawn(move || -> std::io::Result<()> {
            let mut buffered = BufReader::new(&*pipe);
            loop {
                let mut raw = Vec::new();
                if buffered.read_until(b'\n', &mut raw)? == 0 {
                    return Ok(());
                }
                if tx.send(raw).is_err() {
                    return Ok(());
                }
            }
        });
        let started = Instant::now();
        let mut lines = Vec::new();
        // A heartbeat is due after `every` without a line *shown*: hidden
        // lines (going to the log) do not tell the user anything.
        let every = how.heartbeat.unwrap_or(Duration::from_secs(3600));
        let mut last_shown = Instant::now();
        loop {
            let wait = every.saturating_sub(last_shown.elapsed());
            match rx.recv_timeout(wait) {
                Ok(raw) => {
                    let line = self.redacted(&plain_line(&raw));
                    if let Some(log) = &mut log {
                        writeln!(log, "{line}")?;
                    }
                    if (how.show)(&line) {
                        emit(&line);
                        last_shown = Instant::now();
                    }
                    lines.push(line);
                }
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
            }
            if how.heartbeat.is_some() && last_shown.elapsed() >= every {
                emit(&format!(
                    "... `{}` still running ({:.0}s)",
                    self.short_display(),
                    started.elapsed().as_secs_f64()
                ));
                last_shown = Instant::now();
            }
        }
        read_thread
            .join()
            .map_err(|_| anyhow::anyhow!("the output reader panicked"))??;
        let status = reader
            .try_wait()?
            .context("child still running after EOF")?
            .status;
        self.check(status, &lines.join("\n"))
            .map_err(|e| match how.log {
                Some(path) => e.context(format!("full output in {}", path.display())),
                None => e,
            })?;
        Ok(lines)
    }

    /// A read-only question (`docker image inspect`, `git rev-parse`): runs even
    /// in a dry run, prints nothing unless verbose, returns trimmed stdout.
    /// Failure carries the program's stderr.
    pub fn read(&self, ctx: &Ctx) -> Result<String> {
        if ctx.verbose {
            print_line("", &format!("+ {}", self.display()));
        }
        let out = self
            .expression()
            .stdout_capture()
            .stderr_capture()
            .unchecked()
            .run()
            .map_err(|e| self.spawn_error(&e))?;
        let stderr = String::from_utf8_lossy(&out.stderr);
        self.check(out.status, &stderr)?;
        Ok(String::from_utf8_lossy(&out.stdout).trim_end().to_string())
    }

    /// Runs and reports only whether it succeeded (probes such as "does this
    /// network exist"). A missing program is still an error.
    pub fn succeeds(&self, ctx: &Ctx) -> Result<bool> {
        match self.read(ctx) {
            Ok(_) => Ok(true),
            Err(e) if e.downcast_ref::<Failed>().is_some() => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Starts the command in the background with output going to `log`; the
    /// caller owns the child (sandbox servers).
    pub fn spawn_logged(&self, ctx: &Ctx, log: &Path) -> Result<Option<std::process::Child>> {
        if self.announce(ctx) {
            return Ok(None);
        }
        let log_file =
            std::fs::File::create(log).with_context(|| format!("creating {}", log.display()))?;
        let mut command = std::process::Command::new(&self.program);
        command.args(&self.args);
        // Removals first: a variable the command sets explicitly is kept.
        for key in &self.env_remove {
            command.env_remove(key);
        }
        command
            .envs(self.env.iter().cloned())
            .stdin(std::process::Stdio::null());
        command.stdout(log_file.try_clone()?).stderr(log_file);
        if let Some(dir) = &self.dir {
            command.current_dir(dir);
        }
        // Own process group: a Ctrl-C in the user's terminal must not kill servers.
        use std::os::unix::process::CommandExt;
        command.process_group(0);
        let child = command.spawn().map_err(|e| self.spawn_error(&e))?;
        Ok(Some(child))
    }

    fn expression(&self) -> duct::Expression {
        let mut e = duct::cmd(&self.program, &self.args);
        // duct applies the outermost wrapper first: the sets go inside the
        // removals so that, as in `spawn_logged`, a variable set is kept.
        for (k, v) in &self.env {
            e = e.env(k, v);
        }
        for key in &self.env_remove {
            e = e.env_remove(key);
        }
        if let Some(dir) = &self.dir {
            e = e.dir(dir);
        }
        match &self.stdin {
            Some(bytes) => e.stdin_bytes(bytes.clone()),
            None if self.interactive => e,
            None => e.stdin_null(),
        }
    }

    /// Prints the command line; true when this is a dry run (nothing to do).
    pub fn announce(&self, ctx: &Ctx) -> bool {
        self.announce_prefixed(ctx, "")
    }

    fn announce_prefixed(&self, ctx: &Ctx, prefix: &str) -> bool {
        if ctx.dry_run {
            // Unprefixed: a dry run's lines are the command lines, nothing else.
            print_line("", &format!("[dry-run] {}", self.display()));
        } else {
            print_line(prefix, &format!("+ {}", self.display()));
        }
        ctx.dry_run
    }

    fn spawn_error(&self, err: &std::io::Error) -> anyhow::Error {
        if err.kind() == std::io::ErrorKind::NotFound {
            anyhow::anyhow!(
                "`{}` is not installed or not on PATH: {}",
                self.program,
                install_hint(&self.program)
            )
        } else {
            anyhow::anyhow!("could not start `{}`: {err}", self.program)
        }
    }

    fn check(&self, status: std::process::ExitStatus, output: &str) -> Result<()> {
        if status.success() {
            return Ok(());
        }
        let output = self.redacted(output);
        if self.program == "docker" && daemon_unreachable(&output) {
            bail!(DockerDaemonDown);
        }
        let code = status
            .code()
            .map_or("a signal".to_string(), |c| format!("exit status {c}"));
        let detail = last_meaningful_line(&output)
            .map(|l| format!(": {l}"))
            .unwrap_or_default();
        Err(Failed {
            summary: format!("`{}` failed ({code}){detail}", self.short_display()),
            code: status.code(),
        }
        .into())
    }

    /// `docker build` rather than the whole command line, for error messages
    /// and heartbeats: the program by its file name (`cargo`, not its full
    /// path) and its first word that is neither a `--long` option nor such an
    /// option's value (`docker-compose build`, not `docker-compose --file`).
    fn short_display(&self) -> String {
        let argv = self.argv();
        let program = Path::new(&argv[0])
            .file_name()
            .map_or(argv[0].clone(), |n| n.to_string_lossy().to_string());
        let mut words = argv.iter().skip(1).peekable();
        let mut first = None;
        while let Some(word) = words.next() {
            if word.starts_with("--") {
                // `--file X` (a value follows), not `--flag -x` or `--key=value`.
                if !word.contains('=') && words.peek().is_some_and(|w| !w.starts_with('-')) {
                    words.next();
                }
                continue;
            }
            first = Some(word.clone());
            break;
        }
        std::iter::once(program)
            .chain(first)
            .collect::<Vec<_>>()
            .join(" ")
    }
}

fn daemon_unreachable(output: &str) -> bool {
    output.contains("Cannot connect to the Docker daemon")
        || output.contains("Is the docker daemon running")
        || output.contains("error during connect")
}

fn install_hint(program: &str) -> &'static str {
    match program {
        "docker" => "install Docker (Debian: `apt-get install docker.io`; `cargo xtask sandbox up` does it as root under CI)",
        "docker-compose" => "install docker compose (Debian: `apt-get install docker-compose`)",
        "git" => "install git",
        "aws" => "install the AWS CLI v2 (https://docs.aws.amazon.com/cli/latest/userguide/getting-started-install.html)",
        "session-manager-plugin" => "install the Session Manager plugin (https://docs.aws.amazon.com/systems-manager/latest/userguide/session-manager-working-with-install-plugin.html)",
        "debootstrap" => "install debootstrap (`apt-get install debootstrap`)",
        "docker-registry" => "install the registry (`apt-get install docker-registry`)",
        "npm" => "install Node.js 20 with npm (the sandbox's node base image takes npm from the host's `npm pack`)",
        _ => "install it and try again",
    }
}

/// The last line worth quoting in a one-line error.
fn last_meaningful_line(output: &str) -> Option<&str> {
    output.lines().map(str::trim).rfind(|l| !l.is_empty())
}

/// Terminal control sequences (progress bars, colours) removed, so CI logs stay readable.
pub fn plain_line(raw: &[u8]) -> String {
    let text = String::from_utf8_lossy(raw);
    let text = text.trim_end_matches(['\n', '\r']);
    // A carriage return redraws the line: keep what was drawn last.
    let text = text.rsplit('\r').next().unwrap_or("");
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // CSI: ESC [ params final-byte
            if chars.peek() == Some(&'[') {
                chars.next();
                for c in chars.by_ref() {
                    if ('@'..='~').contains(&c) {
                        break;
                    }
                }
            }
        } else if !c.is_control() || c == '\t' {
            out.push(c);
        }
    }
    out
}

static STDOUT_BROKEN: AtomicBool = AtomicBool::new(false);

/// Set once at start by `--output json`: stdout then carries only the result
/// document, and every progress line (the tool's and its programs') goes to stderr.
static PROGRESS_TO_STDERR: AtomicBool = AtomicBool::new(false);

pub fn set_progress_to_stderr(on: bool) {
    PROGRESS_TO_STDERR.store(on, Ordering::Relaxed);
}

pub fn progress_to_stderr() -> bool {
    PROGRESS_TO_STDERR.load(Ordering::Relaxed)
}

/// A progress line: `print_line` of `format!(…)`.
#[macro_export]
macro_rules! outln {
    () => {
        $crate::exec::print_line("", "")
    };
    ($($arg:tt)*) => {
        $crate::exec::print_line("", &format!($($arg)*))
    };
}

/// One whole line of progress, never interleaved with another thread's line:
/// to stdout, or to stderr when stdout carries a JSON result.
pub fn print_line(prefix: &str, line: &str) {
    if progress_to_stderr() {
        eprintln!("{prefix}{line}");
        return;
    }
    if STDOUT_BROKEN.load(Ordering::Relaxed) {
        return;
    }
    let mut out = std::io::stdout().lock();
    if writeln!(out, "{prefix}{line}")
        .and_then(|_| out.flush())
        .is_err()
    {
        STDOUT_BROKEN.store(true, Ordering::Relaxed);
    }
}

pub fn shell_quote(arg: &str) -> String {
    let safe = !arg.is_empty()
        && arg
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=@%+,".contains(c));
    if safe {
        arg.to_string()
    } else {
        format!("'{}'", arg.replace('\'', r"'\''"))
    }
}

mod launch;

pub use launch::Launch;

#[cfg(test)]
mod tests;
