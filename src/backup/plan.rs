//! Backups as a plugin manifest plans them: which directories, what runs around a backup, and for a
//! restore which services stop, which migrations run and where old directories go. va-backup and
//! appliance-control's agent both come through here.

use std::path::{Path, PathBuf};

use super::Progress;
use super::commands::{Runner, SystemRunner};
use super::info::Info;
use super::origin::{self, KeyError, Origin};
use super::paths::{PathError, root_in_archive};
use super::read::{Backup, ReadError};
use super::restore::{self, RestoreError, Restored, Roots};
use super::store;
use super::write::{self, WriteError, Written};
use crate::debconf::{PackageTools, SystemTools};
use crate::plugin::{BackupPlan, Manifest, ManifestError, PLUGIN_DIR};
use crate::target::ProgramError;

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
    Before(ProgramError),
    #[error("the plugin's command after the backup failed: {0}")]
    After(ProgramError),
    #[error("cannot write the backup `{}`", .path.display())]
    Write { path: PathBuf, source: WriteError },
    #[error("cannot open the backup `{}`", .path.display())]
    Open { path: PathBuf, source: ReadError },
    #[error("cannot restore `{}`", .path.display())]
    Restore { path: PathBuf, source: RestoreError },
    #[error(
        "no plugin manifest accepts backups of `{0}`, so nothing says which directories a restore may replace (as root, `va-backup restore --paths-from-backup` takes them from the backup itself)"
    )]
    NoAcceptingManifest(String),
    #[error(
        "--move `{0}`: the plugin manifest does not declare that directory (--paths-from-backup takes the backup's own)"
    )]
    UndeclaredMove(String),
    #[error("--move `{from}`: the backup `{}` holds no such directory (it holds {held})", .file.display())]
    MoveNotInBackup {
        from: String,
        file: PathBuf,
        held: String,
    },
    #[error(transparent)]
    Key { source: KeyError },
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
    pub origin: Origin,
    /// The directories replaced (absolute, on this system).
    pub replaced: Vec<String>,
    /// The system configuration was not restored: see [`Prepared::sysconf_left_out`].
    pub sysconf_left_out: bool,
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

/// Makes a backup of the system at `root` into `output`, which must not exist unless `overwrite`
/// (by default a new name in the store: two backups of the same second both stay).
pub fn create(
    root: &Path,
    what: &What,
    output: Option<&Path>,
    overwrite: bool,
    progress: &dyn Progress,
) -> Result<Created, PlanError> {
    let now = store::now();
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
    let store_dir;
    let stem = store::stem(&appliance, now);
    let destination = match output {
        Some(path) if overwrite => write::Destination::Replace(path),
        Some(path) => write::Destination::New(path),
        None => {
            store_dir = store::directory(root)?;
            write::Destination::Unique {
                dir: &store_dir,
                stem: &stem,
            }
        }
    };
    let named = match destination {
        write::Destination::Replace(path) | write::Destination::New(path) => path.to_owned(),
        write::Destination::Unique { dir, stem } => dir.join(format!("{stem}.abf")),
    };
    let runner = SystemRunner::new(root);
    let (before, after) = plan
        .as_ref()
        .map(|p| (p.before_backup.as_slice(), p.after_backup.as_slice()))
        .unwrap_or_default();
    let made = before
        .iter()
        .try_for_each(|command| runner.run(command, &[]).map(drop))
        .map_err(PlanError::Before)
        .and_then(|()| {
            write::create_at(root, &info, destination, progress).map_err(|source| {
                PlanError::Write {
                    path: named.clone(),
                    source,
                }
            })
        });
    let cleaned = after
        .iter()
        .try_for_each(|command| runner.run(command, &[]).map(drop))
        .map_err(PlanError::After);
    let (path, written) = made?;
    cleaned?;
    Ok(Created {
        path,
        appliance,
        written,
    })
}

/// What a restore is asked to do.
#[derive(Debug, Clone)]
pub struct RestoreRequest {
    pub choice: Choice,
    /// The most bytes the backup may write; `None`: the free space of the target.
    pub max_size: Option<u64>,
    /// Archive root → absolute target, winning over the plugin's (root's `--move`).
    pub moves: Vec<(String, String)>,
    /// Take the directories from the backup's own `info.yaml` when no manifest governs the
    /// restore: only root's explicit `va-backup restore --paths-from-backup`.
    pub paths_from_backup: bool,
    /// Restore the system configuration of a backup made elsewhere (it runs as root
    /// afterwards): root's command line, or a second, explicit confirmation on the page.
    pub foreign_sysconf: bool,
}

impl RestoreRequest {
    /// The plugin that accepts the backup, nothing else asked.
    pub fn accepting() -> Self {
        Self {
            choice: Choice::Accepting,
            max_size: None,
            moves: Vec::new(),
            paths_from_backup: false,
            foreign_sysconf: false,
        }
    }
}

/// A restore checked and decided, not yet begun: what it will replace, to show first.
pub struct Prepared {
    backup: Backup,
    options: restore::Options,
    file: PathBuf,
    pub info: Info,
    pub origin: Origin,
    /// The directories it replaces (absolute, on this system), in order.
    pub replaces: Vec<String>,
    /// The backup's system configuration is left as it is here: the backup was made
    /// elsewhere and restoring it was not confirmed.
    pub sysconf_left_out: bool,
    /// The manifest that governs it, if any.
    pub manifest: Option<PathBuf>,
}

/// The manifest `choice` names, which must accept backups of `appliance`, or the first that does.
fn choose(
    root: &Path,
    file: &Path,
    choice: &Choice,
    appliance: &str,
) -> Result<Option<(PathBuf, Manifest)>, PlanError> {
    let manifest = match choice {
        Choice::None => None,
        Choice::Named(name) => {
            let (path, manifest) = Manifest::find(root, name)?;
            let plan = manifest
                .backup
                .as_ref()
                .ok_or(PlanError::NoBackupPlan(path.clone()))?;
            if !plan.accepts(&manifest.appliance, appliance) {
                return Err(PlanError::OtherAppliance {
                    file: file.to_owned(),
                    backup: appliance.to_owned(),
                    manifest: path,
                    plugin: manifest.appliance.clone(),
                });
            }
            Some((path, manifest))
        }
        Choice::Accepting => Manifest::all(root)?.into_iter().find(|(_, m)| {
            m.backup
                .as_ref()
                .is_some_and(|plan| plan.accepts(&m.appliance, appliance))
        }),
    };
    Ok(manifest)
}

/// Opens and checks `file`, and decides from the root-owned manifest that accepts it (or, only
/// when asked, from the backup itself) which directories a restore replaces.
pub fn prepare(root: &Path, file: &Path, request: &RestoreRequest) -> Result<Prepared, PlanError> {
    let open_error = |source| PlanError::Open {
        path: file.to_owned(),
        source,
    };
    let mut backup = Backup::open(file).map_err(open_error)?;
    // The MAC covers `sha256sums`; the restore checks every member against it before anything
    // is swapped in.
    let key = origin::key(root).map_err(|source| PlanError::Key { source })?;
    let origin = backup.origin(key.as_deref()).map_err(open_error)?;
    let appliance = backup.info.appliance.clone();
    let manifest = choose(root, file, &request.choice, &appliance)?;
    let mut options = restore::Options {
        max_size: request.max_size,
        ..restore::Options::default()
    };
    let mut sysconf_left_out = false;
    let plan = manifest.as_ref().and_then(|(_, m)| m.backup.as_ref());
    if let Some((_, manifest)) = &manifest
        && let Some(plan) = plan
    {
        options.migrations = plan
            .migrations_for(&manifest.appliance, &appliance, &backup.info.version)
            .map(|m| m.run.clone())
            .collect();
        options.new_version = installed_version(root, &manifest.appliance).unwrap_or_default();
        options.stop.clone_from(&plan.stop);
        options.after.clone_from(&plan.after_restore);
        options.keep_set_id.clone_from(&plan.keep_set_id);
    }
    options.from_this_system = origin == Origin::ThisSystem;
    options.roots = match plan {
        _ if request.paths_from_backup => {
            let mut moves = plan
                .map(BackupPlan::archive_moves)
                .transpose()?
                .unwrap_or_default();
            moves.retain(|(from, _)| !request.moves.iter().any(|(f, _)| f == from));
            moves.extend(request.moves.iter().cloned());
            Roots::FromBackup { moves }
        }
        Some(plan) => {
            let mut sysconf = plan.declared_roots(&plan.sysconf)?;
            let mut appdata = plan.declared_roots(&plan.appdata)?;
            for (from, to) in &request.moves {
                let declared = sysconf
                    .iter_mut()
                    .chain(appdata.iter_mut())
                    .find(|(f, _)| f == from)
                    .ok_or_else(|| PlanError::UndeclaredMove(format!("/{from}")))?;
                declared.1.clone_from(to);
            }
            sysconf_left_out = origin == Origin::Elsewhere
                && !request.foreign_sysconf
                && !backup.info.sysconf_dirs.is_empty();
            Roots::Declared {
                sysconf: Some(sysconf),
                appdata: Some(appdata),
            }
        }
        None => return Err(PlanError::NoAcceptingManifest(appliance)),
    };
    // Every root the backup names must be declared, the ones left out included: a backup that
    // names another directory is refused whole.
    let mut replaces = Vec::new();
    let mut held = Vec::new();
    for member in ["sysconfig.tar.gz", "appdata.tar.gz"] {
        let roots = backup.roots_of(member).map_err(open_error)?;
        held.extend(roots.iter().cloned());
        let targets =
            options
                .roots
                .targets(member, &roots)
                .map_err(|source| PlanError::Restore {
                    path: file.to_owned(),
                    source,
                })?;
        if !(sysconf_left_out && member == "sysconfig.tar.gz") {
            replaces.extend(targets.unwrap_or_default());
        }
    }
    // A move of a directory the backup does not hold would do nothing: a typo, said.
    if let Some((from, _)) = request.moves.iter().find(|(from, _)| !held.contains(from)) {
        return Err(PlanError::MoveNotInBackup {
            from: format!("/{from}"),
            file: file.to_owned(),
            held: held
                .iter()
                .map(|root| format!("`/{root}`"))
                .collect::<Vec<_>>()
                .join(", "),
        });
    }
    if sysconf_left_out && let Roots::Declared { sysconf, .. } = &mut options.roots {
        *sysconf = None;
    }
    Ok(Prepared {
        info: backup.info.clone(),
        backup,
        options,
        file: file.to_owned(),
        origin,
        replaces,
        sysconf_left_out,
        manifest: manifest.map(|(path, _)| path),
    })
}

/// Carries out a prepared restore.
///
/// The old data goes on a thread of its own once the services are started again: the caller
/// checks them meanwhile, then waits for it with `report.restored.finish()` (dropped, the report
/// waits for it all the same).
pub fn execute(
    root: &Path,
    mut prepared: Prepared,
    progress: Box<dyn Progress>,
) -> Result<RestoreReport, PlanError> {
    prepared.backup.set_progress(progress);
    let restored = restore::restore(
        &mut prepared.backup,
        root,
        &prepared.options,
        &SystemRunner::new(root),
    )
    .map_err(|source| PlanError::Restore {
        path: prepared.file.clone(),
        source,
    })?;
    Ok(RestoreReport {
        info: prepared.info,
        migrations: prepared.options.migrations.len(),
        restored,
        origin: prepared.origin,
        replaced: prepared.replaces,
        sysconf_left_out: prepared.sysconf_left_out,
    })
}

/// [`prepare`] then [`execute`], the old data's removal waited for.
pub fn restore(
    root: &Path,
    file: &Path,
    request: &RestoreRequest,
    progress: Box<dyn Progress>,
) -> Result<RestoreReport, PlanError> {
    let mut report = execute(root, prepare(root, file, request)?, progress)?;
    report
        .restored
        .finish()
        .map_err(|source| PlanError::Restore {
            path: file.to_owned(),
            source,
        })?;
    Ok(report)
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
