use super::*;
use std::fmt::Write as _;

/// Debian 12's unattended-upgrades as installed, with 20auto-upgrades answered yes, as
/// `apt-config dump` shows it.
const DEBIAN_DEFAULT: &str = r#"APT::Periodic "";
APT::Periodic::Update-Package-Lists "1";
APT::Periodic::Unattended-Upgrade "1";
Unattended-Upgrade "";
Unattended-Upgrade::Origins-Pattern "";
Unattended-Upgrade::Origins-Pattern:: "origin=Debian,codename=${distro_codename},label=Debian";
Unattended-Upgrade::Origins-Pattern:: "origin=Debian,codename=${distro_codename},label=Debian-Security";
Unattended-Upgrade::Origins-Pattern:: "origin=Debian,codename=${distro_codename}-security,label=Debian-Security";
Unattended-Upgrade::Package-Blacklist "";
"#;

#[test]
fn times_of_a_day() {
    for good in ["00:00", "03:30", "23:59"] {
        assert!(valid_time(good), "{good}");
    }
    for bad in [
        "24:00", "3:30", "03:60", "03-30", "", "03:30\n", "0a:00", "+3:00",
    ] {
        assert!(!valid_time(bad), "{bad:?}");
    }
}

#[test]
fn the_settings_read_back_from_what_apt_and_the_timer_say() {
    // Debian's own configuration: every update of the release, at Debian's time.
    assert_eq!(
        settings_from(DEBIAN_DEFAULT, None),
        Settings {
            enabled: true,
            all_updates: true,
            time: DEFAULT_TIME.into(),
            reboot: false,
        }
    );
    assert!(!settings_from("", None).enabled);
    // What appliance-control writes, as APT reads it after Debian's file (`#clear` empties the
    // list): each setting comes back.
    for settings in [
        Settings {
            enabled: true,
            all_updates: false,
            time: "03:00".into(),
            reboot: true,
        },
        Settings {
            enabled: false,
            all_updates: true,
            time: "22:15".into(),
            reboot: false,
        },
    ] {
        let dump = apt_dump_of(&config_text(&settings));
        assert_eq!(
            settings_from(&dump, Some(&timer_text(&settings.time))),
            settings,
            "{dump}"
        );
    }
}

/// What `apt-config dump` says of one file of ours alone (its lists as `KEY:: "…";`).
fn apt_dump_of(config: &str) -> String {
    let mut dump = String::new();
    let mut list: Option<String> = None;
    for line in config.lines().map(str::trim) {
        if line.starts_with("//") || line.starts_with("#clear") || line.is_empty() {
            continue;
        }
        if let Some(key) = line.strip_suffix(" {") {
            list = Some(key.to_owned());
            let _ = writeln!(dump, "{key} \"\";");
        } else if line == "};" {
            list = None;
        } else if let Some(key) = &list {
            let _ = writeln!(dump, "{key}:: {line}");
        } else {
            let _ = writeln!(dump, "{line}");
        }
    }
    dump
}

#[test]
fn security_updates_only_unless_asked() {
    let security = config_text(&Settings {
        enabled: true,
        all_updates: false,
        time: "03:00".into(),
        reboot: false,
    });
    assert!(security.contains("#clear Unattended-Upgrade::Origins-Pattern;\n"));
    for origin in SECURITY_ORIGINS {
        assert!(security.contains(&format!("\"{origin}\";")));
    }
    for origin in OTHER_ORIGINS.iter().chain(&APPLIANCES_ORIGINS) {
        assert!(!security.contains(&format!("\"{origin}\";")));
    }
    // Every update of the release: Debian's and the appliances' own repository's.
    let all = config_text(&Settings {
        enabled: true,
        all_updates: true,
        time: "03:00".into(),
        reboot: false,
    });
    for origin in SECURITY_ORIGINS
        .iter()
        .chain(&OTHER_ORIGINS)
        .chain(&APPLIANCES_ORIGINS)
    {
        assert!(all.contains(&format!("\"{origin}\";")), "{all}");
    }
    assert!(APPLIANCES_ORIGINS[0].contains(&format!(
        "origin={},",
        appliance::release::sources::APPLIANCES_ORIGIN
    )));
    assert!(security.contains("Unattended-Upgrade::Automatic-Reboot \"false\";"));
    assert!(timer_text("03:00").contains("OnCalendar=\nOnCalendar=*-*-* 03:00\n"));
}

/// APT 2.6's history log: an install, an upgrade by a user, a failed one, a removal.
const HISTORY_LOG: &str = "
Start-Date: 2026-11-29  10:00:01
Commandline: apt-get install moinmoin-appliance
Install: moin:all (2.0.0~b5-1~deb12u1, automatic), moinmoin-appliance:all (1.0~deb12u1)
End-Date: 2026-11-29  10:01:30

Start-Date: 2026-11-30  03:12:00
Commandline: apt-get upgrade
Requested-By: admin (1000)
Upgrade: moinmoin-appliance:all (1.0~deb12u1, 1.1~deb12u1), libc6:amd64 (2.36-9+deb12u8, 2.36-9+deb12u9)
End-Date: 2026-11-30  03:12:40

Start-Date: 2026-11-30  04:00:00
Upgrade: nginx:amd64 (1.22.1-9, 1.22.1-9+deb12u1)
Error: Sub-process /usr/bin/dpkg returned an error code (1)
End-Date: 2026-11-30  04:00:10

Start-Date: 2026-11-30  05:00:00
Commandline: apt-get purge hello
Purge: hello:amd64 (2.10-3)
End-Date: 2026-11-30  05:00:02
";

#[test]
fn apts_history_log_is_read_as_transactions() {
    let transactions = parse_history(HISTORY_LOG);
    assert_eq!(transactions.len(), 4);
    assert_eq!(transactions[0].start, "2026-11-29  10:00:01");
    assert_eq!(
        transactions[0].changes,
        [
            Change {
                package: "moin".into(),
                action: "install".into(),
                before: None,
                after: Some("2.0.0~b5-1~deb12u1".into()),
            },
            Change {
                package: "moinmoin-appliance".into(),
                action: "install".into(),
                before: None,
                after: Some("1.0~deb12u1".into()),
            },
        ]
    );
    assert_eq!(transactions[1].changes[1].package, "libc6");
    assert_eq!(
        transactions[1].changes[1].after.as_deref(),
        Some("2.36-9+deb12u9")
    );
    assert_eq!(transactions[1].by(), "apt-get upgrade (admin (1000))");
    assert_eq!(
        transactions[2].error.as_deref(),
        Some("Sub-process /usr/bin/dpkg returned an error code (1)")
    );
    assert_eq!(
        transactions[2].by(),
        "unattended-upgrades or another APT program"
    );
    assert_eq!(transactions[3].changes[0].action, "purge");
    assert_eq!(transactions[3].changes[0].after, None);
    assert_eq!(transactions[3].end.as_deref(), Some("2026-11-30  05:00:02"));
    // Nothing but noise: no transaction.
    assert!(parse_history("garbage\n: :\nEnd-Date: x\n").is_empty());
}

#[test]
fn each_transaction_gets_the_safety_backup_made_for_it() {
    let record = |backup: &str, package: &str, before: &str, after: &str| {
        (
            std::path::PathBuf::from(backup),
            safety::Record {
                backup: backup.into(),
                appliance: "moinmoin-appliance".into(),
                made: "2026-11-30T03:12:01Z".into(),
                guarded: vec![package.into()],
                transaction: vec![
                    safety::Change {
                        package: package.into(),
                        before: Some(before.into()),
                        after: Some(after.into()),
                    },
                    safety::Change {
                        package: "libc6".into(),
                        before: None,
                        after: None,
                    },
                ],
                debs: Vec::new(),
                rolled_back: None,
                health: Some(safety::Health {
                    ok: false,
                    checked: "2026-11-30T03:13:00Z".into(),
                    summary: "moinmoin-appliance: UNHEALTHY".into(),
                }),
            },
        )
    };
    let records = [
        record("a.abf", "moinmoin-appliance", "1.0~deb12u1", "1.1~deb12u1"),
        record("b.abf", "nginx", "1.22.1-9", "1.22.1-9+deb12u1"),
        // A record of nothing that happened here.
        record("c.abf", "moin", "1", "2"),
    ];
    let shown = history(parse_history(HISTORY_LOG), &records, 3);
    // Newest first, three of them.
    assert_eq!(shown.len(), 3);
    assert_eq!(shown[0].start, "2026-11-30  05:00:00");
    assert_eq!(shown[0].safety_backup, None);
    assert_eq!(shown[1].safety_backup.as_deref(), Some("b.abf"));
    assert_eq!(shown[2].safety_backup.as_deref(), Some("a.abf"));
    assert!(!shown[2].health.as_ref().unwrap().ok);
}

#[test]
fn the_history_reaches_into_the_log_before_its_rotation_when_the_current_one_is_short() {
    use std::io::Write as _;
    let root = tempfile::tempdir().unwrap();
    let transaction = |day: u32| {
        format!(
            "\nStart-Date: 2026-11-{day:02}  03:15:00\nCommandline: apt-get upgrade\nUpgrade: nginx:amd64 (1.{day}, 1.{})\nEnd-Date: 2026-11-{day:02}  03:15:09\n",
            day + 1
        )
    };
    assert!(
        read_history(root.path()).unwrap().is_empty(),
        "no log is no history"
    );
    std::fs::create_dir_all(root.path().join("var/log/apt")).unwrap();
    std::fs::write(root.path().join(HISTORY), transaction(30)).unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all((transaction(1) + &transaction(2)).as_bytes())
        .unwrap();
    std::fs::write(root.path().join(HISTORY_ROTATED), gz.finish().unwrap()).unwrap();
    let starts: Vec<String> = read_history(root.path())
        .unwrap()
        .into_iter()
        .map(|t| t.start)
        .collect();
    assert_eq!(
        starts,
        [
            "2026-11-01  03:15:00",
            "2026-11-02  03:15:00",
            "2026-11-30  03:15:00"
        ]
    );
    // A current log with enough transactions is read alone.
    let many: String = (1..=20).map(transaction).collect();
    std::fs::write(root.path().join(HISTORY), &many).unwrap();
    assert_eq!(read_history(root.path()).unwrap(), parse_history(&many));
    // A rotated log that is not gzip is an error that names it.
    std::fs::write(root.path().join(HISTORY), transaction(30)).unwrap();
    std::fs::write(root.path().join(HISTORY_ROTATED), "not gzip").unwrap();
    let error = read_history(root.path()).unwrap_err().to_string();
    assert!(error.contains("history.log.1.gz"), "{error}");
}
