//! Writing a backup: each tarball streams through gzip straight into its zip member (memory does
//! not grow with the data), hashed on the way; the file is written beside the target under a
//! temporary name, synced, and renamed only when complete.

use fs_err::os::unix::fs::OpenOptionsExt;
use std::collections::HashMap;
use std::io::{Read, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use sha1::Sha1;
use sha2::{Digest, Sha256};
use zip::CompressionMethod;
use zip::write::SimpleFileOptions;

use super::Progress;
use super::info::{Info, InfoError};
use super::origin::{MAC_MEMBER, mac_text};
use super::owners::Owners;
use super::paths::PathError;
use super::{DATA_MEMBERS, FORMAT_VERSION};

#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error("cannot write the zip container")]
    Zip(#[from] zip::result::ZipError),
    #[error(transparent)]
    Info(#[from] InfoError),
    #[error(transparent)]
    Path(#[from] PathError),
    #[error(transparent)]
    Key(#[from] super::origin::KeyError),
    #[error("`{0}` is not a directory: nothing to back up there")]
    MissingDirectory(PathBuf),
    #[error("`{}` exists: name another file, or let the new backup replace it (--overwrite)", .0.display())]
    Exists(PathBuf),
}

/// A writer that hashes what goes through it.
struct Hashing<W: Write> {
    inner: W,
    sha256: Sha256,
    sha1: Sha1,
}

impl<W: Write> Hashing<W> {
    fn new(inner: W) -> Self {
        Self {
            inner,
            sha256: Sha256::new(),
            sha1: Sha1::new(),
        }
    }

    fn digests(self) -> (String, String) {
        (
            hex::encode(self.sha256.finalize()),
            hex::encode(self.sha1.finalize()),
        )
    }
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        let written = self.inner.write(bytes)?;
        self.sha256.update(&bytes[..written]);
        self.sha1.update(&bytes[..written]);
        Ok(written)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// What a backup left out.
#[derive(Debug, Default)]
pub struct Written {
    /// Sockets, fifos and devices (archive paths): a restore could not write them back.
    pub skipped: Vec<String>,
}

/// Where a new backup goes.
#[derive(Debug, Clone, Copy)]
pub enum Destination<'a> {
    /// This file, replacing one already there.
    Replace(&'a Path),
    /// This file, which must not exist: one there is kept and the backup refused.
    New(&'a Path),
    /// The first free name among `STEM.abf`, `STEM-2.abf`, `STEM-3.abf`, … in this directory:
    /// two backups made in the same second both stay.
    Unique { dir: &'a Path, stem: &'a str },
}

impl Destination<'_> {
    fn directory(&self) -> &Path {
        let dir = match self {
            Self::Replace(path) | Self::New(path) => path.parent().unwrap_or(Path::new(".")),
            Self::Unique { dir, .. } => dir,
        };
        if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        }
    }

    fn first_name(&self) -> String {
        match self {
            Self::Replace(path) | Self::New(path) => path
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned(),
            Self::Unique { stem, .. } => format!("{stem}.abf"),
        }
    }
}

/// Writes a backup of the directories `info` names, read under `system_root`, to `out`,
/// replacing a file already there.
pub fn create(
    system_root: &Path,
    info: &Info,
    out: &Path,
    progress: &dyn Progress,
) -> Result<Written, WriteError> {
    create_at(system_root, info, Destination::Replace(out), progress).map(|(_, written)| written)
}

/// Writes a backup of the directories `info` names, read under `system_root`, under a temporary
/// name beside its destination, then gives it its name (never a partial file under it); returns
/// the path it has.
pub fn create_at(
    system_root: &Path,
    info: &Info,
    destination: Destination<'_>,
    progress: &dyn Progress,
) -> Result<(PathBuf, Written), WriteError> {
    let dir = destination.directory();
    let temporary = dir.join(format!(
        ".{}.tmp{}",
        destination.first_name(),
        std::process::id()
    ));
    let result = write_to(system_root, info, &temporary, progress).and_then(|written| {
        let path = publish(&temporary, destination)?;
        fs_err::File::open(dir)?.sync_all()?;
        Ok((path, written))
    });
    let _ = std::fs::remove_file(&temporary);
    result
}

/// Gives the written temporary its name: a rename over the file for `Replace`, a link that never
/// replaces anything otherwise (the temporary is removed by the caller).
#[expect(
    clippy::disallowed_methods,
    reason = "the streamed backup's own publication: renamed over, or linked where it must replace nothing"
)]
fn publish(temporary: &Path, destination: Destination<'_>) -> Result<PathBuf, WriteError> {
    match destination {
        Destination::Replace(path) => {
            fs_err::rename(temporary, path)?;
            Ok(path.to_owned())
        }
        Destination::New(path) => match fs_err::hard_link(temporary, path) {
            Ok(()) => Ok(path.to_owned()),
            Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {
                Err(WriteError::Exists(path.to_owned()))
            }
            Err(error) => Err(error.into()),
        },
        Destination::Unique { dir, stem } => {
            for number in 1..=1000 {
                let path = if number == 1 {
                    dir.join(format!("{stem}.abf"))
                } else {
                    dir.join(format!("{stem}-{number}.abf"))
                };
                match fs_err::hard_link(temporary, &path) {
                    Ok(()) => return Ok(path),
                    Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {}
                    Err(error) => return Err(error.into()),
                }
            }
            Err(WriteError::Exists(dir.join(format!("{stem}-1000.abf"))))
        }
    }
}

fn write_to(
    system_root: &Path,
    info: &Info,
    path: &Path,
    progress: &dyn Progress,
) -> Result<Written, WriteError> {
    let owners = Owners::of_system(system_root)?;
    for dir in info.sysconf_dirs.iter().chain(&info.appdata_dirs) {
        let source = system_root.join(super::paths::root_in_archive(dir)?);
        if !source.is_dir() {
            return Err(WriteError::MissingDirectory(source));
        }
    }
    // This system's key vouches for the backup: see `origin`.
    let key = super::origin::key_or_make(system_root)?;
    let mut skipped = Vec::new();
    if progress.enabled() {
        let mut total = 0;
        for dir in info.sysconf_dirs.iter().chain(&info.appdata_dirs) {
            let source = system_root.join(super::paths::root_in_archive(dir)?);
            if source.is_dir() {
                total += tree_size(&source)?;
            }
        }
        progress.start(total);
    }
    let file = fs_err::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    let mut zip = zip::ZipWriter::new(file);
    let text = SimpleFileOptions::default()
        .compression_method(CompressionMethod::Deflated)
        .unix_permissions(0o600);
    let stored = SimpleFileOptions::default()
        .compression_method(CompressionMethod::Stored)
        .large_file(true)
        .unix_permissions(0o600);
    let mut sums: Vec<(&str, String, String)> = Vec::new();

    for (member, bytes) in [
        ("version", format!("{FORMAT_VERSION}\n")),
        ("info.yaml", info.to_yaml()?),
    ] {
        zip.start_file(member, text)?;
        let mut hashing = Hashing::new(&mut zip);
        hashing.write_all(bytes.as_bytes())?;
        let (sha256, sha1) = hashing.digests();
        sums.push((member, sha256, sha1));
    }
    for (member, dirs) in [
        ("sysconfig.tar.gz", &info.sysconf_dirs),
        ("appdata.tar.gz", &info.appdata_dirs),
    ] {
        zip.start_file(member, stored)?;
        let mut hashing = Hashing::new(&mut zip);
        {
            let gzip = flate2::write::GzEncoder::new(&mut hashing, flate2::Compression::default());
            let mut tar = tar::Builder::new(gzip);
            tar.follow_symlinks(false);
            tar.mode(tar::HeaderMode::Complete);
            let mut walk = Walk {
                owners: owners.clone(),
                seen: HashMap::new(),
                skipped: Vec::new(),
                progress,
            };
            for dir in dirs {
                let archive_name = super::paths::root_in_archive(dir)?;
                let source = system_root.join(&archive_name);
                if !source.is_dir() {
                    return Err(WriteError::MissingDirectory(source));
                }
                append_tree(&mut tar, &source, &archive_name, &mut walk)?;
            }
            tar.into_inner()?.finish()?;
            skipped.append(&mut walk.skipped);
        }
        let (sha256, sha1) = hashing.digests();
        sums.push((member, sha256, sha1));
    }
    debug_assert_eq!(sums.iter().map(|s| s.0).collect::<Vec<_>>(), DATA_MEMBERS);

    let sha256sums = sums_file(sums.iter().map(|(m, sha256, _)| (sha256.as_str(), *m)));
    zip.start_file("sha256sums", text)?;
    let mut hashing = Hashing::new(&mut zip);
    hashing.write_all(sha256sums.as_bytes())?;
    let (_, sha1_of_sums) = hashing.digests();
    zip.start_file(MAC_MEMBER, text)?;
    let mut hashing = Hashing::new(&mut zip);
    hashing.write_all(mac_text(&key, sha256sums.as_bytes()).as_bytes())?;
    let (_, sha1_of_mac) = hashing.digests();
    let sha1sums = sums_file(sums.iter().map(|(m, _, sha1)| (sha1.as_str(), *m)).chain([
        (sha1_of_sums.as_str(), "sha256sums"),
        (sha1_of_mac.as_str(), MAC_MEMBER),
    ]));
    zip.start_file("sha1sums", text)?;
    zip.write_all(sha1sums.as_bytes())?;
    let file = zip.finish()?;
    file.sync_all()?;
    Ok(Written { skipped })
}

/// A checksum file in `sha1sum -c` format: `HASH  NAME` lines.
pub fn sums_file<'a>(lines: impl Iterator<Item = (&'a str, &'a str)>) -> String {
    lines.fold(String::new(), |mut text, (hash, name)| {
        text.push_str(hash);
        text.push_str("  ");
        text.push_str(name);
        text.push('\n');
        text
    })
}

/// What a tree walk carries along: the owners' names, the files met so far by inode, what was
/// left out, and the progress.
struct Walk<'a> {
    owners: Owners,
    seen: HashMap<(u64, u64), String>,
    skipped: Vec<String>,
    progress: &'a dyn Progress,
}

/// The bytes of regular files under `source`, for the progress bar.
fn tree_size(source: &Path) -> std::io::Result<u64> {
    let metadata = fs_err::symlink_metadata(source)?;
    if !metadata.is_dir() {
        return Ok(if metadata.is_file() {
            metadata.len()
        } else {
            0
        });
    }
    let mut total = 0;
    for entry in fs_err::read_dir(source)? {
        total += tree_size(&entry?.path())?;
    }
    Ok(total)
}

/// A pax extended header (`x`) carrying `records` for the entry that follows it, as GNU tar
/// `--xattrs` writes extended attributes (`SCHILY.xattr.NAME`).
fn append_pax<W: Write>(
    tar: &mut tar::Builder<W>,
    name: &str,
    records: &[(String, Vec<u8>)],
) -> std::io::Result<()> {
    let mut data = Vec::new();
    for (key, value) in records {
        // "LEN KEY=VALUE\n", LEN counting itself.
        let body = key.len() + value.len() + 3;
        let mut length = body + 1;
        while body + length.to_string().len() != length {
            length = body + length.to_string().len();
        }
        data.extend_from_slice(format!("{length} {key}=").as_bytes());
        data.extend_from_slice(value);
        data.push(b'\n');
    }
    let mut header = tar::Header::new_ustar();
    // The name of the header entry itself is informative only; GNU tar uses the file's.
    let base = name.rsplit('/').next().unwrap_or(name);
    let short: String = base.chars().take(80).collect();
    header.set_path(format!("PaxHeaders/{short}"))?;
    header.set_entry_type(tar::EntryType::XHeader);
    header.set_mode(0o644);
    header.set_size(data.len() as u64);
    header.set_cksum();
    tar.append(&header, data.as_slice())
}

/// The extended attributes of `path` (not following a link), as pax records.
fn xattr_records(path: &Path) -> std::io::Result<Vec<(String, Vec<u8>)>> {
    let mut records = Vec::new();
    let names = match xattr::list(path) {
        Ok(names) => names,
        // A file system without extended attributes has none to keep.
        Err(error) if error.raw_os_error() == Some(nix::libc::ENOTSUP) => return Ok(records),
        Err(error) => return Err(error),
    };
    for name in names {
        if let Some(value) = xattr::get(path, &name)? {
            records.push((format!("SCHILY.xattr.{}", name.to_string_lossy()), value));
        }
    }
    records.sort();
    Ok(records)
}

/// Appends the tree at `source` as `name`, in sorted order, with owners by name and number and
/// extended attributes; a file met again through another hard link (same device and inode) is
/// stored as a link to the first name, as GNU tar does. Sockets, fifos and devices are left out
/// (a restore refuses them) and listed in `walk.skipped`.
fn append_tree<W: Write>(
    tar: &mut tar::Builder<W>,
    source: &Path,
    name: &str,
    walk: &mut Walk<'_>,
) -> std::io::Result<()> {
    let metadata = fs_err::symlink_metadata(source)?;
    let file_type = metadata.file_type();
    if !(file_type.is_file() || file_type.is_dir() || file_type.is_symlink()) {
        walk.skipped.push(name.to_owned());
        return Ok(());
    }
    let mut header = tar::Header::new_gnu();
    header.set_metadata_in_mode(&metadata, tar::HeaderMode::Complete);
    if let Some(user) = walk.owners.user_name(metadata.uid()) {
        header.set_username(user)?;
    }
    if let Some(group) = walk.owners.group_name(metadata.gid()) {
        header.set_groupname(group)?;
    }
    let records = if file_type.is_symlink() {
        Vec::new()
    } else {
        xattr_records(source)?
    };
    if !records.is_empty() {
        append_pax(tar, name, &records)?;
    }
    if file_type.is_file() && metadata.nlink() > 1 {
        if let Some(first) = walk.seen.get(&(metadata.dev(), metadata.ino())) {
            header.set_entry_type(tar::EntryType::Link);
            header.set_size(0);
            return tar.append_link(&mut header, name, first);
        }
        walk.seen
            .insert((metadata.dev(), metadata.ino()), name.to_owned());
    }
    if file_type.is_symlink() {
        let target = fs_err::read_link(source)?;
        return tar.append_link(&mut header, name, target);
    }
    if file_type.is_file() {
        let file = fs_err::File::open(source)?;
        let mut counted = Counted {
            inner: file.take(metadata.len()),
            read: 0,
            progress: walk.progress,
        };
        tar.append_data(&mut header, name, &mut counted)?;
        if counted.read != metadata.len() {
            return Err(std::io::Error::other(format!(
                "`{}` shrank while it was read: stop what writes it during the backup",
                source.display()
            )));
        }
        return Ok(());
    }
    header.set_size(0);
    tar.append_data(&mut header, name, std::io::empty())?;
    let mut children: Vec<_> = fs_err::read_dir(source)?
        .map(|entry| entry.map(|e| e.file_name()))
        .collect::<Result<_, _>>()?;
    children.sort();
    for child in children {
        let child_name = format!("{name}/{}", child.to_string_lossy());
        append_tree(tar, &source.join(&child), &child_name, walk)?;
    }
    Ok(())
}

/// A reader that counts what it reads and reports it.
struct Counted<'a, R> {
    inner: R,
    read: u64,
    progress: &'a dyn Progress,
}

impl<R: Read> Read for Counted<'_, R> {
    fn read(&mut self, buffer: &mut [u8]) -> std::io::Result<usize> {
        let read = self.inner.read(buffer)?;
        self.read += read as u64;
        self.progress.advance(read as u64);
        Ok(read)
    }
}
