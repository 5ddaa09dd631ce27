//! Paths inside a backup: never absolute (format 2), never `..`, always inside one of the roots
//! that `info.yaml` names. The original format (version below 2) stored absolute paths; they are
//! read the same way once their leading slash is gone.

/// Why an archive path is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    #[error("`{0}` is empty or not UTF-8")]
    Empty(String),
    #[error("`{0}` is not an absolute path")]
    Relative(String),
    #[error("`{0}` is absolute")]
    Absolute(String),
    #[error("`{0}` climbs out with `..`")]
    Parent(String),
    #[error("`{0}` holds a NUL, a backslash, a tab or a newline")]
    Character(String),
    #[error("`{path}` is outside the backup's roots ({})", .roots.join(", "))]
    OutsideRoots { path: String, roots: Vec<String> },
}

/// A root as `info.yaml` gives it (`/etc/moin`), in archive form (`etc/moin`).
pub fn root_in_archive(root: &str) -> Result<String, PathError> {
    let relative = root
        .strip_prefix('/')
        .ok_or_else(|| PathError::Relative(root.to_owned()))?;
    // No control character: the roots are printed (va-backup show, list, errors, the Backups
    // page), and an escape sequence in a backup's `info.yaml` would be obeyed by a terminal.
    if root.chars().any(char::is_control) {
        return Err(PathError::Character(root.to_owned()));
    }
    normalize(relative, false).map_err(|error| match error {
        PathError::Parent(_) => PathError::Parent(root.to_owned()),
        PathError::Character(_) => PathError::Character(root.to_owned()),
        _ => PathError::Empty(root.to_owned()),
    })
}

/// Checks an archive path and returns it normalized (`./` and duplicate slashes gone, no
/// trailing slash). `absolute_allowed` is for the original format.
pub fn normalize(path: &str, absolute_allowed: bool) -> Result<String, PathError> {
    if path.contains('\0') || path.contains('\\') {
        return Err(PathError::Character(path.to_owned()));
    }
    let relative = match path.strip_prefix('/') {
        Some(rest) if absolute_allowed => rest,
        Some(_) => return Err(PathError::Absolute(path.to_owned())),
        None => path,
    };
    let mut parts = Vec::new();
    for part in relative.split('/') {
        match part {
            "" | "." => {}
            ".." => return Err(PathError::Parent(path.to_owned())),
            part => parts.push(part),
        }
    }
    if parts.is_empty() {
        return Err(PathError::Empty(path.to_owned()));
    }
    Ok(parts.join("/"))
}

/// The root (archive form) that holds `path` (normalized), if any.
pub fn containing_root<'a>(path: &str, roots: &'a [String]) -> Option<&'a str> {
    roots
        .iter()
        .filter(|root| {
            path == root.as_str()
                || path
                    .strip_prefix(root.as_str())
                    .is_some_and(|r| r.starts_with('/'))
        })
        .max_by_key(|root| root.len())
        .map(String::as_str)
}

/// Normalizes `path` and checks it lies inside one of `roots`.
pub fn check(path: &str, roots: &[String], absolute_allowed: bool) -> Result<String, PathError> {
    let normalized = normalize(path, absolute_allowed)?;
    // The directories above a root (`etc` for `etc/moin`) may appear as entries; they hold nothing.
    let is_parent_of_root = roots.iter().any(|root| {
        root.strip_prefix(normalized.as_str())
            .is_some_and(|r| r.starts_with('/'))
    });
    if containing_root(&normalized, roots).is_none() && !is_parent_of_root {
        return Err(PathError::OutsideRoots {
            path: path.to_owned(),
            roots: roots.to_vec(),
        });
    }
    Ok(normalized)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn archive_paths() {
        let roots = vec!["etc/moin".to_owned(), "var/lib/moin/wiki/data".to_owned()];
        let cases: &[(&str, bool, Result<&str, &str>)] = &[
            (
                "etc/moin/wikiconfig.py",
                false,
                Ok("etc/moin/wikiconfig.py"),
            ),
            ("./etc//moin/", false, Ok("etc/moin")),
            ("etc", false, Ok("etc")),
            (
                "var/lib/moin/wiki/data/pages/x",
                false,
                Ok("var/lib/moin/wiki/data/pages/x"),
            ),
            ("/etc/moin/x", true, Ok("etc/moin/x")),
            ("/etc/moin/x", false, Err("absolute")),
            ("etc/moin/../shadow", false, Err("climbs")),
            ("../../etc/passwd", true, Err("climbs")),
            ("etc/moinx/y", false, Err("outside")),
            ("etc/passwd", false, Err("outside")),
            ("", false, Err("empty")),
            ("./", false, Err("empty")),
            ("etc/moin/a\\b", false, Err("NUL")),
        ];
        for (path, absolute, expected) in cases {
            match (check(path, &roots, *absolute), expected) {
                (Ok(got), Ok(want)) => assert_eq!(got, *want, "{path}"),
                (Err(error), Err(want)) => {
                    assert!(error.to_string().contains(want), "{path}: {error}");
                }
                (got, want) => panic!("{path}: got {got:?}, want {want:?}"),
            }
        }
        assert_eq!(root_in_archive("/etc/moin/").unwrap(), "etc/moin");
        assert!(root_in_archive("etc/moin").is_err());
        assert!(root_in_archive("/etc/../moin").is_err());
        // A control character (an OSC escape, a tab) would reach a terminal or break a line.
        assert!(root_in_archive("/etc/\u{1b}]0;owned\u{7}").is_err());
        assert!(root_in_archive("/etc/mo\tin").is_err());
        assert_eq!(containing_root("etc/moin/x", &roots), Some("etc/moin"));
    }
}
