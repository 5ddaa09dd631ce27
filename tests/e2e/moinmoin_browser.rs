//! Headless Chromium drives the flagship in a booted root: the real `MoinMoin` 2 wiki and
//! appliance-control. A page made in two edits, a backup made on appliance-control's Backups page,
//! the page deleted in the wiki, the backup restored from the Backups page: the page is back with
//! both revisions in its history, and the wiki's search finds it. Screenshots go to
//! `build/screenshots/moinmoin-*.png`.

use std::path::Path;

use crate::harness::{Root, TREE, free_port, needs};
use crate::moinmoin::{control_password, serve, wiki_login_as, wiki_page, wiki_password};
use crate::seeds::NONINTERACTIVE;
use crate::webdriver::Browser;

/// The page the test makes, and a word only its text holds (for the search).
const PAGE: &str = "BackupProofPage";
const WORD: &str = "quartzpelican";

/// Headless Chromium with its screenshots under `build/screenshots/` (the other browser tests'
/// screenshots are left alone).
pub(crate) fn browser() -> Browser {
    Browser::start(free_port(), &Path::new(TREE).join("build/screenshots"))
}

/// A fresh root with moinmoin-appliance installed from the local repository.
pub(crate) fn installed(name: &str) -> Root {
    let root = Root::fresh(name);
    root.ok(&format!(
        "{NONINTERACTIVE} apt-get install -y -q appliance-tools moinmoin-appliance >/dev/null"
    ));
    root
}

/// Logs in to the wiki at `wiki` as its administrator, with the password generated for `root`.
pub(crate) fn wiki_log_in(browser: &Browser, wiki: &str, root: &Root) {
    wiki_log_in_as(browser, wiki, "WikiAdmin", &wiki_password(root));
}

/// Logs in to the wiki at `wiki` as `user`, through the login form.
pub(crate) fn wiki_log_in_as(browser: &Browser, wiki: &str, user: &str, password: &str) {
    browser.go(&format!("{wiki}/+login"));
    browser.type_into("input[name=login_username]", user);
    // Enter in the password field submits the form (`WebDriver`'s key for Enter: U+E007).
    browser.type_into("input[name=login_password]", &format!("{password}\u{e007}"));
    browser.find("a.moin-logout");
    // The logo on every page is an image the browser could show (an SVG served as text/xml,
    // as MoinMoin 2.0.0b5 serves it, is not).
    browser.find("#moin-img-logo");
    let shown = browser.script(
        "const logo = document.querySelector('#moin-img-logo'); \
         return logo.complete && logo.naturalWidth > 0;",
    );
    assert_eq!(
        shown,
        serde_json::Value::Bool(true),
        "the wiki's logo is broken"
    );
}

/// Writes `text` into the wiki's page `page` (made as a moin wiki text page when new) with the
/// comment `comment`, through moin's editor; waits for the saved page.
pub(crate) fn wiki_edit(browser: &Browser, wiki: &str, page: &str, text: &str, comment: &str) {
    browser.go(&format!(
        "{wiki}/+modify/{page}?itemtype=default&contenttype=text%2Fx.moin.wiki%3Bcharset%3Dutf-8&template="
    ));
    browser.type_into("#moin-modify textarea.moin-edit-content", text);
    browser.type_into("#moin-modify input[name=comment]", comment);
    browser.screenshot("moinmoin-editor");
    // The focus theme keeps the form's own buttons out of reach (sticky, under its sidebar's):
    // the OK button is clicked from a script, which submits the form as a click would.
    browser.click_from_script("#moin-save-text-button");
    let last_line = text.lines().last().unwrap_or_default();
    browser.wait_for_text("#moin-content", last_line, 30);
}

/// Logs in to appliance-control at `control` as its administrator, with the password generated
/// for `root`.
fn control_log_in(browser: &Browser, control: &str, root: &Root) {
    browser.go(&format!("{control}/login"));
    browser.type_into("input[name=user]", "admin");
    browser.type_into("input[name=password]", &control_password(root));
    browser.click("form[action='/login'] button");
    assert_eq!(browser.text("h1"), "Overview");
}

/// Makes a backup on appliance-control's Backups page; returns its name.
fn control_backup(browser: &Browser, control: &str) -> String {
    browser.go(&format!("{control}/backups"));
    browser.click("form[action='/backups/create'] button");
    let message = browser.wait_for_text(".message", "Backup made:", 120);
    let name = message
        .trim()
        .trim_start_matches("Backup made:")
        .trim()
        .to_owned();
    assert!(
        name.starts_with("moinmoin-appliance-")
            && Path::new(&name).extension().is_some_and(|e| e == "abf"),
        "{message}"
    );
    name
}

/// Restores the backup `name` from appliance-control's Backups page, its `confirm()` accepted.
fn control_restore(browser: &Browser, control: &str, name: &str) {
    browser.go(&format!("{control}/backups"));
    browser.click(&format!("button[data-confirm^='Restore {name}?']"));
    let asked = browser.accept_alert();
    assert!(asked.starts_with(&format!("Restore {name}?")), "{asked}");
    let message = browser.wait_for_text(".message", "Restored", 300);
    assert!(!message.contains("rror"), "{message}");
}

/// Fills the form of the moinmoin plugin's action `action` on appliance-control's page with
/// `fields` (parameter name, value), sends it, accepts its `confirm()`; returns the message.
fn control_action_form(
    browser: &Browser,
    control: &str,
    action: &str,
    fields: &[(&str, &str)],
) -> String {
    browser.go(&format!("{control}/plugins/moinmoin"));
    let form = format!("form:has(input[name=action][value='{action}'])");
    for (name, value) in fields {
        browser.type_into(&format!("{form} input[name='param-{name}']"), value);
    }
    browser.screenshot(&format!("moinmoin-{action}"));
    browser.click(&format!("{form} button"));
    let asked = browser.accept_alert();
    assert!(asked.ends_with('?'), "{asked}");
    browser.wait_for_text(".message", "Done:", 120)
}

#[test]
#[cfg_attr(not(appliance_e2e), ignore = "end-to-end: make test runs it")]
fn a_wiki_user_made_in_appliance_controls_form_logs_in_in_the_browser() {
    needs(
        "a_wiki_user_made_in_appliance_controls_form_logs_in_in_the_browser",
        &["chromium", "chromedriver"],
    );
    let root = installed("moinmoin-browser-accounts");
    let ports = serve(&root);
    let wiki = format!("http://127.0.0.1:{}", ports.web);
    let control = format!("https://127.0.0.1:{}", ports.control);
    let browser = browser();
    control_log_in(&browser, &control, &root);
    // The password field is a password field, empty.
    browser.go(&format!("{control}/plugins/moinmoin"));
    assert_eq!(
        browser.count(
            "form:has(input[value='create-user']) input[type=password][name='param-password']"
        ),
        1
    );
    let message = control_action_form(
        &browser,
        &control,
        "create-user",
        &[
            ("name", "Bob"),
            ("email", "bob@example.org"),
            ("password", "Quartz-4711-pass"),
        ],
    );
    assert!(
        message.contains("Created the wiki account `Bob`"),
        "{message}"
    );
    assert!(
        !browser.text("main").contains("Quartz-4711"),
        "the password is shown"
    );
    browser.screenshot("moinmoin-user-created");
    wiki_log_in_as(&browser, &wiki, "Bob", "Quartz-4711-pass");
    browser.screenshot("moinmoin-user-logged-in");
    let message = control_action_form(
        &browser,
        &control,
        "reset-password",
        &[("name", "Bob"), ("password", "Heron-0815-pass")],
    );
    assert!(
        message.contains("Set the password of the wiki account `Bob`"),
        "{message}"
    );
    assert!(wiki_login_as(&root, ports.web, "Bob", "Heron-0815-pass").starts_with("302"));
    assert!(wiki_login_as(&root, ports.web, "Bob", "Quartz-4711-pass").starts_with("200"));
}

/// What the wiki's search page shows for `word`.
fn search(browser: &Browser, wiki: &str, word: &str) -> String {
    browser.go(&format!("{wiki}/+search?q={word}"));
    browser.text("#moin-content")
}

#[test]
#[cfg_attr(not(appliance_e2e), ignore = "end-to-end: make test runs it")]
fn a_wiki_page_deleted_comes_back_from_a_backup_restored_in_appliance_control() {
    needs(
        "a_wiki_page_deleted_comes_back_from_a_backup_restored_in_appliance_control",
        &["chromium", "chromedriver"],
    );
    let root = installed("moinmoin-browser");
    let ports = serve(&root);
    let wiki = format!("http://127.0.0.1:{}", ports.web);
    let control = format!("https://127.0.0.1:{}", ports.control);
    let browser = browser();

    // A page in two revisions.
    wiki_log_in(&browser, &wiki, &root);
    wiki_edit(
        &browser,
        &wiki,
        PAGE,
        &format!("= Backup proof =\nFirst revision: {WORD}."),
        "first edit",
    );
    // moin keeps a revision's time in whole seconds (an integer MTIME), and the index it rebuilds
    // after a restore takes an item's latest revision by that time alone
    // (moin/storage/middleware/indexing.py, `find_latest_revids`): two edits within one second
    // tie, and the first came back as the latest once. The second edit comes more than a second
    // later, as a person's would.
    std::thread::sleep(std::time::Duration::from_millis(1500));
    wiki_edit(
        &browser,
        &wiki,
        PAGE,
        &format!("= Backup proof =\nSecond revision: {WORD}, edited."),
        "second edit",
    );
    browser.screenshot("moinmoin-page");

    // A backup, in appliance-control.
    control_log_in(&browser, &control, &root);
    let name = control_backup(&browser, &control);
    browser.screenshot("moinmoin-backup");
    assert!(root.exists(&format!("/var/backups/appliance/{name}")));

    // The page deleted with moin's delete: gone, and the search no longer finds it.
    browser.go(&format!("{wiki}/+delete/{PAGE}"));
    browser.type_into(
        ".moin-form-delete input[name=delete_item_comment]",
        "deleted",
    );
    browser.click_from_script(".moin-form-delete input[type=submit]");
    browser.wait_for_text("#moin-content", "was deleted", 30);
    let gone = root.exec(&format!(
        "curl -sS -o /dev/null -w '%{{http_code}}' {wiki}/{PAGE}"
    ));
    assert_eq!(String::from_utf8_lossy(&gone.stdout), "404");
    let found = search(&browser, &wiki, WORD);
    assert!(!found.contains(PAGE), "a deleted page is found:\n{found}");
    browser.screenshot("moinmoin-deleted");

    // The backup restored from appliance-control (moin stopped, the data and its search index
    // swapped, the index kept, moin started).
    control_restore(&browser, &control, &name);
    browser.screenshot("moinmoin-restored");
    assert_eq!(root.exec_ok("systemctl is-active moin").trim(), "active");
    let page = wiki_page(&root, ports.web, &format!("/{PAGE}"));
    assert!(
        page.contains(&format!("Second revision: {WORD}, edited.")),
        "{page}"
    );

    // The page is back with both revisions, and the search finds it.
    browser.go(&format!("{wiki}/{PAGE}"));
    browser.wait_for_text("#moin-content", "Second revision", 30);
    browser.go(&format!("{wiki}/+history/{PAGE}"));
    let history = browser.text("#moin-page-history");
    assert_eq!(
        browser.count("#moin-page-history table tbody tr"),
        2,
        "{history}"
    );
    assert!(
        history.contains("first edit") && history.contains("second edit"),
        "{history}"
    );
    browser.screenshot("moinmoin-history");
    let found = search(&browser, &wiki, WORD);
    assert!(
        found.contains(PAGE),
        "the search does not find the page:\n{found}"
    );
    browser.screenshot("moinmoin-search");
}
