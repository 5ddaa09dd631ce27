//! The build's working directory beside the output (`.NAME.va-build/`), and the commands run in
//! it with their output in the log.
//!
//! The directory is locked while a build runs. A build killed with `kill -9` leaves it behind, but
//! never a file at the output path (the image is renamed there when complete) and never a mount:
//! every command runs with `setpriv --pdeathsig KILL`, and mmdebstrap, which mounts, runs in its
//! own mount and PID namespaces, which the kernel tears down with their last process. The next
//! build for the same output removes what is left.

#![expect(
    clippy::disallowed_methods,
    reason = "writes the image's root and disk while they are assembled in the build's own directory: nothing reads them until the finished image is renamed into place"
)]

use std::ffi::OsStr;
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};

use crate::target::{self, ProgramError};

#[derive(Debug, thiserror::Error)]
pub enum WorkError {
    #[error("{what} `{}`", .path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Program(#[from] ProgramError),
    #[error("another va-build is writing `{}`", .0.display())]
    Busy(PathBuf),
    #[error("`{}` is still mounted under `{}`: not removing it", .mount.display(), .dir.display())]
    Mounted { dir: PathBuf, mount: PathBuf },
    #[error("{}", failed(command, status, said, log))]
    Failed {
        command: String,
        status: String,
        /// The error lines the program printed last (`E: …` from APT and mmdebstrap, `error…`).
        said: Vec<String>,
        log: PathBuf,
    },
}

/// What the program said first, when it said an error: the command line (long, with its
/// options) stays in the log.
fn failed(command: &str, status: &str, said: &[String], log: &Path) -> String {
    if said.is_empty() {
        format!(
            "`{command}` failed ({status}); the log is `{}`",
            log.display()
        )
    } else {
        format!(
            "{} (`{command}` failed, {status}; the log is `{}`)",
            said.join(" / "),
            log.display()
        )
    }
}

/// An error line of a program's output: APT's and mmdebstrap's `E: …`, or one that says `error`.
fn is_error_line(line: &str) -> bool {
    let line = line.trim_start();
    line.starts_with("E: ") || line.to_ascii_lowercase().starts_with("error")
}

/// `program` and its words that are not options or their values, shortened: enough to say which
/// step failed (`apt-get update`) without a line of `-o` options.
fn short_command(program: &str, args: &[std::ffi::OsString]) -> String {
    let mut words = vec![program.to_owned()];
    let mut skip_next = false;
    for arg in args {
        let arg = arg.to_string_lossy();
        if skip_next {
            skip_next = false;
        } else if arg == "-o" {
            skip_next = true;
        } else if !arg.starts_with('-') {
            words.push(arg.into_owned());
        }
    }
    let text = words.join(" ");
    if text.chars().count() > 120 {
        format!("{}…", text.chars().take(120).collect::<String>())
    } else {
        text
    }
}

fn io(what: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> WorkError + use<> {
    let path = path.to_owned();
    move |source| WorkError::Io { what, path, source }
}

/// The working directory of a build whose image goes to `output`.
pub struct Work {
    pub dir: PathBuf,
    _lock: Flock<std::fs::File>,
}

/// `.NAME.va-build` beside `output`.
pub fn work_dir(output: &Path) -> PathBuf {
    let name = output.file_name().unwrap_or_default().to_string_lossy();
    output
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .join(format!(".{name}.va-build"))
}

impl Work {
    /// Takes the working directory of `output`, removing what a killed build left there.
    pub fn take(output: &Path) -> Result<Self, WorkError> {
        let dir = work_dir(output);
        let lock_path = dir.with_extension("va-build.lock");
        let file = fs_err::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io("cannot open the lock", &lock_path))?
            .into_parts()
            .0;
        let lock = Flock::lock(file, FlockArg::LockExclusiveNonblock)
            .map_err(|_| WorkError::Busy(output.to_owned()))?;
        if dir.exists() {
            remove_tree(&dir)?;
        }
        // Root's alone: it holds the site's seed and a root file system being made.
        std::os::unix::fs::DirBuilderExt::mode(&mut std::fs::DirBuilder::new(), 0o700)
            .create(&dir)
            .map_err(io("cannot make the working directory", &dir))?;
        Ok(Self { dir, _lock: lock })
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
}

impl Drop for Work {
    fn drop(&mut self) {
        // Best effort: what stays is removed by the next build.
        let _ = remove_tree(&self.dir);
        let _ = fs_err::remove_file(self.dir.with_extension("va-build.lock"));
    }
}

/// The mount points at or under `dir`, from `/proc/self/mountinfo`.
pub fn mounts_under(dir: &Path) -> Vec<PathBuf> {
    let Ok(dir) = fs_err::canonicalize(dir) else {
        return Vec::new();
    };
    let text = fs_err::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    text.lines()
        .filter_map(|line| line.split(' ').nth(4))
        .map(|m| PathBuf::from(m.replace("\\040", " ")))
        .filter(|m| m.starts_with(&dir))
        .collect()
}

/// Removes `dir` and everything in it, refusing when anything below is mounted and never
/// crossing into another file system.
pub fn remove_tree(dir: &Path) -> Result<(), WorkError> {
    if let Some(mount) = mounts_under(dir).into_iter().next() {
        return Err(WorkError::Mounted {
            dir: dir.to_owned(),
            mount,
        });
    }
    let device = fs_err::symlink_metadata(dir)
        .map_err(io("cannot read", dir))?
        .dev();
    remove_on(dir, device)
}

fn remove_on(dir: &Path, device: u64) -> Result<(), WorkError> {
    for entry in fs_err::read_dir(dir).map_err(io("cannot read", dir))? {
        let entry = entry.map_err(io("cannot read", dir))?;
        let path = entry.path();
        let meta = fs_err::symlink_metadata(&path).map_err(io("cannot read", &path))?;
        if meta.is_dir() {
            if meta.dev() != device {
                return Err(WorkError::Mounted {
                    dir: dir.to_owned(),
                    mount: path,
                });
            }
            remove_on(&path, device)?;
        } else {
            fs_err::remove_file(&path).map_err(io("cannot remove", &path))?;
        }
    }
    fs_err::remove_dir(dir).map_err(io("cannot remove", dir))
}

/// What the build tells the person who runs it: the stage, and each line of the log as it comes.
pub trait Progress {
    fn stage(&mut self, number: usize, total: usize, what: &str);
    fn line(&mut self, _line: &str) {}
}

/// Runs commands with their output appended to the build's log.
pub struct Runner<'a> {
    pub log: PathBuf,
    file: fs_err::File,
    pub progress: &'a mut dyn Progress,
}

impl<'a> Runner<'a> {
    pub fn new(log: &Path, progress: &'a mut dyn Progress) -> Result<Self, WorkError> {
        let file = fs_err::File::create(log).map_err(io("cannot write the log", log))?;
        Ok(Self {
            log: log.to_owned(),
            file,
            progress,
        })
    }

    /// A line in the log only.
    pub fn note(&mut self, text: &str) {
        let _ = writeln!(self.file, "va-build: {text}");
    }

    /// Runs `program args…`, killed if va-build dies; its output goes to the log and, line by
    /// line, to the progress.
    pub fn run<I, S>(&mut self, program: &str, args: I) -> Result<(), WorkError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.run_with(program, args, &[])
    }

    pub fn run_with<I, S>(
        &mut self,
        program: &str,
        args: I,
        env: &[(&str, &str)],
    ) -> Result<(), WorkError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let args: Vec<std::ffi::OsString> =
            args.into_iter().map(|a| a.as_ref().to_owned()).collect();
        let shown = std::iter::once(program.to_owned())
            .chain(args.iter().map(|a| a.to_string_lossy().into_owned()))
            .collect::<Vec<_>>()
            .join(" ");
        self.note(&format!("$ {shown}"));
        let mut command = target::command("setpriv");
        command
            .args(["--pdeathsig", "KILL", "--", program])
            .args(&args)
            .envs(env.iter().copied());
        let mut said: Vec<String> = Vec::new();
        let (file, progress) = (&mut self.file, &mut self.progress);
        let status = target::stream(command, program, |line| {
            let _ = writeln!(file, "{line}");
            progress.line(line);
            // The first error lines say why; the rest repeat that it failed.
            if is_error_line(line) && said.len() < 3 {
                said.push(line.trim().to_owned());
            }
        })?;
        if status.success() {
            return Ok(());
        }
        Err(WorkError::Failed {
            command: short_command(program, &args),
            status: status.to_string(),
            said,
            log: self.log.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Lines(Vec<String>);
    impl Progress for Lines {
        fn stage(&mut self, _: usize, _: usize, _: &str) {}
        fn line(&mut self, line: &str) {
            self.0.push(line.to_owned());
        }
    }

    #[test]
    fn the_working_directory_is_beside_the_output_and_locked() {
        let dir = tempfile::tempdir().unwrap();
        let output = dir.path().join("wiki.qcow2");
        assert_eq!(work_dir(&output), dir.path().join(".wiki.qcow2.va-build"));
        assert_eq!(work_dir(Path::new("x.img")), Path::new("./.x.img.va-build"));
        // What a killed build left is removed.
        let stale = work_dir(&output).join("root/etc");
        fs_err::create_dir_all(&stale).unwrap();
        fs_err::write(stale.join("f"), "x").unwrap();
        let work = Work::take(&output).unwrap();
        assert!(!stale.exists());
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &fs_err::metadata(&work.dir).unwrap().permissions(),
        );
        assert_eq!(mode & 0o777, 0o700);
        assert!(matches!(Work::take(&output), Err(WorkError::Busy(_))));
        let kept = work.dir.clone();
        drop(work);
        assert!(!kept.exists());
    }

    #[test]
    fn commands_log_their_output_and_failures_name_the_log() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("build.log");
        let mut lines = Lines(Vec::new());
        let mut runner = Runner::new(&log, &mut lines).unwrap();
        runner.run("sh", ["-c", "echo out; echo err >&2"]).unwrap();
        let error = runner.run("sh", ["-c", "exit 3"]).unwrap_err();
        assert!(error.to_string().contains("build.log"), "{error}");
        assert!(error.to_string().contains("exit status: 3"), "{error}");
        // What the program said of its error comes first, and the command without its options.
        let error = runner
            .run(
                "sh",
                [
                    "-c",
                    "echo 'E: Malformed entry 1 in list file x.list' >&2; echo 'E: The list of sources could not be read.' >&2; exit 100",
                ],
            )
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with(
                "E: Malformed entry 1 in list file x.list / E: The list of sources could not be read. (`sh "
            ) && error.contains("failed, exit status: 100; the log is"),
            "{error}"
        );
        let args: Vec<std::ffi::OsString> = ["-q", "-o", "Dir=/x", "update"]
            .iter()
            .map(Into::into)
            .collect();
        assert_eq!(short_command("apt-get", &args), "apt-get update");
        drop(runner);
        let text = fs_err::read_to_string(&log).unwrap();
        assert!(text.contains("$ sh -c echo out"), "{text}");
        assert!(text.contains("out\n") && text.contains("err\n"), "{text}");
        assert_eq!(lines.0[..2], ["out", "err"]);
    }

    #[test]
    fn remove_tree_keeps_to_its_file_system() {
        let dir = tempfile::tempdir().unwrap();
        let tree = dir.path().join("t");
        fs_err::create_dir_all(tree.join("a/b")).unwrap();
        std::os::unix::fs::symlink("/etc", tree.join("a/etc")).unwrap();
        remove_tree(&tree).unwrap();
        assert!(!tree.exists());
        assert!(Path::new("/etc/os-release").exists());
        // What is mounted is seen (and would be refused).
        assert!(!mounts_under(Path::new("/proc")).is_empty());
    }
}
