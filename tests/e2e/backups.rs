//! The backup issue on a real appliance: dokuwiki-appliance's plugin manifest drives `va-backup`
//! in a booted Debian root, with Apache really stopped and started around the restore.

use crate::harness::{Root, free_port, needs, version};
use crate::seeds::NONINTERACTIVE;

/// The page `start` as Apache serves it.
fn page(root: &Root, port: u16) -> String {
    wiki_page(root, port, "start")
}

/// The wiki text of the page `id` as Apache serves it.
pub(crate) fn wiki_page(root: &Root, port: u16, id: &str) -> String {
    root.exec_ok(&format!(
        "curl -fsS 'http://127.0.0.1:{port}/doku.php?id={id}&do=export_raw'"
    ))
}

/// Moves Apache to a free port of the shared network (postfix would want the host's port 25, so
/// it stays off) and boots the root; the port.
pub(crate) fn serve(root: &Root) -> u16 {
    let port = free_port();
    root.ok(&format!(
        "sed -i 's/^Listen 80$/Listen 127.0.0.1:{port}/' /etc/apache2/ports.conf
         sed -i 's/<VirtualHost \\*:80>/<VirtualHost *:{port}>/' /etc/apache2/sites-available/000-default.conf
         systemctl disable -q postfix"
    ));
    root.boot();
    port
}

#[test]
#[cfg_attr(not(appliance_e2e), ignore = "end-to-end: make test runs it")]
fn the_appliance_plugin_backs_up_and_restores_a_running_wiki() {
    needs(
        "the_appliance_plugin_backs_up_and_restores_a_running_wiki",
        &[],
    );
    let root = Root::fresh("backups");
    root.ok(&format!(
        "{NONINTERACTIVE} apt-get install -y -q appliance-tools dokuwiki-appliance >/dev/null"
    ));
    let port = serve(&root);
    assert_eq!(
        root.exec("systemctl is-enabled va-backup.timer")
            .stdout
            .trim_ascii(),
        b"disabled",
        "the nightly backup is off until the owner turns it on"
    );
    let pages = "/var/lib/dokuwiki/data/pages";
    root.exec_ok(&format!(
        "printf '====== Backed up ======\\n' > {pages}/start.txt; chown www-data: {pages}/start.txt"
    ));
    assert!(page(&root, port).contains("Backed up"));

    // `va-backup create` with no arguments: the appliance's own manifest.
    let made = root.exec_ok("va-backup --json create");
    let made: serde_json::Value = serde_json::from_str(&made).unwrap();
    let abf = made["path"].as_str().unwrap().to_owned();
    assert!(
        abf.starts_with("/var/backups/appliance/dokuwiki-appliance-"),
        "{made}"
    );
    let shown = root.exec_ok(&format!("va-backup --json show {abf}"));
    let shown: serde_json::Value = serde_json::from_str(&shown).unwrap();
    assert_eq!(shown["appliance"], "dokuwiki-appliance");
    assert_eq!(shown["version"], version("dokuwiki-appliance").as_str());

    // Later edits, a new page, a changed configuration.
    root.exec_ok(&format!(
        "printf '====== Edited ======\\n' > {pages}/start.txt
         printf 'new\\n' > {pages}/later.txt
         echo '$conf[\"title\"] = \"Changed\";' >> /etc/dokuwiki/local.php"
    ));
    assert!(page(&root, port).contains("Edited"));
    let started = || {
        root.exec_ok("systemctl show -p ActiveEnterTimestampMonotonic --value apache2")
            .trim()
            .to_owned()
    };
    let before = started();

    let restored = root.exec_ok(&format!("va-backup restore {abf}"));
    assert!(restored.starts_with("restored "), "{restored}");
    assert_ne!(started(), before, "apache2 was stopped and started again");
    assert_eq!(root.exec_ok("systemctl is-active apache2").trim(), "active");
    assert!(page(&root, port).contains("Backed up"));
    assert!(!root.exists(&format!("{pages}/later.txt")));
    assert!(!root.read("/etc/dokuwiki/local.php").contains("Changed"));
    // Owners by name, and /etc/dokuwiki's links into /var/lib/dokuwiki/acl, as they were.
    assert_eq!(
        root.exec_ok(&format!("stat -c %U {pages}/start.txt"))
            .trim(),
        "www-data"
    );
    assert_eq!(
        root.exec_ok("readlink /etc/dokuwiki/users.auth.php").trim(),
        "/var/lib/dokuwiki/acl/users.auth.php"
    );
    assert!(root.read("/etc/dokuwiki/users.auth.php").contains("admin:"));
    // Nothing staged or journalled is left behind.
    let left = root.exec_ok("find / -xdev -name '.*.appliance-*' -o -name restore.journal");
    assert!(left.trim().is_empty(), "{left}");
}
