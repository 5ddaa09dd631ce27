//! virtual-appliance-tools: appliances are Debian packages whose seeds answer their dependencies'
//! debconf questions. This library reads packages and seeds, keeps the seed registry, and applies
//! seeds from the APT hook, the dpkg trigger and the maintainer scripts. It never prints and never
//! exits (the lints below hold it to that): binaries do, through [`Reporter`] and [`cli`], the
//! one module that prints (the binaries' messages in one style).
//!
//! Where each tool's code lives: every binary is a thin main under `src/bin/` (its command line in
//! `src/bin/TOOL/cli.rs`) over these modules:
//! - the APT hook (`/usr/lib/appliance/apt-hook`): [`seed::hook`], with [`deb`] (the .deb and
//!   its control stanzas), the rest of [`seed`] (the seed's way from the .deb to debconf:
//!   [`seed::apply`], [`seed::registry`]) and [`secrets`];
//! - the dpkg trigger (`/usr/lib/appliance/trigger`): [`seed::trigger`];
//! - `valist` and `vainstall`: [`catalog`] (libapt-pkg: the `apt` feature, on by default, as for
//!   `seed::check` and `image`; appliance-control goes without it);
//! - `va-seed`: [`seed`] ([`seed::format`], [`seed::check`], [`seed::templates`]), [`secrets`];
//! - `va-backup`: [`backup`] (`backup::plan` is the command's entry), with [`plugin`] (the
//!   plugin manifests);
//! - `va-build`: [`image`];
//! - the move to the next Debian release (`va-upgrade-release`, under way): [`release`];
//! - shared mechanisms: [`target`] (programs on a system), [`atomic`] (files written whole, with
//!   their mode), [`system_root`] (the root a tool works on), [`random`], [`cli`] (the
//!   binaries' messages and exit status).
//!
//! appliance-control is the workspace member `control/` (crate `appliance_control`).

#![deny(clippy::print_stdout, clippy::print_stderr, clippy::exit)]
// The tests make their fixtures with std::fs and run programs directly (clippy.toml holds the
// code itself to appliance::atomic and appliance::target; the build without cfg(test) checks it).
#![cfg_attr(test, allow(clippy::disallowed_methods))]

pub mod atomic;
pub mod backup;
#[cfg(feature = "apt")]
pub mod catalog;
pub mod cli;
pub mod deb;
pub mod debconf;
pub mod health;
#[cfg(feature = "apt")]
pub mod image;
pub mod plugin;
pub mod random;
pub mod release;
pub mod secrets;
pub mod seed;
pub mod system_root;
pub mod target;

/// Where the library reports what it does; each binary decides how to show it.
pub trait Reporter {
    /// Something the user may want to know (one line).
    fn info(&mut self, message: &str);
    /// Something went wrong but the work goes on (one line).
    fn warning(&mut self, message: &str);
}

/// A reporter that keeps what it is told; for tests and for callers that render later.
#[derive(Debug, Default)]
pub struct Collected {
    pub infos: Vec<String>,
    pub warnings: Vec<String>,
}

impl Reporter for Collected {
    fn info(&mut self, message: &str) {
        self.infos.push(message.to_owned());
    }
    fn warning(&mut self, message: &str) {
        self.warnings.push(message.to_owned());
    }
}

/// An error and its causes on one line, `: `-separated.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// The property tests' configuration: 10,000 cases per target (`make test`), or
/// `APPLIANCE_PROPTEST_CASES` (bench/proptest-1m runs a million); no failure files written into
/// the source tree.
#[cfg(test)]
pub(crate) fn proptest_config() -> proptest::test_runner::Config {
    let cases = std::env::var("APPLIANCE_PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(10_000);
    proptest::test_runner::Config {
        failure_persistence: None,
        ..proptest::test_runner::Config::with_cases(cases)
    }
}

/// A scratch directory for the property tests, on tmpfs where there is one: each case writes a
/// file and a restore syncs what it staged, and tens of thousands of them on a disk shared with
/// other work would measure the disk, not the code.
#[cfg(test)]
pub(crate) fn proptest_scratch() -> tempfile::TempDir {
    let shm = std::path::Path::new("/dev/shm");
    if shm.is_dir()
        && let Ok(dir) = tempfile::tempdir_in(shm)
    {
        return dir;
    }
    tempfile::tempdir().unwrap()
}
