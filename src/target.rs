//! Programs run on the system a tool works on: on `/` directly, on a system in another directory
//! under chroot(8). One way to build the command, one way to run it (its standard input written
//! from a thread while its output is read, so that a large input cannot deadlock against a full
//! pipe), and one error that names the program, its exit status and what it said.

#![allow(
    clippy::disallowed_methods,
    reason = "the one module that makes std::process::Command (clippy.toml)"
)]

use std::ffi::OsStr;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};

/// How many of the last lines a program printed an error quotes.
const SAID_LINES: usize = 5;

#[derive(Debug, thiserror::Error)]
pub enum ProgramError {
    // The cause inline: this error is often quoted inside another's message.
    #[error("cannot run `{program}`: {error}")]
    Spawn {
        program: String,
        error: std::io::Error,
    },
    #[error("`{program}` failed ({status}){}", said_suffix(.said))]
    Failed {
        program: String,
        status: String,
        /// The last lines of its standard error (of its standard output when it said nothing
        /// there).
        said: String,
    },
}

fn said_suffix(said: &str) -> String {
    let said = said.trim();
    if said.is_empty() {
        String::new()
    } else {
        format!(": {said}")
    }
}

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

/// A command that runs `program` on the system this tool runs on (not a target's: a tool of the
/// host, such as `setpriv`, `mmdebstrap`, `dpkg --compare-versions`).
pub fn command(program: impl AsRef<OsStr>) -> Command {
    Command::new(program)
}

/// The system at a root: `/`, the running one, or one in a directory (a chroot, a mounted image).
#[derive(Debug, Clone)]
pub struct Target {
    root: PathBuf,
}

impl Target {
    pub fn new(root: &Path) -> Self {
        Self {
            root: root.to_owned(),
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The running system: its services can be managed, its programs run without chroot.
    pub fn is_live(&self) -> bool {
        self.root == Path::new("/")
    }

    /// A command that runs `program` on this system: directly on `/`, under chroot elsewhere.
    pub fn command(&self, program: impl AsRef<OsStr>) -> Command {
        if self.is_live() {
            command(program)
        } else {
            let mut command = command("chroot");
            command.arg(&self.root).arg(program);
            command
        }
    }

    /// How `path` (a path under the root, as this process sees it) looks to the programs run on
    /// the system: inside a chroot, `/…`.
    pub fn inside(&self, path: &Path) -> PathBuf {
        match path.strip_prefix(&self.root) {
            Ok(relative) if !self.is_live() => Path::new("/").join(relative),
            _ => path.to_owned(),
        }
    }
}

/// What a program printed and how it ended.
#[derive(Debug)]
pub struct Ran {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Ran {
    /// The error of a program that ended so: its status and the last lines it said.
    pub fn failure(&self, program: &str) -> ProgramError {
        let said = if self.stderr.trim().is_empty() {
            self.stdout.trim()
        } else {
            self.stderr.trim()
        };
        let lines: Vec<&str> = said.lines().collect();
        ProgramError::Failed {
            program: program.to_owned(),
            status: self.status.to_string(),
            said: lines[lines.len().saturating_sub(SAID_LINES)..].join("\n"),
        }
    }
}

/// Runs `command` (called `program` in errors) with `input` on its standard input (none: no
/// standard input), and returns what it printed, whatever its exit status.
pub fn output(command: Command, program: &str, input: Option<&[u8]>) -> Result<Ran, ProgramError> {
    let child = spawn(command, program, input.is_some())?;
    finish(child, program, input)
}

/// Starts `command` with its output piped, and its standard input piped `with_input` (else
/// none); [`finish`] collects it. Split from [`output`] for a caller that must start a program
/// in a state of its own (a umask).
pub fn spawn(mut command: Command, program: &str, with_input: bool) -> Result<Child, ProgramError> {
    command
        .stdin(if with_input {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command.spawn().map_err(|error| ProgramError::Spawn {
        program: program.to_owned(),
        error,
    })
}

/// Writes `input` to a started program from a thread while its output is read, and waits for it.
pub fn finish(mut child: Child, program: &str, input: Option<&[u8]>) -> Result<Ran, ProgramError> {
    let spawn = |error| ProgramError::Spawn {
        program: program.to_owned(),
        error,
    };
    // Written from a thread while the output is read: a large input cannot fill both pipes.
    let writer = match (input, child.stdin.take()) {
        (Some(input), Some(mut stdin)) => {
            let input = input.to_owned();
            Some(std::thread::spawn(move || stdin.write_all(&input)))
        }
        _ => None,
    };
    let output = child.wait_with_output().map_err(spawn)?;
    if let Some(writer) = writer {
        match writer.join() {
            Ok(Ok(())) => {}
            // The program ended without reading all of it: its status says why.
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
            Ok(Err(e)) => return Err(spawn(e)),
            Err(_) => return Err(spawn(std::io::Error::other("the input writer panicked"))),
        }
    }
    Ok(Ran {
        status: output.status,
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    })
}

/// Runs `command` (called `program` in errors) with nothing on its standard input and its
/// standard output and error merged into one pipe, whose lines go to `line` as they come (for a
/// log that streams live). Returns how it ended; [`failed`] makes the error.
pub fn stream(
    mut command: Command,
    program: &str,
    mut line: impl FnMut(&str),
) -> Result<ExitStatus, ProgramError> {
    let spawn = |error| ProgramError::Spawn {
        program: program.to_owned(),
        error,
    };
    let (reader, writer) = std::io::pipe().map_err(spawn)?;
    command
        .stdin(Stdio::null())
        .stdout(writer.try_clone().map_err(spawn)?)
        .stderr(writer);
    let mut child = command.spawn().map_err(spawn)?;
    // The child holds the pipe's writing ends now: the reading ends when it does.
    drop(command);
    for read in std::io::BufReader::new(reader).split(b'\n') {
        let Ok(read) = read else { break };
        line(&String::from_utf8_lossy(&read));
    }
    child.wait().map_err(spawn)
}

/// The error of a program that ended with `status`, having said `said`.
pub fn failed(program: &str, status: ExitStatus, said: &str) -> ProgramError {
    ProgramError::Failed {
        program: program.to_owned(),
        status: status.to_string(),
        said: said.to_owned(),
    }
}

/// [`output`], and an exit status other than 0 is an error.
pub fn run(command: Command, program: &str, input: Option<&[u8]>) -> Result<Ran, ProgramError> {
    let ran = output(command, program, input)?;
    if ran.status.success() {
        Ok(ran)
    } else {
        Err(ran.failure(program))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_large_input_and_output_do_not_deadlock() {
        // More than a pipe holds, both ways at once.
        let input = vec![b'x'; 4 << 20];
        let ran = run(
            Target::new(Path::new("/")).command("cat"),
            "cat",
            Some(&input),
        )
        .unwrap();
        assert_eq!(ran.stdout.len(), input.len());
    }

    #[test]
    fn a_failure_names_the_program_its_status_and_its_last_words() {
        let mut command = Command::new("sh");
        command.args([
            "-c",
            "for i in 1 2 3 4 5 6 7; do echo line $i >&2; done; exit 3",
        ]);
        let error = run(command, "sh", None).unwrap_err().to_string();
        assert!(
            error.starts_with("`sh` failed (exit status: 3): line 3\n"),
            "{error}"
        );
        assert!(error.ends_with("line 7"), "{error}");
        let mut command = Command::new("sh");
        command.args(["-c", "echo only on stdout; exit 1"]);
        let error = run(command, "sh", None).unwrap_err().to_string();
        assert!(error.ends_with(": only on stdout"), "{error}");
        let error = run(Command::new("/nonexistent"), "/nonexistent", None).unwrap_err();
        assert!(matches!(error, ProgramError::Spawn { .. }), "{error}");
    }

    #[test]
    fn a_stream_gives_both_outputs_line_by_line_and_its_status() {
        let mut command = Command::new("sh");
        command.args(["-c", "echo one; echo two >&2; printf three; exit 4"]);
        let mut lines = Vec::new();
        let status = stream(command, "sh", |line| lines.push(line.to_owned())).unwrap();
        assert_eq!(status.code(), Some(4));
        assert_eq!(lines, ["one", "two", "three"]);
        let error = failed("sh", status, "two").to_string();
        assert_eq!(error, "`sh` failed (exit status: 4): two");
        let error = stream(Command::new("/nonexistent"), "/nonexistent", |_| {}).unwrap_err();
        assert!(matches!(error, ProgramError::Spawn { .. }), "{error}");
    }

    #[test]
    fn another_root_runs_under_chroot_and_sees_its_paths_from_inside() {
        let target = Target::new(Path::new("/srv/chroot"));
        let command = target.command("apt-get");
        assert_eq!(command.get_program(), "chroot");
        let arguments: Vec<&OsStr> = command.get_args().collect();
        assert_eq!(arguments, ["/srv/chroot", "apt-get"]);
        assert_eq!(
            target.inside(Path::new("/srv/chroot/var/lib/x")),
            Path::new("/var/lib/x")
        );
        let live = Target::new(Path::new("/"));
        assert_eq!(live.command("apt-get").get_program(), "apt-get");
        assert_eq!(
            live.inside(Path::new("/var/lib/x")),
            Path::new("/var/lib/x")
        );
    }
}
