//! Seed files: the answers an appliance gives its dependencies' debconf questions, in the format of
//! debconf-set-selections(1): `owner question type value`, `#` comments, blank lines, and lines
//! continued with a final backslash. Types are those of debconf-devel(7) templates, plus `seen`.
//!
//! A seed in an appliance's source may say that an answer is for some Debian releases only: the
//! comment `#release: bookworm` (one or more code names) right above it. `dh_appliance` builds the
//! package's seed for the release it builds on ([`for_release`]), so a shipped seed has none.

use std::collections::HashSet;
use std::fmt;
use std::path::PathBuf;

/// Question types a seed line may carry.
pub const TYPES: &[&str] = &[
    "string",
    "password",
    "boolean",
    "select",
    "multiselect",
    "note",
    "text",
    "title",
    "error",
    "seen",
];

/// One answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Line of the seed file where the entry starts (1-based).
    pub line: usize,
    pub owner: String,
    pub question: String,
    pub kind: String,
    pub value: String,
}

impl Entry {
    /// What identifies the answer: a `seen` line and a value line for one question are distinct.
    fn key(&self) -> (&str, bool) {
        (&self.question, self.kind == "seen")
    }

    /// Whether `other` gives the same answer (its line number aside).
    fn same_answer(&self, other: &Self) -> bool {
        self.owner == other.owner && self.kind == other.kind && self.value == other.value
    }
}

impl fmt::Display for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {}", self.owner, self.question, self.kind)?;
        if !self.value.is_empty() {
            write!(f, " {}", self.value)?;
        }
        Ok(())
    }
}

/// A parsed and validated seed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Seed {
    pub entries: Vec<Entry>,
}

/// Why a seed is refused; every variant names the line.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum SeedError {
    #[error("the seed is not UTF-8 text")]
    NotUtf8,
    #[error("line {line}: expected `owner question type value`")]
    Syntax { line: usize },
    #[error("line {line}: unknown type `{kind}`")]
    UnknownType { line: usize, kind: String },
    #[error("line {line}: question `{question}` has no `/` (expected `package/name`)")]
    QuestionName { line: usize, question: String },
    #[error(
        "line {line}: `{question}` is `{kind}`, so its value must be `true` or `false`, not `{value}`"
    )]
    NotBoolean {
        line: usize,
        question: String,
        kind: String,
        value: String,
    },
    #[error("line {line}: `{question}` is answered already on line {first}")]
    Duplicate {
        line: usize,
        first: usize,
        question: String,
    },
    #[error("line {line}: the value ends in white space, which debconf would keep; remove it")]
    TrailingSpace { line: usize },
    #[error("line {line}: the file ends inside a continued line")]
    UnfinishedContinuation { line: usize },
    #[error(
        "line {line}: `{question}` is `{kind}`, but a generated secret (`@secret:…`) answers only a question of type `password`"
    )]
    MarkerType {
        line: usize,
        question: String,
        kind: String,
    },
    #[error(
        "line {line}: `@secret:{name}` is not a valid secret name (lower-case letters, digits and `-`, at most 64)"
    )]
    MarkerName { line: usize, name: String },
    #[error(
        "line {line}: a site's seed gives its own values; `@secret:…` belongs in an appliance's seed"
    )]
    MarkerInSiteSeed { line: usize },
    #[error(
        "line {line}: expected `#release: NAME…`, Debian code names (lower-case letters) of the releases the next answer is for"
    )]
    ReleaseDirective { line: usize },
    #[error("line {line}: `#release:` must stand right above the answer it is for")]
    DanglingRelease { line: usize },
}

impl SeedError {
    /// The line the error is about, if any.
    pub fn line(&self) -> Option<usize> {
        match self {
            Self::NotUtf8 => None,
            Self::Syntax { line }
            | Self::UnknownType { line, .. }
            | Self::QuestionName { line, .. }
            | Self::NotBoolean { line, .. }
            | Self::Duplicate { line, .. }
            | Self::TrailingSpace { line }
            | Self::UnfinishedContinuation { line }
            | Self::MarkerType { line, .. }
            | Self::MarkerName { line, .. }
            | Self::MarkerInSiteSeed { line }
            | Self::ReleaseDirective { line }
            | Self::DanglingRelease { line } => Some(*line),
        }
    }
}

/// Where a seed comes from, as its refusal names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// The seed an appliance ships: where the package installs it, or where dpkg put it; in the
    /// `.deb` when it was read from one.
    Package {
        package: String,
        path: PathBuf,
        deb: Option<PathBuf>,
    },
    /// The seed an appliance's preinst embeds.
    Preinst { package: String },
    /// A site's own answers (`Appliance::Site-Seed`, va-build's `--seed`): the file, when known,
    /// and what gave it.
    Site {
        path: Option<PathBuf>,
        given_by: &'static str,
    },
    /// A seed file given on the command line.
    File(PathBuf),
}

/// A seed refused: where it comes from, with the line and the reason as its source. The hook, the
/// trigger, the preinst, `va-seed` and va-build all say it so.
#[derive(Debug, PartialEq, Eq)]
pub struct InvalidSeed {
    pub origin: Origin,
    pub error: SeedError,
}

impl fmt::Display for InvalidSeed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.origin {
            Origin::Package { package, path, deb } => {
                write!(f, "`{package}`: invalid seed `{}`", path.display())?;
                match deb {
                    Some(deb) => write!(f, " in `{}`", deb.display()),
                    None => Ok(()),
                }
            }
            Origin::Preinst { package } => {
                write!(f, "`{package}`: invalid seed `(embedded in the preinst)`")
            }
            Origin::Site { path, given_by } => match path {
                Some(path) => write!(f, "invalid site seed `{}` ({given_by})", path.display()),
                None => write!(f, "invalid site seed ({given_by})"),
            },
            Origin::File(path) => write!(f, "invalid seed `{}`", path.display()),
        }
    }
}

impl std::error::Error for InvalidSeed {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.error)
    }
}

impl Seed {
    /// Parses and validates seed bytes.
    pub fn parse_bytes(bytes: &[u8]) -> Result<Self, SeedError> {
        Self::parse(std::str::from_utf8(bytes).map_err(|_| SeedError::NotUtf8)?)
    }

    /// Parses and validates seed text; the first error, if any.
    pub fn parse(text: &str) -> Result<Self, SeedError> {
        let (seed, mut errors) = Self::scan(text, None);
        if errors.is_empty() {
            Ok(seed)
        } else {
            Err(errors.remove(0))
        }
    }

    /// [`Seed::parse`], keeping only the answers Debian `release` gets (those that a `#release:`
    /// line gives to other releases left out, as [`for_release`] leaves them out); each entry keeps
    /// its line in `text`, so that what is said of it points into the file as written.
    pub fn parse_for_release(text: &str, release: &str) -> Result<Self, SeedError> {
        let (seed, mut errors) = Self::scan(text, Some(release));
        if errors.is_empty() {
            Ok(seed)
        } else {
            Err(errors.remove(0))
        }
    }

    /// Parses seed bytes, reporting every error in the order of their lines (`va-seed validate`
    /// shows them all, not the first only).
    pub fn parse_all(bytes: &[u8]) -> Result<Self, Vec<SeedError>> {
        let text = std::str::from_utf8(bytes).map_err(|_| vec![SeedError::NotUtf8])?;
        match Self::scan(text, None) {
            (seed, errors) if errors.is_empty() => Ok(seed),
            (_, errors) => Err(errors),
        }
    }

    /// The valid entries (those for `release` only, when given) and the errors of every other
    /// line, whatever release it is for.
    fn scan(text: &str, release: Option<&str>) -> (Self, Vec<SeedError>) {
        let mut entries: Vec<Entry> = Vec::new();
        let mut errors = Vec::new();
        // Each question's answers so far: their lines and releases (`None`: every release).
        let mut seen: std::collections::HashMap<(String, bool), Vec<Answered>> =
            std::collections::HashMap::new();
        for logical in logical_lines(text) {
            let (line, _, text) = match logical {
                Ok(logical) => logical,
                Err(error) => {
                    errors.push(error);
                    break;
                }
            };
            let (releases, trimmed) = match text {
                Logical::Blank | Logical::Directive => continue,
                Logical::Answer { releases, text } => (releases, text),
                Logical::Problem(error) => {
                    errors.push(error);
                    continue;
                }
            };
            let entry = match parse_line(line, &trimmed) {
                Ok(entry) => entry,
                Err(error) => {
                    errors.push(error);
                    continue;
                }
            };
            let answers = seen
                .entry((entry.question.clone(), entry.kind == "seen"))
                .or_default();
            // Two answers to one question are one too many unless their releases are apart.
            let overlapping = answers.iter().find(|(_, other)| match (&releases, other) {
                (Some(mine), Some(theirs)) => mine.iter().any(|r| theirs.contains(r)),
                _ => true,
            });
            if let Some((first, _)) = overlapping {
                errors.push(SeedError::Duplicate {
                    line,
                    first: *first,
                    question: entry.question,
                });
                continue;
            }
            let wanted = match (release, &releases) {
                (Some(release), Some(names)) => names.iter().any(|n| n == release),
                _ => true,
            };
            answers.push((line, releases));
            if wanted {
                entries.push(entry);
            }
        }
        (Self { entries }, errors)
    }

    /// Parses a site's seed (`Appliance::Site-Seed`, va-build's `--seed`): the site's own values,
    /// so no marker asks for a generated one.
    pub fn parse_site(bytes: &[u8]) -> Result<Self, SeedError> {
        let seed = Self::parse_bytes(bytes)?;
        match seed
            .entries
            .iter()
            .find(|e| crate::secrets::marker(&e.value).is_some())
        {
            Some(entry) => Err(SeedError::MarkerInSiteSeed { line: entry.line }),
            None => Ok(seed),
        }
    }

    /// The entries that answer a password question with a literal value: every system that
    /// applies the seed shares it. (An empty answer is no password; a marker is generated.)
    pub fn literal_passwords(&self) -> Vec<&Entry> {
        self.entries
            .iter()
            .filter(|e| {
                e.kind == "password"
                    && !e.value.is_empty()
                    && crate::secrets::marker(&e.value).is_none()
            })
            .collect()
    }

    /// The names of the secrets the seed asks to be generated, each once, in order.
    pub fn secret_names(&self) -> Vec<&str> {
        crate::secrets::names(&self.entries)
    }

    /// The packages whose questions the seed answers (the owners), each once, in order.
    pub fn owners(&self) -> Vec<&str> {
        let mut owners: Vec<&str> = Vec::new();
        for entry in &self.entries {
            for owner in entry.owner.split(',').map(str::trim) {
                if !owner.is_empty() && !owners.contains(&owner) {
                    owners.push(owner);
                }
            }
        }
        owners
    }

    /// The entries of `self` that `previous` does not give in the same way: what an upgrade from
    /// `previous` must apply so that an administrator's later answers to other questions survive.
    pub fn changed_since<'a>(&'a self, previous: &Seed) -> Vec<&'a Entry> {
        self.entries
            .iter()
            .filter(|entry| {
                !previous
                    .entries
                    .iter()
                    .any(|old| old.key() == entry.key() && old.same_answer(entry))
            })
            .collect()
    }

    /// The entries of `previous` that `self` no longer answers.
    pub fn removed_since<'a>(&self, previous: &'a Seed) -> Vec<&'a Entry> {
        let keys: HashSet<(&str, bool)> = self.entries.iter().map(Entry::key).collect();
        previous
            .entries
            .iter()
            .filter(|old| !keys.contains(&old.key()))
            .collect()
    }

    /// debconf-set-selections input for `entries`.
    pub fn render<'a>(entries: impl IntoIterator<Item = &'a Entry>) -> String {
        entries.into_iter().fold(String::new(), |mut text, entry| {
            text.push_str(&entry.to_string());
            text.push('\n');
            text
        })
    }
}

/// An answer's line and the releases it is for (`None`: every release).
type Answered = (usize, Option<Vec<String>>);

/// The directive that limits the answer below it to some Debian releases.
const RELEASE_DIRECTIVE: &str = "#release:";

/// A logical line of a seed (continuations joined), as [`logical_lines`] gives them.
enum Logical {
    /// Blank, or a comment.
    Blank,
    /// A well-formed `#release:` line, whose releases the answer below it gets.
    Directive,
    /// An answer's text (trimmed at the start), with the releases a directive above gave it.
    Answer {
        releases: Option<Vec<String>>,
        text: String,
    },
    /// A directive that is malformed or stands above no answer.
    Problem(SeedError),
}

/// The logical lines of `text`, each with the first and the last physical line it spans (1-based;
/// a problem with a directive names the directive's line). Stops at a continuation that the file
/// ends in. [`Seed::scan`] parses them; [`for_release`] keeps or leaves out their physical lines.
fn logical_lines(
    text: &str,
) -> impl Iterator<Item = Result<(usize, usize, Logical), SeedError>> + '_ {
    let mut lines = text.lines().enumerate();
    let mut pending: Option<(usize, Vec<String>)> = None;
    let mut done = false;
    let dangling = |above| {
        (
            above,
            above,
            Logical::Problem(SeedError::DanglingRelease { line: above }),
        )
    };
    std::iter::from_fn(move || {
        if done {
            return None;
        }
        let Some((index, first)) = lines.next() else {
            done = true;
            return pending.take().map(|(above, _)| Ok(dangling(above)));
        };
        let line = index + 1;
        let mut last = line;
        let mut logical = first.to_owned();
        while logical.ends_with('\\') {
            logical.pop();
            let Some((index, next)) = lines.next() else {
                done = true;
                return Some(Err(SeedError::UnfinishedContinuation { line }));
            };
            last = index + 1;
            logical.push_str(next);
        }
        let trimmed = logical.trim_start();
        if let Some(names) = trimmed.strip_prefix(RELEASE_DIRECTIVE) {
            let names: Vec<String> = names.split_whitespace().map(str::to_owned).collect();
            let valid = !names.is_empty()
                && names
                    .iter()
                    .all(|n| n.bytes().all(|b| b.is_ascii_lowercase()));
            // A directive above another leaves the first one above nothing.
            let above = pending.replace((line, names));
            return Some(Ok(match (valid, above) {
                (false, _) => {
                    pending = None;
                    (
                        line,
                        last,
                        Logical::Problem(SeedError::ReleaseDirective { line }),
                    )
                }
                (true, Some((above, _))) => dangling(above),
                (true, None) => (line, last, Logical::Directive),
            }));
        }
        if trimmed.is_empty() || trimmed.starts_with('#') {
            return Some(Ok(match pending.take() {
                Some((above, _)) => dangling(above),
                None => (line, last, Logical::Blank),
            }));
        }
        Some(Ok((
            line,
            last,
            Logical::Answer {
                releases: pending.take().map(|(_, names)| names),
                text: trimmed.to_owned(),
            },
        )))
    })
}

/// Whether `text` has a well-formed `#release:` line: a seed whose answers differ by release.
pub fn names_releases(text: &str) -> bool {
    logical_lines(text).any(|l| matches!(l, Ok((_, _, Logical::Directive))))
}

/// The seed `text` as Debian `release` (a code name) gets it: each answer that a `#release:` line
/// gives to other releases left out, with the directives themselves; every other line (comments
/// among them) as it was. The seed is validated first: its first error, if any.
pub fn for_release(text: &str, release: &str) -> Result<String, SeedError> {
    Seed::parse(text)?;
    let physical: Vec<&str> = text.lines().collect();
    let mut out = String::with_capacity(text.len());
    for logical in logical_lines(text) {
        // Valid (parsed above): no error, no problem.
        let (first, last, kind) = logical?;
        let kept = match kind {
            Logical::Directive => false,
            Logical::Answer {
                releases: Some(names),
                ..
            } => names.iter().any(|n| n == release),
            Logical::Blank | Logical::Answer { .. } | Logical::Problem(_) => true,
        };
        if kept {
            for line in &physical[first - 1..last] {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    Ok(out)
}

fn parse_line(line: usize, text: &str) -> Result<Entry, SeedError> {
    // As debconf-set-selections does: three words, then one white-space character, then the value.
    let mut rest = text;
    let mut words = Vec::with_capacity(3);
    for _ in 0..3 {
        rest = rest.trim_start();
        let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
        if end == 0 {
            return Err(SeedError::Syntax { line });
        }
        words.push(&rest[..end]);
        rest = &rest[end..];
    }
    let value = rest
        .char_indices()
        .next()
        .map_or("", |(_, c)| &rest[c.len_utf8()..]);
    let (owner, question, kind) = (words[0], words[1], words[2]);
    if !TYPES.contains(&kind) {
        return Err(SeedError::UnknownType {
            line,
            kind: kind.to_owned(),
        });
    }
    if !question.contains('/') || question.starts_with('/') || question.ends_with('/') {
        return Err(SeedError::QuestionName {
            line,
            question: question.to_owned(),
        });
    }
    if value.ends_with(char::is_whitespace) {
        return Err(SeedError::TrailingSpace { line });
    }
    if let Some(name) = crate::secrets::marker(value) {
        if kind != "password" {
            return Err(SeedError::MarkerType {
                line,
                question: question.to_owned(),
                kind: kind.to_owned(),
            });
        }
        if !crate::secrets::valid_name(name) {
            return Err(SeedError::MarkerName {
                line,
                name: name.to_owned(),
            });
        }
    }
    if matches!(kind, "boolean" | "seen") && !matches!(value, "true" | "false") {
        return Err(SeedError::NotBoolean {
            line,
            question: question.to_owned(),
            kind: kind.to_owned(),
            value: value.to_owned(),
        });
    }
    Ok(Entry {
        line,
        owner: owner.to_owned(),
        question: question.to_owned(),
        kind: kind.to_owned(),
        value: value.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_format() {
        let seed = Seed::parse(
            "# dokuwiki\n\n  dokuwiki dokuwiki/wiki/title string My  Wiki\npostfix postfix/main_mailer_type select Satellite system\nd d/b boolean true\nd d/e string\nd d/p password sec ret\\\n continued\nd d/b seen false\n",
        )
        .unwrap();
        let values: Vec<(&str, &str, &str)> = seed
            .entries
            .iter()
            .map(|e| (e.question.as_str(), e.kind.as_str(), e.value.as_str()))
            .collect();
        assert_eq!(
            values,
            [
                ("dokuwiki/wiki/title", "string", "My  Wiki"),
                ("postfix/main_mailer_type", "select", "Satellite system"),
                ("d/b", "boolean", "true"),
                ("d/e", "string", ""),
                ("d/p", "password", "sec ret continued"),
                ("d/b", "seen", "false"),
            ]
        );
        assert_eq!(seed.entries[0].line, 3);
        assert_eq!(seed.entries[4].line, 7);
        assert_eq!(seed.owners(), ["dokuwiki", "postfix", "d"]);
    }

    #[test]
    fn every_error_is_found_not_only_the_first() {
        let text = "a b/c\npostfix postfix/main_mailer_type select Satellite system\nx x/y strin z\n\
                    a a/b boolean yes\npostfix postfix/main_mailer_type select Local only\n";
        let lines: Vec<Option<usize>> = Seed::parse_all(text.as_bytes())
            .unwrap_err()
            .iter()
            .map(SeedError::line)
            .collect();
        assert_eq!(lines, [Some(1), Some(3), Some(4), Some(5)]);
        assert_eq!(Seed::parse(text), Err(SeedError::Syntax { line: 1 }));
        assert_eq!(
            Seed::parse_all(b"a a/b string x\n").unwrap().entries.len(),
            1
        );
        assert_eq!(Seed::parse_all(&[0xff]).unwrap_err(), [SeedError::NotUtf8]);
    }

    #[test]
    fn errors_name_the_line() {
        let cases: &[(&str, SeedError)] = &[
            ("a b/c\n", SeedError::Syntax { line: 1 }),
            (
                "\n\na b/c strin x\n",
                SeedError::UnknownType {
                    line: 3,
                    kind: "strin".into(),
                },
            ),
            (
                "a title string x\n",
                SeedError::QuestionName {
                    line: 1,
                    question: "title".into(),
                },
            ),
            (
                "a a/b boolean yes\n",
                SeedError::NotBoolean {
                    line: 1,
                    question: "a/b".into(),
                    kind: "boolean".into(),
                    value: "yes".into(),
                },
            ),
            (
                "a a/b string x\n# c\na a/b string y\n",
                SeedError::Duplicate {
                    line: 3,
                    first: 1,
                    question: "a/b".into(),
                },
            ),
            ("a a/b string x \n", SeedError::TrailingSpace { line: 1 }),
            (
                "a a/b string x\\",
                SeedError::UnfinishedContinuation { line: 1 },
            ),
            (
                "a a/b string @secret:db\n",
                SeedError::MarkerType {
                    line: 1,
                    question: "a/b".into(),
                    kind: "string".into(),
                },
            ),
            (
                "# x\na a/b password @secret:Wiki Admin\n",
                SeedError::MarkerName {
                    line: 2,
                    name: "Wiki Admin".into(),
                },
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(Seed::parse(text).as_ref(), Err(expected), "{text:?}");
            assert_eq!(Seed::parse(text).unwrap_err().line(), expected.line());
        }
        assert_eq!(Seed::parse_bytes(&[0xff, 0xfe]), Err(SeedError::NotUtf8));
        assert!(
            SeedError::UnknownType {
                line: 12,
                kind: "strin".into()
            }
            .to_string()
            .contains("line 12: unknown type `strin`")
        );
    }

    #[test]
    fn a_refusal_names_the_seed_then_the_line() {
        let error = SeedError::UnknownType {
            line: 3,
            kind: "strin".into(),
        };
        let cases: &[(Origin, &str)] = &[
            (
                Origin::Package {
                    package: "a".into(),
                    path: "/var/lib/appliance/seeds/a.seed".into(),
                    deb: Some("/tmp/a_1_all.deb".into()),
                },
                "`a`: invalid seed `/var/lib/appliance/seeds/a.seed` in `/tmp/a_1_all.deb`",
            ),
            (
                Origin::Package {
                    package: "a".into(),
                    path: "/r/var/lib/appliance/seeds/a.seed".into(),
                    deb: None,
                },
                "`a`: invalid seed `/r/var/lib/appliance/seeds/a.seed`",
            ),
            (
                Origin::Preinst {
                    package: "a".into(),
                },
                "`a`: invalid seed `(embedded in the preinst)`",
            ),
            (
                Origin::Site {
                    path: Some("/w/site.seed".into()),
                    given_by: "Appliance::Site-Seed",
                },
                "invalid site seed `/w/site.seed` (Appliance::Site-Seed)",
            ),
            (
                Origin::Site {
                    path: None,
                    given_by: "--seed",
                },
                "invalid site seed (--seed)",
            ),
            (Origin::File("x.seed".into()), "invalid seed `x.seed`"),
        ];
        for (origin, expected) in cases {
            let invalid = InvalidSeed {
                origin: origin.clone(),
                error: error.clone(),
            };
            assert_eq!(
                crate::error_chain(&invalid),
                format!("{expected}: line 3: unknown type `strin`")
            );
        }
    }

    #[test]
    fn markers_and_literal_passwords() {
        let seed = Seed::parse(
            "m m/admin-password password @secret:wiki-admin\nm m/admin-password-again password @secret:wiki-admin\nc c/password password @secret:control\nd d/password password hunter2\nd d/empty password\n",
        )
        .unwrap();
        assert_eq!(seed.secret_names(), ["wiki-admin", "control"]);
        let literal: Vec<(usize, &str)> = seed
            .literal_passwords()
            .iter()
            .map(|e| (e.line, e.question.as_str()))
            .collect();
        assert_eq!(literal, [(4, "d/password")]);
    }

    #[test]
    fn diff_between_versions() {
        let old = Seed::parse("a a/x string 1\na a/y string 2\na a/z boolean true\n").unwrap();
        let new =
            Seed::parse("# moved\na a/y string 2\na a/x string 10\na a/w string new\n").unwrap();
        let changed: Vec<String> = new
            .changed_since(&old)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(changed, ["a a/x string 10", "a a/w string new"]);
        let removed: Vec<&str> = new
            .removed_since(&old)
            .iter()
            .map(|e| e.question.as_str())
            .collect();
        assert_eq!(removed, ["a/z"]);
        assert!(new.changed_since(&new).is_empty());
        assert_eq!(new.changed_since(&Seed::default()).len(), 3);
    }

    #[test]
    fn render_round_trips() {
        let seed = Seed::parse("a a/x string 1\nb b/y string\nc c/z password p w\n").unwrap();
        let text = Seed::render(&seed.entries);
        assert_eq!(text, "a a/x string 1\nb b/y string\nc c/z password p w\n");
        assert_eq!(Seed::parse(&text).unwrap().entries.len(), 3);
    }

    const RELEASES: &str = "# Postfix\n#release: bookworm\npostfix postfix/chattr boolean false\n\
        a a/x string one \\\n two\n#release: bookworm\nb b/y string 12\n#release: trixie forky\n\
        b b/y string 13 \\\n and later\n";

    #[test]
    fn a_release_line_gives_the_answer_below_it_to_those_releases_only() {
        assert_eq!(
            for_release(RELEASES, "bookworm").unwrap(),
            "# Postfix\npostfix postfix/chattr boolean false\na a/x string one \\\n two\nb b/y string 12\n"
        );
        assert_eq!(
            for_release(RELEASES, "trixie").unwrap(),
            "# Postfix\na a/x string one \\\n two\nb b/y string 13 \\\n and later\n"
        );
        // Every release's answer parses: one question may be answered once per release.
        assert_eq!(Seed::parse(RELEASES).unwrap().entries.len(), 4);
        // What for_release gives is a seed of its own, without directives.
        let trixie = Seed::parse(&for_release(RELEASES, "trixie").unwrap()).unwrap();
        assert_eq!(trixie.entries[1].value, "13  and later");
        assert!(!for_release(RELEASES, "sid").unwrap().contains("b/y"));
        assert!(names_releases(RELEASES));
        assert!(!names_releases("# release: x\na a/x string 1\n"));
        // Parsed for one release, the entries keep their lines in the file as written.
        let lines = |release| {
            Seed::parse_for_release(RELEASES, release)
                .unwrap()
                .entries
                .iter()
                .map(|e| (e.question.clone(), e.line))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            lines("bookworm"),
            [
                ("postfix/chattr".into(), 3),
                ("a/x".into(), 4),
                ("b/y".into(), 7)
            ]
        );
        assert_eq!(lines("trixie"), [("a/x".into(), 4), ("b/y".into(), 9)]);
    }

    #[test]
    fn release_lines_are_checked() {
        let cases = [
            (
                "#release: bookworm\na a/x string 1\n#release: bookworm trixie\na a/x string 2\n",
                SeedError::Duplicate {
                    line: 4,
                    first: 2,
                    question: "a/x".into(),
                },
            ),
            (
                "a a/x string 1\n#release: trixie\na a/x string 2\n",
                SeedError::Duplicate {
                    line: 3,
                    first: 1,
                    question: "a/x".into(),
                },
            ),
            (
                "#release:\na a/x string 1\n",
                SeedError::ReleaseDirective { line: 1 },
            ),
            (
                "#release: Debian-13\na a/x string 1\n",
                SeedError::ReleaseDirective { line: 1 },
            ),
            (
                "#release: trixie\n\na a/x string 1\n",
                SeedError::DanglingRelease { line: 1 },
            ),
            (
                "#release: trixie\n# why\na a/x string 1\n",
                SeedError::DanglingRelease { line: 1 },
            ),
            (
                "#release: trixie\n#release: bookworm\na a/x string 1\n",
                SeedError::DanglingRelease { line: 1 },
            ),
            (
                "a a/x string 1\n#release: trixie\n",
                SeedError::DanglingRelease { line: 2 },
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(Seed::parse(text), Err(expected.clone()), "{text}");
            assert_eq!(for_release(text, "trixie"), Err(expected), "{text}");
        }
        // Other comments, `# release: …` among them, are comments.
        assert_eq!(
            Seed::parse("# release: x\na a/x string 1\n")
                .unwrap()
                .entries
                .len(),
            1
        );
    }
}

#[cfg(test)]
mod proptests;
