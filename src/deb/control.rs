//! deb822 control stanzas (Debian Policy 5.1) and relation fields (Policy 7.1), as much as the
//! hook needs: one binary package's `control` file, `Provides`, `Depends`.
//!
//! A small reader rather than `deb822-lossless`: the hook parses the control of every package in
//! a transaction, keeps nothing but a few fields, and never writes one back.

/// The virtual package every appliance provides (and conflicts with).
pub const VIRTUAL_APPLIANCE: &str = "virtual-appliance";

/// One stanza: field names as written, values with continuation lines joined by `\n`.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Stanza {
    fields: Vec<(String, String)>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ControlError {
    #[error("line {line}: continuation line before any field")]
    LeadingContinuation { line: usize },
    #[error("line {line}: expected `Field: value`")]
    NoColon { line: usize },
}

impl Stanza {
    /// Parses the first stanza of `text`; comment lines (`#`) are skipped.
    pub fn parse(text: &str) -> Result<Self, ControlError> {
        let mut stanza = Self::default();
        for (index, line) in text.lines().enumerate() {
            let number = index + 1;
            if line.starts_with('#') {
                continue;
            }
            if line.trim().is_empty() {
                if stanza.fields.is_empty() {
                    continue;
                }
                break;
            }
            if line.starts_with([' ', '\t']) {
                let Some((_, value)) = stanza.fields.last_mut() else {
                    return Err(ControlError::LeadingContinuation { line: number });
                };
                value.push('\n');
                value.push_str(line.trim());
                continue;
            }
            let (name, value) = line
                .split_once(':')
                .ok_or(ControlError::NoColon { line: number })?;
            stanza
                .fields
                .push((name.trim().to_owned(), value.trim().to_owned()));
        }
        Ok(stanza)
    }

    /// The value of a field, by case-insensitive name.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(field, _)| field.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    /// The relations of a field such as `Provides` or `Depends`; empty when absent.
    pub fn relations(&self, name: &str) -> Vec<Vec<Relation>> {
        self.get(name).map(parse_relations).unwrap_or_default()
    }

    /// Whether the package provides `virtual`, whatever the version it provides.
    pub fn provides(&self, virtual_package: &str) -> bool {
        self.relations("Provides")
            .iter()
            .flatten()
            .any(|relation| relation.name == virtual_package)
    }
}

/// One relation: `name[:arch] [(op version)] [[arch list]] [<profiles>]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Relation {
    pub name: String,
    pub arch_qualifier: Option<String>,
    pub version: Option<(String, String)>,
}

/// Parses a relation field into its comma-separated groups of `|` alternatives.
pub fn parse_relations(value: &str) -> Vec<Vec<Relation>> {
    value
        .split(',')
        .map(str::trim)
        .filter(|group| !group.is_empty())
        .map(|group| {
            group
                .split('|')
                .filter_map(|alternative| parse_relation(alternative.trim()))
                .collect()
        })
        .collect()
}

fn parse_relation(text: &str) -> Option<Relation> {
    let end = text
        .find(|c: char| c.is_whitespace() || c == '(' || c == '[' || c == '<')
        .unwrap_or(text.len());
    let (head, rest) = text.split_at(end);
    if head.is_empty() {
        return None;
    }
    let (name, arch_qualifier) = match head.split_once(':') {
        Some((name, arch)) => (name, Some(arch.to_owned())),
        None => (head, None),
    };
    // `:any` alone names no package (found by the property test).
    if name.is_empty() {
        return None;
    }
    let version = rest.trim_start().strip_prefix('(').and_then(|inner| {
        let inner = &inner[..inner.find(')')?];
        let inner = inner.trim();
        let split = inner
            .find(|c: char| !matches!(c, '<' | '>' | '='))
            .unwrap_or(inner.len());
        let (operator, version) = inner.split_at(split);
        Some((operator.to_owned(), version.trim().to_owned()))
    });
    Some(Relation {
        name: name.to_owned(),
        arch_qualifier,
        version,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stanza_fields_and_continuations() {
        let stanza = Stanza::parse(
            "\n# comment\nPackage: demo\nprovides: virtual-appliance (= 1)\nDescription: short\n long line\n .\n more\n\nPackage: second\n",
        )
        .unwrap();
        assert_eq!(stanza.get("package"), Some("demo"));
        assert_eq!(stanza.get("Description"), Some("short\nlong line\n.\nmore"));
        assert!(stanza.provides(VIRTUAL_APPLIANCE));
        assert!(!stanza.provides("virtual"));
        assert_eq!(stanza.get("Missing"), None);
    }

    #[test]
    fn stanza_errors_carry_lines() {
        assert_eq!(
            Stanza::parse(" leading\n"),
            Err(ControlError::LeadingContinuation { line: 1 })
        );
        assert_eq!(
            Stanza::parse("Package: x\nno colon here\n"),
            Err(ControlError::NoColon { line: 2 })
        );
    }

    type Simple<'a> = (&'a str, Option<&'a str>, Option<(&'a str, &'a str)>);

    #[test]
    fn relation_table() {
        let cases: &[(&str, &[&[Simple]])] = &[
            ("", &[]),
            ("virtual-appliance", &[&[("virtual-appliance", None, None)]]),
            (
                "virtual-appliance (= 1), mail-transport-agent",
                &[
                    &[("virtual-appliance", None, Some(("=", "1")))],
                    &[("mail-transport-agent", None, None)],
                ],
            ),
            (
                "python3:any (>= 3.11~), a | b (<< 2:1.0-1) [amd64] <!nocheck>",
                &[
                    &[("python3", Some("any"), Some((">=", "3.11~")))],
                    &[("a", None, None), ("b", None, Some(("<<", "2:1.0-1")))],
                ],
            ),
            ("x(>=1)", &[&[("x", None, Some((">=", "1")))]]),
            (" , ,x,", &[&[("x", None, None)]]),
        ];
        for (input, expected) in cases {
            let parsed = parse_relations(input);
            let simplified: Vec<Vec<Simple>> = parsed
                .iter()
                .map(|group| {
                    group
                        .iter()
                        .map(|r| {
                            (
                                r.name.as_str(),
                                r.arch_qualifier.as_deref(),
                                r.version.as_ref().map(|(o, v)| (o.as_str(), v.as_str())),
                            )
                        })
                        .collect()
                })
                .collect();
            let expected: Vec<Vec<_>> = expected.iter().map(|g| g.to_vec()).collect();
            assert_eq!(simplified, expected, "{input}");
        }
    }
}

#[cfg(test)]
mod proptests;
