//! Making every secret of a system anew: the first boot of an image, so that no two machines made
//! from one image share a password or a key.

use std::path::Path;

use super::{PASSWORD_LENGTH, SecretError, Secrets, marker};
use crate::random::{self, Source};
use crate::registry::Registry;

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

/// Makes every secret of the system anew but those named in `keep`: the passwords generated for
/// the appliances' seeds (recorded, given to debconf and to the application through its
/// manifest's `renew` command on standard input) and the applications' own keys (their `renew`
/// commands). The first boot of an image runs it, so that no two machines made from one image
/// share a secret.
pub fn renew(
    root: &Path,
    keep: &[String],
    tools: &dyn crate::debconf::PackageTools,
    random: &mut dyn Source,
) -> Result<Vec<Renewed>, SecretError> {
    let registry = Registry::new(root);
    let lock = registry.lock()?;
    let store = Secrets::of(&registry);
    let manifests: Vec<crate::plugin::Manifest> = crate::plugin::Manifest::all(root)
        .map_err(|error| SecretError::Io {
            what: "read the plugin manifests under",
            path: root.join(crate::plugin::PLUGIN_DIR),
            source: std::io::Error::other(crate::error_chain(&error)),
        })?
        .into_iter()
        .map(|(_, m)| m)
        .collect();
    let mut appliances = store.appliances()?;
    for manifest in &manifests {
        if !manifest.secrets.is_empty() && !appliances.contains(&manifest.appliance) {
            appliances.push(manifest.appliance.clone());
        }
    }
    appliances.sort();
    let mut done = Vec::new();
    for appliance in appliances {
        let declared: Vec<&crate::plugin::SecretInfo> = manifests
            .iter()
            .filter(|m| m.appliance == appliance)
            .flat_map(|m| &m.secrets)
            .collect();
        let command_of = |name: &str| {
            declared
                .iter()
                .find(|s| s.name == name)
                .and_then(|s| s.renew.clone())
        };
        let mut values = store.read(&appliance)?;
        let mut renewed = Renewed {
            appliance: appliance.clone(),
            ..Renewed::default()
        };
        for (name, value) in &mut values {
            if keep.contains(name) {
                renewed.kept.push(name.clone());
            } else if command_of(name).is_none() {
                renewed.unrenewable.push(name.clone());
            } else {
                *value = random::password(random, PASSWORD_LENGTH).map_err(|source| {
                    SecretError::Random {
                        package: appliance.clone(),
                        source,
                    }
                })?;
                renewed.passwords.push(name.clone());
            }
        }
        if !renewed.passwords.is_empty() {
            store.write(&lock, &appliance, &values)?;
            tell_debconf(&registry, tools, &appliance, &values, &renewed.passwords)?;
        }
        for secret in &declared {
            let Some(command) = &secret.renew else {
                continue;
            };
            let input = if renewed.passwords.contains(&secret.name) {
                values.get(&secret.name).map(|v| format!("{v}\n"))
            } else if values.contains_key(&secret.name) || keep.contains(&secret.name) {
                // Kept, or a generated password that was not renewed.
                continue;
            } else {
                renewed.keys.push(secret.name.clone());
                None
            };
            tools
                .run_command(command, input.as_deref())
                .map_err(|source| SecretError::Renew {
                    appliance: appliance.clone(),
                    name: secret.name.clone(),
                    source,
                })?;
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
    let manifests = crate::plugin::Manifest::all(root).map_err(|error| SecretError::Io {
        what: "read the plugin manifests under",
        path: root.join(crate::plugin::PLUGIN_DIR),
        source: std::io::Error::other(crate::error_chain(&error)),
    })?;
    let mut plan = FirstBoot::default();
    let appliances = store.appliances()?;
    if !appliances.is_empty() {
        // debconf's own copies of password answers (root's alone), set anew by the renewal.
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
        for name in store.read(&appliance)?.keys() {
            let renewable = manifests.iter().any(|(_, m)| {
                m.appliance == appliance
                    && m.secrets
                        .iter()
                        .any(|s| &s.name == name && s.renew.is_some())
            });
            if !renewable && !keep.contains(name) {
                plan.unrenewable.push(format!("{appliance}: {name}"));
            }
        }
    }
    for (_, manifest) in &manifests {
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

/// debconf's copies of the renewed passwords follow, so that a later dpkg-reconfigure keeps the
/// new values.
fn tell_debconf(
    registry: &Registry,
    tools: &dyn crate::debconf::PackageTools,
    appliance: &str,
    values: &std::collections::BTreeMap<String, String>,
    renewed: &[String],
) -> Result<(), SecretError> {
    let seed = registry
        .state(appliance)?
        .and_then(|state| crate::seed::Seed::parse(&state.seed).ok())
        .unwrap_or_default();
    let answers: Vec<crate::seed::Entry> = seed
        .entries
        .iter()
        .filter_map(|entry| {
            let name = marker(&entry.value)?;
            let value = values
                .get(name)
                .filter(|_| renewed.iter().any(|n| n == name))?;
            let mut entry = entry.clone();
            entry.value.clone_from(value);
            Some(entry)
        })
        .collect();
    if answers.is_empty() {
        return Ok(());
    }
    tools
        .set_selections(&crate::seed::Seed::render(&answers))
        .map_err(|source| SecretError::Renew {
            appliance: appliance.to_owned(),
            name: "debconf".into(),
            source,
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::random::Kernel;

    #[test]
    fn renewing_draws_every_secret_anew_but_the_kept_ones_and_tells_the_application() {
        use crate::seeding::recorder::Recorder;
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
                    vec!["/usr/lib/x/set-admin".to_owned()],
                    Some(format!("{}\n", after["wiki-admin"]))
                ),
                (
                    vec!["/usr/bin/passwd-control".to_owned(), "admin".to_owned()],
                    Some(format!("{}\n", after["control"]))
                ),
                (vec!["/usr/lib/x/new-session-key".to_owned()], None),
            ]
        );
        // debconf's copies follow.
        let given = tools.selections.borrow().join("");
        assert!(
            given.contains(&format!("m m/again password {}", after["wiki-admin"])),
            "{given}"
        );
        assert!(!given.contains("d/pw"), "{given}");
        // A command that fails stops with the appliance and the secret named.
        let failing = Recorder {
            fail_program: Some("/usr/lib/x/new-session-key".into()),
            ..Recorder::default()
        };
        let error = renew(root.path(), &[], &failing, &mut Kernel).unwrap_err();
        let text = crate::error_chain(&error);
        assert!(
            text.contains("`x-appliance`") && text.contains("`session-key`"),
            "{text}"
        );
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
