//! Where a backup was made. Each system has a key only root may read
//! (`/var/lib/appliance/backup.key`: 32 bytes from getrandom(2), mode 0600, made on first need;
//! a key file that another user owns or may read is refused, never trusted);
//! the backups it writes carry the member `sha256sums.hmac`, HMAC-SHA256 (RFC 2104) of
//! `sha256sums` under that key. `sha256sums` holds the digests of the four data members, so the
//! MAC vouches for all of them. A backup without it, or whose MAC another key made, comes from
//! elsewhere: another system, the 2009 prototype, or someone who wrote it by hand.

use std::io::{Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// The key, relative to the system's root.
pub const KEY: &str = "var/lib/appliance/backup.key";
/// The member that carries the MAC.
pub const MAC_MEMBER: &str = "sha256sums.hmac";
const KEY_LENGTH: usize = 32;

/// Where a backup was made, as its MAC tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// Its MAC was made with this system's key.
    ThisSystem,
    /// No MAC, or another key's: its system configuration is not to be trusted.
    Elsewhere,
}

impl Origin {
    /// As `verify` and the Backups page say it.
    pub fn describe(self) -> &'static str {
        match self {
            Origin::ThisSystem => "made on this system",
            Origin::Elsewhere => "from elsewhere",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("cannot read or make the backup key `{}`", .path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the backup key `{}` is damaged: it holds {length} bytes, not {KEY_LENGTH}", .path.display())]
    Damaged { path: PathBuf, length: usize },
    #[error(
        "the backup key `{}` is refused: {reason} (it must be a file of its owner alone, mode 0600, owned by uid {expected_owner})",
        .path.display()
    )]
    Unsafe {
        path: PathBuf,
        reason: String,
        expected_owner: u32,
    },
    #[error("no random bytes for the backup key")]
    Random(#[from] crate::random::RandomError),
}

/// The system's key, `None` when it has none yet. The file is opened without following a link
/// and checked through its descriptor: a regular file of this process's user (root's, on a real
/// system) that nobody else may read or write. Any other is refused: whoever could write it could
/// make backups pass as this system's, and whoever could read it, forge them.
pub fn key(system_root: &Path) -> Result<Option<Vec<u8>>, KeyError> {
    let path = system_root.join(KEY);
    let file = match std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(nix::libc::O_NOFOLLOW | nix::libc::O_NONBLOCK)
        .open(&path)
    {
        Ok(file) => file,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) if error.raw_os_error() == Some(nix::libc::ELOOP) => {
            return Err(unsafe_key(path, "it is a symbolic link".to_owned()));
        }
        Err(source) => return Err(KeyError::Io { path, source }),
    };
    let metadata = match file.metadata() {
        Ok(metadata) => metadata,
        Err(source) => return Err(KeyError::Io { path, source }),
    };
    let owner = nix::unistd::geteuid().as_raw();
    if !metadata.is_file() {
        return Err(unsafe_key(path, "it is not a regular file".to_owned()));
    }
    if metadata.uid() != owner {
        return Err(unsafe_key(
            path,
            format!("it belongs to uid {}", metadata.uid()),
        ));
    }
    if metadata.mode() & 0o077 != 0 {
        return Err(unsafe_key(
            path,
            format!("its mode is {:04o}", metadata.mode() & 0o7777),
        ));
    }
    let mut key = Vec::with_capacity(KEY_LENGTH);
    // One byte more than a key: enough to tell a longer file, never a whole large one.
    if let Err(source) = file.take(KEY_LENGTH as u64 + 1).read_to_end(&mut key) {
        return Err(KeyError::Io { path, source });
    }
    if key.len() == KEY_LENGTH {
        Ok(Some(key))
    } else {
        Err(KeyError::Damaged {
            path,
            length: usize::try_from(metadata.len()).unwrap_or(usize::MAX),
        })
    }
}

fn unsafe_key(path: PathBuf, reason: String) -> KeyError {
    KeyError::Unsafe {
        path,
        reason,
        expected_owner: nix::unistd::geteuid().as_raw(),
    }
}

/// The system's key, made if it has none: written 0600 under a temporary name, then linked into
/// place (never over another), so that two makers agree on one key and none is ever partial.
/// Not [`crate::atomic::write`]: its rename replaces what is there, and a key that replaced
/// another would disown every backup already made with it.
pub fn key_or_make(system_root: &Path) -> Result<Vec<u8>, KeyError> {
    if let Some(key) = key(system_root)? {
        return Ok(key);
    }
    let path = system_root.join(KEY);
    let io = |source| KeyError::Io {
        path: path.clone(),
        source,
    };
    let bytes = crate::random::bytes::<KEY_LENGTH>()?;
    let dir = path.parent().unwrap_or(system_root);
    std::fs::create_dir_all(dir).map_err(io)?;
    let temporary = dir.join(format!(".backup.key.tmp{}", std::process::id()));
    // A temporary left by a killed earlier run of this process ID.
    let _ = std::fs::remove_file(&temporary);
    let made = (|| {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&temporary)?;
        file.write_all(&bytes)?;
        file.sync_all()?;
        match std::fs::hard_link(&temporary, &path) {
            Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
            other => other,
        }?;
        // The key's name reaches the disk before any backup carries a MAC made with it.
        crate::atomic::sync_dir(dir)
    })();
    let _ = std::fs::remove_file(&temporary);
    made.map_err(io)?;
    key(system_root)?.ok_or_else(|| io(std::io::ErrorKind::NotFound.into()))
}

/// HMAC-SHA256 (RFC 2104) of `message` under `key`.
pub fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    const BLOCK: usize = 64;
    let mut block = [0u8; BLOCK];
    if key.len() > BLOCK {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let pad = |byte: u8| block.map(|b| b ^ byte);
    let inner = Sha256::new()
        .chain_update(pad(0x36))
        .chain_update(message)
        .finalize();
    Sha256::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize()
        .into()
}

/// The member's text: the MAC of `sha256sums` in hex, one line.
pub fn mac_text(key: &[u8], sha256sums: &[u8]) -> String {
    format!("{}\n", hex::encode(hmac_sha256(key, sha256sums)))
}

/// Whether `mac` (the member's text) is the MAC of `sha256sums` under `key`, compared in time
/// that does not depend on where they differ.
pub fn matches(key: &[u8], sha256sums: &[u8], mac: &[u8]) -> bool {
    let expected = mac_text(key, sha256sums);
    let expected = expected.as_bytes();
    expected.len() == mac.len()
        && expected
            .iter()
            .zip(mac)
            .fold(0u8, |difference, (a, b)| difference | (a ^ b))
            == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_sha256_gives_the_rfc_4231_vectors() {
        // Test cases 2 and 6 (a key longer than the block).
        assert_eq!(
            hex::encode(hmac_sha256(b"Jefe", b"what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert_eq!(
            hex::encode(hmac_sha256(
                &[0xaa; 131],
                b"Test Using Larger Than Block-Size Key - Hash Key First"
            )),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }

    #[test]
    fn the_key_is_made_once_private_and_kept() {
        use std::os::unix::fs::PermissionsExt;
        let root = tempfile::tempdir().unwrap();
        assert!(key(root.path()).unwrap().is_none());
        let first = key_or_make(root.path()).unwrap();
        assert_eq!(first.len(), KEY_LENGTH);
        assert_eq!(key_or_make(root.path()).unwrap(), first);
        let mode = std::fs::metadata(root.path().join(KEY))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let other = tempfile::tempdir().unwrap();
        assert_ne!(
            key_or_make(other.path()).unwrap(),
            first,
            "one key per system"
        );
        assert!(matches(
            &first,
            b"sums",
            mac_text(&first, b"sums").as_bytes()
        ));
        assert!(!matches(
            &first,
            b"sumS",
            mac_text(&first, b"sums").as_bytes()
        ));
        // A key anyone else may read, or another user's, or a link, is refused, not used.
        let path = root.path().join(KEY);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let refused = key(root.path()).unwrap_err().to_string();
        assert!(refused.contains("its mode is 0644"), "{refused}");
        assert!(key_or_make(root.path()).is_err(), "never made anew over it");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        if nix::unistd::geteuid().is_root() {
            std::os::unix::fs::chown(&path, Some(1234), None).unwrap();
            let refused = key(root.path()).unwrap_err().to_string();
            assert!(refused.contains("belongs to uid 1234"), "{refused}");
            std::os::unix::fs::chown(&path, Some(0), None).unwrap();
        }
        assert_eq!(key(root.path()).unwrap().unwrap(), first);
        let elsewhere = root.path().join("elsewhere.key");
        std::fs::rename(&path, &elsewhere).unwrap();
        std::os::unix::fs::symlink(&elsewhere, &path).unwrap();
        let refused = key(root.path()).unwrap_err().to_string();
        assert!(refused.contains("symbolic link"), "{refused}");
        std::fs::remove_file(&path).unwrap();
        std::fs::write(&path, b"short").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert!(
            key(root.path())
                .unwrap_err()
                .to_string()
                .contains("damaged")
        );
    }
}
