//! Debian 12 → 13 with `va-upgrade-release`, in a booted Debian 12 root serving moinmoin-appliance
//! with the 2009 wiki restored: an upgrade made to fail halfway (a package of the appliances'
//! repository whose Debian 13 version cannot be configured) puts Debian 12 back, files, packages
//! and wiki; once that package is mended, the upgrade goes through without a question, the
//! administrator's configuration (the test's ports) kept, every page there and the health check
//! green. A third party's source is left as it is, and said. A Debian 12 dokuwiki-appliance moves
//! too, its pages, users and Apache port kept.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::harness::{Root, TREE, build_deb, needs_of, output_text, script, version_of};
use crate::moinmoin;
use crate::seeds::NONINTERACTIVE;

use super::{BOOKWORM, TRIXIE};

/// Package `name` at `version`, whose postinst ends with `status` when configured.
fn package(work: &Path, name: &str, version: &str, status: u8) -> PathBuf {
    let tree = work.join(format!("{name}-{version}"));
    std::fs::create_dir_all(tree.join("DEBIAN")).unwrap();
    std::fs::write(
        tree.join("DEBIAN/control"),
        format!(
            "Package: {name}\nVersion: {version}\nArchitecture: all\n\
             Maintainer: Tests <tests@example.org>\nDescription: a package whose upgrade fails\n"
        ),
    )
    .unwrap();
    let postinst = tree.join("DEBIAN/postinst");
    std::fs::write(&postinst, format!("#!/bin/sh\nexit {status}\n")).unwrap();
    std::fs::set_permissions(
        &postinst,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    build_deb(
        &tree,
        &work.join(format!("release-breaker_{version}_all.deb")),
    )
}

/// A signed repository (`make-repo`, the tree's key, which the root trusts) inside the root at
/// /var/tmp/`name`, of Origin `origin`, with a suite per `(suite, debs)`; its sources file for
/// `suite` of the first goes into the root's sources.
fn repository(root: &Root, work: &Path, name: &str, origin: &str, suites: &[(&str, &[&PathBuf])]) {
    let mut command = Command::new(Path::new(TREE).join("tools/make-repo"));
    let out = root.path.join("var/tmp").join(name);
    let _ = std::fs::remove_dir_all(&out);
    command.arg(&out);
    for (suite, debs) in suites {
        let pool = work.join(format!("{name}-{suite}"));
        let _ = std::fs::remove_dir_all(&pool);
        std::fs::create_dir_all(&pool).unwrap();
        for deb in *debs {
            std::fs::copy(deb, pool.join(deb.file_name().unwrap())).unwrap();
        }
        command.arg(format!("{suite}={}", pool.display()));
    }
    let made = command
        .env("REPO_URI", format!("file:/var/tmp/{name}"))
        .env("REPO_ORIGIN", origin)
        .env("REPO_LABEL", origin)
        .output()
        .unwrap();
    assert!(made.status.success(), "{}", output_text(&made));
}

/// Every item the wiki lists in its index, by name.
fn pages(root: &Root, web: u16) -> Vec<String> {
    let index = moinmoin::wiki_page(root, web, "/+index/");
    let mut names: Vec<String> = index
        .split("href=\"/")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .filter(|href| !href.is_empty() && !href.starts_with('+') && !href.starts_with("static"))
        .map(str::to_owned)
        .collect();
    names.sort();
    names.dedup();
    names
}

fn reboot(root: &Root) {
    let stopped = Command::new(script())
        .arg("stop")
        .arg(&root.path)
        .output()
        .unwrap();
    assert!(stopped.status.success(), "{}", output_text(&stopped));
    root.boot();
}

#[test]
#[cfg_attr(not(appliance_e2e), ignore = "end-to-end: make test runs it")]
fn va_upgrade_release_moves_a_debian_12_moinmoin_appliance_to_13_and_back_when_it_fails_halfway() {
    const NAME: &str = "va_upgrade_release_moves_a_debian_12_moinmoin_appliance_to_13_and_back_when_it_fails_halfway";
    needs_of(NAME, TRIXIE, &["dpkg-deb"]);
    needs_of(NAME, BOOKWORM, &[]);
    let work = PathBuf::from(format!("/var/tmp/release-upgrade-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).unwrap();
    let root = Root::fresh_of(BOOKWORM, "release-upgrade");
    let good = package(&work, "release-breaker", "1", 0);
    let bad = package(&work, "release-breaker", "2", 1);
    let mended = package(&work, "release-breaker", "3", 0);
    repository(
        &root,
        &work,
        "extra",
        "virtual-appliance-tools",
        &[(BOOKWORM, &[&good]), (TRIXIE, &[&bad])],
    );
    // A third party's repository (its Release file's Origin is its own) with a package of its
    // own, which the upgrade keeps.
    let third = package(&work, "third-party-tool", "7", 0);
    repository(&root, &work, "third", "Example", &[(BOOKWORM, &[&third])]);
    root.ok(
        "cp /var/tmp/extra/bookworm.sources /etc/apt/sources.list.d/extra.sources && \
         cp /var/tmp/third/bookworm.sources /etc/apt/sources.list.d/third.sources && \
         apt-get update -q >/dev/null",
    );
    // Up to date first, as va-upgrade-release asks (the cached base root may be older than the
    // mirror's last point release).
    root.ok(&format!(
        "{NONINTERACTIVE} apt-get full-upgrade -y -q >/dev/null && \
         {NONINTERACTIVE} apt-get install -y -q appliance-tools moinmoin-appliance release-breaker third-party-tool >/dev/null"
    ));
    let ports = moinmoin::serve(&root);
    let abf2009 = moinmoin::original_backup(&root);
    let restored = root.exec_ok(&format!("va-backup restore {abf2009} 2>&1"));
    assert!(restored.contains("restored "), "{restored}");
    let before = pages(&root, ports.web);
    assert!(before.iter().any(|p| p == "OldPage"), "{before:?}");
    // The trixie packages earlier roots downloaded (as debian-root gives a root its release's).
    let _ = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "cp -l /var/cache/appliance-tests/archives-trixie/*.deb {}/var/cache/apt/archives/ 2>/dev/null",
            root.path.display()
        ))
        .status();

    let check = root.exec("va-upgrade-release --check 2>&1");
    let said = output_text(&check);
    assert!(check.status.success(), "{said}");
    assert!(
        said.contains(
            "left as it is (its publisher's, Example): /etc/apt/sources.list.d/third.sources"
        ),
        "{said}"
    );

    // Halfway: release-breaker 2 fails to configure; Debian 12 comes back.
    let failed = root.exec("va-upgrade-release --yes 2>&1");
    let said = output_text(&failed);
    assert_eq!(failed.status.code(), Some(3), "{said}");
    assert!(said.contains("Putting back bookworm's files"), "{said}");
    assert_eq!(
        root.exec_ok(". /etc/os-release && echo $VERSION_CODENAME")
            .trim(),
        BOOKWORM
    );
    let audit = root.exec_ok("dpkg --audit");
    assert!(audit.trim().is_empty(), "{audit}");
    let state = root.exec_ok("dpkg-query -W -f '${Package} ${db:Status-Status} ${Version}\\n'");
    assert!(state.contains("release-breaker installed 1\n"), "{state}");
    assert!(
        state.contains(&format!(
            "moinmoin-appliance installed {}\n",
            version_of(BOOKWORM, "moinmoin-appliance")
        )),
        "{state}"
    );
    assert!(
        state.lines().all(|l| l.contains(" installed ")),
        "not all installed: {state}"
    );
    assert!(
        root.read("/etc/apt/sources.list.d/extra.sources")
            .contains("Suites: bookworm\n")
    );
    assert!(!root.exists("/var/lib/appliance/release/snapshot"));
    reboot(&root);
    moinmoin::wiki_page(&root, ports.web, "/OldPage");
    assert_eq!(pages(&root, ports.web), before);

    // Mended: the upgrade goes through.
    repository(
        &root,
        &work,
        "extra",
        "virtual-appliance-tools",
        &[(BOOKWORM, &[&good]), (TRIXIE, &[&mended])],
    );
    let upgraded = root.exec("va-upgrade-release --yes 2>&1");
    let said = output_text(&upgraded);
    assert!(upgraded.status.success(), "{said}");
    assert!(said.contains("moinmoin-appliance: healthy"), "{said}");
    assert_eq!(
        root.exec_ok(". /etc/os-release && echo $VERSION_CODENAME")
            .trim(),
        TRIXIE
    );
    let state = root.exec_ok("dpkg-query -W -f '${Package} ${db:Status-Status} ${Version}\\n'");
    assert!(
        state.contains(&format!(
            "moinmoin-appliance installed {}\n",
            version_of(TRIXIE, "moinmoin-appliance")
        )),
        "{state}"
    );
    assert!(state.contains("release-breaker installed 3\n"), "{state}");
    assert!(state.contains("third-party-tool installed 7\n"), "{state}");
    assert!(
        root.read("/etc/apt/sources.list.d/third.sources")
            .contains("Suites: bookworm\n")
    );
    assert!(
        root.read("/etc/apt/sources.list.d/extra.sources")
            .contains("Suites: trixie\n")
    );
    assert!(!root.exists("/var/lib/appliance/release/snapshot"));
    // The administrator's ports, kept; every page; the search; the health recorded.
    reboot(&root);
    assert_eq!(pages(&root, ports.web), before);
    let found = moinmoin::wiki_page(&root, ports.web, "/+search?q=2009");
    assert!(found.contains("OldPage"), "{found}");
    let health: serde_json::Value =
        serde_json::from_str(&root.read("/var/lib/appliance/health/moinmoin-appliance.json"))
            .unwrap();
    assert_eq!(health["ok"], true, "{health}");
    let _ = std::fs::remove_dir_all(&work);
}

#[test]
#[cfg_attr(not(appliance_e2e), ignore = "end-to-end: make test runs it")]
fn va_upgrade_release_moves_a_debian_12_dokuwiki_appliance_to_13_with_every_page() {
    const NAME: &str =
        "va_upgrade_release_moves_a_debian_12_dokuwiki_appliance_to_13_with_every_page";
    needs_of(NAME, TRIXIE, &[]);
    needs_of(NAME, BOOKWORM, &[]);
    let root = Root::fresh_of(BOOKWORM, "release-upgrade-dokuwiki");
    // Up to date first, as va-upgrade-release asks (the cached base root may be older than the
    // mirror's last point release).
    root.ok(&format!(
        "apt-get update -q >/dev/null && {NONINTERACTIVE} apt-get full-upgrade -y -q >/dev/null && \
         {NONINTERACTIVE} apt-get install -y -q appliance-tools dokuwiki-appliance >/dev/null"
    ));
    let port = crate::backups::serve(&root);
    let pages = "/var/lib/dokuwiki/data/pages";
    root.exec_ok(&format!(
        "set -e; printf '====== Written on Debian 12 ======\\n' > {pages}/start.txt
         mkdir -p {pages}/team; printf 'A page in a namespace.\\n' > {pages}/team/notes.txt
         chown -R www-data: {pages}"
    ));
    let users = root.read("/var/lib/dokuwiki/acl/users.auth.php");

    let upgraded = root.exec("va-upgrade-release --yes 2>&1");
    let said = output_text(&upgraded);
    assert!(upgraded.status.success(), "{said}");
    // The plugin's checks (Apache, and the start page on the port ports.conf gives) passed.
    assert!(
        said.contains("dokuwiki-appliance: healthy (2 checks passed)"),
        "{said}"
    );
    assert_eq!(
        root.exec_ok(". /etc/os-release && echo $VERSION_CODENAME")
            .trim(),
        TRIXIE
    );
    let state = root.exec_ok("dpkg-query -W -f '${Package} ${db:Status-Status} ${Version}\\n'");
    for package in ["dokuwiki-appliance", "appliance-tools"] {
        assert!(
            state.contains(&format!(
                "{package} installed {}\n",
                version_of(TRIXIE, package)
            )),
            "{state}"
        );
    }
    // Whole: each package installed, or removed by the upgrade with its configuration kept.
    assert!(
        state
            .lines()
            .all(|l| l.contains(" installed ") || l.contains(" config-files ")),
        "not all installed: {state}"
    );
    // The administrator's Apache port kept; every page and every user; nothing left behind.
    reboot(&root);
    assert_eq!(root.exec_ok("systemctl is-active apache2").trim(), "active");
    let start = crate::backups::wiki_page(&root, port, "start");
    assert!(start.contains("Written on Debian 12"), "{start}");
    let notes = crate::backups::wiki_page(&root, port, "team:notes");
    assert!(notes.contains("A page in a namespace."), "{notes}");
    assert_eq!(root.read("/var/lib/dokuwiki/acl/users.auth.php"), users);
    assert!(!root.exists("/var/lib/appliance/release/snapshot"));
}
