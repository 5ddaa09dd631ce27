//! Restoring a backup without ever leaving a mix of old and new data.
//!
//! 1. Everything is checked before anything is written: every checksum, every entry's path and
//!    type, and the total size the tar headers declare against a limit (the free space of the
//!    target by default), so a decompression bomb is refused before it is written.
//! 2. Each root is extracted into a staging directory beside its target (same file system), never
//!    following a link: an entry whose path passes through a symbolic link is refused.
//! 3. A journal (`var/lib/appliance/restore.journal`) records the swaps, then each target is moved
//!    aside and its staged copy moved in. Only when every swap is done, and the commands after
//!    the restore succeeded, does the journal say so; the old data is deleted after that, once the
//!    stopped services are started again. Restores and [`recover`] take turns on a lock.
//! 4. [`recover`], run before any backup operation, finishes a committed restore or rolls back an
//!    interrupted one, so a restore killed at any moment leaves the old data or the new.

use std::collections::HashSet;
use std::fmt::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

use super::commands::Runner;
use super::owners::Owners;
use super::read::{Backup, ReadError};
use crate::plugin::Command;
use crate::target::ProgramError;
use stage::{Budget, Stage};

/// Where the journal lives, relative to the system's root.
pub const JOURNAL: &str = "var/lib/appliance/restore.journal";

#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    #[error(transparent)]
    Read(#[from] ReadError),
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error("cannot take the restores' lock `{}`", .path.display())]
    Lock {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the backup would write {needed} bytes, more than the limit of {limit} bytes (--max-size, or the free space of `{}`)", .target.display())]
    TooLarge {
        needed: u64,
        limit: u64,
        target: PathBuf,
    },
    #[error("cannot restore the entry `{entry}`")]
    Entry {
        entry: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot stage `{}`", .path.display())]
    Staging {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("`{entry}` passes through the symbolic link `{link}` of the same backup")]
    ThroughLink { entry: String, link: String },
    #[error("the restore journal `{}` is damaged: {reason}", .path.display())]
    Journal { path: PathBuf, reason: String },
    #[error(
        "the backup names `{root}` (in `{member}`), which the plugin manifest does not declare there ({}): refused",
        if .declared.is_empty() { "it declares none".to_owned() } else { format!("it declares {}", .declared.join(", ")) }
    )]
    Undeclared {
        root: String,
        member: String,
        declared: Vec<String>,
    },
    #[error("the restore would replace both `{first}` and `{second}`, which overlap")]
    Overlap { first: String, second: String },
    #[error("the migration of the data failed: {0}")]
    Migration(ProgramError),
    #[error("cannot stop the services: {0}")]
    Stop(ProgramError),
    #[error("a command after the restore failed, and the previous data was put back: {0}")]
    After(ProgramError),
    #[error("the data was restored, but the services did not start again: {0}")]
    Start(ProgramError),
}

/// How to restore.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The most bytes the backup may write; `None`: the free space of the target.
    pub max_size: Option<u64>,
    /// Which directories the restore replaces, and with which root of the backup.
    pub roots: Roots,
    /// Files (absolute paths on this system) that keep a set-user-ID or set-group-ID bit; every
    /// other file loses it.
    pub keep_set_id: Vec<String>,
    /// Run on the staged data before anything live is touched, each with the backup's version and
    /// [`Options::new_version`] as its last two arguments.
    pub migrations: Vec<Command>,
    /// The version of the appliance installed here.
    pub new_version: String,
    /// Services stopped during the swap and started after it.
    pub stop: Vec<String>,
    /// Run after the swap, before the services start; a failure puts the previous data back.
    pub after: Vec<Command>,
    /// Whether the backup's MAC was made with this system's key: only then may the commands after
    /// trust what is derived data in it (a search index, which its program loads as code).
    pub from_this_system: bool,
}

/// What a restore did not put back as it was.
#[derive(Debug, Default)]
pub struct Restored {
    /// Extended attributes left out, as `path: name` (only `user.*` and ACLs are restored).
    pub skipped_attributes: Vec<String>,
    /// Files whose set-user-ID or set-group-ID bit was cleared, as `/path (4755 → 0755)`: no
    /// manifest declared them.
    pub cleared_set_id: Vec<String>,
    /// What the migrations said they did, a line each (their standard output).
    pub migrated: Vec<String>,
    /// The old data's removal, under way: [`Restored::finish`].
    pub cleanup: Option<Cleanup>,
}

impl Restored {
    /// Waits for the old data's removal; its error, if any.
    pub fn finish(&mut self) -> Result<(), RestoreError> {
        self.cleanup.take().map_or(Ok(()), Cleanup::finish)
    }
}

/// Where the roots of a backup go on this system.
#[derive(Debug, Clone)]
pub enum Roots {
    /// As a root-owned plugin manifest declares them, for each tarball: archive root → absolute
    /// target (`usr/share/moin/mywiki` → `/var/lib/moin/wiki/data`). A root the backup names
    /// that is not listed for its tarball is refused. `None`: the tarball is not restored
    /// (it is checked all the same).
    Declared {
        sysconf: Option<Vec<(String, String)>>,
        appdata: Option<Vec<(String, String)>>,
    },
    /// The backup's own directories, each at its own path or moved (archive root → absolute
    /// target): only when root asks for it on the command line.
    FromBackup { moves: Vec<(String, String)> },
}

impl Default for Roots {
    /// Nothing declared: every backup is refused.
    fn default() -> Self {
        Roots::Declared {
            sysconf: Some(Vec::new()),
            appdata: Some(Vec::new()),
        }
    }
}

impl Roots {
    /// The targets (absolute, on this system) of `roots`, the archive roots the backup names for
    /// `member`; `None` when the tarball is not restored.
    pub fn targets(
        &self,
        member: &str,
        roots: &[String],
    ) -> Result<Option<Vec<String>>, RestoreError> {
        let declared = match self {
            Roots::FromBackup { moves } => {
                return Ok(Some(
                    roots
                        .iter()
                        .map(|root| {
                            moves
                                .iter()
                                .find(|(from, _)| from == root)
                                .map_or_else(|| format!("/{root}"), |(_, to)| to.clone())
                        })
                        .collect(),
                ));
            }
            Roots::Declared { sysconf, appdata } => {
                if member == TARBALLS[0] {
                    sysconf
                } else {
                    appdata
                }
            }
        };
        let Some(declared) = declared else {
            return Ok(None);
        };
        roots
            .iter()
            .map(|root| {
                declared
                    .iter()
                    .find(|(from, _)| from == root)
                    .map(|(_, to)| to.clone())
                    .ok_or_else(|| RestoreError::Undeclared {
                        root: format!("/{root}"),
                        member: member.to_owned(),
                        declared: declared
                            .iter()
                            .map(|(from, _)| format!("/{from}"))
                            .collect(),
                    })
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some)
    }
}

/// Refuses targets that are one another's or nested: their swaps would undo each other.
fn check_overlap(targets: &[String]) -> Result<(), RestoreError> {
    for (index, a) in targets.iter().enumerate() {
        for b in &targets[index + 1..] {
            let (a, b) = (a.trim_end_matches('/'), b.trim_end_matches('/'));
            let nested = |x: &str, y: &str| x.strip_prefix(y).is_some_and(|r| r.starts_with('/'));
            if a == b || nested(a, b) || nested(b, a) {
                return Err(RestoreError::Overlap {
                    first: a.to_owned(),
                    second: b.to_owned(),
                });
            }
        }
    }
    Ok(())
}

/// One root being swapped: the live directory, its staged replacement, and where the old one goes.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Swap {
    target: PathBuf,
    staged: PathBuf,
    old: PathBuf,
    /// Whether the target held data before the restore.
    existed: bool,
}

fn sibling(target: &Path, suffix: &str) -> PathBuf {
    let name = target.file_name().unwrap_or_default().to_string_lossy();
    target.with_file_name(format!(".{name}.appliance-{suffix}"))
}

/// The tarballs of a backup, in the order they are restored.
const TARBALLS: [&str; 2] = ["sysconfig.tar.gz", "appdata.tar.gz"];

/// Restores `backup` into the system at `system_root`. One pass over each tarball: checked,
/// extracted into staging and hashed together; nothing is swapped in before every checksum matched.
pub fn restore(
    backup: &mut Backup,
    system_root: &Path,
    options: &Options,
    runner: &dyn Runner,
) -> Result<Restored, RestoreError> {
    // One restore at a time, and no `recover` of another command in the middle of it.
    let lock = lock(system_root)?;
    recover_locked(system_root)?;
    let owners = Owners::of_system(system_root)?;
    let mut restored = Restored::default();
    // Where every root goes, decided before anything is read further or written.
    let mut plan: Vec<(&str, Vec<String>, Vec<String>)> = Vec::new();
    for member in TARBALLS {
        let roots = backup.roots_of(member)?;
        if let Some(targets) = options.roots.targets(member, &roots)? {
            plan.push((member, roots, targets));
        }
    }
    check_overlap(
        &plan
            .iter()
            .flat_map(|(_, _, t)| t.clone())
            .collect::<Vec<_>>(),
    )?;
    let members: Vec<&str> = plan.iter().map(|(member, _, _)| *member).collect();
    backup.verify_except(&members)?;
    backup.start_progress(&members);
    let mut swaps: Vec<Swap> = Vec::new();
    let result = (|| -> Result<(), RestoreError> {
        let mut budget: Option<Budget> = None;
        for (member, roots, targets) in &plan {
            let first = swaps.len();
            let staged_roots = prepare_staging(system_root, targets, &mut swaps)?;
            let (staged, target) = swaps.get(first).map_or((system_root, system_root), |swap| {
                (swap.staged.as_path(), swap.target.as_path())
            });
            let budget = match &mut budget {
                Some(budget) => budget,
                None => budget.insert(Budget {
                    used: 0,
                    limit: match options.max_size {
                        Some(limit) => limit,
                        None => free_space(staged)?,
                    },
                    target: target.to_owned(),
                }),
            };
            let mut stage = Stage {
                roots,
                targets,
                staged: &staged_roots,
                links: HashSet::new(),
                budget,
                open: Vec::new(),
                deferred: Vec::new(),
                last_parent: None,
                owners: &owners,
                keep_set_id: &options.keep_set_id,
                restored: &mut restored,
            };
            let (sha256, sha1) =
                backup.walk(member, |entry, contents| stage.extract(entry, contents))?;
            stage.close_directories("")?;
            stage.finish_deferred()?;
            backup.check_digests(member, &sha256, &sha1)?;
        }
        restored.migrated = migrate(backup, &swaps, options, runner)?;
        Ok(())
    })();
    // Everything staged reaches the disk before the first swap (one syncfs per file system
    // rather than an fsync per file), while the services stop.
    let result = result.and_then(|()| {
        std::thread::scope(|scope| {
            let synced = scope.spawn(|| sync_staged(&swaps));
            let stopped = runner.stop(&options.stop).map_err(RestoreError::Stop);
            let synced = synced
                .join()
                .unwrap_or_else(|_| Err(std::io::Error::other("the sync panicked").into()));
            stopped?;
            synced.inspect_err(|_| {
                let _ = runner.start(&options.stop);
            })
        })
    });
    if let Err(error) = result {
        for swap in &swaps {
            let _ = std::fs::remove_dir_all(&swap.staged);
        }
        if matches!(error, RestoreError::Stop(_)) {
            let _ = runner.start(&options.stop);
        }
        return Err(error);
    }
    let swapped = swap_in(system_root, &swaps, options, runner);
    let started = runner.start(&options.stop).map_err(RestoreError::Start);
    swapped?;
    // Committed: the old data goes on a thread of its own while the services start up and the
    // caller checks them (a big wiki's tens of thousands of files), not while they wait for it.
    let cleanup = Cleanup::spawn(system_root, lock);
    started?;
    restored.cleanup = Some(cleanup);
    Ok(restored)
}

/// Syncs the file system of each staging directory.
fn sync_staged(swaps: &[Swap]) -> Result<(), RestoreError> {
    for swap in swaps {
        let staging = |source| RestoreError::Staging {
            path: swap.staged.clone(),
            source,
        };
        let directory = std::fs::File::open(&swap.staged).map_err(staging)?;
        nix::unistd::syncfs(&directory).map_err(|e| staging(e.into()))?;
    }
    Ok(())
}

/// The removal of a committed restore's old data, under the restores' lock, on a thread of its
/// own: [`Cleanup::finish`] waits for it and says how it went; dropped, it is waited for all the
/// same. Cut short, the journal still says what is left, and the next restore or `recover`
/// removes it.
pub struct Cleanup {
    thread: Option<std::thread::JoinHandle<Result<(), RestoreError>>>,
    /// Why no thread could start: said by [`Cleanup::finish`].
    unstarted: Option<std::io::Error>,
}

impl Cleanup {
    fn spawn(system_root: &Path, lock: std::fs::File) -> Self {
        let root = system_root.to_owned();
        let thread = std::thread::Builder::new()
            .name("restore-cleanup".into())
            .spawn(move || {
                let _lock = lock;
                recover_locked(&root)
            });
        match thread {
            Ok(thread) => Self {
                thread: Some(thread),
                unstarted: None,
            },
            // The old data stays, the journal says where: the next restore or `recover` removes it.
            Err(error) => Self {
                thread: None,
                unstarted: Some(error),
            },
        }
    }

    /// Waits for the removal; its error, if any.
    pub fn finish(mut self) -> Result<(), RestoreError> {
        self.wait()
    }

    fn wait(&mut self) -> Result<(), RestoreError> {
        if let Some(error) = self.unstarted.take() {
            return Err(error.into());
        }
        match self.thread.take() {
            Some(thread) => thread
                .join()
                .unwrap_or_else(|_| Err(std::io::Error::other("the removal panicked").into())),
            None => Ok(()),
        }
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = self.wait();
    }
}

impl std::fmt::Debug for Cleanup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Cleanup")
    }
}

/// Makes an empty staging directory beside each of `targets` (absolute, on this system), records
/// its swap and opens it: everything staged is reached from that descriptor. The staging
/// directory, and the target's parents where missing, get [`stage::IMPLICIT_DIRECTORY_MODE`]
/// whatever the umask (a root entry of the backup sets the root's own mode later). The parents
/// are followed as they are, links included: they are this system's, an administrator's choice.
fn prepare_staging(
    system_root: &Path,
    targets: &[String],
    swaps: &mut Vec<Swap>,
) -> Result<Vec<std::fs::File>, RestoreError> {
    let mut staged_roots = Vec::new();
    for target in targets {
        let target = system_root.join(target.trim_start_matches('/'));
        let staged = sibling(&target, "staged");
        let staging = |source| RestoreError::Staging {
            path: staged.clone(),
            source,
        };
        if staged.exists() {
            std::fs::remove_dir_all(&staged).map_err(staging)?;
        }
        let parent = target.parent().unwrap_or(system_root);
        create_directories(parent).map_err(staging)?;
        let parent_directory = std::fs::File::open(parent).map_err(staging)?;
        let name = staged.file_name().unwrap_or_default().to_string_lossy();
        let (directory, made) =
            stage::make_directory_at(&parent_directory, &name, stage::IMPLICIT_DIRECTORY_MODE)
                .map_err(staging)?;
        if !made {
            return Err(staging(std::io::ErrorKind::AlreadyExists.into()));
        }
        staged_roots.push(directory);
        swaps.push(Swap {
            old: sibling(&target, "old"),
            existed: target.symlink_metadata().is_ok(),
            target,
            staged,
        });
    }
    Ok(staged_roots)
}

/// `create_dir_all` with [`stage::IMPLICIT_DIRECTORY_MODE`] for each directory it makes, set
/// through the directory's descriptor rather than left to the umask.
fn create_directories(path: &Path) -> std::io::Result<()> {
    if path.is_dir() {
        return Ok(());
    }
    let parent = path
        .parent()
        .ok_or_else(|| std::io::Error::other(format!("`{}` has no parent", path.display())))?;
    create_directories(parent)?;
    let name = path
        .file_name()
        .ok_or_else(|| std::io::Error::other(format!("`{}` has no name", path.display())))?;
    let parent = std::fs::File::open(parent)?;
    stage::make_directory_at(
        &parent,
        &name.to_string_lossy(),
        stage::IMPLICIT_DIRECTORY_MODE,
    )?;
    Ok(())
}

/// Runs the migrations on the staged directories; the lines they said.
fn migrate(
    backup: &Backup,
    swaps: &[Swap],
    options: &Options,
    runner: &dyn Runner,
) -> Result<Vec<String>, RestoreError> {
    let mut said = Vec::new();
    if options.migrations.is_empty() {
        return Ok(said);
    }
    let mut staged = String::new();
    for swap in swaps {
        let target = runner.inside(&swap.target);
        let stage = runner.inside(&swap.staged);
        let _ = writeln!(staged, "{}={}", target.display(), stage.display());
    }
    let env = [("APPLIANCE_STAGED".to_owned(), staged)];
    for migration in &options.migrations {
        let mut argv = migration.clone();
        argv.push(backup.info.version.clone());
        argv.push(options.new_version.clone());
        let output = runner.run(&argv, &env).map_err(RestoreError::Migration)?;
        // A migration may repeat what the backup holds (page names): no control character of
        // it reaches the administrator's terminal.
        said.extend(output.lines().filter(|l| !l.trim().is_empty()).map(|l| {
            l.chars()
                .map(|c| if c.is_control() { '\u{fffd}' } else { c })
                .collect()
        }));
    }
    Ok(said)
}

/// What the commands after a restore are told: `APPLIANCE_RESTORED`, the directories that came
/// from the backup (one a line, as the commands see them; a directory the manifest declares but
/// the backup lacks is not among them and holds what it held), and `APPLIANCE_MIGRATED`, `yes`
/// when migrations changed the data (anything derived from it, a search index say, is then out of
/// date) or `no`; and `APPLIANCE_ORIGIN`, `this-system` when the backup's MAC was made with this
/// system's key or `elsewhere` (nothing derived in it is to be trusted then).
fn after_env(swaps: &[Swap], options: &Options, runner: &dyn Runner) -> [(String, String); 3] {
    let mut restored = String::new();
    for swap in swaps {
        let _ = writeln!(restored, "{}", runner.inside(&swap.target).display());
    }
    [
        ("APPLIANCE_RESTORED".to_owned(), restored),
        (
            "APPLIANCE_MIGRATED".to_owned(),
            if options.migrations.is_empty() {
                "no"
            } else {
                "yes"
            }
            .to_owned(),
        ),
        (
            "APPLIANCE_ORIGIN".to_owned(),
            if options.from_this_system {
                "this-system"
            } else {
                "elsewhere"
            }
            .to_owned(),
        ),
    ]
}

fn journal_text(state: &str, swaps: &[Swap]) -> String {
    let mut text = format!("state {state}\n");
    for swap in swaps {
        for path in [&swap.target, &swap.staged, &swap.old] {
            text.push_str(&path.display().to_string());
            text.push('\t');
        }
        text.push_str(if swap.existed { "existed" } else { "absent" });
        text.push('\n');
    }
    text
}

#[expect(
    clippy::disallowed_methods,
    reason = "the journalled swap of whole directories: the journal names each rename first"
)]
fn swap_in(
    system_root: &Path,
    swaps: &[Swap],
    options: &Options,
    runner: &dyn Runner,
) -> Result<(), RestoreError> {
    let journal = system_root.join(JOURNAL);
    if let Some(parent) = journal.parent() {
        std::fs::create_dir_all(parent)?;
    }
    if swaps.iter().any(|s| {
        let text = s.target.to_string_lossy();
        text.contains(['\t', '\n'])
    }) {
        return Err(
            std::io::Error::other("a restored directory's name holds a tab or a newline").into(),
        );
    }
    // Root's alone: it names what is being swapped, for `recover` only.
    crate::atomic::write(&journal, journal_text("swapping", swaps).as_bytes(), 0o600)?;
    for swap in swaps {
        if swap.old.exists() {
            std::fs::remove_dir_all(&swap.old)?;
        }
        if swap.target.exists() {
            std::fs::rename(&swap.target, &swap.old)?;
        }
        std::fs::rename(&swap.staged, &swap.target)?;
    }
    // Still "swapping": a failure or a kill from here on puts the previous data back.
    let env = after_env(swaps, options, runner);
    for command in &options.after {
        if let Err(reason) = runner.run(command, &env) {
            recover_locked(system_root)?;
            return Err(RestoreError::After(reason));
        }
    }
    // Committed: `restore` deletes the old data once the services run again (a kill before
    // that leaves it to the next `recover`).
    crate::atomic::write(&journal, journal_text("committed", swaps).as_bytes(), 0o600)?;
    Ok(())
}

/// Finishes a committed restore (removes the old data) or rolls back an interrupted one (puts the
/// old data back); nothing to do without a journal. Waits for a restore under way to end.
pub fn recover(system_root: &Path) -> Result<(), RestoreError> {
    let _lock = lock(system_root)?;
    recover_locked(system_root)
}

/// Where restores and [`recover`] take turns, relative to the system's root.
pub const LOCK: &str = "var/lib/appliance/restore.lock";

/// The lock of restores on the system at `system_root`, waited for.
fn lock(system_root: &Path) -> Result<std::fs::File, RestoreError> {
    let path = system_root.join(LOCK);
    let locked = (|| {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .custom_flags(nix::libc::O_NOFOLLOW)
            .open(&path)?;
        // flock(2), released when the file is closed.
        file.lock()?;
        Ok(file)
    })();
    locked.map_err(|source| RestoreError::Lock { path, source })
}

/// [`recover`], the lock held already.
#[expect(
    clippy::disallowed_methods,
    reason = "undoes the journalled swap of whole directories, rename by rename"
)]
fn recover_locked(system_root: &Path) -> Result<(), RestoreError> {
    let journal = system_root.join(JOURNAL);
    let text = match std::fs::read_to_string(&journal) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(error) => return Err(error.into()),
    };
    let damaged = |reason: &str| RestoreError::Journal {
        path: journal.clone(),
        reason: reason.to_owned(),
    };
    let mut lines = text.lines();
    let state = lines
        .next()
        .and_then(|l| l.strip_prefix("state "))
        .ok_or_else(|| damaged("no state line"))?;
    let swaps: Vec<Swap> = lines
        .map(|line| {
            let parts: Vec<&str> = line.split('\t').collect();
            match parts.as_slice() {
                [target, staged, old, existed @ ("existed" | "absent")] => Ok(Swap {
                    target: PathBuf::from(target),
                    staged: PathBuf::from(staged),
                    old: PathBuf::from(old),
                    existed: *existed == "existed",
                }),
                _ => Err(damaged(
                    "a swap line does not have three paths and whether the target existed",
                )),
            }
        })
        .collect::<Result<_, _>>()?;
    match state {
        "committed" => {
            for swap in &swaps {
                remove::remove_tree(&swap.old)?;
            }
        }
        "swapping" => {
            // Undo in reverse. A target whose staged copy is gone holds the new data when the old
            // data is aside, or when there was none.
            for swap in swaps.iter().rev() {
                if !swap.staged.exists()
                    && swap.target.exists()
                    && (swap.old.exists() || !swap.existed)
                {
                    std::fs::rename(&swap.target, &swap.staged)?;
                }
                if swap.old.exists() && !swap.target.exists() {
                    std::fs::rename(&swap.old, &swap.target)?;
                }
                if swap.staged.exists() {
                    std::fs::remove_dir_all(&swap.staged)?;
                }
            }
        }
        _ => return Err(damaged("unknown state")),
    }
    std::fs::remove_file(&journal)?;
    Ok(())
}

/// Free bytes on the file system that holds `path` (or its nearest existing parent), as an
/// unprivileged user may use them (statvfs(3)'s available blocks).
pub fn free_space(path: &Path) -> std::io::Result<u64> {
    let mut existing = path;
    while !existing.exists() {
        existing = existing.parent().unwrap_or(Path::new("/"));
    }
    let stats = nix::sys::statvfs::statvfs(existing).map_err(std::io::Error::from)?;
    Ok(stats.blocks_available() * stats.fragment_size())
}

mod remove;
mod stage;

#[cfg(test)]
pub(crate) mod tests;
