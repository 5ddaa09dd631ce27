use std::os::unix::fs::{MetadataExt, PermissionsExt};

use crate::target::ProgramError;
use std::cell::RefCell;

use super::*;
use crate::backup::Quiet;
use crate::backup::info::Info;
use crate::backup::write;

/// The backup's own directories, as root's `--paths-from-backup` asks.
fn own() -> Options {
    Options {
        roots: Roots::FromBackup { moves: Vec::new() },
        ..Options::default()
    }
}

/// The directories a manifest declares: `/etc/moin` and the wiki, which 2009 kept elsewhere.
pub(crate) fn declared() -> Options {
    let pair = |from: &str, to: &str| (from.to_owned(), to.to_owned());
    Options {
        roots: Roots::Declared {
            sysconf: Some(vec![pair("etc/moin", "/etc/moin")]),
            appdata: Some(vec![
                pair("usr/share/moin/mywiki", "/var/lib/moin/wiki/data"),
                pair("var/lib/moin/wiki/data", "/var/lib/moin/wiki/data"),
            ]),
        },
        ..Options::default()
    }
}

fn create(system: &Path, info: &Info, out: &Path) {
    write::create(system, info, out, &Quiet).unwrap();
}

/// A system that is not running: nothing to stop, no commands.
struct Offline;

impl Runner for Offline {
    fn run(&self, argv: &[String], _: &[(String, String)]) -> Result<String, ProgramError> {
        panic!("no command expected, got {argv:?}")
    }
    fn stop(&self, _: &[String]) -> Result<(), ProgramError> {
        Ok(())
    }
    fn start(&self, _: &[String]) -> Result<(), ProgramError> {
        Ok(())
    }
}

/// Records what a restore asks of the system; the command named `fail` fails. A migration
/// (`/migrate`) writes `migrated` into each staged directory, as a real one would change it, and
/// says so.
#[derive(Default)]
struct Recorder {
    events: RefCell<Vec<String>>,
    fail: Option<&'static str>,
    /// The environment of the last command that is not a migration.
    env: RefCell<Vec<(String, String)>>,
}

impl Recorder {
    fn failing(fail: &'static str) -> Self {
        Self {
            fail: Some(fail),
            ..Self::default()
        }
    }

    fn record(&self, event: String) -> Result<(), ProgramError> {
        let failed = self.fail.is_some_and(|f| event.starts_with(f));
        self.events.borrow_mut().push(event);
        if failed {
            Err(ProgramError::Failed {
                program: "recorded".into(),
                status: "exit status: 1".into(),
                said: "it failed".into(),
            })
        } else {
            Ok(())
        }
    }

    fn events(&self) -> Vec<String> {
        self.events.borrow().clone()
    }
}

impl Runner for Recorder {
    fn run(&self, argv: &[String], env: &[(String, String)]) -> Result<String, ProgramError> {
        let mut said = String::new();
        if argv[0] == "/migrate" {
            let staged = &env.iter().find(|(k, _)| k == "APPLIANCE_STAGED").unwrap().1;
            for line in staged.lines() {
                let (target, staged) = line.split_once('=').unwrap();
                std::fs::write(Path::new(staged).join("migrated"), argv[1..].join(" ")).unwrap();
                said.push_str(target);
                // What a hostile page name would bring: an escape sequence for the terminal.
                said.push_str(" \u{1b}[2J migrated\n\n");
            }
        } else {
            env.clone_into(&mut self.env.borrow_mut());
        }
        self.record(argv.join(" ")).map(|()| said)
    }
    fn stop(&self, services: &[String]) -> Result<(), ProgramError> {
        self.record(format!("stop {}", services.join(" ")))
    }
    fn start(&self, services: &[String]) -> Result<(), ProgramError> {
        self.record(format!("start {}", services.join(" ")))
    }
}

fn info() -> Info {
    Info {
        appliance: "moinmoin-appliance".into(),
        appdata_dirs: vec!["/var/lib/moin/wiki/data".into()],
        sysconf_dirs: vec!["/etc/moin".into()],
        timestamp: "2026-11-26T03:00:00Z".into(),
        version: "2.0".into(),
        package_version: None,
        plugin: None,
    }
}

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// A system with a wiki, and a backup of it.
fn system_and_backup(dir: &Path) -> (PathBuf, PathBuf) {
    let system = dir.join("system");
    write(
        &system.join("etc/moin/wikiconfig.py"),
        "sitename = 'Backed up'\n",
    );
    write(
        &system.join("var/lib/moin/wiki/data/pages/Front/current"),
        "00000002\n",
    );
    write(
        &system.join("var/lib/moin/wiki/data/pages/Front/revisions/00000001"),
        "first\n",
    );
    std::os::unix::fs::symlink("wikiconfig.py", system.join("etc/moin/link.py")).unwrap();
    std::fs::hard_link(
        system.join("var/lib/moin/wiki/data/pages/Front/revisions/00000001"),
        system.join("var/lib/moin/wiki/data/pages/Front/hard"),
    )
    .unwrap();
    let abf = dir.join("b.abf");
    create(&system, &info(), &abf);
    (system, abf)
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn leftovers(system: &Path) -> Vec<String> {
    walk(system)
        .into_iter()
        .filter(|p| p.contains(".appliance-") || p.ends_with("restore.journal"))
        .collect()
}

fn walk(dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            let path = entry.path();
            found.push(path.display().to_string());
            if path.is_dir() && !path.is_symlink() {
                found.extend(walk(&path));
            }
        }
    }
    found
}

#[test]
fn restore_puts_the_backed_up_data_back_and_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let (system, abf) = system_and_backup(dir.path());
    // Changes after the backup: a page edited, one added, the configuration changed.
    write(
        &system.join("var/lib/moin/wiki/data/pages/Front/current"),
        "00000003\n",
    );
    write(
        &system.join("var/lib/moin/wiki/data/pages/New/current"),
        "00000001\n",
    );
    write(
        &system.join("etc/moin/wikiconfig.py"),
        "sitename = 'Changed'\n",
    );
    let mut backup = Backup::open(&abf).unwrap();
    restore(&mut backup, &system, &own(), &Offline).unwrap();
    assert_eq!(
        read(&system.join("var/lib/moin/wiki/data/pages/Front/current")),
        "00000002\n"
    );
    assert!(!system.join("var/lib/moin/wiki/data/pages/New").exists());
    assert_eq!(
        read(&system.join("etc/moin/wikiconfig.py")),
        "sitename = 'Backed up'\n"
    );
    assert_eq!(
        std::fs::read_link(system.join("etc/moin/link.py")).unwrap(),
        Path::new("wikiconfig.py")
    );
    let hard = std::fs::metadata(system.join("var/lib/moin/wiki/data/pages/Front/hard")).unwrap();
    let first =
        std::fs::metadata(system.join("var/lib/moin/wiki/data/pages/Front/revisions/00000001"))
            .unwrap();
    assert_eq!(hard.ino(), first.ino(), "the hard link is one again");
    assert!(leftovers(&system).is_empty(), "{:?}", leftovers(&system));
}

#[test]
fn a_root_moves_to_where_this_system_keeps_it() {
    let dir = tempfile::tempdir().unwrap();
    let (_, abf) = system_and_backup(dir.path());
    let elsewhere = dir.path().join("new-system");
    std::fs::create_dir_all(&elsewhere).unwrap();
    let options = Options {
        roots: Roots::FromBackup {
            moves: vec![("var/lib/moin/wiki/data".into(), "/srv/wiki".into())],
        },
        ..own()
    };
    restore(
        &mut Backup::open(&abf).unwrap(),
        &elsewhere,
        &options,
        &Offline,
    )
    .unwrap();
    assert_eq!(
        read(&elsewhere.join("srv/wiki/pages/Front/current")),
        "00000002\n"
    );
    assert!(!elsewhere.join("var/lib/moin").exists());
    assert!(elsewhere.join("etc/moin/wikiconfig.py").exists());
}

#[test]
fn too_much_data_is_refused_before_anything_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let (system, abf) = system_and_backup(dir.path());
    write(&system.join("etc/moin/wikiconfig.py"), "live\n");
    let options = Options {
        max_size: Some(10),
        ..own()
    };
    let error = restore(
        &mut Backup::open(&abf).unwrap(),
        &system,
        &options,
        &Offline,
    )
    .unwrap_err();
    assert!(
        error
            .to_string()
            .contains("more than the limit of 10 bytes"),
        "{error}"
    );
    assert_eq!(read(&system.join("etc/moin/wikiconfig.py")), "live\n");
    assert!(leftovers(&system).is_empty());
}

#[test]
fn a_failed_staging_leaves_the_live_data_alone() {
    let dir = tempfile::tempdir().unwrap();
    let (system, abf) = system_and_backup(dir.path());
    write(&system.join("etc/moin/wikiconfig.py"), "live\n");
    // The staging directory of the second root cannot be made: its parent is a file.
    std::fs::remove_dir_all(system.join("var/lib/moin")).unwrap();
    write(&system.join("var/lib/moin"), "a file in the way\n");
    assert!(restore(&mut Backup::open(&abf).unwrap(), &system, &own(), &Offline).is_err());
    assert_eq!(read(&system.join("etc/moin/wikiconfig.py")), "live\n");
    assert!(leftovers(&system).is_empty(), "{:?}", leftovers(&system));
}

#[test]
fn an_interrupted_swap_rolls_back_and_a_committed_one_finishes() {
    let dir = tempfile::tempdir().unwrap();
    let system = dir.path().join("system");
    let swaps: Vec<Swap> = ["etc/moin", "var/lib/moin/wiki/data"]
        .iter()
        .map(|root| {
            let target = system.join(root);
            Swap {
                staged: sibling(&target, "staged"),
                old: sibling(&target, "old"),
                existed: true,
                target,
            }
        })
        .collect();
    // Killed between the swaps: the first root holds the new data, the second the old.
    write(&swaps[0].old.join("f"), "old 0\n");
    write(&swaps[0].target.join("f"), "new 0\n");
    write(&swaps[1].target.join("f"), "old 1\n");
    write(&swaps[1].staged.join("f"), "new 1\n");
    write(&system.join(JOURNAL), &journal_text("swapping", &swaps));
    recover(&system).unwrap();
    assert_eq!(read(&swaps[0].target.join("f")), "old 0\n");
    assert_eq!(read(&swaps[1].target.join("f")), "old 1\n");
    assert!(leftovers(&system).is_empty(), "{:?}", leftovers(&system));

    // Killed in the middle of the first swap (target moved aside, staged not yet in).
    std::fs::rename(&swaps[0].target, &swaps[0].old).unwrap();
    write(&swaps[0].staged.join("f"), "new 0\n");
    write(&system.join(JOURNAL), &journal_text("swapping", &swaps));
    recover(&system).unwrap();
    assert_eq!(read(&swaps[0].target.join("f")), "old 0\n");
    assert!(leftovers(&system).is_empty());

    // Killed after the commit: the new data stays, the old goes.
    write(&swaps[0].old.join("f"), "old 0\n");
    write(&system.join(JOURNAL), &journal_text("committed", &swaps));
    recover(&system).unwrap();
    assert!(!swaps[0].old.exists());
    assert!(leftovers(&system).is_empty());

    // Killed after the swap of a root that had no data before: it goes again.
    let mut swaps = swaps;
    swaps[1].existed = false;
    std::fs::remove_dir_all(&swaps[1].target).unwrap();
    write(&swaps[1].target.join("f"), "new 1\n");
    write(&system.join(JOURNAL), &journal_text("swapping", &swaps));
    recover(&system).unwrap();
    assert!(!swaps[1].target.exists());
    assert!(leftovers(&system).is_empty(), "{:?}", leftovers(&system));

    write(&system.join(JOURNAL), "garbage\n");
    assert!(
        recover(&system)
            .unwrap_err()
            .to_string()
            .contains("is damaged")
    );
}

fn plugin_options() -> Options {
    Options {
        migrations: vec![vec!["/migrate".into()]],
        new_version: "2.1".into(),
        stop: vec!["moin".into()],
        after: vec![vec!["/usr/bin/moin".into(), "index-build".into()]],
        ..own()
    }
}

#[test]
fn without_a_migration_the_commands_after_are_told_so() {
    let dir = tempfile::tempdir().unwrap();
    let (system, abf) = system_and_backup(dir.path());
    let recorder = Recorder::default();
    let options = Options {
        migrations: Vec::new(),
        from_this_system: true,
        ..plugin_options()
    };
    restore(
        &mut Backup::open(&abf).unwrap(),
        &system,
        &options,
        &recorder,
    )
    .unwrap();
    let env = recorder.env.borrow().clone();
    assert!(
        env.contains(&("APPLIANCE_MIGRATED".into(), "no".into()))
            && env.contains(&("APPLIANCE_ORIGIN".into(), "this-system".into())),
        "{env:?}"
    );
}

#[test]
fn migrations_change_the_staged_data_then_services_stop_around_the_swap() {
    let dir = tempfile::tempdir().unwrap();
    let (system, abf) = system_and_backup(dir.path());
    let recorder = Recorder::default();
    let mut restored = restore(
        &mut Backup::open(&abf).unwrap(),
        &system,
        &plugin_options(),
        &recorder,
    )
    .unwrap();
    // The old data goes while the services start: gone once the caller waited for it.
    restored.finish().unwrap();
    assert!(restored.cleanup.is_none());
    // What the migration said, a line each, blank lines left out.
    assert_eq!(
        restored.migrated.len(),
        2,
        "one line per staged root: {:?}",
        restored.migrated
    );
    assert!(
        restored
            .migrated
            .iter()
            .all(|l| l.ends_with(" \u{fffd}[2J migrated"))
    );
    assert_eq!(
        recorder.events(),
        [
            "/migrate 2.0 2.1",
            "stop moin",
            "/usr/bin/moin index-build",
            "start moin"
        ]
    );
    // The command after the restore is told which directories came back, and that migrations
    // changed them (a search index made from them is out of date).
    let env = recorder.env.borrow().clone();
    let restored_dirs = &env
        .iter()
        .find(|(k, _)| k == "APPLIANCE_RESTORED")
        .unwrap()
        .1;
    let mut lines: Vec<&str> = restored_dirs.lines().collect();
    lines.sort_unstable();
    assert_eq!(
        lines,
        [
            system.join("etc/moin").to_str().unwrap(),
            system.join("var/lib/moin/wiki/data").to_str().unwrap()
        ]
    );
    assert!(env.contains(&("APPLIANCE_MIGRATED".into(), "yes".into())));
    // Options made by hand claim no origin: elsewhere.
    assert!(env.contains(&("APPLIANCE_ORIGIN".into(), "elsewhere".into())));
    // The migration's changes are what went live, in every root.
    assert_eq!(read(&system.join("etc/moin/migrated")), "2.0 2.1");
    assert_eq!(
        read(&system.join("var/lib/moin/wiki/data/migrated")),
        "2.0 2.1"
    );
    assert!(leftovers(&system).is_empty(), "{:?}", leftovers(&system));
}

#[test]
fn a_failed_migration_or_command_after_the_swap_leaves_the_previous_data() {
    let dir = tempfile::tempdir().unwrap();
    let (system, abf) = system_and_backup(dir.path());
    write(&system.join("etc/moin/wikiconfig.py"), "live\n");

    let recorder = Recorder::failing("/migrate");
    let error = restore(
        &mut Backup::open(&abf).unwrap(),
        &system,
        &plugin_options(),
        &recorder,
    )
    .unwrap_err();
    assert!(matches!(error, RestoreError::Migration(_)), "{error}");
    assert_eq!(recorder.events(), ["/migrate 2.0 2.1"], "nothing stopped");
    assert_eq!(read(&system.join("etc/moin/wikiconfig.py")), "live\n");
    assert!(leftovers(&system).is_empty(), "{:?}", leftovers(&system));

    let recorder = Recorder::failing("/usr/bin/moin");
    let error = restore(
        &mut Backup::open(&abf).unwrap(),
        &system,
        &plugin_options(),
        &recorder,
    )
    .unwrap_err();
    assert!(error.to_string().contains("put back"), "{error}");
    assert_eq!(
        recorder.events().last().map(String::as_str),
        Some("start moin"),
        "the services run again"
    );
    assert_eq!(read(&system.join("etc/moin/wikiconfig.py")), "live\n");
    assert!(!system.join("etc/moin/migrated").exists());
    assert!(leftovers(&system).is_empty(), "{:?}", leftovers(&system));

    let recorder = Recorder::failing("stop");
    let error = restore(
        &mut Backup::open(&abf).unwrap(),
        &system,
        &plugin_options(),
        &recorder,
    )
    .unwrap_err();
    assert!(matches!(error, RestoreError::Stop(_)), "{error}");
    assert_eq!(read(&system.join("etc/moin/wikiconfig.py")), "live\n");
    assert!(leftovers(&system).is_empty(), "{:?}", leftovers(&system));
}

#[test]
fn owners_by_name_modes_times_and_user_attributes_come_back() {
    let dir = tempfile::tempdir().unwrap();
    let system = dir.path().join("system");
    let data = system.join("var/lib/moin/wiki/data");
    write(&data.join("pages/Front/current"), "1\n");
    write(&system.join("etc/moin/wikiconfig.py"), "x\n");
    let program = data.join("setuid-tool");
    write(&program, "#!/bin/sh\n");
    std::fs::set_permissions(&program, std::fs::Permissions::from_mode(0o4755)).unwrap();
    write(&data.join("read-only/kept"), "x\n");
    std::fs::set_permissions(
        data.join("read-only"),
        std::fs::Permissions::from_mode(0o555),
    )
    .unwrap();
    let old = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_250_000_000);
    std::fs::File::open(data.join("pages"))
        .unwrap()
        .set_modified(old)
        .unwrap();
    let attributes = xattr::set(data.join("pages/Front/current"), "user.comment", b"kept").is_ok();
    // Where the backup is made, the wiki's files belong to `wiki` (uid 1234)…
    write(
        &system.join("etc/passwd"),
        "root:x:0:0::/root:/bin/sh\nwiki:x:1234:1234::/:/bin/false\n",
    );
    write(&system.join("etc/group"), "root:x:0:\nwiki:x:1234:\n");
    let root = nix::unistd::geteuid().is_root();
    if root {
        std::os::unix::fs::lchown(data.join("pages/Front/current"), Some(1234), Some(1234))
            .unwrap();
        std::os::unix::fs::lchown(&program, Some(1234), Some(1234)).unwrap();
        std::fs::set_permissions(&program, std::fs::Permissions::from_mode(0o4755)).unwrap();
    }
    let abf = dir.path().join("b.abf");
    create(&system, &info(), &abf);
    let entries = Backup::open(&abf)
        .unwrap()
        .entries("appdata.tar.gz")
        .unwrap();
    let current = entries
        .iter()
        .find(|e| e.path.ends_with("Front/current"))
        .unwrap();
    if root {
        assert_eq!(current.user.as_deref(), Some("wiki"));
        assert_eq!(current.group.as_deref(), Some("wiki"));
    }
    if attributes {
        assert_eq!(
            current.xattrs,
            [("user.comment".to_owned(), b"kept".to_vec())]
        );
    }

    // …and where it is restored, `wiki` is uid 999.
    let target = dir.path().join("target");
    write(
        &target.join("etc/passwd"),
        "root:x:0:0::/root:/bin/sh\nwiki:x:999:998::/:/bin/false\n",
    );
    write(&target.join("etc/group"), "root:x:0:\nwiki:x:998:\n");
    let restored = restore(&mut Backup::open(&abf).unwrap(), &target, &own(), &Offline).unwrap();
    assert!(
        restored.skipped_attributes.is_empty(),
        "{:?}",
        restored.skipped_attributes
    );
    let data = target.join("var/lib/moin/wiki/data");
    let metadata = std::fs::metadata(data.join("pages/Front/current")).unwrap();
    if root {
        assert_eq!((metadata.uid(), metadata.gid()), (999, 998));
    }
    assert_eq!(
        std::fs::metadata(data.join("setuid-tool")).unwrap().mode() & 0o7777,
        0o755,
        "a set-user-ID bit no manifest declares is cleared"
    );
    assert_eq!(
        restored.cleared_set_id,
        ["/var/lib/moin/wiki/data/setuid-tool (4755 → 0755)"]
    );
    assert_eq!(
        std::fs::metadata(data.join("pages"))
            .unwrap()
            .modified()
            .unwrap(),
        old
    );
    if attributes {
        assert_eq!(
            xattr::get(data.join("pages/Front/current"), "user.comment").unwrap(),
            Some(b"kept".to_vec())
        );
    }
}

/// A plugin that backs up application data only: no system configuration at all.
#[test]
fn a_backup_of_application_data_only_restores() {
    let dir = tempfile::tempdir().unwrap();
    let system = dir.path().join("system");
    write(&system.join("srv/wiki/page"), "backed up\n");
    let info = Info {
        sysconf_dirs: Vec::new(),
        appdata_dirs: vec!["/srv/wiki".into()],
        ..info()
    };
    let abf = dir.path().join("b.abf");
    create(&system, &info, &abf);
    write(&system.join("srv/wiki/page"), "changed\n");
    restore(&mut Backup::open(&abf).unwrap(), &system, &own(), &Offline).unwrap();
    assert_eq!(read(&system.join("srv/wiki/page")), "backed up\n");
    assert!(leftovers(&system).is_empty(), "{:?}", leftovers(&system));
}

/// `etc/moin/a -> sub` then a directory entry `etc/moin/a` mode 0777: the mode must never go
/// through the link (with `/etc` as the link's target, it reached the live `/etc`).
#[test]
fn a_directory_entry_over_a_link_is_refused_and_changes_nothing() {
    use crate::backup::read::tests::{raw_tar_modes, replace_member};
    use tar::EntryType::{Directory, Symlink};
    let dir = tempfile::tempdir().unwrap();
    let (system, abf) = system_and_backup(dir.path());
    let tarball = raw_tar_modes(&[
        (("etc/moin", Directory, "", b""), 0o755),
        (("etc/moin/sub", Directory, "", b""), 0o755),
        (("etc/moin/a", Symlink, "sub", b""), 0o777),
        (("etc/moin/a", Directory, "", b""), 0o777),
    ]);
    let bad = dir.path().join("bad.abf");
    replace_member(&abf, &bad, "sysconfig.tar.gz", &tarball);
    let result = restore(&mut Backup::open(&bad).unwrap(), &system, &own(), &Offline);
    let error = result.map(|_| ()).map_err(|e| crate::error_chain(&e));
    assert!(
        error.as_ref().is_err_and(|e| e.contains("holds it twice")),
        "{error:?}: `etc/moin/sub` is now {:o}",
        std::fs::metadata(system.join("etc/moin/sub")).map_or(0, |m| m.mode() & 0o7777)
    );
    assert_eq!(
        read(&system.join("etc/moin/wikiconfig.py")),
        "sitename = 'Backed up'\n"
    );
    assert!(leftovers(&system).is_empty(), "{:?}", leftovers(&system));
}

/// The directories come from the manifest: a root it does not declare, for the tarball it is in,
/// refuses the whole backup before anything is written.
#[test]
fn only_the_declared_directories_are_restored() {
    let dir = tempfile::tempdir().unwrap();
    let (system, abf) = system_and_backup(dir.path());
    write(&system.join("etc/moin/wikiconfig.py"), "live\n");
    // As declared: restored.
    restore(
        &mut Backup::open(&abf).unwrap(),
        &system,
        &declared(),
        &Offline,
    )
    .unwrap();
    assert_eq!(
        read(&system.join("etc/moin/wikiconfig.py")),
        "sitename = 'Backed up'\n"
    );

    for (sysconf, appdata) in [
        // `/etc/cron.d` as system configuration.
        (
            vec!["/etc/cron.d".to_owned()],
            vec!["/var/lib/moin/wiki/data".to_owned()],
        ),
        // The wiki's directory, but in the other tarball.
        (
            vec!["/var/lib/moin/wiki/data".to_owned()],
            vec!["/srv/x".to_owned()],
        ),
    ] {
        let source = dir.path().join("source");
        for d in sysconf.iter().chain(&appdata) {
            write(&source.join(d.trim_start_matches('/')).join("f"), "evil\n");
        }
        let info = Info {
            sysconf_dirs: sysconf.clone(),
            appdata_dirs: appdata,
            ..info()
        };
        let evil = dir.path().join("evil.abf");
        create(&source, &info, &evil);
        write(&system.join("etc/moin/wikiconfig.py"), "live\n");
        let error = restore(
            &mut Backup::open(&evil).unwrap(),
            &system,
            &declared(),
            &Offline,
        )
        .unwrap_err()
        .to_string();
        assert!(
            error.contains(&format!("`{}`", sysconf[0])) && error.contains("does not declare"),
            "{error}"
        );
        assert_eq!(read(&system.join("etc/moin/wikiconfig.py")), "live\n");
        assert!(!system.join("etc/cron.d").exists() && !system.join("srv").exists());
        assert!(leftovers(&system).is_empty(), "{:?}", leftovers(&system));
        std::fs::remove_dir_all(&source).unwrap();
    }
    // Nothing declared (the default): nothing restored.
    let error = restore(
        &mut Backup::open(&abf).unwrap(),
        &system,
        &Options::default(),
        &Offline,
    )
    .unwrap_err()
    .to_string();
    assert!(error.contains("it declares none"), "{error}");
}

/// A set-user-ID file the manifest declares keeps its bit.
#[test]
fn a_declared_set_user_id_file_keeps_its_bit() {
    let dir = tempfile::tempdir().unwrap();
    let (system, _) = system_and_backup(dir.path());
    let tool = system.join("var/lib/moin/wiki/data/tool");
    write(&tool, "#!/bin/sh\n");
    std::fs::set_permissions(&tool, std::fs::Permissions::from_mode(0o2755)).unwrap();
    let abf = dir.path().join("b2.abf");
    create(&system, &info(), &abf);
    let options = Options {
        keep_set_id: vec!["/var/lib/moin/wiki/data/tool".into()],
        ..declared()
    };
    let restored = restore(
        &mut Backup::open(&abf).unwrap(),
        &system,
        &options,
        &Offline,
    )
    .unwrap();
    assert!(
        restored.cleared_set_id.is_empty(),
        "{:?}",
        restored.cleared_set_id
    );
    assert_eq!(std::fs::metadata(&tool).unwrap().mode() & 0o7777, 0o2755);
}

/// Says, when the services start, whether the old data of the target is still aside and what the
/// journal says; starts then a `recover` of the same system, as another va-backup command would,
/// and says whether it is still waiting after a while.
struct Watcher {
    system: PathBuf,
    old: PathBuf,
    seen: RefCell<Option<(bool, String, bool)>>,
    other: RefCell<Option<std::thread::JoinHandle<Result<(), RestoreError>>>>,
}

impl Runner for Watcher {
    fn run(&self, _: &[String], _: &[(String, String)]) -> Result<String, ProgramError> {
        Ok(String::new())
    }
    fn stop(&self, _: &[String]) -> Result<(), ProgramError> {
        Ok(())
    }
    fn start(&self, _: &[String]) -> Result<(), ProgramError> {
        let journal = std::fs::read_to_string(self.system.join(JOURNAL)).unwrap_or_default();
        let system = self.system.clone();
        let other = std::thread::spawn(move || recover(&system));
        std::thread::sleep(std::time::Duration::from_millis(300));
        *self.seen.borrow_mut() = Some((self.old.is_dir(), journal, !other.is_finished()));
        *self.other.borrow_mut() = Some(other);
        Ok(())
    }
}

#[test]
fn the_old_data_goes_once_the_services_started_and_a_recover_meanwhile_waits() {
    let dir = tempfile::tempdir().unwrap();
    let (system, abf) = system_and_backup(dir.path());
    let target = system.join("var/lib/moin/wiki/data");
    write(&target.join("pages/Front/current"), "00000003\n");
    let watcher = Watcher {
        system: system.clone(),
        old: sibling(&target, "old"),
        seen: RefCell::new(None),
        other: RefCell::new(None),
    };
    let options = Options {
        stop: vec!["moin".into()],
        after: vec![vec!["/usr/lib/after-restore".into()]],
        ..own()
    };
    restore(
        &mut Backup::open(&abf).unwrap(),
        &system,
        &options,
        &watcher,
    )
    .unwrap();
    let (old_there, journal, waiting) = watcher.seen.borrow().clone().expect("started");
    assert!(
        old_there,
        "the old data was deleted before the services started"
    );
    // Committed before the services start: a crash from then on keeps the new data.
    assert!(journal.starts_with("state committed\n"), "{journal}");
    assert!(waiting, "a recover did not wait for the restore");
    // The recover that waited found a finished restore: it put nothing back.
    watcher.other.take().unwrap().join().unwrap().unwrap();
    assert!(!watcher.old.exists());
    assert!(!system.join(JOURNAL).exists());
    assert_eq!(read(&target.join("pages/Front/current")), "00000002\n");
    assert_eq!(leftovers(&system), Vec::<String>::new());
}
