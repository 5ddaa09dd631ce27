//! Safety backups: the APT hook makes the plugin's backup before a transaction upgrades, removes or
//! reconfigures the installed appliance or a package its manifest names (`packages`), whatever
//! started it (`apt-get upgrade`, unattended-upgrades, appliance-control). Each backup is kept in
//! `/var/backups/appliance/safety` with the record of its transaction (`NAME.json`: the versions of
//! every package before and after), the newest few of each appliance.
//!
//! On by default; APT's configuration turns it off (`Appliance::Safety-Backup "false";`, or
//! `-o Appliance::Safety-Backup=false` for one run) and says how many to keep
//! (`Appliance::Safety-Backup::Keep`, 3 by default). A transaction that touches no appliance costs
//! one look at the plugin directory.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::plan::{self, PlanError, What};
use super::store;
use crate::Reporter;
use crate::plugin::{Manifest, ManifestError};
use crate::seed::hook::{Action, Input, PackageAction};

/// Where safety backups are kept, relative to the system's root: apart from the administrator's
/// own backups, whose pruning they never take part in.
pub const SAFETY_DIR: &str = "var/backups/appliance/safety";
/// APT's configuration key that turns safety backups off (`false`, `no`, `off`, `0`).
pub const ENABLED: &str = "Appliance::Safety-Backup";
/// APT's configuration key that leaves the health checks after the transaction out (`false`):
/// what a rollback's own transaction sets, since the data it restores next is not back yet.
pub const HEALTH_CHECK: &str = "Appliance::Health-Check";
/// APT's configuration key: how many safety backups of each appliance are kept.
pub const KEEP: &str = "Appliance::Safety-Backup::Keep";
pub const DEFAULT_KEEP: usize = 3;

/// What a transaction does to one package, as the hook was told.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    pub package: String,
    /// The version installed before the transaction; none for a new package.
    pub before: Option<String>,
    /// The version after it; none for a removal.
    pub after: Option<String>,
}

/// The record of one safety backup: `NAME.json` beside `NAME.abf`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// The backup's file name, in the same directory.
    pub backup: String,
    pub appliance: String,
    /// When the hook made it (RFC 3339, UTC).
    pub made: String,
    /// The packages of the appliance that made the transaction need it.
    pub guarded: Vec<String>,
    /// Every package the transaction changes.
    pub transaction: Vec<Change>,
    /// The `.debs` of the guarded packages' versions before the transaction that APT's cache
    /// still held, kept in `NAME.debs/` for a rollback.
    #[serde(default)]
    pub debs: Vec<String>,
    /// When `va-backup rollback` put this backup back (RFC 3339), if it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rolled_back: Option<String>,
    /// The health checks after the transaction, when they ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<Health>,
}

/// The health checks' result after a transaction, as its record keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    pub ok: bool,
    /// When (RFC 3339, UTC).
    pub checked: String,
    /// [`crate::health::Report::summary`].
    pub summary: String,
}

impl Record {
    /// The directory of the kept `.debs`, beside `backup` (the `.abf`'s path).
    pub fn debs_dir(backup: &Path) -> PathBuf {
        backup.with_extension("debs")
    }
}

/// One safety backup made.
#[derive(Debug)]
pub struct Made {
    pub path: PathBuf,
    pub size: u64,
    pub record: Record,
}

#[derive(Debug, thiserror::Error)]
pub enum SafetyError {
    #[error("cannot read the plugin manifests to decide on a safety backup")]
    Manifest(#[from] ManifestError),
    #[error(
        "cannot make the safety backup of {appliance} that this transaction needs (it changes {}); \
         to go on without one: apt-get -o {ENABLED}=false …",
        .guarded.join(", ")
    )]
    Backup {
        appliance: String,
        guarded: Vec<String>,
        #[source]
        source: PlanError,
    },
    #[error("cannot keep the safety backup in {}", .path.display())]
    Store {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot mark the health checks due after this transaction in {}", .path.display())]
    Pending {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("`{value}` is not a number of safety backups to keep ({KEEP})")]
    Keep { value: String },
}

/// Whether APT's configuration leaves safety backups on.
pub fn enabled(input: &Input) -> bool {
    !is_off(input.config(ENABLED))
}

fn is_off(value: Option<&str>) -> bool {
    value.is_some_and(|value| {
        matches!(
            value.trim().to_ascii_lowercase().as_str(),
            "false" | "no" | "off" | "0" | "without"
        )
    })
}

/// How many safety backups of each appliance APT's configuration keeps (at least one).
pub fn keep(input: &Input) -> Result<usize, SafetyError> {
    match input.config(KEEP) {
        None => Ok(DEFAULT_KEEP),
        Some(value) => value
            .trim()
            .parse::<usize>()
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| SafetyError::Keep {
                value: value.to_owned(),
            }),
    }
}

/// The packages of `manifest` (its appliance first) that `actions` change while installed:
/// unpacked again (an upgrade, a downgrade, a reinstall), removed or configured. A package that
/// is new to the system holds nothing to lose.
pub fn guarded(actions: &[PackageAction], manifest: &Manifest) -> Vec<String> {
    let mut found = Vec::new();
    for package in std::iter::once(&manifest.appliance).chain(&manifest.packages) {
        let changed = actions
            .iter()
            .any(|a| &a.package == package && a.old_version.is_some());
        if changed && !found.contains(package) {
            found.push(package.clone());
        }
    }
    found
}

/// The changes of the transaction, one a package (an upgrade comes as an unpack and a configure).
pub fn changes(actions: &[PackageAction]) -> Vec<Change> {
    let mut changes: Vec<Change> = Vec::new();
    for action in actions.iter().filter(|a| !a.package.is_empty()) {
        if changes.iter().any(|c| c.package == action.package) {
            continue;
        }
        let after = match action.action {
            Action::Remove => None,
            _ => action.new_version.clone(),
        };
        changes.push(Change {
            package: action.package.clone(),
            before: action.old_version.clone(),
            after,
        });
    }
    changes
}

/// Makes the safety backups the transaction `input` needs on the system at `root`, before dpkg
/// runs: for every plugin with a backup plan whose packages it changes. Says one line for each.
/// An error stops the transaction; nothing was changed then.
pub fn before_transaction(
    input: &Input,
    root: &Path,
    reporter: &mut dyn Reporter,
) -> Result<Vec<Made>, SafetyError> {
    if input.actions.is_empty() {
        return Ok(Vec::new());
    }
    let mut made = Vec::new();
    for (path, manifest) in Manifest::each(root)? {
        // A broken manifest must not stop every APT run, the one that would mend it included.
        let manifest = match manifest {
            Ok(manifest) if manifest.backup.is_some() || !manifest.health.is_empty() => manifest,
            Ok(_) => continue,
            Err(error) => {
                reporter.warning(&format!(
                    "no safety backup for the plugin {}: {}",
                    path.display(),
                    crate::error_chain(&error)
                ));
                continue;
            }
        };
        let guarded = guarded(&input.actions, &manifest);
        if guarded.is_empty() {
            continue;
        }
        // The checks are due once dpkg is done (APT's DPkg::Post-Invoke), backup or not.
        if !manifest.health.is_empty() && !is_off(input.config(HEALTH_CHECK)) {
            // After unattended-upgrades, a failure rolls back on its own.
            let after = if crate::health::run_by_unattended_upgrades() {
                crate::health::AFTER_UNATTENDED
            } else {
                crate::health::AFTER_UPGRADE
            };
            crate::health::mark_pending(root, after).map_err(|source| SafetyError::Pending {
                path: root.join(crate::health::PENDING),
                source,
            })?;
        }
        if !enabled(input) || manifest.backup.is_none() {
            continue;
        }
        let keep = keep(input)?;
        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let one = make(root, &name, &manifest.appliance, guarded, input)?;
        reporter.info(&format!(
            "Safety backup of {} before this transaction: {} ({})",
            one.record.appliance,
            one.path.display(),
            human_size(one.size)
        ));
        let removed = prune(root, keep).map_err(|source| SafetyError::Store {
            path: root.join(SAFETY_DIR),
            source,
        })?;
        for old in removed {
            reporter.info(&format!(
                "Removed the older safety backup {}",
                old.display()
            ));
        }
        made.push(one);
    }
    Ok(made)
}

fn make(
    root: &Path,
    plugin: &str,
    appliance: &str,
    guarded: Vec<String>,
    input: &Input,
) -> Result<Made, SafetyError> {
    let dir = root.join(SAFETY_DIR);
    let store_error = |source| SafetyError::Store {
        path: dir.clone(),
        source,
    };
    fs_err::create_dir_all(&dir).map_err(store_error)?;
    let now = store::now();
    let stem = store::stem(appliance, now);
    // A second transaction within the same second gets its own name.
    let mut path = dir.join(format!("{stem}.abf"));
    let mut number = 1;
    while path.exists() || path.with_extension("json").exists() {
        number += 1;
        path = dir.join(format!("{stem}-{number}.abf"));
    }
    let created = plan::create(
        root,
        &What::Plugin(Some(plugin.to_owned())),
        Some(&path),
        false,
        &super::Quiet,
    )
    .map_err(|source| SafetyError::Backup {
        appliance: appliance.to_owned(),
        guarded: guarded.clone(),
        source,
    })?;
    let transaction = changes(&input.actions);
    let debs = keep_debs(root, &created.path, &guarded, &transaction);
    let record = Record {
        backup: file_name(&created.path),
        appliance: appliance.to_owned(),
        made: store::rfc3339(now),
        guarded,
        transaction,
        debs,
        rolled_back: None,
        health: None,
    };
    let written =
        write_record(&created.path, &record).and_then(|()| fs_err::metadata(&created.path));
    match written {
        Ok(metadata) => Ok(Made {
            size: metadata.len(),
            path: created.path,
            record,
        }),
        Err(source) => {
            // A backup without its record would be kept forever: none at all.
            let _ = fs_err::remove_file(&created.path);
            let _ = fs_err::remove_dir_all(Record::debs_dir(&created.path));
            Err(store_error(source))
        }
    }
}

/// APT's cache of downloaded packages, relative to the root.
const ARCHIVES: &str = "var/cache/apt/archives";

/// Copies into `NAME.debs/` the `.deb` of each guarded package's version before the transaction
/// that APT's cache still holds (hard links where it can); the file names kept. What is not
/// there is not kept: a rollback then asks APT's sources for that version.
fn keep_debs(root: &Path, backup: &Path, guarded: &[String], changes: &[Change]) -> Vec<String> {
    let Ok(entries) = fs_err::read_dir(root.join(ARCHIVES)) else {
        return Vec::new();
    };
    let cached: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "deb"))
        .collect();
    let dir = Record::debs_dir(backup);
    let mut kept = Vec::new();
    for change in changes.iter().filter(|c| guarded.contains(&c.package)) {
        let Some(before) = &change.before else {
            continue;
        };
        // dpkg's name of a file: the epoch's colon as %3a.
        let prefix = format!("{}_{}_", change.package, before.replace(':', "%3a"));
        let Some(deb) = cached.iter().find(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with(&prefix))
        }) else {
            continue;
        };
        let name = file_name(deb);
        let target = dir.join(&name);
        let copied = fs_err::create_dir_all(&dir).and_then(|()| {
            fs_err::hard_link(deb, &target).or_else(|_| {
                let mut source = fs_err::File::open(deb)?;
                crate::atomic::write_from(&target, &mut source, 0o644)
            })
        });
        if copied.is_ok() {
            kept.push(name);
        }
    }
    kept
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// The safety backups under `root`, by their records, oldest first. A backup is the record's
/// own name with `.abf` (`NAME.json`, `NAME.abf`); a record that cannot be read, or that names
/// another backup or a `.deb` by anything but a plain file name, is left out (and its files left
/// alone): nothing outside the directory is ever restored, installed or deleted through one.
pub fn list(root: &Path) -> std::io::Result<Vec<(PathBuf, Record)>> {
    let dir = root.join(SAFETY_DIR);
    let entries = match fs_err::read_dir(&dir) {
        Ok(entries) => entries,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(error) => return Err(error),
    };
    let mut found = Vec::new();
    for entry in entries {
        let path = entry?.path();
        if path.extension().is_none_or(|e| e != "json") {
            continue;
        }
        let Ok(bytes) = fs_err::read(&path) else {
            continue;
        };
        let Ok(record) = serde_json::from_slice::<Record>(&bytes) else {
            continue;
        };
        let backup = path.with_extension("abf");
        let plain = |name: &str| !name.is_empty() && !name.contains('/') && name != "..";
        if file_name(&backup) == record.backup && record.debs.iter().all(|d| plain(d)) {
            found.push((backup, record));
        }
    }
    // Within one second, `NAME-2.abf` was made after `NAME.abf`.
    found.sort_by_cached_key(|(path, record)| (record.made.clone(), store::order(path).1));
    Ok(found)
}

/// The newest safety backup made at `since` (RFC 3339) or later and not rolled back: the one the
/// hook made for a transaction that began then.
pub fn made_since(root: &Path, since: &str) -> std::io::Result<Option<(PathBuf, Record)>> {
    Ok(list(root)?
        .into_iter()
        .rev()
        .find(|(_, record)| record.made.as_str() >= since && record.rolled_back.is_none()))
}

/// Keeps `report` in the record of the newest safety backup of its appliance that has no result
/// yet (the transaction the checks followed); `false` when there is none.
pub fn note_health(root: &Path, report: &crate::health::Report) -> std::io::Result<bool> {
    let Some((path, mut record)) = list(root)?
        .into_iter()
        .rev()
        .find(|(_, r)| r.appliance == report.appliance)
        .filter(|(_, r)| r.health.is_none() && r.rolled_back.is_none())
    else {
        return Ok(false);
    };
    record.health = Some(Health {
        ok: report.ok,
        checked: report.checked.clone(),
        summary: report.summary(),
    });
    write_record(&path, &record)?;
    Ok(true)
}

/// Writes `record` beside its backup `path`, root's alone (it names what the system runs).
fn write_record(path: &Path, record: &Record) -> std::io::Result<()> {
    let json = serde_json::to_vec_pretty(record).unwrap_or_default();
    crate::atomic::write(&path.with_extension("json"), &json, 0o600)
}

/// Deletes all but the `keep` newest safety backups of each appliance, each with its record;
/// returns the backups deleted.
pub fn prune(root: &Path, keep: usize) -> std::io::Result<Vec<PathBuf>> {
    let mut by_appliance: std::collections::BTreeMap<String, Vec<PathBuf>> =
        std::collections::BTreeMap::new();
    for (path, record) in list(root)? {
        by_appliance.entry(record.appliance).or_default().push(path);
    }
    let mut removed = Vec::new();
    for paths in by_appliance.values() {
        for path in paths.iter().rev().skip(keep) {
            match fs_err::remove_file(path) {
                Ok(()) => {}
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
                Err(error) => return Err(error),
            }
            match fs_err::remove_dir_all(Record::debs_dir(path)) {
                Ok(()) => {}
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
                Err(error) => return Err(error),
            }
            fs_err::remove_file(path.with_extension("json"))?;
            removed.push(path.clone());
        }
    }
    Ok(removed)
}

/// Why a rollback cannot be made.
#[derive(Debug, thiserror::Error)]
pub enum RollbackError {
    #[error("there is no safety backup to roll back to in {}", .0.display())]
    Nothing(PathBuf),
    #[error(
        "the last transaction's safety backup ({backup}, of {made}) was put back already, at {at}; \
         `va-backup restore` restores it again"
    )]
    Done {
        backup: String,
        made: String,
        at: String,
    },
    #[error("cannot read the safety backups")]
    Read(#[source] std::io::Error),
    #[error("cannot restore the safety backup {}", .path.display())]
    Restore {
        path: PathBuf,
        #[source]
        source: PlanError,
    },
    #[error("cannot record the rollback in {}", .path.display())]
    Record {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// A package version put back, or not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PutBack {
    pub package: String,
    pub version: String,
    /// From the `.deb` the hook kept (else from APT's sources).
    pub kept: bool,
    /// Why it could not be put back.
    pub failed: Option<String>,
}

/// What a rollback did.
#[derive(Debug)]
pub struct RolledBack {
    pub path: PathBuf,
    pub record: Record,
    pub packages: Vec<PutBack>,
    pub restored: plan::RestoreReport,
}

/// The safety backup a rollback would put back: the last transaction's, unless it was put back
/// already. What `va-backup rollback` and appliance-control's Roll back button check first.
pub fn to_roll_back(root: &Path) -> Result<(PathBuf, Record), RollbackError> {
    let (path, record) = list(root)
        .map_err(RollbackError::Read)?
        .pop()
        .ok_or_else(|| RollbackError::Nothing(root.join(SAFETY_DIR)))?;
    if let Some(at) = &record.rolled_back {
        return Err(RollbackError::Done {
            backup: record.backup.clone(),
            made: record.made.clone(),
            at: at.clone(),
        });
    }
    Ok((path, record))
}

/// Puts back the last transaction's safety backup on the system at `root`: first the guarded
/// packages' versions before it (from the `.debs` the hook kept, else from APT's sources), then
/// the data. A package that cannot be put back is said, not fatal: the data is restored anyway
/// (a restore into a newer version is a restore like any other, migrations included).
pub fn rollback(root: &Path) -> Result<RolledBack, RollbackError> {
    let (path, record) = to_roll_back(root)?;
    let packages = put_back_packages(root, &path, &record);
    let restored = plan::restore(
        root,
        &path,
        &plan::RestoreRequest::accepting(),
        Box::new(super::Quiet),
    )
    .map_err(|source| RollbackError::Restore {
        path: path.clone(),
        source,
    })?;
    let record = mark_rolled_back(&path, record).map_err(|source| RollbackError::Record {
        path: path.with_extension("json"),
        source,
    })?;
    Ok(RolledBack {
        path,
        record,
        packages,
        restored,
    })
}

/// Marks the backup at `path` rolled back in its record as it is now, not as `read` was when the
/// rollback began: the health checks that started the rollback may have kept their result since.
pub fn mark_rolled_back(path: &Path, read: Record) -> std::io::Result<Record> {
    let mut record = std::fs::read(path.with_extension("json"))
        .ok()
        .and_then(|bytes| serde_json::from_slice::<Record>(&bytes).ok())
        .filter(|now| now.backup == read.backup)
        .unwrap_or(read);
    record.rolled_back = Some(store::rfc3339(store::now()));
    write_record(path, &record)?;
    Ok(record)
}

/// The guarded packages whose version differs from the one before the transaction, installed at
/// that version in one APT run (each on its own when that fails, to tell which cannot).
fn put_back_packages(root: &Path, backup: &Path, record: &Record) -> Vec<PutBack> {
    let debs = Record::debs_dir(backup);
    let mut wanted: Vec<(PutBack, String)> = Vec::new();
    for change in record
        .transaction
        .iter()
        .filter(|c| record.guarded.contains(&c.package))
    {
        let Some(before) = &change.before else {
            continue;
        };
        if plan::installed_version(root, &change.package).as_deref() == Some(before.as_str()) {
            continue;
        }
        let prefix = format!("{}_{}_", change.package, before.replace(':', "%3a"));
        let kept = record.debs.iter().find(|d| d.starts_with(&prefix));
        // APT takes a path to a .deb or NAME=VERSION; inside a chroot the path is the root's.
        let argument = match kept {
            Some(name) => crate::target::Target::new(root)
                .inside(&debs.join(name))
                .display()
                .to_string(),
            None => format!("{}={before}", change.package),
        };
        wanted.push((
            PutBack {
                package: change.package.clone(),
                version: before.clone(),
                kept: kept.is_some(),
                failed: None,
            },
            argument,
        ));
    }
    if wanted.is_empty() {
        return Vec::new();
    }
    let all: Vec<&str> = wanted.iter().map(|(_, a)| a.as_str()).collect();
    if apt_install(root, &all).is_ok() {
        return wanted.into_iter().map(|(p, _)| p).collect();
    }
    wanted
        .into_iter()
        .map(|(mut put, argument)| {
            if let Err(why) = apt_install(root, &[&argument]) {
                put.failed = Some(why);
            }
            put
        })
        .collect()
}

/// `apt-get install` of `arguments` allowing downgrades, the configuration files kept, no safety
/// backup or health check of its own; the last line APT said when it fails.
fn apt_install(root: &Path, arguments: &[&str]) -> Result<(), String> {
    let mut command = crate::target::Target::new(root).command("apt-get");
    command
        .args(["-y", "-q", "--allow-downgrades"])
        // After unattended-upgrades, its APT run may still hold the lock: wait for it to end.
        .args(["-o", "DPkg::Lock::Timeout=1800"])
        .args(["-o", &format!("{ENABLED}=false")])
        .args(["-o", &format!("{HEALTH_CHECK}=false")])
        .args(["-o", "Dpkg::Options::=--force-confdef"])
        .args(["-o", "Dpkg::Options::=--force-confold"])
        .arg("install")
        .args(arguments)
        .env("DEBIAN_FRONTEND", "noninteractive");
    crate::target::run(command, "apt-get install", None)
        .map(drop)
        .map_err(|error| {
            let text = crate::error_chain(&error);
            text.lines()
                .rev()
                .find(|l| l.starts_with("E: "))
                .unwrap_or(text.lines().last().unwrap_or_default())
                .to_owned()
        })
}

/// `12.3 MiB`: a size for people.
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} bytes");
    }
    let mut unit = 0;
    let mut divisor: u128 = 1024;
    while unit < UNITS.len() - 1 && u128::from(bytes) >= divisor * 1024 {
        unit += 1;
        divisor *= 1024;
    }
    // In tenths, rounded.
    let tenths = (u128::from(bytes) * 10 + divisor / 2) / divisor;
    format!("{}.{} {}", tenths / 10, tenths % 10, UNITS[unit])
}

#[cfg(test)]
mod tests;
