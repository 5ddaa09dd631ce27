//! The built packages as an administrator finds them: every man page a package's files refer to
//! is shipped by one of our packages.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use crate::harness::{needs, repo};

/// The names `NAME(1)` in a man page or a configuration file, of our tools only.
fn references(text: &str) -> BTreeSet<String> {
    const OURS: [&str; 7] = [
        "va-seed",
        "valist",
        "vainstall",
        "va-backup",
        "va-build",
        "appliance-control",
        "dh_appliance",
    ];
    let plain = text
        .replace("\\-", "-")
        .replace("\\fB", "")
        .replace("\\fI", "")
        .replace("\\fR", "");
    let mut found = BTreeSet::new();
    for (at, _) in plain.match_indices("(1)") {
        let start = plain[..at]
            .rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))
            .map_or(0, |i| i + 1);
        let name = &plain[start..at];
        if OURS.iter().any(|tool| name.starts_with(tool)) {
            found.insert(name.to_owned());
        }
    }
    found
}

#[test]
#[cfg_attr(not(appliance_e2e), ignore = "end-to-end: make test runs it")]
fn every_man_page_the_packages_refer_to_is_in_a_package() {
    needs("every_man_page_the_packages_refer_to_is_in_a_package", &[]);
    let unpacked = tempfile::tempdir().unwrap();
    let mut debs = 0;
    for entry in std::fs::read_dir(repo()).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if path.extension().is_none_or(|e| e != "deb") || name.contains("-dbgsym_") {
            continue;
        }
        debs += 1;
        let status = Command::new("dpkg-deb")
            .arg("-x")
            .arg(&path)
            .arg(unpacked.path())
            .status()
            .unwrap();
        assert!(status.success(), "dpkg-deb -x {name}");
    }
    assert!(debs >= 5, "only {debs} packages in {}", repo().display());
    let man1 = unpacked.path().join("usr/share/man/man1");
    let mut shipped = BTreeSet::new();
    let mut referred = Vec::new();
    for entry in std::fs::read_dir(&man1).unwrap() {
        let path = entry.unwrap().path();
        let file = path.file_name().unwrap().to_string_lossy().into_owned();
        let page = file
            .trim_end_matches(".gz")
            .trim_end_matches(".1")
            .to_owned();
        let output = Command::new("zcat").arg("-f").arg(&path).output().unwrap();
        for name in references(&String::from_utf8_lossy(&output.stdout)) {
            referred.push((format!("man page {page}"), name));
        }
        shipped.insert(page);
    }
    // The configuration files that send the reader to a page.
    for file in ["etc/default/appliance-control", "etc/default/va-backup"] {
        if let Ok(text) = std::fs::read_to_string(unpacked.path().join(file)) {
            for name in references(&text) {
                referred.push((format!("/{file}"), name));
            }
        }
    }
    assert!(shipped.contains("va-backup-restore"), "{shipped:?}");
    assert!(!referred.is_empty());
    for (from, name) in &referred {
        assert!(
            shipped.contains(name),
            "{from} refers to {name}(1), which no package ships (shipped: {shipped:?})"
        );
    }
    assert!(
        Path::new(&man1)
            .join("appliance-control-serve.1.gz")
            .exists()
    );
}
