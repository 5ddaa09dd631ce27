use super::*;
use crate::Collected;
use crate::seed::hook::parse;

const MANIFEST: &str = "appliance: wiki-appliance
packages: [wiki, nginx]
backup:
  appdata: [/var/lib/wiki]
  sysconf: [/etc/wiki]
";

/// A system with the wiki's plugin manifest (`manifest`) and its data.
fn system(manifest: &str) -> tempfile::TempDir {
    let root = tempfile::tempdir().unwrap();
    let plugins = root.path().join(crate::plugin::PLUGIN_DIR);
    std::fs::create_dir_all(&plugins).unwrap();
    std::fs::write(plugins.join("wiki.yaml"), manifest).unwrap();
    std::fs::create_dir_all(root.path().join("var/lib/wiki")).unwrap();
    std::fs::write(root.path().join("var/lib/wiki/page.txt"), "a page").unwrap();
    std::fs::create_dir_all(root.path().join("etc/wiki")).unwrap();
    std::fs::write(root.path().join("etc/wiki/wiki.conf"), "name=Wiki").unwrap();
    root
}

/// A version 3 hook input with `config` lines and package `lines`.
fn input(config: &[&str], lines: &[&str]) -> Input {
    let mut text = String::from("VERSION 3\nAPT::Architecture=amd64\n");
    for line in config {
        text.push_str(line);
        text.push('\n');
    }
    text.push('\n');
    for line in lines {
        text.push_str(line);
        text.push('\n');
    }
    parse(&text).unwrap()
}

const UPGRADE_NGINX: [&str; 2] = [
    "nginx 1.22 amd64 same > 1.22.1 amd64 same /var/cache/apt/archives/nginx_1.22.1_amd64.deb",
    "nginx 1.22 amd64 same > 1.22.1 amd64 same **CONFIGURE**",
];

#[test]
fn what_a_transaction_changes_of_the_appliance() {
    let manifest = Manifest::parse(MANIFEST).unwrap();
    let actions = |lines: &[&str]| input(&[], lines).actions;
    // Upgraded, removed, reinstalled, configured: each guarded, the appliance first.
    for (lines, expected) in [
        (&UPGRADE_NGINX[..], &["nginx"][..]),
        (
            &["wiki 2 all none - - none none **REMOVE**"][..],
            &["wiki"][..],
        ),
        (
            &[
                "nginx 1.22 amd64 same = 1.22 amd64 same /x/nginx.deb",
                "wiki-appliance 1 all none < 2 all none /x/wiki-appliance.deb",
            ][..],
            &["wiki-appliance", "nginx"][..],
        ),
        (
            &["wiki 2 all none = 2 all none **CONFIGURE**"][..],
            &["wiki"][..],
        ),
    ] {
        assert_eq!(guarded(&actions(lines), &manifest), expected, "{lines:?}");
    }
    // New packages, and packages the manifest does not name, hold nothing of the wiki.
    for lines in [
        &["wiki-appliance - - none < 1 all none /x/wiki-appliance.deb"][..],
        &[
            "wiki - - none < 2 all none /x/wiki.deb",
            "wiki - - none < 2 all none **CONFIGURE**",
        ][..],
        &["libc6 2.36 amd64 same > 2.37 amd64 same /x/libc6.deb"][..],
        &[][..],
    ] {
        assert!(guarded(&actions(lines), &manifest).is_empty(), "{lines:?}");
    }
}

#[test]
fn the_record_holds_every_change_once() {
    let actions = input(
        &[],
        &[
            UPGRADE_NGINX[0],
            "wiki 2 all none - - none none **REMOVE**",
            "new - - none < 1 all none /x/new.deb",
            UPGRADE_NGINX[1],
        ],
    )
    .actions;
    let version = |v: &str| Some(v.to_owned());
    assert_eq!(
        changes(&actions),
        [
            Change {
                package: "nginx".into(),
                before: version("1.22"),
                after: version("1.22.1"),
            },
            Change {
                package: "wiki".into(),
                before: version("2"),
                after: None,
            },
            Change {
                package: "new".into(),
                before: None,
                after: version("1"),
            },
        ]
    );
}

#[test]
fn apt_options_turn_it_off_and_say_how_many_to_keep() {
    assert!(enabled(&input(&[], &[])));
    assert!(enabled(&input(&["Appliance::Safety-Backup=true"], &[])));
    // APT's keys ignore case.
    assert!(!enabled(&input(&["appliance::safety-backup=false"], &[])));
    for off in ["false", "no", "off", "0", "False"] {
        assert!(
            !enabled(&input(&[&format!("Appliance::Safety-Backup={off}")], &[])),
            "{off}"
        );
    }
    assert_eq!(keep(&input(&[], &[])).unwrap(), DEFAULT_KEEP);
    assert_eq!(
        keep(&input(&["Appliance::Safety-Backup::Keep=5"], &[])).unwrap(),
        5
    );
    for bad in ["0", "many", "-1"] {
        let error = keep(&input(
            &[&format!("Appliance::Safety-Backup::Keep={bad}")],
            &[],
        ))
        .unwrap_err()
        .to_string();
        assert!(error.contains(&format!("`{bad}`")), "{error}");
    }
}

#[test]
fn a_guarded_transaction_gets_a_backup_with_its_record_and_the_newest_are_kept() {
    let root = system(MANIFEST);
    let upgrade = input(&["Appliance::Safety-Backup::Keep=2"], &UPGRADE_NGINX);
    let mut said = Collected::default();
    let mut made = Vec::new();
    for _ in 0..3 {
        let mut one = before_transaction(&upgrade, root.path(), &mut said).unwrap();
        assert_eq!(one.len(), 1);
        made.push(one.remove(0));
    }
    let first = &made[0];
    assert!(first.path.starts_with(root.path().join(SAFETY_DIR)));
    assert_eq!(first.record.appliance, "wiki-appliance");
    assert_eq!(first.record.guarded, ["nginx"]);
    assert_eq!(first.record.transaction.len(), 1);
    // One line each, with the backup's name and size; the oldest pruned by the third.
    assert!(
        said.infos[0].starts_with("Safety backup of wiki-appliance before this transaction: ")
            && said.infos[0].contains(&first.path.display().to_string())
            && said.infos[0].ends_with(&format!("({})", human_size(first.size))),
        "{:?}",
        said.infos
    );
    assert_eq!(
        said.infos.last().unwrap(),
        &format!("Removed the older safety backup {}", first.path.display())
    );
    let kept: Vec<PathBuf> = list(root.path())
        .unwrap()
        .into_iter()
        .map(|(p, _)| p)
        .collect();
    assert_eq!(kept, [made[1].path.clone(), made[2].path.clone()]);
    assert!(!first.path.exists() && !first.path.with_extension("json").exists());
    // The backup holds the wiki's data.
    let backup = crate::backup::read::Backup::open(&made[2].path).unwrap();
    assert_eq!(backup.info.appliance, "wiki-appliance");
    assert_eq!(backup.info.appdata_dirs, ["/var/lib/wiki"]);
}

#[test]
fn no_backup_when_off_untouched_or_without_a_plan() {
    let root = system(MANIFEST);
    let mut said = Collected::default();
    let off = input(&["Appliance::Safety-Backup=false"], &UPGRADE_NGINX);
    let other = input(
        &[],
        &["libc6 2.36 amd64 same > 2.37 amd64 same /x/libc6.deb"],
    );
    for transaction in [off, other] {
        assert!(
            before_transaction(&transaction, root.path(), &mut said)
                .unwrap()
                .is_empty()
        );
    }
    let without_plan = system("appliance: wiki-appliance\npackages: [nginx]\n");
    let upgrade = input(&[], &UPGRADE_NGINX);
    assert!(
        before_transaction(&upgrade, without_plan.path(), &mut said)
            .unwrap()
            .is_empty()
    );
    // Nor on a system without plugins.
    let bare = tempfile::tempdir().unwrap();
    assert!(
        before_transaction(&upgrade, bare.path(), &mut said)
            .unwrap()
            .is_empty()
    );
    assert!(said.infos.is_empty(), "{:?}", said.infos);
    assert!(!root.path().join(SAFETY_DIR).exists());
}

#[test]
fn a_guarded_transaction_marks_the_health_checks_due_even_without_a_backup() {
    let root = system(&format!(
        "{MANIFEST}health:\n  - {{name: wiki, run: [/bin/true]}}\n"
    ));
    let mut said = Collected::default();
    before_transaction(
        &input(
            &[],
            &["libc6 2.36 amd64 same > 2.37 amd64 same /x/libc6.deb"],
        ),
        root.path(),
        &mut said,
    )
    .unwrap();
    assert_eq!(crate::health::take_pending(root.path()).unwrap(), None);
    let off = input(&["Appliance::Safety-Backup=false"], &UPGRADE_NGINX);
    assert!(
        before_transaction(&off, root.path(), &mut said)
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        crate::health::take_pending(root.path()).unwrap().as_deref(),
        Some("an upgrade")
    );
}

#[test]
fn a_broken_manifest_is_a_warning_and_the_others_still_guard() {
    let root = system(MANIFEST);
    let plugins = root.path().join(crate::plugin::PLUGIN_DIR);
    std::fs::write(plugins.join("broken.yaml"), "appliance: [not, a, name]\n").unwrap();
    let mut said = Collected::default();
    let made = before_transaction(&input(&[], &UPGRADE_NGINX), root.path(), &mut said).unwrap();
    assert_eq!(made.len(), 1);
    assert_eq!(said.warnings.len(), 1, "{:?}", said.warnings);
    assert!(
        said.warnings[0].starts_with("no safety backup for the plugin ")
            && said.warnings[0].contains("broken.yaml"),
        "{:?}",
        said.warnings
    );
}

#[test]
fn a_failed_backup_stops_the_transaction_and_leaves_nothing() {
    // The data directory is gone: the backup cannot be made.
    let root = system(MANIFEST);
    std::fs::remove_dir_all(root.path().join("var/lib/wiki")).unwrap();
    let mut said = Collected::default();
    let error =
        before_transaction(&input(&[], &UPGRADE_NGINX), root.path(), &mut said).unwrap_err();
    let text = crate::error_chain(&error);
    assert!(
        text.starts_with(
            "cannot make the safety backup of wiki-appliance that this transaction needs (it changes nginx)"
        ) && text.contains("apt-get -o Appliance::Safety-Backup=false"),
        "{text}"
    );
    let left: Vec<_> = std::fs::read_dir(root.path().join(SAFETY_DIR))
        .unwrap()
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn sizes_for_people() {
    for (bytes, shown) in [
        (0, "0 bytes"),
        (1023, "1023 bytes"),
        (1536, "1.5 KiB"),
        (12_900_000, "12.3 MiB"),
        (3 << 30, "3.0 GiB"),
    ] {
        assert_eq!(human_size(bytes), shown);
    }
}

#[test]
fn a_rollback_restores_the_data_says_what_it_could_not_put_back_and_happens_once() {
    let root = system(MANIFEST);
    let error = rollback(root.path()).unwrap_err();
    assert!(
        matches!(error, RollbackError::Nothing(_)),
        "{error}: no safety backup yet"
    );
    let made = before_transaction(
        &input(&[], &UPGRADE_NGINX),
        root.path(),
        &mut Collected::default(),
    )
    .unwrap();
    assert_eq!(made.len(), 1);
    // The transaction then changed the wiki's data.
    std::fs::write(root.path().join("var/lib/wiki/page.txt"), "broken").unwrap();
    std::fs::write(root.path().join("var/lib/wiki/new.txt"), "new").unwrap();

    let done = rollback(root.path()).unwrap();
    assert_eq!(done.path, made[0].path);
    assert_eq!(
        std::fs::read_to_string(root.path().join("var/lib/wiki/page.txt")).unwrap(),
        "a page"
    );
    assert!(!root.path().join("var/lib/wiki/new.txt").exists());
    // No APT in this directory: nginx 1.22 could not be put back, and that is said.
    assert_eq!(done.packages.len(), 1);
    assert_eq!(done.packages[0].package, "nginx");
    assert_eq!(done.packages[0].version, "1.22");
    assert!(!done.packages[0].kept);
    assert!(done.packages[0].failed.is_some());
    let (_, record) = list(root.path()).unwrap().pop().unwrap();
    assert!(record.rolled_back.is_some());
    let again = rollback(root.path()).unwrap_err().to_string();
    assert!(again.contains("was put back already"), "{again}");
}

#[test]
fn a_health_result_kept_while_the_rollback_ran_stays_in_the_record() {
    let root = system(MANIFEST);
    before_transaction(
        &input(&[], &UPGRADE_NGINX),
        root.path(),
        &mut Collected::default(),
    )
    .unwrap();
    // The rollback read the record; the health checks that started it keep their result after.
    let (path, read) = to_roll_back(root.path()).unwrap();
    let report = crate::health::Report {
        appliance: "wiki-appliance".into(),
        checked: "2026-12-01T04:00:00Z".into(),
        after: crate::health::AFTER_UNATTENDED.into(),
        ok: false,
        checks: Vec::new(),
    };
    assert!(note_health(root.path(), &report).unwrap());
    let marked = mark_rolled_back(&path, read).unwrap();
    let (_, record) = list(root.path()).unwrap().pop().unwrap();
    assert_eq!(record, marked);
    assert!(record.rolled_back.is_some());
    assert_eq!(record.health.map(|h| h.ok), Some(false));
}

#[test]
fn the_previous_debs_in_apts_cache_are_kept_beside_the_backup() {
    let root = system(MANIFEST);
    let archives = root.path().join("var/cache/apt/archives");
    std::fs::create_dir_all(&archives).unwrap();
    for name in [
        "nginx_1.22_amd64.deb",
        "nginx_1.22.1_amd64.deb",
        "libc6_2.36_amd64.deb",
        "wiki_1%3a2_all.deb",
    ] {
        std::fs::write(archives.join(name), name).unwrap();
    }
    let transaction = input(
        &[],
        &[
            UPGRADE_NGINX[0],
            "wiki 1:2 all none > 1:3 all none /x/wiki.deb",
            "libc6 2.36 amd64 same > 2.37 amd64 same /x/libc6.deb",
        ],
    );
    let made = before_transaction(&transaction, root.path(), &mut Collected::default()).unwrap();
    let kept = &made[0].record.debs;
    assert_eq!(kept, &["nginx_1.22_amd64.deb", "wiki_1%3a2_all.deb"]);
    let dir = Record::debs_dir(&made[0].path);
    assert_eq!(
        std::fs::read_to_string(dir.join("nginx_1.22_amd64.deb")).unwrap(),
        "nginx_1.22_amd64.deb"
    );
    // Pruned with their backup.
    let upgrade = input(&["Appliance::Safety-Backup::Keep=1"], &UPGRADE_NGINX);
    before_transaction(&upgrade, root.path(), &mut Collected::default()).unwrap();
    assert!(!dir.exists() && !made[0].path.exists());
}

#[test]
fn a_record_that_names_files_elsewhere_is_left_out() {
    let root = system(MANIFEST);
    let made = before_transaction(
        &input(&[], &UPGRADE_NGINX),
        root.path(),
        &mut Collected::default(),
    )
    .unwrap();
    assert_eq!(list(root.path()).unwrap().len(), 1);
    let record_path = made[0].path.with_extension("json");
    for (backup, debs) in [
        ("../../../etc/shadow", vec![]),
        ("other.abf", vec![]),
        (
            made[0].record.backup.as_str(),
            vec!["../../bin/x.deb".to_owned()],
        ),
    ] {
        let forged = Record {
            backup: backup.to_owned(),
            debs,
            ..made[0].record.clone()
        };
        std::fs::write(&record_path, serde_json::to_vec(&forged).unwrap()).unwrap();
        assert!(list(root.path()).unwrap().is_empty(), "{backup}");
        assert!(matches!(
            rollback(root.path()).unwrap_err(),
            RollbackError::Nothing(_)
        ));
    }
}

#[test]
fn the_health_after_a_transaction_is_kept_in_its_record_once() {
    let root = system(MANIFEST);
    let upgrade = input(&[], &UPGRADE_NGINX);
    let mut said = Collected::default();
    let report = |appliance: &str, ok| crate::health::Report {
        appliance: appliance.into(),
        checked: "2026-11-30T03:15:00Z".into(),
        after: crate::health::AFTER_UNATTENDED.into(),
        ok,
        checks: Vec::new(),
    };
    // No safety backup yet, or none of this appliance: nothing to note.
    assert!(!note_health(root.path(), &report("wiki-appliance", false)).unwrap());
    let made = before_transaction(&upgrade, root.path(), &mut said)
        .unwrap()
        .remove(0);
    assert!(!note_health(root.path(), &report("other-appliance", false)).unwrap());
    assert!(note_health(root.path(), &report("wiki-appliance", false)).unwrap());
    let (_, record) = list(root.path()).unwrap().pop().unwrap();
    assert_eq!(record.backup, made.record.backup);
    let health = record.health.unwrap();
    assert!(!health.ok);
    assert!(
        health
            .summary
            .contains("UNHEALTHY after an unattended upgrade")
    );
    // A later result (a manual check) does not overwrite the transaction's.
    assert!(!note_health(root.path(), &report("wiki-appliance", true)).unwrap());
    assert!(!list(root.path()).unwrap()[0].1.health.as_ref().unwrap().ok);
}
