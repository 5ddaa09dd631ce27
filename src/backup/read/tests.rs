use std::io::Write;
use std::os::unix::fs::PermissionsExt;

use super::*;
use crate::backup::write::{create, sums_file};

fn info() -> Info {
    Info {
        appliance: "moinmoin-appliance".into(),
        appdata_dirs: vec!["/var/lib/moin/wiki/data".into()],
        sysconf_dirs: vec!["/etc/moin".into()],
        timestamp: "2026-11-26T03:00:00Z".into(),
        version: "2.0".into(),
        package_version: Some("2.0-1".into()),
        plugin: Some("moinmoin".into()),
    }
}

/// A small system and a backup of it.
pub(crate) fn backup(dir: &Path) -> PathBuf {
    let system = dir.join("system");
    std::fs::create_dir_all(system.join("etc/moin")).unwrap();
    std::fs::create_dir_all(system.join("var/lib/moin/wiki/data/pages/Front")).unwrap();
    std::fs::write(system.join("etc/moin/wikiconfig.py"), "sitename = 'x'\n").unwrap();
    std::fs::write(
        system.join("var/lib/moin/wiki/data/pages/Front/current"),
        "00000001\n",
    )
    .unwrap();
    std::os::unix::fs::symlink("wikiconfig.py", system.join("etc/moin/link.py")).unwrap();
    let out = dir.join("backup.abf");
    create(&system, &info(), &out, &crate::backup::Quiet).unwrap();
    out
}

/// `from` with `member` replaced by `bytes`, its checksums made anew, written to `to`.
pub(crate) fn replace_member(from: &Path, to: &Path, member: &str, bytes: &[u8]) {
    rezip(
        from,
        to,
        |name, old| Some(if name == member { bytes.to_vec() } else { old }),
        &[],
        true,
    );
}

/// Copies the zip at `from` to `to`, member by member, through `edit` (None drops a member),
/// then appends `extra` members; with `resum`, rewrites the checksums so they match.
pub(crate) fn rezip(
    from: &Path,
    to: &Path,
    edit: impl Fn(&str, Vec<u8>) -> Option<Vec<u8>>,
    extra: &[(&str, Vec<u8>)],
    resum: bool,
) {
    let mut source = zip::ZipArchive::new(std::fs::File::open(from).unwrap()).unwrap();
    let mut members: Vec<(String, Vec<u8>)> = Vec::new();
    for index in 0..source.len() {
        let mut entry = source.by_index(index).unwrap();
        let name = entry.name().unwrap().into_owned();
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes).unwrap();
        if let Some(bytes) = edit(&name, bytes) {
            members.push((name, bytes));
        }
    }
    members.extend(extra.iter().map(|(n, b)| ((*n).to_owned(), b.clone())));
    if resum {
        members.retain(|(n, _)| n != "sha1sums" && n != "sha256sums");
        let digests: Vec<(String, String, String)> = members
            .iter()
            .map(|(n, b)| {
                (
                    n.clone(),
                    hex::encode(Sha256::digest(b)),
                    hex::encode(Sha1::digest(b)),
                )
            })
            .collect();
        let sha256 = sums_file(
            digests
                .iter()
                .filter(|(n, _, _)| DATA_MEMBERS.contains(&n.as_str()))
                .map(|(n, h, _)| (h.as_str(), n.as_str())),
        );
        let sha1_of_sha256 = hex::encode(Sha1::digest(sha256.as_bytes()));
        let sha1 = sums_file(
            digests
                .iter()
                .map(|(n, _, h)| (h.as_str(), n.as_str()))
                .chain(std::iter::once((sha1_of_sha256.as_str(), "sha256sums"))),
        );
        members.push(("sha256sums".into(), sha256.into_bytes()));
        members.push(("sha1sums".into(), sha1.into_bytes()));
    }
    let mut zip = zip::ZipWriter::new(std::fs::File::create(to).unwrap());
    for (name, bytes) in members {
        zip.start_file(name, zip::write::SimpleFileOptions::default())
            .unwrap();
        zip.write_all(&bytes).unwrap();
    }
    zip.finish().unwrap();
}

/// One raw tar entry: name, type, link target, contents.
pub(crate) type RawEntry<'a> = (&'a str, tar::EntryType, &'a str, &'a [u8]);

/// A tar.gz of raw entries; names are written as given.
pub(crate) fn raw_tar(entries: &[RawEntry]) -> Vec<u8> {
    let with_modes: Vec<(RawEntry, u32)> = entries.iter().map(|e| (*e, 0o644)).collect();
    raw_tar_modes(&with_modes)
}

/// [`raw_tar`] with each entry's mode.
pub(crate) fn raw_tar_modes(entries: &[(RawEntry, u32)]) -> Vec<u8> {
    let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(
        Vec::new(),
        flate2::Compression::fast(),
    ));
    for ((name, kind, link, data), mode) in entries {
        let mut header = tar::Header::new_gnu();
        let gnu = header.as_gnu_mut().unwrap();
        gnu.name[..name.len()].copy_from_slice(name.as_bytes());
        gnu.linkname[..link.len()].copy_from_slice(link.as_bytes());
        header.set_entry_type(*kind);
        header.set_mode(*mode);
        header.set_size(data.len() as u64);
        header.set_cksum();
        builder.append(&header, *data).unwrap();
    }
    builder.into_inner().unwrap().finish().unwrap()
}

#[test]
fn a_backup_we_write_reads_back_and_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let path = backup(dir.path());
    let mut backup = Backup::open(&path).unwrap();
    assert_eq!(backup.format, Format::Current);
    assert_eq!(backup.info, info());
    backup.verify().unwrap();
    let sysconf: Vec<(String, EntryKind)> = backup
        .entries("sysconfig.tar.gz")
        .unwrap()
        .into_iter()
        .map(|e| (e.path, e.kind))
        .collect();
    assert!(
        sysconf.contains(&("etc/moin/wikiconfig.py".into(), EntryKind::File)),
        "{sysconf:?}"
    );
    assert!(sysconf.contains(&(
        "etc/moin/link.py".into(),
        EntryKind::Symlink("wikiconfig.py".into())
    )));
    let appdata = backup.entries("appdata.tar.gz").unwrap();
    assert!(
        appdata
            .iter()
            .any(|e| e.path == "var/lib/moin/wiki/data/pages/Front/current" && e.size == 9)
    );
    // No temporary file is left beside the backup, and the backup is private.
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
    assert_eq!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
}

#[test]
fn a_missing_directory_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("x.abf");
    let error = create(dir.path(), &info(), &out, &crate::backup::Quiet).unwrap_err();
    assert!(error.to_string().contains("is not a directory"), "{error}");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn container_problems_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let good = backup(dir.path());
    let bad = dir.path().join("bad.abf");
    let open = |path: &Path| {
        Backup::open(path)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default()
    };

    rezip(
        &good,
        &bad,
        |n, b| (n != "sha1sums").then_some(b),
        &[],
        false,
    );
    assert!(
        open(&bad).contains("has no member `sha1sums`"),
        "{}",
        open(&bad)
    );

    rezip(
        &good,
        &bad,
        |n, b| Some(if n == "version" { b"3\n".to_vec() } else { b }),
        &[],
        true,
    );
    assert!(
        open(&bad).contains("unknown backup format version `3`"),
        "{}",
        open(&bad)
    );

    rezip(
        &good,
        &bad,
        |n, b| {
            Some(if n == "info.yaml" {
                b"appliance: [".to_vec()
            } else {
                b
            })
        },
        &[],
        true,
    );
    assert!(
        open(&bad).contains("`info.yaml` is not valid"),
        "{}",
        open(&bad)
    );

    // Two members named `version`: written as `versioN`, then renamed in place.
    rezip(
        &good,
        &bad,
        |_, b| Some(b),
        &[("versioN", b"2\n".to_vec())],
        false,
    );
    let mut bytes = std::fs::read(&bad).unwrap();
    let mut at = 0;
    while let Some(found) = bytes[at..].windows(7).position(|w| w == b"versioN") {
        bytes[at + found + 6] = b'n';
        at += found + 7;
    }
    std::fs::write(&bad, &bytes).unwrap();
    assert!(
        open(&bad).contains("holds the member `version` twice"),
        "{}",
        open(&bad)
    );

    // Encryption flag and an unsupported method, set in the central directory.
    let original = std::fs::read(&good).unwrap();
    let directory = original
        .windows(4)
        .position(|w| w == [0x50, 0x4b, 0x01, 0x02])
        .unwrap();
    let mut encrypted = original.clone();
    encrypted[directory + 8] |= 1;
    std::fs::write(&bad, &encrypted).unwrap();
    assert!(open(&bad).contains("is encrypted"), "{}", open(&bad));
    let mut bzip2 = original.clone();
    bzip2[directory + 10] = 12;
    bzip2[directory + 11] = 0;
    std::fs::write(&bad, &bzip2).unwrap();
    assert!(
        open(&bad).contains("compression method 12"),
        "{}",
        open(&bad)
    );

    // Truncated anywhere: an error, never a panic.
    for cut in (0..original.len()).step_by(97) {
        std::fs::write(&bad, &original[..cut]).unwrap();
        if let Ok(mut backup) = Backup::open(&bad) {
            let _ = backup.verify();
        }
    }
    std::fs::write(&bad, &original[..original.len() / 2]).unwrap();
    assert!(
        open(&bad).contains("not a zip file, or it is truncated"),
        "{}",
        open(&bad)
    );
}

#[test]
fn a_changed_member_fails_its_checksum() {
    let dir = tempfile::tempdir().unwrap();
    let good = backup(dir.path());
    let bad = dir.path().join("bad.abf");
    rezip(
        &good,
        &bad,
        |n, b| {
            Some(if n == "appdata.tar.gz" {
                raw_tar(&[(
                    "var/lib/moin/wiki/data/x",
                    tar::EntryType::Regular,
                    "",
                    b"evil",
                )])
            } else {
                b
            })
        },
        &[],
        false,
    );
    let error = Backup::open(&bad)
        .unwrap()
        .verify()
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("the checksum of `appdata.tar.gz` does not match (sha1sums"),
        "{error}"
    );
    // The one-pass check finds it too, though the changed tarball itself is sound.
    let error = Backup::open(&bad).unwrap().check().unwrap_err().to_string();
    assert!(error.contains("checksum of `appdata.tar.gz`"), "{error}");
    // And passes the backup as written.
    Backup::open(&good).unwrap().check().unwrap();
    // An extra member the sums do not list.
    rezip(
        &good,
        &bad,
        |_, b| Some(b),
        &[("extra", b"x".to_vec())],
        false,
    );
    let error = Backup::open(&bad)
        .unwrap()
        .verify()
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("`sha1sums` does not list `extra`"),
        "{error}"
    );
}

#[test]
fn hostile_entries_are_refused() {
    use tar::EntryType::{
        Block, Char, Directory, Fifo, GNUSparse, Link, Regular, Symlink, XHeader,
    };
    let dir = tempfile::tempdir().unwrap();
    let good = backup(dir.path());
    let bad = dir.path().join("bad.abf");
    let cases: Vec<(&str, Vec<RawEntry>)> = vec![
        (
            "climbs out",
            vec![("etc/moin/../../etc/passwd", Regular, "", b"x")],
        ),
        ("is absolute", vec![("/etc/shadow", Regular, "", b"x")]),
        (
            "outside the backup's roots",
            vec![("etc/cron.d/evil", Regular, "", b"x")],
        ),
        (
            "symbolic link to `../../../etc/shadow`",
            vec![("etc/moin/link", Symlink, "../../../etc/shadow", b"")],
        ),
        (
            "symbolic link to `/etc/shadow`",
            vec![("etc/moin/link", Symlink, "/etc/shadow", b"")],
        ),
        (
            "hard link to `etc/passwd`",
            vec![("etc/moin/hard", Link, "etc/passwd", b"")],
        ),
        (
            "not an earlier file",
            vec![
                ("etc/moin/hard", Link, "etc/moin/later", b""),
                ("etc/moin/later", Regular, "", b"x"),
            ],
        ),
        ("are not restored", vec![("etc/moin/dev", Char, "", b"")]),
        ("are not restored", vec![("etc/moin/dev", Block, "", b"")]),
        ("are not restored", vec![("etc/moin/fifo", Fifo, "", b"")]),
        // A GNU sparse header without its map: the tar reader itself refuses it.
        (
            "numeric field",
            vec![("etc/moin/sparse", GNUSparse, "", b"")],
        ),
        // A pax sparse file declaring a terabyte in a one-byte entry.
        (
            "a sparse file",
            vec![
                (
                    "PaxHeaders/sparse",
                    XHeader,
                    "",
                    b"37 GNU.sparse.realsize=1099511627776\n",
                ),
                ("etc/moin/sparse", Regular, "", b"x"),
            ],
        ),
        (
            "holds it twice",
            vec![
                ("etc/moin/a", Regular, "", b"1"),
                ("etc/moin/a", Regular, "", b"2"),
            ],
        ),
        // A directory entry over a link entry: chmod, chown and utimes would follow the link.
        (
            "holds it twice",
            vec![
                ("etc/moin/a", Symlink, "wikiconfig.py", b""),
                ("etc/moin/a", Directory, "", b""),
            ],
        ),
        (
            "holds it twice",
            vec![
                ("etc/moin/a", Regular, "", b"1"),
                ("etc/moin/a", Directory, "", b""),
            ],
        ),
        // A link to a directory above a root: its contents are not the backup's.
        (
            "above the backup's roots",
            vec![("etc/moin/a", Symlink, "/etc", b"")],
        ),
    ];
    for (expected, entries) in cases {
        let tarball = raw_tar(&entries);
        replace_member(&good, &bad, "sysconfig.tar.gz", &tarball);
        let mut backup = Backup::open(&bad).unwrap();
        backup.verify().unwrap();
        let error = backup.entries("sysconfig.tar.gz").unwrap_err();
        let text = crate::error_chain(&error);
        assert!(
            text.contains(expected),
            "{entries:?}: expected `{expected}` in `{text}`"
        );
        // The one-pass check of everything refuses it the same way.
        let text = crate::error_chain(&Backup::open(&bad).unwrap().check().unwrap_err());
        assert!(
            text.contains(expected),
            "{entries:?}: expected `{expected}` in `{text}` from check"
        );
    }
}

#[test]
fn links_inside_the_roots_are_fine() {
    use tar::EntryType::{Link, Regular, Symlink};
    let dir = tempfile::tempdir().unwrap();
    let good = backup(dir.path());
    let bad = dir.path().join("bad.abf");
    let tarball = raw_tar(&[
        ("etc/moin/a", Regular, "", b"1"),
        ("etc/moin/b", Link, "etc/moin/a", b""),
        ("etc/moin/c", Symlink, "a", b""),
        // Into another root of the backup, as Debian's /etc/dokuwiki links into /var/lib/dokuwiki.
        ("etc/moin/d", Symlink, "/var/lib/moin/wiki/data/x", b""),
    ]);
    replace_member(&good, &bad, "sysconfig.tar.gz", &tarball);
    assert_eq!(
        Backup::open(&bad)
            .unwrap()
            .entries("sysconfig.tar.gz")
            .unwrap()
            .len(),
        4
    );
}

#[test]
fn the_original_format_reads_with_absolute_paths() {
    use tar::EntryType::Regular;
    let dir = tempfile::tempdir().unwrap();
    let good = backup(dir.path());
    let old = dir.path().join("old.abf");
    // The nested `info.yaml` of the 2009 prototype.
    let info = crate::backup::info::tests::ORIGINAL.as_bytes().to_vec();
    let appdata = raw_tar(&[(
        "/usr/share/moin/mywiki/data/pages/FrontPage/current",
        Regular,
        "",
        b"00000001\n",
    )]);
    rezip(
        &good,
        &old,
        |n, b| match n {
            "version" => Some(b"1\n".to_vec()),
            "info.yaml" => Some(info.clone()),
            "appdata.tar.gz" => Some(appdata.clone()),
            "sysconfig.tar.gz" => Some(raw_tar(&[])),
            "sha256sums" => None,
            _ => Some(b),
        },
        &[],
        true,
    );
    // The original format has no sha256sums: drop the one rezip wrote.
    let older = dir.path().join("older.abf");
    rezip(
        &old,
        &older,
        |n, b| (n != "sha256sums").then_some(b),
        &[],
        false,
    );
    let mut backup = Backup::open(&older).unwrap();
    assert_eq!(backup.format, Format::Original("1".into()));
    let entries = backup.entries("appdata.tar.gz").unwrap();
    assert_eq!(
        entries[0].path,
        "usr/share/moin/mywiki/data/pages/FrontPage/current"
    );
}

#[test]
fn a_stray_member_that_climbs_out_or_is_absolute_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let good = backup(dir.path());
    let bad = dir.path().join("bad.abf");
    for stray in ["../../etc/cron.d/evil", "/etc/cron.d/evil", "a/../../b"] {
        rezip(&good, &bad, |_, b| Some(b), &[(stray, b"x".to_vec())], true);
        let error = Backup::open(&bad)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            error.contains(&format!("stray member `{stray}`")),
            "{stray}: {error}"
        );
    }
    // A harmless extra member is only reported by the checksums, as before.
    rezip(
        &good,
        &bad,
        |_, b| Some(b),
        &[("notes.txt", b"x".to_vec())],
        true,
    );
    Backup::open(&bad).unwrap().verify().unwrap();
}
