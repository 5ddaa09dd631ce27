//! Property tests of the seed parser: seeds rendered from generated entries read back as the
//! same entries; hostile text (continuations at the end, unknown types, values with trailing
//! white space, duplicates, any characters) never panics and a refusal names a line of the text.

use proptest::prelude::*;
use proptest::test_runner::TestRunner;

use super::{Entry, Seed, TYPES};

const WORDS: &[&str] = &["moin", "postfix", "nginx", "a-b", "x1", "slapd"];
const VALUES: &[&str] = &[
    "",
    "x",
    "Internet Site",
    "a, b, c",
    "  leading",
    "with\ttab",
    "ünïcödé",
    "\\n",
    "#not a comment",
    "true",
];

fn entry() -> impl Strategy<Value = (&'static str, &'static str, &'static str, Vec<&'static str>)> {
    (
        prop::sample::select(WORDS),
        prop::sample::select(WORDS),
        prop::sample::select(TYPES),
        prop::collection::vec(prop::sample::select(VALUES), 0..3),
    )
}

#[test]
fn seeds_read_back_as_rendered() {
    let mut runner = TestRunner::new(crate::proptest_config());
    runner
        .run(&prop::collection::vec(entry(), 0..10), |generated| {
            let entries: Vec<Entry> = generated
                .iter()
                .enumerate()
                .map(|(index, (owner, name, kind, value))| {
                    let value = if matches!(*kind, "boolean" | "seen") {
                        if value.len() % 2 == 0 {
                            "true"
                        } else {
                            "false"
                        }
                        .to_owned()
                    } else {
                        value.concat()
                    };
                    Entry {
                        line: index + 1,
                        owner: (*owner).to_owned(),
                        // Unique, so that no question is answered twice.
                        question: format!("{owner}/{name}-{index}"),
                        kind: (*kind).to_owned(),
                        value,
                    }
                })
                .collect();
            let text = Seed::render(&entries);
            let parsed = Seed::parse(&text);
            prop_assert!(parsed.is_ok(), "{text:?}: {parsed:?}");
            prop_assert_eq!(parsed.unwrap().entries, entries);
            Ok(())
        })
        .unwrap();
}

const HOSTILE_LINES: &[&str] = &[
    "moin moin/q string v",
    "moin moin/q string v",
    "moin moin/q seen true",
    "moin moin/b boolean yes",
    "moin moin/x strin v",
    "moin noslash string v",
    "moin /q string v",
    "moin moin/q string v ",
    "moin moin/q string continued \\",
    "\\",
    "# comment \\",
    "   ",
    "",
    "onlyone",
    "two words",
    "moin moin/t text \u{a0}",
];

#[test]
fn hostile_seeds_never_panic_and_refusals_name_a_line() {
    let lines = prop::collection::vec(
        prop_oneof![
            4 => prop::sample::select(HOSTILE_LINES).prop_map(str::to_owned),
            1 => any::<String>(),
        ],
        0..12,
    );
    let mut runner = TestRunner::new(crate::proptest_config());
    runner
        .run(
            &(lines, prop::collection::vec(any::<u8>(), 0..4)),
            |(lines, tail)| {
                let text = lines.join("\n");
                let count = text.lines().count();
                match Seed::parse(&text) {
                    Ok(seed) => {
                        for entry in &seed.entries {
                            prop_assert!((1..=count).contains(&entry.line));
                            prop_assert!(TYPES.contains(&entry.kind.as_str()));
                        }
                    }
                    Err(error) => {
                        let line = error.line();
                        prop_assert!(
                            line.is_some_and(|l| (1..=count).contains(&l)),
                            "{error} ({count} lines): {text:?}"
                        );
                        prop_assert!(error.to_string().starts_with("line "));
                    }
                }
                // Bytes that need not be UTF-8.
                let mut bytes = text.into_bytes();
                bytes.extend(tail);
                if let Err(error) = Seed::parse_bytes(&bytes) {
                    prop_assert!(!error.to_string().is_empty());
                }
                Ok(())
            },
        )
        .unwrap();
}
