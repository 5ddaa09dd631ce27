//! The APT sources of an image: read at run time from the host's own sources (the entries for the
//! host's release, moved to the image's suite), or one `--mirror`; never a host name of our own.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// One sources file to hand to mmdebstrap and to the check: its file name decides the format
/// (`.list`: one-line entries; `.sources`: deb822 stanzas).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceFile {
    pub name: String,
    pub text: String,
}

/// The host's release: `/etc/os-release`'s code name.
pub fn host_codename() -> std::io::Result<String> {
    crate::system_root::release(Path::new("/"))
}

/// The host's APT source files, in APT's order.
pub fn host_source_files() -> Vec<PathBuf> {
    let mut files = vec![PathBuf::from("/etc/apt/sources.list")];
    if let Ok(entries) = fs_err::read_dir("/etc/apt/sources.list.d") {
        let mut more: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "list" || e == "sources"))
            .collect();
        more.sort();
        files.extend(more);
    }
    files.retain(|f| f.is_file());
    files
}

/// `suite` moved from the host's release to the image's: `bookworm` → `trixie`,
/// `bookworm-security` → `trixie-security`; `None` for a suite of another release.
fn move_suite(suite: &str, host: &str, target: &str) -> Option<String> {
    if suite == host {
        return Some(target.to_owned());
    }
    let rest = suite.strip_prefix(host)?;
    (rest.starts_with('-') || rest.starts_with('/')).then(|| format!("{target}{rest}"))
}

/// The entries of `files` that name the host's release `host`, moved to `target`: the sources an
/// image of `target` gets from this host. Other entries (third-party archives named after the
/// release in another way, disabled ones, `deb-src`) are left out.
pub fn for_suite(files: &[(PathBuf, String)], host: &str, target: &str) -> Vec<SourceFile> {
    let mut out = Vec::new();
    for (index, (path, text)) in files.iter().enumerate() {
        let deb822 = path.extension().is_some_and(|e| e == "sources");
        let moved = if deb822 {
            deb822_for_suite(text, host, target)
        } else {
            one_line_for_suite(text, host, target)
        };
        if moved.is_empty() {
            continue;
        }
        let stem = path
            .file_stem()
            .map_or_else(|| "host".into(), |s| s.to_string_lossy().into_owned());
        let extension = if deb822 { "sources" } else { "list" };
        out.push(SourceFile {
            name: format!("{index:02}-{stem}.{extension}"),
            text: moved,
        });
    }
    out
}

fn one_line_for_suite(text: &str, host: &str, target: &str) -> String {
    let mut out = String::new();
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or_default().trim();
        let Some(rest) = line.strip_prefix("deb ").map(str::trim_start) else {
            continue;
        };
        // deb [options] URI SUITE COMPONENTS…
        let (options, rest) = match rest.strip_prefix('[') {
            Some(after) => match after.split_once(']') {
                Some((options, rest)) => (Some(options.trim()), rest.trim_start()),
                None => continue,
            },
            None => (None, rest),
        };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let [uri, suite, components @ ..] = fields.as_slice() else {
            continue;
        };
        let Some(suite) = move_suite(suite, host, target) else {
            continue;
        };
        out.push_str("deb ");
        if let Some(options) = options {
            let _ = write!(out, "[{options}] ");
        }
        let _ = write!(out, "{uri} {suite}");
        for component in components {
            out.push(' ');
            out.push_str(component);
        }
        out.push('\n');
    }
    out
}

/// One deb822 stanza: its fields in order, each value with its continuation lines.
type Stanza = Vec<(String, String)>;

fn deb822_stanzas(text: &str) -> Vec<Stanza> {
    let mut stanzas = Vec::new();
    let mut stanza: Stanza = Vec::new();
    for line in text.lines() {
        if line.starts_with('#') {
            continue;
        }
        if line.trim().is_empty() {
            if !stanza.is_empty() {
                stanzas.push(std::mem::take(&mut stanza));
            }
            continue;
        }
        if line.starts_with([' ', '\t']) {
            if let Some((_, value)) = stanza.last_mut() {
                value.push('\n');
                value.push_str(line);
            }
            continue;
        }
        if let Some((field, value)) = line.split_once(':') {
            stanza.push((field.trim().to_owned(), value.trim().to_owned()));
        }
    }
    if !stanza.is_empty() {
        stanzas.push(stanza);
    }
    stanzas
}

fn deb822_for_suite(text: &str, host: &str, target: &str) -> String {
    let field = |stanza: &Stanza, name: &str| {
        stanza
            .iter()
            .find(|(f, _)| f.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    };
    let mut out = String::new();
    for mut stanza in deb822_stanzas(text) {
        let types = field(&stanza, "Types").unwrap_or_default();
        let enabled = field(&stanza, "Enabled").is_none_or(|v| !v.eq_ignore_ascii_case("no"));
        if !enabled || !types.split_whitespace().any(|t| t == "deb") {
            continue;
        }
        let suites: Vec<String> = field(&stanza, "Suites")
            .unwrap_or_default()
            .split_whitespace()
            .filter_map(|s| move_suite(s, host, target))
            .collect();
        if suites.is_empty() {
            continue;
        }
        for (name, value) in &mut stanza {
            if name.eq_ignore_ascii_case("Types") {
                "deb".clone_into(value);
            } else if name.eq_ignore_ascii_case("Suites") {
                *value = suites.join(" ");
            }
        }
        if !out.is_empty() {
            out.push('\n');
        }
        for (name, value) in &stanza {
            let _ = writeln!(out, "{name}: {value}");
        }
    }
    out
}

/// The sources of one `--mirror` URL: its main component for `suite`.
pub fn mirror(url: &str, suite: &str) -> SourceFile {
    SourceFile {
        name: "00-mirror.list".into(),
        text: format!("deb {url} {suite} main\n"),
    }
}

/// An extra repository given with `--repo`: a local directory holding a flat repository (its
/// `Packages` at the top, as `dpkg-scanpackages` makes it), or one sources.list line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Repo {
    /// A local flat repository, trusted as the build's own; copied into the root for the
    /// installation only, then removed.
    Dir(PathBuf),
    /// A `deb …` line, kept in the image so that the appliance receives its updates.
    Line(String),
}

impl Repo {
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if text.starts_with("deb ") {
            return Ok(Self::Line(text.to_owned()));
        }
        if text.contains("://") {
            // A URL alone: a flat repository at that address.
            return Ok(Self::Line(format!("deb {text} ./")));
        }
        let dir = Path::new(text);
        if !dir.join("Packages").is_file() && !dir.join("Packages.gz").is_file() {
            return Err(format!(
                "`{text}` is neither a `deb …` line, a URL, nor a directory holding a flat repository \
                 (its `Packages` index at the top: run `dpkg-scanpackages . > Packages` there)"
            ));
        }
        let dir = std::path::absolute(dir).map_err(|e| format!("`{text}`: {e}"))?;
        Ok(Self::Dir(dir))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deb822_entries_of_the_release_are_moved_and_others_left_out() {
        let text = "Types: deb deb-src\n# a comment\nURIs: http://mirror.invalid/debian\nSuites: bookworm bookworm-updates\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n\nTypes: deb\nURIs: http://mirror.invalid/debian-security\nSuites: bookworm-security\nComponents: main\nSigned-By:\n -----BEGIN PGP PUBLIC KEY BLOCK-----\n .\n -----END PGP PUBLIC KEY BLOCK-----\n\nTypes: deb\nURIs: https://other.invalid/x\nSuites: nodistro\nComponents: main\n\nTypes: deb\nEnabled: no\nURIs: http://off.invalid\nSuites: bookworm\nComponents: main\n";
        let files = vec![(
            PathBuf::from("/etc/apt/sources.list.d/debian.sources"),
            text.to_owned(),
        )];
        let out = for_suite(&files, "bookworm", "trixie");
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].name, "00-debian.sources");
        assert_eq!(
            out[0].text,
            "Types: deb\nURIs: http://mirror.invalid/debian\nSuites: trixie trixie-updates\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n\nTypes: deb\nURIs: http://mirror.invalid/debian-security\nSuites: trixie-security\nComponents: main\nSigned-By: \n -----BEGIN PGP PUBLIC KEY BLOCK-----\n .\n -----END PGP PUBLIC KEY BLOCK-----\n"
        );
    }

    #[test]
    fn one_line_entries_keep_their_options() {
        let text = "deb [arch=amd64 signed-by=/k.gpg] http://mirror.invalid/debian bookworm main contrib # x\n# deb http://c.invalid bookworm main\ndeb-src http://mirror.invalid/debian bookworm main\ndeb https://packages.invalid/apt cloud-sdk-bookworm main\ndeb http://mirror.invalid/debian-security bookworm-security/updates main\n";
        let files = vec![(PathBuf::from("/etc/apt/sources.list"), text.to_owned())];
        let out = for_suite(&files, "bookworm", "bookworm");
        assert_eq!(
            out[0].text,
            "deb [arch=amd64 signed-by=/k.gpg] http://mirror.invalid/debian bookworm main contrib\ndeb http://mirror.invalid/debian-security bookworm-security/updates main\n"
        );
        assert!(for_suite(&files, "bullseye", "bookworm").is_empty());
    }

    #[test]
    fn repositories() {
        assert_eq!(
            Repo::parse("deb [trusted=yes] http://r.invalid/ ./").unwrap(),
            Repo::Line("deb [trusted=yes] http://r.invalid/ ./".into())
        );
        assert_eq!(
            Repo::parse("https://r.invalid/repo").unwrap(),
            Repo::Line("deb https://r.invalid/repo ./".into())
        );
        let dir = tempfile::tempdir().unwrap();
        let error = Repo::parse(&dir.path().display().to_string()).unwrap_err();
        assert!(error.contains("dpkg-scanpackages"), "{error}");
        fs_err::write(dir.path().join("Packages"), "").unwrap();
        assert_eq!(
            Repo::parse(&dir.path().display().to_string()).unwrap(),
            Repo::Dir(dir.path().to_owned())
        );
    }
}
