//! Debian 13 (trixie), today's stable release: the packages built for it (`make deb`), installed
//! from the signed repository in trixie roots, as a user of a new server does. Debian 12's roots
//! run every other module.

use std::path::Path;

use crate::harness::{Root, TREE, needs_of, output_text, repo_of, version_of};
use crate::seeds::{NONINTERACTIVE, assert_nothing_asked, assert_seeded, state_field};
use crate::{backups, browser, catalog, control, image, moinmoin, seeds};

mod release_upgrade;

const TRIXIE: &str = "trixie";
const BOOKWORM: &str = "bookworm";

#[test]
#[cfg_attr(not(appliance_e2e), ignore = "end-to-end: make test runs it")]
fn on_trixie_every_seed_checks_and_the_hook_seeds_with_either_solver() {
    needs_of(
        "on_trixie_every_seed_checks_and_the_hook_seeds_with_either_solver",
        TRIXIE,
        &[],
    );
    let root = Root::fresh_of(TRIXIE, "trixie-hook");
    root.ok(&format!(
        "{NONINTERACTIVE} apt-get install -y -q appliance-tools >/dev/null"
    ));
    // The catalog, through APT 3.0's libapt-pkg: both appliances, with trixie's versions.
    let listed = root.ok("valist");
    for appliance in ["dokuwiki-appliance", "moinmoin-appliance"] {
        let version = version_of(TRIXIE, appliance);
        assert!(
            listed
                .lines()
                .any(|l| l.starts_with(appliance) && l.contains(&version)),
            "valist lacks {appliance} {version}:\n{listed}"
        );
    }
    // Every shipped seed answers every high and critical question of trixie's packages, and so
    // does the source's seed, its `#release:` lines read for trixie (what a packager checks).
    catalog::check_every_shipped_seed(&root);
    std::fs::copy(
        Path::new(TREE).join("seeds/dokuwiki-appliance.seed"),
        root.path.join("var/tmp/source.seed"),
    )
    .unwrap();
    root.ok("va-seed check --seed /var/tmp/source.seed dokuwiki-appliance");

    // APT 3.0's default solver: nothing asked, everything seeded.
    let version = version_of(TRIXIE, "dokuwiki-appliance");
    assert_nothing_asked(&root, "dokuwiki-appliance");
    assert_seeded(&root);
    assert_eq!(state_field(&root, "Applied-By"), "apt-hook");
    assert_eq!(state_field(&root, "Version"), version);

    // The solver Debian 14's APT makes the default, on everything again: the appliance and the
    // packages it brought purged, their answers with them.
    root.ok(&format!(
        "{NONINTERACTIVE} apt-get purge --autoremove -y -q dokuwiki-appliance >/dev/null"
    ));
    let left = root.dpkg_state();
    for gone in [
        "dokuwiki installed",
        "postfix installed",
        "dokuwiki-appliance",
    ] {
        assert!(!left.contains(gone), "`{gone}` after the purge:\n{left}");
    }
    let installed = root.ok(&format!(
        "{NONINTERACTIVE} apt-get install -o APT::Solver=3.0 -y -q dokuwiki-appliance 2>&1"
    ));
    assert!(
        installed.contains(&format!("Seeding dokuwiki-appliance {version}: "))
            && installed.contains(" answers applied"),
        "{installed}"
    );
    assert_seeded(&root);
}

#[test]
#[cfg_attr(not(appliance_e2e), ignore = "end-to-end: make test runs it")]
fn on_trixie_dpkg_i_one_transaction_an_upgrade_and_a_malformed_seed_go_as_on_debian_12() {
    needs_of(
        "on_trixie_dpkg_i_one_transaction_an_upgrade_and_a_malformed_seed_go_as_on_debian_12",
        TRIXIE,
        &["dpkg-buildpackage"],
    );
    let root = Root::fresh_of(TRIXIE, "trixie-paths");
    let version = version_of(TRIXIE, "dokuwiki-appliance");

    // dpkg -i of the appliance alone fails on its dependencies; `apt-get -f install` brings them
    // and appliance-tools, whose trigger seeds what the hook could not.
    let first = root.run(&format!(
        "{NONINTERACTIVE} dpkg -i /srv/repo/dokuwiki-appliance_{version}_all.deb 2>&1"
    ));
    assert!(!first.status.success(), "{}", output_text(&first));
    root.ok(&format!(
        "{NONINTERACTIVE} apt-get -f install -y -q >/dev/null"
    ));
    assert_seeded(&root);
    assert_eq!(state_field(&root, "Version"), version);

    // Purged with what it brought, then installed again in one transaction with appliance-tools,
    // with the solver Debian 14's APT makes the default: nothing is left to reconfigure.
    root.ok(&format!(
        "{NONINTERACTIVE} apt-get purge --autoremove -y -q dokuwiki-appliance >/dev/null"
    ));
    assert!(!root.dpkg_state().contains("appliance-tools installed"));
    let output = root.ok(&format!(
        "{NONINTERACTIVE} apt-get install -o APT::Solver=3.0 -y -q dokuwiki-appliance 2>&1"
    ));
    assert_seeded(&root);
    assert_eq!(state_field(&root, "Version"), version);
    let pending = state_field(&root, "Reconfigure");
    assert!(
        pending.trim().is_empty(),
        "left to reconfigure: {pending}\n{output}"
    );

    // An upgrade built for trixie changes one answer; the administrator's own answer survives.
    root.ok("echo 'dokuwiki dokuwiki/wiki/title string Admin Title' | debconf-set-selections");
    let work = tempfile::tempdir().unwrap();
    let upgrade = root.put(&seeds::appliance_version(
        "1.1",
        TRIXIE,
        |seed| seed.replace("[smtp.example.org]:587", "[smtp2.example.org]:587"),
        work.path(),
    ));
    for solver in ["", "-o APT::Solver=3.0"] {
        let simulated = root.ok(&format!("apt-get {solver} install -s {upgrade} 2>&1"));
        assert!(simulated.contains("Inst dokuwiki-appliance"), "{simulated}");
    }
    let output = root.ok(&format!(
        "{NONINTERACTIVE} apt-get -o APT::Solver=3.0 install -y -q {upgrade} 2>&1"
    ));
    seeds::assert_upgraded_to_1_1(&root, &output);

    // A malformed seed stops either solver before dpkg (with no appliance installed: APT 3.0's
    // solver does not remove one to install another, and says so before any hook runs).
    root.ok(&format!(
        "{NONINTERACTIVE} apt-get purge -y -q dokuwiki-appliance >/dev/null"
    ));
    for solver in ["", "-o APT::Solver=3.0"] {
        seeds::assert_a_malformed_seed_stops_apt(&root, solver);
    }
}

#[test]
#[cfg_attr(not(appliance_e2e), ignore = "end-to-end: make test runs it")]
fn on_trixie_an_administrator_uses_appliance_control_in_chromium() {
    needs_of(
        "on_trixie_an_administrator_uses_appliance_control_in_chromium",
        TRIXIE,
        &["chromium", "chromedriver"],
    );
    let (root, port) = control::booted_control_of(TRIXIE, "trixie-browser");
    browser::administrator_session(
        &root,
        port,
        "Debian GNU/Linux 13",
        "build/screenshots-trixie",
    );
}

#[test]
#[cfg_attr(not(appliance_e2e), ignore = "end-to-end: make test runs it")]
fn on_trixie_va_build_makes_a_moinmoin_image_that_boots_and_serves_the_wiki() {
    needs_of(
        "on_trixie_va_build_makes_a_moinmoin_image_that_boots_and_serves_the_wiki",
        TRIXIE,
        image::image_needs(),
    );
    let scratch = image::Scratch::new("image-trixie");
    // From a Debian 12 host, as its administrator would build for a new server.
    let (path, key, said) = image::build_moinmoin(&scratch, &repo_of(TRIXIE), &["--suite", TRIXIE]);
    let version = version_of(TRIXIE, "moinmoin-appliance");
    assert!(
        said.contains(&format!(": moinmoin-appliance {version} in ")),
        "{said}"
    );
    let name = image::seeded_wiki_name();
    let machine = image::boot_moinmoin(&path, false, &key, &name, &scratch.0.join("jar"), None);
    assert_eq!(machine.release, TRIXIE);
}

/// `va-backup --json create` in a Debian 12 root where `appliance` is
/// installed and `prepare` ran; the backup is copied into `into`'s /var/tmp, whose path it returns
/// with what `after` read from the old root. Nothing needs to run for a backup: the root is not
/// booted.
fn backup_from_bookworm<T>(
    appliance: &str,
    prepare: &str,
    into: &Root,
    after: impl FnOnce(&Root) -> T,
) -> (String, T) {
    let old = Root::fresh_of(BOOKWORM, &format!("{appliance}-12"));
    old.ok(&format!(
        "{NONINTERACTIVE} apt-get install -y -q appliance-tools {appliance} >/dev/null"
    ));
    old.ok(prepare);
    let made: serde_json::Value = serde_json::from_str(&old.ok("va-backup --json create")).unwrap();
    let path = made["path"].as_str().unwrap();
    let shown: serde_json::Value =
        serde_json::from_str(&old.ok(&format!("va-backup --json show {path}"))).unwrap();
    assert_eq!(
        shown["version"],
        version_of(BOOKWORM, appliance).as_str(),
        "{shown}"
    );
    let name = Path::new(path)
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    std::fs::copy(old.host_path(path), into.path.join("var/tmp").join(&name))
        .expect("copy the backup into the new root");
    let read = after(&old);
    (format!("/var/tmp/{name}"), read)
}

#[test]
#[cfg_attr(not(appliance_e2e), ignore = "end-to-end: make test runs it")]
fn a_dokuwiki_backup_made_on_bookworm_restores_on_trixie_with_every_page() {
    needs_of(
        "a_dokuwiki_backup_made_on_bookworm_restores_on_trixie_with_every_page",
        TRIXIE,
        &[],
    );
    let new = Root::fresh_of(TRIXIE, "dokuwiki-13");
    let pages = "/var/lib/dokuwiki/data/pages";
    let (abf, users) = backup_from_bookworm(
        "dokuwiki-appliance",
        &format!(
            "set -e; printf '====== Written on Debian 12 ======\\n' > {pages}/start.txt
             mkdir -p {pages}/team; printf 'A page in a namespace.\\n' > {pages}/team/notes.txt
             chown -R www-data: {pages}"
        ),
        &new,
        |old| old.read("/var/lib/dokuwiki/acl/users.auth.php"),
    );
    new.ok(&format!(
        "{NONINTERACTIVE} apt-get install -y -q appliance-tools dokuwiki-appliance >/dev/null"
    ));
    let port = backups::serve(&new);
    let defaults = new.read("/etc/dokuwiki/dokuwiki.php");
    let restored = new.exec_ok(&format!("va-backup restore {abf} 2>&1"));
    assert!(restored.contains("restored "), "{restored}");
    // The migration says what it did: DokuWiki 2024's own defaults kept, 2022's cache emptied.
    assert!(
        restored.contains("default configuration files of the installed DokuWiki kept")
            && restored.contains("cache emptied"),
        "{restored}"
    );
    assert_eq!(new.read("/etc/dokuwiki/dokuwiki.php"), defaults);
    assert!(
        new.read("/etc/dokuwiki/local.php")
            .contains("$conf['title'] = 'Appliance Wiki';")
    );
    let verify = new.exec("dpkg --verify dokuwiki");
    let changed = String::from_utf8_lossy(&verify.stdout);
    assert!(
        !changed.contains("/etc/dokuwiki/"),
        "the restore left dpkg's conffiles changed:\n{changed}"
    );
    assert_eq!(new.exec_ok("systemctl is-active apache2").trim(), "active");
    let start = backups::wiki_page(&new, port, "start");
    assert!(start.contains("Written on Debian 12"), "{start}");
    let notes = backups::wiki_page(&new, port, "team:notes");
    assert!(notes.contains("A page in a namespace."), "{notes}");
    // The wiki's users came back with their passwords: the old administrator logs in.
    assert_eq!(new.read("/var/lib/dokuwiki/acl/users.auth.php"), users);
    // Debian 13's own configuration (its Apache site) serves the restored wiki.
    let front = new.exec_ok(&format!("curl -fsS http://127.0.0.1:{port}/doku.php"));
    assert!(front.contains("Appliance Wiki"), "{front}");
}

#[test]
#[cfg_attr(not(appliance_e2e), ignore = "end-to-end: make test runs it")]
fn moinmoin_appliance_on_trixie_serves_and_takes_back_the_2009_wiki_and_a_debian_12_backup() {
    needs_of(
        "moinmoin_appliance_on_trixie_serves_and_takes_back_the_2009_wiki_and_a_debian_12_backup",
        TRIXIE,
        &["zip"],
    );
    let root = Root::fresh_of(TRIXIE, "moinmoin-13");
    let (abf12, password12) = backup_from_bookworm(
        "moinmoin-appliance",
        "sed -i '/^SITENAME=/d' /etc/moin/local.conf && echo 'SITENAME=\"Wiki of Debian 12\"' >> /etc/moin/local.conf",
        &root,
        moinmoin::wiki_password,
    );

    // Installed with plain apt-get: nothing asked, the seed everywhere.
    moinmoin::install_asking_nothing(&root);
    let python = root.ok("readlink -f /opt/moin/bin/python3");
    assert!(python.contains("python3.13"), "moin's Python: {python}");

    // Served: the wiki, its administrator, appliance-control.
    let ports = moinmoin::serve(&root);
    let front = moinmoin::wiki_page(&root, ports.web, "/");
    assert!(
        front.contains("<title>Home - Appliance Wiki</title>"),
        "{front}"
    );
    moinmoin::assert_logo_is_an_image(&root, ports.web, &front);
    let password = moinmoin::wiki_password(&root);
    assert_ne!(password, password12, "two systems share a password");
    let login = moinmoin::wiki_login(&root, ports.web, &password);
    assert!(
        login.starts_with("302") && login.contains("Logout"),
        "{login}"
    );
    let overview =
        moinmoin::control_login(&root, ports.control, &moinmoin::control_password(&root));
    assert!(
        overview.starts_with("303") && overview.contains("<h1>Overview</h1>"),
        "{overview}"
    );

    // The 2009 appliance's MoinMoin 1.9 wiki, converted.
    let abf2009 = moinmoin::original_backup(&root);
    let restored = root.exec_ok(&format!("va-backup restore {abf2009} 2>&1"));
    assert!(restored.contains("restored "), "{restored}");
    let old = moinmoin::wiki_page(&root, ports.web, "/OldPage");
    assert!(old.contains("An old page from 2009."), "{old}");

    // Debian 12's appliance: its wiki, its name and its administrator's password come back.
    let restored = root.exec_ok(&format!("va-backup restore {abf12} 2>&1"));
    assert!(restored.contains("restored "), "{restored}");
    assert_eq!(root.exec_ok("systemctl is-active moin").trim(), "active");
    // Its /etc/moin came back with the old system's ports (80, 8000): the test's again.
    moinmoin::serve_again(&root, &ports);
    let front = moinmoin::wiki_page(&root, ports.web, "/");
    assert!(
        front.contains("<title>Home - Wiki of Debian 12</title>"),
        "{front}"
    );
    let gone = root.exec(&format!(
        "curl -sS -o /dev/null -w '%{{http_code}}' http://127.0.0.1:{}/OldPage",
        ports.web
    ));
    assert_eq!(String::from_utf8_lossy(&gone.stdout), "404");
    let login = moinmoin::wiki_login(&root, ports.web, &password12);
    assert!(
        login.starts_with("302") && login.contains("Logout"),
        "{login}"
    );
}
