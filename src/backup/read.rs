//! Reading a backup without trusting it: the zip's central directory is read by hand first
//! (duplicate names, encryption, compression methods other than stored and deflate), then every
//! checksum, then every tar entry's path and type; nothing is extracted here.

use std::collections::HashSet;
use std::hash::BuildHasher;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use sha1::Sha1;
use sha2::{Digest, Sha256};

use super::info::{Info, InfoError};
use super::origin::{self, MAC_MEMBER, Origin};
use super::paths::{self, PathError};
use super::{DATA_MEMBERS, FORMAT_VERSION, Progress, Quiet};

mod inflate;

/// Which format a backup is in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Format {
    /// Ours, `2`.
    Current,
    /// The 2009 prototype's (`1`, `0.1`): absolute paths, no `sha256sums`.
    Original(String),
}

#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("cannot read `{path}`")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("`{path}` is not a zip file, or it is truncated: {reason}")]
    NotZip { path: PathBuf, reason: String },
    #[error("`{path}` holds the member `{member}` twice")]
    DuplicateMember { path: PathBuf, member: String },
    #[error("`{path}`: member `{member}` is encrypted")]
    Encrypted { path: PathBuf, member: String },
    #[error(
        "`{path}`: member `{member}` uses compression method {method} (only stored and deflate are read)"
    )]
    Method {
        path: PathBuf,
        member: String,
        method: u16,
    },
    #[error(
        "`{path}` holds a stray member `{member}` whose name climbs out or is absolute: a tampered backup, refused"
    )]
    StrayMember { path: PathBuf, member: String },
    #[error("`{path}` has no member `{member}`")]
    MissingMember { path: PathBuf, member: String },
    #[error(
        "`{path}`: unknown backup format version `{version}` (this reads 2 and the original format)"
    )]
    UnknownVersion { path: PathBuf, version: String },
    #[error("`{path}`: {source}")]
    Info {
        path: PathBuf,
        #[source]
        source: InfoError,
    },
    #[error(
        "`{path}`: the checksum of `{member}` does not match ({sum}: expected {expected}, computed {computed})"
    )]
    Checksum {
        path: PathBuf,
        member: String,
        sum: &'static str,
        expected: String,
        computed: String,
    },
    #[error("`{path}`: `{sums}` does not list `{member}`")]
    Unlisted {
        path: PathBuf,
        sums: &'static str,
        member: String,
    },
    #[error("`{path}`: `{member}` entry `{entry}`: {reason}")]
    Entry {
        path: PathBuf,
        member: String,
        entry: String,
        reason: String,
    },
    #[error("`{path}`: `{member}` entry refused")]
    EntryPath {
        path: PathBuf,
        member: String,
        #[source]
        source: PathError,
    },
}

/// An opened backup whose container and `info.yaml` were checked.
pub struct Backup {
    path: PathBuf,
    /// Member names, from the central directory (each once).
    names: Vec<String>,
    archive: zip::ZipArchive<std::fs::File>,
    pub format: Format,
    pub info: Info,
    progress: Box<dyn Progress>,
}

/// One entry of a tarball, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Normalized archive path (`etc/moin/wikiconfig.py`).
    pub path: String,
    pub kind: EntryKind,
    pub size: u64,
    /// Permission bits, owner and group numbers and modification time, as recorded.
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    /// Owner and group by name, where the archive records them.
    pub user: Option<String>,
    pub group: Option<String>,
    /// Extended attributes (`user.comment`, `system.posix_acl_access`…), from pax records.
    pub xattrs: Vec<(String, Vec<u8>)>,
    pub mtime: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryKind {
    File,
    Directory,
    /// A symbolic link and its target, which stays inside the roots.
    Symlink(String),
    /// A hard link to an earlier entry (normalized archive path).
    HardLink(String),
}

/// The names in the zip's central directory, checked for duplicates, encryption and methods.
fn central_directory(path: &Path, file: &mut std::fs::File) -> Result<Vec<String>, ReadError> {
    let io = |source| ReadError::Io {
        path: path.to_owned(),
        source,
    };
    let not_zip = |reason: &str| ReadError::NotZip {
        path: path.to_owned(),
        reason: reason.to_owned(),
    };
    let length = file.seek(SeekFrom::End(0)).map_err(io)?;
    let tail_length = length.min(65_557);
    file.seek(SeekFrom::Start(length - tail_length))
        .map_err(io)?;
    let mut tail = vec![0; usize::try_from(tail_length).unwrap_or(0)];
    file.read_exact(&mut tail).map_err(io)?;
    let end = tail
        .windows(4)
        .rposition(|w| w == [0x50, 0x4b, 0x05, 0x06])
        .ok_or_else(|| not_zip("no end of central directory"))?;
    let record = &tail[end..];
    if record.len() < 22 {
        return Err(not_zip("end of central directory cut short"));
    }
    let u16_at = |b: &[u8], at: usize| u16::from_le_bytes([b[at], b[at + 1]]);
    let u32_at = |b: &[u8], at: usize| u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]);
    let u64_at = |b: &[u8], at: usize| {
        let mut bytes = [0; 8];
        bytes.copy_from_slice(&b[at..at + 8]);
        u64::from_le_bytes(bytes)
    };
    let mut count = u64::from(u16_at(record, 10));
    let mut size = u64::from(u32_at(record, 12));
    let mut offset = u64::from(u32_at(record, 16));
    if count == 0xffff || size == 0xffff_ffff || offset == 0xffff_ffff {
        // Zip64: the locator stands just before the classic record.
        let locator = end
            .checked_sub(20)
            .ok_or_else(|| not_zip("zip64 locator missing"))?;
        if tail[locator..locator + 4] != [0x50, 0x4b, 0x06, 0x07] {
            return Err(not_zip("zip64 locator missing"));
        }
        let record64_at = u64_at(&tail, locator + 8);
        let mut record64 = [0; 56];
        file.seek(SeekFrom::Start(record64_at)).map_err(io)?;
        file.read_exact(&mut record64)
            .map_err(|_| not_zip("zip64 record cut short"))?;
        if record64[..4] != [0x50, 0x4b, 0x06, 0x06] {
            return Err(not_zip("zip64 record damaged"));
        }
        count = u64_at(&record64, 32);
        size = u64_at(&record64, 40);
        offset = u64_at(&record64, 48);
    }
    if offset.saturating_add(size) > length || size > 16 * 1024 * 1024 || count > 4096 {
        return Err(not_zip("central directory out of bounds"));
    }
    let mut directory = vec![0; usize::try_from(size).unwrap_or(0)];
    file.seek(SeekFrom::Start(offset)).map_err(io)?;
    file.read_exact(&mut directory)
        .map_err(|_| not_zip("central directory cut short"))?;
    let mut names = Vec::new();
    let mut seen = HashSet::new();
    let mut at = 0;
    for _ in 0..count {
        if at + 46 > directory.len() || directory[at..at + 4] != [0x50, 0x4b, 0x01, 0x02] {
            return Err(not_zip("central directory damaged"));
        }
        let flags = u16_at(&directory, at + 8);
        let method = u16_at(&directory, at + 10);
        let name_length = usize::from(u16_at(&directory, at + 28));
        let extra_length = usize::from(u16_at(&directory, at + 30));
        let comment_length = usize::from(u16_at(&directory, at + 32));
        let name_end = at + 46 + name_length;
        if name_end > directory.len() {
            return Err(not_zip("central directory damaged"));
        }
        let name = String::from_utf8_lossy(&directory[at + 46..name_end]).into_owned();
        if flags & 1 != 0 {
            return Err(ReadError::Encrypted {
                path: path.to_owned(),
                member: name,
            });
        }
        if method != 0 && method != 8 {
            return Err(ReadError::Method {
                path: path.to_owned(),
                member: name,
                method,
            });
        }
        if !seen.insert(name.clone()) {
            return Err(ReadError::DuplicateMember {
                path: path.to_owned(),
                member: name,
            });
        }
        names.push(name);
        at = name_end + extra_length + comment_length;
    }
    Ok(names)
}

impl Backup {
    /// Opens and checks the container, the format version and `info.yaml`.
    pub fn open(path: &Path) -> Result<Self, ReadError> {
        let io = |source| ReadError::Io {
            path: path.to_owned(),
            source,
        };
        let file = std::fs::File::open(path).map_err(io)?;
        Self::from_file(path, file)
    }

    /// [`Backup::open`] on a file already open (the agent opens an upload once, without
    /// following links, and checks it through its descriptor); `path` names it in errors.
    pub fn from_file(path: &Path, mut file: std::fs::File) -> Result<Self, ReadError> {
        let names = central_directory(path, &mut file)?;
        if let Some(stray) = names.iter().find(|name| stray(name)) {
            return Err(ReadError::StrayMember {
                path: path.to_owned(),
                member: stray.clone(),
            });
        }
        let archive = zip::ZipArchive::new(file).map_err(|error| ReadError::NotZip {
            path: path.to_owned(),
            reason: error.to_string(),
        })?;
        let mut backup = Self {
            path: path.to_owned(),
            names: names.clone(),
            archive,
            format: Format::Current,
            // Filled in below, once the version member has said how to read it.
            info: Info::default(),
            progress: Box::new(Quiet),
        };
        for member in DATA_MEMBERS.iter().chain(&["sha1sums"]) {
            if !names.iter().any(|n| n == member) {
                return Err(backup.missing(member));
            }
        }
        let version = String::from_utf8_lossy(&backup.member_bytes("version", 64)?)
            .trim()
            .to_owned();
        backup.format = if version == FORMAT_VERSION {
            Format::Current
        } else if version
            .parse::<f64>()
            .is_ok_and(|v| (0.0..2.0).contains(&v))
        {
            Format::Original(version)
        } else {
            return Err(ReadError::UnknownVersion {
                path: path.to_owned(),
                version,
            });
        };
        if backup.format == Format::Current && !names.iter().any(|n| n == "sha256sums") {
            return Err(backup.missing("sha256sums"));
        }
        let info =
            String::from_utf8_lossy(&backup.member_bytes("info.yaml", 1024 * 1024)?).into_owned();
        backup.info = Info::parse(&info).map_err(|source| ReadError::Info {
            path: path.to_owned(),
            source,
        })?;
        Ok(backup)
    }

    fn missing(&self, member: &str) -> ReadError {
        ReadError::MissingMember {
            path: self.path.clone(),
            member: member.to_owned(),
        }
    }

    fn member_bytes(&mut self, member: &str, limit: u64) -> Result<Vec<u8>, ReadError> {
        let path = self.path.clone();
        let missing = self.missing(member);
        let mut entry = self.archive.by_name(member).map_err(|_| missing)?;
        let mut bytes = Vec::new();
        (&mut entry)
            .take(limit)
            .read_to_end(&mut bytes)
            .map_err(|source| ReadError::Io { path, source })?;
        Ok(bytes)
    }

    /// Digests (SHA-256, SHA-1) of a member, streamed.
    fn digests(&mut self, member: &str) -> Result<(String, String), ReadError> {
        let path = self.path.clone();
        let missing = self.missing(member);
        let mut entry = self.archive.by_name(member).map_err(|_| missing)?;
        let (mut sha256, mut sha1) = (Sha256::new(), Sha1::new());
        let mut buffer = vec![0; 256 * 1024];
        loop {
            let read = entry.read(&mut buffer).map_err(|source| ReadError::Io {
                path: path.clone(),
                source,
            })?;
            if read == 0 {
                break;
            }
            sha256.update(&buffer[..read]);
            sha1.update(&buffer[..read]);
            self.progress.advance(read as u64);
        }
        Ok((hex::encode(sha256.finalize()), hex::encode(sha1.finalize())))
    }

    /// Checks every checksum: `sha256sums` (format 2) and `sha1sums`, which must list every member.
    pub fn verify(&mut self) -> Result<(), ReadError> {
        self.start_progress(&self.names.clone());
        self.verify_except(&[])
    }

    /// Where the backup was made: on the system whose `key` made its MAC, or elsewhere. Only
    /// format 2 carries a MAC. The MAC vouches for `sha256sums`; the members themselves are
    /// checked against it by [`Backup::verify`], or by a restore before anything is swapped in.
    pub fn origin(&mut self, key: Option<&[u8]>) -> Result<Origin, ReadError> {
        let Some(key) = key else {
            return Ok(Origin::Elsewhere);
        };
        if self.format != Format::Current || !self.names.iter().any(|n| n == MAC_MEMBER) {
            return Ok(Origin::Elsewhere);
        }
        let sha256sums = self.member_bytes("sha256sums", 1024 * 1024)?;
        let mac = self.member_bytes(MAC_MEMBER, 1024)?;
        Ok(if origin::matches(key, &sha256sums, &mac) {
            Origin::ThisSystem
        } else {
            Origin::Elsewhere
        })
    }

    /// Reports the bytes read from now on to `progress`.
    pub fn set_progress(&mut self, progress: Box<dyn Progress>) {
        self.progress = progress;
    }

    /// Starts the progress over the stored bytes of `members`, when anyone looks.
    pub fn start_progress(&mut self, members: &[impl AsRef<str>]) {
        if !self.progress.enabled() {
            return;
        }
        let total = members
            .iter()
            .filter_map(|m| self.archive.by_name(m.as_ref()).ok().map(|e| e.size()))
            .sum();
        self.progress.start(total);
    }

    /// The parsed `sha1sums` and, in format 2, `sha256sums`.
    fn sums(&mut self) -> Result<Sums, ReadError> {
        let sha1sums = parse_sums(&self.member_bytes("sha1sums", 1024 * 1024)?);
        let sha256sums = if self.format == Format::Current {
            Some(parse_sums(&self.member_bytes("sha256sums", 1024 * 1024)?))
        } else {
            None
        };
        Ok(Sums {
            sha1: sha1sums,
            sha256: sha256sums,
        })
    }

    /// Compares digests of `member` with both sums files (SHA-256 only for the four data members).
    fn compare_both(
        &self,
        sums: &Sums,
        member: &str,
        sha256: &str,
        sha1: &str,
    ) -> Result<(), ReadError> {
        self.compare(&sums.sha1, "sha1sums", member, sha1)?;
        if let Some(sha256sums) = &sums.sha256
            && DATA_MEMBERS.contains(&member)
        {
            self.compare(sha256sums, "sha256sums", member, sha256)?;
        }
        Ok(())
    }

    fn compare(
        &self,
        sums: &[(String, String)],
        name: &'static str,
        member: &str,
        computed: &str,
    ) -> Result<(), ReadError> {
        let expected = sums
            .iter()
            .find(|(_, m)| m == member)
            .map(|(h, _)| h.to_ascii_lowercase())
            .ok_or_else(|| ReadError::Unlisted {
                path: self.path.clone(),
                sums: name,
                member: member.to_owned(),
            })?;
        if expected != computed {
            return Err(ReadError::Checksum {
                path: self.path.clone(),
                member: member.to_owned(),
                sum: name,
                expected,
                computed: computed.to_owned(),
            });
        }
        Ok(())
    }

    /// The roots (archive form) that the tarball `member` may hold, from `info.yaml`.
    pub fn roots_of(&self, member: &str) -> Result<Vec<String>, ReadError> {
        if member == "sysconfig.tar.gz" {
            self.info.sysconf_roots()
        } else {
            self.info.appdata_roots()
        }
        .map_err(|source| ReadError::EntryPath {
            path: self.path.clone(),
            member: member.to_owned(),
            source,
        })
    }

    /// Every entry of `member` (`sysconfig.tar.gz` or `appdata.tar.gz`), each path checked against
    /// the roots `info.yaml` gives for it and each type against what a restore writes.
    pub fn entries(&mut self, member: &str) -> Result<Vec<Entry>, ReadError> {
        let mut entries = Vec::new();
        self.walk(member, |entry, _| {
            entries.push(entry.clone());
            Ok::<(), ReadError>(())
        })?;
        Ok(entries)
    }

    /// Reads the tarball `member` once: checks each entry and hands it, with its contents, to
    /// `visit`; returns the SHA-256 and SHA-1 of the member's bytes, for [`Backup::check_digests`].
    pub fn walk<E: From<ReadError>>(
        &mut self,
        member: &str,
        mut visit: impl FnMut(&Entry, &mut dyn Read) -> Result<(), E>,
    ) -> Result<(String, String), E> {
        let mut link_roots = self.roots_of("sysconfig.tar.gz")?;
        link_roots.extend(self.roots_of("appdata.tar.gz")?);
        let mut checker = EntryChecker {
            roots: self.roots_of(member)?,
            link_roots,
            absolute_allowed: self.format != Format::Current,
            files: HashSet::new(),
            seen: HashSet::new(),
            directories: HashSet::new(),
            hasher: std::hash::RandomState::new(),
        };
        let path = self.path.clone();
        let damaged = |source: std::io::Error| ReadError::Io {
            path: path.clone(),
            source,
        };
        let missing = self.missing(member);
        let zip_entry = self.archive.by_name(member).map_err(|_| missing)?;
        let (walked, digests) = inflate::inflated(zip_entry, self.progress.as_ref(), |stream| {
            let mut tar = tar::Archive::new(stream);
            for entry in tar.entries().map_err(damaged)? {
                let mut entry = entry.map_err(damaged)?;
                let valid = checker
                    .check(&mut entry)
                    .map_err(|(name, problem)| match problem {
                        Problem::Path(source) => ReadError::EntryPath {
                            path: path.clone(),
                            member: member.to_owned(),
                            source,
                        },
                        Problem::Refused(reason) => ReadError::Entry {
                            path: path.clone(),
                            member: member.to_owned(),
                            entry: name,
                            reason,
                        },
                        Problem::Io(source) => damaged(source),
                    })?;
                visit(&valid, &mut entry)?;
            }
            // What follows the tar's end is read too: the digests cover the whole member.
            std::io::copy(&mut tar.into_inner(), &mut std::io::sink()).map_err(damaged)?;
            Ok::<(), E>(())
        });
        walked?;
        Ok(digests.map_err(damaged)?)
    }

    /// Compares digests computed by [`Backup::walk`] with the member's sums.
    pub fn check_digests(
        &mut self,
        member: &str,
        sha256: &str,
        sha1: &str,
    ) -> Result<(), ReadError> {
        let sums = self.sums()?;
        self.compare_both(&sums, member, sha256, sha1)
    }

    /// Every checksum and every entry of both tarballs (paths, types, links, sizes), as a
    /// restore would check them, without writing anything: one pass over each tarball, which is
    /// checked and hashed together.
    pub fn check(&mut self) -> Result<(), ReadError> {
        const TARBALLS: [&str; 2] = ["sysconfig.tar.gz", "appdata.tar.gz"];
        self.start_progress(&self.names.clone());
        self.verify_except(&TARBALLS)?;
        for member in TARBALLS {
            let (sha256, sha1) = self.walk(member, |_, _| Ok::<(), ReadError>(()))?;
            self.check_digests(member, &sha256, &sha1)?;
        }
        Ok(())
    }

    /// [`Backup::verify`] for every member but `skip` (the tarballs a restore checks as it reads).
    pub fn verify_except(&mut self, skip: &[&str]) -> Result<(), ReadError> {
        let sums = self.sums()?;
        let names: Vec<String> = self
            .names
            .iter()
            .filter(|n| *n != "sha1sums" && !skip.contains(&n.as_str()))
            .cloned()
            .collect();
        for member in &names {
            let (sha256, sha1) = self.digests(member)?;
            self.compare_both(&sums, member, &sha256, &sha1)?;
        }
        Ok(())
    }
}

/// The checksum files, as `(hash, member)` pairs; `sha256` only in format 2.
struct Sums {
    sha1: Vec<(String, String)>,
    sha256: Option<Vec<(String, String)>>,
}

/// A reader that hashes what it reads, and reports it.
enum Problem {
    Path(PathError),
    Refused(String),
    Io(std::io::Error),
}

/// The checks every tar entry passes, with what earlier entries tell.
struct EntryChecker {
    roots: Vec<String>,
    /// Every root of the backup: a symbolic link may point into any of them (Debian packages
    /// link `/etc/dokuwiki/acl.auth.php` to `/var/lib/dokuwiki/acl/acl.auth.php`).
    link_roots: Vec<String>,
    absolute_allowed: bool,
    /// Regular files so far: the only targets a hard link may have. Paths are kept as keyed
    /// 64-bit hashes, so that memory stays small for any number of entries (a collision, one in
    /// 2^64 per pair with a random key, could only refuse a sound archive).
    files: HashSet<u64>,
    seen: HashSet<u64>,
    /// The directories among them.
    directories: HashSet<u64>,
    hasher: std::hash::RandomState,
}

impl EntryChecker {
    /// A symbolic link at `path` to `target`: resolved against the link's directory, it must
    /// stay inside the roots.
    fn symlink(&self, path: &str, target: String) -> Result<EntryKind, String> {
        let resolved = if target.starts_with('/') {
            target.clone()
        } else {
            let parent = path.rsplit_once('/').map_or("", |(p, _)| p);
            format!("{parent}/{target}")
        };
        let resolved = paths::check(&resolved, &self.link_roots, true)
            .map_err(|e| format!("symbolic link to `{target}`: {e}"))?;
        // A directory above a root (`/etc` for `etc/moin`) is not the backup's: an entry written
        // through such a link would land outside the roots.
        if paths::containing_root(&resolved, &self.link_roots).is_none() {
            return Err(format!(
                "symbolic link to `{target}`, a directory above the backup's roots"
            ));
        }
        Ok(EntryKind::Symlink(target))
    }

    fn check<R: Read>(
        &mut self,
        entry: &mut tar::Entry<'_, R>,
    ) -> Result<Entry, (String, Problem)> {
        let raw = String::from_utf8(entry.path_bytes().into_owned()).map_err(|_| {
            (
                "(not UTF-8)".to_owned(),
                Problem::Refused("the name is not UTF-8".into()),
            )
        })?;
        let refused = |reason: String| (raw.clone(), Problem::Refused(reason));
        let normalized = paths::check(&raw, &self.roots, self.absolute_allowed)
            .map_err(|e| (raw.clone(), Problem::Path(e)))?;
        let mut xattrs = Vec::new();
        if let Some(records) = entry
            .pax_extensions()
            .map_err(|e| (raw.clone(), Problem::Io(e)))?
        {
            for record in records {
                let record = record.map_err(|e| (raw.clone(), Problem::Io(e)))?;
                let key = record.key_bytes();
                if key.starts_with(b"GNU.sparse.") {
                    return Err(refused(
                        "a sparse file (its declared size is not what the archive holds)".into(),
                    ));
                }
                if let Some(name) = key.strip_prefix(b"SCHILY.xattr.") {
                    xattrs.push((
                        String::from_utf8_lossy(name).into_owned(),
                        record.value_bytes().to_vec(),
                    ));
                }
            }
        }
        let header = entry.header();
        let size = header.size().map_err(|e| (raw.clone(), Problem::Io(e)))?;
        let name_of = |bytes: Option<&[u8]>| {
            bytes
                .filter(|b| !b.is_empty())
                .map(|b| String::from_utf8_lossy(b).into_owned())
        };
        let link_target = || {
            entry
                .link_name_bytes()
                .map(|t| String::from_utf8_lossy(&t).into_owned())
                .unwrap_or_default()
        };
        let kind = match header.entry_type() {
            tar::EntryType::Regular | tar::EntryType::Continuous => EntryKind::File,
            tar::EntryType::Directory => EntryKind::Directory,
            tar::EntryType::Symlink => {
                let target = link_target();
                self.symlink(&normalized, target).map_err(refused)?
            }
            tar::EntryType::Link => {
                let target = link_target();
                let target = paths::check(&target, &self.roots, self.absolute_allowed)
                    .map_err(|e| refused(format!("hard link to `{target}`: {e}")))?;
                if !self.files.contains(&self.hasher.hash_one(&target)) {
                    return Err(refused(format!(
                        "hard link to `{target}`, which is not an earlier file"
                    )));
                }
                EntryKind::HardLink(target)
            }
            other => {
                return Err(refused(format!(
                    "entries of type {other:?} (devices, fifos, sparse files) are not restored"
                )));
            }
        };
        // A path may come twice only as a directory both times: a directory entry over a link
        // would have its mode, owner and time applied through the link.
        let key = self.hasher.hash_one(&normalized);
        let again = !self.seen.insert(key);
        if again && !(kind == EntryKind::Directory && self.directories.contains(&key)) {
            return Err(refused("the archive holds it twice".into()));
        }
        if kind == EntryKind::Directory {
            self.directories.insert(key);
        }
        if kind == EntryKind::File {
            self.files.insert(self.hasher.hash_one(&normalized));
        }
        Ok(Entry {
            path: normalized,
            kind,
            size,
            mode: header.mode().unwrap_or(0o644) & 0o7777,
            uid: header.uid().unwrap_or(0),
            gid: header.gid().unwrap_or(0),
            user: name_of(header.username_bytes()),
            group: name_of(header.groupname_bytes()),
            xattrs,
            mtime: header.mtime().unwrap_or(0),
        })
    }
}

/// A member name that is none of the format's and climbs out or is absolute: evidence of
/// tampering, since only a tool meaning harm (or an `unzip` it tricks) would write one.
fn stray(name: &str) -> bool {
    !DATA_MEMBERS.contains(&name)
        && !["sha1sums", "sha256sums", MAC_MEMBER].contains(&name)
        && (name.starts_with(['/', '\\']) || name.split(['/', '\\']).any(|part| part == ".."))
}

/// `sha1sum`-style lines: `HASH  NAME` (or `HASH *NAME`).
fn parse_sums(bytes: &[u8]) -> Vec<(String, String)> {
    String::from_utf8_lossy(bytes)
        .lines()
        .filter_map(|line| {
            let (hash, name) = line.split_once(' ')?;
            Some((
                hash.to_owned(),
                name.trim_start_matches([' ', '*']).to_owned(),
            ))
        })
        .collect()
}

#[cfg(test)]
pub(crate) mod tests;
