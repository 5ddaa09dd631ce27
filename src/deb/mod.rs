//! Reading binary packages, as deb(5) lays them out: an ar container holding `debian-binary`,
//! `control.tar[.gz|.xz|.zst]` and `data.tar[.gz|.xz|.zst|.bz2]`.
//!
//! Reading the control of a package stops after the control member: the data member, which holds
//! nearly all of a package's bytes, is neither read nor decompressed.

mod ar;
pub mod control;
mod tar;

use std::io::Read;
use std::path::{Path, PathBuf};

pub use self::tar::Compression;

/// The largest control file or single data file we read into memory.
pub const MAX_MEMBER_FILE: u64 = 4 * 1024 * 1024;

/// Why a `.deb` could not be read.
#[derive(Debug, thiserror::Error)]
pub enum DebError {
    #[error("cannot read `{path}`")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("`{path}` is not a Debian binary package: {reason}")]
    NotDeb { path: PathBuf, reason: String },
    #[error("`{path}` has no `{member}` member")]
    MissingMember { path: PathBuf, member: &'static str },
    #[error("`{path}`: member `{member}` uses a compression dpkg does not know")]
    UnknownCompression { path: PathBuf, member: String },
    #[error("`{path}`: member `{member}` is damaged")]
    Member {
        path: PathBuf,
        member: String,
        #[source]
        source: std::io::Error,
    },
    #[error("`{path}`: `{file}` in `{member}` is larger than {limit} bytes")]
    TooLarge {
        path: PathBuf,
        member: String,
        file: String,
        limit: u64,
    },
    #[error("`{path}`: the control file is not UTF-8")]
    ControlNotUtf8 { path: PathBuf },
}

/// Reads the `control` file of the package at `path`, without touching its data member.
pub fn read_control(path: &Path) -> Result<String, DebError> {
    let file = open(path)?;
    let mut archive = ar::Members::new(path, file)?;
    loop {
        let Some(member) = archive.next_member()? else {
            return Err(DebError::MissingMember {
                path: path.to_owned(),
                member: "control.tar",
            });
        };
        if let Some(compression) = tar::member_compression(path, &member.name, "control.tar")? {
            let name = member.name.clone();
            let files = tar::read_files(path, &name, compression, member, &["control"], true)?;
            let bytes = first(files).ok_or_else(|| DebError::NotDeb {
                path: path.to_owned(),
                reason: format!("`{name}` holds no `control` file"),
            })?;
            return String::from_utf8(bytes).map_err(|_| DebError::ControlNotUtf8 {
                path: path.to_owned(),
            });
        }
        if member.name.starts_with("data.tar") {
            return Err(DebError::MissingMember {
                path: path.to_owned(),
                member: "control.tar",
            });
        }
    }
}

/// Reads the files among `names` (`templates`, `config`, `postinst`…) of the control member.
pub fn read_control_files(path: &Path, names: &[&str]) -> Result<Vec<(String, Vec<u8>)>, DebError> {
    let file = open(path)?;
    let mut archive = ar::Members::new(path, file)?;
    while let Some(member) = archive.next_member()? {
        if let Some(compression) = tar::member_compression(path, &member.name, "control.tar")? {
            let name = member.name.clone();
            return tar::read_files(path, &name, compression, member, names, false);
        }
    }
    Err(DebError::MissingMember {
        path: path.to_owned(),
        member: "control.tar",
    })
}

/// Reads one regular file of the package's data member, given by its absolute path in the installed
/// system (`/var/lib/appliance/seeds/x.seed`). `Ok(None)` when the package does not hold it.
pub fn read_data_file(path: &Path, installed_path: &str) -> Result<Option<Vec<u8>>, DebError> {
    let wanted = installed_path.trim_start_matches('/');
    let file = open(path)?;
    let mut archive = ar::Members::new(path, file)?;
    while let Some(member) = archive.next_member()? {
        if let Some(compression) = tar::member_compression(path, &member.name, "data.tar")? {
            let name = member.name.clone();
            return Ok(first(tar::read_files(
                path,
                &name,
                compression,
                member,
                &[wanted],
                true,
            )?));
        }
    }
    Err(DebError::MissingMember {
        path: path.to_owned(),
        member: "data.tar",
    })
}

fn first(files: Vec<(String, Vec<u8>)>) -> Option<Vec<u8>> {
    files.into_iter().next().map(|(_, bytes)| bytes)
}

fn open(path: &Path) -> Result<std::fs::File, DebError> {
    std::fs::File::open(path).map_err(|source| DebError::Io {
        path: path.to_owned(),
        source,
    })
}

/// One member of the ar container, readable up to its end.
pub(crate) struct Member<'a> {
    pub name: String,
    pub reader: Box<dyn Read + 'a>,
}

#[cfg(test)]
pub(crate) mod fixture;

#[cfg(test)]
mod proptests;

#[cfg(test)]
mod tests {
    use super::fixture::{DebBuilder, corrupt};
    use super::*;

    const CONTROL: &str = "Package: demo-appliance\nVersion: 1.0\nArchitecture: all\nProvides: virtual-appliance\nDescription: demo\n";

    #[test]
    fn reads_control_and_data_for_every_compression() {
        let dir = tempfile::tempdir().unwrap();
        for compression in [
            Compression::None,
            Compression::Gzip,
            Compression::Xz,
            Compression::Zstd,
        ] {
            let deb = DebBuilder::new(CONTROL)
                .compression(compression)
                .file(
                    "var/lib/appliance/seeds/demo-appliance.seed",
                    b"a b/c string d\n",
                )
                .write(dir.path());
            assert_eq!(read_control(&deb).unwrap(), CONTROL, "{compression:?}");
            let seed = read_data_file(&deb, "/var/lib/appliance/seeds/demo-appliance.seed")
                .unwrap()
                .unwrap();
            assert_eq!(seed, b"a b/c string d\n", "{compression:?}");
            assert!(read_data_file(&deb, "/etc/none").unwrap().is_none());
        }
    }

    #[test]
    fn control_is_read_without_decompressing_data() {
        // A data member that is not valid xz at all: reading the control must not notice.
        let dir = tempfile::tempdir().unwrap();
        let deb = DebBuilder::new(CONTROL)
            .raw_data("data.tar.xz", b"this is not xz")
            .write(dir.path());
        assert_eq!(read_control(&deb).unwrap(), CONTROL);
        let error = read_data_file(&deb, "/x").unwrap_err();
        assert!(matches!(error, DebError::Member { .. }), "{error:?}");
    }

    #[test]
    fn damaged_packages_give_errors_not_panics() {
        let dir = tempfile::tempdir().unwrap();
        let good = DebBuilder::new(CONTROL)
            .compression(Compression::Gzip)
            .file("etc/x", &[7u8; 5000])
            .write(dir.path());
        let bytes = std::fs::read(&good).unwrap();
        // Every truncation and a byte flipped at many offsets: an error or a result, never a panic.
        for cut in (0..bytes.len()).step_by(37) {
            let broken = corrupt(dir.path(), "cut", &bytes[..cut]);
            let _ = read_control(&broken);
            let _ = read_data_file(&broken, "/etc/x");
        }
        for offset in (0..bytes.len()).step_by(53) {
            let mut flipped = bytes.clone();
            flipped[offset] ^= 0xff;
            let broken = corrupt(dir.path(), "flip", &flipped);
            let _ = read_control(&broken);
            let _ = read_data_file(&broken, "/etc/x");
        }
        let empty = corrupt(dir.path(), "empty", b"");
        assert!(matches!(read_control(&empty), Err(DebError::NotDeb { .. })));
        let text = corrupt(dir.path(), "text", b"Package: x\n");
        assert!(matches!(read_control(&text), Err(DebError::NotDeb { .. })));
        let missing = dir.path().join("missing.deb");
        assert!(matches!(read_control(&missing), Err(DebError::Io { .. })));
    }

    #[test]
    fn unknown_compression_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let deb = DebBuilder::new(CONTROL)
            .raw_control("control.tar.lz4", b"whatever")
            .write(dir.path());
        let error = read_control(&deb).unwrap_err();
        assert!(error.to_string().contains("control.tar.lz4"), "{error}");
    }

    #[test]
    fn oversized_control_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let big = format!("Package: x\nDescription: {}\n", "y".repeat(5 * 1024 * 1024));
        let deb = DebBuilder::new(&big).write(dir.path());
        assert!(matches!(read_control(&deb), Err(DebError::TooLarge { .. })));
    }
}
