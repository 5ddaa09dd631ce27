//! The `.abf` backup format (the README's "Backups: the format and what a restore checks"): a zip holding `version`, `info.yaml`,
//! `sysconfig.tar.gz`, `appdata.tar.gz`, `sha256sums` (of those four) and `sha1sums` (of every
//! other member, in `sha1sum -c` format, as the original format asks).

pub mod commands;
pub mod info;
pub mod origin;
pub mod owners;
pub mod paths;
pub mod plan;
pub mod read;
pub mod restore;
pub mod safety;
pub mod store;
pub mod write;

#[cfg(test)]
mod proptests;

/// The format this code writes.
pub const FORMAT_VERSION: &str = "2";
/// The members `sha256sums` covers, in the order they are written.
pub const DATA_MEMBERS: [&str; 4] = ["version", "info.yaml", "sysconfig.tar.gz", "appdata.tar.gz"];

/// Progress of a long backup or restore, in bytes; the command line draws it on a terminal.
pub trait Progress {
    /// Whether anyone looks: a backup counts its bytes beforehand only then.
    fn enabled(&self) -> bool {
        false
    }
    /// The bytes the work will go through.
    fn start(&self, _total: u64) {}
    /// `bytes` more went through.
    fn advance(&self, _bytes: u64) {}
}

/// No progress shown.
pub struct Quiet;

impl Progress for Quiet {}
