//! Replacing a file atomically: a temporary file in the same directory, created with its final
//! mode (never widened and narrowed after), written, fsynced, renamed over the target, and the
//! directory fsynced, so that a reader or a crash sees the old file or the new one, never a part.
//! The file has exactly the mode asked for, whatever the umask (a root process with `UMask=0077`
//! writing a file a service reads), and [`write_exact`] may also give it a group: both through
//! the descriptor before a byte is written, so nothing is chowned or chmodded by name.

#![allow(
    clippy::disallowed_methods,
    reason = "the one module that replaces files with std::fs (clippy.toml)"
)]

use fs_err::os::unix::fs::OpenOptionsExt as _;
use std::io::Write as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

use fs_err as fs;

/// Writes `bytes` to `path` with exactly the permission bits `mode`, whatever the umask (see
/// [`write_exact`]).
pub fn write(path: &Path, bytes: &[u8], mode: u32) -> std::io::Result<()> {
    write_exact(path, bytes, mode, None)
}

/// Writes `bytes` to `path` with exactly the permission bits `mode`, whatever the umask, and the
/// group `group` when one is given. The temporary is created readable by its owner alone, then
/// takes its group and its mode through its descriptor while still empty.
pub fn write_exact(
    path: &Path,
    bytes: &[u8],
    mode: u32,
    group: Option<nix::unistd::Gid>,
) -> std::io::Result<()> {
    replace(
        path,
        mode & 0o600,
        |file| {
            if let Some(group) = group {
                nix::unistd::fchown(file.file(), None, Some(group))
                    .map_err(std::io::Error::from)?;
            }
            file.set_permissions(std::fs::Permissions::from_mode(mode & 0o7777))
        },
        |file| file.write_all(bytes),
    )
}

/// [`write`] with what `source` reads to its end (a large upload, never held in memory whole).
pub fn write_from(path: &Path, source: &mut impl std::io::Read, mode: u32) -> std::io::Result<()> {
    replace(
        path,
        mode & 0o600,
        |file| file.set_permissions(std::fs::Permissions::from_mode(mode & 0o7777)),
        |file| std::io::copy(source, file).map(drop),
    )
}

/// The one replacement: the temporary is created with `create_mode` (under the umask) and handed
/// to `prepare` before `write_content` writes anything to it.
fn replace(
    path: &Path,
    create_mode: u32,
    prepare: impl FnOnce(&fs::File) -> std::io::Result<()>,
    write_content: impl FnOnce(&mut fs::File) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let temporary = dir.join(format!(".{name}.tmp{}", std::process::id()));
    // A temporary left by a killed earlier run of this process ID.
    let _ = fs::remove_file(&temporary);
    let result = (|| {
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(create_mode)
            .open(&temporary)?;
        prepare(&file)?;
        write_content(&mut file)?;
        file.sync_all()?;
        fs::rename(&temporary, path)?;
        sync_dir(dir)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&temporary);
    }
    result
}

/// fsyncs a directory, so that a rename or removal in it is durable.
pub fn sync_dir(dir: &Path) -> std::io::Result<()> {
    fs::File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_has_its_mode_from_the_start_and_replaces_the_old_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret");
        std::fs::write(&path, "old").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        write(&path, b"new", 0o600).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "new");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode, 0o600);
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(left.len(), 1, "a temporary file was left: {left:?}");
    }

    #[test]
    fn an_exact_write_has_its_mode_whatever_the_umask_and_its_group() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("users");
        let group = nix::unistd::getegid();
        // 0666 is wider than any usual umask lets through (022, 077): only a mode set through
        // the descriptor has it.
        write_exact(&path, b"for the group", 0o666, Some(group)).unwrap();
        let metadata = std::fs::metadata(&path).unwrap();
        assert_eq!(metadata.permissions().mode() & 0o7777, 0o666);
        assert_eq!(
            std::os::unix::fs::MetadataExt::gid(&metadata),
            group.as_raw()
        );
        write_exact(&path, b"root's alone", 0o600, None).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "root's alone");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode, 0o600);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn a_failed_write_leaves_the_old_file_and_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub");
        std::fs::create_dir(&path).unwrap();
        std::fs::write(path.join("keep"), "x").unwrap();
        // Renaming a file over a non-empty directory fails.
        assert!(write(&path, b"new", 0o644).is_err());
        assert!(path.join("keep").exists());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
