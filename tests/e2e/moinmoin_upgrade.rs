//! Builds of the flagship: a newer build of `moin` and of `moinmoin-appliance` installs over the
//! old one with the wiki's data kept, and the `moin` package builds twice to the same bytes.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::harness::{Root, TREE, needs, output_text};
use crate::moinmoin::{agent, control_login, serve, wiki_login, wiki_page};
use crate::moinmoin_browser::{browser, installed, wiki_edit, wiki_log_in};
use crate::seeds::NONINTERACTIVE;

/// The downloads of the moin build, shared with `make deb` (the Makefile's default).
fn wheelhouse() -> PathBuf {
    std::env::var_os("MOIN_WHEELHOUSE").map_or_else(
        || PathBuf::from("/var/cache/appliance-tests/wheelhouse"),
        PathBuf::from,
    )
}

/// Where cargo puts the release binaries (`va-seed`, for the in-tree `dh_appliance`).
fn release() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| Path::new(TREE).join("target"), PathBuf::from)
        .join("release")
}

/// Copies `appliances/moinmoin/PART` into `work`, puts a changelog entry of the version after
/// its own on top, and builds it as `make deb` does (the in-tree `dh_appliance`, the moin wheels
/// from the shared wheelhouse, offline when it is there); returns the new version and the .deb.
fn newer_build(work: &Path, part: &str) -> (String, PathBuf) {
    newer_build_with(work, part, 1, None)
}

/// [`newer_build`] with the version's `+PLUS` suffix, and `postinst` (shell) run first by the
/// package's postinst when given.
fn newer_build_with(
    work: &Path,
    part: &str,
    plus: u32,
    postinst: Option<&str>,
) -> (String, PathBuf) {
    let extra = work.join(format!("{part}-postinst-{plus}"));
    std::fs::create_dir_all(work).unwrap();
    std::fs::write(&extra, postinst.unwrap_or_default()).unwrap();
    let script = r#"set -eu
src=$1 dst=$2 plus=$3 extra=$4
rm -rf "$dst" && mkdir -p "$(dirname "$dst")" && cp -aL "$src" "$dst" && cd "$dst"
for postinst in debian/*.postinst; do sed -i "/^set -e/r $extra" "$postinst"; done
name=$(dpkg-parsechangelog -SSource) new=$(dpkg-parsechangelog -SVersion)+$plus
{ printf '%s (%s) unstable; urgency=medium\n\n  * A newer build, for the upgrade test.\n\n' "$name" "$new"
  printf ' -- virtual-appliance-tools developers <appliance-tools@example.org>  %s\n\n' "$(date -R)"
  cat debian/changelog; } > debian/changelog.new
mv debian/changelog.new debian/changelog
dpkg-buildpackage -b -uc -us -d --no-sign > ../$name.log 2>&1 || { tail -40 ../$name.log; exit 1; }
echo "$name $new""#;
    let release = release();
    let dh = Path::new(TREE).join("dh-appliance");
    let path = format!(
        "{}:{}:{}",
        dh.display(),
        release.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut command = Command::new("bash");
    command
        .args(["-c", script, "newer-build"])
        .arg(Path::new(TREE).join("appliances/moinmoin").join(part))
        .arg(work.join(format!("{part}-{plus}")))
        .arg(plus.to_string())
        .arg(&extra)
        .env("PATH", path)
        .env("PERL5LIB", &dh)
        .env("DH_DATAFILES", &dh)
        .env("APPLIANCE_VA_SEED", release.join("va-seed"))
        .env("MOIN_WHEELHOUSE", wheelhouse());
    if wheelhouse().join("build").is_dir() {
        command.env("MOIN_OFFLINE", "1");
    }
    let output = command.output().expect("run bash");
    assert!(
        output.status.success(),
        "the newer {part} did not build:\n{}",
        output_text(&output)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    let (package, version) = stdout
        .trim()
        .split_once(' ')
        .expect("the package and its version");
    let prefix = format!("{package}_{}_", version.replace(':', "%3a"));
    let deb = std::fs::read_dir(work)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| {
            let name = p.file_name().unwrap_or_default().to_string_lossy();
            name.starts_with(&prefix) && name.ends_with(".deb")
        })
        .unwrap_or_else(|| panic!("no .deb of {part} {version} in {}", work.display()));
    (version.to_owned(), deb)
}

/// Publishes `debs` in a signed repository of updates (`make-repo`, the tree's key, which the
/// root trusts) inside the root, adds it to its sources and runs `apt-get update` and
/// `apt-get upgrade`; the upgrade's output, whatever its status.
fn publish_and_upgrade(root: &Root, work: &Path, debs: &[&PathBuf]) -> std::process::Output {
    publish(root, work, debs, "updates", None);
    root.exec(&format!(
        "{NONINTERACTIVE} apt-get upgrade -y -q -o Dpkg::Options::=--force-confold 2>&1"
    ))
}

/// Publishes `debs` as the signed suite `suite` of a repository inside the root (`make-repo`,
/// the tree's key, which the root trusts), with the Release file's Origin and Label `origin`
/// when given, adds it to the root's sources and runs `apt-get update`.
fn publish(root: &Root, work: &Path, debs: &[&PathBuf], suite: &str, origin: Option<(&str, &str)>) {
    let pool = work.join(format!("{suite}-pool"));
    let _ = std::fs::remove_dir_all(&pool);
    std::fs::create_dir_all(&pool).unwrap();
    for deb in debs {
        std::fs::copy(deb, pool.join(deb.file_name().unwrap())).unwrap();
    }
    let out = root.path.join("var/tmp").join(suite);
    let _ = std::fs::remove_dir_all(&out);
    let mut command = Command::new(Path::new(TREE).join("tools/make-repo"));
    command
        .arg(&out)
        .arg(format!("{suite}={}", pool.display()))
        .env("REPO_URI", format!("file:/var/tmp/{suite}"));
    if let Some((origin, label)) = origin {
        command.env("REPO_ORIGIN", origin).env("REPO_LABEL", label);
    }
    let made = command.output().unwrap();
    assert!(made.status.success(), "{}", output_text(&made));
    root.exec_ok(&format!(
        "cp /var/tmp/{suite}/{suite}.sources /etc/apt/sources.list.d/ && apt-get update -q >/dev/null"
    ));
}

/// `Root::dpkg_state` of the booted root: each package's name, state and version.
fn packages_of(root: &Root) -> String {
    root.exec_ok("dpkg-query -W -f '${Package} ${db:Status-Status} ${Version}\\n' | sort")
}

/// The directory of the newer builds, deleted on drop (kept with `APPLIANCE_E2E_KEEP`).
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        if std::env::var_os("APPLIANCE_E2E_KEEP").is_none() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// Waits up to 60 s for `unit` to be active in the booted root.
fn wait_active(root: &Root, unit: &str) {
    let started = Instant::now();
    loop {
        let state = root.exec(&format!("systemctl is-active {unit}"));
        let state = String::from_utf8_lossy(&state.stdout).trim().to_owned();
        if state == "active" {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "{unit} is {state}:\n{}",
            output_text(&root.exec(&format!("systemctl status {unit}; journalctl -u {unit}")))
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

#[test]
#[cfg_attr(not(appliance_e2e), ignore = "end-to-end: make test runs it")]
fn a_newer_moin_and_appliance_install_over_the_old_ones_with_the_wiki_kept() {
    needs(
        "a_newer_moin_and_appliance_install_over_the_old_ones_with_the_wiki_kept",
        &["dpkg-buildpackage", "chromium", "chromedriver"],
    );
    assert!(
        release().join("va-seed").exists(),
        "no {}: run make deb",
        release().join("va-seed").display()
    );
    // The newer packages build while the old ones are installed and used.
    let scratch = Scratch(PathBuf::from(format!(
        "/var/tmp/moinmoin-upgrade-{}",
        std::process::id()
    )));
    let builder = {
        let work = scratch.0.clone();
        std::thread::spawn(move || {
            let moin = newer_build(&work, "moin");
            let appliance = newer_build(&work, "appliance");
            (moin, appliance)
        })
    };
    let root = installed("moinmoin-upgrade");
    let ports = serve(&root);
    let wiki = format!("http://127.0.0.1:{}", ports.web);
    let browser = browser();
    wiki_log_in(&browser, &wiki, &root);
    wiki_edit(
        &browser,
        &wiki,
        "UpgradeProofPage",
        "= Before the upgrade =\nWritten with the old build.",
        "before the upgrade",
    );
    drop(browser);
    let ((moin_version, moin), (appliance_version, appliance)) =
        builder.join().expect("the newer builds");

    let (wiki_before, control_before) = (
        crate::moinmoin::wiki_password(&root),
        crate::moinmoin::control_password(&root),
    );
    // A plain `apt-get upgrade` from a signed repository of updates, as a user gets them.
    let upgraded = publish_and_upgrade(&root, &scratch.0, &[&moin, &appliance]);
    assert!(upgraded.status.success(), "{}", output_text(&upgraded));
    // APT's hook made a safety backup first, and said so in one line.
    let said = String::from_utf8_lossy(&upgraded.stdout);
    let line = said
        .lines()
        .find(|l| l.contains("Safety backup of moinmoin-appliance before this transaction: "))
        .unwrap_or_else(|| panic!("no safety backup:\n{said}"));
    assert!(
        line.contains("/var/backups/appliance/safety/moinmoin-appliance-") && line.ends_with(')'),
        "{line}"
    );
    let records = root.exec_ok("cat /var/backups/appliance/safety/*.json");
    let record: serde_json::Value = serde_json::from_str(&records).unwrap();
    // (Debian's own updates of nginx, say, may come with it.)
    let guarded = record["guarded"].as_array().unwrap();
    assert!(
        guarded[0] == "moinmoin-appliance" && guarded.contains(&serde_json::json!("moin")),
        "{record}"
    );
    let moin_change = record["transaction"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["package"] == "moin")
        .unwrap_or_else(|| panic!("{record}"));
    assert_eq!(moin_change["after"], moin_version.as_str(), "{record}");
    assert_ne!(moin_change["before"], moin_version.as_str(), "{record}");
    // After dpkg, APT ran the health checks the hook had left due: the wiki answers.
    assert!(
        said.contains("moinmoin-appliance: healthy (2 checks passed)"),
        "{said}"
    );
    let health: serde_json::Value =
        serde_json::from_str(&root.read("/var/lib/appliance/health/moinmoin-appliance.json"))
            .unwrap();
    assert_eq!(health["ok"], true, "{health}");
    assert_eq!(health["after"], "an upgrade", "{health}");
    assert!(!root.exists("/var/lib/appliance/health/pending"));
    let backup = format!(
        "/var/backups/appliance/safety/{}",
        record["backup"].as_str().unwrap()
    );
    root.exec_ok(&format!("va-backup verify {backup}"));
    let state = packages_of(&root);
    for (package, version) in [
        ("moin", &moin_version),
        ("moinmoin-appliance", &appliance_version),
    ] {
        assert!(
            state
                .lines()
                .any(|l| l == format!("{package} installed {version}")),
            "{package} is not {version}:\n{state}"
        );
    }

    // The wiki's page, its administrator and appliance-control's, and moin running.
    wait_active(&root, "moin");
    let page = wiki_page(&root, ports.web, "/UpgradeProofPage");
    assert!(page.contains("Written with the old build."), "{page}");
    // The upgrade kept the generated secrets.
    assert_eq!(crate::moinmoin::wiki_password(&root), wiki_before);
    assert_eq!(crate::moinmoin::control_password(&root), control_before);
    let login = wiki_login(&root, ports.web, &wiki_before);
    assert!(
        login.starts_with("302") && login.contains("Logout"),
        "{login}"
    );
    let overview = control_login(&root, ports.control, &control_before);
    assert!(overview.starts_with("303"), "{overview}");

    // A newer appliance whose postinst breaks the wiki: the checks after it fail (and are
    // mailed); `va-backup rollback` puts back the version before it and the wiki's files.
    let (_, breaking) = newer_build_with(
        &scratch.0,
        "appliance",
        2,
        Some(
            "if [ \"$1\" = configure ]; then\n\techo 'raise SystemExit(\"broken by this upgrade\")' >> /etc/moin/wikiconfig.py\n\tsystemctl restart moin || true\nfi\n",
        ),
    );
    let broke = publish_and_upgrade(&root, &scratch.0, &[&moin, &appliance, &breaking]);
    let said = output_text(&broke);
    assert!(
        said.contains("Safety backup of moinmoin-appliance before this transaction")
            && said.contains("moinmoin-appliance: UNHEALTHY after an upgrade: ")
            && said.contains("wiki front page: "),
        "{said}"
    );
    let health = root.read("/var/lib/appliance/health/moinmoin-appliance.json");
    assert!(health.contains("\"ok\": false"), "{health}");
    let rolled = root.exec_ok("va-backup rollback 2>&1");
    assert!(
        rolled.contains(&format!(
            "put back: moinmoin-appliance {appliance_version} (from APT's sources)"
        )) && rolled.contains("moinmoin-appliance: healthy"),
        "{rolled}"
    );
    assert!(
        packages_of(&root).contains(&format!("moinmoin-appliance installed {appliance_version}"))
    );
    assert!(
        !root
            .read("/etc/moin/wikiconfig.py")
            .contains("broken by this upgrade")
    );
    let page = wiki_page(&root, ports.web, "/UpgradeProofPage");
    assert!(page.contains("Written with the old build."), "{page}");
    let again = root.exec("va-backup rollback 2>&1");
    assert!(
        !again.status.success() && output_text(&again).contains("was put back already"),
        "{}",
        output_text(&again)
    );

    // A safety backup that cannot be made stops the transaction before dpkg changes anything;
    // APT's option goes on without one.
    let dir = root.path.join("var/tmp/upgrade");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(&appliance, dir.join(appliance.file_name().unwrap())).unwrap();
    let reinstall = format!(
        "{NONINTERACTIVE} apt-get install --reinstall -y -q /var/tmp/upgrade/{} 2>&1",
        appliance.file_name().unwrap().to_string_lossy()
    );
    root.exec_ok(
        "mv /var/backups/appliance/safety /var/tmp/safety && touch /var/backups/appliance/safety",
    );
    let before = packages_of(&root);
    let refused = root.exec(&reinstall);
    let text = output_text(&refused);
    assert!(!refused.status.success(), "{text}");
    assert!(
        text.contains("cannot keep the safety backup in /var/backups/appliance/safety")
            && text.contains("stopped this transaction before dpkg changed anything"),
        "{text}"
    );
    assert_eq!(packages_of(&root), before);
    let without = root.exec_ok(&reinstall.replace(
        "apt-get install",
        "apt-get -o Appliance::Safety-Backup=false install",
    ));
    assert!(!without.contains("Safety backup"), "{without}");
    // The reinstall took the version asked for, and the wiki's configuration is still the one
    // the rollback put back.
    assert!(
        packages_of(&root).contains(&format!("moinmoin-appliance installed {appliance_version}"))
            && !root
                .read("/etc/moin/wikiconfig.py")
                .contains("broken by this upgrade"),
        "{without}\n{}\n{}",
        packages_of(&root),
        root.exec_ok("ls -la /etc/moin /etc/.moin* 2>&1; tail -n 40 /var/log/dpkg.log; true")
    );
    root.exec_ok(
        "rm /var/backups/appliance/safety && mv /var/tmp/safety /var/backups/appliance/safety",
    );

    // The checks fail when the wiki does not answer, and say which; the record keeps it.
    root.exec_ok("systemctl stop moin");
    let failing = root.exec("va-backup health 2>&1");
    let text = output_text(&failing);
    assert_eq!(failing.status.code(), Some(1), "{text}");
    assert!(
        text.contains("moinmoin-appliance: UNHEALTHY after a request: moin service: ")
            && text.contains("wiki front page: "),
        "{text}"
    );
    assert!(
        root.read("/var/lib/appliance/health/moinmoin-appliance.json")
            .contains("\"ok\": false")
    );
    // The root's systemd (in systemd-nspawn, on CI's kernel) may lose the unit's cgroup after a
    // stop ("Failed to kill control group …: Input/output error", then "Failed to attach to
    // cgroup /system.slice/moin.service: No such file or directory" at the next start): it
    // learns the cgroups again on a reload. A moin that cannot start fails the second start too.
    let start = root.exec("systemctl start moin 2>&1");
    if !start.status.success() {
        eprintln!(
            "the root's systemd could not start moin; started again after a reload: {}",
            output_text(&start)
        );
        root.exec_ok(
            "systemctl daemon-reload && systemctl reset-failed moin && systemctl start moin",
        );
    }
    let healthy = root.exec_ok("va-backup health");
    assert!(healthy.contains("moinmoin-appliance: healthy"), "{healthy}");
}

#[test]
#[cfg_attr(not(appliance_e2e), ignore = "end-to-end: make test runs it")]
fn the_moin_package_builds_twice_to_the_same_bytes() {
    needs(
        "the_moin_package_builds_twice_to_the_same_bytes",
        &["dpkg-buildpackage"],
    );
    let mut command =
        Command::new(Path::new(TREE).join("appliances/moinmoin/moin/check-reproducible"));
    command.env("MOIN_WHEELHOUSE", wheelhouse());
    if wheelhouse().join("build").is_dir() {
        command.env("MOIN_OFFLINE", "1");
    }
    let output = command.output().expect("run check-reproducible");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.starts_with("reproducible: yes"),
        "{}",
        output_text(&output)
    );
}

/// Sets the booted `root` as an administrator would on appliance-control: root's mail relayed to
/// the smarthost `sink`, unattended updates on (security updates only, at 03:30); and checks
/// that APT and the timer took it.
fn unattended_security_updates_mailing_to(root: &Root, sink: &crate::smtp_sink::SmtpSink) {
    // postfix relays root's mail to the smarthost, a sink on the host; it takes no mail itself
    // (no smtpd on port 25, which the host's network namespace shares).
    let smarthost = agent(
        root,
        &format!(
            r#"{{"op":"smarthost","host":"127.0.0.1","port":{},"user":""}}"#,
            sink.port
        ),
    );
    assert!(smarthost.contains("\"ok\":true"), "{smarthost}");
    root.exec_ok("postconf -M# smtp/inet && systemctl enable -q --now postfix");
    // Unattended updates on, security updates only, from the Updates page's request.
    let set = agent(
        root,
        r#"{"op":"unattended","enable":true,"all-updates":false,"time":"03:30","reboot":false}"#,
    );
    assert!(
        set.contains("\"enabled\":true") && set.contains("\"all-updates\":false"),
        "{set}"
    );
    let timer = root.exec_ok("systemctl show -p TimersCalendar apt-daily-upgrade.timer");
    assert!(timer.contains("03:30"), "{timer}");
    let config = root.exec_ok("apt-config dump | grep -i '^Unattended-Upgrade::Origins-Pattern::'");
    assert!(
        !config.contains("label=Debian\"") && config.contains("-security,label=Debian-Security"),
        "not security updates only:\n{config}"
    );
}

#[test]
#[cfg_attr(not(appliance_e2e), ignore = "end-to-end: make test runs it")]
fn unattended_upgrades_rolls_back_a_security_update_that_breaks_the_wiki_and_mails_what_it_did() {
    needs(
        "unattended_upgrades_rolls_back_a_security_update_that_breaks_the_wiki_and_mails_what_it_did",
        &["dpkg-buildpackage"],
    );
    let scratch = Scratch(PathBuf::from(format!(
        "/var/tmp/moinmoin-unattended-{}",
        std::process::id()
    )));
    // A "security update" of the appliance whose postinst breaks the wiki, built meanwhile.
    let builder = {
        let work = scratch.0.clone();
        std::thread::spawn(move || {
            newer_build_with(
                &work,
                "appliance",
                3,
                Some(
                    "if [ \"$1\" = configure ]; then\n\techo 'raise SystemExit(\"broken by this update\")' >> /etc/moin/wikiconfig.py\n\tsystemctl restart moin || true\nfi\n",
                ),
            )
        })
    };
    let root = installed("moinmoin-unattended");
    // appliance-control recommends unattended-upgrades: a plain install has it.
    assert!(
        root.exists("/usr/bin/unattended-upgrade"),
        "unattended-upgrades was not installed with the appliance"
    );
    let ports = serve(&root);
    let old = root.exec_ok("dpkg-query -W -f '${Version}' moinmoin-appliance");
    let sink = crate::smtp_sink::SmtpSink::start();
    unattended_security_updates_mailing_to(&root, &sink);

    // The update comes from a security archive of the root's release (Origin and Label as
    // Debian's), and unattended-upgrades runs by hand, as its timer would run it.
    let (new_version, breaking) = builder.join().expect("the breaking build");
    let codename = root.exec_ok(". /etc/os-release && printf %s \"$VERSION_CODENAME\"");
    publish(
        &root,
        &scratch.0,
        &[&breaking],
        &format!("{codename}-security"),
        Some(("Debian", "Debian-Security")),
    );
    let ran = root.exec("unattended-upgrade -v 2>&1");
    let said = output_text(&ran);
    assert!(
        said.contains("moinmoin-appliance"),
        "unattended-upgrades did not take the update:\n{said}"
    );
    // The hook made its safety backup first (its line goes where unattended-upgrades puts APT's
    // output: its dpkg log), for this transaction.
    let dpkg_log = root.exec_ok(
        "cat /var/log/unattended-upgrades/unattended-upgrades-dpkg.log 2>/dev/null || true",
    );
    let records = root.exec_ok("cat /var/backups/appliance/safety/*.json");
    assert!(
        records.contains(&format!("\"after\": \"{new_version}\"")),
        "no safety backup for the update:\n{records}\n{said}\n{dpkg_log}"
    );
    // The checks fail after it; the rollback starts on its own and mails what it did.
    let rolled = sink.wait_for(
        "the appliance was rolled back after a failed unattended upgrade",
        Duration::from_secs(600),
    );
    assert!(
        rolled.contains(&format!("put back: moinmoin-appliance {old}"))
            && rolled.contains("moinmoin-appliance: healthy"),
        "{rolled}"
    );
    let unhealthy = sink.wait_for(
        "unhealthy after an unattended upgrade",
        Duration::from_secs(60),
    );
    assert!(
        unhealthy.contains("it is being rolled back now"),
        "{unhealthy}"
    );
    assert!(
        packages_of(&root).contains(&format!("moinmoin-appliance installed {old}")),
        "{}",
        packages_of(&root)
    );
    assert!(
        !root
            .read("/etc/moin/wikiconfig.py")
            .contains("broken by this update")
    );
    wait_active(&root, "moin");
    wiki_page(&root, ports.web, "/");
    let health: serde_json::Value =
        serde_json::from_str(&root.read("/var/lib/appliance/health/moinmoin-appliance.json"))
            .unwrap();
    assert_eq!(health["ok"], true, "{health}");
    assert_eq!(health["after"], "a rollback", "{health}");

    // The Updates page's history: the unattended transaction with its safety backup, its failed
    // health and its rollback.
    let history = agent(&root, r#"{"op":"history"}"#);
    let answer: serde_json::Value = serde_json::from_str(history.trim()).unwrap();
    let transactions = answer["data"]["transactions"].as_array().unwrap();
    let unattended = transactions
        .iter()
        .find(|t| t["safety_backup"].is_string())
        .unwrap_or_else(|| panic!("no transaction with a safety backup: {history}"));
    assert_eq!(unattended["health"]["ok"], false, "{history}");
    assert!(unattended["rolled_back"].is_string(), "{history}");
}
