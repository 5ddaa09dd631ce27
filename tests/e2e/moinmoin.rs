//! The flagship appliance: moinmoin-appliance installed with plain apt-get in a Debian root booted
//! with its own systemd, the wiki served by nginx at the site's root URL, appliance-control beside
//! it, and a backup of the 2009 moinmoin appliance (`MoinMoin` 1.9) restored onto it.

use std::fmt::Write as _;
use std::process::Command;

use crate::harness::{Root, free_port, needs, output_text};
use crate::seeds::{NONINTERACTIVE, assert_nothing_asked};

/// The ports of a booted appliance on the shared network.
pub(crate) struct Ports {
    /// nginx, in place of port 80.
    pub(crate) web: u16,
    /// appliance-control, in place of port 8080.
    pub(crate) control: u16,
    /// gunicorn, in place of port 8000.
    pub(crate) gunicorn: u16,
}

/// Moves nginx, gunicorn and appliance-control to free ports (booted roots share the host's
/// network), keeps postfix from the host's port 25, boots the root and waits for both services.
/// appliance-tools, then moinmoin-appliance as a user installs it: nothing asked, and moin has the
/// seed's wiki name.
pub(crate) fn install_asking_nothing(root: &Root) {
    root.ok(&format!(
        "{NONINTERACTIVE} apt-get install -y -q appliance-tools >/dev/null"
    ));
    assert_nothing_asked(root, "moinmoin-appliance");
    assert!(
        root.read("/etc/moin/moin.conf")
            .contains("SITENAME='Appliance Wiki'")
    );
}

/// The wiki administrator's password generated for this system (`va-seed secrets`).
pub(crate) fn wiki_password(root: &Root) -> String {
    root.secret("moinmoin-appliance", "wiki-admin")
}

/// appliance-control's administrator's password generated for this system.
pub(crate) fn control_password(root: &Root) -> String {
    root.secret("moinmoin-appliance", "control-admin")
}

pub(crate) fn serve(root: &Root) -> Ports {
    let (web, gunicorn, control) = (free_port(), free_port(), free_port());
    root.ok(&format!(
        "{}
         systemctl disable -q postfix
         mkdir -p /etc/systemd/system/appliance-control.service.d
         printf '[Service]\\nExecStart=\\nExecStart=/usr/bin/appliance-control serve --listen 127.0.0.1:{control} $APPLIANCE_CONTROL_ARGS\\n' \
             > /etc/systemd/system/appliance-control.service.d/port.conf",
        wiki_ports(web, gunicorn)
    ));
    root.boot();
    root.exec_ok(&format!(
        "for i in $(seq 100); do curl -kfs -o /dev/null https://127.0.0.1:{control}/login && exit 0; sleep 0.2; done; systemctl status appliance-control; exit 1"
    ));
    wiki_page(root, web, "/");
    Ports {
        web,
        control,
        gunicorn,
    }
}

/// The shell commands that move nginx from port 80 to `web` and gunicorn from 8000 to `gunicorn`
/// in /etc/moin.
fn wiki_ports(web: u16, gunicorn: u16) -> String {
    format!(
        "sed -i 's/listen 80;/listen 127.0.0.1:{web};/; /listen \\[::\\]:80;/d; s/127.0.0.1:8000/127.0.0.1:{gunicorn}/' /etc/moin/nginx-site.conf
         sed -i 's/127.0.0.1:8000/127.0.0.1:{gunicorn}/' /etc/moin/gunicorn.conf.py"
    )
}

/// Moves the wiki of the booted root to `ports` again and restarts it: a restored /etc/moin
/// from another system has that system's ports, 80 and 8000.
pub(crate) fn serve_again(root: &Root, ports: &Ports) {
    root.exec_ok(&format!(
        "{}\n systemctl restart moin nginx",
        wiki_ports(ports.web, ports.gunicorn)
    ));
}

/// A page of the wiki through nginx (moin may still be starting).
pub(crate) fn wiki_page(root: &Root, web: u16, path: &str) -> String {
    root.exec_ok(&format!(
        "for i in $(seq 120); do curl -fsSL http://127.0.0.1:{web}{path} && exit 0; sleep 0.5; done; systemctl status moin nginx; exit 1"
    ))
}

/// Logs in to the wiki as its seeded administrator; the HTTP status, then the front page.
/// The logo `front` (a wiki page) shows is served as an SVG image, which a browser shows (moin
/// 2.0.0b5 alone serves it as text/xml, which it does not).
pub(crate) fn assert_logo_is_an_image(root: &Root, web: u16, front: &str) {
    let logo = "/static/logos/moinmoin.svg";
    assert!(front.contains(&format!("src=\"{logo}\"")), "{front}");
    let served = root.exec_ok(&format!(
        "curl -fsS -o /dev/null -w '%{{content_type}}' http://127.0.0.1:{web}{logo}"
    ));
    assert!(
        served.starts_with("image/svg+xml"),
        "the type of the wiki's logo: {served}"
    );
}

pub(crate) fn wiki_login(root: &Root, web: u16, password: &str) -> String {
    wiki_login_as(root, web, "WikiAdmin", password)
}

/// Logs in to the wiki as `user`; the HTTP status (302 when it worked), then the front page.
/// The password goes to curl on its standard input, never on a command line.
pub(crate) fn wiki_login_as(root: &Root, web: u16, user: &str, password: &str) -> String {
    logged_in(
        root,
        &format!(
            "cd /var/tmp && rm -f wiki-jar && \
             curl -sS -o /dev/null -w '%{{http_code}}\\n' -c wiki-jar --data-urlencode login_username='{user}' \
               --data-urlencode login_password@- -d login_nexturl=/ -d login_submit=1 \
               http://127.0.0.1:{web}/+login && \
             curl -fsSL -b wiki-jar http://127.0.0.1:{web}/"
        ),
        password,
    )
}

/// Logs in to appliance-control as its administrator; the HTTP status, then the overview.
pub(crate) fn control_login(root: &Root, control: u16, password: &str) -> String {
    logged_in(
        root,
        &format!(
            "cd /var/tmp && rm -f jar && \
             csrf=$(curl -kfsS -c jar https://127.0.0.1:{control}/login | grep -o 'name=\"csrf\" value=\"[0-9a-f]*' | grep -o '[0-9a-f]*$') && \
             curl -ksS -b jar -c jar -o /dev/null -w '%{{http_code}}\\n' --data-urlencode user=admin --data-urlencode password@- --data csrf=$csrf https://127.0.0.1:{control}/login && \
             curl -kfsS -b jar https://127.0.0.1:{control}/"
        ),
        password,
    )
}

/// Runs a login `script` in the booted root with `password` (without a newline: curl's `@-`
/// sends all it reads) on its standard input; its output, which must be a success.
fn logged_in(root: &Root, script: &str, password: &str) -> String {
    let output = root.exec_with_input(script, password);
    assert!(
        output.status.success(),
        "`{script}` failed in the booted root:\n{}",
        output_text(&output)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The moinmoin plugin's page of appliance-control, in the session that [`control_login`] opened.
fn control_plugin_page(root: &Root, control: u16) -> String {
    root.exec_ok(&format!(
        "curl -kfsS -b /var/tmp/jar https://127.0.0.1:{control}/plugins/moinmoin"
    ))
}

/// Sends an action's form to the moinmoin plugin's page of appliance-control, in the session that
/// [`control_login`] opened, with the page's CSRF token; the HTTP status, then the page after.
fn control_action(root: &Root, control: u16, fields: &[(&str, &str)]) -> String {
    // The fields (a password among them) reach curl as a config on its standard input, never
    // on a command line.
    let config = fields
        .iter()
        .fold(String::new(), |mut config, (name, value)| {
            let _ = writeln!(config, "data-urlencode = \"{name}={value}\"");
            config
        });
    logged_in(
        root,
        &format!(
            "cd /var/tmp && page=https://127.0.0.1:{control}/plugins/moinmoin && \
             csrf=$(curl -kfsS -b jar $page < /dev/null | grep -o 'name=\"csrf\" value=\"[0-9a-f]*' | head -n1 | grep -o '[0-9a-f]*$') && \
             curl -ksS -b jar -o /dev/null -w '%{{http_code}}\\n' --data csrf=$csrf -K - $page/action && \
             curl -kfsS -b jar $page < /dev/null"
        ),
        &config,
    )
}

/// One request to appliance-control's agent, as root; the answer lines.
pub(crate) fn agent(root: &Root, line: &str) -> String {
    // The request (a password among its parameters) goes on standard input, not on a command
    // line.
    logged_in(
        root,
        "python3 -c 'import socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(300)
s.connect(\"/run/appliance/agent.sock\")
s.sendall(sys.stdin.read().encode() + b\"\\n\")
for answer in s.makefile():
    print(answer, end=\"\")
    if \"\\\"ok\\\"\" in answer:
        break'",
        line,
    )
}

#[test]
#[cfg_attr(not(appliance_e2e), ignore = "end-to-end: make test runs it")]
fn moinmoin_appliance_installs_without_a_question_and_serves_the_wiki_at_the_root() {
    needs(
        "moinmoin_appliance_installs_without_a_question_and_serves_the_wiki_at_the_root",
        &[],
    );
    let root = Root::fresh("moinmoin");
    install_asking_nothing(&root);
    // The seed reached postfix and appliance-control too.
    let main_cf = root.read("/etc/postfix/main.cf");
    assert!(
        main_cf.contains("relayhost = [smtp.example.org]:587")
            && main_cf.contains("inet_interfaces = loopback-only"),
        "not a satellite of the smarthost:\n{main_cf}"
    );
    assert!(
        root.read("/etc/moin/local.conf")
            .contains("MAIL_SMARTHOST=localhost\nMAIL_FROM=wiki@wiki.example.org"),
        "the wiki does not mail through postfix"
    );
    let mail = root.ok(
        "cd /var/lib/moin && runuser -u moin -- /opt/moin/bin/python3 -c \
         'import runpy; c = runpy.run_path(\"/etc/moin/wikiconfig.py\")[\"Config\"]; print(c.mail_smarthost, c.mail_from)'",
    );
    assert_eq!(mail.trim(), "localhost wiki@wiki.example.org");
    // The wiki is the site: its nginx site enabled, Debian's default one gone.
    assert_eq!(
        root.ok("readlink /etc/nginx/sites-enabled/moin").trim(),
        "/etc/moin/nginx-site.conf"
    );
    assert!(!root.exists("/etc/nginx/sites-enabled/default"));

    let ports = serve(&root);
    let front = wiki_page(&root, ports.web, "/");
    assert!(
        front.contains("<title>Home - Appliance Wiki</title>"),
        "{front}"
    );
    assert_logo_is_an_image(&root, ports.web, &front);
    // Neither a wrong password nor the one every appliance shared before opens the wiki.
    for password in ["not-the-password", "appliance-demo"] {
        let wrong = wiki_login(&root, ports.web, password);
        assert!(
            wrong.starts_with("200") && !wrong.contains("Logout"),
            "{password}: {wrong}"
        );
    }
    let right = wiki_login(&root, ports.web, &wiki_password(&root));
    assert!(
        right.starts_with("302") && right.contains("Logout"),
        "{right}"
    );

    // The plugin's setting and action, as appliance-control's page asks the agent for them.
    let set = agent(
        &root,
        r#"{"op":"setting-set","plugin":"moinmoin","setting":"wiki-name","value":"Renamed Wiki"}"#,
    );
    assert!(set.contains(r#""ok":true"#), "{set}");
    let front = wiki_page(&root, ports.web, "/");
    assert!(
        front.contains("<title>Home - Renamed Wiki</title>"),
        "{front}"
    );
    let rebuilt = agent(
        &root,
        r#"{"op":"action","plugin":"moinmoin","action":"rebuild-index"}"#,
    );
    assert!(rebuilt.contains(r#""ok":true"#), "{rebuilt}");
    assert!(wiki_page(&root, ports.web, "/Home").contains("Renamed Wiki"));

    let shared = control_login(&root, ports.control, "appliance-demo");
    assert!(shared.starts_with("401"), "{shared}");
    let overview = control_login(&root, ports.control, &control_password(&root));
    assert!(overview.starts_with("303"), "{overview}");
    assert!(
        overview.contains("<h1>Overview</h1>")
            && overview.contains("MoinMoin wiki")
            && overview.contains("moin"),
        "{overview}"
    );
}

#[test]
#[cfg_attr(not(appliance_e2e), ignore = "end-to-end: make test runs it")]
fn a_wiki_user_created_in_appliance_control_logs_in_and_again_after_a_password_reset() {
    needs(
        "a_wiki_user_created_in_appliance_control_logs_in_and_again_after_a_password_reset",
        &[],
    );
    let root = Root::fresh("moinmoin-accounts");
    root.ok(&format!(
        "{NONINTERACTIVE} apt-get install -y -q appliance-tools moinmoin-appliance >/dev/null"
    ));
    let ports = serve(&root);
    let (first, second) = ("First-pass-8361", "Second-pass-2957");
    assert!(control_login(&root, ports.control, &control_password(&root)).starts_with("303"));
    let page = control_plugin_page(&root, ports.control);
    assert!(
        page.contains("<h2>Create a wiki user</h2>")
            && page.contains(r#"<input name="param-password" type="password""#),
        "{page}"
    );
    // Created on appliance-control's page, the user logs in to the wiki.
    let create = [
        ("action", "create-user"),
        ("param-name", "Alice Example"),
        ("param-email", "alice@example.org"),
        ("param-password", first),
    ];
    let created = control_action(&root, ports.control, &create);
    assert!(
        created.starts_with("303")
            && created.contains("Done: Create a wiki user")
            && created.contains("Created the wiki account `Alice Example` (alice@example.org)."),
        "{created}"
    );
    let login = wiki_login_as(&root, ports.web, "Alice Example", first);
    assert!(
        login.starts_with("302") && login.contains("Logout"),
        "{login}"
    );
    // moin's refusal (it exits 0) is a clear error on the page.
    let again = control_action(&root, ports.control, &create);
    assert!(
        again.contains("class=\"message error\"")
            && again.contains("This user name already belongs to somebody else."),
        "{again}"
    );
    // The password reset through the agent: the old one no longer works, the new one does.
    let reset = agent(
        &root,
        &format!(
            r#"{{"op":"action","plugin":"moinmoin","action":"reset-password","parameters":{{"name":"Alice Example","password":"{second}"}}}}"#
        ),
    );
    assert!(
        reset.contains(r#""ok":true"#) && reset.contains("Set the password"),
        "{reset}"
    );
    let old = wiki_login_as(&root, ports.web, "Alice Example", first);
    assert!(old.starts_with("200") && !old.contains("Logout"), "{old}");
    let login = wiki_login_as(&root, ports.web, "Alice Example", second);
    assert!(
        login.starts_with("302") && login.contains("Logout"),
        "{login}"
    );
    let nobody = agent(
        &root,
        &format!(
            r#"{{"op":"action","plugin":"moinmoin","action":"reset-password","parameters":{{"name":"Nobody","password":"{second}"}}}}"#
        ),
    );
    assert!(
        nobody.contains(r#""ok":false"#) && nobody.contains("there is no such account"),
        "{nobody}"
    );
    assert!(!nobody.contains(second), "{nobody}");
    // Neither password is in the journal.
    let logged = root.exec_ok(&format!(
        "set -o pipefail; journalctl --no-pager -o verbose | {{ grep -c -F -e {first} -e {second} || true; }}"
    ));
    assert_eq!(logged.trim(), "0", "a password is in the journal");
}

/// Writes a backup in the 2009 format holding a `MoinMoin` 1.9 wiki (`FrontPage` with two
/// revisions, `OldPage`, a user) into the root's /var/tmp; returns its path inside the root.
pub(crate) fn original_backup(root: &Root) -> String {
    let script = r#"set -eu
old=$PWD/old-system; data=$old/usr/share/moin/mywiki/data
mkdir -p $data/pages/FrontPage/revisions $data/pages/OldPage/revisions $data/user $old/etc/moin
printf '= Welcome =\nFirst revision, 2009.\n' > $data/pages/FrontPage/revisions/00000001
printf '= Welcome =\nSecond revision, 2009.\n' > $data/pages/FrontPage/revisions/00000002
printf '00000002\n' > $data/pages/FrontPage/current
printf '= Old page =\nAn old page from 2009.\n' > $data/pages/OldPage/revisions/00000001
printf '00000001\n' > $data/pages/OldPage/current
printf '1244000000000000\t00000001\tSAVENEW\tFrontPage\t192.0.2.7\told.example.org\t\t\tfirst edit\n' > $data/pages/FrontPage/edit-log
printf '1244000100000000\t00000002\tSAVE\tFrontPage\t192.0.2.7\told.example.org\t\t\tsecond edit\n' >> $data/pages/FrontPage/edit-log
printf '1244000200000000\t00000001\tSAVENEW\tOldPage\t192.0.2.7\told.example.org\t\t\told page\n' > $data/pages/OldPage/edit-log
cat $data/pages/*/edit-log | sort > $data/edit-log
printf 'name=OldUser\nemail=old@example.org\naliasname=\nenc_password=\nlanguage=\n' > $data/user/1244000000.12.3456
printf "sitename = u'My 2009 wiki'\n" > $old/etc/moin/mywiki.py
mkdir made; cd made
tar -P -czf sysconfig.tar.gz -C $old --transform 's,^,/,' etc/moin
tar -P -czf appdata.tar.gz -C $old --transform 's,^,/,' usr/share/moin/mywiki
printf '1\n' > version
printf "appdata:\n  dirs:\n  - /usr/share/moin/mywiki\nappliance: moinmoin\nsysconf:\n  dirs:\n  - /etc/moin\ntimestamp: '2009-06-01 12:00:00'\nversion: '1.0'\n" > info.yaml
sha1sum version info.yaml sysconfig.tar.gz appdata.tar.gz > sha1sums
zip -q ../moinmoin-2009.abf version info.yaml sysconfig.tar.gz appdata.tar.gz sha1sums
"#;
    let dir = root.path.join("var/tmp/moin19");
    std::fs::create_dir_all(&dir).unwrap();
    let output = Command::new("bash")
        .args(["-c", script])
        .current_dir(&dir)
        .output()
        .expect("run bash");
    assert!(output.status.success(), "{}", output_text(&output));
    "/var/tmp/moin19/moinmoin-2009.abf".to_owned()
}

#[test]
#[cfg_attr(not(appliance_e2e), ignore = "end-to-end: make test runs it")]
fn a_moinmoin_1_9_backup_of_2009_restores_onto_the_new_appliance() {
    needs(
        "a_moinmoin_1_9_backup_of_2009_restores_onto_the_new_appliance",
        &["zip"],
    );
    let root = Root::fresh("moinmoin-restore");
    root.ok(&format!(
        "{NONINTERACTIVE} apt-get install -y -q appliance-tools moinmoin-appliance >/dev/null"
    ));
    let ports = serve(&root);
    // A backup of the new appliance, before the old wiki comes in: its search index with it.
    let index = "ls /var/lib/moin/wiki/index";
    let index_before = root.exec_ok(index);
    let made = root.exec_ok("va-backup --json create");
    let made: serde_json::Value = serde_json::from_str(&made).unwrap();
    let own = made["path"].as_str().unwrap().to_owned();
    let abf = original_backup(&root);

    let restored = root.exec_ok(&format!("va-backup restore {abf} 2>&1"));
    assert!(restored.contains("restored "), "{restored}");
    assert_eq!(root.exec_ok("systemctl is-active moin").trim(), "active");

    // The old pages, at the root URL the old front page, with its revisions and their comments.
    let front = wiki_page(&root, ports.web, "/");
    assert!(front.contains("Second revision, 2009."), "{front}");
    let old = wiki_page(&root, ports.web, "/OldPage");
    assert!(old.contains("An old page from 2009."), "{old}");
    let history = wiki_page(&root, ports.web, "/+history/FrontPage");
    assert!(
        history.contains("first edit") && history.contains("second edit"),
        "{history}"
    );
    // The new wiki's own pages and administrator stay; the old configuration is kept aside.
    assert!(wiki_page(&root, ports.web, "/Home").contains("<title>Home - Appliance Wiki</title>"));
    assert!(wiki_login(&root, ports.web, &wiki_password(&root)).starts_with("302"));
    assert!(root.exists("/etc/moin/moinmoin-1.9/mywiki.py"));
    assert!(root.exists("/etc/moin/secret-key"));
    let strangers = root.exec_ok("find /var/lib/moin/wiki ! -user moin");
    assert!(
        strangers.trim().is_empty(),
        "not the user moin's: {strangers}"
    );
    let left = root.exec_ok("find / -xdev \\( -name '.*.appliance-*' -o -name '.import19.*' \\)");
    assert!(left.trim().is_empty(), "{left}");
    // The migration changed the data: the index was made again, and the search finds the old
    // page right after.
    assert_ne!(root.exec_ok(index), index_before);
    let found = wiki_page(&root, ports.web, "/+search?q=2009");
    assert!(found.contains("href=\"/OldPage?regex=2009\""), "{found}");

    // The appliance's own backup puts the wiki back as it was before, its search index with it
    // (kept, not made again: the same segments), which answers at once.
    let restored = root.exec_ok(&format!("va-backup restore {own} 2>&1"));
    assert!(restored.contains("restored "), "{restored}");
    assert_eq!(root.exec_ok(index), index_before);
    let found = wiki_page(&root, ports.web, "/+search?q=Home");
    assert!(
        found.contains("href=\"/Home?regex=Home\"") && !found.contains("OldPage"),
        "{found}"
    );
    let gone = root.exec(&format!(
        "curl -sS -o /dev/null -w '%{{http_code}}' http://127.0.0.1:{}/OldPage",
        ports.web
    ));
    assert_eq!(String::from_utf8_lossy(&gone.stdout), "404");
    assert!(wiki_page(&root, ports.web, "/").contains("<title>Home - Appliance Wiki</title>"));
    assert!(!root.read("/etc/moin/local.conf").contains("\nFRONT_PAGE="));
    assert!(wiki_login(&root, ports.web, &wiki_password(&root)).starts_with("302"));
}
