//! The root of the system a tool works on, found one way for every binary: `--root`, else the
//! `DPKG_ROOT` environment variable (dpkg(1) sets it for the maintainer scripts it runs under
//! `--root`, and honours it itself), else `/`. A root that is named must be a directory: a tool
//! aimed at a mistyped path says so instead of reporting an empty system or making one.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// The environment variable that names the root when no `--root` is given.
pub const ENVIRONMENT: &str = "DPKG_ROOT";

#[derive(Debug, thiserror::Error)]
pub enum SystemRootError {
    #[error("the system root `{}` ({given}) does not exist", .path.display())]
    Missing { path: PathBuf, given: &'static str },
    #[error("the system root `{}` ({given}) is not a directory", .path.display())]
    NotADirectory { path: PathBuf, given: &'static str },
    #[error("cannot reach the system root `{}` ({given})", .path.display())]
    Unreachable {
        path: PathBuf,
        given: &'static str,
        source: std::io::Error,
    },
}

/// The system's root: `explicit` (a tool's `--root`), else `$DPKG_ROOT` when set and not empty,
/// else `/`; a root named either way must be a directory.
pub fn resolve(explicit: Option<PathBuf>) -> Result<PathBuf, SystemRootError> {
    resolve_from(explicit, std::env::var_os(ENVIRONMENT))
}

fn resolve_from(
    explicit: Option<PathBuf>,
    environment: Option<OsString>,
) -> Result<PathBuf, SystemRootError> {
    let (path, given) = match (explicit, environment.filter(|value| !value.is_empty())) {
        (Some(path), _) => (path, "given with --root"),
        (None, Some(value)) => (PathBuf::from(value), "named by DPKG_ROOT"),
        (None, None) => return Ok(PathBuf::from("/")),
    };
    match std::fs::metadata(&path) {
        Ok(metadata) if metadata.is_dir() => Ok(path),
        Ok(_) => Err(SystemRootError::NotADirectory { path, given }),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            Err(SystemRootError::Missing { path, given })
        }
        Err(source) => Err(SystemRootError::Unreachable {
            path,
            given,
            source,
        }),
    }
}

/// The release code name in an `os-release` file's text (`VERSION_CODENAME`).
pub fn codename(os_release: &str) -> Option<String> {
    os_release.lines().find_map(|line| {
        let value = line.strip_prefix("VERSION_CODENAME=")?;
        let value = value.trim().trim_matches(|c| c == '"' || c == '\'');
        (!value.is_empty()).then(|| value.to_owned())
    })
}

/// The Debian release of the system at `root` (`trixie`): its `etc/os-release`'s code name.
pub fn release(root: &Path) -> std::io::Result<String> {
    let file = root.join("etc/os-release");
    let text = fs_err::read_to_string(&file)?;
    codename(&text)
        .ok_or_else(|| std::io::Error::other(format!("no VERSION_CODENAME in {}", file.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_codename_of_a_root() {
        let text = "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nVERSION_CODENAME=bookworm\nID=debian\n";
        assert_eq!(codename(text).as_deref(), Some("bookworm"));
        assert_eq!(codename("ID=debian\n"), None);
        assert_eq!(
            codename("VERSION_CODENAME=\"trixie\"\n").as_deref(),
            Some("trixie")
        );
        let root = tempfile::tempdir().unwrap();
        assert!(release(root.path()).is_err(), "no os-release");
        std::fs::create_dir(root.path().join("etc")).unwrap();
        std::fs::write(root.path().join("etc/os-release"), "ID=debian\n").unwrap();
        let error = release(root.path()).unwrap_err().to_string();
        assert!(error.contains("no VERSION_CODENAME in"), "{error}");
        std::fs::write(root.path().join("etc/os-release"), text).unwrap();
        assert_eq!(release(root.path()).unwrap(), "bookworm");
    }

    #[test]
    fn the_option_then_the_environment_then_slash() {
        let dir = tempfile::tempdir().unwrap();
        let other = tempfile::tempdir().unwrap();
        let given = |explicit: Option<&std::path::Path>, environment: Option<&str>| {
            resolve_from(
                explicit.map(ToOwned::to_owned),
                environment.map(OsString::from),
            )
        };
        assert_eq!(given(None, None).unwrap(), PathBuf::from("/"));
        // dpkg sets DPKG_ROOT empty for the running system.
        assert_eq!(given(None, Some("")).unwrap(), PathBuf::from("/"));
        let environment = other.path().to_str().unwrap();
        assert_eq!(given(None, Some(environment)).unwrap(), other.path());
        assert_eq!(
            given(Some(dir.path()), Some(environment)).unwrap(),
            dir.path()
        );
        assert_eq!(given(Some(dir.path()), None).unwrap(), dir.path());
    }

    #[test]
    fn a_root_that_is_not_a_directory_is_an_error_naming_it_and_where_it_came_from() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("file");
        std::fs::write(&file, b"").unwrap();
        let missing = dir.path().join("nonexistent");
        let message = |path: &std::path::Path, rest: &str| {
            format!("the system root `{}` {rest}", path.display())
        };
        let cases = [
            (
                Some(missing.clone()),
                None,
                message(&missing, "(given with --root) does not exist"),
            ),
            (
                None,
                Some(missing.clone().into()),
                message(&missing, "(named by DPKG_ROOT) does not exist"),
            ),
            (
                Some(file.clone()),
                None,
                message(&file, "(given with --root) is not a directory"),
            ),
            // The option wins even over a good DPKG_ROOT: a mistyped --root is never ignored.
            (
                Some(missing.clone()),
                Some(dir.path().into()),
                message(&missing, "(given with --root) does not exist"),
            ),
        ];
        for (explicit, environment, expected) in cases {
            let error = resolve_from(explicit, environment).unwrap_err().to_string();
            assert_eq!(error, expected);
        }
    }
}
