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
use super::read::{Backup, EntryKind, ReadError};
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

/// Restores `backup` into the system at `system_root`.
pub fn restore(
    backup: &mut Backup,
    system_root: &Path,
    options: &Options,
) -> Result<(), RestoreError> {
    recover(system_root)?;
    backup.verify()?;
    let mut plan: Vec<(&'static str, Vec<super::read::Entry>, Vec<String>)> = Vec::new();
    for member in ["sysconfig.tar.gz", "appdata.tar.gz"] {
        let entries = backup.entries(member)?;
        let roots = if member == "sysconfig.tar.gz" {
            backup.info.sysconf_roots()
        } else {
            backup.info.appdata_roots()
        }
        .map_err(|source| ReadError::EntryPath {
            path: PathBuf::new(),
            member: member.to_owned(),
            source,
        })?;
        plan.push((member, entries, roots));
    }
    let target_of = |root: &str| -> PathBuf {
        let moved = options
            .moves
            .iter()
            .find(|(from, _)| from == root)
            .map(|(_, to)| to.trim_start_matches('/').to_owned());
        system_root.join(moved.unwrap_or_else(|| root.to_owned()))
    };
    // The size every entry declares, against the limit.
    let needed: u64 = plan
        .iter()
        .flat_map(|(_, entries, _)| entries)
        .map(|e| e.size)
        .sum();
    let first_target = plan
        .iter()
        .flat_map(|(_, _, roots)| roots)
        .next()
        .map_or_else(|| system_root.to_owned(), |r| target_of(r));
    let limit = match options.max_size {
        Some(limit) => limit,
        None => free_space(&first_target)?,
    };
    if needed > limit {
        return Err(RestoreError::TooLarge {
            needed,
            limit,
            target: first_target,
        });
    }
    // Stage every root.
    let mut swaps = Vec::new();
    let result = (|| -> Result<(), RestoreError> {
        for (member, entries, roots) in &plan {
            for root in roots {
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
            extract(backup, member, entries, roots, &swaps)?;
        }
        Ok(())
    })();
    // Everything staged reaches the disk before the first swap: one syncfs per file system rather
    // than an fsync per file.
    let result = result.and_then(|()| {
        for swap in &swaps {
            let directory = std::fs::File::open(&swap.staged)?;
            nix::unistd::syncfs(&directory).map_err(std::io::Error::from)?;
        }
        Ok(())
    });
    if let Err(error) = result {
        for swap in &swaps {
            let _ = std::fs::remove_dir_all(&swap.staged);
        }
        return Err(error);
    }
    swap_in(system_root, &swaps)
}

/// Extracts `member`'s entries into the staging directories of their roots.
fn extract(
    backup: &mut Backup,
    member: &str,
    entries: &[super::read::Entry],
    roots: &[String],
    swaps: &[Swap],
) -> Result<(), RestoreError> {
    let mut links: HashSet<&str> = HashSet::new();
    let staged_of = |path: &str| -> Option<PathBuf> {
        let root = containing_root(path, roots)?;
        let index = roots.iter().position(|r| r == root)?;
        let swap = swaps.get(swaps.len() - roots.len() + index)?;
        let relative = path[root.len()..].trim_start_matches('/');
        Some(if relative.is_empty() {
            swap.staged.clone()
        } else {
            swap.staged.join(relative)
        })
    };
    let mut reader = backup.tar_reader(member)?;
    let mut tar_entries = reader.entries()?;
    for checked in entries {
        let mut entry = tar_entries
            .next()
            .ok_or_else(|| std::io::Error::other("the tarball changed while reading"))??;
        // Never write through a link this backup made.
        if let Some(link) = links
            .iter()
            .find(|l| checked.path.starts_with(&format!("{l}/")))
        {
            return Err(RestoreError::ThroughLink {
                entry: checked.path.clone(),
                link: (*link).to_owned(),
            });
        }
        // Directories above a root hold nothing of ours.
        let Some(destination) = staged_of(&checked.path) else {
            continue;
        };
        let header = entry.header().clone();
        let mode = header.mode().unwrap_or(0o644) & 0o7777;
        match &checked.kind {
            EntryKind::Directory => {
                std::fs::create_dir_all(&destination)?;
                std::fs::set_permissions(&destination, std::fs::Permissions::from_mode(mode))?;
            }
            EntryKind::File => {
                if let Some(parent) = destination.parent() {
                    std::fs::create_dir_all(parent)?;
                }
                let mut file = std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .open(&destination)?;
                let copied = std::io::copy(&mut (&mut entry).take(checked.size), &mut file)?;
                if copied != checked.size {
                    return Err(
                        std::io::Error::other(format!("`{}` is cut short", checked.path)).into(),
                    );
                }
                file.set_permissions(std::fs::Permissions::from_mode(mode))?;
            }
            EntryKind::Symlink(target) => {
                if let Some(parent) = destination.parent() {
                    std::fs::create_dir_all(parent)?;
                }
                symlink(target, &destination)?;
                links.insert(checked.path.as_str());
            }
            EntryKind::HardLink(target) => {
                let source = staged_of(target)
                    .ok_or_else(|| std::io::Error::other("hard link outside the roots"))?;
                std::fs::hard_link(source, &destination)?;
            }
        }
        // Owners by number, as recorded; only root can give files away.
        if let (Ok(uid), Ok(gid)) = (header.uid(), header.gid())
            && nix::unistd::geteuid().is_root()
        {
            let uid = u32::try_from(uid).ok();
            let gid = u32::try_from(gid).ok();
            std::os::unix::fs::lchown(&destination, uid, gid)?;
        }
        if let Ok(mtime) = header.mtime()
            && !matches!(checked.kind, EntryKind::Symlink(_))
        {
            let time = std::time::UNIX_EPOCH + std::time::Duration::from_secs(mtime);
            std::fs::File::open(&destination)
                .and_then(|f| f.set_modified(time))
                .ok();
        }
    }
    Ok(())
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
