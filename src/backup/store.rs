//! The backups kept on a system, under `/var/backups/appliance`: where a new one goes, which are
//! there, and pruning them.

use std::path::{Path, PathBuf};

use super::info::Info;
use super::origin::{self, Origin};
use super::read::Backup;

/// Where backups are kept, relative to the system's root.
pub const BACKUP_DIR: &str = "var/backups/appliance";

/// One backup found in the directory; `info` is `None` when it cannot be read.
#[derive(Debug)]
pub struct Listed {
    pub path: PathBuf,
    pub info: Option<Info>,
    /// Where it was made, as its MAC says; `None` when that cannot be told (an unreadable backup,
    /// or a system key that cannot be read or is refused).
    pub origin: Option<Origin>,
}

/// `<root>/var/backups/appliance/<appliance>-<UTC time>.abf`, creating the directory.
pub fn default_path(root: &Path, appliance: &str, seconds: u64) -> std::io::Result<PathBuf> {
    Ok(directory(root)?.join(format!("{}.abf", stem(appliance, seconds))))
}

/// `<root>/var/backups/appliance`, created if missing.
pub fn directory(root: &Path) -> std::io::Result<PathBuf> {
    let dir = root.join(BACKUP_DIR);
    fs_err::create_dir_all(&dir)?;
    Ok(dir)
}

/// `<appliance>-<UTC time>`, the name of a backup without its `.abf` (and without the `-2` that
/// a second backup of the same second gets).
pub fn stem(appliance: &str, seconds: u64) -> String {
    format!("{appliance}-{}", rfc3339(seconds).replace(':', ""))
}

/// The order of backups by name: a second backup of the same second (`…Z-2.abf`) after the first
/// (`…Z.abf`), though `-` sorts before `.`.
pub(crate) fn order(path: &Path) -> (String, u32) {
    let stem = path
        .file_stem()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned();
    if let Some((base, number)) = stem.rsplit_once('-')
        && base.ends_with('Z')
        && let Ok(number) = number.parse::<u32>()
    {
        return (base.to_owned(), number);
    }
    (stem, 1)
}

/// The `.abf` files of the root's backup directory, sorted by name (oldest first within an
/// appliance).
pub fn list(root: &Path) -> std::io::Result<Vec<Listed>> {
    let dir = root.join(BACKUP_DIR);
    let entries = match fs_err::read_dir(&dir) {
        Ok(entries) => entries,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(error) => return Err(error),
    };
    let mut paths = Vec::new();
    for entry in entries {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "abf") {
            paths.push(path);
        }
    }
    paths.sort_by_cached_key(|path| order(path));
    // The key once for the whole list, each backup opened once.
    let key = origin::key(root).ok();
    Ok(paths
        .into_iter()
        .map(|path| match Backup::open(&path) {
            Ok(mut backup) => {
                let origin = key
                    .as_ref()
                    .and_then(|key| backup.origin(key.as_deref()).ok());
                Listed {
                    path,
                    info: Some(backup.info),
                    origin,
                }
            }
            Err(_) => Listed {
                path,
                info: None,
                origin: None,
            },
        })
        .collect())
}

/// Deletes all but the `keep` newest backups (by `info.yaml`'s timestamp) of each appliance;
/// returns what it deleted (with `dry_run`, what it would delete, deleting nothing). Unreadable
/// files are left alone.
pub fn prune(root: &Path, keep: usize, dry_run: bool) -> std::io::Result<Vec<PathBuf>> {
    // Per appliance: ((timestamp, number within its second), path).
    type Made = ((String, u32), PathBuf);
    let mut by_appliance: std::collections::BTreeMap<String, Vec<Made>> =
        std::collections::BTreeMap::new();
    for listed in list(root)? {
        if let Some(info) = listed.info {
            let number = order(&listed.path).1;
            by_appliance
                .entry(info.appliance)
                .or_default()
                .push(((info.timestamp, number), listed.path));
        }
    }
    let mut removed = Vec::new();
    for backups in by_appliance.values_mut() {
        backups.sort_by(|a, b| b.cmp(a));
        for (_, path) in backups.iter().skip(keep) {
            if !dry_run {
                fs_err::remove_file(path)?;
            }
            removed.push(path.clone());
        }
    }
    Ok(removed)
}

/// Seconds since the epoch, now (0 on a clock before 1970).
pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Seconds since the epoch as `YYYY-MM-DDTHH:MM:SSZ` (UTC).
pub fn rfc3339(seconds: u64) -> String {
    let days = i64::try_from(seconds / 86_400).unwrap_or(0);
    let rest = seconds % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

/// `1G`, `500M`, `64KiB`, `4096`: bytes.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let (number, unit) = text.split_at(
        text.find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len()),
    );
    let number: u64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a size like 1G, 500M or 4096"))?;
    let factor: u64 = match unit
        .to_ascii_uppercase()
        .trim_end_matches("IB")
        .trim_end_matches('B')
    {
        "" => 1,
        "K" => 1 << 10,
        "M" => 1 << 20,
        "G" => 1 << 30,
        "T" => 1 << 40,
        _ => {
            return Err(format!(
                "`{text}`: unknown unit `{unit}` (use K, M, G or T)"
            ));
        }
    };
    number
        .checked_mul(factor)
        .ok_or_else(|| format!("`{text}` is too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps() {
        for (seconds, expected) in [
            (0, "1970-01-01T00:00:00Z"),
            (951_782_400, "2000-02-29T00:00:00Z"),
            (1_795_651_200, "2026-11-26T00:00:00Z"),
            (1_795_663_384, "2026-11-26T03:23:04Z"),
            (4_107_542_399, "2100-02-28T23:59:59Z"),
        ] {
            assert_eq!(rfc3339(seconds), expected, "{seconds}");
        }
    }

    #[test]
    fn sizes() {
        for (text, expected) in [
            ("4096", Ok(4096)),
            ("1K", Ok(1024)),
            ("500M", Ok(500 << 20)),
            ("1G", Ok(1 << 30)),
            ("2GiB", Ok(2 << 30)),
            ("3gb", Ok(3 << 30)),
            ("10Q", Err("unknown unit")),
            ("G", Err("not a size")),
            ("99999999999T", Err("too large")),
        ] {
            match (parse_size(text), expected) {
                (Ok(got), Ok(want)) => assert_eq!(got, want, "{text}"),
                (Err(got), Err(want)) => assert!(got.contains(want), "{text}: {got}"),
                (got, want) => panic!("{text}: {got:?} vs {want:?}"),
            }
        }
    }

    #[test]
    fn listing_and_pruning() {
        let root = tempfile::tempdir().unwrap();
        assert!(list(root.path()).unwrap().is_empty());
        let system = root.path();
        std::fs::create_dir_all(system.join("etc/moin")).unwrap();
        let mut made = Vec::new();
        for (appliance, seconds) in [("wiki", 100), ("wiki", 200), ("wiki", 300), ("blog", 150)] {
            let info = Info {
                appliance: appliance.into(),
                sysconf_dirs: vec!["/etc/moin".into()],
                timestamp: rfc3339(seconds),
                version: "1".into(),
                ..Info::default()
            };
            let path = default_path(system, appliance, seconds).unwrap();
            crate::backup::write::create(system, &info, &path, &crate::backup::Quiet).unwrap();
            made.push(path);
        }
        std::fs::write(system.join(BACKUP_DIR).join("junk.abf"), "not a zip").unwrap();
        let listed = list(system).unwrap();
        assert_eq!(listed.len(), 5);
        assert_eq!(listed.iter().filter(|l| l.info.is_none()).count(), 1);
        // The key read once tells each of ours; the unreadable one has no origin.
        assert_eq!(
            listed
                .iter()
                .filter(|l| l.origin == Some(Origin::ThisSystem))
                .count(),
            4
        );
        let would = prune(system, 1, true).unwrap();
        assert_eq!(list(system).unwrap().len(), 5, "a dry run deletes nothing");
        let removed = prune(system, 1, false).unwrap();
        assert_eq!(would, removed);
        assert_eq!(removed, [made[1].clone(), made[0].clone()]);
        assert_eq!(
            list(system).unwrap().len(),
            3,
            "the wiki's newest, the blog's, and the unreadable one"
        );
    }
}
