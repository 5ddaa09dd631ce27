use std::os::unix::fs::MetadataExt;

use super::*;
use crate::backup::info::Info;
use crate::backup::write::create;

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
    create(&system, &info(), &abf).unwrap();
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
    restore(&mut backup, &system, &Options::default()).unwrap();
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
        max_size: None,
        moves: vec![("var/lib/moin/wiki/data".into(), "/srv/wiki".into())],
    };
    restore(&mut Backup::open(&abf).unwrap(), &elsewhere, &options).unwrap();
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
        moves: Vec::new(),
    };
    let error = restore(&mut Backup::open(&abf).unwrap(), &system, &options).unwrap_err();
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
    assert!(
        restore(
            &mut Backup::open(&abf).unwrap(),
            &system,
            &Options::default()
        )
        .is_err()
    );
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

    write(&system.join(JOURNAL), "garbage\n");
    assert!(
        recover(&system)
            .unwrap_err()
            .to_string()
            .contains("is damaged")
    );
}
