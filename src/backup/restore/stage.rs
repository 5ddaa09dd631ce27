//! Extraction of one tarball into the staging directories of its roots. Modes, owners, times
//! and attributes are applied through descriptors opened without following links, so that no
//! link of the backup (nor one swapped in meanwhile) carries them elsewhere.

use std::collections::HashSet;
use std::fs::File;
use std::io::Read;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt, symlink};
use std::path::{Path, PathBuf};

use xattr::FileExt as _;

use super::super::owners::Owners;
use super::super::paths::containing_root;
use super::super::read::{Entry, EntryKind};
use super::{RestoreError, Restored, Swap};

/// The bytes a restore may write, and what it wrote so far.
pub(super) struct Budget {
    pub(super) used: u64,
    pub(super) limit: u64,
    pub(super) target: PathBuf,
}

pub(super) struct Stage<'a> {
    /// The backup's roots for this tarball (archive form) and where each goes on this system.
    pub(super) roots: &'a [String],
    pub(super) targets: &'a [String],
    pub(super) swaps: &'a [Swap],
    /// Symbolic links this backup made: nothing is written through them.
    pub(super) links: HashSet<String>,
    pub(super) budget: &'a mut Budget,
    /// The directories whose contents may still come (archive path, where, entry): the
    /// ancestors of the last entry, so memory follows the depth of the tree, not its size.
    pub(super) open: Vec<(String, PathBuf, Entry)>,
    /// Read-only directories: finished at the very end, so that nothing is refused by them.
    pub(super) deferred: Vec<(PathBuf, Entry)>,
    /// This system's users and groups, to give files to owners by name.
    pub(super) owners: &'a Owners,
    /// Files (absolute, on this system) whose manifest lets them keep set-user-ID.
    pub(super) keep_set_id: &'a [String],
    pub(super) restored: &'a mut Restored,
}

/// Opens a directory this restore made, refusing a link in its place.
fn open_directory(path: &Path) -> std::io::Result<File> {
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(nix::libc::O_DIRECTORY | nix::libc::O_NOFOLLOW)
        .open(path)
}

fn time(entry: &Entry) -> std::time::SystemTime {
    std::time::UNIX_EPOCH + std::time::Duration::from_secs(entry.mtime)
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

    /// Where `path` (archive form) lands on this system once swapped in (`/var/lib/x/y`).
    fn system_path(&self, path: &str) -> Option<String> {
        let root = containing_root(path, self.roots)?;
        let index = self.roots.iter().position(|r| r == root)?;
        let target = self.targets.get(index)?.trim_end_matches('/');
        Some(format!("{target}{}", &path[root.len()..]))
    }

    /// Mode, attributes and time of a directory whose contents are all in.
    pub(super) fn finish_directory(
        &mut self,
        directory: &Path,
        entry: &Entry,
    ) -> Result<(), RestoreError> {
        let file = open_directory(directory)?;
        // A set-group-ID directory only passes its group on to new files: it grants nothing.
        file.set_permissions(std::fs::Permissions::from_mode(entry.mode & 0o3777))?;
        // A default ACL set before the contents were in would have been inherited by them.
        self.set_attributes(entry, &file)?;
        file.set_modified(time(entry))?;
        Ok(())
    }

    /// Finishes the open directories that do not hold `path` (all of them for `""`).
    pub(super) fn close_directories(&mut self, path: &str) -> Result<(), RestoreError> {
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

    /// Writes one entry into staging; an error of the file system names the entry.
    pub(super) fn extract(
        &mut self,
        entry: &Entry,
        contents: &mut dyn Read,
    ) -> Result<(), RestoreError> {
        self.extract_entry(entry, contents)
            .map_err(|error| match error {
                RestoreError::Io(source) => RestoreError::Entry {
                    entry: entry.path.clone(),
                    source,
                },
                other => other,
            })
    }

    fn extract_entry(
        &mut self,
        entry: &Entry,
        contents: &mut dyn Read,
    ) -> Result<(), RestoreError> {
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
        match &entry.kind {
            EntryKind::Directory => {
                // Its mode, attributes and time are set once its contents are in (a read-only
                // directory would refuse them, and each new entry changes its time).
                std::fs::create_dir_all(&destination)?;
                self.chown(entry, &open_directory(&destination)?)?;
                self.open
                    .push((entry.path.clone(), destination.clone(), entry.clone()));
            }
            EntryKind::File => {
                // O_EXCL: never through a link, never over anything.
                let mut file = std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .custom_flags(nix::libc::O_NOFOLLOW)
                    .mode(0o600)
                    .open(&destination)?;
                let copied = std::io::copy(&mut contents.take(entry.size), &mut file)?;
                if copied != entry.size {
                    return Err(
                        std::io::Error::other(format!("`{}` is cut short", entry.path)).into(),
                    );
                }
                // The owner first: a change of owner clears the set-user-ID bit.
                self.chown(entry, &file)?;
                let mode = self.file_mode(entry);
                file.set_permissions(std::fs::Permissions::from_mode(mode))?;
                self.set_attributes(entry, &file)?;
                file.set_modified(time(entry))?;
            }
            EntryKind::Symlink(target) => {
                symlink(target, &destination)?;
                if nix::unistd::geteuid().is_root() {
                    let (uid, gid) = self.owner(entry);
                    std::os::unix::fs::lchown(&destination, uid, gid)?;
                }
                self.links.insert(entry.path.clone());
            }
            EntryKind::HardLink(target) => {
                let source = self
                    .staged_path(target)
                    .ok_or_else(|| std::io::Error::other("hard link outside the roots"))?;
                // link(2) does not follow a link at `source`.
                std::fs::hard_link(source, &destination)?;
            }
        }
        Ok(())
    }

    /// The entry's mode without set-user-ID and set-group-ID, unless the manifest declares the
    /// file; what was cleared is reported.
    fn file_mode(&mut self, entry: &Entry) -> u32 {
        if entry.mode & 0o6000 == 0 {
            return entry.mode;
        }
        let system_path = self.system_path(&entry.path).unwrap_or_default();
        if self.keep_set_id.contains(&system_path) {
            return entry.mode;
        }
        let mode = entry.mode & !0o6000;
        self.restored
            .cleared_set_id
            .push(format!("{system_path} ({:04o} → {mode:04o})", entry.mode));
        mode
    }

    /// Owners by name where this system knows the name, else by number.
    fn owner(&self, entry: &Entry) -> (Option<u32>, Option<u32>) {
        (
            self.owners.uid(entry.user.as_deref(), entry.uid),
            self.owners.gid(entry.group.as_deref(), entry.gid),
        )
    }

    /// Only root can give files away, so others keep their own.
    fn chown(&self, entry: &Entry, file: &File) -> Result<(), RestoreError> {
        if nix::unistd::geteuid().is_root() {
            let (uid, gid) = self.owner(entry);
            std::os::unix::fs::fchown(file, uid, gid)?;
        }
        Ok(())
    }

    /// Extended attributes: user attributes and ACLs; never `security.*` or `trusted.*`, which a
    /// backup from elsewhere must not grant (file capabilities, say).
    fn set_attributes(&mut self, entry: &Entry, file: &File) -> Result<(), RestoreError> {
        for (name, value) in &entry.xattrs {
            let allowed = name.starts_with("user.")
                || name == "system.posix_acl_access"
                || name == "system.posix_acl_default";
            if !allowed {
                self.restored
                    .skipped_attributes
                    .push(format!("{}: {name}", entry.path));
                continue;
            }
            match file.set_xattr(name, value) {
                Ok(()) => {}
                Err(error) if error.raw_os_error() == Some(nix::libc::ENOTSUP) => {
                    self.restored.skipped_attributes.push(format!(
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
