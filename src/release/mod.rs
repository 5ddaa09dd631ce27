//! The move of an appliance system to the next Debian release (`va-upgrade-release`): its APT
//! sources ([`sources`]), the snapshot of its files that lets an upgrade cut short be undone
//! ([`snapshot`]), and what must hold before it starts ([`problems`]).

pub mod snapshot;
pub mod sources;

use std::path::{Path, PathBuf};

/// What the health checks follow during a release upgrade (`va-backup health`'s `after`).
pub const AFTER_RELEASE_UPGRADE: &str = "a release upgrade";

/// The one-line sources file and the directory of the others, relative to the system's root.
const SOURCES_LIST: &str = "etc/apt/sources.list";
const SOURCES_DIR: &str = "etc/apt/sources.list.d";

/// The free space needed besides what the snapshot keeps: the new release's downloads and the
/// files unpacked beside the old ones.
pub const HEADROOM: u64 = 1 << 30;

/// The APT sources files of the system at `root` that APT reads: `sources.list`, then the
/// `*.list` and `*.sources` files of `sources.list.d` in APT's order (by name).
pub fn sources_files(root: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    let list = root.join(SOURCES_LIST);
    if list.is_file() {
        files.push(list);
    }
    let dir = root.join(SOURCES_DIR);
    let mut others: Vec<PathBuf> = match fs_err::read_dir(&dir) {
        Ok(entries) => entries
            .map(|entry| entry.map(|e| e.path()))
            .collect::<Result<_, _>>()?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(e),
    };
    others.retain(|path| {
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
        // APT's own rule: letters, digits, `_`, `-` and `.` only, ending in .list or .sources
        // (case and all).
        name.is_some_and(|n| {
            matches!(
                Path::new(&n).extension().and_then(|e| e.to_str()),
                Some("list" | "sources")
            ) && n
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        }) && path.is_file()
    });
    others.sort();
    files.extend(others);
    Ok(files)
}

/// Every sources file of the system at `root` moved from release `from` to `to`, by path; the
/// files are not written.
pub fn move_sources(
    root: &Path,
    origins: &sources::Origins,
    from: &str,
    to: &str,
) -> std::io::Result<Vec<(PathBuf, sources::Moved)>> {
    let mut all = Vec::new();
    for path in sources_files(root)? {
        let text = fs_err::read_to_string(&path)?;
        let name = path.strip_prefix(root).map_or_else(
            |_| path.display().to_string(),
            |p| format!("/{}", p.display()),
        );
        let moved = if path.extension().is_some_and(|e| e == "sources") {
            sources::move_deb822(&name, &text, origins, from, to)
        } else {
            sources::move_one_line(&name, &text, origins, from, to)
        };
        all.push((path, moved));
    }
    Ok(all)
}

/// Writes the files of `moved` whose text changed, each atomically with the mode it had.
pub fn write_sources(moved: &[(PathBuf, sources::Moved)]) -> std::io::Result<usize> {
    use std::os::unix::fs::PermissionsExt as _;
    let mut written = 0;
    for (path, moved) in moved {
        if moved.moved.is_empty() {
            continue;
        }
        let mode = fs_err::metadata(path)?.permissions().mode() & 0o7777;
        crate::atomic::write(path, moved.text.as_bytes(), mode)?;
        written += 1;
    }
    Ok(written)
}

/// The packages an `apt-get -s` run would install or upgrade (its `Inst PACKAGE …` lines).
pub fn simulated_installs(simulation: &str) -> Vec<String> {
    simulation
        .lines()
        .filter_map(|line| line.strip_prefix("Inst "))
        .filter_map(|rest| rest.split_whitespace().next())
        .map(str::to_owned)
        .collect()
}

/// The files whose contents differ from their package in `dpkg --verify`'s output
/// (`??5??????   /usr/lib/locale/locale-archive`), configuration files (`c`) aside: the
/// administrator's to change.
pub fn changed_in_place(verify: &str) -> Vec<String> {
    verify
        .lines()
        .filter_map(|line| {
            let (checks, rest) = line.split_once(' ')?;
            let digest = checks.as_bytes().get(2)?;
            let (kind, path) = rest
                .trim_start()
                .split_once('/')
                .map_or(("", rest), |(k, p)| (k.trim(), p));
            (*digest == b'5' && kind != "c").then(|| format!("/{path}"))
        })
        .collect()
}

/// What the system is like before a release upgrade, as [`problems`] judges it.
#[derive(Debug, Default, Clone)]
pub struct Before {
    /// The release it runs (`VERSION_CODENAME`), if known.
    pub release: Option<String>,
    /// What `dpkg --audit` says (empty when every package is installed whole).
    pub audit: String,
    /// The updates of the current release not installed yet.
    pub pending: Vec<String>,
    /// The appliances whose health checks fail, each with its summary.
    pub unhealthy: Vec<String>,
    /// The free bytes on the file system of the root and the snapshot.
    pub free: u64,
    /// The bytes the snapshot keeps of the old release (its linked trees' files).
    pub kept: u64,
}

/// Why the system at that state cannot move to the next release now, each said for its
/// administrator with the way out; empty when it can.
pub fn problems(before: &Before) -> Vec<String> {
    let mut problems = Vec::new();
    match before.release.as_deref() {
        None => problems.push("this system's release is unknown (no VERSION_CODENAME in /etc/os-release)".to_owned()),
        Some(release) if sources::next_codename(release).is_none() => problems.push(format!(
            "this system runs {release}, which va-upgrade-release does not upgrade from (it moves bookworm to trixie)"
        )),
        Some(_) => {}
    }
    if !before.audit.trim().is_empty() {
        problems.push(format!(
            "some packages are not installed whole (`dpkg --audit`); finish them first with `dpkg --configure -a`:\n{}",
            before.audit.trim_end()
        ));
    }
    if !before.pending.is_empty() {
        problems.push(format!(
            "{} update{} of this release {} not installed yet ({}); install them first (appliance-control's Updates page, or `apt-get full-upgrade`)",
            before.pending.len(),
            if before.pending.len() == 1 { "" } else { "s" },
            if before.pending.len() == 1 { "is" } else { "are" },
            before.pending.join(", ")
        ));
    }
    for unhealthy in &before.unhealthy {
        problems.push(format!(
            "the appliance does not work now, so its working after the upgrade could not be told: {unhealthy}"
        ));
    }
    let needed = before.kept.saturating_add(HEADROOM);
    if before.free < needed {
        problems.push(format!(
            "{} free, and the upgrade needs {}: the old release's files ({}) stay until it is known to work, beside the new release's and its downloads; free some space",
            crate::backup::safety::human_size(before.free),
            crate::backup::safety::human_size(needed),
            crate::backup::safety::human_size(before.kept)
        ));
    }
    problems
}

/// Why a release upgrade could not be rolled back.
#[derive(Debug, thiserror::Error)]
pub enum RollBackError {
    #[error("cannot put back the files of the release left")]
    Snapshot(#[from] snapshot::SnapshotError),
    #[error("cannot read the safety backups")]
    Safety(#[source] std::io::Error),
    #[error("the files of {from} are back, but not the appliance's data from {backup}")]
    Restore {
        from: String,
        backup: PathBuf,
        #[source]
        source: crate::backup::plan::PlanError,
    },
}

/// What [`roll_back`] did.
#[derive(Debug)]
pub struct RolledBack {
    /// The release the system runs again.
    pub from: String,
    pub files: snapshot::PutBack,
    /// The safety backup whose data was restored: the one the upgrade's transaction made, if it
    /// got as far as that.
    pub data: Option<PathBuf>,
}

/// Puts the system at `root` back as it was before its release upgrade: the files of the
/// snapshot (programs, configuration, dpkg's database), then the appliance's data from the safety
/// backup that the upgrade's transaction made (the APT hook's, before dpkg changed anything),
/// whose record then says it was rolled back. `between` runs after the files and before the data
/// (systemd starts again from the old release's files there, before the restore stops and starts
/// the services).
/// Idempotent: a rollback cut short runs again.
pub fn roll_back(root: &Path, between: &mut dyn FnMut()) -> Result<RolledBack, RollBackError> {
    let made = snapshot::read(root)?;
    let files = snapshot::put_back(root)?;
    between();
    let since =
        crate::backup::safety::made_since(root, &made.taken).map_err(RollBackError::Safety)?;
    let data = match since {
        Some((path, record)) => {
            crate::backup::plan::restore(
                root,
                &path,
                &crate::backup::plan::RestoreRequest::accepting(),
                Box::new(crate::backup::Quiet),
            )
            .map_err(|source| RollBackError::Restore {
                from: made.from.clone(),
                backup: path.clone(),
                source,
            })?;
            crate::backup::safety::mark_rolled_back(&path, record)
                .map_err(RollBackError::Safety)?;
            Some(path)
        }
        None => None,
    };
    Ok(RolledBack {
        from: made.from,
        files,
        data,
    })
}

#[cfg(test)]
mod tests;
