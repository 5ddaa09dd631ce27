//! `va-backup` as users run it, on a throwaway system root: create, verify, show, list, restore,
//! prune, and a restore killed (SIGKILL) at many moments, which must leave the old data or the new.

#![allow(
    clippy::disallowed_methods,
    reason = "tests make their fixtures and run the programs under test directly"
)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

fn va_backup(root: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_va-backup"))
        .arg("--root")
        .arg(root)
        .args(args)
        .output()
        .unwrap()
}

fn ok(root: &Path, args: &[&str]) -> String {
    let output = va_backup(root, args);
    assert!(
        output.status.success(),
        "va-backup {args:?}: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// A wiki of `pages` pages whose every file says `marker`, and the manifest of its plugin.
fn wiki(root: &Path, pages: usize, marker: &str) {
    write(
        &root.join("usr/share/appliance/plugins/moinmoin.yaml"),
        "appliance: moinmoin-appliance\nbackup:\n  appdata: [/var/lib/moin/wiki/data]\n  sysconf: [/etc/moin]\n",
    );
    let _ = std::fs::remove_dir_all(root.join("var/lib/moin/wiki/data"));
    let _ = std::fs::remove_dir_all(root.join("etc/moin"));
    write(&root.join("etc/moin/wikiconfig.py"), marker);
    for page in 0..pages {
        write(
            &root.join(format!("var/lib/moin/wiki/data/pages/P{page}/current")),
            marker,
        );
    }
}

/// Every file under the two roots says the same marker: which one, or `None` for a mix.
fn state(root: &Path) -> Option<String> {
    let mut markers = std::collections::BTreeSet::new();
    let mut stack = vec![root.join("etc/moin"), root.join("var/lib/moin/wiki/data")];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                markers.insert(std::fs::read_to_string(&path).unwrap());
            }
        }
    }
    (markers.len() == 1).then(|| markers.into_iter().next().unwrap_or_default())
}

fn create(root: &Path, out: &Path) {
    ok(
        root,
        &[
            "create",
            "--appliance",
            "moinmoin-appliance",
            "--appdata",
            "/var/lib/moin/wiki/data",
            "--sysconf",
            "/etc/moin",
            "-o",
            out.to_str().unwrap(),
        ],
    );
}

#[test]
fn create_verify_show_list_restore_prune() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    wiki(&root, 20, "new");
    let listed_path = PathBuf::from(
        ok(
            &root,
            &[
                "create",
                "--appliance",
                "moinmoin-appliance",
                "--appdata",
                "/var/lib/moin/wiki/data",
                "--sysconf",
                "/etc/moin",
            ],
        )
        .trim(),
    );
    assert!(
        listed_path.starts_with(root.join("var/backups/appliance")),
        "{}",
        listed_path.display()
    );
    assert!(
        ok(&root, &["verify", listed_path.to_str().unwrap()])
            .ends_with(": OK, made on this system\n")
    );
    // Verified on another system, the same backup comes from elsewhere.
    let elsewhere = dir.path().join("elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();
    assert!(
        ok(&elsewhere, &["verify", listed_path.to_str().unwrap()])
            .ends_with(": OK, from elsewhere\n")
    );
    let shown: serde_json::Value = serde_json::from_str(&ok(
        &root,
        &["--json", "show", listed_path.to_str().unwrap()],
    ))
    .unwrap();
    assert_eq!(shown["appliance"], "moinmoin-appliance");
    assert_eq!(shown["appdata"]["bytes"], 60);
    let listed: serde_json::Value = serde_json::from_str(&ok(&root, &["--json", "list"])).unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 1);

    wiki(&root, 25, "old");
    ok(&root, &["restore", listed_path.to_str().unwrap()]);
    assert_eq!(state(&root).as_deref(), Some("new"));
    assert!(!root.join("var/lib/moin/wiki/data/pages/P24").exists());

    // A limit below what the backup holds: refused, the data left as it was.
    wiki(&root, 5, "old");
    let refused = va_backup(
        &root,
        &["restore", "--max-size", "10", listed_path.to_str().unwrap()],
    );
    assert_eq!(refused.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("more than the limit of 10 bytes"));
    assert_eq!(state(&root).as_deref(), Some("old"));
    let usage = va_backup(&root, &["restore", "--max-size", "10Q", "x.abf"]);
    assert_eq!(usage.status.code(), Some(2));

    // A damaged backup: a byte of the application data changed (past the local header's name
    // and extra field, which the central directory's copy overrides).
    let mut bytes = std::fs::read(&listed_path).unwrap();
    let name = bytes
        .windows(14)
        .position(|w| w == b"appdata.tar.gz")
        .unwrap();
    bytes[name + 14 + 64] ^= 0xff;
    let damaged = dir.path().join("damaged.abf");
    std::fs::write(&damaged, &bytes).unwrap();
    let output = va_backup(&root, &["verify", damaged.to_str().unwrap()]);
    assert_eq!(
        output.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );

    // Prune keeps the newest.
    std::thread::sleep(Duration::from_millis(1100));
    ok(
        &root,
        &[
            "create",
            "--appliance",
            "moinmoin-appliance",
            "--appdata",
            "/var/lib/moin/wiki/data",
            "--sysconf",
            "/etc/moin",
        ],
    );
    let pruned = ok(&root, &["prune", "--keep", "1"]);
    assert!(pruned.contains(listed_path.to_str().unwrap()), "{pruned}");
    assert_eq!(
        std::fs::read_dir(root.join("var/backups/appliance"))
            .unwrap()
            .count(),
        1
    );
}

#[test]
fn a_restore_killed_at_any_moment_leaves_old_or_new() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    wiki(&root, 3000, "new");
    let abf = dir.path().join("b.abf");
    create(&root, &abf);
    // How long a whole restore takes, to spread the kills over it.
    wiki(&root, 100, "old");
    let started = std::time::Instant::now();
    ok(&root, &["restore", abf.to_str().unwrap()]);
    let whole = started.elapsed();
    let mut seen = std::collections::BTreeSet::new();
    for step in 0..14u32 {
        wiki(&root, 100, "old");
        let mut child = Command::new(env!("CARGO_BIN_EXE_va-backup"))
            .arg("--root")
            .arg(&root)
            .args(["restore", abf.to_str().unwrap()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(whole * step / 8);
        let _ = child.kill();
        let _ = child.wait();
        // The next run finishes or rolls back.
        ok(&root, &["list"]);
        let state = state(&root);
        assert!(
            matches!(state.as_deref(), Some("old" | "new")),
            "step {step}: a mix of old and new data"
        );
        seen.insert(state.unwrap_or_default());
        assert!(!root.join("var/lib/appliance/restore.journal").exists());
    }
    assert!(
        seen.contains("old"),
        "no kill landed before the commit: {seen:?}"
    );
    // And a restore left alone still completes after all those interruptions.
    ok(&root, &["restore", abf.to_str().unwrap()]);
    assert_eq!(state(&root).as_deref(), Some("new"));
}

/// Runs a host tool in `dir`, which must succeed.
fn tool(dir: &Path, program: &str, args: &[&str]) -> String {
    let output = Command::new(program)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e} (make test installs it)"));
    assert!(
        output.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The files of the hand-made original backup, under `old-system`.
const ORIGINAL_SYSCONF: [&str; 1] = ["etc/moin/mywiki.py"];
const ORIGINAL_APPDATA: [&str; 2] = [
    "usr/share/moin/mywiki/data/pages/FrontPage/revisions/00000001",
    "usr/share/moin/mywiki/data/pages/FrontPage/current",
];

/// A backup in the original layout made by hand with `tar` and `zip`, as the 2009 prototype made
/// them: format 0.1, absolute paths, only `sha1sums`. Without `directories`, its tarballs list
/// the files alone, as `tar --no-recursion` with a list of files writes them: every directory
/// the restore makes has no entry of its own.
fn hand_made_original(dir: &Path, directories: bool) -> PathBuf {
    let old = dir.join("old-system");
    write(
        &old.join("usr/share/moin/mywiki/data/pages/FrontPage/revisions/00000001"),
        "= Welcome =\n",
    );
    write(
        &old.join("usr/share/moin/mywiki/data/pages/FrontPage/current"),
        "00000001\n",
    );
    write(
        &old.join("etc/moin/mywiki.py"),
        "sitename = u'My 2009 wiki'\n",
    );
    let made = dir.join("made");
    std::fs::create_dir_all(&made).unwrap();
    let old_text = old.to_str().unwrap();
    for (tarball, dir_name, files) in [
        ("sysconfig.tar.gz", "etc/moin", &ORIGINAL_SYSCONF[..]),
        (
            "appdata.tar.gz",
            "usr/share/moin/mywiki",
            &ORIGINAL_APPDATA[..],
        ),
    ] {
        // Absolute member names, as the prototype's `tar czPf` wrote them.
        let mut args = vec![
            "-P",
            "-czf",
            tarball,
            "-C",
            old_text,
            "--transform",
            "s,^,/,",
        ];
        if directories {
            args.push(dir_name);
        } else {
            args.push("--no-recursion");
            args.extend(files);
        }
        tool(&made, "tar", &args);
    }
    write(&made.join("version"), "0.1\n");
    write(
        &made.join("info.yaml"),
        // The nested layout the prototype wrote (the README's "Backups: the format and what a restore checks").
        "appdata:\n  dirs:\n  - /usr/share/moin/mywiki\nappliance: moinmoin\nsysconf:\n  dirs:\n  - /etc/moin\ntimestamp: '2009-06-01 12:00:00'\nversion: '0.1'\n",
    );
    let sums = tool(
        &made,
        "sha1sum",
        &["version", "info.yaml", "sysconfig.tar.gz", "appdata.tar.gz"],
    );
    write(&made.join("sha1sums"), &sums);
    tool(
        &made,
        "zip",
        &[
            "-q",
            "old.abf",
            "version",
            "info.yaml",
            "sysconfig.tar.gz",
            "appdata.tar.gz",
            "sha1sums",
        ],
    );
    made.join("old.abf")
}

/// A backup in the original layout made by hand with `tar` and `zip`, as the 2009 prototype made
/// them (format 0.1, absolute paths, only `sha1sums`), restores through a plugin manifest that
/// moves its wiki to where this system keeps it.
#[test]
fn a_hand_made_original_backup_restores_where_the_plugin_says() {
    let dir = tempfile::tempdir().unwrap();
    let abf = hand_made_original(dir.path(), true);

    let root = dir.path().join("root");
    write(
        &root.join("usr/share/appliance/plugins/moinmoin.yaml"),
        "appliance: moinmoin\nbackup:\n  appdata: [/var/lib/moin/wiki/data]\n  sysconf: [/etc/moin]\n  moves:\n    - {from: /usr/share/moin/mywiki, to: /var/lib/moin/wiki/data}\n",
    );
    write(
        &root.join("var/lib/moin/wiki/data/pages/Today/current"),
        "today\n",
    );
    let shown = ok(&root, &["show", abf.to_str().unwrap()]);
    assert!(shown.contains("0.1 (original)"), "{shown}");
    let verified = ok(&root, &["verify", abf.to_str().unwrap()]);
    assert!(verified.ends_with("OK, from elsewhere\n"), "{verified}");
    ok(&root, &["restore", abf.to_str().unwrap()]);
    let wiki = root.join("var/lib/moin/wiki/data");
    assert_eq!(
        std::fs::read_to_string(wiki.join("data/pages/FrontPage/revisions/00000001")).unwrap(),
        "= Welcome =\n"
    );
    assert!(!wiki.join("pages/Today").exists(), "the wiki was replaced");
    assert!(!root.join("usr/share/moin").exists());
    assert_eq!(
        std::fs::read_to_string(root.join("etc/moin/mywiki.py")).unwrap(),
        "sitename = u'My 2009 wiki'\n"
    );

    // Restoring it without the plugin's move puts it at its own old place.
    let bare = dir.path().join("bare");
    std::fs::create_dir_all(&bare).unwrap();
    ok(
        &bare,
        &[
            "restore",
            "--no-plugin",
            "--paths-from-backup",
            abf.to_str().unwrap(),
        ],
    );
    assert!(
        bare.join("usr/share/moin/mywiki/data/pages/FrontPage/current")
            .exists()
    );

    // A plugin for another appliance does not take it.
    let other = dir.path().join("other");
    write(
        &other.join("usr/share/appliance/plugins/doku.yaml"),
        "appliance: dokuwiki-appliance\nbackup:\n  appdata: [/var/lib/dokuwiki/data]\n",
    );
    let refused = va_backup(
        &other,
        &["restore", "--plugin", "doku", abf.to_str().unwrap()],
    );
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("is a backup of moinmoin"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
}

/// The directories a restore makes without an entry of their own in the backup (the root, its
/// parents, the directories above each file) get 0755 whatever the umask of the restoring process:
/// the root agent runs with `UMask=0077`, and a service's user must still enter its own data.
#[test]
fn directories_without_an_entry_get_0755_under_umask_0077() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let abf = hand_made_original(dir.path(), false);
    let listed = tool(dir.path(), "tar", &["-tzf", "made/appdata.tar.gz"]);
    assert!(!listed.lines().any(|l| l.ends_with('/')), "{listed}");
    let root = dir.path().join("root");
    write(
        &root.join("usr/share/appliance/plugins/moinmoin.yaml"),
        "appliance: moinmoin\nbackup:\n  appdata: [/var/lib/moin/wiki/data]\n  sysconf: [/etc/moin]\n  moves:\n    - {from: /usr/share/moin/mywiki, to: /var/lib/moin/wiki/data}\n",
    );
    let output = Command::new("sh")
        .args(["-c", "umask 077 && exec \"$0\" \"$@\""])
        .arg(env!("CARGO_BIN_EXE_va-backup"))
        .arg("--root")
        .arg(&root)
        .args(["restore", abf.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let mode = |path: &str| {
        std::fs::symlink_metadata(root.join(path))
            .unwrap()
            .permissions()
            .mode()
            & 0o7777
    };
    for directory in [
        "var/lib/moin",
        "var/lib/moin/wiki",
        "var/lib/moin/wiki/data",
        "var/lib/moin/wiki/data/data",
        "var/lib/moin/wiki/data/data/pages/FrontPage",
        "var/lib/moin/wiki/data/data/pages/FrontPage/revisions",
        "etc/moin",
    ] {
        assert_eq!(mode(directory), 0o755, "{directory}");
    }
    // Files keep the modes their entries record.
    assert_eq!(mode("etc/moin/mywiki.py"), 0o644);
    assert_eq!(
        std::fs::read_to_string(root.join("var/lib/moin/wiki/data/data/pages/FrontPage/current"))
            .unwrap(),
        "00000001\n"
    );
}

/// A restore onto a file system that fills up fails cleanly: the live data stays, nothing staged
/// is left. A small tmpfs is the full disk (root only).
#[test]
fn a_full_disk_fails_the_restore_and_keeps_the_live_data() {
    if !nix_is_root() {
        assert!(
            std::env::var_os("APPLIANCE_E2E").is_none(),
            "the full-disk test needs root under make test"
        );
        eprintln!("skipped: mounting a tmpfs needs root");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("source");
    // 6 MiB of data that does not compress.
    let mut noise = vec![0u8; 6 << 20];
    let mut seed = 0x2545_f491_4f6c_dd1d_u64;
    for byte in &mut noise {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        *byte = seed.to_le_bytes()[0];
    }
    write(&source.join("etc/moin/wikiconfig.py"), "backed up\n");
    std::fs::create_dir_all(source.join("var/lib/moin/wiki/data")).unwrap();
    std::fs::write(source.join("var/lib/moin/wiki/data/big"), &noise).unwrap();
    let abf = dir.path().join("b.abf");
    create(&source, &abf);

    let root = dir.path().join("small");
    std::fs::create_dir_all(&root).unwrap();
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=4m", "tmpfs"])
        .arg(&root)
        .status()
        .unwrap();
    assert!(mounted.success());
    let _unmount = Unmount(root.clone());
    wiki(&root, 3, "live");
    // By default the free space is the limit: refused before writing.
    let refused = va_backup(&root, &["restore", abf.to_str().unwrap()]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("more than the limit"));
    // Told to go ahead anyway, the disk fills up: a clear error, nothing lost.
    let full = va_backup(
        &root,
        &["restore", "--max-size", "1G", abf.to_str().unwrap()],
    );
    assert_eq!(full.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&full.stderr);
    assert!(stderr.contains("No space left on device"), "{stderr}");
    assert_eq!(state(&root).as_deref(), Some("live"));
    let left: Vec<_> = std::fs::read_dir(root.join("var/lib/moin/wiki"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left, ["data"], "nothing staged is left");
}

/// Whether this process runs as root (the owner of its /proc entry is its effective uid).
fn nix_is_root() -> bool {
    std::fs::metadata("/proc/self").is_ok_and(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0)
}

/// Unmounts on drop.
struct Unmount(PathBuf);

impl Drop for Unmount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

/// A backup that names `/etc/cron.d` as its system configuration: the directories a restore
/// replaces come from the plugin manifest that accepts the backup, never from the backup.
#[test]
fn directories_come_from_the_plugin_manifest_never_from_the_backup() {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("source");
    write(
        &source.join("etc/cron.d/evil"),
        "* * * * * root /bin/sh -c 'id > /tmp/owned'\n",
    );
    write(&source.join("var/lib/moin/wiki/data/page"), "backed up\n");
    let abf = dir.path().join("evil.abf");
    ok(
        &source,
        &[
            "create",
            "--appliance",
            "moinmoin-appliance",
            "--appdata",
            "/var/lib/moin/wiki/data",
            "--sysconf",
            "/etc/cron.d",
            "-o",
            abf.to_str().unwrap(),
        ],
    );
    let root = dir.path().join("root");
    write(&root.join("etc/cron.d/keep"), "live\n");
    write(&root.join("etc/moin/wikiconfig.py"), "live\n");
    write(&root.join("var/lib/moin/wiki/data/page"), "live\n");
    let manifest = root.join("usr/share/appliance/plugins/moinmoin.yaml");
    write(
        &manifest,
        "appliance: moinmoin-appliance\nbackup:\n  appdata: [/var/lib/moin/wiki/data]\n  sysconf: [/etc/moin]\n",
    );
    let untouched = |root: &Path| {
        assert_eq!(
            std::fs::read_to_string(root.join("etc/cron.d/keep")).unwrap(),
            "live\n"
        );
        assert!(!root.join("etc/cron.d/evil").exists());
        assert_eq!(
            std::fs::read_to_string(root.join("var/lib/moin/wiki/data/page")).unwrap(),
            "live\n",
            "nothing at all is restored"
        );
    };
    let refused = va_backup(&root, &["restore", abf.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("`/etc/cron.d`") && stderr.contains("does not declare"),
        "{stderr}"
    );
    untouched(&root);

    // No manifest accepts it: refused unless root says to take the backup's own directories.
    std::fs::remove_file(&manifest).unwrap();
    for args in [
        &["restore", abf.to_str().unwrap()][..],
        &["restore", "--no-plugin", abf.to_str().unwrap()],
    ] {
        let refused = va_backup(&root, args);
        let stderr = String::from_utf8_lossy(&refused.stderr);
        assert_ne!(refused.status.code(), Some(0), "{args:?}: {stderr}");
        assert!(stderr.contains("--paths-from-backup"), "{args:?}: {stderr}");
        untouched(&root);
    }
    let output = va_backup(
        &root,
        &["restore", "--paths-from-backup", abf.to_str().unwrap()],
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let replacing = stderr.find("will replace").unwrap_or(usize::MAX);
    assert!(
        replacing < stderr.find("/etc/cron.d").unwrap_or(0),
        "it says which directories it replaces: {stderr}"
    );
    assert!(root.join("etc/cron.d/evil").exists());
}

/// When a backup named by the store was made: its time, then its number within that second
/// (`…Z.abf` first, then `…Z-2.abf`).
fn made(name: &str) -> (String, u32) {
    let stem = name.trim_end_matches(".abf");
    match stem.rsplit_once('-') {
        Some((time, n)) if time.ends_with('Z') => (time.to_owned(), n.parse().unwrap()),
        _ => (stem.to_owned(), 1),
    }
}

/// Nothing a user asks for loses a backup silently: an existing `--output` is kept unless
/// `--overwrite`, two backups of the same second both stay, `prune --keep 0` needs `--force`,
/// `--dry-run` deletes nothing; a name that is not a package's and a `--move` of a directory the
/// backup does not hold are refused.
#[test]
fn no_backup_is_lost_or_misplaced_silently() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("system");
    wiki(&root, 2, "first");
    let out = dir.path().join("wiki.abf");
    create(&root, &out);
    let before = std::fs::read(&out).unwrap();
    let by_hand = [
        "create",
        "--appliance",
        "moinmoin-appliance",
        "--sysconf",
        "/etc/moin",
    ];
    let again = va_backup(
        &root,
        &[&by_hand[..], &["-o", out.to_str().unwrap()]].concat(),
    );
    assert_eq!(again.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("exists: name another file"),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    assert_eq!(
        std::fs::read(&out).unwrap(),
        before,
        "the first backup is kept"
    );
    ok(
        &root,
        &[&by_hand[..], &["-o", out.to_str().unwrap(), "--overwrite"]].concat(),
    );
    assert_ne!(std::fs::read(&out).unwrap(), before, "replaced when asked");
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.contains(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    // Four backups as fast as they come: several share a second, and every one stays.
    for _ in 0..4 {
        ok(&root, &by_hand);
    }
    let store = root.join("var/backups/appliance");
    let count = || std::fs::read_dir(&store).unwrap().count();
    assert_eq!(count(), 4);

    let escaped = va_backup(
        &root,
        &[
            "create",
            "--appliance",
            "../../escaped",
            "--sysconf",
            "/etc/moin",
        ],
    );
    assert_eq!(escaped.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&escaped.stderr).contains("is not a Debian package name"));
    assert!(!dir.path().join("escaped").exists() && count() == 4);

    // Within one second too, the newest stays: `-2` and after are newer than the first.
    let listed: Vec<String> = std::fs::read_dir(&store)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let would = ok(&root, &["prune", "--keep", "1", "--dry-run"]);
    let newest = listed.iter().max_by_key(|name| made(name)).unwrap();
    assert!(
        !would.contains(newest.as_str()),
        "{newest} would go: {would}"
    );
    assert_eq!(would.matches("would remove ").count(), 3, "{would}");

    let all = va_backup(&root, &["prune", "--keep", "0"]);
    assert_eq!(all.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&all.stderr).contains("--force"));
    assert_eq!(count(), 4);
    let would = ok(&root, &["prune", "--keep", "0", "--dry-run"]);
    assert_eq!(would.matches("would remove ").count(), 4, "{would}");
    assert_eq!(count(), 4);
    let removed = ok(&root, &["prune", "--keep", "0", "--force"]);
    assert_eq!(removed.matches("removed ").count(), 4, "{removed}");
    assert_eq!(count(), 0);
    let nothing = ok(&root, &["prune", "--keep", "3"]);
    assert!(nothing.starts_with("nothing to remove"), "{nothing}");

    // The backup at `out` now holds /etc/moin only: a move of the wiki's data, which the manifest
    // declares, would move nothing.
    let typo = va_backup(
        &root,
        &[
            "restore",
            "--move",
            "/var/lib/moin/wiki/data=/srv/wiki",
            out.to_str().unwrap(),
        ],
    );
    let said = String::from_utf8_lossy(&typo.stderr);
    assert_eq!(typo.status.code(), Some(1), "{said}");
    assert!(
        said.contains("--move `/var/lib/moin/wiki/data`: the backup")
            && said.contains("holds no such directory (it holds `/etc/moin`)"),
        "{said}"
    );
    assert_eq!(state(&root).as_deref(), Some("first"), "nothing restored");
}
