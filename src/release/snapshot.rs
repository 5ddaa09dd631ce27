//! The system's files as they were before a release upgrade, kept so that an upgrade that fails
//! halfway can be undone: APT cannot downgrade a whole release (libc6 alone refuses), but the
//! files the packages installed, the configuration and dpkg's own database can be put back.
//!
//! The programs' trees (`/usr`, `/boot`, `/opt`) are kept as hard links, which cost no space:
//! dpkg never writes an installed file in place (it unpacks `FILE.dpkg-new` and renames it over
//! `FILE`, and removes a file by unlinking it), so the snapshot's link still holds the old bytes.
//! What scripts may edit in place (`/etc`, dpkg's and debconf's databases) is copied. A file's
//! mode and owner are kept apart for the linked trees, since a `chmod` by a maintainer script
//! changes the one inode both names share.
//!
//! [`put_back`] makes each tree what the snapshot holds again, each file replaced by a rename
//! (a running program keeps the file it opened), then removes what the upgrade added. It leaves
//! what it cannot judge alone: the boot loader's code outside any file (`grub-install` again)
//! and the services, which a reboot restarts from the files put back.

#![allow(
    clippy::disallowed_methods,
    reason = "a snapshot's files are put back by a rename over the upgraded ones (dpkg's way), \
              from a copy or a link that is complete before it"
)]

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsString;
use std::io;
use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// How a tree is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Keep {
    /// Hard links to the files (dpkg replaces, never rewrites them).
    Link,
    /// Copies (scripts edit these files in place).
    Copy,
}

/// The trees a release upgrade changes, relative to the system's root, and how each is kept.
/// The appliance's own data is not among them: the safety backup holds it.
pub const TREES: [(&str, Keep); 9] = [
    ("usr", Keep::Link),
    ("boot", Keep::Link),
    ("opt", Keep::Link),
    ("etc", Keep::Copy),
    ("var/lib/dpkg", Keep::Copy),
    ("var/lib/debconf", Keep::Copy),
    ("var/lib/ucf", Keep::Copy),
    ("var/lib/apt/extended_states", Keep::Copy),
    ("var/lib/systemd/deb-systemd-helper-enabled", Keep::Copy),
];

/// Where the snapshot is kept, under the system's root (on the root file system, which hard
/// links need).
pub const SNAPSHOT_DIR: &str = "var/lib/appliance/release/snapshot";

/// The file in the snapshot that says it is whole, written last.
const COMPLETE: &str = "complete.json";

/// What the snapshot's `complete.json` says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Made {
    /// The release left (`bookworm`).
    pub from: String,
    /// When it was taken (RFC 3339, UTC): the safety backup the upgrade's transaction made is
    /// the one made since.
    pub taken: String,
    /// The trees kept (those the system has).
    pub trees: Vec<(String, Keep)>,
    /// The mode, owner and group of every file of the linked trees, by path under the root.
    pub owners: BTreeMap<String, (u32, u32, u32)>,
}

/// Why a snapshot could not be taken or put back.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("cannot keep {path} in the snapshot")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(
        "{tree} and {snapshot} are on different file systems, and the snapshot keeps {tree} as \
         hard links: a release upgrade that could be rolled back needs them on one"
    )]
    TwoFileSystems { tree: PathBuf, snapshot: PathBuf },
    #[error("there is no whole snapshot in {0} (none was taken, or its taking was cut short)")]
    Missing(PathBuf),
    #[error("the snapshot keeps no tree that holds {0}")]
    NotKept(String),
}

fn io_at(path: &Path) -> impl FnOnce(io::Error) -> SnapshotError + '_ {
    move |source| SnapshotError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Takes the snapshot of `trees` of the system at `root` before it leaves release `from`,
/// replacing any earlier one.
pub fn take(root: &Path, from: &str, trees: &[(&str, Keep)]) -> Result<Made, SnapshotError> {
    let dir = root.join(SNAPSHOT_DIR);
    remove(root)?;
    fs_err::create_dir_all(&dir).map_err(io_at(&dir))?;
    // Root's alone: the links keep the old release's set-user-ID programs (a sudo or passwd the
    // upgrade fixed), which nobody else may reach by this path.
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).map_err(io_at(&dir))?;
    let mut made = Made {
        from: from.to_owned(),
        taken: crate::backup::store::rfc3339(crate::backup::store::now()),
        trees: Vec::new(),
        owners: BTreeMap::new(),
    };
    for &(tree, keep) in trees {
        let source = root.join(tree);
        let Ok(meta) = std::fs::symlink_metadata(&source) else {
            continue;
        };
        if keep == Keep::Link && meta.dev() != std::fs::metadata(&dir).map_err(io_at(&dir))?.dev() {
            return Err(SnapshotError::TwoFileSystems {
                tree: source,
                snapshot: dir,
            });
        }
        let kept = dir.join(tree);
        if let Some(parent) = kept.parent() {
            fs_err::create_dir_all(parent).map_err(io_at(parent))?;
        }
        keep_entry(&source, &kept, keep, &meta, tree, &mut made.owners)?;
        made.trees.push((tree.to_owned(), keep));
    }
    let json = serde_json::to_vec(&made).unwrap_or_default();
    let complete = dir.join(COMPLETE);
    crate::atomic::write(&complete, &json, 0o600).map_err(io_at(&complete))?;
    Ok(made)
}

/// The snapshot of the system at `root`, if a whole one is there.
pub fn read(root: &Path) -> Result<Made, SnapshotError> {
    let complete = root.join(SNAPSHOT_DIR).join(COMPLETE);
    let bytes = match std::fs::read(&complete) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(SnapshotError::Missing(root.join(SNAPSHOT_DIR)));
        }
        Err(e) => return Err(io_at(&complete)(e)),
    };
    serde_json::from_slice(&bytes).map_err(|e| io_at(&complete)(io::Error::other(e)))
}

/// Deletes the snapshot of the system at `root` (after an upgrade that went well, or before a new
/// one); nothing when there is none.
pub fn remove(root: &Path) -> Result<(), SnapshotError> {
    let dir = root.join(SNAPSHOT_DIR);
    // The mark first: a removal cut short leaves no snapshot that looks whole.
    match std::fs::remove_file(dir.join(COMPLETE)) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(io_at(&dir)(e)),
    }
    match std::fs::remove_dir_all(&dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io_at(&dir)(e)),
    }
}

/// The bytes of the regular files under the linked trees of `trees` at `root`: what the snapshot
/// keeps of the old release once the new one has replaced it all.
pub fn linked_size(root: &Path, trees: &[(&str, Keep)]) -> u64 {
    fn size(path: &Path) -> u64 {
        let Ok(meta) = std::fs::symlink_metadata(path) else {
            return 0;
        };
        if meta.is_dir() {
            std::fs::read_dir(path).map_or(0, |entries| {
                entries.flatten().map(|entry| size(&entry.path())).sum()
            })
        } else if meta.is_file() {
            // Blocks, as the file system counts them (sparse files, small ones).
            meta.blocks() * 512
        } else {
            0
        }
    }
    trees
        .iter()
        .filter(|(_, keep)| *keep == Keep::Link)
        .map(|(tree, _)| size(&root.join(tree)))
        .sum()
}

/// Keeps `source` (at `name` under the root) as `kept`, a directory with all it holds.
fn keep_entry(
    source: &Path,
    kept: &Path,
    keep: Keep,
    meta: &std::fs::Metadata,
    name: &str,
    owners: &mut BTreeMap<String, (u32, u32, u32)>,
) -> Result<(), SnapshotError> {
    let kind = meta.file_type();
    if kind.is_dir() {
        fs_err::create_dir(kept).map_err(io_at(kept))?;
        let mut entries: Vec<_> = fs_err::read_dir(source)
            .map_err(io_at(source))?
            .collect::<Result<_, _>>()
            .map_err(io_at(source))?;
        entries.sort_by_key(fs_err::DirEntry::file_name);
        let dev = meta.dev();
        for entry in entries {
            let path = entry.path();
            let meta = std::fs::symlink_metadata(&path).map_err(io_at(&path))?;
            if meta.dev() != dev {
                // Another file system mounted here (/boot/efi): not the packages' to change
                // but through their scripts, which a rollback runs again (the boot loader).
                continue;
            }
            let file = entry.file_name();
            let child = format!("{name}/{}", file.to_string_lossy());
            keep_entry(&path, &kept.join(&file), keep, &meta, &child, owners)?;
        }
        set_owner_and_mode(kept, meta).map_err(io_at(kept))
    } else if kind.is_symlink() {
        let target = fs_err::read_link(source).map_err(io_at(source))?;
        std::os::unix::fs::symlink(&target, kept).map_err(io_at(kept))?;
        std::os::unix::fs::lchown(kept, Some(meta.uid()), Some(meta.gid())).map_err(io_at(kept))
    } else if kind.is_file() {
        match keep {
            Keep::Link => {
                fs_err::hard_link(source, kept).map_err(io_at(kept))?;
                owners.insert(name.to_owned(), (meta.mode(), meta.uid(), meta.gid()));
                Ok(())
            }
            Keep::Copy => copy_file(source, kept, meta).map_err(io_at(kept)),
        }
    } else {
        // Sockets, pipes and devices are made by programs at run time, not by packages.
        Ok(())
    }
}

fn meta_dev(dir: &Path) -> Result<u64, SnapshotError> {
    Ok(std::fs::symlink_metadata(dir).map_err(io_at(dir))?.dev())
}

/// Copies the regular file `source` to the new `to`, with its owner, mode, times and extended
/// attributes (a file capability, an ACL), written to disk before the snapshot says it is whole.
fn copy_file(source: &Path, to: &Path, meta: &std::fs::Metadata) -> io::Result<()> {
    let mut from = fs_err::File::open(source)?;
    let mut file = fs_err::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(to)?;
    io::copy(&mut from, &mut file)?;
    file.set_modified(meta.modified()?)?;
    file.sync_all()?;
    drop(file);
    for name in xattr::list(source)? {
        if let Some(value) = xattr::get(source, &name)? {
            xattr::set(to, &name, &value)?;
        }
    }
    set_owner_and_mode(to, meta)
}

fn set_owner_and_mode(path: &Path, meta: &std::fs::Metadata) -> io::Result<()> {
    std::os::unix::fs::lchown(path, Some(meta.uid()), Some(meta.gid()))?;
    // After the owner: chown clears the set-id bits.
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(meta.mode() & 0o7777))
}

/// What [`put_back`] changed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PutBack {
    /// Files, links and directories the snapshot held that were made again or replaced.
    pub replaced: usize,
    /// What the upgrade added, removed.
    pub removed: usize,
}

/// Makes each tree of the snapshot of the system at `root` what it was when taken: what changed
/// is replaced, what is gone made again, what the upgrade added removed. The snapshot stays (a
/// rollback cut short can run again).
pub fn put_back(root: &Path) -> Result<PutBack, SnapshotError> {
    let made = read(root)?;
    let dir = root.join(SNAPSHOT_DIR);
    let mut done = PutBack::default();
    for (tree, keep) in &made.trees {
        let kept = dir.join(tree);
        let target = root.join(tree);
        restore_entry(&kept, &target, *keep, tree, &made.owners, &mut done)?;
    }
    Ok(done)
}

/// Makes `name` (a path under the root, within one of the snapshot's trees: `etc/apt`) what the
/// snapshot holds, and nothing else.
pub fn put_back_path(root: &Path, name: &str) -> Result<PutBack, SnapshotError> {
    let made = read(root)?;
    let (_, keep) = made
        .trees
        .iter()
        .find(|(tree, _)| name == tree || name.starts_with(&format!("{tree}/")))
        .ok_or_else(|| SnapshotError::NotKept(name.to_owned()))?;
    let mut done = PutBack::default();
    restore_entry(
        &root.join(SNAPSHOT_DIR).join(name),
        &root.join(name),
        *keep,
        name,
        &made.owners,
        &mut done,
    )?;
    Ok(done)
}

/// Makes `target` (at `name` under the root) what `kept` is.
fn restore_entry(
    kept: &Path,
    target: &Path,
    keep: Keep,
    name: &str,
    owners: &BTreeMap<String, (u32, u32, u32)>,
    done: &mut PutBack,
) -> Result<(), SnapshotError> {
    let want = std::fs::symlink_metadata(kept).map_err(io_at(kept))?;
    let have = std::fs::symlink_metadata(target).ok();
    let kind = want.file_type();
    if kind.is_dir() {
        match &have {
            Some(meta) if meta.file_type().is_dir() => {}
            Some(meta) => {
                remove_any(target, meta).map_err(io_at(target))?;
                fs_err::create_dir(target).map_err(io_at(target))?;
                done.replaced += 1;
            }
            None => {
                fs_err::create_dir(target).map_err(io_at(target))?;
                done.replaced += 1;
            }
        }
        let mut wanted: BTreeSet<OsString> = BTreeSet::new();
        for entry in fs_err::read_dir(kept).map_err(io_at(kept))? {
            let entry = entry.map_err(io_at(kept))?;
            let file = entry.file_name();
            let child = format!("{name}/{}", file.to_string_lossy());
            restore_entry(
                &entry.path(),
                &target.join(&file),
                keep,
                &child,
                owners,
                done,
            )?;
            wanted.insert(file);
        }
        let dev = meta_dev(target)?;
        for entry in fs_err::read_dir(target).map_err(io_at(target))? {
            let entry = entry.map_err(io_at(target))?;
            if !wanted.contains(&entry.file_name()) {
                let path = entry.path();
                let meta = std::fs::symlink_metadata(&path).map_err(io_at(&path))?;
                if meta.dev() != dev {
                    // A mount point the snapshot left out, never what the upgrade added.
                    continue;
                }
                remove_any(&path, &meta).map_err(io_at(&path))?;
                done.removed += 1;
            }
        }
        set_owner_and_mode(target, &want).map_err(io_at(target))
    } else if kind.is_symlink() {
        let link = fs_err::read_link(kept).map_err(io_at(kept))?;
        let same = have.as_ref().is_some_and(|m| m.file_type().is_symlink())
            && std::fs::read_link(target).ok().as_ref() == Some(&link);
        if !same {
            replace_with(target, have.as_ref(), |temp| {
                std::os::unix::fs::symlink(&link, temp)?;
                std::os::unix::fs::lchown(temp, Some(want.uid()), Some(want.gid()))
            })
            .map_err(io_at(target))?;
            done.replaced += 1;
        }
        Ok(())
    } else {
        let same_inode = have
            .as_ref()
            .is_some_and(|m| m.dev() == want.dev() && m.ino() == want.ino());
        match keep {
            Keep::Link if !same_inode => {
                replace_with(target, have.as_ref(), |temp| fs_err::hard_link(kept, temp))
                    .map_err(io_at(target))?;
                done.replaced += 1;
            }
            Keep::Link => {}
            Keep::Copy => {
                // Copies are small (configuration, dpkg's database): put back whole, unless
                // equal.
                let equal = have.as_ref().is_some_and(|m| m.file_type().is_file())
                    && same_file(kept, target, &want).map_err(io_at(target))?;
                if !equal {
                    replace_with(target, have.as_ref(), |temp| copy_file(kept, temp, &want))
                        .map_err(io_at(target))?;
                    done.replaced += 1;
                }
            }
        }
        if keep == Keep::Link
            && let Some(&(mode, uid, gid)) = owners.get(name)
        {
            let now = std::fs::symlink_metadata(target).map_err(io_at(target))?;
            if (now.mode(), now.uid(), now.gid()) != (mode, uid, gid) {
                std::os::unix::fs::lchown(target, Some(uid), Some(gid)).map_err(io_at(target))?;
                std::fs::set_permissions(target, std::fs::Permissions::from_mode(mode & 0o7777))
                    .map_err(io_at(target))?;
            }
        }
        Ok(())
    }
}

/// Whether the regular file `target` has the bytes, mode and owner of `kept`.
fn same_file(kept: &Path, target: &Path, want: &std::fs::Metadata) -> io::Result<bool> {
    let have = std::fs::symlink_metadata(target)?;
    if (have.len(), have.mode(), have.uid(), have.gid())
        != (want.len(), want.mode(), want.uid(), want.gid())
    {
        return Ok(false);
    }
    Ok(std::fs::read(kept)? == std::fs::read(target)?)
}

/// Puts a new entry, made by `make` at a temporary name beside `target`, in place of `target`
/// (whatever it is now) by a rename; a directory in the way is removed first.
fn replace_with(
    target: &Path,
    have: Option<&std::fs::Metadata>,
    make: impl FnOnce(&Path) -> io::Result<()>,
) -> io::Result<()> {
    let mut temp = target.as_os_str().to_owned();
    temp.push(".appliance-rollback");
    let temp = PathBuf::from(temp);
    if let Ok(meta) = std::fs::symlink_metadata(&temp) {
        remove_any(&temp, &meta)?;
    }
    make(&temp)?;
    if let Some(meta) = have.filter(|m| m.file_type().is_dir()) {
        remove_any(target, meta)?;
    }
    std::fs::rename(&temp, target)
}

fn remove_any(path: &Path, meta: &std::fs::Metadata) -> io::Result<()> {
    if meta.file_type().is_dir() {
        std::fs::remove_dir_all(path)
    } else {
        std::fs::remove_file(path)
    }
}

#[cfg(test)]
mod tests;
