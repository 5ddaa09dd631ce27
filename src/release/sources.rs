//! APT's sources moved to the next Debian release, as Debian's release notes do it by hand
//! (sources.list(5): one-line entries in `sources.list` and `*.list`, deb822 stanzas in
//! `*.sources`). Only the suites of the release being left change (`bookworm`,
//! `bookworm-updates`, `bookworm-security`, `bookworm-backports`, …), and only in entries whose
//! archive APT knows as Debian's or as the appliances' own (the `Origin` of its Release file, as
//! `apt-cache policy` shows it): a third party's entry is left as it is and listed, since its
//! next-release suite, if any, is its publisher's choice. Everything else in the files (comments,
//! options, disabled entries, other fields) is kept byte for byte.

use std::collections::BTreeMap;

/// The Release files' `Origin` whose entries move with the release: Debian's archive and its
/// security archive, and the appliances' own repository (`make-repo`).
pub const MOVED_ORIGINS: [&str; 2] = ["Debian", APPLIANCES_ORIGIN];

/// The `Origin` of the appliances' own repository (`tools/make-repo`).
pub const APPLIANCES_ORIGIN: &str = "virtual-appliance-tools";

/// The codename of the Debian release after `codename`, for the releases this tool upgrades from.
pub fn next_codename(codename: &str) -> Option<&'static str> {
    match codename {
        "bookworm" => Some("trixie"),
        _ => None,
    }
}

/// The `Origin` of each archive APT has fetched, by its URI (without a final `/`) and suite, read
/// from `apt-cache policy`'s list of package files (`500 URI SUITE/COMPONENT ARCH Packages`
/// followed by `release v=…,o=ORIGIN,a=…,n=…`).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Origins(BTreeMap<(String, String), String>);

impl Origins {
    pub fn from_policy(text: &str) -> Self {
        let mut origins = BTreeMap::new();
        let mut archive: Option<(String, String)> = None;
        for line in text.lines() {
            let words: Vec<&str> = line.split_whitespace().collect();
            match words.as_slice() {
                [priority, uri, suite_component, ..] if priority.parse::<i32>().is_ok() => {
                    // A flat repository's suite is `./`, without a component.
                    let suite = suite_component
                        .rsplit_once('/')
                        .map_or(*suite_component, |(suite, _)| suite);
                    archive = Some((uri.trim_end_matches('/').to_owned(), suite.to_owned()));
                }
                ["release", fields] => {
                    if let Some(key) = archive.take()
                        && let Some(origin) =
                            fields.split(',').find_map(|field| field.strip_prefix("o="))
                    {
                        origins.insert(key, origin.to_owned());
                    }
                }
                _ => {}
            }
        }
        Self(origins)
    }

    /// The origin of the archive at `uri` with `suite`, when APT has its Release file.
    pub fn of(&self, uri: &str, suite: &str) -> Option<&str> {
        self.0
            .get(&(uri.trim_end_matches('/').to_owned(), suite.to_owned()))
            .map(String::as_str)
    }
}

/// An entry of the sources, as the administrator reads it: where it is and what it names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The file and line (a deb822 stanza: the line of its `Suites` field).
    pub place: String,
    pub uri: String,
    pub suite: String,
    /// The archive's origin, when APT knows it.
    pub origin: Option<String>,
}

/// The sources files after the move: their new text, the entries moved and those left alone.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Moved {
    pub text: String,
    pub moved: Vec<Entry>,
    pub left: Vec<Entry>,
}

/// The suite that replaces `suite` when the release `from` becomes `to`: `from` itself and its
/// `from-NAME` suites; the security archive's old `from/updates` name becomes `to-security`.
pub fn next_suite(suite: &str, from: &str, to: &str) -> Option<String> {
    if suite == from {
        return Some(to.to_owned());
    }
    if suite == format!("{from}/updates") {
        return Some(format!("{to}-security"));
    }
    suite
        .strip_prefix(from)
        .and_then(|rest| rest.strip_prefix('-'))
        .filter(|name| !name.is_empty())
        .map(|name| format!("{to}-{name}"))
}

/// What becomes of one entry naming `uri` and `suite`: moved to the new suite, or left with
/// `None` (not a suite of the release left, or not an archive that moves with it).
fn decide(
    origins: &Origins,
    place: String,
    uri: &str,
    suite: &str,
    from: &str,
    to: &str,
    moved: &mut Moved,
) -> Option<String> {
    let next = next_suite(suite, from, to)?;
    let origin = origins.of(uri, suite).map(str::to_owned);
    let entry = Entry {
        place,
        uri: uri.to_owned(),
        suite: suite.to_owned(),
        origin: origin.clone(),
    };
    if origin
        .as_deref()
        .is_some_and(|o| MOVED_ORIGINS.contains(&o))
    {
        moved.moved.push(entry);
        Some(next)
    } else {
        moved.left.push(entry);
        None
    }
}

/// A one-line sources file (`name`: how its entries are placed) moved from `from` to `to`.
pub fn move_one_line(name: &str, text: &str, origins: &Origins, from: &str, to: &str) -> Moved {
    let mut moved = Moved::default();
    let mut out = String::with_capacity(text.len());
    for (number, line) in text.split_inclusive('\n').enumerate() {
        out.push_str(&move_one_line_entry(
            &format!("{name}:{}", number + 1),
            line,
            origins,
            from,
            to,
            &mut moved,
        ));
    }
    moved.text = out;
    moved
}

/// One line of a one-line sources file: `deb [OPTIONS] URI SUITE [COMPONENT…]`, the suite
/// replaced in place when the entry moves; any other line as it is.
fn move_one_line_entry(
    place: &str,
    line: &str,
    origins: &Origins,
    from: &str,
    to: &str,
    moved: &mut Moved,
) -> String {
    let content = line.split('#').next().unwrap_or_default();
    let mut rest = content.trim_start();
    let Some(kind) = rest.split_whitespace().next() else {
        return line.to_owned();
    };
    if kind != "deb" && kind != "deb-src" {
        return line.to_owned();
    }
    rest = rest[kind.len()..].trim_start();
    if rest.starts_with('[') {
        let Some(end) = rest.find(']') else {
            return line.to_owned();
        };
        rest = rest[end + 1..].trim_start();
    }
    let mut words = rest.split_whitespace();
    let (Some(uri), Some(suite)) = (words.next(), words.next()) else {
        return line.to_owned();
    };
    let Some(next) = decide(origins, place.to_owned(), uri, suite, from, to, moved) else {
        return line.to_owned();
    };
    // `rest` runs to the end of the entry's text: the URI starts it, the suite is the next word.
    let after_uri = content.len() - rest.len() + uri.len();
    let spacing = line[after_uri..].len() - line[after_uri..].trim_start().len();
    let suite_at = after_uri + spacing;
    format!(
        "{}{next}{}",
        &line[..suite_at],
        &line[suite_at + suite.len()..]
    )
}

/// A deb822 sources file (`name`: how its stanzas are placed) moved from `from` to `to`: in each
/// enabled stanza, the suites of its `Suites` field that move; a stanza whose URIs are not all
/// moving archives is left whole.
pub fn move_deb822(name: &str, text: &str, origins: &Origins, from: &str, to: &str) -> Moved {
    let mut moved = Moved::default();
    let mut out = String::with_capacity(text.len());
    let mut stanza: Vec<(usize, &str)> = Vec::new();
    for (number, line) in text.split_inclusive('\n').enumerate() {
        if line.trim().is_empty() {
            out.push_str(&move_stanza(name, &stanza, origins, from, to, &mut moved));
            stanza.clear();
            out.push_str(line);
        } else {
            stanza.push((number + 1, line));
        }
    }
    out.push_str(&move_stanza(name, &stanza, origins, from, to, &mut moved));
    moved.text = out;
    moved
}

/// A deb822 field's value: its first line's after the colon and its continuation lines, as
/// words; `None` without the field. Comment lines (`#`) inside a stanza are not part of it.
fn field<'a>(stanza: &[(usize, &'a str)], wanted: &str) -> Option<(usize, Vec<&'a str>)> {
    let mut found: Option<(usize, Vec<&'a str>)> = None;
    for (number, line) in stanza {
        if line.starts_with('#') {
            continue;
        }
        if line.starts_with([' ', '\t']) {
            if let Some((_, words)) = &mut found {
                words.extend(line.split_whitespace());
            }
            continue;
        }
        if found.is_some() {
            break;
        }
        if let Some((key, value)) = line.split_once(':')
            && key.trim().eq_ignore_ascii_case(wanted)
        {
            found = Some((*number, value.split_whitespace().collect()));
        }
    }
    found
}

fn move_stanza(
    name: &str,
    stanza: &[(usize, &str)],
    origins: &Origins,
    from: &str,
    to: &str,
    moved: &mut Moved,
) -> String {
    let whole: String = stanza.iter().map(|(_, line)| *line).collect();
    let enabled = field(stanza, "Enabled")
        .is_none_or(|(_, words)| !words.first().is_some_and(|w| w.eq_ignore_ascii_case("no")));
    let (Some((line, suites)), Some((_, uris))) = (field(stanza, "Suites"), field(stanza, "URIs"))
    else {
        return whole;
    };
    if !enabled {
        return whole;
    }
    // Every URI with every suite is one archive: the stanza moves when each one that belongs to
    // the release left moves, and otherwise stays whole, listed.
    let place = format!("{name}:{line}");
    let mut decisions = Moved::default();
    let mut next: BTreeMap<&str, String> = BTreeMap::new();
    for suite in &suites {
        for uri in &uris {
            if let Some(new) = decide(origins, place.clone(), uri, suite, from, to, &mut decisions)
            {
                next.insert(suite, new);
            }
        }
    }
    if !decisions.left.is_empty() {
        moved.left.extend(decisions.left);
        return whole;
    }
    moved.moved.extend(decisions.moved);
    let mut out = String::with_capacity(whole.len());
    let mut in_suites = false;
    for (_, line) in stanza {
        let is_field_start = !line.starts_with([' ', '\t', '#']);
        if is_field_start {
            in_suites = line
                .split_once(':')
                .is_some_and(|(key, _)| key.trim().eq_ignore_ascii_case("Suites"));
        }
        if !in_suites || line.starts_with('#') {
            out.push_str(line);
            continue;
        }
        out.push_str(&replace_words(line, is_field_start, &next));
    }
    out
}

/// `line` of a `Suites` field with each word that `next` names replaced, spacing kept; on the
/// field's first line, the name before the colon is kept as it is.
fn replace_words(line: &str, first: bool, next: &BTreeMap<&str, String>) -> String {
    let (head, value) = if first {
        line.split_once(':')
            .map_or(("", line), |(key, value)| (&line[..=key.len()], value))
    } else {
        ("", line)
    };
    let mut out = String::from(head);
    let mut word = String::new();
    for character in value.chars() {
        if character.is_whitespace() {
            out.push_str(
                next.get(word.as_str())
                    .map_or(word.as_str(), String::as_str),
            );
            word.clear();
            out.push(character);
        } else {
            word.push(character);
        }
    }
    out.push_str(
        next.get(word.as_str())
            .map_or(word.as_str(), String::as_str),
    );
    out
}

#[cfg(test)]
mod tests;
