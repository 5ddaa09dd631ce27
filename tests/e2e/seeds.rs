//! The seeds issue: the APT hook, the dpkg trigger and `dh_appliance`, with dokuwiki-appliance.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::harness::{Root, TREE, build_deb, host_release, needs, output_text, version};

pub const NONINTERACTIVE: &str = "export DEBIAN_FRONTEND=noninteractive;";

/// What the seed of dokuwiki-appliance makes of dokuwiki, apache2 and postfix.
pub fn assert_seeded(root: &Root) {
    let main_cf = root.read("/etc/postfix/main.cf");
    assert!(
        main_cf.contains("relayhost = [smtp.example.org]:587"),
        "relayhost not seeded:\n{main_cf}"
    );
    assert!(
        main_cf.contains("inet_interfaces = loopback-only"),
        "not a satellite:\n{main_cf}"
    );
    assert_eq!(root.read("/etc/mailname").trim(), "wiki.example.org");
    let local = root.read("/etc/dokuwiki/local.php");
    assert!(
        local.contains("$conf['title'] = 'Appliance Wiki';"),
        "title not seeded:\n{local}"
    );
    let users = root.read("/etc/dokuwiki/users.auth.php");
    assert!(
        users.lines().any(|l| l.starts_with("admin:")
            && l.contains(":Wiki Administrator:admin@example.org:admin,user")),
        "no seeded administrator:\n{users}"
    );
    let acl = root.read("/etc/dokuwiki/acl.auth.php");
    assert!(
        acl.contains("@ALL          1"),
        "not the public ACL policy:\n{acl}"
    );
    let apache = root.read("/etc/apache2/conf-available/dokuwiki.conf");
    assert!(
        apache
            .lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>()
                == ["Alias", "/", "/usr/share/dokuwiki/"]),
        "wiki not at the root URL:\n{apache}"
    );
    assert!(
        apache.contains("Allow from all"),
        "wiki not reachable from the network:\n{apache}"
    );
    assert!(root.exists("/etc/apache2/conf-enabled/dokuwiki.conf"));
    // Seen (`*`), with the seeded values.
    let shown = root.ok("debconf-show postfix dokuwiki");
    for line in [
        "* postfix/relayhost: [smtp.example.org]:587",
        "* postfix/main_mailer_type: Satellite system",
        "* dokuwiki/wiki/title: Appliance Wiki",
        "* dokuwiki/system/accessible: global",
    ] {
        assert!(
            shown.lines().any(|l| l.trim() == line),
            "debconf-show lacks `{line}`:\n{shown}"
        );
    }
}

pub fn state_field(root: &Root, field: &str) -> String {
    let info = root.read("/var/lib/appliance/state/dokuwiki-appliance.info");
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}: ")))
        .unwrap_or_else(|| panic!("no {field} in the state:\n{info}"))
        .to_owned()
}

pub(crate) fn debconf_value(root: &Root, question: &str) -> String {
    let owner = question.split('/').next().unwrap_or_default();
    let shown = root.ok(&format!("debconf-show {owner}"));
    shown
        .lines()
        .find_map(|l| {
            l.trim_start_matches(['*', ' '])
                .strip_prefix(&format!("{question}:"))
        })
        .map_or_else(
            || panic!("debconf-show has no {question}:\n{shown}"),
            |v| v.trim().to_owned(),
        )
}

/// A fixture package from `tests/fixtures/NAME`, built now.
pub(crate) fn fixture_deb(name: &str, out: &Path) -> PathBuf {
    let tree = out.join(name);
    let status = Command::new("cp")
        .arg("-a")
        .arg(Path::new(TREE).join("tests/fixtures").join(name))
        .arg(&tree)
        .status()
        .unwrap();
    assert!(status.success());
    build_deb(&tree, &out.join(format!("{name}_1_all.deb")))
}

/// What the upgrade to dokuwiki-appliance 1.1 ([`appliance_version`] with the relay host changed)
/// said (`output`) and did, after the administrator set the wiki's title to `Admin Title`: the
/// wiki saved first, one changed answer applied, the administrator's own kept.
pub(crate) fn assert_upgraded_to_1_1(root: &Root, output: &str) {
    // The hook's safety backup; dokuwiki declares no health checks.
    assert!(
        output.contains(
            "Safety backup of dokuwiki-appliance before this transaction: \
             /var/backups/appliance/safety/dokuwiki-appliance-"
        ),
        "{output}"
    );
    assert!(
        output.contains("Seeding dokuwiki-appliance 1.1: 1 changed answer applied"),
        "{output}"
    );
    assert_eq!(
        debconf_value(root, "postfix/relayhost"),
        "[smtp2.example.org]:587"
    );
    assert_eq!(debconf_value(root, "dokuwiki/wiki/title"), "Admin Title");
    assert_eq!(state_field(root, "Version"), "1.1");
}

/// dokuwiki-appliance at `version` for Debian `release`, built with `dh_appliance` from a copy of
/// the tree's sources whose seed `edit` changes.
pub(crate) fn appliance_version(
    version: &str,
    release: &str,
    edit: impl Fn(&str) -> String,
    out: &Path,
) -> PathBuf {
    let source = out.join("dokuwiki-appliance");
    let status = Command::new("cp")
        .arg("-aL")
        .arg(Path::new(TREE).join("appliances/dokuwiki"))
        .arg(&source)
        .status()
        .unwrap();
    assert!(status.success());
    let seed_path = source.join("debian/dokuwiki-appliance.seed");
    let seed = std::fs::read_to_string(&seed_path).unwrap();
    std::fs::remove_file(&seed_path).unwrap();
    std::fs::write(&seed_path, edit(&seed)).unwrap();
    let changelog = source.join("debian/changelog");
    let old = std::fs::read_to_string(&changelog).unwrap();
    std::fs::write(
        &changelog,
        format!("dokuwiki-appliance ({version}) unstable; urgency=medium\n\n  * Test build.\n\n -- Test <test@example.org>  Thu, 26 Nov 2026 03:00:00 +0000\n\n{old}"),
    )
    .unwrap();
    let dh = Path::new(TREE).join("dh-appliance");
    let tools = Path::new(TREE).join("target/release");
    let output = Command::new("dpkg-buildpackage")
        .args(["-b", "-uc", "-us", "-d", "--no-sign"])
        .current_dir(&source)
        .env(
            "PATH",
            format!(
                "{}:{}:{}",
                dh.display(),
                tools.display(),
                std::env::var("PATH").unwrap_or_default()
            ),
        )
        .env("PERL5LIB", &dh)
        .env("DH_DATAFILES", &dh)
        .env("APPLIANCE_VA_SEED", tools.join("va-seed"))
        .env("APPLIANCE_RELEASE", release)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "cannot build the appliance:\n{}",
        output_text(&output)
    );
    out.join(format!("dokuwiki-appliance_{version}_all.deb"))
}

#[test]
#[cfg_attr(not(appliance_e2e), ignore = "end-to-end: make test runs it")]
fn hook_path_seeds_upgrades_purges_and_conflicts() {
    needs(
        "hook_path_seeds_upgrades_purges_and_conflicts",
        &["dpkg-buildpackage"],
    );
    let root = Root::fresh("hook-path");
    root.ok(&format!(
        "{NONINTERACTIVE} apt-get install -y -q appliance-tools"
    ));
    let install = root.ok(&format!(
        "{NONINTERACTIVE} apt-get install -y -q dokuwiki-appliance 2>&1"
    ));
    assert!(
        install.contains(&format!(
            "Seeding dokuwiki-appliance {}: 29 answers applied",
            version("dokuwiki-appliance")
        )),
        "{install}"
    );
    assert_seeded(&root);
    assert_eq!(state_field(&root, "Applied-By"), "apt-hook");
    assert_eq!(state_field(&root, "Version"), version("dokuwiki-appliance"));

    // A second appliance cannot be installed beside the first.
    let work = tempfile::tempdir().unwrap();
    let other = root.put(&fixture_deb("other-appliance", work.path()));
    let simulated = root.ok(&format!("apt-get install -s {other} 2>&1"));
    assert!(simulated.contains("Remv dokuwiki-appliance"), "{simulated}");
    let refused = root.run(&format!("dpkg -i {other} 2>&1"));
    assert!(!refused.status.success());
    let text = String::from_utf8_lossy(&refused.stdout);
    assert!(
        text.contains("conflicts with dokuwiki-appliance") || text.contains("conflicting packages"),
        "{text}"
    );
    assert!(root.dpkg_state().contains(&format!(
        "dokuwiki-appliance installed {}",
        version("dokuwiki-appliance")
    )));

    // The administrator changes one answer; an upgrade changes another: both survive.
    root.ok("echo 'dokuwiki dokuwiki/wiki/title string Admin Title' | debconf-set-selections");
    let upgrade = appliance_version(
        "1.1",
        &host_release(),
        |seed| seed.replace("[smtp.example.org]:587", "[smtp2.example.org]:587"),
        work.path(),
    );
    let upgrade = root.put(&upgrade);
    let output = root.ok(&format!(
        "{NONINTERACTIVE} apt-get install -y -q {upgrade} 2>&1"
    ));
    assert_upgraded_to_1_1(&root, &output);

    // Purge forgets the state; a reinstall applies the whole seed again.
    root.ok(&format!(
        "{NONINTERACTIVE} apt-get purge -y -q dokuwiki-appliance"
    ));
    assert!(!root.exists("/var/lib/appliance/state/dokuwiki-appliance.info"));
    assert!(!root.exists("/var/lib/appliance/state/dokuwiki-appliance.seed"));
    let again = root.ok(&format!(
        "{NONINTERACTIVE} apt-get install -y -q dokuwiki-appliance={} 2>&1",
        version("dokuwiki-appliance")
    ));
    assert!(
        again.contains(&format!(
            "Seeding dokuwiki-appliance {}: 29 answers applied",
            version("dokuwiki-appliance")
        )),
        "{again}"
    );
    assert_eq!(
        debconf_value(&root, "dokuwiki/wiki/title"),
        "Appliance Wiki"
    );
    assert_eq!(
        debconf_value(&root, "postfix/relayhost"),
        "[smtp.example.org]:587"
    );
}

#[test]
#[cfg_attr(not(appliance_e2e), ignore = "end-to-end: make test runs it")]
fn without_the_appliance_the_same_packages_keep_their_defaults() {
    // The control of assert_seeded: it fails on the defaults.
    needs(
        "without_the_appliance_the_same_packages_keep_their_defaults",
        &[],
    );
    let root = Root::fresh("control");
    root.ok(&format!(
        "{NONINTERACTIVE} apt-get install -y -q dokuwiki apache2 libapache2-mod-php postfix"
    ));
    let seeded = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| assert_seeded(&root)));
    assert!(
        seeded.is_err(),
        "the defaults passed as seeded: the check cannot fail"
    );
    assert!(
        !root
            .read("/etc/postfix/main.cf")
            .contains("smtp.example.org")
    );
    assert!(
        !root
            .read("/etc/dokuwiki/local.php")
            .contains("Appliance Wiki")
    );
}

/// Installs `appliance` under a pseudo-terminal with the editor frontend and debconf's developer
/// log; returns how many questions debconf would have shown, and what the editor got.
pub fn questions_asked(root: &Root, appliance: &str) -> (usize, String) {
    root.ok(
        "cat > /usr/local/bin/record-editor <<'EOF'\n#!/bin/sh\necho \"EDITOR CALLED: $*\" >> /var/tmp/editor.log\ncat \"$@\" >> /var/tmp/editor.log\nEOF\nchmod +x /usr/local/bin/record-editor",
    );
    let log = root.ok(&format!(
        "script -qec 'DEBCONF_DEBUG=developer DEBIAN_FRONTEND=editor EDITOR=/usr/local/bin/record-editor apt-get install -y -q {appliance}' /dev/null > /tmp/install.log 2>&1; cat /tmp/install.log"
    ));
    assert!(
        log.contains("Preconfiguring packages"),
        "dpkg-preconfigure did not run:\n{log}"
    );
    assert!(
        root.dpkg_state()
            .contains(&format!("{appliance} installed")),
        "install failed:\n{log}"
    );
    let asked = log
        .lines()
        .filter(|l| l.contains("question will be asked"))
        .count();
    let editor = if root.exists("/var/tmp/editor.log") {
        root.read("/var/tmp/editor.log")
    } else {
        String::new()
    };
    (asked, editor)
}

/// Installs `appliance` as [`questions_asked`] does; fails if debconf would have asked anything.
pub fn assert_nothing_asked(root: &Root, appliance: &str) {
    let (asked, editor) = questions_asked(root, appliance);
    assert_eq!(asked, 0, "questions were asked; the editor got:\n{editor}");
    assert!(
        editor.is_empty(),
        "the editor was handed questions:\n{editor}"
    );
}

#[test]
#[cfg_attr(not(appliance_e2e), ignore = "end-to-end: make test runs it")]
fn no_question_is_asked_with_the_hook() {
    needs("no_question_is_asked_with_the_hook", &[]);
    let root = Root::fresh("questions");
    root.ok(&format!(
        "{NONINTERACTIVE} apt-get install -y -q appliance-tools"
    ));
    assert_nothing_asked(&root, "dokuwiki-appliance");
    assert_seeded(&root);
}

#[test]
#[cfg_attr(not(appliance_e2e), ignore = "end-to-end: make test runs it")]
fn without_the_hook_questions_are_asked() {
    // The control of no_question_is_asked_with_the_hook.
    needs("without_the_hook_questions_are_asked", &[]);
    let root = Root::fresh("questions-control");
    root.ok(&format!("{NONINTERACTIVE} apt-get install -y -q appliance-tools && rm /etc/apt/apt.conf.d/05appliance"));
    let (asked, editor) = questions_asked(&root, "dokuwiki-appliance");
    assert!(
        asked > 0,
        "no question counted without the hook: the check cannot fail"
    );
    assert!(
        editor.contains("EDITOR CALLED"),
        "the editor was not called without the hook"
    );
}

#[test]
#[cfg_attr(not(appliance_e2e), ignore = "end-to-end: make test runs it")]
fn dpkg_i_of_the_whole_set_seeds_as_the_hook_does() {
    needs("dpkg_i_of_the_whole_set_seeds_as_the_hook_does", &[]);
    let root = Root::fresh("dpkg-i");
    root.ok(&format!(
        "{NONINTERACTIVE} set -e; apt-get install --download-only -y -q dokuwiki-appliance >/dev/null; mkdir /tmp/set
        apt-get install -s -y dokuwiki-appliance | sed -n 's/^Inst \\([^ ]*\\) (\\([^ ]*\\) .*\\[\\([^]]*\\)\\].*/\\1 \\2 \\3/p' > /tmp/list
        while read -r name version arch; do
            file=\"${{name}}_${{version/:/%3a}}_${{arch}}.deb\"
            cp \"/var/cache/apt/archives/$file\" /tmp/set/ 2>/dev/null || cp \"/srv/repo/$file\" /tmp/set/
            echo \"/tmp/set/$file\" >> /tmp/order
        done < /tmp/list
        test $(wc -l < /tmp/order) -gt 100
        # In APT's order. One dpkg run cannot unpack a package whose Pre-Depends it has only
        # unpacked, so, as a user would, run dpkg -i again on what is not installed yet.
        for pass in 1 2 3 4 5 6; do
            left=$(for f in $(cat /tmp/order); do n=$(basename \"$f\"); n=${{n%%_*}}
                [ \"$(dpkg-query -W -f='${{db:Status-Status}}' \"$n\" 2>/dev/null)\" = installed ] || echo \"$f\"; done)
            [ -z \"$left\" ] && break
            dpkg -i $left > /tmp/pass$pass.log 2>&1 || true
        done
        test -z \"$left\" || {{ cat /tmp/pass*.log; exit 1; }}"
    ));
    assert_seeded(&root);
    assert!(root.dpkg_state().contains(&format!(
        "dokuwiki-appliance installed {}",
        version("dokuwiki-appliance")
    )));
}

#[test]
#[cfg_attr(not(appliance_e2e), ignore = "end-to-end: make test runs it")]
fn dpkg_i_then_apt_get_f_install_seeds_as_the_hook_does() {
    needs("dpkg_i_then_apt_get_f_install_seeds_as_the_hook_does", &[]);
    let root = Root::fresh("dpkg-i-f");
    let first = root.run(&format!(
        "{NONINTERACTIVE} dpkg -i /srv/repo/dokuwiki-appliance_{}_all.deb 2>&1",
        version("dokuwiki-appliance")
    ));
    assert!(
        !first.status.success(),
        "dpkg -i without dependencies should fail:\n{}",
        output_text(&first)
    );
    root.ok(&format!("{NONINTERACTIVE} apt-get -f install -y -q"));
    assert_seeded(&root);
    assert!(root.dpkg_state().contains(&format!(
        "dokuwiki-appliance installed {}",
        version("dokuwiki-appliance")
    )));
    // appliance-tools, configured after the appliance was unpacked, recorded the seed.
    assert_eq!(state_field(&root, "Version"), version("dokuwiki-appliance"));
}

#[test]
#[cfg_attr(not(appliance_e2e), ignore = "end-to-end: make test runs it")]
fn one_transaction_with_appliance_tools_seeds_too() {
    needs("one_transaction_with_appliance_tools_seeds_too", &[]);
    let root = Root::fresh("one-transaction");
    let output = root.ok(&format!(
        "{NONINTERACTIVE} apt-get install -y -q dokuwiki-appliance 2>&1"
    ));
    assert_seeded(&root);
    assert_eq!(state_field(&root, "Version"), version("dokuwiki-appliance"));
    let pending = state_field(&root, "Reconfigure");
    assert!(
        pending.trim().is_empty(),
        "packages left to reconfigure: {pending}\n{output}"
    );
}

/// `apt-get APT_OPTIONS install` of an appliance whose seed is malformed fails in the hook, with
/// the seed's line, before dpkg changes anything. The root has appliance-tools.
pub(crate) fn assert_a_malformed_seed_stops_apt(root: &Root, apt_options: &str) {
    let work = tempfile::tempdir().unwrap();
    let broken = root.put(&fixture_deb("broken-appliance", work.path()));
    let before = root.dpkg_state();
    let output = root.run(&format!(
        "{NONINTERACTIVE} apt-get {apt_options} install -y -q {broken}"
    ));
    assert!(
        !output.status.success(),
        "apt-get succeeded:\n{}",
        output_text(&output)
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(
            "E: `broken-appliance`: invalid seed `/var/lib/appliance/seeds/broken-appliance.seed`"
        ),
        "{stderr}"
    );
    assert!(stderr.contains("line 3: unknown type `strin`"), "{stderr}");
    assert_eq!(root.dpkg_state(), before, "dpkg changed something");
    assert!(!root.exists("/var/lib/appliance/state/broken-appliance.info"));
}

#[test]
#[cfg_attr(not(appliance_e2e), ignore = "end-to-end: make test runs it")]
fn a_malformed_seed_stops_apt_before_dpkg() {
    needs("a_malformed_seed_stops_apt_before_dpkg", &[]);
    let root = Root::fresh("malformed");
    root.ok(&format!(
        "{NONINTERACTIVE} apt-get install -y -q appliance-tools"
    ));
    assert_a_malformed_seed_stops_apt(&root, "");
}

#[test]
#[cfg_attr(not(appliance_e2e), ignore = "end-to-end: make test runs it")]
fn two_apt_runs_at_once_leave_a_whole_registry() {
    needs("two_apt_runs_at_once_leave_a_whole_registry", &[]);
    let root = Root::fresh("concurrent");
    root.ok(&format!(
        "{NONINTERACTIVE} apt-get install -y -q appliance-tools"
    ));
    let output = root.ok(&format!(
        "{NONINTERACTIVE} (apt-get install -y -q dokuwiki-appliance > /tmp/a.log 2>&1; echo $? > /tmp/a.rc) &
        (apt-get install -y -q hello > /tmp/b.log 2>&1; echo $? > /tmp/b.rc) &
        wait; echo A=$(cat /tmp/a.rc) B=$(cat /tmp/b.rc); cat /tmp/a.log /tmp/b.log"
    ));
    let first_line = output.lines().next().unwrap_or_default().to_owned();
    let a_ok = first_line.contains("A=0");
    let b_ok = first_line.contains("B=0");
    assert!(a_ok || b_ok, "neither run succeeded:\n{output}");
    if !(a_ok && b_ok) {
        assert!(
            output.contains("Could not get lock") || output.contains("Unable to acquire"),
            "a run failed, not on apt's lock:\n{output}"
        );
    }
    let leftovers = root.ok("ls -A /var/lib/appliance/state 2>/dev/null | grep '\\.tmp' || true");
    assert!(
        leftovers.trim().is_empty(),
        "temporary files left: {leftovers}"
    );
    if a_ok {
        assert_seeded(&root);
        let shipped = root.ok("cat /var/lib/appliance/seeds/dokuwiki-appliance.seed");
        assert_eq!(
            root.read("/var/lib/appliance/state/dokuwiki-appliance.seed"),
            shipped
        );
        assert_eq!(state_field(&root, "Version"), version("dokuwiki-appliance"));
    } else {
        assert!(!root.exists("/var/lib/appliance/state/dokuwiki-appliance.info"));
    }
}

/// Two apt runs at once meet on APT's own lock first; the registry's lock is met by hooks that
/// really run together: six at once, on one appliance whose seed generates a secret. Every one
/// succeeds, one applies the seed and generates the secret, the others find it applied, and the
/// registry is whole. (A trigger beside them would rightly forget the state of an appliance that
/// dpkg does not know: here none is installed.)
#[test]
#[cfg_attr(not(appliance_e2e), ignore = "end-to-end: make test runs it")]
fn six_hooks_at_once_contend_for_the_registry_lock() {
    needs("six_hooks_at_once_contend_for_the_registry_lock", &[]);
    let root = Root::fresh("registry-lock");
    root.ok(&format!(
        "{NONINTERACTIVE} apt-get install -y -q appliance-tools"
    ));
    let output = root.ok(
        "set -e
        cd /var/tmp && apt-get download -q dokuwiki-appliance >/dev/null
        deb=$(ls /var/tmp/dokuwiki-appliance_*_all.deb)
        printf 'VERSION 3\nAPT::Architecture=amd64\n\ndokuwiki-appliance - - none < %s all none %s\n' \
            \"$(dpkg-deb -f \"$deb\" Version)\" \"$deb\" > /var/tmp/hook.input
        for i in 1 2 3 4 5 6; do
            (/usr/lib/appliance/apt-hook < /var/tmp/hook.input > /var/tmp/hook.$i.log 2>&1; echo $? > /var/tmp/hook.$i.rc) &
        done
        wait
        for f in /var/tmp/hook.*.rc; do echo \"$f $(cat $f)\"; done
        cat /var/tmp/hook.*.log",
    );
    let failed: Vec<&str> = output
        .lines()
        .filter(|line| line.ends_with(".rc 1") || line.ends_with(".rc 2"))
        .collect();
    assert!(failed.is_empty(), "{failed:?}\n{output}");
    assert_eq!(
        output.matches("1 secret generated").count(),
        1,
        "one hook applies the seed, the others find it applied:\n{output}"
    );
    assert_eq!(
        output.matches("0 changed answers applied").count(),
        5,
        "{output}"
    );
    let leftovers = root.ok("find /var/lib/appliance -name '*.tmp*'");
    assert!(
        leftovers.trim().is_empty(),
        "temporary files left: {leftovers}"
    );
    assert_eq!(state_field(&root, "Version"), version("dokuwiki-appliance"));
    let shipped = root.ok(
        "dpkg-deb --fsys-tarfile /var/tmp/dokuwiki-appliance_*_all.deb | tar -xO ./var/lib/appliance/seeds/dokuwiki-appliance.seed",
    );
    assert_eq!(
        root.read("/var/lib/appliance/state/dokuwiki-appliance.seed"),
        shipped
    );
    // One secret, and debconf holds that one for both questions that name it.
    let secret = root.secret("dokuwiki-appliance", "wiki-admin");
    for question in ["dokuwiki/wiki/password", "dokuwiki/wiki/confirm"] {
        let answer = root.ok(&format!(
            "echo 'GET {question}' | debconf-communicate dokuwiki || true"
        ));
        assert_eq!(answer.trim(), format!("0 {secret}"), "{question}");
    }
}

#[test]
#[cfg_attr(not(appliance_e2e), ignore = "end-to-end: make test runs it")]
fn a_package_configured_before_the_seed_is_reconfigured() {
    needs("a_package_configured_before_the_seed_is_reconfigured", &[]);
    let root = Root::fresh("configured-before");
    root.ok(&format!(
        "{NONINTERACTIVE} apt-get install -y -q postfix appliance-tools"
    ));
    assert!(
        !root
            .read("/etc/postfix/main.cf")
            .contains("smtp.example.org")
    );
    let output = root.ok(&format!(
        "{NONINTERACTIVE} apt-get install -y -q dokuwiki-appliance 2>&1"
    ));
    assert!(output.contains("Reconfigured `postfix`"), "{output}");
    assert_seeded(&root);
    assert!(state_field(&root, "Reconfigure").trim().is_empty());
}
