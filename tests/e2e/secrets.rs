//! No shared secrets: the passwords an appliance's seed asks for are generated per system, kept
//! root-only, kept by upgrades (see `moinmoin_upgrade.rs`) and made anew after a purge.

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt as _;
use std::path::Path;
use std::process::Command;

use crate::harness::{Root, needs, output_text};
use crate::seeds::NONINTERACTIVE;

/// The generated secrets `va-seed secrets` shows for moinmoin-appliance, by name.
fn shown(root: &Root) -> (BTreeMap<String, String>, String) {
    let text = root.ok("va-seed secrets moinmoin-appliance");
    let values = text
        .lines()
        .filter_map(|l| l.strip_prefix("  "))
        .filter(|l| !l.starts_with(' '))
        .filter_map(|l| l.split_once(": "))
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .collect();
    (values, text)
}

/// The files under `root` holding any of `values` that a user other than root can read (by
/// owner, group or other bits; the search does not follow links).
fn readable_by_others(root: &Path, values: &[&str]) -> Vec<String> {
    let patterns = root.with_extension("patterns");
    std::fs::write(&patterns, values.join("\n") + "\n").unwrap();
    let found = Command::new("grep")
        .args(["-rlsF", "--devices=skip", "-f"])
        .arg(&patterns)
        .arg(root)
        .output()
        .unwrap();
    std::fs::remove_file(&patterns).unwrap();
    // grep: 0 found, 1 none found, 2 some file unreadable (sockets and the like: -s).
    assert!(
        matches!(found.status.code(), Some(0..=2)),
        "{}",
        output_text(&found)
    );
    String::from_utf8_lossy(&found.stdout)
        .lines()
        .filter(|path| {
            let Ok(meta) = std::fs::symlink_metadata(path) else {
                return false;
            };
            let mode = meta.mode();
            (meta.uid() != 0 && mode & 0o400 != 0)
                || (meta.gid() != 0 && mode & 0o040 != 0)
                || mode & 0o004 != 0
        })
        .map(|p| {
            p.strip_prefix(&*root.to_string_lossy())
                .unwrap_or(p)
                .to_owned()
        })
        .collect()
}

#[test]
#[cfg_attr(not(appliance_e2e), ignore = "end-to-end: make test runs it")]
fn generated_secrets_are_each_systems_own_root_only_and_new_after_a_purge() {
    needs(
        "generated_secrets_are_each_systems_own_root_only_and_new_after_a_purge",
        &["grep"],
    );
    let install = format!("{NONINTERACTIVE} apt-get install -y -q moinmoin-appliance 2>&1");
    let root = Root::fresh("secrets-a");
    let log = root.ok(&install);
    // The run ends naming the command, never a secret.
    assert!(
        log.contains(
            "The credentials generated for `moinmoin-appliance`: run `va-seed secrets` as root"
        ),
        "{log}"
    );
    let (first, text) = shown(&root);
    let (wiki, control) = (&first["wiki-admin"], &first["control-admin"]);
    assert!(
        wiki.len() >= 20 && control.len() >= 20 && wiki != control,
        "{text}"
    );
    for value in [wiki, control] {
        assert!(
            !log.contains(value.as_str()),
            "the apt run printed a secret:\n{log}"
        );
    }
    assert!(
        text.contains("opens: the wiki's administrator, login `WikiAdmin`, at http://")
            && text
                .contains("opens: appliance-control's administrator, login `admin`, at https://")
            && text.contains(":8080/"),
        "{text}"
    );
    // appliance-control's certificate, to check the browser's warning against.
    let fingerprint =
        root.ok("openssl x509 -noout -fingerprint -sha256 -in /etc/appliance-control/tls/cert.pem");
    let fingerprint = fingerprint.trim().rsplit('=').next().unwrap();
    assert!(text.contains(fingerprint), "{text}\n{fingerprint}");

    // No file another user can read holds a generated secret or the old seeded password.
    let leaks = readable_by_others(&root.path, &[wiki, control, "appliance-demo"]);
    assert!(leaks.is_empty(), "readable by others: {leaks:?}");
    let store = root.host_path("/var/lib/appliance/secrets/moinmoin-appliance");
    assert_eq!(std::fs::metadata(&store).unwrap().mode() & 0o777, 0o600);
    assert_eq!(
        std::fs::metadata(store.parent().unwrap()).unwrap().mode() & 0o777,
        0o700
    );
    // The preinst (world-readable, like every maintainer script) holds the markers only.
    let preinst = root.read("/var/lib/dpkg/info/moinmoin-appliance.preinst");
    assert!(preinst.contains("@secret:wiki-admin"), "{preinst}");

    // A second system draws its own.
    let other = Root::fresh("secrets-b");
    other.ok(&install);
    let (second, _) = shown(&other);
    for name in ["wiki-admin", "control-admin"] {
        assert_ne!(first[name], second[name], "two systems share `{name}`");
    }
    drop(other);

    // Purged, the secrets are forgotten; installed again, new ones.
    root.ok(&format!(
        "{NONINTERACTIVE} apt-get purge -y -q moinmoin-appliance >/dev/null"
    ));
    assert!(!root.exists("/var/lib/appliance/secrets/moinmoin-appliance"));
    root.ok(&install);
    let (again, _) = shown(&root);
    for name in ["wiki-admin", "control-admin"] {
        assert_ne!(first[name], again[name], "`{name}` survived the purge");
    }
}
