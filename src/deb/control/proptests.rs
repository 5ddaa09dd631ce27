//! Property tests of the deb822 reader: stanzas written from generated fields read back as
//! written; hostile text (continuations first, lines without a colon, comments, blank lines,
//! any characters) never panics and a refusal names a line of the text; relation fields of any
//! text give only well-formed names.

use proptest::prelude::*;
use proptest::test_runner::TestRunner;

use super::{ControlError, Stanza, parse_relations};

const FIELD_NAMES: &[&str] = &[
    "Package",
    "Version",
    "Provides",
    "Depends",
    "Pre-Depends",
    "Description",
    "X-Appliance",
    "Conflicts",
];

const PIECES: &[&str] = &[
    "virtual-appliance",
    "moin",
    "nginx:any",
    " (>= 2.0~b5-1)",
    " (<< 1:2)",
    " [amd64 !i386]",
    " <!nocheck>",
    ", ",
    " | ",
    "(",
    ")",
    "[",
    "<",
    ":",
    "é",
    "\u{85}",
    "\t",
    " ",
    ",",
    "|",
];

/// A value: one line, or several as continuation lines.
fn value() -> impl Strategy<Value = Vec<String>> {
    let line = prop::collection::vec(prop::sample::select(PIECES), 1..6).prop_map(|p| p.concat());
    prop::collection::vec(line, 1..4)
}

#[test]
fn stanzas_read_back_as_written() {
    let fields = prop::collection::vec(
        (prop::sample::select(FIELD_NAMES), value(), any::<bool>()),
        1..8,
    );
    let mut runner = TestRunner::new(crate::proptest_config());
    runner
        .run(&fields, |fields| {
            let mut text = String::from("# a comment\n\n");
            let mut expected: Vec<(&str, String)> = Vec::new();
            for (name, lines, tab) in &fields {
                // The first of a name wins, as `get` finds it.
                let first = !expected.iter().any(|(n, _)| n == name);
                let mut joined = lines[0].trim().to_owned();
                text.push_str(name);
                text.push_str(": ");
                text.push_str(&lines[0]);
                text.push('\n');
                for line in &lines[1..] {
                    // A continuation line holds something besides its indentation.
                    let line = if line.trim().is_empty() { "." } else { line };
                    text.push_str(if *tab { "\t" } else { " " });
                    text.push_str(line);
                    text.push('\n');
                    joined.push('\n');
                    joined.push_str(line.trim());
                }
                if first {
                    expected.push((name, joined));
                }
            }
            text.push_str("\nPackage: the-next-stanza\n");
            let stanza = Stanza::parse(&text);
            prop_assert!(stanza.is_ok(), "{text:?}: {stanza:?}");
            let stanza = stanza.unwrap();
            for (name, value) in &expected {
                prop_assert_eq!(stanza.get(name), Some(value.as_str()), "{:?}", text);
                prop_assert_eq!(stanza.get(&name.to_ascii_lowercase()), Some(value.as_str()));
            }
            Ok(())
        })
        .unwrap();
}

const HOSTILE_LINES: &[&str] = &[
    " continued",
    "\tcontinued",
    "NoColon",
    "#comment",
    "",
    "   ",
    "Field: value",
    "Provides: virtual-appliance (= 1)",
    ": empty name",
    "Name:",
    "\u{feff}Package: bom",
    "é: ü",
    "\r",
];

#[test]
fn hostile_text_never_panics_and_refusals_name_a_line() {
    let text = prop::collection::vec(
        prop_oneof![
            3 => prop::sample::select(HOSTILE_LINES).prop_map(str::to_owned),
            1 => any::<String>(),
        ],
        0..12,
    );
    let mut runner = TestRunner::new(crate::proptest_config());
    runner
        .run(&text, |lines| {
            let text = lines.join("\n");
            let count = text.lines().count();
            match Stanza::parse(&text) {
                Ok(stanza) => {
                    for relation in stanza.relations("Provides").iter().flatten() {
                        prop_assert!(!relation.name.is_empty());
                    }
                }
                Err(
                    ControlError::LeadingContinuation { line } | ControlError::NoColon { line },
                ) => {
                    prop_assert!((1..=count).contains(&line), "{line} of {count}: {text:?}");
                }
            }
            for group in parse_relations(&text) {
                for relation in group {
                    prop_assert!(
                        !relation.name.is_empty()
                            && !relation
                                .name
                                .contains(|c: char| c.is_whitespace() || ",|([<".contains(c)),
                        "{relation:?} from {text:?}"
                    );
                }
            }
            Ok(())
        })
        .unwrap();
}
