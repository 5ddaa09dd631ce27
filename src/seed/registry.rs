//! The seed registry under `/var/lib/appliance`: the seeds that appliance packages ship
//! (`seeds/<package>.seed`, owned by dpkg), what appliance-tools applied of them
//! (`state/<package>.seed` and `.info`), and the lock every writer takes (`lock`).

use std::path::{Path, PathBuf};

use fs_err as fs;

use crate::deb::control::Stanza;

/// Where the registry lives, relative to the system's root.
pub const REGISTRY_DIR: &str = "var/lib/appliance";

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error("`{0}` is not a valid package name")]
    PackageName(String),
    #[error("state file `{path}` is damaged: {reason}")]
    DamagedState { path: PathBuf, reason: String },
}

/// The registry of one system, given by its root directory (`/` on a live system).
#[derive(Debug, Clone)]
pub struct Registry {
    base: PathBuf,
}

/// Proof that the registry lock is held; dropping it releases the lock.
#[derive(Debug)]
pub struct RegistryLock {
    _file: fs::File,
}

/// What appliance-tools applied of one appliance's seed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct State {
    pub package: String,
    /// The appliance version whose seed was applied last.
    pub version: String,
    /// Which path applied it: `apt-hook`, `trigger`, `preinst`.
    pub applied_by: String,
    /// Seconds since the epoch.
    pub applied_at: u64,
    /// The applied seed, as shipped.
    pub seed: String,
    /// Seeded packages that were configured before the seed reached debconf, still to be brought
    /// to the seeded configuration.
    pub reconfigure: Vec<String>,
}

/// Package names as Debian Policy 5.6.1 allows them; anything else never becomes a path.
pub fn valid_package_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    bytes.len() >= 2
        && bytes[0].is_ascii_lowercase() | bytes[0].is_ascii_digit()
        && bytes.iter().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'+' | b'-' | b'.')
        })
}

fn checked(name: &str) -> Result<&str, RegistryError> {
    if valid_package_name(name) {
        Ok(name)
    } else {
        Err(RegistryError::PackageName(name.to_owned()))
    }
}

impl Registry {
    pub fn new(root: &Path) -> Self {
        Self {
            base: root.join(REGISTRY_DIR),
        }
    }

    /// `/var/lib/appliance` of this system.
    pub fn base(&self) -> &Path {
        &self.base
    }

    pub fn seeds_dir(&self) -> PathBuf {
        self.base.join("seeds")
    }

    pub fn state_dir(&self) -> PathBuf {
        self.base.join("state")
    }

    /// The shipped seed of `package`, `seeds/<package>.seed`.
    pub fn seed_path(&self, package: &str) -> Result<PathBuf, RegistryError> {
        Ok(self.seeds_dir().join(format!("{}.seed", checked(package)?)))
    }

    /// Takes the registry lock, waiting for another writer to finish.
    pub fn lock(&self) -> Result<RegistryLock, RegistryError> {
        fs::create_dir_all(&self.base)?;
        let path = self.base.join("lock");
        let file = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)?;
        file.file().lock().map_err(|error| {
            std::io::Error::new(
                error.kind(),
                format!("cannot lock `{}`: {error}", path.display()),
            )
        })?;
        Ok(RegistryLock { _file: file })
    }

    /// The shipped seed of `package`, if dpkg installed one.
    pub fn shipped_seed(&self, package: &str) -> Result<Option<Vec<u8>>, RegistryError> {
        read_optional(&self.seed_path(package)?)
    }

    /// The packages that ship a seed now, sorted.
    pub fn shipped(&self) -> Result<Vec<String>, RegistryError> {
        names_with_suffix(&self.seeds_dir(), ".seed")
    }

    /// The packages that have applied state, sorted.
    pub fn recorded(&self) -> Result<Vec<String>, RegistryError> {
        names_with_suffix(&self.state_dir(), ".info")
    }

    /// The state recorded for `package`.
    pub fn state(&self, package: &str) -> Result<Option<State>, RegistryError> {
        let package = checked(package)?;
        let info_path = self.state_dir().join(format!("{package}.info"));
        let Some(info) = read_optional(&info_path)? else {
            return Ok(None);
        };
        let damaged = |reason: &str| RegistryError::DamagedState {
            path: info_path.clone(),
            reason: reason.to_owned(),
        };
        let text = String::from_utf8(info).map_err(|_| damaged("not UTF-8"))?;
        let stanza = Stanza::parse(&text).map_err(|error| damaged(&error.to_string()))?;
        let seed_path = self.state_dir().join(format!("{package}.seed"));
        let seed = read_optional(&seed_path)?.ok_or_else(|| damaged("its `.seed` is missing"))?;
        let field = |name| stanza.get(name).unwrap_or_default().to_owned();
        Ok(Some(State {
            package: package.to_owned(),
            version: field("Version"),
            applied_by: field("Applied-By"),
            applied_at: field("Applied-At").parse().unwrap_or(0),
            seed: String::from_utf8(seed).map_err(|_| damaged("its `.seed` is not UTF-8"))?,
            reconfigure: field("Reconfigure")
                .split_whitespace()
                .map(str::to_owned)
                .collect(),
        }))
    }

    /// Records `state`; the seed copy first, then the info file, each replaced atomically, so a
    /// reader sees either the old state or the new one. The copy is root's alone: a hand-built
    /// appliance's seed may still hold a literal password.
    pub fn write_state(&self, _lock: &RegistryLock, state: &State) -> Result<(), RegistryError> {
        let package = checked(&state.package)?;
        let dir = self.state_dir();
        fs::create_dir_all(&dir)?;
        crate::atomic::write(
            &dir.join(format!("{package}.seed")),
            state.seed.as_bytes(),
            0o600,
        )?;
        let info = format!(
            "Package: {package}\nVersion: {}\nApplied-By: {}\nApplied-At: {}\nSha256: {}\nReconfigure: {}\n",
            state.version,
            state.applied_by,
            state.applied_at,
            sha256_hex(state.seed.as_bytes()),
            state.reconfigure.join(" "),
        );
        crate::atomic::write(&dir.join(format!("{package}.info")), info.as_bytes(), 0o644)?;
        Ok(())
    }

    /// Forgets `package` (on purge). The info file goes first: without it there is no state.
    pub fn remove_state(&self, _lock: &RegistryLock, package: &str) -> Result<bool, RegistryError> {
        let package = checked(package)?;
        let dir = self.state_dir();
        let mut removed = false;
        for suffix in ["info", "seed"] {
            match fs::remove_file(dir.join(format!("{package}.{suffix}"))) {
                Ok(()) => removed = true,
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
                Err(error) => return Err(error.into()),
            }
        }
        if removed {
            crate::atomic::sync_dir(&dir)?;
        }
        Ok(removed)
    }
}

/// SHA-256 of `bytes` in lower-case hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

fn read_optional(path: &Path) -> Result<Option<Vec<u8>>, RegistryError> {
    match fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(error.into()),
    }
}

fn names_with_suffix(dir: &Path, suffix: &str) -> Result<Vec<String>, RegistryError> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(error) => return Err(error.into()),
    };
    let mut names = Vec::new();
    for entry in entries {
        let name = entry?.file_name();
        if let Some(package) = name.to_str().and_then(|n| n.strip_suffix(suffix))
            && valid_package_name(package)
        {
            names.push(package.to_owned());
        }
    }
    names.sort();
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_writer_waits_for_the_lock() {
        let dir = tempfile::tempdir().unwrap();
        let held = Registry::new(dir.path()).lock().unwrap();
        let (sender, receiver) = std::sync::mpsc::channel();
        let root = dir.path().to_owned();
        // Another open of the lock file, as another process's would be.
        let waiter = std::thread::spawn(move || {
            let _lock = Registry::new(&root).lock().unwrap();
            sender.send(std::time::Instant::now()).unwrap();
        });
        std::thread::sleep(std::time::Duration::from_millis(300));
        assert!(
            receiver.try_recv().is_err(),
            "the second writer took the lock while it was held"
        );
        let released = std::time::Instant::now();
        drop(held);
        let acquired = receiver
            .recv_timeout(std::time::Duration::from_secs(10))
            .expect("the second writer never got the lock");
        assert!(acquired >= released);
        waiter.join().unwrap();
    }

    fn state(package: &str, seed: &str) -> State {
        State {
            package: package.into(),
            version: "1.0-1".into(),
            applied_by: "apt-hook".into(),
            applied_at: 1_700_000_000,
            seed: seed.into(),
            reconfigure: vec!["postfix".into(), "dokuwiki".into()],
        }
    }

    #[test]
    fn state_round_trip_and_purge() {
        let root = tempfile::tempdir().unwrap();
        let registry = Registry::new(root.path());
        assert_eq!(registry.state("demo-appliance").unwrap(), None);
        let lock = registry.lock().unwrap();
        let written = state("demo-appliance", "a a/b string c\n");
        registry.write_state(&lock, &written).unwrap();
        assert_eq!(registry.state("demo-appliance").unwrap(), Some(written));
        assert_eq!(registry.recorded().unwrap(), ["demo-appliance"]);
        let info = fs::read_to_string(
            root.path()
                .join("var/lib/appliance/state/demo-appliance.info"),
        )
        .unwrap();
        assert!(info.contains(&format!("Sha256: {}", sha256_hex(b"a a/b string c\n"))));
        // The copy of the seed is root's alone; the info file holds no answer.
        let mode = |name: &str| {
            use std::os::unix::fs::PermissionsExt as _;
            fs::metadata(registry.state_dir().join(name))
                .unwrap()
                .permissions()
                .mode()
                & 0o777
        };
        assert_eq!(mode("demo-appliance.seed"), 0o600);
        assert_eq!(mode("demo-appliance.info"), 0o644);
        assert!(registry.remove_state(&lock, "demo-appliance").unwrap());
        assert!(!registry.remove_state(&lock, "demo-appliance").unwrap());
        assert_eq!(registry.state("demo-appliance").unwrap(), None);
        // No temporary files are left behind.
        let left: Vec<_> = fs::read_dir(registry.state_dir()).unwrap().collect();
        assert!(left.is_empty());
    }

    #[test]
    fn package_names_never_become_paths() {
        for name in ["../etc", "a/b", "A", "x", "", ".hidden", "a b"] {
            assert!(!valid_package_name(name), "{name}");
        }
        for name in ["dokuwiki-appliance", "g++", "0ad", "libc6.1"] {
            assert!(valid_package_name(name), "{name}");
        }
        let registry = Registry::new(Path::new("/nonexistent"));
        assert!(matches!(
            registry.seed_path("../../etc/passwd"),
            Err(RegistryError::PackageName(_))
        ));
    }

    #[test]
    fn damaged_state_is_reported() {
        let root = tempfile::tempdir().unwrap();
        let registry = Registry::new(root.path());
        fs::create_dir_all(registry.state_dir()).unwrap();
        fs::write(registry.state_dir().join("x1.info"), "Package: x1\n").unwrap();
        let error = registry.state("x1").unwrap_err();
        assert!(error.to_string().contains("`.seed` is missing"), "{error}");
    }

    #[test]
    fn shipped_lists_only_seed_files() {
        let root = tempfile::tempdir().unwrap();
        let registry = Registry::new(root.path());
        assert!(registry.shipped().unwrap().is_empty());
        fs::create_dir_all(registry.seeds_dir()).unwrap();
        for name in ["b-appliance.seed", "a-appliance.seed", "README", "Bad.seed"] {
            fs::write(registry.seeds_dir().join(name), "").unwrap();
        }
        assert_eq!(registry.shipped().unwrap(), ["a-appliance", "b-appliance"]);
    }
}
