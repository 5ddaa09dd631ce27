//! Long apt work as its own systemd unit (`systemd-run`), so that it survives a restart of the web
//! service and of the agent: the agent starts it, the unit runs `appliance-agent job KIND ID`,
//! which writes its state to `jobs/current.json` and everything apt and dpkg print, APT's status
//! lines included (`APT::Status-Fd`), to `jobs/ID.log`. The web page reads both to show progress
//! and reattaches to them after a reload.

use std::io::Write;
use std::path::{Path, PathBuf};

use appliance::target::{self, Target};
use serde::{Deserialize, Serialize};

use crate::agent::System;

/// Where job state and logs live, relative to the root (readable by the web service).
pub const JOB_DIR: &str = "var/lib/appliance-control/jobs";
/// The unit a job runs as: one job at a time.
pub const UNIT: &str = "appliance-control-job";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    Refresh,
    Upgrade,
    ConfigurePending,
    Rollback,
    ReleaseCheck,
    ReleaseUpgrade,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Refresh => "refresh",
            Kind::Upgrade => "upgrade",
            Kind::ConfigurePending => "configure-pending",
            Kind::Rollback => "rollback",
            Kind::ReleaseCheck => "release-check",
            Kind::ReleaseUpgrade => "release-upgrade",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        [
            Kind::Refresh,
            Kind::Upgrade,
            Kind::ConfigurePending,
            Kind::Rollback,
            Kind::ReleaseCheck,
            Kind::ReleaseUpgrade,
        ]
        .into_iter()
        .find(|k| k.name() == name)
    }

    fn title(self) -> &'static str {
        match self {
            Kind::Refresh => "Updating the package lists",
            Kind::Upgrade => "Installing updates",
            Kind::ConfigurePending => "Finishing an interrupted installation",
            Kind::Rollback => "Rolling back the last transaction",
            Kind::ReleaseCheck => "Checking the move to the next Debian release",
            Kind::ReleaseUpgrade => "Moving to the next Debian release",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum State {
    Running,
    Succeeded,
    Failed,
}

/// What `jobs/current.json` says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Job {
    pub id: String,
    pub kind: Kind,
    pub title: String,
    pub state: State,
    pub started: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished: Option<String>,
    /// The safety backup APT's hook made before the upgrade (a file name in
    /// `/var/backups/appliance/safety`), offered for rollback when the upgrade fails.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub safety_backup: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A package an upgrade would change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Upgrade {
    pub name: String,
    /// None: newly installed.
    pub old: Option<String>,
    pub new: String,
}

impl Job {
    /// Job `id` of `kind`, running from now.
    fn started(id: &str, kind: Kind) -> Self {
        Self {
            id: id.to_owned(),
            kind,
            title: kind.title().to_owned(),
            state: State::Running,
            started: appliance::backup::store::rfc3339(now()),
            finished: None,
            safety_backup: None,
            error: None,
        }
    }
}

use appliance::backup::store::now;

/// Starts a job of `kind` as the unit [`UNIT`]; returns its id. Refused while one runs.
pub fn start(root: &Path, system: &dyn System, kind: Kind) -> Result<String, String> {
    if let Some(job) = current(root)
        && job.state == State::Running
        && system
            .run("systemctl", &["is-active", "--quiet", UNIT])
            .is_ok()
    {
        return Err(format!("{} is already under way", job.title.to_lowercase()));
    }
    let id = format!("{}-{}", now(), kind.name());
    let program = std::env::current_exe().map_err(|e| e.to_string())?;
    let program = program.to_string_lossy();
    // Said at once, so that the page shows the job from the moment it is asked for; the job
    // itself writes the same file as it goes.
    let dir = job_dir(root);
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let mut job = Job::started(&id, kind);
    write_json(&dir.join("current.json"), &job).map_err(|e| e.to_string())?;
    let started = system
        .run(
            "systemd-run",
            &[
                "--unit",
                UNIT,
                "--collect",
                "--quiet",
                "--description",
                kind.title(),
                "--property=KillMode=mixed",
                &program,
                "job",
                kind.name(),
                &id,
            ],
        )
        .map_err(|e| {
            if e.contains("already") {
                "another job is under way".to_owned()
            } else {
                e
            }
        });
    if let Err(error) = started {
        job.state = State::Failed;
        job.error = Some(error.clone());
        let _ = write_json(&dir.join("current.json"), &job);
        return Err(error);
    }
    Ok(id)
}

fn job_dir(root: &Path) -> PathBuf {
    root.join(JOB_DIR)
}

/// The latest job, if any ran.
pub fn current(root: &Path) -> Option<Job> {
    let text = std::fs::read_to_string(job_dir(root).join("current.json")).ok()?;
    serde_json::from_str(&text).ok()
}

/// The log of job `id`.
pub fn log_path(root: &Path, id: &str) -> Option<PathBuf> {
    let valid = !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    valid.then(|| job_dir(root).join(format!("{id}.log")))
}

/// The upgrades found by the last refresh or upgrade.
pub fn pending(root: &Path) -> Option<Vec<Upgrade>> {
    let text = std::fs::read_to_string(job_dir(root).join("upgrades.json")).ok()?;
    serde_json::from_str(&text).ok()
}

/// Whether dpkg was interrupted and `dpkg --configure -a` is needed (as apt tells it: journal
/// files in `/var/lib/dpkg/updates`).
pub fn dpkg_interrupted(root: &Path) -> bool {
    std::fs::read_dir(root.join("var/lib/dpkg/updates")).is_ok_and(|entries| {
        entries.flatten().any(|e| {
            e.file_name()
                .to_string_lossy()
                .bytes()
                .all(|b| b.is_ascii_digit())
        })
    })
}

/// `Inst NAME [OLD] (NEW …)` lines of `apt-get --simulate`.
pub fn parse_simulation(text: &str) -> Vec<Upgrade> {
    text.lines()
        .filter_map(|line| {
            let rest = line.strip_prefix("Inst ")?;
            let (name, rest) = rest.split_once(' ')?;
            let (old, rest) = match rest.strip_prefix('[') {
                Some(bracketed) => {
                    let (old, rest) = bracketed.split_once("] ")?;
                    (Some(old.to_owned()), rest)
                }
                None => (None, rest),
            };
            let new = rest.strip_prefix('(')?.split(' ').next()?.to_owned();
            Some(Upgrade {
                name: name.to_owned(),
                old,
                new,
            })
        })
        .collect()
}

/// The web service reads the job's files (through the others bit: the directory is
/// root:appliance-control 0750), so they are 0644 whatever the agent's umask.
const JOB_FILE_MODE: u32 = 0o644;

fn write_json(path: &Path, value: &impl Serialize) -> std::io::Result<()> {
    let text = serde_json::to_vec_pretty(value).map_err(std::io::Error::other)?;
    appliance::atomic::write_exact(path, &text, JOB_FILE_MODE, None)
}

/// Opens a job's log for writing, emptied, with [`JOB_FILE_MODE`] set through the descriptor as
/// the JSON files have theirs: a creation mode only narrows under the umask, and an old log would
/// keep its own.
fn open_log(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    file.set_permissions(std::fs::Permissions::from_mode(JOB_FILE_MODE))?;
    Ok(file)
}

/// Runs job `id` of `kind` to its end (inside the unit): the body of `appliance-agent job`.
pub fn run(root: &Path, kind: Kind, id: &str) -> Result<State, String> {
    let dir = job_dir(root);
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let log = log_path(root, id).ok_or("not a job id")?;
    let mut job = Job::started(id, kind);
    let current = dir.join("current.json");
    write_json(&current, &job).map_err(|e| e.to_string())?;
    let mut file = open_log(&log).map_err(|e| e.to_string())?;
    let result = match kind {
        Kind::Refresh => apt(&file, &["update"]),
        Kind::Upgrade => {
            // APT's hook makes the safety backup (and says so in the log) when the upgrade
            // changes the appliance; a failure to make it stops the upgrade.
            let result = apt(
                &file,
                &[
                    "-y",
                    "-o",
                    "Dpkg::Options::=--force-confdef",
                    "-o",
                    "Dpkg::Options::=--force-confold",
                    "upgrade",
                    "--with-new-pkgs",
                ],
            );
            job.safety_backup = safety_backup_since(root, &job.started);
            result
        }
        Kind::ConfigurePending => command(&file, "dpkg", &["--configure", "-a"]),
        // Packages, then data, then the health checks; it says what it could not put back.
        Kind::Rollback => command(&file, "va-backup", &["rollback"]),
        // The sources moved and left, or why it cannot move.
        Kind::ReleaseCheck => command(&file, "va-upgrade-release", &["--check"]),
        // Snapshot, sources, download, upgrade, health checks; rolled back when it fails.
        Kind::ReleaseUpgrade => {
            let result = command(&file, "va-upgrade-release", &["--yes"]);
            job.safety_backup = safety_backup_since(root, &job.started);
            result
        }
    };
    // What is left to upgrade now.
    let mut simulate = Target::new(Path::new("/")).command("apt-get");
    simulate.args(["--simulate", "-q", "upgrade", "--with-new-pkgs"]);
    if let Ok(ran) = target::run(simulate, "apt-get --simulate upgrade", None) {
        let _ = write_json(&dir.join("upgrades.json"), &parse_simulation(&ran.stdout));
    }
    job.state = if result.is_ok() {
        State::Succeeded
    } else {
        State::Failed
    };
    job.error = result.err();
    job.finished = Some(appliance::backup::store::rfc3339(now()));
    let _ = writeln!(
        file,
        "{}",
        match &job.error {
            None => format!("{}: done", kind.title()),
            Some(error) => format!("{}: failed: {error}", kind.title()),
        }
    );
    write_json(&current, &job).map_err(|e| e.to_string())?;
    Ok(job.state)
}

/// The newest safety backup the hook made since `started` (RFC 3339), by its file name.
fn safety_backup_since(root: &Path, started: &str) -> Option<String> {
    appliance::backup::safety::made_since(root, started)
        .ok()?
        .map(|(_, record)| record.backup)
}

fn apt(log: &std::fs::File, arguments: &[&str]) -> Result<(), String> {
    let mut all = vec!["-q", "-o", "APT::Status-Fd=1", "-o", "APT::Color=0"];
    all.extend_from_slice(arguments);
    command(log, "apt-get", &all)
}

/// Runs `program` with its output appended to the job's log as it comes (the page streams it);
/// an error names the command and its status.
fn command(log: &std::fs::File, program: &str, arguments: &[&str]) -> Result<(), String> {
    let mut log = log;
    let mut command = Target::new(Path::new("/")).command(program);
    command
        .args(arguments)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .env("APT_LISTCHANGES_FRONTEND", "none");
    let shown = format!("{program} {}", arguments.join(" "));
    let status = target::stream(command, &shown, |line| {
        let _ = writeln!(log, "{line}");
    })
    .map_err(|e| e.to_string())?;
    if status.success() {
        Ok(())
    } else {
        Err(target::failed(&shown, status, "").to_string())
    }
}

/// Progress from APT's status lines (`dlstatus:…:PERCENT:…`, `pmstatus:…:PERCENT:…`): the last
/// percentage and its description.
pub fn progress(line: &str) -> Option<(f32, String)> {
    let rest = line
        .strip_prefix("dlstatus:")
        .or_else(|| line.strip_prefix("pmstatus:"))?;
    let mut fields = rest.splitn(3, ':');
    let _package = fields.next()?;
    let percent = fields.next()?.parse().ok()?;
    Some((percent, fields.next().unwrap_or_default().to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_log_is_readable_by_the_web_service_whatever_was_there() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("job.log");
        std::fs::write(&log, "an old run").unwrap();
        std::fs::set_permissions(&log, std::fs::Permissions::from_mode(0o600)).unwrap();
        drop(open_log(&log).unwrap());
        let metadata = std::fs::metadata(&log).unwrap();
        assert_eq!(metadata.permissions().mode() & 0o7777, JOB_FILE_MODE);
        assert_eq!(metadata.len(), 0);
    }

    #[test]
    fn simulation_lines_become_upgrades() {
        let text = "Reading package lists...\nInst libc6 [2.36-9+deb12u13] (2.36-9+deb12u14 Debian-Security:12/stable-security [amd64])\nInst newdep (1.0 Debian:12 [all])\nConf libc6 (2.36-9+deb12u14 Debian-Security:12/stable-security [amd64])\n";
        assert_eq!(
            parse_simulation(text),
            [
                Upgrade {
                    name: "libc6".into(),
                    old: Some("2.36-9+deb12u13".into()),
                    new: "2.36-9+deb12u14".into()
                },
                Upgrade {
                    name: "newdep".into(),
                    old: None,
                    new: "1.0".into()
                }
            ]
        );
    }

    #[test]
    fn status_lines_give_progress() {
        assert_eq!(
            progress("pmstatus:libc6:42.5:Installing libc6 (amd64)"),
            Some((42.5, "Installing libc6 (amd64)".into()))
        );
        assert_eq!(
            progress("dlstatus:1:10:Retrieving file 1 of 3"),
            Some((10.0, "Retrieving file 1 of 3".into()))
        );
        assert_eq!(progress("Get:1 http://mirror bookworm InRelease"), None);
    }

    #[test]
    fn job_ids_never_become_paths_and_an_interrupted_dpkg_is_seen() {
        let root = tempfile::tempdir().unwrap();
        assert!(log_path(root.path(), "../../etc/passwd").is_none());
        assert!(log_path(root.path(), "").is_none());
        assert!(log_path(root.path(), "1764130000-refresh").is_some());
        assert!(!dpkg_interrupted(root.path()));
        std::fs::create_dir_all(root.path().join("var/lib/dpkg/updates")).unwrap();
        std::fs::write(root.path().join("var/lib/dpkg/updates/tmp.i"), "").unwrap();
        assert!(!dpkg_interrupted(root.path()));
        std::fs::write(root.path().join("var/lib/dpkg/updates/0001"), "x").unwrap();
        assert!(dpkg_interrupted(root.path()));
        assert_eq!(Kind::from_name("upgrade"), Some(Kind::Upgrade));
        for kind in [Kind::ReleaseCheck, Kind::ReleaseUpgrade] {
            assert_eq!(Kind::from_name(kind.name()), Some(kind));
        }
        assert_eq!(Kind::from_name("rm"), None);
    }
}
