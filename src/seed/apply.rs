//! Applying an appliance's shipped seed to debconf ([`Shipped::apply`]), the one step the hook,
//! the trigger, the preinst and vainstall share: the whole seed on first install; on upgrade only the answers that changed since
//! the last applied copy, so that an administrator's later `dpkg-reconfigure` survives.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::debconf::{PackageStatus, PackageTools, ToolError};
use crate::random::{Kernel, Source};
use crate::secrets::{self, SecretError, Secrets};
use crate::seed::Seed;
use crate::seed::registry::{Registry, RegistryError, RegistryLock, State};
use crate::seed::shipped::Shipped;

/// Which path applied a seed; recorded in the state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppliedBy {
    AptHook,
    Trigger,
    Preinst,
    Vainstall,
}

impl AppliedBy {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AptHook => "apt-hook",
            Self::Trigger => "trigger",
            Self::Preinst => "preinst",
            Self::Vainstall => "vainstall",
        }
    }
}

/// What applying did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Outcome {
    pub package: String,
    pub version: String,
    /// No earlier state: the whole seed was applied.
    pub first_install: bool,
    /// How many answers went to debconf.
    pub applied: usize,
    /// Seeded packages configured before their answers reached debconf.
    pub reconfigure: Vec<String>,
    /// The recorded copy of the last applied seed no longer parsed, so the whole seed was applied
    /// again (an administrator's later answers to seeded questions are overwritten).
    pub state_unreadable: bool,
    /// The secrets (`@secret:NAME`) drawn for this system by this application.
    pub generated: Vec<String>,
    /// Password questions the seed answers with a literal value (`line N: question`), which every
    /// system that installs the appliance shares.
    pub literal_passwords: Vec<String>,
}

impl Outcome {
    /// The warning for a seed that answers password questions with literal values, if it does.
    pub fn literal_password_warning(&self) -> Option<String> {
        if self.literal_passwords.is_empty() {
            return None;
        }
        Some(format!(
            "the seed of `{}` sets a literal password ({}): every system that installs it shares that password; the appliance should ask for a generated one (`@secret:NAME`)",
            self.package,
            self.literal_passwords.join(", ")
        ))
    }
}

/// One line for the user: `Seeding PACKAGE VERSION: N answers applied, …`.
impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let plural = if self.applied == 1 { "" } else { "s" };
        let changed = if self.first_install { "" } else { "changed " };
        write!(
            f,
            "Seeding {} {}: {} {changed}answer{plural} applied",
            self.package, self.version, self.applied
        )?;
        match self.generated.len() {
            0 => {}
            1 => write!(f, ", 1 secret generated for this system")?,
            n => write!(f, ", {n} secrets generated for this system")?,
        }
        if self.state_unreadable {
            write!(
                f,
                " (the record of the last applied seed was unreadable: the whole seed was applied again, over any later answers)"
            )?;
        }
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SeedingError {
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error("cannot apply the seed of `{package}`")]
    Apply {
        package: String,
        #[source]
        source: ToolError,
    },
    #[error("cannot apply the seed of `{package}`")]
    Secret {
        package: String,
        #[source]
        source: SecretError,
    },
}

/// Now, or `SOURCE_DATE_EPOCH` when it is set and earlier (a reproducible image build records the
/// same time in every build).
fn applied_at() -> u64 {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .map_or(now, |epoch| epoch.min(now))
}

impl Shipped {
    /// Applies the seed under the registry lock, and records it.
    pub fn apply(
        &self,
        registry: &Registry,
        lock: &RegistryLock,
        tools: &dyn PackageTools,
        applied_by: AppliedBy,
    ) -> Result<Outcome, SeedingError> {
        self.apply_from(registry, lock, tools, applied_by, &mut Kernel)
    }

    /// [`Shipped::apply`], with the secrets the seed asks for drawn from `random`.
    pub(crate) fn apply_from(
        &self,
        registry: &Registry,
        lock: &RegistryLock,
        tools: &dyn PackageTools,
        applied_by: AppliedBy,
        random: &mut dyn Source,
    ) -> Result<Outcome, SeedingError> {
        let Self {
            package,
            version,
            text,
            seed,
        } = self;
        let previous = registry.state(package)?;
        let apply_error = |source| SeedingError::Apply {
            package: package.clone(),
            source,
        };
        let old = previous.as_ref().map(|state| Seed::parse(&state.seed));
        let state_unreadable = matches!(old, Some(Err(_)));
        let (entries, reconfigure) = if let Some(state) = &previous {
            // A state copy that no longer parses cannot be diffed: apply the whole seed again, and
            // say so.
            let old = old.and_then(Result::ok).unwrap_or_default();
            (seed.changed_since(&old), state.reconfigure.clone())
        } else {
            let owners: Vec<&str> = seed
                .owners()
                .into_iter()
                .filter(|owner| *owner != package.as_str())
                .collect();
            let statuses = tools.statuses(&owners).map_err(apply_error)?;
            let configured = owners
                .iter()
                .filter(|owner| {
                    statuses
                        .get(**owner)
                        .is_some_and(PackageStatus::is_configured)
                })
                .map(|owner| (*owner).to_owned())
                .collect();
            (seed.entries.iter().collect(), configured)
        };
        let unchanged = previous
            .as_ref()
            .is_some_and(|state| state.seed == *text && state.version == *version);
        // The secrets the answers name: drawn (and recorded root-only) before any answer is set.
        let names = secrets::names(entries.iter().copied());
        let resolved = if names.is_empty() {
            secrets::Resolved::default()
        } else {
            Secrets::of(registry)
                .resolve(lock, package, &names, random)
                .map_err(|source| SeedingError::Secret {
                    package: package.clone(),
                    source,
                })?
        };
        if !entries.is_empty() {
            let answers = secrets::fill(entries.iter().copied(), &resolved.values);
            // Given to debconf-set-selections on its standard input, never in its arguments.
            tools
                .set_selections(&Seed::render(&answers))
                .map_err(apply_error)?;
        }
        if !unchanged {
            registry.write_state(
                lock,
                &State {
                    package: package.clone(),
                    version: version.clone(),
                    applied_by: applied_by.as_str().to_owned(),
                    applied_at: applied_at(),
                    seed: text.clone(),
                    reconfigure: reconfigure.clone(),
                },
            )?;
        }
        Ok(Outcome {
            package: package.clone(),
            version: version.clone(),
            first_install: previous.is_none(),
            applied: entries.len(),
            reconfigure,
            state_unreadable,
            generated: resolved.generated,
            literal_passwords: seed
                .literal_passwords()
                .iter()
                .map(|e| format!("line {}: {}", e.line, e.question))
                .collect(),
        })
    }

    /// [`Shipped::apply`] on the registry of the system at `root`, under the lock, for the callers
    /// that seed a single appliance (the preinst, vainstall).
    pub fn apply_locked(
        &self,
        root: &std::path::Path,
        tools: &dyn PackageTools,
        applied_by: AppliedBy,
    ) -> Result<Outcome, SeedingError> {
        let registry = Registry::new(root);
        let lock = registry.lock()?;
        self.apply(&registry, &lock, tools, applied_by)
    }
}

#[cfg(test)]
pub(crate) mod recorder {
    //! A [`PackageTools`] that records what it is asked and answers from a table.
    use std::cell::RefCell;
    use std::collections::HashMap;

    use crate::debconf::{PackageStatus, PackageTools, ToolError};

    #[derive(Default)]
    pub struct Recorder {
        pub selections: RefCell<Vec<String>>,
        pub reconfigured: RefCell<Vec<String>>,
        pub installed: HashMap<String, String>,
        pub fail_reconfigure: bool,
        pub fail_selections: bool,
        /// Commands run, with their input.
        pub commands: RefCell<Vec<(Vec<String>, Option<String>)>>,
        /// A command whose program is this fails.
        pub fail_program: Option<String>,
    }

    impl Recorder {
        pub fn with_installed(packages: &[(&str, &str)]) -> Self {
            Self {
                installed: packages
                    .iter()
                    .map(|(n, s)| ((*n).to_owned(), (*s).to_owned()))
                    .collect(),
                ..Self::default()
            }
        }
    }

    fn failure(program: &str) -> ToolError {
        ToolError::Failed {
            program: program.into(),
            status: "exit status: 1".into(),
            said: "simulated".into(),
        }
    }

    impl PackageTools for Recorder {
        fn set_selections(&self, selections: &str) -> Result<(), ToolError> {
            if self.fail_selections {
                return Err(failure("debconf-set-selections"));
            }
            self.selections.borrow_mut().push(selections.to_owned());
            Ok(())
        }

        fn statuses(&self, packages: &[&str]) -> Result<HashMap<String, PackageStatus>, ToolError> {
            Ok(packages
                .iter()
                .filter_map(|p| {
                    self.installed.get(*p).map(|status| {
                        (
                            (*p).to_owned(),
                            PackageStatus {
                                status: status.clone(),
                                version: "1".into(),
                            },
                        )
                    })
                })
                .collect())
        }

        fn run_command(&self, argv: &[String], input: Option<&str>) -> Result<(), ToolError> {
            if argv.first() == self.fail_program.as_ref() {
                return Err(failure(&argv[0]));
            }
            self.commands
                .borrow_mut()
                .push((argv.to_vec(), input.map(str::to_owned)));
            Ok(())
        }

        fn reconfigure(&self, package: &str, _questions: &[&str]) -> Result<(), ToolError> {
            if self.fail_reconfigure {
                return Err(failure("dpkg-reconfigure"));
            }
            self.reconfigured.borrow_mut().push(package.to_owned());
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::recorder::Recorder;
    use super::*;

    const V1: &str = "postfix postfix/relayhost string [a]:587\npostfix postfix/mailname string a.example\ndokuwiki dokuwiki/wiki/title string Wiki\n";
    const V2: &str = "postfix postfix/relayhost string [b]:587\npostfix postfix/mailname string a.example\ndokuwiki dokuwiki/wiki/title string Wiki\n";

    fn shipped(version: &str, text: &str) -> Shipped {
        Shipped::parse("x-appliance", version, text.as_bytes()).unwrap()
    }

    #[test]
    fn first_install_applies_everything_then_upgrades_apply_changes() {
        let root = tempfile::tempdir().unwrap();
        let registry = Registry::new(root.path());
        let lock = registry.lock().unwrap();
        let tools = Recorder::with_installed(&[("postfix", "installed"), ("dokuwiki", "unpacked")]);
        let outcome = shipped("1", V1)
            .apply(&registry, &lock, &tools, AppliedBy::AptHook)
            .unwrap();
        assert!(outcome.first_install);
        assert_eq!(outcome.applied, 3);
        assert_eq!(outcome.reconfigure, ["postfix"]);
        assert_eq!(tools.selections.borrow().as_slice(), [V1]);

        // Same seed again (the preinst after the hook): nothing to apply.
        let again = shipped("1", V1)
            .apply(&registry, &lock, &tools, AppliedBy::Preinst)
            .unwrap();
        assert_eq!(again.applied, 0);
        assert_eq!(tools.selections.borrow().len(), 1);

        // Upgrade: only the changed answer.
        let upgrade = shipped("2", V2)
            .apply(&registry, &lock, &tools, AppliedBy::AptHook)
            .unwrap();
        assert!(!upgrade.first_install);
        assert_eq!(upgrade.applied, 1);
        assert_eq!(
            tools.selections.borrow()[1],
            "postfix postfix/relayhost string [b]:587\n"
        );
        let state = registry.state("x-appliance").unwrap().unwrap();
        assert_eq!((state.version.as_str(), state.seed.as_str()), ("2", V2));
        assert_eq!(state.applied_by, "apt-hook");
        assert!(!upgrade.state_unreadable);

        // A damaged copy of the applied seed: the whole seed again, and the outcome says so.
        let copy = root.path().join("var/lib/appliance/state/x-appliance.seed");
        std::fs::write(&copy, "garbage without a type\n").unwrap();
        let damaged = shipped("2", V2)
            .apply(&registry, &lock, &tools, AppliedBy::Trigger)
            .unwrap();
        assert!(damaged.state_unreadable);
        assert_eq!(damaged.applied, 3);
        assert!(
            damaged
                .to_string()
                .contains("the record of the last applied seed was unreadable")
        );
    }

    const MARKED: &str = "m m/admin-password password @secret:wiki-admin\nm m/admin-password-again password @secret:wiki-admin\nm m/name string Wiki\n";

    fn apply_marked(
        registry: &Registry,
        lock: &RegistryLock,
        tools: &Recorder,
        version: &str,
        text: &str,
        random: &mut dyn Source,
    ) -> Result<Outcome, SeedingError> {
        shipped(version, text).apply_from(registry, lock, tools, AppliedBy::AptHook, random)
    }

    #[test]
    fn markers_become_one_generated_value_per_system_kept_by_upgrades() {
        let root = tempfile::tempdir().unwrap();
        let registry = Registry::new(root.path());
        let lock = registry.lock().unwrap();
        let tools = Recorder::default();
        let outcome = apply_marked(&registry, &lock, &tools, "1", MARKED, &mut Kernel).unwrap();
        assert_eq!(outcome.generated, ["wiki-admin"]);
        assert!(outcome.literal_passwords.is_empty());
        let value = Secrets::of(&registry).read("x-appliance").unwrap()["wiki-admin"].clone();
        let given = tools.selections.borrow()[0].clone();
        assert!(!given.contains("@secret"), "{given}");
        assert_eq!(
            given,
            format!(
                "m m/admin-password password {value}\nm m/admin-password-again password {value}\nm m/name string Wiki\n"
            )
        );
        // The recorded copy keeps the marker, never the value.
        let state = registry.state("x-appliance").unwrap().unwrap();
        assert_eq!(state.seed, MARKED);
        // An upgrade that changes the line applies it again with the same value.
        let v2 = MARKED.replace(
            "m m/admin-password-again password",
            "m,n m/admin-password-again password",
        );
        let upgrade = apply_marked(&registry, &lock, &tools, "2", &v2, &mut Kernel).unwrap();
        assert!(upgrade.generated.is_empty());
        assert_eq!(
            tools.selections.borrow()[1],
            format!("m,n m/admin-password-again password {value}\n")
        );
    }

    #[test]
    fn without_randomness_nothing_is_applied() {
        let root = tempfile::tempdir().unwrap();
        let registry = Registry::new(root.path());
        let lock = registry.lock().unwrap();
        let tools = Recorder::default();
        let error = apply_marked(
            &registry,
            &lock,
            &tools,
            "1",
            MARKED,
            &mut crate::random::tests::Broken,
        )
        .unwrap_err();
        let text = crate::error_chain(&error);
        assert!(
            text.contains("x-appliance") && text.contains("random source"),
            "{text}"
        );
        assert!(tools.selections.borrow().is_empty());
        assert_eq!(registry.state("x-appliance").unwrap(), None);
    }

    #[test]
    fn an_unwritable_secrets_directory_applies_nothing() {
        let root = tempfile::tempdir().unwrap();
        let registry = Registry::new(root.path());
        let lock = registry.lock().unwrap();
        std::fs::write(registry.base().join("secrets"), "").unwrap();
        let tools = Recorder::default();
        let error = apply_marked(&registry, &lock, &tools, "1", MARKED, &mut Kernel).unwrap_err();
        assert!(
            crate::error_chain(&error).contains("var/lib/appliance/secrets"),
            "{error}"
        );
        assert!(tools.selections.borrow().is_empty());
        assert_eq!(registry.state("x-appliance").unwrap(), None);
    }

    #[test]
    fn literal_passwords_are_applied_and_reported() {
        let root = tempfile::tempdir().unwrap();
        let registry = Registry::new(root.path());
        let lock = registry.lock().unwrap();
        let tools = Recorder::default();
        let text = "m m/name string Wiki\nm m/admin-password password hunter2\n";
        let outcome = apply_marked(&registry, &lock, &tools, "1", text, &mut Kernel).unwrap();
        assert_eq!(outcome.literal_passwords, ["line 2: m/admin-password"]);
        assert_eq!(tools.selections.borrow()[0], text);
        let warning = outcome.literal_password_warning().unwrap();
        assert!(
            warning.contains("every system that installs it shares that password"),
            "{warning}"
        );
    }

    #[test]
    fn a_failed_application_records_nothing() {
        let root = tempfile::tempdir().unwrap();
        let registry = Registry::new(root.path());
        let lock = registry.lock().unwrap();
        let tools = Recorder {
            fail_selections: true,
            ..Recorder::default()
        };
        let error = shipped("1", V1)
            .apply(&registry, &lock, &tools, AppliedBy::AptHook)
            .unwrap_err();
        assert!(error.to_string().contains("x-appliance"), "{error}");
        assert_eq!(registry.state("x-appliance").unwrap(), None);
    }
}
