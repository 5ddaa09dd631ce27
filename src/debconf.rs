//! The system's package tools, through `std::process`: `debconf-set-selections(1)` to preseed,
//! `dpkg-query(1)` for package states, `dpkg-reconfigure(8)` to reconfigure. A root other than `/`
//! runs them under chroot(8).

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;

use crate::target::{self, Target};

/// The error of a package tool: the one error of every program run on a system.
pub use crate::target::ProgramError as ToolError;

/// One package as dpkg knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageStatus {
    /// `installed`, `unpacked`, `half-configured`, `config-files`, `not-installed`, …
    pub status: String,
    pub version: String,
}

impl PackageStatus {
    /// Configured: dpkg ran its postinst to the end (triggers may still be pending).
    pub fn is_configured(&self) -> bool {
        matches!(
            self.status.as_str(),
            "installed" | "triggers-pending" | "triggers-awaited"
        )
    }
}

/// What appliance-tools asks of the package system. The real one is [`SystemTools`]; unit tests
/// use a recorder.
pub trait PackageTools {
    /// Feeds `selections` (debconf-set-selections input) to debconf; questions are marked seen.
    fn set_selections(&self, selections: &str) -> Result<(), ToolError>;
    /// dpkg's status of each of `packages` that it knows; unknown packages are left out.
    fn statuses(&self, packages: &[&str]) -> Result<HashMap<String, PackageStatus>, ToolError>;
    /// Runs the package's configuration again with the answers debconf now holds; `questions` are
    /// the seeded ones, flagged `changed` first (postfix's postinst, among others, applies only the
    /// answers a frontend flagged changed, and the noninteractive frontend flags none).
    fn reconfigure(&self, package: &str, questions: &[&str]) -> Result<(), ToolError>;
    /// Runs `argv` (an absolute program and its arguments, no shell) as root on the system, with
    /// `input` on its standard input (a secret goes there, never into the arguments).
    fn run_command(&self, argv: &[String], input: Option<&str>) -> Result<(), ToolError>;
}

/// The tools of the system rooted at `root`.
#[derive(Debug, Clone)]
pub struct SystemTools {
    target: Target,
}

impl SystemTools {
    pub fn new(root: &Path) -> Self {
        Self {
            target: Target::new(root),
        }
    }

    fn command(&self, program: &str) -> Command {
        self.target.command(program)
    }
}

/// Runs a package tool; its standard output.
fn run(command: Command, program: &str, input: Option<&str>) -> Result<String, ToolError> {
    let ran = target::output(command, program, input.map(str::as_bytes))?;
    // debconf-set-selections reports a line it skips (`warning: Unknown type …, skipping line 3`)
    // or cannot apply (`error: …`) on stderr and still exits 0: those are failures. Other stderr,
    // such as perl's locale warnings, is not.
    let rejected = program == "debconf-set-selections" && selections_rejected(&ran.stderr);
    if !ran.status.success() || rejected {
        return Err(ran.failure(program));
    }
    Ok(ran.stdout)
}

/// Whether debconf-set-selections' stderr says it skipped or could not apply a line.
fn selections_rejected(stderr: &str) -> bool {
    stderr
        .lines()
        .any(|l| l.starts_with("error: ") || l.starts_with("warning: "))
}

impl PackageTools for SystemTools {
    fn set_selections(&self, selections: &str) -> Result<(), ToolError> {
        run(
            self.command("debconf-set-selections"),
            "debconf-set-selections",
            Some(selections),
        )
        .map(drop)
    }

    fn run_command(&self, argv: &[String], input: Option<&str>) -> Result<(), ToolError> {
        let (program, arguments) = argv.split_first().ok_or_else(|| ToolError::Failed {
            program: String::new(),
            status: "not run".into(),
            said: "an empty command".into(),
        })?;
        let mut command = self.command(program);
        command.args(arguments);
        run(command, program, input).map(drop)
    }

    fn statuses(&self, packages: &[&str]) -> Result<HashMap<String, PackageStatus>, ToolError> {
        if packages.is_empty() {
            return Ok(HashMap::new());
        }
        let mut command = crate::target::command("dpkg-query");
        // On the running system dpkg-query finds its database itself (and honours DPKG_ADMINDIR).
        if !self.target.is_live() {
            command.arg(format!("--root={}", self.target.root().display()));
        }
        command
            .args([
                "-W",
                "-f",
                "${Package}\t${db:Status-Status}\t${Version}\n",
                "--",
            ])
            .args(packages);
        // dpkg-query exits 1 when some package is unknown, and still lists the others.
        let ran = target::output(command, "dpkg-query", None)?;
        if !matches!(ran.status.code(), Some(0 | 1)) {
            return Err(ran.failure("dpkg-query"));
        }
        Ok(ran
            .stdout
            .lines()
            .filter_map(|line| {
                let mut fields = line.splitn(3, '\t');
                let name = fields.next()?;
                let status = fields.next()?;
                let version = fields.next().unwrap_or_default();
                Some((
                    name.to_owned(),
                    PackageStatus {
                        status: status.to_owned(),
                        version: version.to_owned(),
                    },
                ))
            })
            .collect())
    }

    fn reconfigure(&self, package: &str, questions: &[&str]) -> Result<(), ToolError> {
        if !questions.is_empty() {
            let flags = questions.iter().fold(String::new(), |mut text, q| {
                text.push_str("FSET ");
                text.push_str(q);
                text.push_str(" changed true\n");
                text
            });
            let mut command = self.command("debconf-communicate");
            command.arg(package).env_remove("DEBIAN_HAS_FRONTEND");
            // Best effort: a question the package no longer registers answers an error code, and
            // debconf-communicate exits with the last one. dpkg-reconfigure below is what counts.
            match run(command, "debconf-communicate", Some(&flags)) {
                Ok(_) | Err(ToolError::Failed { .. }) => {}
                Err(error) => return Err(error),
            }
        }
        let mut command = self.command("dpkg-reconfigure");
        command.args(["--frontend=noninteractive", "--", package]);
        command.env_remove("DEBIAN_HAS_FRONTEND");
        run(command, "dpkg-reconfigure", None).map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_debconfs_own_complaints_fail_a_seeding() {
        assert!(selections_rejected(
            "warning: Unknown type strin, skipping line 1\n"
        ));
        assert!(selections_rejected("error: Cannot find a question\n"));
        let locale = "perl: warning: Setting locale failed.\nperl: warning: Please check that your locale settings:\n\tLANGUAGE = (unset),\nperl: warning: Falling back to the standard locale (\"C\").\n";
        assert!(!selections_rejected(locale));
        assert!(!selections_rejected(""));
    }
}
