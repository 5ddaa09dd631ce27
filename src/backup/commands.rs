//! What runs around a backup or a restore: the plugin's commands and its services. A trait, so the
//! restore's order of events is tested without a running system; [`SystemRunner`] is the real one.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::target::{self, ProgramError, Target, with_usual_umask};

/// Runs commands and manages services of the system a backup is made on or restored into.
pub trait Runner {
    /// Runs `argv` with `env` added; what it printed on its standard output, or an error that says
    /// why it failed, with what it printed.
    fn run(&self, argv: &[String], env: &[(String, String)]) -> Result<String, ProgramError>;
    fn stop(&self, services: &[String]) -> Result<(), ProgramError>;
    fn start(&self, services: &[String]) -> Result<(), ProgramError>;
    /// How a path under the system's root looks to the commands (inside a chroot, `/…`).
    fn inside(&self, path: &Path) -> PathBuf {
        path.to_owned()
    }
}

/// The real system at `root`: commands run directly on `/` and under chroot(8) elsewhere; services
/// are managed with systemctl on `/` only, since a system in a directory is not running.
pub struct SystemRunner {
    target: Target,
}

impl SystemRunner {
    pub fn new(root: &Path) -> Self {
        Self {
            target: Target::new(root),
        }
    }

    /// Runs `command` (`shown` in errors), started with a root shell's umask.
    /// Runs `command`; its standard output.
    fn execute(command: Command, shown: &str) -> Result<String, ProgramError> {
        let child = with_usual_umask(|| target::spawn(command, shown, false))?;
        let ran = target::finish(child, shown, None)?;
        if ran.status.success() {
            Ok(ran.stdout)
        } else {
            Err(ran.failure(shown))
        }
    }

    fn systemctl(&self, verb: &str, services: &[String]) -> Result<(), ProgramError> {
        if services.is_empty() || !self.target.is_live() {
            return Ok(());
        }
        let mut command = self.target.command("systemctl");
        command.arg(verb).arg("--").args(services);
        Self::execute(command, &format!("systemctl {verb} {}", services.join(" "))).map(drop)
    }
}

impl Runner for SystemRunner {
    fn run(&self, argv: &[String], env: &[(String, String)]) -> Result<String, ProgramError> {
        let Some((program, arguments)) = argv.split_first() else {
            return Err(ProgramError::Failed {
                program: String::new(),
                status: "not run".into(),
                said: "an empty command".into(),
            });
        };
        let mut command = self.target.command(program);
        command
            .args(arguments)
            .envs(env.iter().map(|(k, v)| (k, v)));
        Self::execute(command, &argv.join(" "))
    }

    fn stop(&self, services: &[String]) -> Result<(), ProgramError> {
        self.systemctl("stop", services)
    }

    /// Started; when that fails, once more after their failed state is reset: a service that
    /// was crash-looping just before (what a rollback follows) may leave systemd a moment's
    /// work on its control group.
    fn start(&self, services: &[String]) -> Result<(), ProgramError> {
        self.systemctl("start", services).or_else(|_| {
            std::thread::sleep(std::time::Duration::from_secs(2));
            let _ = self.systemctl("reset-failed", services);
            self.systemctl("start", services)
        })
    }

    fn inside(&self, path: &Path) -> PathBuf {
        self.target.inside(path)
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
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("exit status: 3") && error.contains("no database wiki"),
            "{error}"
        );
        let error = runner
            .run(&["/nonexistent".into()], &[])
            .unwrap_err()
            .to_string();
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
