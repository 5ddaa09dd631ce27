//! The seed an appliance ships, `/var/lib/appliance/seeds/<package>.seed` in its .deb, with the
//! package and version that ship it: read from the .deb (the hook, vainstall, `va-seed check`),
//! from the seeds directory once dpkg has unpacked it (the hook for a package it only configures,
//! the trigger), or from the appliance's preinst, which embeds it. [`Shipped::apply`] (in
//! [`apply`](super::apply)) takes it to debconf.

use std::path::{Path, PathBuf};

use crate::deb::control::{Stanza, VIRTUAL_APPLIANCE};
use crate::deb::{self, DebError};
use crate::seed::registry::valid_package_name;
use crate::seed::{InvalidSeed, Origin, Seed, SeedError};

/// Where an appliance ships its seed, for package `{}`.
pub fn install_path(package: &str) -> String {
    format!("/var/lib/appliance/seeds/{package}.seed")
}

/// An appliance's seed as its package ships it, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shipped {
    pub package: String,
    /// The version of the package that ships it.
    pub version: String,
    /// The seed's text as shipped: what the registry records, and compares on upgrade.
    pub text: String,
    pub seed: Seed,
}

/// Why the seed an appliance's .deb ships cannot be had.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("`{package}`: cannot read `{}`", .deb.display())]
    Deb {
        package: String,
        deb: PathBuf,
        #[source]
        source: DebError,
    },
    /// A .deb read as an appliance's (vainstall's download) that is not one: no package to name.
    #[error("`{}` is not an appliance's package", .deb.display())]
    NotAppliance {
        deb: PathBuf,
        #[source]
        source: DebError,
    },
    #[error("`{package}` provides {VIRTUAL_APPLIANCE} but `{}` holds no seed `{seed}`", .deb.display())]
    Missing {
        package: String,
        deb: PathBuf,
        seed: String,
    },
    #[error(transparent)]
    Invalid(#[from] InvalidSeed),
}

impl Shipped {
    /// Validates the seed `bytes` that `package` at `version` ships.
    pub fn parse(package: &str, version: &str, bytes: &[u8]) -> Result<Self, SeedError> {
        let seed = Seed::parse_bytes(bytes)?;
        Ok(Self {
            package: package.to_owned(),
            version: version.to_owned(),
            text: String::from_utf8_lossy(bytes).into_owned(),
            seed,
        })
    }

    /// Reads and validates the seed that the appliance `.deb` at `deb`, `package` at `version`,
    /// ships.
    pub fn from_deb(deb: &Path, package: &str, version: &str) -> Result<Self, ReadError> {
        let seed_path = install_path(package);
        let bytes = deb::read_data_file(deb, &seed_path)
            .map_err(|source| ReadError::Deb {
                package: package.to_owned(),
                deb: deb.to_owned(),
                source,
            })?
            .ok_or_else(|| ReadError::Missing {
                package: package.to_owned(),
                deb: deb.to_owned(),
                seed: seed_path.clone(),
            })?;
        Ok(
            Self::parse(package, version, &bytes).map_err(|error| InvalidSeed {
                origin: Origin::Package {
                    package: package.to_owned(),
                    path: seed_path.into(),
                    deb: Some(deb.to_owned()),
                },
                error,
            })?,
        )
    }

    /// `vainstall`: the seed of the `.deb` at `deb`, which must be an appliance; its package and
    /// version are those its control file names.
    pub fn from_appliance_deb(deb: &Path) -> Result<Self, ReadError> {
        let not_an_appliance = |source| ReadError::NotAppliance {
            deb: deb.to_owned(),
            source,
        };
        let control = deb::read_control(deb).map_err(not_an_appliance)?;
        let refused = |reason: String| {
            not_an_appliance(DebError::NotDeb {
                path: deb.to_owned(),
                reason,
            })
        };
        let stanza = Stanza::parse(&control)
            .map_err(|error| refused(format!("its control file is malformed: {error}")))?;
        let package = stanza
            .get("Package")
            .filter(|p| valid_package_name(p))
            .ok_or_else(|| refused("its control file names no valid package".into()))?;
        if !stanza.provides(VIRTUAL_APPLIANCE) {
            return Err(refused(format!(
                "`{package}` does not provide {VIRTUAL_APPLIANCE}"
            )));
        }
        Self::from_deb(deb, package, stanza.get("Version").unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deb::fixture::DebBuilder;
    use crate::seed::apply::AppliedBy;
    use crate::seed::apply::recorder::Recorder;
    use crate::seed::registry::Registry;

    const SEED: &str = "postfix postfix/relayhost string [smtp.example.org]:587\n";

    #[test]
    fn vainstall_seeds_only_a_readable_appliance() {
        let dir = tempfile::tempdir().unwrap();
        let ordinary = DebBuilder::new(
            "Package: postfix\nVersion: 1\nArchitecture: all\nProvides: mail-transport-agent\nDescription: mentions virtual-appliance in text only\n",
        )
        .write(dir.path());
        let error = Shipped::from_appliance_deb(&ordinary).unwrap_err();
        // Named by its file, never by an empty package name (`` `` ``).
        assert!(
            error
                .to_string()
                .starts_with(&format!("`{}` is not", ordinary.display()))
        );
        assert!(!crate::error_chain(&error).contains("``"), "{error}");
        assert!(
            crate::error_chain(&error).contains("`postfix` does not provide virtual-appliance"),
            "{error}"
        );
        let nameless =
            DebBuilder::new("Version: 1\nProvides: virtual-appliance\n").write(dir.path());
        let error = Shipped::from_appliance_deb(&nameless).unwrap_err();
        assert!(
            crate::error_chain(&error).contains("names no valid package"),
            "{error}"
        );
        let deb = DebBuilder::new(
            "Package: demo-appliance\nVersion: 2.0\nArchitecture: all\nProvides: virtual-appliance\nDescription: test\n",
        )
        .file("var/lib/appliance/seeds/demo-appliance.seed", SEED.as_bytes())
        .write(dir.path());
        let shipped = Shipped::from_appliance_deb(&deb).unwrap();
        assert_eq!(
            (
                shipped.package.as_str(),
                shipped.version.as_str(),
                shipped.text.as_str()
            ),
            ("demo-appliance", "2.0", SEED)
        );
        let tools = Recorder::default();
        let outcome = shipped
            .apply_locked(dir.path(), &tools, AppliedBy::Vainstall)
            .unwrap();
        assert_eq!((outcome.applied, outcome.version.as_str()), (1, "2.0"));
        assert_eq!(
            Registry::new(dir.path())
                .state("demo-appliance")
                .unwrap()
                .unwrap()
                .applied_by,
            "vainstall"
        );
        assert_eq!(tools.selections.borrow().as_slice(), [SEED]);
    }
}
