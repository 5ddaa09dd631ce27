//! The tarballs inside a `.deb`: decompression (none, gzip, xz, zstd; bzip2 is not supported) and
//! lookup of one regular file by its path.

use std::io::Read;
use std::path::Path;

use super::{DebError, MAX_MEMBER_FILE, Member};

/// How a tar member of a `.deb` is compressed, from its name's suffix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Xz,
    Zstd,
}

impl Compression {
    /// The member-name suffix dpkg-deb uses.
    pub fn suffix(self) -> &'static str {
        match self {
            Self::None => "",
            Self::Gzip => ".gz",
            Self::Xz => ".xz",
            Self::Zstd => ".zst",
        }
    }
}

/// `Some(compression)` when `name` is `stem` with a known suffix; an error when it is `stem` with an
/// unknown one; `None` for another member.
pub(super) fn member_compression(
    path: &Path,
    name: &str,
    stem: &str,
) -> Result<Option<Compression>, DebError> {
    let Some(suffix) = name.strip_prefix(stem) else {
        return Ok(None);
    };
    let compression = match suffix {
        "" => Compression::None,
        ".gz" => Compression::Gzip,
        ".xz" => Compression::Xz,
        ".zst" => Compression::Zstd,
        _ => {
            return Err(DebError::UnknownCompression {
                path: path.to_owned(),
                member: name.to_owned(),
            });
        }
    };
    Ok(Some(compression))
}

/// The member's bytes, decompressed.
fn decoder(compression: Compression, member: Member<'_>) -> std::io::Result<Box<dyn Read + '_>> {
    Ok(match compression {
        Compression::None => member.reader,
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(member.reader)),
        Compression::Xz => Box::new(liblzma::read::XzDecoder::new_multi_decoder(member.reader)),
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::new(member.reader)?),
    })
}

/// Reads the regular files among `wanted` (paths without `./`) from the tar member, in archive
/// order; with `first_only`, stops reading the member at the first one (the hook needs only
/// `control`, which comes early).
pub(super) fn read_files(
    path: &Path,
    member_name: &str,
    compression: Compression,
    member: Member<'_>,
    wanted: &[&str],
    first_only: bool,
) -> Result<Vec<(String, Vec<u8>)>, DebError> {
    let damaged = |source: std::io::Error| DebError::Member {
        path: path.to_owned(),
        member: member_name.to_owned(),
        source,
    };
    let mut archive = ::tar::Archive::new(decoder(compression, member).map_err(damaged)?);
    let mut found = Vec::new();
    for entry in archive.entries().map_err(damaged)? {
        let mut entry = entry.map_err(damaged)?;
        let name = String::from_utf8_lossy(&entry.path_bytes())
            .trim_start_matches("./")
            .to_owned();
        if !wanted.contains(&name.as_str()) || !entry.header().entry_type().is_file() {
            continue;
        }
        let size = entry.header().size().map_err(damaged)?;
        if size > MAX_MEMBER_FILE {
            return Err(DebError::TooLarge {
                path: path.to_owned(),
                member: member_name.to_owned(),
                file: name,
                limit: MAX_MEMBER_FILE,
            });
        }
        let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
        entry.read_to_end(&mut bytes).map_err(damaged)?;
        found.push((name, bytes));
        if first_only {
            break;
        }
    }
    Ok(found)
}
