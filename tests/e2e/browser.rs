//! Headless Chromium drives the real appliance-control in a booted root: log in, see the overview,
//! refresh the package lists and watch the progress arrive, make a backup and download it, set a
//! smarthost and find it in main.cf, log out. Screenshots of each page are kept under
//! `build/screenshots/` (`build/screenshots-trixie/` on Debian 13).

use std::path::Path;
use std::time::{Duration, Instant};

use crate::control::booted_control;
use crate::harness::{Root, TREE, free_port, needs};
use crate::webdriver::Browser;

#[test]
#[cfg_attr(not(appliance_e2e), ignore = "end-to-end: make test runs it")]
fn an_administrator_uses_appliance_control_in_chromium() {
    needs(
        "an_administrator_uses_appliance_control_in_chromium",
        &["chromium", "chromedriver"],
    );
    let (root, port) = booted_control("browser");
    administrator_session(&root, port, "Debian GNU/Linux 12", "build/screenshots");
}

/// The session of an administrator in Chromium, on appliance-control at `port` in `root` (made by
/// `booted_control`), whose overview names `system`; screenshots go to `screenshots` in the tree.
pub(crate) fn administrator_session(root: &Root, port: u16, system: &str, screenshots: &str) {
    let site = format!("https://127.0.0.1:{port}");
    let artefacts = Path::new(TREE).join(screenshots);
    let _ = std::fs::remove_dir_all(&artefacts);
    let browser = Browser::start(free_port(), &artefacts);

    // Log in. Typed as plain HTTP, the address leads to the login page over HTTPS.
    browser.go(&format!("http://127.0.0.1:{port}/"));
    assert_eq!(
        browser.current_url(),
        format!("{site}/login"),
        "a visitor is sent to the login page, over HTTPS"
    );
    browser.screenshot("login");
    browser.type_into("input[name=user]", "admin");
    browser.type_into("input[name=password]", "appliance-demo");
    browser.click("form[action='/login'] button");
    assert_eq!(browser.text("h1"), "Overview");
    let overview = browser.text("main");
    assert!(overview.contains(system), "{overview}");
    assert!(overview.contains("apache2"), "{overview}");
    browser.screenshot("overview");

    // Refresh the package lists: the job's log arrives live, then it succeeds.
    browser.go(&format!("{site}/updates"));
    browser.click("form[action='/updates/refresh'] button");
    browser.wait_for_text("#job-log", "Reading package lists", 180);
    browser.wait_for_text("#job-state", "succeeded", 180);
    // The page reloads itself once the job has ended: the server's page says so in `data-state`
    // (the live page only changes the text). A form sent before the reload would be cut short.
    browser.find(".job[data-state='succeeded']");
    browser.wait_for_text("main", "Pending updates", 10);
    // The history: APT's transactions, the appliance's installation among them.
    browser.wait_for_text(
        "#history",
        "apt-get install -y -q appliance-tools dokuwiki-appliance",
        10,
    );
    browser.screenshot("updates");

    turn_unattended_updates_on(&browser, root);

    // Make a backup and download it.
    browser.go(&format!("{site}/backups"));
    browser.click("form[action='/backups/create'] button");
    let message = browser.wait_for_text(".message", "Backup made:", 60);
    let name = message
        .trim()
        .trim_start_matches("Backup made:")
        .trim()
        .to_owned();
    assert!(
        name.starts_with("dokuwiki-appliance-")
            && Path::new(&name).extension().is_some_and(|e| e == "abf"),
        "{message}"
    );
    browser.screenshot("backups");
    browser.click(&format!("a[href='/backups/download/{name}']"));
    let downloaded = artefacts.join(&name);
    let started = Instant::now();
    while !downloaded.exists() {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the download never arrived"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    std::thread::sleep(Duration::from_millis(500));
    let stored = root.host_path(&format!("/var/backups/appliance/{name}"));
    assert_eq!(
        std::fs::read(&downloaded).unwrap(),
        std::fs::read(&stored).unwrap()
    );

    // The smarthost goes into postfix's main.cf.
    browser.go(&format!("{site}/mail"));
    browser.type_into("input[name=host]", "smtp.example.org");
    browser.type_into("input[name=port]", "587");
    browser.type_into("input[name=user]", "wiki@example.org");
    browser.type_into("input[name=password]", "mail-secret");
    browser.click("form[action='/mail'] button");
    browser.wait_for_text(".message", "Mail goes through [smtp.example.org]:587", 30);
    browser.screenshot("mail");
    let main_cf = root.read("/etc/postfix/main.cf");
    assert!(
        main_cf.contains("relayhost = [smtp.example.org]:587"),
        "{main_cf}"
    );
    assert!(!main_cf.contains("mail-secret"));
    browser.go(&format!("{site}/power"));
    browser.screenshot("power");

    // Log out: the pages are closed again.
    browser.click("form.logout button");
    browser.find("form[action='/login']");
    browser.go(&format!("{site}/backups"));
    assert!(browser.current_url().ends_with("/login"));
}

/// On the Updates page open in `browser`, unattended updates on, security updates only, at 04:15
/// (appliance-control recommends unattended-upgrades: the appliance's installation brought it);
/// APT's configuration and the timer of `root` take it.
fn turn_unattended_updates_on(browser: &Browser, root: &Root) {
    browser.script(
        "document.querySelector('#unattended input[name=enable]').checked = true; \
         document.querySelector('#unattended input[name=updates][value=security]').checked = true; \
         document.querySelector('#unattended input[name=time]').value = '04:15';",
    );
    browser.click("form[action='/updates/unattended'] button");
    browser.wait_for_text(
        ".message",
        "Unattended updates are on: security updates at 04:15",
        30,
    );
    browser.screenshot("updates-unattended");
    let config = root.read("/etc/apt/apt.conf.d/52appliance-unattended-upgrades");
    assert!(
        config.contains("APT::Periodic::Unattended-Upgrade \"1\";")
            && config.contains("label=Debian-Security")
            && !config.contains("label=Debian\";"),
        "{config}"
    );
    let timer = root.exec_ok("systemctl show -p TimersCalendar apt-daily-upgrade.timer");
    assert!(timer.contains("04:15"), "{timer}");
}
