use super::*;

use std::os::unix::fs::symlink;

const TREES_HERE: [(&str, Keep); 4] = [
    ("usr", Keep::Link),
    ("etc", Keep::Copy),
    ("var/lib/dpkg", Keep::Copy),
    ("var/lib/apt/extended_states", Keep::Copy),
];

/// Every entry under `root`'s trees: its kind, bytes or link, and mode (the snapshot left out).
fn state(root: &Path) -> BTreeMap<String, String> {
    fn walk(path: &Path, name: &str, into: &mut BTreeMap<String, String>) {
        let meta = std::fs::symlink_metadata(path).unwrap();
        let mode = meta.mode() & 0o7777;
        let what = if meta.is_dir() {
            let mut entries: Vec<_> = std::fs::read_dir(path)
                .unwrap()
                .map(|e| e.unwrap().file_name())
                .collect();
            entries.sort();
            for entry in entries {
                walk(
                    &path.join(&entry),
                    &format!("{name}/{}", entry.to_string_lossy()),
                    into,
                );
            }
            format!("dir {mode:o}")
        } else if meta.is_symlink() {
            format!("link {}", std::fs::read_link(path).unwrap().display())
        } else {
            format!(
                "file {mode:o} {}",
                String::from_utf8_lossy(&std::fs::read(path).unwrap())
            )
        };
        into.insert(name.to_owned(), what);
    }
    let mut all = BTreeMap::new();
    for (tree, _) in TREES_HERE {
        if root.join(tree).exists() {
            walk(&root.join(tree), tree, &mut all);
        }
    }
    all
}

fn write(root: &Path, name: &str, text: &str) {
    let path = root.join(name);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// A system of release bookworm, as far as the trees go.
fn bookworm() -> tempfile::TempDir {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    write(r, "usr/bin/moin", "moin 2.0 for bookworm");
    write(r, "usr/lib/libold.so.1", "old library");
    write(r, "usr/share/doc/moin/README", "readme");
    symlink("libold.so.1", r.join("usr/lib/libold.so")).unwrap();
    std::fs::set_permissions(
        r.join("usr/bin/moin"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    write(r, "usr/lib/python3.11/site.py", "python 3.11");
    write(r, "etc/moin/wikiconfig.py", "changed by the administrator");
    write(r, "etc/os-release", "VERSION_CODENAME=bookworm");
    symlink("/usr/bin/moin", r.join("etc/alternatives-moin")).unwrap();
    write(r, "var/lib/dpkg/status", "Package: moin\nVersion: 2.0\n");
    write(r, "var/lib/dpkg/info/moin.list", "/usr/bin/moin\n");
    write(
        r,
        "var/lib/apt/extended_states",
        "Package: moin\nAuto-Installed: 0\n",
    );
    std::fs::create_dir_all(r.join(SNAPSHOT_DIR).parent().unwrap()).unwrap();
    root
}

/// What a release upgrade does to the files, dpkg's way and the scripts' way.
fn upgrade_halfway(r: &Path) {
    // dpkg: a new file renamed over the old one, a file removed, a file added, a directory
    // replaced by a link (merged directories), a link changed.
    write(r, "usr/bin/moin.dpkg-new", "moin 2.0 for trixie");
    std::fs::rename(r.join("usr/bin/moin.dpkg-new"), r.join("usr/bin/moin")).unwrap();
    std::fs::remove_file(r.join("usr/lib/libold.so.1")).unwrap();
    write(r, "usr/lib/libnew.so.2", "new library");
    std::fs::remove_dir_all(r.join("usr/lib/python3.11")).unwrap();
    symlink("python3.13", r.join("usr/lib/python3.11")).unwrap();
    std::fs::remove_file(r.join("usr/lib/libold.so")).unwrap();
    symlink("libnew.so.2", r.join("usr/lib/libold.so")).unwrap();
    // A maintainer script's chmod of an installed file: the inode the snapshot links to.
    std::fs::set_permissions(
        r.join("usr/share/doc/moin/README"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    // Scripts edit configuration and dpkg its database in place.
    std::fs::OpenOptions::new()
        .append(true)
        .open(r.join("etc/moin/wikiconfig.py"))
        .unwrap();
    std::fs::write(r.join("etc/moin/wikiconfig.py"), "rewritten in place").unwrap();
    std::fs::write(r.join("etc/os-release"), "VERSION_CODENAME=trixie").unwrap();
    std::fs::remove_file(r.join("etc/alternatives-moin")).unwrap();
    write(r, "etc/new.d/added.conf", "new");
    std::fs::write(
        r.join("var/lib/dpkg/status"),
        "Package: moin\nVersion: 2.1\nStatus: half-configured\n",
    )
    .unwrap();
    write(r, "var/lib/dpkg/updates/0001", "journal");
    std::fs::write(r.join("var/lib/apt/extended_states"), "").unwrap();
}

#[test]
fn a_release_upgrade_cut_short_is_put_back_as_it_was_and_the_snapshot_costs_no_copy_of_usr() {
    let root = bookworm();
    let r = root.path();
    let before = state(r);
    let made = take(r, "bookworm", &TREES_HERE).unwrap();
    assert_eq!(made.from, "bookworm");
    assert_eq!(made.trees.len(), 4);
    // /usr's files are the same inodes, /etc's are copies.
    let kept = r.join(SNAPSHOT_DIR);
    let inode = |p: &Path| std::fs::metadata(p).unwrap().ino();
    assert_eq!(
        inode(&kept.join("usr/bin/moin")),
        inode(&r.join("usr/bin/moin"))
    );
    assert_ne!(
        inode(&kept.join("etc/os-release")),
        inode(&r.join("etc/os-release"))
    );
    assert_eq!(read(r).unwrap(), made);
    // Nobody but root reaches the old release's programs through it.
    assert_eq!(std::fs::metadata(&kept).unwrap().mode() & 0o777, 0o700);
    // What it keeps of /usr, counted before: the three files of 4 KiB blocks (at least).
    assert!(
        linked_size(r, &TREES_HERE) >= 3 * 512,
        "{}",
        linked_size(r, &TREES_HERE)
    );

    upgrade_halfway(r);
    assert_ne!(state(r), before);
    let done = put_back(r).unwrap();
    assert_eq!(state(r), before);
    assert!(done.replaced >= 8, "{done:?}");
    assert_eq!(
        done.removed, 3,
        "libnew.so.2, etc/new.d, dpkg/updates/0001: {done:?}"
    );
    // The programs' files are the old inodes again, not copies.
    assert_eq!(
        inode(&kept.join("usr/bin/moin")),
        inode(&r.join("usr/bin/moin"))
    );
    // Again: nothing left to do.
    assert_eq!(put_back(r).unwrap(), PutBack::default());
    // No temporary left anywhere.
    assert!(!state(r).keys().any(|k| k.contains("appliance-rollback")));
}

#[test]
fn one_directory_is_put_back_alone() {
    let root = bookworm();
    let r = root.path();
    write(
        r,
        "etc/apt/sources.list",
        "deb http://deb.debian.org/debian bookworm main\n",
    );
    take(r, "bookworm", &TREES_HERE).unwrap();
    write(
        r,
        "etc/apt/sources.list",
        "deb http://deb.debian.org/debian trixie main\n",
    );
    write(r, "etc/apt/sources.list.d/new.sources", "Types: deb\n");
    std::fs::write(r.join("etc/os-release"), "VERSION_CODENAME=trixie").unwrap();
    let done = put_back_path(r, "etc/apt").unwrap();
    assert_eq!(
        done,
        PutBack {
            replaced: 1,
            removed: 1
        }
    );
    assert!(
        std::fs::read_to_string(r.join("etc/apt/sources.list"))
            .unwrap()
            .contains("bookworm")
    );
    assert!(!r.join("etc/apt/sources.list.d").exists());
    // The rest of /etc is left as it is.
    assert_eq!(
        std::fs::read_to_string(r.join("etc/os-release")).unwrap(),
        "VERSION_CODENAME=trixie"
    );
    let error = put_back_path(r, "srv").unwrap_err();
    assert!(matches!(error, SnapshotError::NotKept(_)), "{error}");
}

#[test]
fn a_snapshot_whose_taking_was_cut_short_is_never_put_back() {
    let root = bookworm();
    let r = root.path();
    let error = put_back(r).unwrap_err();
    assert!(matches!(error, SnapshotError::Missing(_)), "{error}");
    take(r, "bookworm", &TREES_HERE).unwrap();
    std::fs::remove_file(r.join(SNAPSHOT_DIR).join(COMPLETE)).unwrap();
    let error = put_back(r).unwrap_err().to_string();
    assert!(error.contains("no whole snapshot"), "{error}");
    // A new one replaces what was left, and removing it leaves nothing.
    take(r, "bookworm", &TREES_HERE).unwrap();
    remove(r).unwrap();
    assert!(!r.join(SNAPSHOT_DIR).exists());
    remove(r).unwrap();
}

#[test]
fn a_system_without_some_trees_keeps_those_it_has() {
    let root = bookworm();
    let r = root.path();
    let made = take(r, "bookworm", &TREES).unwrap();
    let names: Vec<&str> = made.trees.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(
        names,
        ["usr", "etc", "var/lib/dpkg", "var/lib/apt/extended_states"]
    );
}

#[test]
fn a_file_system_mounted_in_a_tree_is_neither_kept_nor_removed() {
    // Mounting needs root, as make test and CI run.
    if !nix::unistd::geteuid().is_root() {
        return;
    }
    let root = bookworm();
    let r = root.path();
    let efi = r.join("usr/efi");
    std::fs::create_dir_all(&efi).unwrap();
    let mount = |args: &[&str]| {
        let status = std::process::Command::new(args[0])
            .args(&args[1..])
            .status()
            .unwrap();
        assert!(status.success(), "{args:?}");
    };
    mount(&["mount", "-t", "tmpfs", "tmpfs", efi.to_str().unwrap()]);
    std::fs::write(efi.join("grubx64.efi"), "boot loader").unwrap();
    let result = std::panic::catch_unwind(|| {
        take(r, "bookworm", &TREES_HERE).unwrap();
        assert!(!r.join(SNAPSHOT_DIR).join("usr/efi").exists());
        upgrade_halfway(r);
        put_back(r).unwrap();
        assert_eq!(
            std::fs::read_to_string(efi.join("grubx64.efi")).unwrap(),
            "boot loader"
        );
    });
    mount(&["umount", efi.to_str().unwrap()]);
    result.unwrap();
}
