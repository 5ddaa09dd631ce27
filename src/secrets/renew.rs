//! Making every secret of a system anew: the first boot of an image, so that no two machines made
//! from one image share a password or a key.

use std::path::Path;

use super::{PASSWORD_LENGTH, SecretError, Secrets, marker};
use crate::debconf::PackageTools;
use crate::plugin::{Manifest, SecretInfo};
use crate::random::{self, Source};
use crate::seed::registry::Registry;

/// What [`renew`] did for one appliance.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Renewed {
    pub appliance: String,
    /// Generated passwords drawn anew and given to the application.
    pub passwords: Vec<String>,
    /// The application's own keys made anew.
    pub keys: Vec<String>,
    /// Kept as they were: named by `keep` (the site gave them).
    pub kept: Vec<String>,
    /// Kept because no manifest says how to set them anew on a running system.
    pub unrenewable: Vec<String>,
}

/// The manifests under `root`: every one must be read, since a secret that a broken manifest
/// declares could not be made anew (a machine would keep the image's).
fn manifests(root: &Path) -> Result<Vec<Manifest>, SecretError> {
    Manifest::each(root)?
        .into_iter()
        .map(|(_, manifest)| manifest.map_err(SecretError::from))
        .collect()
}

/// The secrets the manifests declare for `appliance`.
fn declared<'a>(manifests: &'a [Manifest], appliance: &str) -> Vec<&'a SecretInfo> {
    manifests
        .iter()
        .filter(|m| m.appliance == appliance)
        .flat_map(|m| &m.secrets)
        .collect()
}

/// The command that sets `name` anew, if a declaration gives one.
fn renew_command<'a>(
    declared: &[&'a SecretInfo],
    name: &str,
) -> Option<&'a crate::plugin::Command> {
    declared
        .iter()
        .find(|s| s.name == name)
        .and_then(|s| s.renew.as_ref())
}

/// Makes every secret of the system anew but those named in `keep`: the passwords generated for
/// the appliances' seeds and the applications' own keys, through the `renew` commands of their
/// manifests (a password on standard input). The first boot of an image runs it, so that no two
/// machines made from one image share a secret.
///
/// Each password is recorded only once its application took it, so that `va-seed secrets` shows
/// what opens the application even when a later command fails. debconf keeps no copy of a
/// renewed password: the build's would be every machine's, and the packages clear theirs after
/// use.
pub fn renew(
    root: &Path,
    keep: &[String],
    tools: &dyn PackageTools,
    random: &mut dyn Source,
) -> Result<Vec<Renewed>, SecretError> {
    let registry = Registry::new(root);
    let lock = registry.lock()?;
    let store = Secrets::of(&registry);
    let manifests = manifests(root)?;
    let mut appliances = store.appliances()?;
    for manifest in &manifests {
        if !manifest.secrets.is_empty() && !appliances.contains(&manifest.appliance) {
            appliances.push(manifest.appliance.clone());
        }
    }
    appliances.sort();
    let mut done = Vec::new();
    for appliance in appliances {
        let declared = declared(&manifests, &appliance);
        let failed = |name: &str| {
            let appliance = appliance.clone();
            let name = name.to_owned();
            move |source| SecretError::Renew {
                appliance,
                name,
                source,
            }
        };
        let mut values = store.read(&appliance)?;
        let mut renewed = Renewed {
            appliance: appliance.clone(),
            ..Renewed::default()
        };
        let names: Vec<String> = values.keys().cloned().collect();
        for name in names {
            if keep.contains(&name) {
                renewed.kept.push(name);
                continue;
            }
            let Some(command) = renew_command(&declared, &name) else {
                renewed.unrenewable.push(name);
                continue;
            };
            let value = random::password(random, PASSWORD_LENGTH).map_err(|source| {
                SecretError::Random {
                    package: appliance.clone(),
                    source,
                }
            })?;
            tools
                .run_command(command, Some(&format!("{value}\n")))
                .map_err(failed(&name))?;
            values.insert(name.clone(), value);
            store.write(&lock, &appliance, &values)?;
            forget_in_debconf(&registry, tools, &appliance, &name)?;
            renewed.passwords.push(name);
        }
        // The applications' own keys: declared, and no generated password.
        for secret in &declared {
            if values.contains_key(&secret.name) || keep.contains(&secret.name) {
                continue;
            }
            if let Some(command) = &secret.renew {
                tools
                    .run_command(command, None)
                    .map_err(failed(&secret.name))?;
                renewed.keys.push(secret.name.clone());
            }
        }
        done.push(renewed);
    }
    Ok(done)
}

/// What the first boot of an image made of the system at `root` will make anew, and what it
/// cannot.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FirstBoot {
    /// Files (relative to the root) that hold the build's secrets and are replaced at first boot.
    pub files: Vec<std::path::PathBuf>,
    /// Generated passwords (`appliance: name`) that no manifest says how to set anew and the
    /// site did not give: every machine made from the image would share them.
    pub unrenewable: Vec<String>,
}

/// What renewing at first boot will do to the system at `root`, with the secrets named in `keep`
/// kept.
pub fn first_boot(root: &Path, keep: &[String]) -> Result<FirstBoot, SecretError> {
    let store = Secrets::new(root);
    let manifests = manifests(root)?;
    let mut plan = FirstBoot::default();
    let appliances = store.appliances()?;
    if !appliances.is_empty() {
        // debconf's own copies of password answers (root's alone), emptied by the renewal.
        for file in [
            "var/cache/debconf/passwords.dat",
            "var/cache/debconf/passwords.dat-old",
        ] {
            plan.files.push(std::path::PathBuf::from(file));
        }
    }
    for appliance in appliances {
        plan.files
            .push(Path::new(super::SECRETS_DIR).join(&appliance));
        let declared = declared(&manifests, &appliance);
        for name in store.read(&appliance)?.keys() {
            if renew_command(&declared, name).is_none() && !keep.contains(name) {
                plan.unrenewable.push(format!("{appliance}: {name}"));
            }
        }
    }
    for manifest in &manifests {
        for secret in manifest.secrets.iter().filter(|s| !keep.contains(&s.name)) {
            plan.files.extend(
                secret
                    .files
                    .iter()
                    .map(|f| std::path::PathBuf::from(f.trim_start_matches('/'))),
            );
        }
    }
    plan.files.sort();
    plan.files.dedup();
    Ok(plan)
}

/// The secrets of `appliance` at `root` that `site` (a site's seed) gives: those whose questions
/// it answers.
pub fn given_by_site(
    root: &Path,
    appliance: &str,
    site: &crate::seed::Seed,
) -> Result<Vec<String>, SecretError> {
    let seed = Registry::new(root)
        .state(appliance)?
        .and_then(|state| crate::seed::Seed::parse(&state.seed).ok())
        .unwrap_or_default();
    let mut names: Vec<String> = seed
        .entries
        .iter()
        .filter(|e| site.entries.iter().any(|s| s.question == e.question))
        .filter_map(|e| marker(&e.value).map(str::to_owned))
        .collect();
    names.sort();
    names.dedup();
    Ok(names)
}

/// Empties debconf's answers to the questions of `appliance`'s seed that name the secret `name`.
fn forget_in_debconf(
    registry: &Registry,
    tools: &dyn PackageTools,
    appliance: &str,
    name: &str,
) -> Result<(), SecretError> {
    // The copy of the seed as applied: a damaged record names its file (registry error).
    let seed = registry
        .state(appliance)?
        .and_then(|state| crate::seed::Seed::parse(&state.seed).ok())
        .unwrap_or_default();
    let mut answers: Vec<crate::seed::Entry> = seed
        .entries
        .into_iter()
        .filter(|entry| marker(&entry.value) == Some(name))
        .collect();
    if answers.is_empty() {
        return Ok(());
    }
    for answer in &mut answers {
        answer.value.clear();
    }
    tools
        .set_selections(&crate::seed::Seed::render(&answers))
        .map_err(|source| SecretError::Renew {
            appliance: appliance.to_owned(),
            name: name.to_owned(),
            source,
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::random::Kernel;

    #[test]
    fn renewing_draws_every_secret_anew_but_the_kept_ones_and_tells_the_application() {
        use crate::seed::apply::recorder::Recorder;
        let root = tempfile::tempdir().unwrap();
        let registry = Registry::new(root.path());
        {
            let lock = registry.lock().unwrap();
            crate::secrets::record_seed(
                &registry,
                &lock,
                "x-appliance",
                "m m/pw password @secret:wiki-admin\nm m/again password @secret:wiki-admin\nc c/pw password @secret:control\nd d/pw password @secret:site\n",
            );
            Secrets::of(&registry)
                .resolve(
                    &lock,
                    "x-appliance",
                    &["wiki-admin", "control", "site", "orphan"],
                    &mut Kernel,
                )
                .unwrap();
        }
        let before = Secrets::of(&registry).read("x-appliance").unwrap();
        let plugins = root.path().join(crate::plugin::PLUGIN_DIR);
        std::fs::create_dir_all(&plugins).unwrap();
        std::fs::write(
            plugins.join("x.yaml"),
            "appliance: x-appliance\nsecrets:\n  - name: wiki-admin\n    opens: the wiki\n    renew: [/usr/lib/x/set-admin]\n  - name: control\n    opens: the panel\n    renew: [/usr/bin/passwd-control, admin]\n  - name: site\n    opens: d\n    renew: [/usr/lib/x/set-d]\n  - name: session-key\n    opens: the sessions\n    renew: [/usr/lib/x/new-session-key]\n",
        )
        .unwrap();
        let tools = Recorder::default();
        let done = renew(root.path(), &["site".to_owned()], &tools, &mut Kernel).unwrap();
        assert_eq!(done.len(), 1);
        let r = &done[0];
        assert_eq!(r.passwords, ["control", "wiki-admin"]);
        assert_eq!(r.kept, ["site"]);
        assert_eq!(r.unrenewable, ["orphan"]);
        assert_eq!(r.keys, ["session-key"]);
        let after = Secrets::of(&registry).read("x-appliance").unwrap();
        assert_ne!(after["wiki-admin"], before["wiki-admin"]);
        assert_ne!(after["control"], before["control"]);
        assert_eq!(after["site"], before["site"]);
        assert_eq!(after["orphan"], before["orphan"]);
        // The application got each new value on standard input, never as an argument.
        let commands = tools.commands.borrow();
        assert_eq!(
            commands.as_slice(),
            [
                (
                    vec!["/usr/bin/passwd-control".to_owned(), "admin".to_owned()],
                    Some(format!("{}\n", after["control"]))
                ),
                (
                    vec!["/usr/lib/x/set-admin".to_owned()],
                    Some(format!("{}\n", after["wiki-admin"]))
                ),
                (vec!["/usr/lib/x/new-session-key".to_owned()], None),
            ]
        );
        // debconf keeps no copy of a renewed password (nor of the build's); the site's stays.
        let given = tools.selections.borrow().join("");
        assert_eq!(
            given,
            "c c/pw password\nm m/pw password\nm m/again password\n"
        );
        drop(commands);

        // A command that fails stops, naming the appliance and the secret; what was renewed
        // before it is recorded, and the failed password keeps the value its application has.
        let failing = Recorder {
            fail_program: Some("/usr/lib/x/set-admin".into()),
            ..Recorder::default()
        };
        let error = renew(root.path(), &[], &failing, &mut Kernel).unwrap_err();
        let text = crate::error_chain(&error);
        assert!(
            text.contains("`x-appliance`") && text.contains("`wiki-admin`"),
            "{text}"
        );
        let last = Secrets::of(&registry).read("x-appliance").unwrap();
        assert_ne!(last["control"], after["control"]);
        assert_eq!(last["wiki-admin"], after["wiki-admin"]);
    }

    #[test]
    fn a_broken_manifest_stops_the_renewal_naming_it() {
        let root = tempfile::tempdir().unwrap();
        let plugins = root.path().join(crate::plugin::PLUGIN_DIR);
        std::fs::create_dir_all(&plugins).unwrap();
        std::fs::write(
            plugins.join("x.yaml"),
            "appliance: x-appliance\nsecrets: 3\n",
        )
        .unwrap();
        let error = renew(
            root.path(),
            &[],
            &crate::seed::apply::recorder::Recorder::default(),
            &mut Kernel,
        )
        .unwrap_err();
        assert!(crate::error_chain(&error).contains("x.yaml"), "{error}");
        let error = first_boot(root.path(), &[]).unwrap_err();
        assert!(crate::error_chain(&error).contains("x.yaml"), "{error}");
    }
}

#[cfg(test)]
mod shipped {
    //! Our own appliances: every secret their seeds generate can be made anew at first boot.
    use crate::plugin::Manifest;
    use crate::seed::Seed;

    #[test]
    fn every_generated_secret_of_our_appliances_is_declared_and_renewable() {
        for (seed, manifest) in [
            (
                include_str!("../../seeds/moinmoin-appliance.seed"),
                include_str!("../../appliances/moinmoin/plugin/moinmoin.yaml"),
            ),
            (
                include_str!("../../seeds/dokuwiki-appliance.seed"),
                include_str!("../../appliances/dokuwiki/plugin/dokuwiki.yaml"),
            ),
        ] {
            let seed = Seed::parse(seed).unwrap();
            let manifest = Manifest::parse(manifest).unwrap();
            assert!(seed.literal_passwords().is_empty());
            assert!(!seed.secret_names().is_empty());
            for name in seed.secret_names() {
                let declared = manifest.secrets.iter().find(|s| s.name == name);
                assert!(
                    declared.is_some_and(|s| s.renew.is_some() && s.login.is_some()),
                    "{}: `{name}` is not declared with a login and a renew command",
                    manifest.appliance
                );
            }
        }
    }
}
