//! Backups as a plugin manifest plans them: which directories, what runs around a backup, and for a
//! restore which services stop, which migrations run and where old directories go. va-backup and
//! appliance-control's agent both come through here.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use super::Progress;
use super::commands::{Runner, SystemRunner};
use super::info::Info;
use super::paths::{PathError, root_in_archive};
use super::read::{Backup, ReadError};
use super::restore::{self, RestoreError, Restored};
use super::store;
use super::write::{self, WriteError, Written};
use crate::debconf::{PackageTools, SystemTools};
use crate::plugin::{Manifest, ManifestError, PLUGIN_DIR};

#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    #[error(
        "no plugin manifest under `{}` declares a backup: name the directories (--appliance NAME --appdata DIR --sysconf DIR)",
        .0.display()
    )]
    NoManifest(PathBuf),
    #[error("several plugin manifests declare a backup ({0}): choose one (--plugin)")]
    SeveralManifests(String),
    #[error("the plugin manifest `{}` declares no backup", .0.display())]
    NoBackupPlan(PathBuf),
    #[error("`{}` is a backup of {backup}; the plugin `{}` restores backups of {plugin}", .file.display(), .manifest.display())]
    OtherAppliance {
        file: PathBuf,
        backup: String,
        manifest: PathBuf,
        plugin: String,
    },
    #[error("the plugin's command before the backup failed: {0}")]
    Before(String),
    #[error("the plugin's command after the backup failed: {0}")]
    After(String),
    #[error("cannot write the backup `{}`", .path.display())]
    Write { path: PathBuf, source: WriteError },
    #[error("cannot open the backup `{}`", .path.display())]
    Open { path: PathBuf, source: ReadError },
    #[error("cannot restore `{}`", .path.display())]
    Restore { path: PathBuf, source: RestoreError },
    #[error(transparent)]
    Path(#[from] PathError),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// What a backup holds.
#[derive(Debug, Clone)]
pub enum What {
    /// As a plugin manifest says: the one named (a name or a file), or the only one with a plan.
    Plugin(Option<String>),
    Directories {
        appliance: String,
        appdata: Vec<String>,
        sysconf: Vec<String>,
    },
}

/// Which plugin manifest governs a restore.
#[derive(Debug, Clone)]
pub enum Choice {
    /// None: the directories only.
    None,
    Named(String),
    /// The one that accepts the backup's appliance, if any does.
    Accepting,
}

/// A backup made.
#[derive(Debug)]
pub struct Created {
    pub path: PathBuf,
    pub appliance: String,
    pub written: Written,
}

/// A backup restored.
#[derive(Debug)]
pub struct RestoreReport {
    pub info: Info,
    pub migrations: usize,
    pub restored: Restored,
}

/// The version of `package` installed under `root`, if it is.
pub fn installed_version(root: &Path, package: &str) -> Option<String> {
    SystemTools::new(root)
        .statuses(&[package])
        .ok()
        .and_then(|s| s.get(package).map(|p| p.version.clone()))
        .filter(|v| !v.is_empty())
}

/// The plugin manifest named, or else the only one under `root` with a backup plan.
pub fn manifest_for_backup(
    root: &Path,
    name: Option<&str>,
) -> Result<(PathBuf, Manifest), PlanError> {
    if let Some(name) = name {
        return Ok(Manifest::find(root, name)?);
    }
    let mut all: Vec<_> = Manifest::all(root)?
        .into_iter()
        .filter(|(_, m)| m.backup.is_some())
        .collect();
    match all.len() {
        1 => Ok(all.remove(0)),
        0 => Err(PlanError::NoManifest(root.join(PLUGIN_DIR))),
        _ => Err(PlanError::SeveralManifests(
            all.iter()
                .map(|(p, _)| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
        )),
    }
}

/// Makes a backup of the system at `root` into `output` (by default the store's next name).
pub fn create(
    root: &Path,
    what: &What,
    output: Option<&Path>,
    progress: &dyn Progress,
) -> Result<Created, PlanError> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (appliance, appdata, sysconf, plugin, plan) = match what {
        What::Directories {
            appliance,
            appdata,
            sysconf,
        } => (
            appliance.clone(),
            appdata.clone(),
            sysconf.clone(),
            None,
            None,
        ),
        What::Plugin(name) => {
            let (path, manifest) = manifest_for_backup(root, name.as_deref())?;
            let plan = manifest
                .backup
                .ok_or(PlanError::NoBackupPlan(path.clone()))?;
            let name = path.file_stem().map(|s| s.to_string_lossy().into_owned());
            (
                manifest.appliance,
                plan.appdata.clone(),
                plan.sysconf.clone(),
                name,
                Some(plan),
            )
        }
    };
    let version = installed_version(root, &appliance);
    let info = Info {
        appliance: appliance.clone(),
        appdata_dirs: appdata,
        sysconf_dirs: sysconf,
        timestamp: store::rfc3339(now),
        version: version.clone().unwrap_or_else(|| "unknown".into()),
        package_version: version,
        plugin,
    };
    let path = match output {
        Some(path) => path.to_owned(),
        None => store::default_path(root, &appliance, now)?,
    };
    let runner = SystemRunner::new(root);
    let (before, after) = plan
        .as_ref()
        .map(|p| (p.before_backup.as_slice(), p.after_backup.as_slice()))
        .unwrap_or_default();
    let made = before
        .iter()
        .try_for_each(|command| runner.run(command, &[]))
        .map_err(PlanError::Before)
        .and_then(|()| {
            write::create(root, &info, &path, progress).map_err(|source| PlanError::Write {
                path: path.clone(),
                source,
            })
        });
    let cleaned = after
        .iter()
        .try_for_each(|command| runner.run(command, &[]))
        .map_err(PlanError::After);
    let written = made?;
    cleaned?;
    Ok(Created {
        path,
        appliance,
        written,
    })
}

/// Restores `file` into the system at `root`, as the chosen plugin manifest plans it; `moves`
/// (archive root → target) win over the plugin's.
pub fn restore(
    root: &Path,
    file: &Path,
    choice: &Choice,
    max_size: Option<u64>,
    mut moves: Vec<(String, String)>,
    progress: Box<dyn Progress>,
) -> Result<RestoreReport, PlanError> {
    let mut backup = Backup::open(file).map_err(|source| PlanError::Open {
        path: file.to_owned(),
        source,
    })?;
    let appliance = backup.info.appliance.clone();
    let manifest = match choice {
        Choice::None => None,
        Choice::Named(name) => {
            let (path, manifest) = Manifest::find(root, name)?;
            let plan = manifest
                .backup
                .as_ref()
                .ok_or(PlanError::NoBackupPlan(path.clone()))?;
            if !plan.accepts(&manifest.appliance, &appliance) {
                return Err(PlanError::OtherAppliance {
                    file: file.to_owned(),
                    backup: appliance,
                    manifest: path,
                    plugin: manifest.appliance.clone(),
                });
            }
            Some(manifest)
        }
        Choice::Accepting => Manifest::all(root)?.into_iter().map(|(_, m)| m).find(|m| {
            m.backup
                .as_ref()
                .is_some_and(|plan| plan.accepts(&m.appliance, &appliance))
        }),
    };
    let mut options = restore::Options {
        max_size,
        ..restore::Options::default()
    };
    if let Some(manifest) = &manifest
        && let Some(plan) = &manifest.backup
    {
        options.migrations = plan
            .migrations_for(&manifest.appliance, &appliance, &backup.info.version)
            .map(|m| m.run.clone())
            .collect();
        options.new_version = installed_version(root, &manifest.appliance).unwrap_or_default();
        options.stop.clone_from(&plan.stop);
        options.after.clone_from(&plan.after_restore);
        options.moves = plan.archive_moves()?;
    }
    options
        .moves
        .retain(|(from, _)| !moves.iter().any(|(f, _)| f == from));
    options.moves.append(&mut moves);
    backup.set_progress(progress);
    let restored = restore::restore(&mut backup, root, &options, &SystemRunner::new(root))
        .map_err(|source| PlanError::Restore {
            path: file.to_owned(),
            source,
        })?;
    Ok(RestoreReport {
        info: backup.info.clone(),
        migrations: options.migrations.len(),
        restored,
    })
}

/// `FROM=TO` as va-backup's `--move` takes it.
pub fn parse_move(text: &str) -> Result<(String, String), String> {
    let (from, to) = text
        .split_once('=')
        .ok_or_else(|| format!("`{text}`: expected FROM=TO"))?;
    let from = root_in_archive(from).map_err(|e| format!("`{text}`: {e}"))?;
    root_in_archive(to).map_err(|e| format!("`{text}`: {e}"))?;
    Ok((from, to.to_owned()))
}
