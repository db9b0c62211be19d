//! A command spelled out for another process to start (the sandbox's fork server).

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::Cmd;

/// A command as `Cmd::launch` spells it out for another process to start.
pub struct Launch {
    pub program: String,
    pub args: Vec<String>,
    pub dir: Option<PathBuf>,
    pub env: BTreeMap<String, String>,
}

impl Cmd {
    /// What a process other than this one needs to start the command as
    /// `spawn_logged` would (a fork server): program, arguments, working
    /// directory, and the environment, this process's less the removals plus
    /// the sets. Secrets unredacted: never shown.
    pub fn launch(&self) -> Launch {
        let mut env: BTreeMap<String, String> = std::env::vars_os()
            .map(|(k, v)| {
                (
                    k.to_string_lossy().into_owned(),
                    v.to_string_lossy().into_owned(),
                )
            })
            .collect();
        for key in &self.env_remove {
            env.remove(key);
        }
        env.extend(self.env.iter().cloned());
        Launch {
            program: self.program.clone(),
            args: self.args.clone(),
            dir: self.dir.clone(),
            env,
        }
    }
}
