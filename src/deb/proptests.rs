//! Property tests of the .deb reader on hostile packages: real ones (each compression dpkg
//! knows) damaged byte by byte, ar members renamed or given sizes that lie, and control or data
//! members whose tarballs hold hostile entries. No panic; every refusal names the package; what
//! is read is never larger than the limit.

use proptest::prelude::*;
use proptest::test_runner::TestRunner;

use super::fixture::{DebBuilder, compress};
use super::{Compression, MAX_MEMBER_FILE, read_control, read_control_files, read_data_file};

const SEED: &str = "var/lib/appliance/seeds/x-appliance.seed";
const CONTROL: &str = "Package: x-appliance\nVersion: 1.0\nArchitecture: all\nProvides: virtual-appliance\nDescription: x\n";

#[derive(Debug, Clone)]
enum Mutation {
    Flip {
        at: usize,
        xor: u8,
    },
    Truncate(usize),
    /// An ar header field (name, or size) overwritten with `text`.
    Header {
        member: usize,
        size: bool,
        text: &'static str,
    },
    /// The control or data member made of hostile tar entries.
    Tarball {
        data: bool,
        compression: usize,
        entries: Vec<(&'static str, u8, u64, Vec<u8>)>,
    },
}

const NAMES: &[&str] = &[
    "./control",
    "control",
    "./templates",
    "./config",
    "../control",
    "/control",
    "./var/lib/appliance/seeds/x-appliance.seed",
    "var/lib/appliance/seeds/x-appliance.seed",
    "./var/lib/appliance/seeds/../seeds/x-appliance.seed",
    "./",
    "",
];

const HEADER_TEXTS: &[&str] = &[
    "control.tar.bz2",
    "data.tar.lzma",
    "debian-binary",
    "control.tar",
    "../../x",
    "9999999999",
    "-1",
    "0",
    "",
];

const COMPRESSIONS: [Compression; 4] = [
    Compression::None,
    Compression::Gzip,
    Compression::Xz,
    Compression::Zstd,
];

fn mutation() -> impl Strategy<Value = Mutation> {
    let entry = (
        prop::sample::select(NAMES),
        prop::sample::select(&[b'0', b'5', b'2', b'1', b'3', b'6', b'x'][..]),
        prop_oneof![8 => 0..64u64, 1 => Just(MAX_MEMBER_FILE + 1), 1 => Just(u64::MAX >> 2)],
        prop::collection::vec(any::<u8>(), 0..40),
    );
    prop_oneof![
        3 => (any::<usize>(), 1..=255u8).prop_map(|(at, xor)| Mutation::Flip { at, xor }),
        1 => any::<usize>().prop_map(Mutation::Truncate),
        2 => (0..3usize, any::<bool>(), prop::sample::select(HEADER_TEXTS))
            .prop_map(|(member, size, text)| Mutation::Header { member, size, text }),
        3 => (any::<bool>(), 0..4usize, prop::collection::vec(entry, 0..5))
            .prop_map(|(data, compression, entries)| Mutation::Tarball { data, compression, entries }),
    ]
}

/// A tarball of hostile entries: name, type flag, declared size, data.
fn tarball(entries: &[(&'static str, u8, u64, Vec<u8>)]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (name, kind, size, data) in entries {
        let mut header = tar::Header::new_gnu();
        let gnu = header.as_gnu_mut().unwrap();
        gnu.name[..name.len()].copy_from_slice(name.as_bytes());
        header.set_entry_type(tar::EntryType::new(*kind));
        header.set_mode(0o644);
        header.set_size(*size);
        header.set_cksum();
        builder.append(&header, data.as_slice()).unwrap();
    }
    builder.into_inner().unwrap()
}

/// The offset of ar member `member`'s header (after the global header, sizes as written).
fn header_at(bytes: &[u8], member: usize) -> Option<usize> {
    let mut at = 8;
    for _ in 0..member {
        let size: usize = std::str::from_utf8(bytes.get(at + 48..at + 58)?)
            .ok()?
            .trim()
            .parse()
            .ok()?;
        at += 60 + size + size % 2;
    }
    (at + 60 <= bytes.len()).then_some(at)
}

fn damaged(base: &[u8], mutation: &Mutation) -> Vec<u8> {
    match mutation {
        Mutation::Flip { at, xor } => {
            let mut bytes = base.to_vec();
            let at = at % bytes.len();
            bytes[at] ^= xor;
            bytes
        }
        Mutation::Truncate(length) => base[..length % base.len()].to_vec(),
        Mutation::Header { member, size, text } => {
            let mut bytes = base.to_vec();
            if let Some(at) = header_at(&bytes, *member) {
                let (start, width) = if *size { (at + 48, 10) } else { (at, 16) };
                let mut field = format!("{text:<width$}").into_bytes();
                field.truncate(width);
                bytes[start..start + width].copy_from_slice(&field);
            }
            bytes
        }
        Mutation::Tarball {
            data,
            compression,
            entries,
        } => {
            let compression = COMPRESSIONS[*compression];
            let suffix = compression.suffix();
            let member = light(compression, &tarball(entries));
            let ours = (
                format!("{}.tar{suffix}", if *data { "data" } else { "control" }),
                member,
            );
            let sound = if *data {
                (
                    "control.tar.gz".to_owned(),
                    light(Compression::Gzip, &sound_control()),
                )
            } else {
                (
                    "data.tar.gz".to_owned(),
                    light(Compression::Gzip, &tarball(&[])),
                )
            };
            let (first, second) = if *data { (sound, ours) } else { (ours, sound) };
            let mut builder = ar::Builder::new(Vec::new());
            for (name, bytes) in [
                ("debian-binary".to_owned(), b"2.0\n".to_vec()),
                first,
                second,
            ] {
                let header = ar::Header::new(name.into_bytes(), bytes.len() as u64);
                builder.append(&header, bytes.as_slice()).unwrap();
            }
            builder.into_inner().unwrap()
        }
    }
}

/// A control tarball holding [`CONTROL`].
fn sound_control() -> Vec<u8> {
    super::fixture::tar_of(&[("./control", CONTROL.as_bytes())])
}

/// Compressed at the lightest level: the encoders' setup at dpkg's levels (xz -6 allocates
/// tens of MiB) would be most of each case's time.
fn light(compression: Compression, bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    match compression {
        Compression::Xz => {
            let mut encoder = liblzma::write::XzEncoder::new(Vec::new(), 0);
            encoder.write_all(bytes).unwrap();
            encoder.finish().unwrap()
        }
        Compression::Zstd => zstd::stream::encode_all(bytes, 1).unwrap(),
        other => compress(other, bytes),
    }
}

#[test]
fn the_deb_reader_never_panics_and_names_the_package_in_every_refusal() {
    let dir = crate::proptest_scratch();
    // Packages as dpkg-deb lays them out, compressed at the lightest level (see `light`).
    let bases: Vec<Vec<u8>> = COMPRESSIONS
        .iter()
        .map(|c| {
            let suffix = c.suffix();
            let data = super::fixture::tar_of(&[(
                &format!("./{SEED}"),
                b"x-appliance x/q string v\n".as_slice(),
            )]);
            let mut builder = ar::Builder::new(Vec::new());
            for (name, bytes) in [
                ("debian-binary".to_owned(), b"2.0\n".to_vec()),
                (format!("control.tar{suffix}"), light(*c, &sound_control())),
                (format!("data.tar{suffix}"), light(*c, &data)),
            ] {
                let header = ar::Header::new(name.into_bytes(), bytes.len() as u64);
                builder.append(&header, bytes.as_slice()).unwrap();
            }
            builder.into_inner().unwrap()
        })
        .collect();
    // The fixture builder's own packages read as these do.
    let built = DebBuilder::new(CONTROL).write(dir.path());
    assert_eq!(read_control(&built).unwrap(), CONTROL);
    let target = dir.path().join("case.deb");
    let mut runner = TestRunner::new(crate::proptest_config());
    runner
        .run(&(0..bases.len(), mutation()), |(base, mutation)| {
            std::fs::write(&target, damaged(&bases[base], &mutation)).unwrap();
            let name = target.display().to_string();
            let check = |error: &super::DebError| {
                let text = crate::error_chain(error);
                prop_assert!(text.contains(&name), "{mutation:?}: {text}");
                Ok(())
            };
            match read_control(&target) {
                Ok(control) => prop_assert!(control.len() as u64 <= MAX_MEMBER_FILE),
                Err(error) => check(&error)?,
            }
            match read_control_files(&target, &["control", "templates", "config"]) {
                Ok(files) => {
                    for (_, bytes) in files {
                        prop_assert!(bytes.len() as u64 <= MAX_MEMBER_FILE);
                    }
                }
                Err(error) => check(&error)?,
            }
            match read_data_file(&target, &format!("/{SEED}")) {
                Ok(file) => prop_assert!(file.is_none_or(|b| b.len() as u64 <= MAX_MEMBER_FILE)),
                Err(error) => check(&error)?,
            }
            Ok(())
        })
        .unwrap();
}
