//! Property tests of the backup reader and the restore on hostile archives: real backups (ours,
//! and the 2009 layout) mutated byte by byte and member by member, and archives assembled from
//! hostile entries (`..`, absolute names, links out and above the roots, repeated paths, set-ID
//! modes, sizes that lie) with checksums that match, so that they reach the restore itself.
//! Properties: no panic; a refusal is an error that names the backup; nothing is written outside
//! the restored directories; no set-ID file is restored.

use crate::target::ProgramError;
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use proptest::prelude::*;
use proptest::test_runner::TestRunner;
use sha1::Sha1;
use sha2::{Digest, Sha256};

use super::DATA_MEMBERS;
use super::commands::Runner;
use super::read::Backup;
use super::read::tests::raw_tar_modes;
use super::restore;
use super::write::sums_file;

/// How one real archive is damaged.
#[derive(Debug, Clone)]
enum Mutation {
    /// One byte changed, anywhere (position taken modulo the length).
    Flip { at: usize, xor: u8 },
    /// Cut short.
    Truncate(usize),
    /// A member renamed (`..`, absolute, a duplicate of another, a stranger), sums rewritten or not.
    Rename {
        member: usize,
        name: &'static str,
        resum: bool,
    },
    /// Hostile entries added to a tarball, sums rewritten so that the entries are reached.
    Inject {
        appdata: bool,
        entries: Vec<Hostile>,
    },
    /// `info.yaml` replaced.
    Info(&'static str),
}

/// One tar entry a hostile archive may hold.
#[derive(Debug, Clone)]
struct Hostile {
    name: &'static str,
    kind: Kind,
    mode: u32,
    data: Vec<u8>,
    /// A declared size other than the data's (a lie), when set.
    lie: Option<u64>,
}

#[derive(Debug, Clone)]
enum Kind {
    File,
    Directory,
    Symlink(&'static str),
    HardLink(&'static str),
    Fifo,
    Char,
}

const NAMES: &[&str] = &[
    "etc/moin",
    "etc/moin/a",
    "etc/moin/b",
    "etc/moin/a/x",
    "etc/moin/sub",
    "etc/moin/sub/y",
    "etc",
    "etc/cron.d",
    "etc/cron.d/evil",
    "etc/moin/../../cron.d/evil",
    "../etc/passwd",
    "/etc/shadow",
    "/etc/moin/abs",
    "etc//moin/./c",
    "var/lib/moin/wiki/data",
    "var/lib/moin/wiki/data/p",
    "var/lib/moin/wiki/data/q",
    "var/lib/moin/wiki/data/p/r",
    "usr/share/moin/mywiki/data/p",
    "var/lib/moin/wiki",
    "",
    ".",
];

const TARGETS: &[&str] = &[
    "/etc",
    "/etc/cron.d",
    "..",
    "../..",
    "sub",
    ".",
    "/etc/moin",
    "/var/lib/moin/wiki/data/p",
    "/var/lib/moin/wiki",
    "etc/moin/a",
    "a",
    "/",
    "",
];

const MODES: &[u32] = &[0o644, 0o755, 0o777, 0o4755, 0o2755, 0o6777, 0o000, 0o555];

const STRANGE_NAMES: &[&str] = &[
    "../../etc/cron.d/evil",
    "/etc/cron.d/evil",
    "a/../../b",
    "version",
    "info.yaml",
    "sha1sums",
    "sha256sums.hmac",
    "notes.txt",
    "appdata.tar.gz",
    "",
];

const INFOS: &[&str] = &[
    "appliance: moinmoin\n",
    "appdata:\n  dirs: []\nappliance: xy\ntimestamp: t\nversion: '1'\n",
    "appdata:\n  dirs: [/etc]\nappliance: xy\ntimestamp: t\nversion: '1'\n",
    "appdata:\n  dirs: [/]\nappliance: xy\ntimestamp: t\nversion: '1'\n",
    "appdata:\n  dirs: [../etc]\nappliance: xy\ntimestamp: t\nversion: '1'\n",
    "appdata:\n  dirs: [/var/lib/moin/wiki/data]\nappdata.dirs: [/etc]\nappliance: xy\ntimestamp: t\nversion: '1'\n",
    "sysconf:\n  dirs: [/etc/cron.d]\nappliance: xy\ntimestamp: t\nversion: '1'\n",
    "appdata: [/srv]\nappliance: xy\ntimestamp: t\nversion: '1'\n",
    "{{{",
    "",
];

/// Link targets that exist on no host (or only inside the test's system): what a restore test
/// may meet without risking the machine that runs it, were a check to regress.
const SAFE_TARGETS: &[&str] = &[
    "..",
    "../..",
    "sub",
    ".",
    "/etc/moin",
    "/var/lib/moin/wiki/data/p",
    "/var/lib/moin/wiki",
    "/var/lib/moin/wiki/data",
    "etc/moin/a",
    "a",
    "",
];

/// Names inside the roots most archives name: hostile entries among sound ones, so that many
/// archives get as far as the restore itself.
const INSIDE: &[&str] = &[
    "etc/moin",
    "etc/moin/a",
    "etc/moin/b",
    "etc/moin/a/x",
    "etc/moin/sub",
    "etc/moin/sub/y",
    "var/lib/moin/wiki/data",
    "var/lib/moin/wiki/data/p",
    "var/lib/moin/wiki/data/q",
    "var/lib/moin/wiki/data/p/r",
];

fn hostile() -> impl Strategy<Value = Hostile> {
    hostile_with(TARGETS)
}

fn hostile_with(targets: &'static [&'static str]) -> impl Strategy<Value = Hostile> {
    let kind = prop_oneof![
        6 => Just(Kind::File),
        4 => Just(Kind::Directory),
        2 => prop::sample::select(targets).prop_map(Kind::Symlink),
        1 => prop::sample::select(INSIDE).prop_map(Kind::HardLink),
        1 => prop::sample::select(NAMES).prop_map(Kind::HardLink),
        1 => Just(Kind::Fifo),
        1 => Just(Kind::Char),
    ];
    let name = prop_oneof![
        4 => prop::sample::select(INSIDE),
        1 => prop::sample::select(NAMES),
    ];
    (
        name,
        kind,
        prop::sample::select(MODES),
        prop::collection::vec(any::<u8>(), 0..24),
        prop::option::weighted(
            0.1,
            prop_oneof![Just(u64::MAX >> 1), Just(1 << 40), 0..64u64],
        ),
    )
        .prop_map(|(name, kind, mode, data, lie)| Hostile {
            name,
            kind,
            mode,
            data,
            lie,
        })
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        3 => (any::<usize>(), 1..=255u8).prop_map(|(at, xor)| Mutation::Flip { at, xor }),
        1 => any::<usize>().prop_map(Mutation::Truncate),
        1 => (0..7usize, prop::sample::select(STRANGE_NAMES), any::<bool>())
            .prop_map(|(member, name, resum)| Mutation::Rename { member, name, resum }),
        4 => (any::<bool>(), prop::collection::vec(hostile(), 1..6))
            .prop_map(|(appdata, entries)| Mutation::Inject { appdata, entries }),
        1 => prop::sample::select(INFOS).prop_map(Mutation::Info),
    ]
}

/// A tar.gz of hostile entries, after `prefix` (a real tarball's entries, or none).
fn tarball(entries: &[Hostile]) -> Vec<u8> {
    let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(
        Vec::new(),
        flate2::Compression::fast(),
    ));
    for entry in entries {
        let mut header = tar::Header::new_gnu();
        let gnu = header.as_gnu_mut().unwrap();
        let name = entry.name.as_bytes();
        gnu.name[..name.len()].copy_from_slice(name);
        let (kind, link) = match &entry.kind {
            Kind::File => (tar::EntryType::Regular, ""),
            Kind::Directory => (tar::EntryType::Directory, ""),
            Kind::Symlink(target) => (tar::EntryType::Symlink, *target),
            Kind::HardLink(target) => (tar::EntryType::Link, *target),
            Kind::Fifo => (tar::EntryType::Fifo, ""),
            Kind::Char => (tar::EntryType::Char, ""),
        };
        gnu.linkname[..link.len()].copy_from_slice(link.as_bytes());
        header.set_entry_type(kind);
        header.set_mode(entry.mode);
        header.set_size(entry.lie.unwrap_or(entry.data.len() as u64));
        header.set_cksum();
        // A declared size larger than the data: the archive ends early, as a lying one does.
        builder.append(&header, entry.data.as_slice()).unwrap();
    }
    builder.into_inner().unwrap().finish().unwrap()
}

/// A zip of `members`, with `sha256sums` and `sha1sums` that match.
fn zip_with_sums(members: &[(&str, Vec<u8>)], original: bool) -> Vec<u8> {
    let mut all: Vec<(String, Vec<u8>)> = members
        .iter()
        .map(|(n, b)| ((*n).to_owned(), b.clone()))
        .collect();
    let sha256 = sums_file(
        all.iter()
            .filter(|(n, _)| DATA_MEMBERS.contains(&n.as_str()))
            .map(|(n, b)| (hex::encode(Sha256::digest(b)), n.as_str()))
            .collect::<Vec<_>>()
            .iter()
            .map(|(h, n)| (h.as_str(), *n)),
    );
    if !original {
        all.push(("sha256sums".into(), sha256.into_bytes()));
    }
    let sha1 = sums_file(
        all.iter()
            .map(|(n, b)| (hex::encode(Sha1::digest(b)), n.as_str()))
            .collect::<Vec<_>>()
            .iter()
            .map(|(h, n)| (h.as_str(), *n)),
    );
    all.push(("sha1sums".into(), sha1.into_bytes()));
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, bytes) in all {
        zip.start_file(name, zip::write::SimpleFileOptions::default())
            .unwrap();
        zip.write_all(&bytes).unwrap();
    }
    zip.finish().unwrap().into_inner()
}

/// The two real archives the mutations start from: ours (format 2, written by the writer) and
/// the 2009 layout (format 0.1, nested `info.yaml`, absolute names, no `sha256sums`).
fn real_archives(dir: &Path) -> Vec<PathBuf> {
    let ours = super::read::tests::backup(dir);
    let original = dir.join("original.abf");
    let appdata = raw_tar_modes(&[
        (
            (
                "/usr/share/moin/mywiki/data/pages/FrontPage/current",
                tar::EntryType::Regular,
                "",
                b"00000001\n".as_slice(),
            ),
            0o644,
        ),
        (
            (
                "/usr/share/moin/mywiki/data/link",
                tar::EntryType::Symlink,
                "pages",
                b"".as_slice(),
            ),
            0o777,
        ),
    ]);
    let sysconf = raw_tar_modes(&[(
        (
            "/etc/moin/mywiki.py",
            tar::EntryType::Regular,
            "",
            b"x = 1\n".as_slice(),
        ),
        0o644,
    )]);
    std::fs::write(
        &original,
        zip_with_sums(
            &[
                ("version", b"0.1\n".to_vec()),
                (
                    "info.yaml",
                    super::info::tests::ORIGINAL.as_bytes().to_vec(),
                ),
                ("sysconfig.tar.gz", sysconf),
                ("appdata.tar.gz", appdata),
            ],
            true,
        ),
    )
    .unwrap();
    vec![ours, original]
}

/// The members of a zip, in order.
fn members(path: &Path) -> Vec<(String, Vec<u8>)> {
    let mut archive = zip::ZipArchive::new(std::fs::File::open(path).unwrap()).unwrap();
    (0..archive.len())
        .map(|index| {
            let mut entry = archive.by_index(index).unwrap();
            let name = entry.name().unwrap().into_owned();
            let mut bytes = Vec::new();
            entry.read_to_end(&mut bytes).unwrap();
            (name, bytes)
        })
        .collect()
}

/// A zip of `members` as they are.
fn assemble(members: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, bytes) in members {
        zip.start_file(name.as_str(), zip::write::SimpleFileOptions::default())
            .unwrap();
        zip.write_all(bytes).unwrap();
    }
    zip.finish().unwrap().into_inner()
}

/// `members` with their sums made again (`sha256sums` only where there was one).
fn resummed(members: &[(String, Vec<u8>)]) -> Vec<u8> {
    let original = !members.iter().any(|(n, _)| n == "sha256sums");
    let data: Vec<(&str, Vec<u8>)> = members
        .iter()
        .filter(|(n, _)| !["sha1sums", "sha256sums"].contains(&n.as_str()))
        .map(|(n, b)| (n.as_str(), b.clone()))
        .collect();
    zip_with_sums(&data, original)
}

/// The bytes of a real archive (`bytes`, its `members`) damaged by `mutation`.
fn mutate(bytes: &[u8], members: &[(String, Vec<u8>)], mutation: &Mutation) -> Vec<u8> {
    match mutation {
        Mutation::Flip { at, xor } => {
            let mut bytes = bytes.to_vec();
            let at = at % bytes.len();
            bytes[at] ^= xor;
            bytes
        }
        Mutation::Truncate(length) => bytes[..length % bytes.len()].to_vec(),
        Mutation::Rename {
            member,
            name,
            resum,
        } => {
            let mut members = members.to_vec();
            // The zip writer refuses two members of one name: a duplicate is left to the
            // container tests, which write one by hand.
            if members.iter().any(|(n, _)| n == name) {
                return bytes.to_vec();
            }
            let index = member % members.len();
            (*name).clone_into(&mut members[index].0);
            if *resum {
                resummed(&members)
            } else {
                assemble(&members)
            }
        }
        Mutation::Inject { appdata, entries } => {
            let member = if *appdata {
                "appdata.tar.gz"
            } else {
                "sysconfig.tar.gz"
            };
            let mut members = members.to_vec();
            for (n, b) in &mut members {
                if n == member {
                    *b = tarball(entries);
                }
            }
            resummed(&members)
        }
        Mutation::Info(text) => {
            let mut members = members.to_vec();
            for (n, b) in &mut members {
                if n == "info.yaml" {
                    *b = text.as_bytes().to_vec();
                }
            }
            resummed(&members)
        }
    }
}

#[test]
fn the_reader_never_panics_and_names_the_backup_in_every_refusal() {
    let dir = crate::proptest_scratch();
    let sources = real_archives(dir.path());
    let originals: Vec<Vec<u8>> = sources.iter().map(|s| std::fs::read(s).unwrap()).collect();
    let parts: Vec<Vec<(String, Vec<u8>)>> = sources.iter().map(|s| members(s)).collect();
    let target = dir.path().join("case.abf");
    let mut runner = TestRunner::new(crate::proptest_config());
    runner
        .run(&(0..sources.len(), mutation()), |(which, mutation)| {
            std::fs::write(&target, mutate(&originals[which], &parts[which], &mutation)).unwrap();
            let result = Backup::open(&target).and_then(|mut backup| {
                backup.verify()?;
                let mut entries = backup.entries("sysconfig.tar.gz")?;
                entries.extend(backup.entries("appdata.tar.gz")?);
                Ok(entries)
            });
            match result {
                Ok(entries) => {
                    for entry in entries {
                        prop_assert!(
                            !entry.path.starts_with('/')
                                && !entry.path.split('/').any(|p| p == ".." || p.is_empty()),
                            "{entry:?}"
                        );
                    }
                }
                Err(error) => {
                    let text = crate::error_chain(&error);
                    prop_assert!(
                        text.contains(&target.display().to_string()),
                        "{mutation:?}: {text}"
                    );
                }
            }
            Ok(())
        })
        .unwrap();
}

/// A system that is not running.
struct Offline;

impl Runner for Offline {
    fn run(&self, _: &[String], _: &[(String, String)]) -> Result<String, ProgramError> {
        Ok(String::new())
    }
    fn stop(&self, _: &[String]) -> Result<(), ProgramError> {
        Ok(())
    }
    fn start(&self, _: &[String]) -> Result<(), ProgramError> {
        Ok(())
    }
}

/// Path → (mode, owner, contents or link target) of everything under `root`, the restored
/// directories excepted.
fn snapshot(root: &Path, skip: &[PathBuf]) -> BTreeMap<PathBuf, (u32, u32, Vec<u8>)> {
    let mut found = BTreeMap::new();
    let mut stack = vec![root.to_owned()];
    while let Some(path) = stack.pop() {
        if skip.contains(&path) {
            continue;
        }
        let metadata = std::fs::symlink_metadata(&path).unwrap();
        let contents = if metadata.is_symlink() {
            std::fs::read_link(&path)
                .unwrap()
                .into_os_string()
                .into_encoded_bytes()
        } else if metadata.is_file() {
            std::fs::read(&path).unwrap()
        } else {
            for entry in std::fs::read_dir(&path).unwrap() {
                stack.push(entry.unwrap().path());
            }
            Vec::new()
        };
        found.insert(path, (metadata.mode(), metadata.uid(), contents));
    }
    found
}

/// Set-ID files under `dir`.
fn set_id_files(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(path) = stack.pop() {
        let Ok(metadata) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        if metadata.is_dir() {
            for entry in std::fs::read_dir(&path).unwrap() {
                stack.push(entry.unwrap().path());
            }
        } else if metadata.is_file() && metadata.permissions().mode() & 0o6000 != 0 {
            found.push(path);
        }
    }
    found
}

/// What a hostile archive names as its roots.
const ROOT_SETS: &[(&[&str], &[&str])] = &[
    (&["/etc/moin"], &["/var/lib/moin/wiki/data"]),
    (&["/etc/moin"], &["/usr/share/moin/mywiki"]),
    (&[], &["/var/lib/moin/wiki/data"]),
    (&["/etc/cron.d"], &["/var/lib/moin/wiki/data"]),
    (&["/etc"], &[]),
    (&["/var/lib/moin/wiki/data"], &["/etc/moin"]),
];

#[test]
fn a_restore_of_a_hostile_archive_writes_only_into_the_declared_directories() {
    let dir = crate::proptest_scratch();
    let system = dir.path().join("system");
    let abf = dir.path().join("case.abf");
    let options = super::restore::tests::declared();
    let targets = [
        system.join("etc/moin"),
        system.join("var/lib/moin/wiki/data"),
    ];
    let strategy = (
        prop_oneof![3 => 0..3usize, 1 => 0..ROOT_SETS.len()],
        any::<bool>(),
        prop::collection::vec(hostile_with(SAFE_TARGETS), 0..6),
        prop::collection::vec(hostile_with(SAFE_TARGETS), 0..6),
    );
    let mut runner = TestRunner::new(crate::proptest_config());
    runner
        .run(&strategy, |(roots, original, sysconf, appdata)| {
            let _ = std::fs::remove_dir_all(&system);
            for (path, text) in [
                ("etc/moin/wikiconfig.py", "live\n"),
                ("etc/cron.d/keep", "live\n"),
                ("etc/passwd", "root:x:0:0::/root:/bin/sh\n"),
                ("var/lib/moin/wiki/data/pages/p", "live\n"),
                ("var/lib/moin/wiki/other", "live\n"),
                ("var/lib/appliance/.keep", ""),
            ] {
                let path = system.join(path);
                std::fs::create_dir_all(path.parent().unwrap()).unwrap();
                std::fs::write(path, text).unwrap();
            }
            let (sysconf_dirs, appdata_dirs) = ROOT_SETS[roots];
            let list = |dirs: &[&str]| {
                dirs.iter().fold(String::new(), |mut text, d| {
                    text.push_str("  - ");
                    text.push_str(d);
                    text.push('\n');
                    text
                })
            };
            let info = format!(
                "appdata:\n  dirs:\n{}appliance: moinmoin-appliance\nsysconf:\n  dirs:\n{}timestamp: t\nversion: '1'\n",
                list(appdata_dirs),
                list(sysconf_dirs)
            )
            .replace("  dirs:\nappliance", "  dirs: []\nappliance")
            .replace("  dirs:\ntimestamp", "  dirs: []\ntimestamp");
            let version: &[u8] = if original { b"0.1\n" } else { b"2\n" };
            std::fs::write(
                &abf,
                zip_with_sums(
                    &[
                        ("version", version.to_vec()),
                        ("info.yaml", info.into_bytes()),
                        ("sysconfig.tar.gz", tarball(&sysconf)),
                        ("appdata.tar.gz", tarball(&appdata)),
                    ],
                    original,
                ),
            )
            .unwrap();
            // The restores' lock is va-backup's own, like its journal.
            let skip: Vec<PathBuf> = targets
                .iter()
                .cloned()
                .chain([system.join(restore::LOCK)])
                .collect();
            let before = snapshot(&system, &skip);
            let result = Backup::open(&abf)
                .map_err(restore::RestoreError::from)
                .and_then(|mut backup| restore::restore(&mut backup, &system, &options, &Offline))
                .and_then(|mut restored| restored.finish().map(|()| restored));
            let after = snapshot(&system, &skip);
            prop_assert_eq!(&before, &after, "written outside: {:?}", result);
            match &result {
                // A refusal names what it refuses: the backup, an entry, a directory.
                Err(error) => {
                    let text = crate::error_chain(error);
                    prop_assert!(text.contains('`'), "{text}");
                }
                Ok(_) => {
                    RESTORED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            }
            for target in &targets {
                let set_id = set_id_files(target);
                prop_assert!(set_id.is_empty(), "{:?}", set_id);
            }
            Ok(())
        })
        .unwrap();
    // The archives must reach the restore, not only its checks: most mutations are refused.
    let restored = RESTORED.load(std::sync::atomic::Ordering::Relaxed);
    assert!(
        restored * 50 >= u64::from(runner_cases()),
        "only {restored} restored"
    );
}

static RESTORED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

fn runner_cases() -> u32 {
    crate::proptest_config().cases
}
