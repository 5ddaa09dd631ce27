//! APT's view of appliances, through libapt-pkg (rust-apt): the packages that provide
//! `virtual-appliance`, available or installed, on this system or on one whose root is elsewhere
//! (APT's `Dir`, as `apt-get -o Dir=ROOT` would see it).

use std::path::{Path, PathBuf};

use rust_apt::cache::Cache;
use rust_apt::config::Config;
use serde::Serialize;

use crate::deb::control::VIRTUAL_APPLIANCE;

/// One appliance as APT knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Appliance {
    pub name: String,
    /// The version APT would install (the candidate), or the installed one when there is none.
    pub version: String,
    /// The installed version, if any.
    pub installed: Option<String>,
    pub summary: String,
    /// Where the version comes from: the archive's origin and suite, or `local` (dpkg status only).
    pub origin: String,
    /// Whether the package ships a seed (`Appliance-Seed: yes`, set by `dh_appliance`).
    pub seed: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("cannot open APT's package cache{}", root_suffix(.root.as_deref()))]
    Cache {
        root: Option<PathBuf>,
        #[source]
        source: rust_apt::error::AptErrors,
    },
    #[error("`{name}` is not a package APT knows{}", nearest_suffix(.nearest.as_deref()))]
    Unknown {
        name: String,
        nearest: Option<String>,
    },
    #[error(
        "`{name}` is a package, but not an appliance (it does not provide `{VIRTUAL_APPLIANCE}`)"
    )]
    NotAppliance { name: String },
    #[error("cannot download `{name}`: {reason}")]
    Fetch { name: String, reason: String },
}

fn root_suffix(root: Option<&Path>) -> String {
    root.map(|r| format!(" of `{}`", r.display()))
        .unwrap_or_default()
}

fn nearest_suffix(nearest: Option<&str>) -> String {
    nearest
        .map(|n| format!("; did you mean `{n}`?"))
        .unwrap_or_default()
}

/// APT's cache of the system at `root` (`None`: this system).
pub struct Catalog {
    cache: Cache,
}

impl Catalog {
    /// Opens APT's cache. Configuration is process-wide in libapt-pkg: open one catalog at a time.
    pub fn open(root: Option<&Path>) -> Result<Self, CatalogError> {
        let config = Config::new();
        if let Some(root) = root.filter(|r| *r != Path::new("/")) {
            let dir = format!("{}/", root.display());
            config.set("Dir", &dir);
            config.set(
                "Dir::State::status",
                &root.join("var/lib/dpkg/status").display().to_string(),
            );
        }
        let cache = rust_apt::new_cache!().map_err(|source| CatalogError::Cache {
            root: root.map(Path::to_owned),
            source,
        })?;
        Ok(Self { cache })
    }

    /// Every appliance, sorted by name.
    pub fn appliances(&self) -> Vec<Appliance> {
        let Some(virtual_package) = self.cache.get(VIRTUAL_APPLIANCE) else {
            return Vec::new();
        };
        let mut names: Vec<String> = virtual_package
            .provides()
            .map(|provider| provider.version().parent().name().to_owned())
            .collect();
        names.sort();
        names.dedup();
        names
            .iter()
            .filter_map(|name| self.appliance(name))
            .collect()
    }

    /// The appliance called `name`, or why it is not one.
    pub fn find(&self, name: &str) -> Result<Appliance, CatalogError> {
        if let Some(appliance) = self.appliance(name) {
            return Ok(appliance);
        }
        if self.cache.get(name).is_some_and(|p| p.has_versions()) {
            return Err(CatalogError::NotAppliance {
                name: name.to_owned(),
            });
        }
        let names: Vec<String> = self.appliances().into_iter().map(|a| a.name).collect();
        Err(CatalogError::Unknown {
            name: name.to_owned(),
            nearest: nearest(name, &names).map(str::to_owned),
        })
    }

    fn appliance(&self, name: &str) -> Option<Appliance> {
        let package = self.cache.get(name)?;
        let installed = package.installed();
        let chosen = package.candidate().or_else(|| package.installed())?;
        if !chosen.provides().any(|p| p.name() == VIRTUAL_APPLIANCE) {
            return None;
        }
        let origin = chosen
            .package_files()
            .find(|file| file.is_downloadable())
            .map_or_else(
                || "local".to_owned(),
                |file| {
                    let origin = file
                        .origin()
                        .filter(|o| !o.is_empty())
                        .or_else(|| file.site())
                        .unwrap_or("unknown");
                    let suite = file.archive().unwrap_or("");
                    if suite.is_empty() || suite == "now" {
                        origin.to_owned()
                    } else {
                        format!("{origin}/{suite}")
                    }
                },
            );
        Some(Appliance {
            name: name.to_owned(),
            version: chosen.version().to_owned(),
            installed: installed.map(|v| v.version().to_owned()),
            summary: chosen.summary().unwrap_or_default(),
            origin,
            seed: chosen
                .get_record("Appliance-Seed")
                .is_some_and(|v| v.trim().eq_ignore_ascii_case("yes")),
        })
    }

    /// Downloads the appliance `name` and everything `apt-get install` would install with it
    /// (libapt-pkg's acquire, reporting through `progress`); returns the appliance's `.deb`.
    pub fn fetch(
        &self,
        name: &str,
        progress: &mut rust_apt::progress::AcquireProgress,
    ) -> Result<PathBuf, CatalogError> {
        self.fetch_closure(name, progress)?
            .into_iter()
            .find_map(|(package, deb)| (package == name).then_some(deb))
            .ok_or_else(|| CatalogError::Fetch {
                name: name.to_owned(),
                reason: "APT would not install it".into(),
            })
    }

    /// Downloads the appliance `name` with every package APT would install with it on this
    /// system; returns each package's name and `.deb`.
    pub fn fetch_closure(
        &self,
        name: &str,
        progress: &mut rust_apt::progress::AcquireProgress,
    ) -> Result<Vec<(String, PathBuf)>, CatalogError> {
        self.find(name)?;
        let fetch_error = |reason: String| CatalogError::Fetch {
            name: name.to_owned(),
            reason,
        };
        let package = self
            .cache
            .get(name)
            .ok_or_else(|| fetch_error("gone from the cache".into()))?;
        package.mark_install(true, true);
        package.protect();
        self.cache
            .resolve(true)
            .map_err(|errors| fetch_error(errors.to_string()))?;
        self.cache
            .get_archives(progress)
            .map_err(|error| fetch_error(error.to_string()))?;
        let archives = Config::new().dir("Dir::Cache::Archives", "/var/cache/apt/archives/");
        let mut debs = Vec::new();
        for changed in self.cache.get_changes(true) {
            if !changed.marked_install() && !changed.marked_upgrade() {
                continue;
            }
            let Some(version) = changed.install_version() else {
                continue;
            };
            // A file: repository is used in place; anything else lands in the archive directory.
            let local = version
                .uris()
                .find_map(|uri| uri.strip_prefix("file:").map(PathBuf::from));
            let deb = local.unwrap_or_else(|| {
                Path::new(&archives).join(format!(
                    "{}_{}_{}.deb",
                    changed.name(),
                    version.version().replace(':', "%3a"),
                    version.arch()
                ))
            });
            if !deb.exists() {
                let uri = version.uris().next().unwrap_or_default();
                return Err(fetch_error(format!(
                    "APT did not download `{}` (from `{uri}`) to `{}`",
                    changed.name(),
                    deb.display()
                )));
            }
            debs.push((changed.name().to_owned(), deb));
        }
        Ok(debs)
    }
}

/// The name among `names` closest to `name` by edit distance, if it is close enough to be a typo.
pub fn nearest<'a>(name: &str, names: &'a [String]) -> Option<&'a str> {
    names
        .iter()
        .map(|candidate| (edit_distance(name, candidate), candidate))
        .filter(|(distance, candidate)| *distance <= (candidate.len() / 3).max(2))
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate.as_str())
}

/// Levenshtein distance over characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != *cb);
            current[j + 1] = substitution.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        previous = current;
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_names() {
        let names: Vec<String> = [
            "dokuwiki-appliance",
            "moinmoin-appliance",
            "wordpress-appliance",
        ]
        .map(str::to_owned)
        .to_vec();
        let cases = [
            ("dokuwiki-appliance", Some("dokuwiki-appliance")),
            ("dokuwiki-applance", Some("dokuwiki-appliance")),
            ("moinmoin-appliannce", Some("moinmoin-appliance")),
            ("dokuwiki", None),
            ("postfix", None),
        ];
        for (name, expected) in cases {
            assert_eq!(nearest(name, &names), expected, "{name}");
        }
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "abc"), 3);
    }
}
