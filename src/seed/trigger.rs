//! Keeping the registry true after dpkg, deb-triggers(5): appliance-tools declares interest in
//! `/var/lib/appliance/seeds`, so dpkg runs [`reconcile`] whenever an appliance's seed is installed,
//! changed or removed, whatever installed it (`dpkg -i`, an APT run that did not load the hook yet).
//! The same module serves the appliance `preinst` that `dh_appliance` writes.

use std::path::Path;

use crate::Reporter;
use crate::debconf::{PackageStatus, PackageTools, ToolError};
use crate::secrets::{SecretError, Secrets};
use crate::seed::apply::{AppliedBy, Outcome, SeedingError};
use crate::seed::registry::{Registry, RegistryError, RegistryLock};
use crate::seed::shipped::Shipped;
use crate::seed::{InvalidSeed, Origin, Seed};

#[derive(Debug, thiserror::Error)]
pub enum TriggerError {
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error(transparent)]
    Seeding(#[from] SeedingError),
    #[error(transparent)]
    Tool(#[from] ToolError),
    #[error(transparent)]
    Secret(#[from] SecretError),
    #[error(transparent)]
    Seed(#[from] InvalidSeed),
    #[error("`{package}` is not an appliance with a recorded seed")]
    Unknown { package: String },
    #[error("{count} appliance seed(s) could not be reconciled")]
    Incomplete { count: usize },
}

/// The line that ends an APT run which installed or upgraded an appliance with generated
/// secrets: where root finds them (never the secrets themselves).
pub fn secrets_notice(package: &str) -> String {
    format!("The credentials generated for `{package}`: run `va-seed secrets` as root")
}

/// Forgets everything recorded for `package` (purged): its seed state and its secrets.
fn forget(registry: &Registry, lock: &RegistryLock, package: &str) -> Result<bool, TriggerError> {
    let state = registry.remove_state(lock, package)?;
    let secrets = Secrets::of(registry).forget(lock, package)?;
    Ok(state || secrets)
}

/// The command that finishes what a trigger could not do in place.
pub fn finish_command(package: &str) -> String {
    format!("va-seed reconfigure {package}")
}

/// Brings the registry in line with the seeds dpkg installed: applies seeds that were never applied
/// or changed, reconfigures seeded packages that were configured before their seed, and forgets
/// appliances dpkg no longer knows (purged).
pub fn reconcile(
    root: &Path,
    tools: &dyn PackageTools,
    reporter: &mut dyn Reporter,
) -> Result<Vec<Outcome>, TriggerError> {
    let registry = Registry::new(root);
    let lock = registry.lock()?;
    let shipped = registry.shipped()?;
    let names: Vec<&str> = shipped.iter().map(String::as_str).collect();
    let statuses = tools
        .statuses(&names)
        .map_err(|source| SeedingError::Apply {
            package: names.join(", "),
            source,
        })?;
    let mut outcomes = Vec::new();
    let mut failures = 0;
    for package in &shipped {
        let version = statuses
            .get(package)
            .map(|s| s.version.clone())
            .unwrap_or_default();
        match reconcile_one(&registry, &lock, tools, package, &version, reporter) {
            Ok(outcome) => outcomes.push(outcome),
            Err(error) => {
                failures += 1;
                reporter.warning(&crate::error_chain(&error));
            }
        }
    }
    // Seeds that dpkg removed: keep the state and the secrets while the package's configuration
    // remains, forget them once it is purged (its postrm normally did that already). Secrets
    // without a state are those of an application that failed after they were drawn.
    let secrets = Secrets::of(&registry);
    let mut recorded = registry.recorded()?;
    recorded.extend(secrets.appliances()?);
    recorded.sort();
    recorded.dedup();
    let gone: Vec<&str> = recorded
        .iter()
        .filter(|p| !shipped.contains(p))
        .map(String::as_str)
        .collect();
    let gone_statuses = tools
        .statuses(&gone)
        .map_err(|source| SeedingError::Apply {
            package: gone.join(", "),
            source,
        })?;
    for package in gone {
        let purged = gone_statuses
            .get(package)
            .is_none_or(|s| s.status == "not-installed");
        if purged && forget(&registry, &lock, package)? {
            reporter.info(&format!(
                "Forgot the seed state and secrets of purged `{package}`"
            ));
        }
    }
    for outcome in &outcomes {
        if !secrets.read(&outcome.package)?.is_empty() {
            reporter.info(&secrets_notice(&outcome.package));
        }
    }
    if failures > 0 {
        return Err(TriggerError::Incomplete { count: failures });
    }
    Ok(outcomes)
}

fn reconcile_one(
    registry: &Registry,
    lock: &RegistryLock,
    tools: &dyn PackageTools,
    package: &str,
    version: &str,
    reporter: &mut dyn Reporter,
) -> Result<Outcome, TriggerError> {
    let path = registry.seed_path(package)?;
    let bytes = registry.shipped_seed(package)?.unwrap_or_default();
    let shipped = Shipped::parse(package, version, &bytes).map_err(|error| InvalidSeed {
        origin: Origin::Package {
            package: package.to_owned(),
            path,
            deb: None,
        },
        error,
    })?;
    let outcome = shipped.apply(registry, lock, tools, AppliedBy::Trigger)?;
    if outcome.applied > 0 {
        reporter.info(&format!("{outcome}, after dpkg installed the seed"));
        if let Some(warning) = outcome.literal_password_warning() {
            reporter.warning(&warning);
        }
    }
    finish(registry, lock, tools, package, reporter)
}

/// Reconfigures the packages the state of `package` lists as configured before their seed, and
/// records which ones still need it. Those that cannot be done in place are named, with the command.
fn finish(
    registry: &Registry,
    lock: &RegistryLock,
    tools: &dyn PackageTools,
    package: &str,
    reporter: &mut dyn Reporter,
) -> Result<Outcome, TriggerError> {
    let Some(mut state) = registry.state(package)? else {
        return Err(TriggerError::Unknown {
            package: package.to_owned(),
        });
    };
    let pending = std::mem::take(&mut state.reconfigure);
    let seed = Seed::parse(&state.seed).unwrap_or_default();
    let names: Vec<&str> = pending.iter().map(String::as_str).collect();
    let statuses = tools.statuses(&names)?;
    for name in &pending {
        // Not configured yet (or gone): its own postinst will read the seeded answers.
        if !statuses.get(name).is_some_and(PackageStatus::is_configured) {
            continue;
        }
        let questions: Vec<&str> = seed
            .entries
            .iter()
            .filter(|e| e.kind != "seen" && e.owner.split(',').any(|o| o.trim() == name))
            .map(|e| e.question.as_str())
            .collect();
        match tools.reconfigure(name, &questions) {
            Ok(()) => reporter.info(&format!(
                "Reconfigured `{name}`: it was configured before the seed of `{package}` was applied"
            )),
            Err(error) => {
                reporter.warning(&format!(
                    "`{name}` was configured before the seed of `{package}` was applied and cannot be reconfigured now ({}); run `{}`",
                    crate::error_chain(&error),
                    finish_command(package)
                ));
                state.reconfigure.push(name.clone());
            }
        }
    }
    if state.reconfigure != pending {
        registry.write_state(lock, &state)?;
    }
    Ok(Outcome {
        package: package.to_owned(),
        version: state.version.clone(),
        first_install: false,
        applied: 0,
        reconfigure: state.reconfigure,
        state_unreadable: false,
        generated: Vec::new(),
        literal_passwords: Vec::new(),
    })
}

/// `va-seed reconfigure PACKAGE`: what a trigger could not finish.
pub fn reconfigure_pending(
    root: &Path,
    tools: &dyn PackageTools,
    package: &str,
    reporter: &mut dyn Reporter,
) -> Result<Outcome, TriggerError> {
    let registry = Registry::new(root);
    let lock = registry.lock()?;
    finish(&registry, &lock, tools, package, reporter)
}

/// The appliance `preinst` (`dh_appliance`): applies the seed embedded in the script, before dpkg
/// unpacks the appliance, for the paths where the APT hook did not run.
pub fn preinst(
    root: &Path,
    tools: &dyn PackageTools,
    package: &str,
    version: &str,
    text: &str,
) -> Result<Outcome, TriggerError> {
    let shipped =
        Shipped::parse(package, version, text.as_bytes()).map_err(|error| InvalidSeed {
            origin: Origin::Preinst {
                package: package.to_owned(),
            },
            error,
        })?;
    Ok(shipped.apply_locked(root, tools, AppliedBy::Preinst)?)
}

/// The appliance `postrm purge`: forgets the state and the generated secrets.
pub fn purge(root: &Path, package: &str) -> Result<bool, TriggerError> {
    let registry = Registry::new(root);
    let lock = registry.lock()?;
    forget(&registry, &lock, package)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Collected;
    use crate::seed::apply::recorder::Recorder;

    const SEED: &str = "postfix postfix/relayhost string [a]:587\n";

    fn ship(root: &Path, package: &str, text: &str) {
        let registry = Registry::new(root);
        std::fs::create_dir_all(registry.seeds_dir()).unwrap();
        std::fs::write(registry.seed_path(package).unwrap(), text).unwrap();
    }

    #[test]
    fn reconcile_applies_late_and_reconfigures() {
        let root = tempfile::tempdir().unwrap();
        ship(root.path(), "x-appliance", SEED);
        let tools =
            Recorder::with_installed(&[("postfix", "installed"), ("x-appliance", "unpacked")]);
        let mut reporter = Collected::default();
        let outcomes = reconcile(root.path(), &tools, &mut reporter).unwrap();
        assert_eq!(outcomes.len(), 1);
        assert_eq!(tools.selections.borrow().as_slice(), [SEED]);
        assert_eq!(tools.reconfigured.borrow().as_slice(), ["postfix"]);
        let state = Registry::new(root.path())
            .state("x-appliance")
            .unwrap()
            .unwrap();
        assert!(state.reconfigure.is_empty());
        // Reconciling again changes nothing.
        reconcile(root.path(), &tools, &mut reporter).unwrap();
        assert_eq!(tools.selections.borrow().len(), 1);
        assert_eq!(tools.reconfigured.borrow().len(), 1);
    }

    #[test]
    fn a_reconfigure_that_fails_names_the_command() {
        let root = tempfile::tempdir().unwrap();
        ship(root.path(), "x-appliance", SEED);
        let mut tools = Recorder::with_installed(&[("postfix", "installed")]);
        tools.fail_reconfigure = true;
        let mut reporter = Collected::default();
        reconcile(root.path(), &tools, &mut reporter).unwrap();
        assert!(
            reporter.warnings[0].contains("run `va-seed reconfigure x-appliance`"),
            "{:?}",
            reporter.warnings
        );
        let state = Registry::new(root.path())
            .state("x-appliance")
            .unwrap()
            .unwrap();
        assert_eq!(state.reconfigure, ["postfix"]);
        tools.fail_reconfigure = false;
        reconfigure_pending(root.path(), &tools, "x-appliance", &mut reporter).unwrap();
        let state = Registry::new(root.path())
            .state("x-appliance")
            .unwrap()
            .unwrap();
        assert!(state.reconfigure.is_empty());
    }

    #[test]
    fn purged_appliances_are_forgotten_removed_ones_kept() {
        let root = tempfile::tempdir().unwrap();
        let tools = Recorder::with_installed(&[("kept-appliance", "config-files")]);
        preinst(root.path(), &tools, "kept-appliance", "1", SEED).unwrap();
        preinst(root.path(), &tools, "gone-appliance", "1", SEED).unwrap();
        let mut reporter = Collected::default();
        reconcile(root.path(), &tools, &mut reporter).unwrap();
        let registry = Registry::new(root.path());
        assert_eq!(registry.recorded().unwrap(), ["kept-appliance"]);
        assert!(purge(root.path(), "kept-appliance").unwrap());
        assert!(registry.recorded().unwrap().is_empty());
    }

    #[test]
    fn secrets_are_generated_late_announced_and_forgotten_on_purge() {
        let root = tempfile::tempdir().unwrap();
        let marked = format!("{SEED}m m/password password @secret:admin\n");
        ship(root.path(), "x-appliance", &marked);
        let tools = Recorder::with_installed(&[("x-appliance", "unpacked")]);
        let mut reporter = Collected::default();
        reconcile(root.path(), &tools, &mut reporter).unwrap();
        let secrets = Secrets::new(root.path());
        let value = secrets.read("x-appliance").unwrap()["admin"].clone();
        assert!(tools.selections.borrow()[0].contains(&value));
        let said = reporter.infos.join("\n");
        assert!(said.contains(&secrets_notice("x-appliance")), "{said}");
        assert!(!said.contains(&value), "{said}");
        // Removed, not purged: kept. Purged: forgotten with the state.
        std::fs::remove_file(Registry::new(root.path()).seed_path("x-appliance").unwrap()).unwrap();
        let removed = Recorder::with_installed(&[("x-appliance", "config-files")]);
        reconcile(root.path(), &removed, &mut reporter).unwrap();
        assert_eq!(secrets.read("x-appliance").unwrap()["admin"], value);
        assert!(purge(root.path(), "x-appliance").unwrap());
        assert!(secrets.read("x-appliance").unwrap().is_empty());
        assert!(secrets.appliances().unwrap().is_empty());
        // Secrets drawn by an application that failed (no state), of a package dpkg does not
        // know: forgotten; of one still there: kept.
        let registry = Registry::new(root.path());
        let lock = registry.lock().unwrap();
        for package in ["failed-appliance", "kept-appliance"] {
            secrets
                .resolve(&lock, package, &["a"], &mut crate::random::Kernel)
                .unwrap();
        }
        drop(lock);
        let tools = Recorder::with_installed(&[("kept-appliance", "config-files")]);
        reconcile(root.path(), &tools, &mut reporter).unwrap();
        assert_eq!(secrets.appliances().unwrap(), ["kept-appliance"]);
    }

    #[test]
    fn an_invalid_shipped_seed_is_reported_with_its_line() {
        let root = tempfile::tempdir().unwrap();
        ship(root.path(), "bad-appliance", "a a/b strin x\n");
        ship(root.path(), "good-appliance", SEED);
        let tools = Recorder::default();
        let mut reporter = Collected::default();
        let error = reconcile(root.path(), &tools, &mut reporter).unwrap_err();
        assert!(matches!(error, TriggerError::Incomplete { count: 1 }));
        assert!(
            reporter.warnings[0].contains("line 1: unknown type `strin`"),
            "{:?}",
            reporter.warnings
        );
        // The good one was applied all the same.
        assert_eq!(tools.selections.borrow().len(), 1);
    }
}
