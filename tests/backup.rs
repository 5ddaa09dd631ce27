//! `va-backup` as users run it, on a throwaway system root: create, verify, show, list, restore,
//! prune, and a restore killed (SIGKILL) at many moments, which must leave the old data or the new.

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

/// A wiki of `pages` pages whose every file says `marker`.
fn wiki(root: &Path, pages: usize, marker: &str) {
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
    assert!(ok(&root, &["verify", listed_path.to_str().unwrap()]).ends_with(": OK\n"));
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

    // A damaged backup.
    let mut bytes = std::fs::read(&listed_path).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
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
