//! The free space a copy needs. (Files appliance-control writes with the mode they need from the
//! start, secrets above all, go through the library's `appliance::atomic::write_exact`.)

use std::io;
use std::path::Path;

/// Bytes free for an unprivileged writer on the file system that holds `dir`.
pub fn free_space(dir: &Path) -> io::Result<u64> {
    let stat = nix::sys::statvfs::statvfs(dir).map_err(io::Error::from)?;
    Ok(stat.blocks_available().saturating_mul(stat.fragment_size()))
}

/// What a copy of `needed` bytes into `dir` must leave free: 64 MiB, so that a backup copied in
/// does not fill the disk the system runs on.
pub const SPARE: u64 = 64 << 20;

/// Whether `dir` has room for `needed` bytes and [`SPARE`] besides; the error says how much
/// there is and how much it takes.
pub fn check_free_space(dir: &Path, needed: u64) -> Result<(), String> {
    let free = free_space(dir)
        .map_err(|e| format!("cannot tell the free space of `{}`: {e}", dir.display()))?;
    if free < needed.saturating_add(SPARE) {
        return Err(format!(
            "not enough space in `{}`: {} MiB free, {} MiB needed (and {} MiB left over)",
            dir.display(),
            free >> 20,
            needed.div_ceil(1 << 20),
            SPARE >> 20
        ));
    }
    Ok(())
}

#[cfg(test)]
pub mod tests {
    use std::os::unix::fs::PermissionsExt;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    use super::*;

    /// Runs `work` while another thread looks, as fast as it can, at the files of `dir` whose
    /// names hold `name`; returns those it saw with any of the `forbidden` mode bits.
    pub fn watch_modes(dir: &Path, name: &str, forbidden: u32, work: impl FnOnce()) -> Vec<String> {
        let stop = Arc::new(AtomicBool::new(false));
        let watcher = {
            let (dir, name, stop) = (dir.to_owned(), name.to_owned(), stop.clone());
            std::thread::spawn(move || {
                let mut seen = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
                        let file = entry.file_name().to_string_lossy().into_owned();
                        if let Ok(metadata) = entry.metadata()
                            && file.contains(&name)
                            && metadata.permissions().mode() & forbidden != 0
                        {
                            let found = format!("{file} {:o}", metadata.permissions().mode());
                            if !seen.contains(&found) {
                                seen.push(found);
                            }
                        }
                    }
                }
                seen
            })
        };
        work();
        stop.store(true, Ordering::Relaxed);
        watcher.join().unwrap()
    }

    #[test]
    fn a_secret_has_its_mode_from_the_start_and_replaces_the_old_file_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret");
        std::fs::write(&path, "old, world-readable").unwrap();
        let seen = watch_modes(dir.path(), "secret", 0o077, || {
            for round in 0..50 {
                appliance::atomic::write_exact(
                    &path,
                    format!("secret {round}\n").as_bytes(),
                    0o600,
                    None,
                )
                .unwrap();
            }
        });
        // The old file was 0644 until the first rename replaced it; nothing after that.
        assert!(seen.iter().all(|s| s == "secret 100644"), "{seen:?}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "secret 49\n");
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o7777,
            0o600
        );
        appliance::atomic::write_exact(&path, b"for the group", 0o640, None).unwrap();
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o7777,
            0o640
        );
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no temporary left"
        );
    }

    #[test]
    fn free_space_is_checked_against_what_a_copy_needs() {
        let dir = tempfile::tempdir().unwrap();
        assert!(free_space(dir.path()).unwrap() > 0);
        check_free_space(dir.path(), 1).unwrap();
        let error = check_free_space(dir.path(), u64::MAX / 2).unwrap_err();
        assert!(
            error.contains("not enough space") && error.contains(&dir.path().display().to_string()),
            "{error}"
        );
        assert!(
            check_free_space(&dir.path().join("none"), 1)
                .unwrap_err()
                .contains("cannot tell")
        );
    }
}
