//! What runs around a backup or a restore: the plugin's commands and its services. A trait, so the
//! restore's order of events is tested without a running system; [`SystemRunner`] is the real one.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Runs `spawn` (which starts a program) with the umask a root shell has (022). A root service
/// may run with a stricter one (appliance-control's agent has `UMask=0077`) for the files it
/// writes itself; the programs it runs for an appliance (migrations, plugin scripts) write files
/// that the appliance's services must read. Only the program inherits it: the caller's umask is
/// put back once the program is started. The umask is the process's, so the caller must not
/// create files on other threads meanwhile.
pub fn with_usual_umask<T>(spawn: impl FnOnce() -> T) -> T {
    use nix::sys::stat::{Mode, umask};
    let previous = umask(Mode::from_bits_truncate(0o022));
    let result = spawn();
    umask(previous);
    result
}

/// Runs commands and manages services of the system a backup is made on or restored into.
pub trait Runner {
    /// Runs `argv` with `env` added; an error says why it failed, with what it printed.
    fn run(&self, argv: &[String], env: &[(String, String)]) -> Result<(), String>;
    fn stop(&self, services: &[String]) -> Result<(), String>;
    fn start(&self, services: &[String]) -> Result<(), String>;
    /// How a path under the system's root looks to the commands (inside a chroot, `/…`).
    fn inside(&self, path: &Path) -> PathBuf {
        path.to_owned()
    }
}

/// The real system at `root`: commands run directly on `/` and under chroot(8) elsewhere; services
/// are managed with systemctl on `/` only, since a system in a directory is not running.
pub struct SystemRunner {
    root: PathBuf,
}

impl SystemRunner {
    pub fn new(root: &Path) -> Self {
        Self {
            root: root.to_owned(),
        }
    }

    fn live(&self) -> bool {
        self.root == Path::new("/")
    }

    fn execute(mut command: Command, shown: &str) -> Result<(), String> {
        let output = with_usual_umask(|| {
            command
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
        })
        .and_then(std::process::Child::wait_with_output)
        .map_err(|e| format!("cannot run `{shown}`: {e}"))?;
        if output.status.success() {
            return Ok(());
        }
        let stderr = String::from_utf8_lossy(&output.stderr);
        let stdout = String::from_utf8_lossy(&output.stdout);
        let said = if stderr.trim().is_empty() {
            stdout.trim()
        } else {
            stderr.trim()
        };
        let tail: Vec<&str> = said.lines().rev().take(5).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        Err(format!(
            "`{shown}` failed ({}){}{}",
            output.status,
            if tail.is_empty() { "" } else { ": " },
            tail.join(" / ")
        ))
    }

    fn systemctl(&self, verb: &str, services: &[String]) -> Result<(), String> {
        if services.is_empty() || !self.live() {
            return Ok(());
        }
        let mut command = Command::new("systemctl");
        command.arg(verb).arg("--").args(services);
        Self::execute(command, &format!("systemctl {verb} {}", services.join(" ")))
    }
}

impl Runner for SystemRunner {
    fn run(&self, argv: &[String], env: &[(String, String)]) -> Result<(), String> {
        let (program, arguments) = argv.split_first().ok_or("an empty command")?;
        let mut command = if self.live() {
            Command::new(program)
        } else {
            let mut command = Command::new("chroot");
            command.arg(&self.root).arg(program);
            command
        };
        command
            .args(arguments)
            .envs(env.iter().map(|(k, v)| (k, v)));
        Self::execute(command, &argv.join(" "))
    }

    fn stop(&self, services: &[String]) -> Result<(), String> {
        self.systemctl("stop", services)
    }

    fn start(&self, services: &[String]) -> Result<(), String> {
        self.systemctl("start", services)
    }

    fn inside(&self, path: &Path) -> PathBuf {
        match path.strip_prefix(&self.root) {
            Ok(relative) if !self.live() => Path::new("/").join(relative),
            _ => path.to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failing_command_says_what_it_printed() {
        let runner = SystemRunner::new(Path::new("/"));
        runner
            .run(&["/bin/true".into()], &[("X".into(), "1".into())])
            .unwrap();
        let error = runner
            .run(
                &[
                    "/bin/sh".into(),
                    "-c".into(),
                    "echo \"no database $X\" >&2; exit 3".into(),
                ],
                &[("X".into(), "wiki".into())],
            )
            .unwrap_err();
        assert!(
            error.contains("exit status: 3") && error.contains("no database wiki"),
            "{error}"
        );
        let error = runner.run(&["/nonexistent".into()], &[]).unwrap_err();
        assert!(error.contains("cannot run `/nonexistent`"), "{error}");
    }

    #[test]
    fn paths_inside_a_chroot_and_services_of_a_system_not_running() {
        let runner = SystemRunner::new(Path::new("/srv/image"));
        assert_eq!(
            runner.inside(Path::new("/srv/image/var/lib/.x.staged")),
            Path::new("/var/lib/.x.staged")
        );
        // Nothing to stop in a directory: systemctl is not called.
        runner.stop(&["moin".into()]).unwrap();
        let live = SystemRunner::new(Path::new("/"));
        assert_eq!(live.inside(Path::new("/var/x")), Path::new("/var/x"));
    }
}
