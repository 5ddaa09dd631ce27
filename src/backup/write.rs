//! Writing a backup: each tarball streams through gzip straight into its zip member (memory does
//! not grow with the data), hashed on the way; the file is written beside the target under a
//! temporary name, synced, and renamed only when complete.

use fs_err::os::unix::fs::OpenOptionsExt;
use std::collections::HashMap;
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use sha1::Sha1;
use sha2::{Digest, Sha256};
use zip::CompressionMethod;
use zip::write::SimpleFileOptions;

use super::info::{Info, InfoError};
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
    #[error("`{0}` is not a directory: nothing to back up there")]
    MissingDirectory(PathBuf),
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

/// Writes a backup of the directories `info` names, read under `system_root`, to `out`.
pub fn create(system_root: &Path, info: &Info, out: &Path) -> Result<(), WriteError> {
    let dir = out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = out.file_name().unwrap_or_default().to_string_lossy();
    let temporary = dir.join(format!(".{name}.tmp{}", std::process::id()));
    let result = write_to(system_root, info, &temporary).and_then(|()| {
        fs_err::rename(&temporary, out)?;
        fs_err::File::open(dir)?.sync_all()?;
        Ok(())
    });
    if result.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    result
}

fn write_to(system_root: &Path, info: &Info, path: &Path) -> Result<(), WriteError> {
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
            for dir in dirs {
                let archive_name = super::paths::root_in_archive(dir)?;
                let source = system_root.join(&archive_name);
                if !source.is_dir() {
                    return Err(WriteError::MissingDirectory(source));
                }
                append_tree(&mut tar, &source, &archive_name, &mut HashMap::new())?;
            }
            tar.into_inner()?.finish()?;
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
    let sha1sums = sums_file(
        sums.iter()
            .map(|(m, _, sha1)| (sha1.as_str(), *m))
            .chain(std::iter::once((sha1_of_sums.as_str(), "sha256sums"))),
    );
    zip.start_file("sha1sums", text)?;
    zip.write_all(sha1sums.as_bytes())?;
    let file = zip.finish()?;
    file.sync_all()?;
    Ok(())
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

/// Appends the tree at `source` as `name`, in sorted order; a file met again through another hard
/// link (same device and inode) is stored as a link to the first name, as GNU tar does.
fn append_tree<W: Write>(
    tar: &mut tar::Builder<W>,
    source: &Path,
    name: &str,
    seen: &mut HashMap<(u64, u64), String>,
) -> std::io::Result<()> {
    let metadata = fs_err::symlink_metadata(source)?;
    if metadata.is_file() && metadata.nlink() > 1 {
        if let Some(first) = seen.get(&(metadata.dev(), metadata.ino())) {
            let mut header = tar::Header::new_gnu();
            header.set_metadata_in_mode(&metadata, tar::HeaderMode::Complete);
            header.set_entry_type(tar::EntryType::Link);
            header.set_size(0);
            return tar.append_link(&mut header, name, first);
        }
        seen.insert((metadata.dev(), metadata.ino()), name.to_owned());
    }
    tar.append_path_with_name(source, name)?;
    if metadata.is_dir() {
        let mut children: Vec<_> = fs_err::read_dir(source)?
            .map(|entry| entry.map(|e| e.file_name()))
            .collect::<Result<_, _>>()?;
        children.sort();
        for child in children {
            let child_name = format!("{name}/{}", child.to_string_lossy());
            append_tree(tar, &source.join(&child), &child_name, seen)?;
        }
    }
    Ok(())
}
