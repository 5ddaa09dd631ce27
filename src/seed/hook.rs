//! The APT `DPkg::Pre-Install-Pkgs` hook, apt.conf(5): reads the protocol (versions 1, 2 and 3) that
//! APT sends before it runs dpkg, finds the appliances among the packages to unpack or configure,
//! and applies their seeds before dpkg-preconfigure and dpkg see any package.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::Reporter;
use crate::deb::control::{Stanza, VIRTUAL_APPLIANCE};
use crate::deb::{self, DebError};
use crate::debconf::PackageTools;
use crate::seed::apply::{AppliedBy, Outcome, SeedingError};
use crate::seed::registry::{Registry, RegistryError, valid_package_name};
use crate::seed::shipped::{ReadError, Shipped};
use crate::seed::{InvalidSeed, Origin, Seed};

/// What APT does to one package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Unpack this `.deb`.
    Unpack(PathBuf),
    Configure,
    Remove,
}

/// One package action line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageAction {
    /// Empty in version 1, which sends only file names.
    pub package: String,
    pub old_version: Option<String>,
    pub new_version: Option<String>,
    pub action: Action,
}

/// The whole input of one hook run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Input {
    pub version: u32,
    /// APT's configuration, `%`-decoded, in the order sent.
    pub config: Vec<(String, String)>,
    pub actions: Vec<PackageAction>,
}

impl Input {
    /// The last value of a configuration key (APT's keys ignore case).
    pub fn config(&self, key: &str) -> Option<&str> {
        self.config
            .iter()
            .rev()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ProtocolError {
    #[error("line {line}: unsupported protocol version `{version}`")]
    Version { line: usize, version: String },
    #[error("line {line}: expected at least {expected} fields, found {found}")]
    Fields {
        line: usize,
        expected: usize,
        found: usize,
    },
    #[error("line {line}: configuration line without `=`")]
    Config { line: usize },
}

/// Parses the hook's standard input.
pub fn parse(text: &str) -> Result<Input, ProtocolError> {
    let mut lines = text.lines().enumerate().map(|(i, l)| (i + 1, l));
    let Some((first_line, first)) = lines.next() else {
        return Ok(Input::default());
    };
    let Some(version) = first.strip_prefix("VERSION ") else {
        // Version 1: one .deb file name a line.
        let actions = std::iter::once(first)
            .chain(lines.map(|(_, l)| l))
            .filter(|l| !l.trim().is_empty())
            .map(|file| PackageAction {
                package: String::new(),
                old_version: None,
                new_version: None,
                action: Action::Unpack(PathBuf::from(file)),
            })
            .collect();
        return Ok(Input {
            version: 1,
            config: Vec::new(),
            actions,
        });
    };
    let version = match version.trim() {
        "2" => 2,
        "3" => 3,
        other => {
            return Err(ProtocolError::Version {
                line: first_line,
                version: other.to_owned(),
            });
        }
    };
    let mut input = Input {
        version,
        ..Input::default()
    };
    for (number, line) in lines.by_ref() {
        if line.is_empty() {
            break;
        }
        let (key, value) = line
            .split_once('=')
            .ok_or(ProtocolError::Config { line: number })?;
        input
            .config
            .push((percent_decode(key), percent_decode(value)));
    }
    // Version 3 adds an architecture and a multi-arch field after each version.
    let fixed = if version == 3 { 8 } else { 4 };
    for (number, line) in lines {
        if line.trim().is_empty() {
            continue;
        }
        let mut fields = Vec::with_capacity(fixed);
        let mut rest = line;
        for _ in 0..fixed {
            let trimmed = rest.trim_start_matches(' ');
            let end = trimmed.find(' ').ok_or(ProtocolError::Fields {
                line: number,
                expected: fixed + 1,
                found: fields.len() + usize::from(!trimmed.is_empty()),
            })?;
            fields.push(&trimmed[..end]);
            rest = &trimmed[end + 1..];
        }
        let (old, new) = if version == 3 {
            (fields[1], fields[5])
        } else {
            (fields[1], fields[3])
        };
        let version_of = |v: &str| (v != "-").then(|| v.to_owned());
        let action = match rest {
            "**CONFIGURE**" => Action::Configure,
            "**REMOVE**" => Action::Remove,
            file => Action::Unpack(PathBuf::from(file)),
        };
        input.actions.push(PackageAction {
            package: fields[0].to_owned(),
            old_version: version_of(old),
            new_version: version_of(new),
            action,
        });
    }
    Ok(input)
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        if bytes[index] == b'%'
            && let (Some(high), Some(low)) = (
                bytes.get(index + 1).and_then(|b| (*b as char).to_digit(16)),
                bytes.get(index + 2).and_then(|b| (*b as char).to_digit(16)),
            )
        {
            out.push(u8::try_from(high * 16 + low).unwrap_or(b'?'));
            index += 3;
            continue;
        }
        out.push(bytes[index]);
        index += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Why the hook stops APT.
#[derive(Debug, thiserror::Error)]
pub enum HookError {
    #[error("cannot read APT's hook protocol")]
    Protocol(#[from] ProtocolError),
    #[error(transparent)]
    Shipped(#[from] ReadError),
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error(transparent)]
    Seeding(#[from] SeedingError),
    #[error("cannot read the site's seed `{}` ({SITE_SEED})", .path.display())]
    SiteSeedRead {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    SiteSeed(InvalidSeed),
    #[error("cannot apply the site's seed `{}`", .path.display())]
    SiteSeedApply {
        path: PathBuf,
        #[source]
        source: crate::debconf::ToolError,
    },
    #[error("cannot record the site's value of a generated secret")]
    Secret(#[from] crate::secrets::SecretError),
    #[error(transparent)]
    Safety(#[from] crate::backup::safety::SafetyError),
}

/// APT's configuration key naming a seed of the site's own answers, applied after the appliances'
/// seeds so that its answers win (`apt-get -o Appliance::Site-Seed=FILE install …`; va-build uses
/// it for an image's own administrator password).
pub const SITE_SEED: &str = "Appliance::Site-Seed";

/// Runs the hook on `input` for the system at `root`: validates every appliance's seed, makes the
/// safety backups the transaction needs ([`crate::backup::safety`]), then applies the seeds.
/// Returns what was applied; empty when the transaction holds no appliance.
pub fn run(
    input: &Input,
    root: &Path,
    tools: &dyn PackageTools,
    reporter: &mut dyn Reporter,
) -> Result<Vec<Outcome>, HookError> {
    let registry = Registry::new(root);
    let mut found = Vec::new();
    let unpacked = appliances_to_unpack(&input.actions, reporter);
    for (action, stanza) in unpacked {
        found.push(seed_from_deb(action, &stanza)?);
    }
    // A package configured without being unpacked in this run (after `dpkg -i`): its seed is the one
    // dpkg already put in place.
    for action in &input.actions {
        if action.action != Action::Configure
            || !valid_package_name(&action.package)
            || found.iter().any(|f| f.package == action.package)
        {
            continue;
        }
        let Some(bytes) = registry.shipped_seed(&action.package)? else {
            continue;
        };
        let path = registry.seed_path(&action.package)?;
        let version = action.new_version.as_deref().unwrap_or_default();
        let shipped = Shipped::parse(&action.package, version, &bytes).map_err(|error| {
            ReadError::Invalid(InvalidSeed {
                origin: Origin::Package {
                    package: action.package.clone(),
                    path,
                    deb: None,
                },
                error,
            })
        })?;
        found.push(shipped);
    }
    // Read and checked before any answer reaches debconf.
    let site = match input.config(SITE_SEED).filter(|p| !p.is_empty()) {
        Some(path) if !found.is_empty() => Some((path, read_site_seed(Path::new(path))?)),
        _ => None,
    };
    // Every seed is sound: the data is saved before anything changes.
    crate::backup::safety::before_transaction(input, root, reporter)?;
    if found.is_empty() {
        return Ok(Vec::new());
    }
    let lock = registry.lock()?;
    let mut outcomes = Vec::with_capacity(found.len());
    // What the site's seed may set of the appliances' generated secrets (kept only with one).
    let marked: Vec<(String, Seed)> = match &site {
        Some(_) => found
            .iter()
            .filter(|f| !f.seed.secret_names().is_empty())
            .map(|f| (f.package.clone(), f.seed.clone()))
            .collect(),
        None => Vec::new(),
    };
    for appliance in found {
        let outcome = appliance.apply(&registry, &lock, tools, AppliedBy::AptHook)?;
        reporter.info(&outcome.to_string());
        if let Some(warning) = outcome.literal_password_warning() {
            reporter.warning(&warning);
        }
        outcomes.push(outcome);
    }
    if let Some((path, seed)) = site {
        let shared = site_secrets(&registry, &lock, &marked, &seed)?;
        if !seed.entries.is_empty() {
            tools
                .set_selections(&Seed::render(seed.entries.iter().chain(&shared)))
                .map_err(|source| HookError::SiteSeedApply {
                    path: path.into(),
                    source,
                })?;
        }
        let applied = seed.entries.len();
        reporter.info(&format!(
            "Applied the site's seed {path}: {applied} answer{}",
            if applied == 1 { "" } else { "s" }
        ));
    }
    Ok(outcomes)
}

/// The site's own answers, applied over the appliances' (not recorded in the registry: they are
/// the site's, not a package's, and a later upgrade does not apply them again).
fn read_site_seed(path: &Path) -> Result<Seed, HookError> {
    let bytes = fs_err::read(path).map_err(|source| HookError::SiteSeedRead {
        path: path.to_owned(),
        source,
    })?;
    Seed::parse_site(&bytes).map_err(|error| {
        HookError::SiteSeed(InvalidSeed {
            origin: Origin::Site {
                path: Some(path.to_owned()),
                given_by: SITE_SEED,
            },
            error,
        })
    })
}

/// Where the site's seed answers a question that an appliance's seed answers with a generated
/// secret, the site's value becomes that secret: recorded as its value (so that `va-seed secrets`
/// tells the truth) and given to every other question that names the same secret (a password
/// and its confirmation agree). Returns the answers to add to the site's.
fn site_secrets(
    registry: &Registry,
    lock: &crate::seed::registry::RegistryLock,
    appliances: &[(String, Seed)],
    site: &Seed,
) -> Result<Vec<crate::seed::Entry>, HookError> {
    let store = crate::secrets::Secrets::of(registry);
    let mut extra = Vec::new();
    for (package, seed) in appliances {
        let chosen: std::collections::BTreeMap<String, String> = seed
            .entries
            .iter()
            .filter_map(|entry| {
                let name = crate::secrets::marker(&entry.value)?;
                let answer = site.entries.iter().find(|s| s.question == entry.question)?;
                Some((name.to_owned(), answer.value.clone()))
            })
            .collect();
        if chosen.is_empty() {
            continue;
        }
        // The other questions that name a secret the site set, with the site's value.
        let others = seed.entries.iter().filter(|entry| {
            crate::secrets::marker(&entry.value).is_some_and(|name| chosen.contains_key(name))
                && !site.entries.iter().any(|s| s.question == entry.question)
        });
        extra.extend(crate::secrets::fill(others, &chosen));
        let mut values = store.read(package)?;
        values.extend(chosen);
        store.write(lock, package, &values)?;
    }
    Ok(extra)
}

/// Reads the control of every `.deb` to unpack, on all cores, and keeps the appliances.
fn appliances_to_unpack<'a>(
    actions: &'a [PackageAction],
    reporter: &mut dyn Reporter,
) -> Vec<(&'a PackageAction, Stanza)> {
    let debs: Vec<&PackageAction> = actions
        .iter()
        .filter(|a| matches!(a.action, Action::Unpack(_)))
        .collect();
    let next = AtomicUsize::new(0);
    let workers = std::thread::available_parallelism()
        .map_or(1, std::num::NonZero::get)
        .clamp(1, 4)
        .min(debs.len().max(1));
    let read_one = |action: &PackageAction| -> ControlRead {
        let Action::Unpack(path) = &action.action else {
            return Ok(None);
        };
        let control = deb::read_control(path).map_err(|e| (path.clone(), e))?;
        // Most packages never mention it: skip the parse.
        if !control.contains(VIRTUAL_APPLIANCE) {
            return Ok(None);
        }
        let stanza = Stanza::parse(&control).map_err(|error| {
            (
                path.clone(),
                DebError::NotDeb {
                    path: path.clone(),
                    reason: format!("its control file is malformed: {error}"),
                },
            )
        })?;
        Ok(stanza.provides(VIRTUAL_APPLIANCE).then_some(stanza))
    };
    let mut results: Vec<(usize, ControlRead)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                scope.spawn(|| {
                    let mut mine = Vec::new();
                    loop {
                        let index = next.fetch_add(1, Ordering::Relaxed);
                        let Some(action) = debs.get(index) else { break };
                        mine.push((index, read_one(action)));
                    }
                    mine
                })
            })
            .collect();
        handles
            .into_iter()
            // A worker that panicked must not make an appliance look absent: carry the panic on.
            .flat_map(|h| {
                h.join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect()
    });
    results.sort_by_key(|(index, _)| *index);
    let mut appliances = Vec::new();
    for (index, result) in results {
        match result {
            Ok(Some(stanza)) => appliances.push((debs[index], stanza)),
            Ok(None) => {}
            // dpkg will refuse a broken package itself; only an appliance's seed is ours to guard.
            Err((path, error)) => reporter.warning(&format!(
                "cannot read `{}` to look for an appliance: {}",
                path.display(),
                crate::error_chain(&error)
            )),
        }
    }
    appliances
}

/// The control of one `.deb` to unpack: the stanza when it is an appliance.
type ControlRead = Result<Option<Stanza>, (PathBuf, DebError)>;

fn seed_from_deb(action: &PackageAction, stanza: &Stanza) -> Result<Shipped, ReadError> {
    let Action::Unpack(deb) = &action.action else {
        unreachable!("only unpack actions are read")
    };
    let package = stanza
        .get("Package")
        .filter(|p| valid_package_name(p))
        .unwrap_or(&action.package);
    let version = stanza
        .get("Version")
        .or(action.new_version.as_deref())
        .unwrap_or_default();
    Shipped::from_deb(deb, package, version)
}

#[cfg(test)]
mod tests;
