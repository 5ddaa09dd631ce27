//! Test fixtures: small `.deb` files built in memory, well-formed or deliberately broken.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::Compression;

pub struct DebBuilder {
    control: String,
    compression: Compression,
    files: Vec<(String, Vec<u8>)>,
    raw_control: Option<(String, Vec<u8>)>,
    raw_data: Option<(String, Vec<u8>)>,
}

impl DebBuilder {
    pub fn new(control: &str) -> Self {
        Self {
            control: control.to_owned(),
            compression: Compression::Xz,
            files: Vec::new(),
            raw_control: None,
            raw_data: None,
        }
    }

    pub fn compression(mut self, compression: Compression) -> Self {
        self.compression = compression;
        self
    }

    pub fn file(mut self, path: &str, bytes: &[u8]) -> Self {
        self.files.push((path.to_owned(), bytes.to_vec()));
        self
    }

    pub fn raw_control(mut self, name: &str, bytes: &[u8]) -> Self {
        self.raw_control = Some((name.to_owned(), bytes.to_vec()));
        self
    }

    pub fn raw_data(mut self, name: &str, bytes: &[u8]) -> Self {
        self.raw_data = Some((name.to_owned(), bytes.to_vec()));
        self
    }

    /// Writes `<Package>_<Version>_all.deb` into `dir` and returns its path.
    pub fn write(self, dir: &Path) -> PathBuf {
        let field = |name: &str| {
            self.control
                .lines()
                .find_map(|line| line.strip_prefix(name))
                .map_or("x", str::trim)
                .to_owned()
        };
        let path = dir.join(format!(
            "{}_{}_all.deb",
            field("Package:"),
            field("Version:")
        ));
        let suffix = self.compression.suffix();
        let control = self.raw_control.clone().unwrap_or_else(|| {
            let tar = tar_of(&[("./control", self.control.as_bytes())]);
            (
                format!("control.tar{suffix}"),
                compress(self.compression, &tar),
            )
        });
        let data = self.raw_data.clone().unwrap_or_else(|| {
            let entries: Vec<(String, &[u8])> = self
                .files
                .iter()
                .map(|(name, bytes)| (format!("./{name}"), bytes.as_slice()))
                .collect();
            let borrowed: Vec<(&str, &[u8])> =
                entries.iter().map(|(n, b)| (n.as_str(), *b)).collect();
            (
                format!("data.tar{suffix}"),
                compress(self.compression, &tar_of(&borrowed)),
            )
        });
        let file = std::fs::File::create(&path).unwrap();
        let mut builder = ar::Builder::new(file);
        for (name, bytes) in [
            ("debian-binary".to_owned(), b"2.0\n".to_vec()),
            control,
            data,
        ] {
            let header = ar::Header::new(name.into_bytes(), bytes.len() as u64);
            builder.append(&header, bytes.as_slice()).unwrap();
        }
        path
    }
}

/// A tar archive of regular files (directories are implied, as dpkg-deb tolerates).
pub fn tar_of(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (name, bytes) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        header.set_entry_type(tar::EntryType::Regular);
        builder.append_data(&mut header, name, *bytes).unwrap();
    }
    builder.into_inner().unwrap()
}

pub fn compress(compression: Compression, bytes: &[u8]) -> Vec<u8> {
    match compression {
        Compression::None => bytes.to_vec(),
        Compression::Gzip => {
            let mut encoder =
                flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            encoder.write_all(bytes).unwrap();
            encoder.finish().unwrap()
        }
        Compression::Xz => {
            let mut encoder = liblzma::write::XzEncoder::new(Vec::new(), 6);
            encoder.write_all(bytes).unwrap();
            encoder.finish().unwrap()
        }
        Compression::Zstd => zstd::stream::encode_all(bytes, 3).unwrap(),
    }
}

/// Writes `bytes` as a file named `<name>.deb` in `dir`.
pub fn corrupt(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(format!("{name}.deb"));
    std::fs::write(&path, bytes).unwrap();
    path
}
