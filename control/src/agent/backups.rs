//! Backups: made, listed, downloaded, deleted, restored and taken in from an upload (the .abf
//! format of `appliance::backup`), and the nightly backup's timer.

use std::path::{Path, PathBuf};

use appliance::backup::Quiet;
use appliance::backup::origin::{self, Origin};
use appliance::backup::plan::{self, What};
use appliance::backup::read::Backup;
use appliance::backup::store::{self, BACKUP_DIR};
use serde::{Deserialize, Serialize};

use super::{Agent, Answer, UPLOAD_DIR, file_name, ok, root_alone};
use crate::protocol::{Request, Response};

/// The answer to `backup-create`: the new backup's file name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Created {
    pub name: String,
}

/// The answer to `backup-list`: the backups in the store, oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct List {
    pub backups: Vec<Listed>,
}

/// A backup in the store; what its `info.yaml` says is `None` where it cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Listed {
    pub name: String,
    pub size: u64,
    pub appliance: Option<String>,
    pub version: Option<String>,
    pub timestamp: Option<String>,
    /// [`Origin::describe`].
    pub origin: Option<String>,
}

/// The answer to `backup-open`, before the file's bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Opened {
    pub name: String,
    pub size: u64,
}

/// The answer to `backup-delete`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deleted {
    pub deleted: String,
}

/// The answer to `backup-restore`: what was restored, from where, and what was not.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Restored {
    pub restored: String,
    pub appliance: String,
    pub timestamp: String,
    /// [`Origin::describe`].
    pub origin: String,
    /// The directories replaced.
    pub replaced: Vec<String>,
    /// A backup from elsewhere whose system configuration was not restored.
    #[serde(rename = "sysconf-left-out")]
    pub sysconf_left_out: bool,
    /// The files whose set-user-ID or set-group-ID bit was cleared.
    #[serde(rename = "cleared-set-id")]
    pub cleared_set_id: Vec<String>,
    /// How many migrations ran.
    pub migrations: usize,
}

/// The answer to `backup-import`: the backup's name in the store and [`Origin::describe`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Imported {
    pub name: String,
    pub origin: String,
}

/// The answer to `schedule` and `schedule-state`: whether the nightly backup is on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Schedule {
    pub enabled: bool,
}

impl Agent<'_> {
    /// The backup requests.
    pub(super) fn backups(&self, request: &Request) -> Result<Answer, String> {
        let root = &self.root;
        match request {
            Request::BackupCreate => {
                let created = plan::create(root, &What::Plugin(None), None, false, &Quiet)
                    .map_err(|e| appliance::error_chain(&e))?;
                ok(&Created {
                    name: file_name(&created.path),
                })
            }
            Request::BackupList => {
                let listed = store::list(root).map_err(|e| e.to_string())?;
                let backups = listed
                    .iter()
                    .map(|l| Listed {
                        name: file_name(&l.path),
                        size: std::fs::metadata(&l.path).map_or(0, |m| m.len()),
                        appliance: l.info.as_ref().map(|i| i.appliance.clone()),
                        version: l.info.as_ref().map(|i| i.version.clone()),
                        timestamp: l.info.as_ref().map(|i| i.timestamp.clone()),
                        origin: l.origin.map(|o| o.describe().to_owned()),
                    })
                    .collect();
                ok(&List { backups })
            }
            Request::BackupOpen { name } => {
                let path = self.stored(name)?;
                let file = std::fs::File::open(&path).map_err(|e| e.to_string())?;
                let size = file.metadata().map_err(|e| e.to_string())?.len();
                Ok(Answer {
                    response: Response::answer(&Opened {
                        name: name.clone(),
                        size,
                    }),
                    file: Some(file),
                })
            }
            Request::BackupDelete { name } => {
                let path = self.stored(name)?;
                std::fs::remove_file(&path).map_err(|e| e.to_string())?;
                ok(&Deleted {
                    deleted: name.clone(),
                })
            }
            Request::BackupRestore {
                name,
                foreign_configuration_runs_as_root,
            } => {
                let path = self.stored(name)?;
                // Only the directories of the root-owned manifest that accepts the backup; never
                // the backup's own (`paths_from_backup` is root's command line only).
                let request = plan::RestoreRequest {
                    foreign_sysconf: *foreign_configuration_runs_as_root,
                    ..plan::RestoreRequest::accepting()
                };
                // The restore gives every directory it makes an explicit mode, and runs the
                // plugin's programs with a root shell's umask: the agent's UMask=0077 reaches
                // neither.
                let prepared =
                    plan::prepare(root, &path, &request).map_err(|e| appliance::error_chain(&e))?;
                if let Some(manifest) = &prepared.manifest {
                    root_alone(manifest, "no backup is restored by it").map_err(|e| {
                        e.unwrap_or_else(|| format!("`{}` is gone", manifest.display()))
                    })?;
                }
                let mut report = plan::execute(root, prepared, Box::new(Quiet))
                    .map_err(|e| appliance::error_chain(&e))?;
                report
                    .restored
                    .finish()
                    .map_err(|e| appliance::error_chain(&e))?;
                ok(&Restored {
                    restored: name.clone(),
                    appliance: report.info.appliance,
                    timestamp: report.info.timestamp,
                    origin: report.origin.describe().to_owned(),
                    replaced: report.replaced,
                    sysconf_left_out: report.sysconf_left_out,
                    cleared_set_id: report.restored.cleared_set_id,
                    migrations: report.migrations,
                })
            }
            Request::BackupImport { name } => {
                let (name, origin) = self.import(name)?;
                ok(&Imported {
                    name,
                    origin: origin.describe().to_owned(),
                })
            }
            Request::Schedule { enable } => {
                let verb = if *enable { "enable" } else { "disable" };
                self.system
                    .run("systemctl", &[verb, "--now", "va-backup.timer"])?;
                ok(&Schedule { enabled: *enable })
            }
            Request::ScheduleState => {
                let enabled = self
                    .system
                    .run("systemctl", &["is-enabled", "--quiet", "va-backup.timer"])
                    .is_ok();
                ok(&Schedule { enabled })
            }
            _ => Err("not a backup request".into()),
        }
    }

    /// A backup in the store, or else a safety backup APT's hook made (the Updates page offers
    /// it after a failed upgrade), by name (checked by the protocol: no directory in it).
    fn stored(&self, name: &str) -> Result<PathBuf, String> {
        [BACKUP_DIR, appliance::backup::safety::SAFETY_DIR]
            .iter()
            .map(|dir| self.root.join(dir).join(name))
            .find(|path| path.is_file())
            .ok_or_else(|| format!("there is no backup `{name}`"))
    }

    /// Checks an uploaded backup and copies it into the store (root's, mode 0600). The upload
    /// is opened once, without following a link, and everything after (the checks of the file,
    /// the verification, the copy) goes through that one descriptor: the web user cannot swap
    /// another file in between.
    fn import(&self, name: &str) -> Result<(String, Origin), String> {
        let upload = self.root.join(UPLOAD_DIR).join(name);
        let result = (|| {
            let file = open_upload(&upload, name, self.web_uid)?;
            let read_error = |e: &dyn std::error::Error| appliance::error_chain(e);
            let mut backup = Backup::from_file(
                &upload,
                file.try_clone()
                    .map_err(|e| format!("the upload `{name}`: {e}"))?,
            )
            .map_err(|e| read_error(&e))?;
            backup.check().map_err(|e| read_error(&e))?;
            let key = origin::key(&self.root).map_err(|e| read_error(&e))?;
            let made = backup.origin(key.as_deref()).map_err(|e| read_error(&e))?;
            let dir = self.root.join(BACKUP_DIR);
            std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
            let target = dir.join(name);
            if target.exists() {
                return Err(format!("a backup `{name}` is already there"));
            }
            enough_room(&file, name, &dir)?;
            copy_into_store(file, &target).map_err(|e| e.to_string())?;
            Ok((name.to_owned(), made))
        })();
        let _ = std::fs::remove_file(&upload);
        result
    }
}

/// Whether the store `dir` has room for a copy of the upload `file` (and some to spare), before
/// the copy starts rather than when the disk is full.
fn enough_room(file: &std::fs::File, name: &str, dir: &Path) -> Result<(), String> {
    let size = file
        .metadata()
        .map_err(|e| format!("the upload `{name}`: {e}"))?
        .len();
    crate::files::check_free_space(dir, size)
}

/// Opens the upload `path` once, without following a link, and checks the open file: a regular
/// file, of one link (not a second name of a file only root may read), owned by the web user.
fn open_upload(path: &Path, name: &str, web_uid: Option<u32>) -> Result<std::fs::File, String> {
    use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(nix::libc::O_NOFOLLOW | nix::libc::O_NONBLOCK | nix::libc::O_NOCTTY)
        .open(path)
        .map_err(|error| match error.raw_os_error() {
            Some(nix::libc::ELOOP) => {
                format!("the upload `{name}` is not a file (a symbolic link)")
            }
            Some(nix::libc::ENOENT) => format!("there is no uploaded backup `{name}`"),
            _ => format!("cannot open the upload `{name}`: {error}"),
        })?;
    let metadata = file
        .metadata()
        .map_err(|e| format!("the upload `{name}`: {e}"))?;
    if !metadata.is_file() {
        return Err(format!("the upload `{name}` is not a file"));
    }
    if metadata.nlink() != 1 {
        return Err(format!(
            "the upload `{name}` has {} links: it is a second name of another file",
            metadata.nlink()
        ));
    }
    if let Some(uid) = web_uid
        && metadata.uid() != uid
    {
        return Err(format!(
            "the upload `{name}` belongs to uid {}, not to the web service's",
            metadata.uid()
        ));
    }
    Ok(file)
}

/// Copies `source` (from its start) to `to` as root's 0600 file, atomically.
fn copy_into_store(mut source: std::fs::File, to: &Path) -> std::io::Result<()> {
    use std::io::{Seek, SeekFrom};
    source.seek(SeekFrom::Start(0))?;
    appliance::atomic::write_from(to, &mut source, 0o600)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::assert_wire;

    #[test]
    fn answers_keep_their_keys() {
        assert_wire(
            &Created {
                name: "wiki-20261126T034500Z.abf".into(),
            },
            r#"{"name":"wiki-20261126T034500Z.abf"}"#,
        );
        assert_wire(
            &List {
                backups: vec![
                    Listed {
                        name: "wiki-20261126T034500Z.abf".into(),
                        size: 4096,
                        appliance: Some("wiki-appliance".into()),
                        version: Some("0.1".into()),
                        timestamp: Some("2026-11-26T03:45:00Z".into()),
                        origin: Some("made on this system".into()),
                    },
                    Listed {
                        name: "unreadable.abf".into(),
                        size: 0,
                        appliance: None,
                        version: None,
                        timestamp: None,
                        origin: None,
                    },
                ],
            },
            r#"{"backups":[
                {"name":"wiki-20261126T034500Z.abf","size":4096,"appliance":"wiki-appliance",
                 "version":"0.1","timestamp":"2026-11-26T03:45:00Z","origin":"made on this system"},
                {"name":"unreadable.abf","size":0,"appliance":null,"version":null,
                 "timestamp":null,"origin":null}]}"#,
        );
        assert_wire(
            &Opened {
                name: "a.abf".into(),
                size: 12,
            },
            r#"{"name":"a.abf","size":12}"#,
        );
        assert_wire(
            &Deleted {
                deleted: "a.abf".into(),
            },
            r#"{"deleted":"a.abf"}"#,
        );
        assert_wire(
            &Restored {
                restored: "a.abf".into(),
                appliance: "wiki-appliance".into(),
                timestamp: "2009-10-31 20:12:33".into(),
                origin: "from elsewhere".into(),
                replaced: vec!["/srv/wiki".into()],
                sysconf_left_out: true,
                cleared_set_id: vec!["/srv/wiki/run (4755 → 0755)".into()],
                migrations: 1,
            },
            r#"{"restored":"a.abf","appliance":"wiki-appliance","timestamp":"2009-10-31 20:12:33",
                "origin":"from elsewhere","replaced":["/srv/wiki"],"sysconf-left-out":true,
                "cleared-set-id":["/srv/wiki/run (4755 → 0755)"],"migrations":1}"#,
        );
        assert_wire(
            &Imported {
                name: "a.abf".into(),
                origin: "from elsewhere".into(),
            },
            r#"{"name":"a.abf","origin":"from elsewhere"}"#,
        );
        assert_wire(&Schedule { enabled: true }, r#"{"enabled":true}"#);
    }

    #[test]
    fn a_restore_answer_without_its_outcome_is_an_error() {
        // Read as a default, the page would say the system configuration was restored.
        let error = Response::ok(serde_json::json!({ "restored": "a.abf" }))
            .into_answer::<Restored>()
            .unwrap_err();
        assert!(error.contains("missing field"), "{error}");
    }

    #[test]
    fn an_upload_the_store_has_no_room_for_is_refused_before_the_copy() {
        let dir = tempfile::tempdir().unwrap();
        let upload = dir.path().join("big.abf");
        // 8 TiB that take no room: more than this disk has.
        std::fs::File::create(&upload)
            .unwrap()
            .set_len(1 << 43)
            .unwrap();
        let file = std::fs::File::open(&upload).unwrap();
        let error = super::enough_room(&file, "big.abf", dir.path()).unwrap_err();
        assert!(error.contains("not enough space"), "{error}");
        std::fs::write(&upload, "small").unwrap();
        let file = std::fs::File::open(&upload).unwrap();
        super::enough_room(&file, "big.abf", dir.path()).unwrap();
    }
}
