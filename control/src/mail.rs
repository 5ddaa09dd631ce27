//! The mail smarthost: postfix's `main.cf` changed through Augeas (libaugeas, the `Postfix_Main` lens
//! alone, so loading takes a millisecond), the SASL password in `/etc/postfix/sasl_passwd` (0600,
//! hashed with postmap), validated with `postfix check` and put back as it was if that fails.
//! Runs in the agent, as root.

use std::path::Path;

use appliance::target;
use raugeas::Augeas;
use serde::{Deserialize, Serialize};

use crate::protocol::MAIL_PATHS;

const MAIN_CF: &str = "/etc/postfix/main.cf";
const SASL_PASSWD: &str = "etc/postfix/sasl_passwd";

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Smarthost {
    pub host: String,
    pub port: u16,
    pub user: String,
    /// `None`: keep the password there is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
}

/// What the mail page shows: never the password itself.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settings {
    pub host: String,
    pub port: u16,
    pub user: String,
    pub has_password: bool,
}

fn open(root: &Path) -> Result<Augeas, String> {
    crate::settings::open_file(root, "Postfix_Main.lns", MAIN_CF)
}

fn node(key: &str) -> String {
    format!("/files{MAIN_CF}/{key}")
}

/// `[host]:port` → (host, port); a bare host means port 25.
pub fn parse_relay(relay: &str) -> Option<(String, u16)> {
    let relay = relay.trim();
    if relay.is_empty() {
        return None;
    }
    let (host, port) = match relay.rsplit_once(':') {
        Some((host, port)) if !host.ends_with(':') => (host, port.parse().ok()?),
        _ => (relay, 25),
    };
    Some((host.trim_matches(['[', ']']).to_owned(), port))
}

/// Whether `host` is a host name or an address a relayhost may name.
pub fn valid_host(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= 253
        && !host.starts_with(['-', '.'])
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".-:".contains(&b))
}

/// The smarthost settings of the system at `root`.
pub fn settings(root: &Path) -> Result<Settings, String> {
    let augeas = open(root)?;
    let relay = augeas
        .get(node("relayhost"))
        .map_err(|e| e.to_string())?
        .unwrap_or_default();
    let (host, port) = parse_relay(&relay).unwrap_or_default();
    let credentials = std::fs::read_to_string(root.join(SASL_PASSWD)).unwrap_or_default();
    let (user, has_password) = credentials
        .lines()
        .find_map(|l| l.split_once(char::is_whitespace))
        .and_then(|(_, credentials)| credentials.trim().split_once(':'))
        .map(|(user, password)| (user.to_owned(), !password.is_empty()))
        .unwrap_or_default();
    Ok(Settings {
        host,
        port,
        user,
        has_password,
    })
}

/// Sets one allowed `main.cf` value (an agent `augeas-set` request).
pub fn set(root: &Path, path: &str, value: &str) -> Result<(), String> {
    if !MAIL_PATHS.contains(&path) {
        return Err(format!("`{path}` is not a path appliance-control may set"));
    }
    let key = path.rsplit('/').next().unwrap_or_default().to_owned();
    change(root, &[(key.as_str(), Some(value))])
}

/// Changes `main.cf` keys (`None` removes one), checks the result with `postfix check` where
/// postfix is installed, and puts the file back as it was if anything fails.
fn change(root: &Path, values: &[(&str, Option<&str>)]) -> Result<(), String> {
    let file = root.join(MAIN_CF.trim_start_matches('/'));
    let before = std::fs::read(&file).map_err(|e| format!("cannot read `{MAIN_CF}`: {e}"))?;
    // Put back with its own mode (postfix's processes read it), not the agent's umask.
    let mode = std::fs::metadata(&file).map_or(0o644, |m| {
        std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o7777
    });
    let mut augeas = open(root)?;
    for (key, value) in values {
        match value {
            Some(value) => augeas.set(node(key), value),
            None => augeas.rm(node(key)).map(|_| ()),
        }
        .map_err(|e| format!("cannot set `{key}`: {e}"))?;
    }
    augeas
        .save()
        .map_err(|e| format!("cannot save `{MAIN_CF}`: {e}"))?;
    if let Err(reason) = postfix(root, &["check"]) {
        appliance::atomic::write_exact(&file, &before, mode, None)
            .map_err(|e| format!("{reason}; and `{MAIN_CF}` could not be put back: {e}"))?;
        return Err(format!("{reason}; `{MAIN_CF}` was put back as it was"));
    }
    Ok(())
}

/// Runs postfix(1) on a live system; elsewhere (a test directory) there is nothing to run.
fn postfix(root: &Path, arguments: &[&str]) -> Result<(), String> {
    if root != Path::new("/") || !Path::new("/usr/sbin/postfix").exists() {
        return Ok(());
    }
    let mut command = appliance::target::command("/usr/sbin/postfix");
    command.args(arguments);
    target::run(command, &format!("postfix {}", arguments.join(" ")), None)
        .map(drop)
        .map_err(|e| e.to_string())
}

/// Points postfix at `smarthost`, with SASL authentication when a user is given, and reloads it.
pub fn set_smarthost(root: &Path, smarthost: &Smarthost) -> Result<(), String> {
    if !valid_host(&smarthost.host) || smarthost.port == 0 {
        return Err(format!("`{}` is not a mail server's name", smarthost.host));
    }
    let relay = format!("[{}]:{}", smarthost.host, smarthost.port);
    let current = settings(root).unwrap_or_default();
    let sasl = root.join(SASL_PASSWD);
    if smarthost.user.is_empty() {
        change(
            root,
            &[
                ("relayhost", Some(&relay)),
                ("smtp_sasl_auth_enable", None),
                ("smtp_sasl_password_maps", None),
                ("smtp_sasl_security_options", None),
            ],
        )?;
        let _ = std::fs::remove_file(&sasl);
        let _ = std::fs::remove_file(sasl.with_extension("db"));
    } else {
        let password = match &smarthost.password {
            Some(password) if !password.is_empty() => password.clone(),
            _ if current.has_password => saved_password(&sasl).unwrap_or_default(),
            _ => return Err("a user needs a password".into()),
        };
        write_secret(&sasl, &format!("{relay} {}:{password}\n", smarthost.user))?;
        if root == Path::new("/") && Path::new("/usr/sbin/postmap").exists() {
            let mut command = appliance::target::command("/usr/sbin/postmap");
            command.arg(format!("hash:/{SASL_PASSWD}"));
            target::run(command, &format!("postmap /{SASL_PASSWD}"), None)
                .map_err(|e| e.to_string())?;
        }
        change(
            root,
            &[
                ("relayhost", Some(&relay)),
                ("smtp_sasl_auth_enable", Some("yes")),
                (
                    "smtp_sasl_password_maps",
                    Some(&format!("hash:/{SASL_PASSWD}")),
                ),
                ("smtp_sasl_security_options", Some("noanonymous")),
                ("smtp_tls_security_level", Some("encrypt")),
            ],
        )?;
    }
    if root == Path::new("/") {
        // Only where postfix runs; a stopped postfix reads the new settings when it starts.
        let mut command = appliance::target::command("systemctl");
        command.args(["try-reload-or-restart", "postfix"]);
        let _ = target::run(command, "systemctl try-reload-or-restart postfix", None);
    }
    Ok(())
}

/// The password of `sasl_passwd`'s line `[host]:port user:password`: everything after the first
/// colon of the second field (a user name has no colon; a password may).
fn saved_password(sasl: &Path) -> Option<String> {
    std::fs::read_to_string(sasl)
        .ok()?
        .lines()
        .find_map(|line| {
            let (_, credentials) = line.trim_start().split_once(char::is_whitespace)?;
            let (_, password) = credentials.trim_start().split_once(':')?;
            Some(password.to_owned())
        })
}

/// Root's alone (0600) from the moment it exists.
fn write_secret(path: &Path, text: &str) -> Result<(), String> {
    appliance::atomic::write_exact(path, text.as_bytes(), 0o600, None)
        .map_err(|e| format!("cannot write `{}`: {e}", path.display()))
}

/// Sends a test mail to `to` through the local postfix.
pub fn test_mail(to: &str, hostname: &str) -> Result<(), String> {
    let mail = format!(
        "To: {to}\nSubject: Test mail from {hostname}\n\nThis is a test mail from the appliance {hostname}: its mail reaches you.\n"
    );
    let mut command = appliance::target::command("/usr/sbin/sendmail");
    command.args(["-t", "-i"]);
    target::run(command, "sendmail -t -i", Some(mail.as_bytes()))
        .map(drop)
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn system(main_cf: &str) -> tempfile::TempDir {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("etc/postfix")).unwrap();
        std::fs::write(root.path().join("etc/postfix/main.cf"), main_cf).unwrap();
        root
    }

    /// Saves the relay `host`:`port` for `user` with `password` (`None`: keep the one there is).
    fn save(
        root: &Path,
        host: &str,
        port: u16,
        user: &str,
        password: Option<&str>,
    ) -> Result<(), String> {
        set_smarthost(
            root,
            &Smarthost {
                host: host.into(),
                port,
                user: user.into(),
                password: password.map(str::to_owned),
            },
        )
    }

    #[test]
    fn relays_parse() {
        assert_eq!(
            parse_relay("[smtp.example.org]:587"),
            Some(("smtp.example.org".into(), 587))
        );
        assert_eq!(
            parse_relay("mail.example.org"),
            Some(("mail.example.org".into(), 25))
        );
        assert_eq!(parse_relay(""), None);
        assert!(valid_host("smtp.example.org") && valid_host("192.0.2.1"));
        assert!(!valid_host("a b") && !valid_host("-x") && !valid_host("x]\nrelayhost=evil"));
    }

    #[test]
    fn the_smarthost_goes_into_main_cf_and_the_password_into_its_own_file() {
        let root = system(
            "# comment kept\nmyhostname = wiki.example.org\nrelayhost = [old.example.org]:25\ninet_interfaces = loopback-only\n",
        );
        save(
            root.path(),
            "smtp.example.org",
            587,
            "wiki@example.org",
            Some("s3cret pass"),
        )
        .unwrap();
        let main_cf = std::fs::read_to_string(root.path().join("etc/postfix/main.cf")).unwrap();
        assert!(main_cf.contains("# comment kept"), "{main_cf}");
        assert!(
            main_cf.contains("relayhost = [smtp.example.org]:587"),
            "{main_cf}"
        );
        assert!(main_cf.contains("smtp_sasl_auth_enable = yes"), "{main_cf}");
        assert!(
            main_cf.contains("inet_interfaces = loopback-only"),
            "{main_cf}"
        );
        assert!(
            !main_cf.contains("s3cret"),
            "the password stays out of main.cf"
        );
        let sasl = root.path().join(SASL_PASSWD);
        assert_eq!(
            std::fs::metadata(&sasl).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(
            settings(root.path()).unwrap(),
            Settings {
                host: "smtp.example.org".into(),
                port: 587,
                user: "wiki@example.org".into(),
                has_password: true
            }
        );
        // Saved again without a password: the one there is stays.
        save(
            root.path(),
            "smtp2.example.org",
            465,
            "wiki@example.org",
            None,
        )
        .unwrap();
        assert_eq!(
            std::fs::read_to_string(&sasl).unwrap(),
            "[smtp2.example.org]:465 wiki@example.org:s3cret pass\n",
            "the line is the new relay's, the password the old one, whole"
        );
        // And again: a password with a colon in it stays whole too.
        for password in [Some("pass:with:colons"), None, None] {
            save(
                root.path(),
                "smtp3.example.org",
                587,
                "wiki@example.org",
                password,
            )
            .unwrap();
            assert_eq!(
                std::fs::read_to_string(&sasl).unwrap(),
                "[smtp3.example.org]:587 wiki@example.org:pass:with:colons\n"
            );
        }
        // No user: no authentication.
        save(root.path(), "relay.example.org", 25, "", None).unwrap();
        let main_cf = std::fs::read_to_string(root.path().join("etc/postfix/main.cf")).unwrap();
        assert!(!main_cf.contains("smtp_sasl_auth_enable"), "{main_cf}");
        assert!(!sasl.exists());
    }

    #[test]
    fn the_password_file_is_never_readable_by_others_even_for_a_moment() {
        let root = system("relayhost =\n");
        let sasl = root.path().join(SASL_PASSWD);
        let seen =
            crate::files::tests::watch_modes(sasl.parent().unwrap(), "sasl_passwd", 0o077, || {
                for round in 0..100 {
                    save(
                        root.path(),
                        "smtp.example.org",
                        587,
                        "wiki@example.org",
                        Some(&format!("s3cret {round}")),
                    )
                    .unwrap();
                }
            });
        assert_eq!(seen, Vec::<String>::new());
        assert_eq!(
            std::fs::metadata(&sasl).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }

    #[test]
    fn only_allowed_paths_and_sound_values_are_set() {
        let root = system("relayhost =\n");
        set(root.path(), MAIL_PATHS[0], "[a.example.org]:25").unwrap();
        assert!(set(root.path(), "/files/etc/passwd/root/shell", "/bin/sh").is_err());
        assert!(save(root.path(), "evil\nrelayhost", 25, "", None).is_err());
        assert!(
            save(root.path(), "a.example.org", 25, "u", None)
                .unwrap_err()
                .contains("needs a password")
        );
    }
}
