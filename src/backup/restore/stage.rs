//! Extraction of one tarball into the staging directories of its roots. Every entry is reached
//! from the descriptor of its staging root, one component at a time, each opened without following
//! links (`openat` with `O_NOFOLLOW | O_DIRECTORY`), and created through its parent's descriptor:
//! no link of the backup, nor one that a service's user swaps in while the restore runs, carries a
//! write elsewhere. Modes, owners, times and attributes are set through descriptors too, and
//! every directory gets an explicit mode: nothing depends on the umask of the process.

use std::collections::HashSet;
use std::fs::File;
use std::io::Read;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use nix::fcntl::{AtFlags, OFlag, openat};
use nix::sys::stat::{Mode, mkdirat};
use xattr::FileExt as _;

use super::super::owners::Owners;
use super::super::paths::containing_root;
use super::super::read::{Entry, EntryKind};
use super::{RestoreError, Restored};

/// The mode of a directory the restore makes without an entry of its own (a parent the archive
/// does not list, a root without its own entry): what `mkdir` gives under a root shell's umask.
pub(super) const IMPLICIT_DIRECTORY_MODE: u32 = 0o755;

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
    /// The staging directory of each root, opened once when it was made.
    pub(super) staged: &'a [File],
    /// Symbolic links this backup made: nothing is written through them.
    pub(super) links: HashSet<String>,
    pub(super) budget: &'a mut Budget,
    /// The directories whose contents may still come (archive path, descriptor, entry): the
    /// ancestors of the last entry, so memory and descriptors follow the depth of the tree.
    pub(super) open: Vec<(String, File, Entry)>,
    /// Read-only directories (archive path, entry): finished at the very end, so that nothing is
    /// refused by them; reopened then from their staging root, not held open meanwhile.
    pub(super) deferred: Vec<(String, Entry)>,
    /// The directory the last entry went into (archive path and descriptor): entries come
    /// directory by directory, so most need no walk.
    pub(super) last_parent: Option<(String, File)>,
    /// This system's users and groups, to give files to owners by name.
    pub(super) owners: &'a Owners,
    /// Files (absolute, on this system) whose manifest lets them keep set-user-ID.
    pub(super) keep_set_id: &'a [String],
    pub(super) restored: &'a mut Restored,
}

/// Opens the directory `name` in `parent`, refusing a link or anything else in its place.
fn open_directory_at(parent: impl AsFd, name: &str) -> std::io::Result<File> {
    let fd: OwnedFd = openat(
        parent,
        name,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )?;
    Ok(File::from(fd))
}

/// Makes the directory `name` in `parent` (or keeps the one there) and opens it; one it makes
/// gets `mode`, set through its descriptor whatever the umask.
pub(super) fn make_directory_at(
    parent: impl AsFd,
    name: &str,
    mode: u32,
) -> std::io::Result<(File, bool)> {
    let parent = parent.as_fd();
    // 0700 until the mode is set: never more open than asked, even for a moment.
    let created = match mkdirat(parent, name, Mode::S_IRWXU) {
        Ok(()) => true,
        Err(nix::errno::Errno::EEXIST) => false,
        Err(error) => return Err(error.into()),
    };
    let directory = open_directory_at(parent, name)?;
    if created {
        directory.set_permissions(std::fs::Permissions::from_mode(mode))?;
    }
    Ok((directory, created))
}

fn time(entry: &Entry) -> std::time::SystemTime {
    std::time::UNIX_EPOCH + std::time::Duration::from_secs(entry.mtime)
}

impl Stage<'_> {
    /// Which root holds `path` (archive form), and the path below that root (`""` for the root).
    fn locate<'p>(&self, path: &'p str) -> Option<(usize, &'p str)> {
        let root = containing_root(path, self.roots)?;
        let index = self.roots.iter().position(|r| r == root)?;
        Some((index, path[root.len()..].trim_start_matches('/')))
    }

    /// Where `path` (archive form) lands on this system once swapped in (`/var/lib/x/y`).
    fn system_path(&self, path: &str) -> Option<String> {
        let root = containing_root(path, self.roots)?;
        let index = self.roots.iter().position(|r| r == root)?;
        let target = self.targets.get(index)?.trim_end_matches('/');
        Some(format!("{target}{}", &path[root.len()..]))
    }

    /// The staging directory of root `index`, as a descriptor of its own.
    fn staged_root(&self, index: usize) -> std::io::Result<File> {
        self.staged
            .get(index)
            .ok_or_else(|| std::io::Error::other("a root without a staging directory"))?
            .try_clone()
    }

    /// Opens the directory `relative` (components below staging root `index`) one component at
    /// a time, never through a link; with `create`, the missing ones are made, with
    /// [`IMPLICIT_DIRECTORY_MODE`].
    fn walk(&self, index: usize, relative: &str, create: bool) -> std::io::Result<File> {
        let mut directory = self.staged_root(index)?;
        for name in relative.split('/').filter(|name| !name.is_empty()) {
            if matches!(name, "." | "..") {
                return Err(std::io::Error::other(format!("`{relative}` climbs")));
            }
            directory = if create {
                make_directory_at(&directory, name, IMPLICIT_DIRECTORY_MODE)?.0
            } else {
                open_directory_at(&directory, name)?
            };
        }
        Ok(directory)
    }

    /// The staged directory that holds `path` (made if missing, with
    /// [`IMPLICIT_DIRECTORY_MODE`]) and the entry's name in it; `None` for a path above every
    /// root or for a root itself.
    fn parent_of<'p>(&mut self, path: &'p str) -> std::io::Result<Option<(File, &'p str)>> {
        let Some((index, relative)) = self.locate(path) else {
            return Ok(None);
        };
        if relative.is_empty() {
            return Ok(None);
        }
        let (below, name) = relative.rsplit_once('/').unwrap_or(("", relative));
        let parent_path = &path[..path.len() - name.len()];
        if let Some((cached, directory)) = &self.last_parent
            && cached == parent_path
        {
            return Ok(Some((directory.try_clone()?, name)));
        }
        let directory = self.walk(index, below, true)?;
        self.last_parent = Some((parent_path.to_owned(), directory.try_clone()?));
        Ok(Some((directory, name)))
    }

    /// Opens the staged directory `path` (archive form), which this restore made.
    fn open_staged(&self, path: &str) -> std::io::Result<File> {
        let (index, relative) = self
            .locate(path)
            .ok_or_else(|| std::io::Error::other(format!("`{path}` is outside the roots")))?;
        self.walk(index, relative, false)
    }

    /// Mode, attributes and time of a directory whose contents are all in.
    pub(super) fn finish_directory(
        &mut self,
        directory: &File,
        entry: &Entry,
    ) -> Result<(), RestoreError> {
        // A set-group-ID directory only passes its group on to new files: it grants nothing.
        directory.set_permissions(std::fs::Permissions::from_mode(entry.mode & 0o3777))?;
        // A default ACL set before the contents were in would have been inherited by them.
        self.set_attributes(entry, directory)?;
        directory.set_modified(time(entry))?;
        Ok(())
    }

    /// Finishes the read-only directories, deepest last seen first, once everything is in.
    pub(super) fn finish_deferred(&mut self) -> Result<(), RestoreError> {
        for (path, entry) in std::mem::take(&mut self.deferred).iter().rev() {
            let directory = self
                .open_staged(path)
                .map_err(|source| RestoreError::Entry {
                    entry: path.clone(),
                    source,
                })?;
            self.finish_directory(&directory, entry)?;
        }
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
            let Some((archive, directory, entry)) = self.open.pop() else {
                break;
            };
            if entry.mode & 0o200 == 0 {
                self.deferred.push((archive, entry));
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
        let Some((index, _)) = self.locate(&entry.path) else {
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
        let Some((parent, name)) = self.parent_of(&entry.path)? else {
            // The root itself, made with its staging directory: only a directory can be there.
            if entry.kind != EntryKind::Directory {
                return Err(
                    std::io::Error::other("a root of the backup is not a directory").into(),
                );
            }
            let root = self.staged_root(index)?;
            self.chown(entry, &root)?;
            self.open.push((entry.path.clone(), root, entry.clone()));
            return Ok(());
        };
        match &entry.kind {
            EntryKind::Directory => {
                // Its mode, attributes and time are set once its contents are in (a read-only
                // directory would refuse them, and each new entry changes its time); until
                // then it is root's alone.
                let (directory, _) = make_directory_at(&parent, name, 0o700)?;
                self.chown(entry, &directory)?;
                self.open
                    .push((entry.path.clone(), directory, entry.clone()));
            }
            EntryKind::File => {
                // O_EXCL: never through a link, never over anything.
                let fd: OwnedFd = openat(
                    &parent,
                    name,
                    OFlag::O_WRONLY
                        | OFlag::O_CREAT
                        | OFlag::O_EXCL
                        | OFlag::O_NOFOLLOW
                        | OFlag::O_CLOEXEC,
                    Mode::S_IRUSR | Mode::S_IWUSR,
                )
                .map_err(std::io::Error::from)?;
                let mut file = File::from(fd);
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
                nix::unistd::symlinkat(target.as_str(), &parent, name)
                    .map_err(std::io::Error::from)?;
                if nix::unistd::geteuid().is_root() {
                    let (uid, gid) = self.owner(entry);
                    nix::unistd::fchownat(
                        &parent,
                        name,
                        uid.map(nix::unistd::Uid::from_raw),
                        gid.map(nix::unistd::Gid::from_raw),
                        AtFlags::AT_SYMLINK_NOFOLLOW,
                    )
                    .map_err(std::io::Error::from)?;
                }
                self.links.insert(entry.path.clone());
            }
            EntryKind::HardLink(target) => {
                let outside = || std::io::Error::other("hard link outside the roots");
                let (source_index, source) = self.locate(target).ok_or_else(outside)?;
                let (below, source_name) = source.rsplit_once('/').unwrap_or(("", source));
                if source_name.is_empty() {
                    return Err(outside().into());
                }
                let source_parent = self.walk(source_index, below, false)?;
                // Without AT_SYMLINK_FOLLOW, linkat(2) links a link at the source itself.
                nix::unistd::linkat(&source_parent, source_name, &parent, name, AtFlags::empty())
                    .map_err(std::io::Error::from)?;
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
