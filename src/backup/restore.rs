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
use std::io::Read;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};

use super::paths::containing_root;
use super::read::{Backup, Entry, EntryKind, ReadError};
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
}

/// How to restore.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The most bytes the backup may write; `None`: the free space of the target.
    pub max_size: Option<u64>,
    /// Where each root of the backup goes on this system, when not at its own path
    /// (`usr/share/moin/mywiki` → `/var/lib/moin/wiki/data`).
    pub moves: Vec<(String, String)>,
}

/// One root being swapped: the live directory, its staged replacement, and where the old one goes.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Swap {
    target: PathBuf,
    staged: PathBuf,
    old: PathBuf,
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
) -> Result<(), RestoreError> {
    recover(system_root)?;
    backup.verify_except(&TARBALLS)?;
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
                    target,
                    staged,
                });
            }
            let budget = match &mut budget {
                Some(budget) => budget,
                None => budget.insert(Budget {
                    used: 0,
                    limit: match options.max_size {
                        Some(limit) => limit,
                        None => free_space(&swaps[first].staged)?,
                    },
                    target: swaps[first].target.clone(),
                }),
            };
            let mut stage = Stage {
                roots: &roots,
                swaps: &swaps[first..],
                links: HashSet::new(),
                budget,
                directories: Vec::new(),
            };
            let (sha256, sha1) =
                backup.walk(member, |entry, contents| stage.extract(entry, contents))?;
            for (directory, mode) in stage.directories.iter().rev() {
                std::fs::set_permissions(directory, std::fs::Permissions::from_mode(*mode))?;
            }
            backup.check_digests(member, &sha256, &sha1)?;
        }
        // Everything staged reaches the disk before the first swap: one syncfs per file system
        // rather than an fsync per file.
        for swap in &swaps {
            let directory = std::fs::File::open(&swap.staged)?;
            nix::unistd::syncfs(&directory).map_err(std::io::Error::from)?;
        }
        Ok(())
    })();
    if let Err(error) = result {
        for swap in &swaps {
            let _ = std::fs::remove_dir_all(&swap.staged);
        }
        return Err(error);
    }
    swap_in(system_root, &swaps)
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
    directories: Vec<(PathBuf, u32)>,
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

    fn extract(&mut self, entry: &Entry, contents: &mut dyn Read) -> Result<(), RestoreError> {
        if let Some(link) = self
            .links
            .iter()
            .find(|l| entry.path.starts_with(&format!("{l}/")))
        {
            return Err(RestoreError::ThroughLink {
                entry: entry.path.clone(),
                link: link.clone(),
            });
        }
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
        match &entry.kind {
            EntryKind::Directory => {
                // Its mode is set once its contents are in (a read-only directory would refuse them).
                std::fs::create_dir_all(&destination)?;
                self.directories.push((destination.clone(), entry.mode));
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
                file.set_permissions(std::fs::Permissions::from_mode(entry.mode))?;
                file.set_modified(
                    std::time::UNIX_EPOCH + std::time::Duration::from_secs(entry.mtime),
                )?;
            }
            EntryKind::Symlink(target) => {
                symlink(target, &destination)?;
                self.links.insert(entry.path.clone());
            }
            EntryKind::HardLink(target) => {
                let source = self
                    .staged_path(target)
                    .ok_or_else(|| std::io::Error::other("hard link outside the roots"))?;
                std::fs::hard_link(source, &destination)?;
            }
        }
        // Owners by number, as recorded; only root can give files away.
        if nix::unistd::geteuid().is_root() {
            let uid = u32::try_from(entry.uid).ok();
            let gid = u32::try_from(entry.gid).ok();
            std::os::unix::fs::lchown(&destination, uid, gid)?;
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
        text.pop();
        text.push('\n');
    }
    text
}

fn swap_in(system_root: &Path, swaps: &[Swap]) -> Result<(), RestoreError> {
    let journal = system_root.join(JOURNAL);
    if let Some(parent) = journal.parent() {
        std::fs::create_dir_all(parent)?;
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
                [target, staged, old] => Ok(Swap {
                    target: PathBuf::from(target),
                    staged: PathBuf::from(staged),
                    old: PathBuf::from(old),
                }),
                _ => Err(damaged("a swap line does not have three paths")),
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
            // Undo in reverse: a target whose staged copy is gone holds the new data.
            for swap in swaps.iter().rev() {
                if !swap.staged.exists() && swap.target.exists() && swap.old.exists() {
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
