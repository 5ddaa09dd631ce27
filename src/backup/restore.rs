//! Restoring a backup without ever leaving a mix of old and new data.
//!
//! 1. Everything is checked before anything is written: every checksum, every entry's path and
//!    type, and the total size the tar headers declare against a limit (the free space of the
//!    target by default), so a decompression bomb is refused before it is written.
//! 2. Each root is extracted into a staging directory beside its target (same file system), never
//!    following a link: an entry whose path passes through a symbolic link is refused.
//! 3. A journal (`var/lib/appliance/restore.journal`) records the swaps, then each target is moved
//!    aside and its staged copy moved in. Only when every swap is done does the journal say so.
//! 4. [`recover`], run before any backup operation, finishes a committed restore or rolls back an
//!    interrupted one, so a restore killed at any moment leaves the old data or the new.

use std::collections::HashSet;
use std::fmt::Write as _;
use std::io::Read;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};

use super::commands::Runner;
use super::owners::Owners;
use super::paths::containing_root;
use super::read::{Backup, Entry, EntryKind, ReadError};
use crate::plugin::Command;
use crate::registry::write_atomic;

/// Where the journal lives, relative to the system's root.
pub const JOURNAL: &str = "var/lib/appliance/restore.journal";

#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    #[error(transparent)]
    Read(#[from] ReadError),
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error("the backup would write {needed} bytes, more than the limit of {limit} bytes (--max-size, or the free space of `{}`)", .target.display())]
    TooLarge {
        needed: u64,
        limit: u64,
        target: PathBuf,
    },
    #[error("`{entry}` passes through the symbolic link `{link}` of the same backup")]
    ThroughLink { entry: String, link: String },
    #[error("the restore journal `{}` is damaged: {reason}", .path.display())]
    Journal { path: PathBuf, reason: String },
    #[error("the migration of the data failed: {0}")]
    Migration(String),
    #[error("cannot stop the services: {0}")]
    Stop(String),
    #[error("a command after the restore failed, and the previous data was put back: {0}")]
    After(String),
    #[error("the data was restored, but the services did not start again: {0}")]
    Start(String),
}

/// How to restore.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The most bytes the backup may write; `None`: the free space of the target.
    pub max_size: Option<u64>,
    /// Where each root of the backup goes on this system, when not at its own path
    /// (`usr/share/moin/mywiki` → `/var/lib/moin/wiki/data`).
    pub moves: Vec<(String, String)>,
    /// Run on the staged data before anything live is touched, each with the backup's version and
    /// [`Options::new_version`] as its last two arguments.
    pub migrations: Vec<Command>,
    /// The version of the appliance installed here.
    pub new_version: String,
    /// Services stopped during the swap and started after it.
    pub stop: Vec<String>,
    /// Run after the swap, before the services start; a failure puts the previous data back.
    pub after: Vec<Command>,
}

/// What a restore did not put back as it was.
#[derive(Debug, Default)]
pub struct Restored {
    /// Extended attributes left out, as `path: name` (only `user.*` and ACLs are restored).
    pub skipped_attributes: Vec<String>,
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
    recover(system_root)?;
    let owners = Owners::of_system(system_root)?;
    let mut restored = Restored::default();
    backup.verify_except(&TARBALLS)?;
    backup.start_progress(&TARBALLS);
    let target_of = |root: &str| -> PathBuf {
        let moved = options
            .moves
            .iter()
            .find(|(from, _)| from == root)
            .map(|(_, to)| to.trim_start_matches('/').to_owned());
        system_root.join(moved.unwrap_or_else(|| root.to_owned()))
    };
    let mut swaps: Vec<Swap> = Vec::new();
    let result = (|| -> Result<(), RestoreError> {
        let mut budget: Option<Budget> = None;
        for member in TARBALLS {
            let roots = backup.roots_of(member)?;
            let first = swaps.len();
            for root in &roots {
                let target = target_of(root);
                let staged = sibling(&target, "staged");
                if staged.exists() {
                    std::fs::remove_dir_all(&staged)?;
                }
                if let Some(parent) = target.parent() {
                    std::fs::create_dir_all(parent)?;
                }
                std::fs::create_dir(&staged)?;
                swaps.push(Swap {
                    old: sibling(&target, "old"),
                    existed: target.symlink_metadata().is_ok(),
                    target,
                    staged,
                });
            }
            // A plugin may back up application data only: a tarball without roots is still read
            // (and must then be empty), the free space measured where the system is.
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
                roots: &roots,
                swaps: &swaps[first..],
                links: HashSet::new(),
                budget,
                open: Vec::new(),
                deferred: Vec::new(),
                owners: &owners,
                skipped_attributes: &mut restored.skipped_attributes,
            };
            let (sha256, sha1) =
                backup.walk(member, |entry, contents| stage.extract(entry, contents))?;
            stage.close_directories("")?;
            for (directory, entry) in std::mem::take(&mut stage.deferred).iter().rev() {
                stage.finish_directory(directory, entry)?;
            }
            backup.check_digests(member, &sha256, &sha1)?;
        }
        migrate(backup, &swaps, options, runner)?;
        // Everything staged reaches the disk before the first swap: one syncfs per file system
        // rather than an fsync per file.
        for swap in &swaps {
            let directory = std::fs::File::open(&swap.staged)?;
            nix::unistd::syncfs(&directory).map_err(std::io::Error::from)?;
        }
        Ok(())
    })();
    let result = result.and_then(|()| runner.stop(&options.stop).map_err(RestoreError::Stop));
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
    started?;
    Ok(restored)
}

/// Runs the migrations on the staged directories.
fn migrate(
    backup: &Backup,
    swaps: &[Swap],
    options: &Options,
    runner: &dyn Runner,
) -> Result<(), RestoreError> {
    if options.migrations.is_empty() {
        return Ok(());
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
        runner.run(&argv, &env).map_err(RestoreError::Migration)?;
    }
    Ok(())
}

/// The bytes a restore may write, and what it wrote so far.
struct Budget {
    used: u64,
    limit: u64,
    target: PathBuf,
}

/// Extraction of one tarball into the staging directories of its roots.
struct Stage<'a> {
    roots: &'a [String],
    swaps: &'a [Swap],
    /// Symbolic links this backup made: nothing is written through them.
    links: HashSet<String>,
    budget: &'a mut Budget,
    /// Directories and their recorded modes, applied after the extraction.
    /// The directories whose contents may still come (archive path, where, entry): the
    /// ancestors of the last entry, so memory follows the depth of the tree, not its size.
    open: Vec<(String, PathBuf, Entry)>,
    /// Read-only directories: finished at the very end, so that nothing is refused by them.
    deferred: Vec<(PathBuf, Entry)>,
    /// This system's users and groups, to give files to owners by name.
    owners: &'a Owners,
    skipped_attributes: &'a mut Vec<String>,
}

impl Stage<'_> {
    fn staged_path(&self, path: &str) -> Option<PathBuf> {
        let root = containing_root(path, self.roots)?;
        let index = self.roots.iter().position(|r| r == root)?;
        let staged = &self.swaps.get(index)?.staged;
        let relative = path[root.len()..].trim_start_matches('/');
        Some(if relative.is_empty() {
            staged.clone()
        } else {
            staged.join(relative)
        })
    }

    /// Mode, attributes and time of a directory whose contents are all in.
    fn finish_directory(&mut self, directory: &Path, entry: &Entry) -> Result<(), RestoreError> {
        std::fs::set_permissions(directory, std::fs::Permissions::from_mode(entry.mode))?;
        // A default ACL set before the contents were in would have been inherited by them.
        self.set_attributes(entry, directory)?;
        std::fs::File::open(directory)?
            .set_modified(std::time::UNIX_EPOCH + std::time::Duration::from_secs(entry.mtime))?;
        Ok(())
    }

    /// Finishes the open directories that do not hold `path` (all of them for `""`).
    fn close_directories(&mut self, path: &str) -> Result<(), RestoreError> {
        while let Some((archive, _, _)) = self.open.last() {
            let holds = !path.is_empty()
                && path.len() > archive.len()
                && path.starts_with(archive.as_str())
                && path.as_bytes()[archive.len()] == b'/';
            if holds {
                break;
            }
            let Some((_, directory, entry)) = self.open.pop() else {
                break;
            };
            if entry.mode & 0o200 == 0 {
                self.deferred.push((directory, entry));
            } else {
                self.finish_directory(&directory, &entry)?;
            }
        }
        Ok(())
    }

    fn extract(&mut self, entry: &Entry, contents: &mut dyn Read) -> Result<(), RestoreError> {
        // Through a link of this backup: any ancestor of the path that is one.
        let mut ancestor = entry.path.as_str();
        while let Some((parent, _)) = ancestor.rsplit_once('/') {
            if self.links.contains(parent) {
                return Err(RestoreError::ThroughLink {
                    entry: entry.path.clone(),
                    link: parent.to_owned(),
                });
            }
            ancestor = parent;
        }
        self.close_directories(&entry.path)?;
        // Directories above a root hold nothing of ours.
        let Some(destination) = self.staged_path(&entry.path) else {
            return Ok(());
        };
        // The size the header declares, before a byte of it is written.
        self.budget.used = self.budget.used.saturating_add(entry.size);
        if self.budget.used > self.budget.limit {
            return Err(RestoreError::TooLarge {
                needed: self.budget.used,
                limit: self.budget.limit,
                target: self.budget.target.clone(),
            });
        }
        if let Some(parent) = destination.parent()
            && entry.kind != EntryKind::Directory
        {
            std::fs::create_dir_all(parent)?;
        }
        let mtime = std::time::UNIX_EPOCH + std::time::Duration::from_secs(entry.mtime);
        match &entry.kind {
            EntryKind::Directory => {
                // Its mode, attributes and time are set once its contents are in (a read-only
                // directory would refuse them, and each new entry changes its time).
                std::fs::create_dir_all(&destination)?;
                self.chown(entry, &destination)?;
                self.open
                    .push((entry.path.clone(), destination.clone(), entry.clone()));
            }
            EntryKind::File => {
                let mut file = std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .open(&destination)?;
                let copied = std::io::copy(&mut contents.take(entry.size), &mut file)?;
                if copied != entry.size {
                    return Err(
                        std::io::Error::other(format!("`{}` is cut short", entry.path)).into(),
                    );
                }
                // The owner first: a change of owner clears the set-user-ID bit.
                self.chown(entry, &destination)?;
                file.set_permissions(std::fs::Permissions::from_mode(entry.mode))?;
                self.set_attributes(entry, &destination)?;
                file.set_modified(mtime)?;
            }
            EntryKind::Symlink(target) => {
                symlink(target, &destination)?;
                self.chown(entry, &destination)?;
                self.links.insert(entry.path.clone());
            }
            EntryKind::HardLink(target) => {
                let source = self
                    .staged_path(target)
                    .ok_or_else(|| std::io::Error::other("hard link outside the roots"))?;
                std::fs::hard_link(source, &destination)?;
            }
        }
        Ok(())
    }

    /// Owners by name where this system knows the name, else by number; only root can give files
    /// away, so others keep their own.
    fn chown(&self, entry: &Entry, destination: &Path) -> Result<(), RestoreError> {
        if nix::unistd::geteuid().is_root() {
            let uid = self.owners.uid(entry.user.as_deref(), entry.uid);
            let gid = self.owners.gid(entry.group.as_deref(), entry.gid);
            std::os::unix::fs::lchown(destination, uid, gid)?;
        }
        Ok(())
    }

    /// Extended attributes: user attributes and ACLs; never `security.*` or `trusted.*`, which a
    /// backup from elsewhere must not grant (file capabilities, say).
    fn set_attributes(&mut self, entry: &Entry, destination: &Path) -> Result<(), RestoreError> {
        for (name, value) in &entry.xattrs {
            let allowed = name.starts_with("user.")
                || name == "system.posix_acl_access"
                || name == "system.posix_acl_default";
            if !allowed {
                self.skipped_attributes
                    .push(format!("{}: {name}", entry.path));
                continue;
            }
            match xattr::set(destination, name, value) {
                Ok(()) => {}
                Err(error) if error.raw_os_error() == Some(nix::libc::ENOTSUP) => {
                    self.skipped_attributes.push(format!(
                        "{}: {name} (the target file system does not keep it)",
                        entry.path
                    ));
                }
                Err(error) => return Err(error.into()),
            }
        }
        Ok(())
    }
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
    write_atomic(&journal, journal_text("swapping", swaps).as_bytes())?;
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
    for command in &options.after {
        if let Err(reason) = runner.run(command, &[]) {
            recover(system_root)?;
            return Err(RestoreError::After(reason));
        }
    }
    write_atomic(&journal, journal_text("committed", swaps).as_bytes())?;
    recover(system_root)
}

/// Finishes a committed restore (removes the old data) or rolls back an interrupted one (puts the
/// old data back); nothing to do without a journal.
pub fn recover(system_root: &Path) -> Result<(), RestoreError> {
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
                if swap.old.exists() {
                    std::fs::remove_dir_all(&swap.old)?;
                }
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

/// Free bytes on the file system that holds `path` (or its nearest existing parent).
fn free_space(path: &Path) -> Result<u64, RestoreError> {
    let mut existing = path;
    while !existing.exists() {
        existing = existing.parent().unwrap_or(Path::new("/"));
    }
    let stats = nix::sys::statvfs::statvfs(existing).map_err(std::io::Error::from)?;
    Ok(stats.blocks_available() * stats.fragment_size())
}

#[cfg(test)]
mod tests;
