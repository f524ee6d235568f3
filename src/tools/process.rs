//! Child processes of tools (CLI tools and stdio MCP servers): what they inherit
//! from the host, and, for CLI tools, a process group killed as a whole.

use std::collections::BTreeMap;

use tokio::process::{Child, Command};

/// Host variables a tool's process inherits (as the MCP Python SDK passes to stdio
/// servers); everything else it gets only through its YAML `env`, so host secrets
/// in the environment do not reach it.
const INHERITED_ENV: &[&str] = &["HOME", "LOGNAME", "PATH", "SHELL", "TERM", "USER", "LANG", "LC_ALL", "TMPDIR"];

/// A command for `program` with a cleared environment: the allow-list from the
/// host, then `env` (already expanded). Killed if dropped while it runs.
pub(crate) fn command(program: &str, env: &BTreeMap<String, String>) -> Command {
    let mut command = Command::new(program);
    command.env_clear().kill_on_drop(true);
    command.envs(INHERITED_ENV.iter().filter_map(|k| std::env::var(k).ok().map(|v| (*k, v))));
    command.envs(env);
    command
}

/// The process group of a spawned child, which leads it. Dropping this kills the
/// whole group (the child and everything it started that did not leave the group),
/// so a timeout or a cancelled call leaves no grandchild behind.
#[derive(Debug)]
pub(crate) struct ProcessGroup {
    #[cfg(unix)]
    leader: Option<rustix::process::Pid>,
}

impl ProcessGroup {
    /// Spawns `command` as the leader of a new process group.
    pub(crate) fn spawn(command: &mut Command) -> std::io::Result<(Child, Self)> {
        #[cfg(unix)]
        command.process_group(0);
        let child = command.spawn()?;
        #[cfg(unix)]
        let group =
            Self { leader: child.id().and_then(|id| i32::try_from(id).ok()).and_then(rustix::process::Pid::from_raw) };
        #[cfg(not(unix))]
        let group = Self {};
        Ok((child, group))
    }

    /// Kills every process of the group (once; later calls do nothing).
    ///
    /// Call it before the leader is reaped where possible: a group id stays
    /// reserved while the leader is a zombie or any member lives, but once all are
    /// gone the number could, after the PID space wraps, belong to another group.
    pub(crate) fn kill(&mut self) {
        #[cfg(unix)]
        if let Some(leader) = self.leader.take() {
            // ESRCH (nothing left in the group) is the common, harmless outcome.
            let _ = rustix::process::kill_process_group(leader, rustix::process::Signal::KILL);
        }
    }
}

impl Drop for ProcessGroup {
    fn drop(&mut self) {
        self.kill();
    }
}
