//! Plugin manifests: `/usr/share/appliance/plugins/<name>.yaml`, shipped by a plugin package for
//! one appliance. This module holds the whole schema, so that va-backup and appliance-control read
//! the same file the same way; `doc/plugin-manifest.md` documents it around the example
//! `doc/plugin-example.yaml`, which a test parses.
//!
//! Unknown keys are refused, so that a misspelt `stop:` does not silently leave a service running
//! during a restore.

mod parameters;

use std::cmp::Ordering;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::backup::paths::{PathError, root_in_archive};

pub use parameters::{Invocation, MAX_PARAMETERS, Parameter};

/// Where manifests live, relative to the system's root.
pub const PLUGIN_DIR: &str = "usr/share/appliance/plugins";

/// A command: the program (an absolute path) and its arguments; never run through a shell.
pub type Command = Vec<String>;

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// The appliance package this plugin serves (`moinmoin-appliance`).
    pub appliance: String,
    /// The name shown to people (`MoinMoin wiki`).
    #[serde(default)]
    pub title: Option<String>,
    /// The systemd services of the application, shown and restarted by appliance-control.
    #[serde(default)]
    pub services: Vec<String>,
    /// The packages the application's data depends on besides the appliance (the application,
    /// its web server, its database): an APT transaction that upgrades, removes or reconfigures
    /// one of them, or the appliance, takes a safety backup first.
    #[serde(default)]
    pub packages: Vec<String>,
    /// What a backup of this appliance holds and what runs around it.
    #[serde(default)]
    pub backup: Option<BackupPlan>,
    /// Values the plugin's page lets the owner change, each in a configuration file through
    /// Augeas.
    #[serde(default)]
    pub settings: Vec<Setting>,
    /// Commands the plugin's page offers, run as root by appliance-control's agent.
    #[serde(default)]
    pub actions: Vec<Action>,
    /// What the secrets generated for the appliance's seed (`@secret:NAME`) open, for
    /// `va-seed secrets`.
    #[serde(default)]
    pub secrets: Vec<SecretInfo>,
    /// How to tell that the application works: run after every transaction that changed it,
    /// after a restore and after an image's first boot (`va-backup health`).
    #[serde(default)]
    pub health: Vec<HealthCheck>,
}

/// One check of the application's health: an HTTP request to this host whose answer must be a
/// success and hold a text, or a command that must succeed.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HealthCheck {
    /// Its name, for people (`wiki front page`).
    pub name: String,
    /// `http://127.0.0.1[:PORT]/PATH`: fetched until it answers 2xx or 3xx, or the time is up.
    #[serde(default)]
    pub http: Option<String>,
    /// What the answer's body must contain.
    #[serde(default)]
    pub contains: Option<String>,
    /// A web server's configuration file (`/etc/apache2/ports.conf`, an nginx site) whose first
    /// `Listen`/`listen` directive gives the port asked instead of the address's: the check
    /// follows an administrator who moved the site to another port.
    #[serde(default, rename = "port-from")]
    pub port_from: Option<PathBuf>,
    /// A command that must exit 0 (tried until it does, or the time is up).
    #[serde(default)]
    pub run: Option<Command>,
    /// How long to keep trying, in seconds (a service that was just restarted may need some).
    #[serde(default = "default_health_timeout")]
    pub timeout: u64,
}

fn default_health_timeout() -> u64 {
    60
}

/// A secret of the appliance that must differ between machines: a password generated for the
/// seed (`@secret:NAME`), or one of the application's own keys.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretInfo {
    /// The secret's name: the seed's marker `@secret:NAME` names it; a name no marker uses is one
    /// of the application's own keys.
    pub name: String,
    /// What it opens or protects, for people (`the wiki's administrator`).
    pub opens: String,
    /// The root command that sets it anew on a running system: for a generated password, the
    /// new value comes on its standard input; an own key's command makes the key itself. The
    /// first boot of an image runs them (`va-seed renew`), so that no two machines made from one
    /// image share a secret.
    #[serde(default)]
    pub renew: Option<Command>,
    /// Files whose content derives from it (a password's hash, the key itself): they differ
    /// between any two builds of an image and are made anew at first boot.
    #[serde(default)]
    pub files: Vec<String>,
    /// The login that goes with it, if any.
    #[serde(default)]
    pub login: Option<String>,
    /// Where to use it; `{host}` stands for the system's host name.
    #[serde(default)]
    pub url: Option<String>,
}

/// What a setting's value may be.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// One line of printable text, at most 256 characters.
    #[default]
    Text,
    /// A whole number.
    Number,
    /// `true` or `false`.
    Boolean,
    /// A mail address.
    Email,
    /// A host name.
    Hostname,
    /// A secret of one line: only for action parameters. It is never shown, never put on a
    /// command line (every user may read those in `/proc`) and never in an error; the action's
    /// command reads it on its standard input.
    Password,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Setting {
    /// Its name in forms and requests (`site-name`).
    pub name: String,
    /// What the page calls it.
    pub label: String,
    #[serde(default)]
    pub help: Option<String>,
    #[serde(default)]
    pub kind: Kind,
    /// The Augeas lens that reads the file (`Shellvars.lns`).
    pub lens: String,
    /// The configuration file (absolute).
    pub file: String,
    /// The node under the file's tree (`MOIN_SITENAME`).
    pub path: String,
    /// Run after the value changed (a reload, say).
    #[serde(default)]
    pub after: Vec<Command>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Action {
    /// Its name in requests (`rebuild-index`).
    pub name: String,
    /// The button's label.
    pub label: String,
    #[serde(default)]
    pub help: Option<String>,
    /// Asked before it runs, when given.
    #[serde(default)]
    pub confirm: Option<String>,
    /// What the page asks for before it runs, every one required: the plain values follow
    /// `run` as arguments in this order, the passwords come on standard input, one a line.
    #[serde(default)]
    pub parameters: Vec<Parameter>,
    pub run: Command,
}

/// A name of a setting, an action or a plugin: `[a-z0-9][a-z0-9-]*`.
pub fn valid_name(name: &str) -> bool {
    name.len() <= 64
        && name
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

impl Kind {
    /// Whether `value` is one of this kind; the reason when not (which never repeats a
    /// password).
    pub fn check(self, value: &str) -> Result<(), String> {
        let one_line = value.chars().count() <= 256 && !value.chars().any(char::is_control);
        let sound = one_line
            && match self {
                Kind::Text => true,
                Kind::Password => !value.is_empty(),
                Kind::Number => !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()),
                Kind::Boolean => value == "true" || value == "false",
                Kind::Email => {
                    let parts: Vec<&str> = value.split('@').collect();
                    parts.len() == 2
                        && parts.iter().all(|p| !p.is_empty())
                        && !value.contains(char::is_whitespace)
                }
                Kind::Hostname => {
                    !value.is_empty()
                        && !value.starts_with(['-', '.'])
                        && value
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
                }
            };
        match (sound, self) {
            (true, _) => Ok(()),
            (false, Kind::Password) => Err(format!("the password is not a {}", self.noun())),
            (false, _) => Err(format!("`{value}` is not a valid {}", self.noun())),
        }
    }

    /// Its name in manifests (`email`).
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Text => "text",
            Kind::Number => "number",
            Kind::Boolean => "boolean",
            Kind::Email => "email",
            Kind::Hostname => "hostname",
            Kind::Password => "password",
        }
    }

    fn noun(self) -> &'static str {
        match self {
            Kind::Text => "line of text (at most 256 characters)",
            Kind::Number => "whole number",
            Kind::Boolean => "`true` or `false`",
            Kind::Email => "mail address",
            Kind::Hostname => "host name",
            Kind::Password => "line of 1 to 256 characters without control characters",
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct BackupPlan {
    /// Directories of application data (absolute).
    #[serde(default)]
    pub appdata: Vec<String>,
    /// Directories of system configuration (absolute).
    #[serde(default)]
    pub sysconf: Vec<String>,
    /// Run before a backup is made (a database dump into an appdata directory, say).
    #[serde(default)]
    pub before_backup: Vec<Command>,
    /// Run after a backup was made, whether it succeeded or not.
    #[serde(default)]
    pub after_backup: Vec<Command>,
    /// Services stopped while the restored data is swapped in, and started again afterwards.
    #[serde(default)]
    pub stop: Vec<String>,
    /// Run after the data is swapped in and before the services start (rebuild an index, say);
    /// if one fails, the previous data is put back.
    #[serde(default)]
    pub after_restore: Vec<Command>,
    /// Directories of older backups that this system keeps elsewhere now.
    #[serde(default)]
    pub moves: Vec<Move>,
    /// Conversions of data from older versions of the appliance, in the order they run.
    #[serde(default)]
    pub migrations: Vec<Migration>,
    /// Files (absolute, inside the directories above) that keep their set-user-ID or
    /// set-group-ID bit when restored; every other file loses it.
    #[serde(default)]
    pub keep_set_id: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Move {
    /// The directory as a backup names it (`/usr/share/moin/mywiki`).
    pub from: String,
    /// Where this system keeps that data now (`/var/lib/moin/wiki/data`).
    pub to: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Migration {
    /// Runs for backups of this appliance (default: the manifest's), e.g. `moinmoin` for the 2009
    /// prototype's backups.
    #[serde(default)]
    pub appliance: Option<String>,
    /// Runs for backups whose appliance version is lower than this (Debian version order).
    pub below: String,
    /// The command; it gets the backup's version and this system's as its last two arguments,
    /// and the staged directories in `APPLIANCE_STAGED` (`TARGET=STAGED` lines).
    pub run: Command,
}

#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("cannot read the plugin manifest `{}`", .path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the plugin manifest `{}` is not valid: {reason}", .path.display())]
    Invalid { path: PathBuf, reason: String },
    #[error("no plugin manifest `{name}` under `{}`", .dir.display())]
    NotFound { name: String, dir: PathBuf },
}

fn valid_unit(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('-')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"@._-:\\".contains(&b))
}

fn check_command(command: &Command) -> Result<(), String> {
    match command.first() {
        Some(program) if program.starts_with('/') && !program.contains("/../") => Ok(()),
        Some(program) => Err(format!(
            "the command `{program}` must be an absolute path (commands are not run through a shell)"
        )),
        None => Err("a command is empty".into()),
    }
}

impl Manifest {
    /// The setting named `name`.
    pub fn setting(&self, name: &str) -> Option<&Setting> {
        self.settings.iter().find(|s| s.name == name)
    }

    /// The action named `name`.
    pub fn action(&self, name: &str) -> Option<&Action> {
        self.actions.iter().find(|a| a.name == name)
    }

    pub fn parse(text: &str) -> Result<Self, String> {
        let manifest: Self = serde_saphyr::from_str(text).map_err(|e| e.to_string())?;
        manifest.check()?;
        Ok(manifest)
    }

    fn check(&self) -> Result<(), String> {
        if !crate::seed::registry::valid_package_name(&self.appliance) {
            return Err(format!("`{}` is not a package name", self.appliance));
        }
        self.check_secrets()?;
        self.check_health()?;
        for setting in &self.settings {
            if !valid_name(&setting.name) {
                return Err(format!("`{}` is not a setting name", setting.name));
            }
            if setting.kind == Kind::Password {
                return Err(format!(
                    "the setting `{}` cannot be a password: the page shows a setting's value \
                     (a password is an action's parameter)",
                    setting.name
                ));
            }
            root_in_archive(&setting.file).map_err(|e| e.to_string())?;
            let lens_sound = setting
                .lens
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.');
            if !lens_sound || setting.lens.is_empty() {
                return Err(format!("`{}` is not an Augeas lens name", setting.lens));
            }
            if setting.path.is_empty()
                || setting.path.contains("..")
                || setting.path.starts_with('/')
                || setting.path.contains(['[', ']', '*', '$', '\n'])
            {
                return Err(format!(
                    "`{}` is not a plain node path inside `{}`",
                    setting.path, setting.file
                ));
            }
            for command in &setting.after {
                check_command(command)?;
            }
        }
        for action in &self.actions {
            if !valid_name(&action.name) {
                return Err(format!("`{}` is not an action name", action.name));
            }
            if self
                .actions
                .iter()
                .filter(|a| a.name == action.name)
                .count()
                > 1
            {
                return Err(format!("the action `{}` is declared twice", action.name));
            }
            action.check_parameters()?;
            check_command(&action.run)?;
        }
        let Some(backup) = &self.backup else {
            return self.check_services(&[]);
        };
        let dir = |d: &String| root_in_archive(d).map_err(|e: PathError| e.to_string());
        for d in backup.appdata.iter().chain(&backup.sysconf) {
            dir(d)?;
        }
        for m in &backup.moves {
            dir(&m.from)?;
            let to = dir(&m.to)?;
            // A move says where a declared directory's older data comes from: its target must
            // be one of them, which also tells which tarball it is read from.
            if !backup
                .appdata
                .iter()
                .chain(&backup.sysconf)
                .any(|d| root_in_archive(d).is_ok_and(|d| d == to))
            {
                return Err(format!(
                    "the move to `{}` does not go to one of the backup's `appdata` or `sysconf` directories",
                    m.to
                ));
            }
        }
        for path in &backup.keep_set_id {
            dir(path)?;
        }
        for command in backup
            .before_backup
            .iter()
            .chain(&backup.after_backup)
            .chain(&backup.after_restore)
            .chain(backup.migrations.iter().map(|m| &m.run))
        {
            check_command(command)?;
        }
        for migration in &backup.migrations {
            if migration.below.is_empty() {
                return Err("a migration's `below` version is empty".into());
            }
        }
        self.check_services(&backup.stop)
    }

    /// The packages a safety backup guards and the health checks.
    fn check_health(&self) -> Result<(), String> {
        if let Some(bad) = self
            .packages
            .iter()
            .find(|p| !crate::seed::registry::valid_package_name(p))
        {
            return Err(format!("`{bad}` in `packages` is not a package name"));
        }
        for check in &self.health {
            if check.name.trim().is_empty() {
                return Err("a health check has no name".into());
            }
            match (&check.http, &check.run) {
                (Some(url), None) => {
                    crate::health::Url::parse(url)
                        .map_err(|e| format!("the health check `{}`: {e}", check.name))?;
                    if let Some(file) = &check.port_from
                        && (!file.is_absolute() || file.components().any(|c| c.as_os_str() == ".."))
                    {
                        return Err(format!(
                            "the health check `{}`: `port-from` {} is not an absolute path",
                            check.name,
                            file.display()
                        ));
                    }
                }
                (None, Some(command)) => {
                    check_command(command)?;
                    let field = match (&check.contains, &check.port_from) {
                        (Some(_), _) => Some("`contains` goes"),
                        (None, Some(_)) => Some("`port-from` goes"),
                        (None, None) => None,
                    };
                    if let Some(field) = field {
                        return Err(format!(
                            "the health check `{}`: {field} with `http`, not `run`",
                            check.name
                        ));
                    }
                }
                _ => {
                    return Err(format!(
                        "the health check `{}` needs one of `http` or `run`",
                        check.name
                    ));
                }
            }
            if check.timeout == 0 || check.timeout > 3600 {
                return Err(format!(
                    "the health check `{}`: a timeout of {} s (1 to 3600)",
                    check.name, check.timeout
                ));
            }
        }
        Ok(())
    }

    fn check_secrets(&self) -> Result<(), String> {
        for secret in &self.secrets {
            if !crate::secrets::valid_name(&secret.name) {
                return Err(format!("`{}` is not a secret name", secret.name));
            }
            if let Some(command) = &secret.renew {
                check_command(command)?;
            }
            for file in &secret.files {
                root_in_archive(file).map_err(|e| e.to_string())?;
            }
        }
        Ok(())
    }

    fn check_services(&self, stop: &[String]) -> Result<(), String> {
        match self.services.iter().chain(stop).find(|s| !valid_unit(s)) {
            Some(bad) => Err(format!("`{bad}` is not a systemd unit name")),
            None => Ok(()),
        }
    }

    /// Reads one manifest file.
    pub fn load(path: &Path) -> Result<Self, ManifestError> {
        let text = std::fs::read_to_string(path).map_err(|source| ManifestError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&text).map_err(|reason| ManifestError::Invalid {
            path: path.to_owned(),
            reason,
        })
    }

    /// The manifest named `name` (a file name without `.yaml`) under `root`'s plugin directory, or
    /// the file `name` itself when it is a path.
    pub fn find(root: &Path, name: &str) -> Result<(PathBuf, Self), ManifestError> {
        let path = if name.contains('/') {
            PathBuf::from(name)
        } else {
            let dir = root.join(PLUGIN_DIR);
            let path = dir.join(format!("{name}.yaml"));
            if !path.exists() {
                return Err(ManifestError::NotFound {
                    name: name.to_owned(),
                    dir,
                });
            }
            path
        };
        let manifest = Self::load(&path)?;
        Ok((path, manifest))
    }

    /// Every manifest under `root`'s plugin directory, sorted by file name; the first that
    /// cannot be read is the error.
    pub fn all(root: &Path) -> Result<Vec<(PathBuf, Self)>, ManifestError> {
        Self::each(root)?
            .into_iter()
            .map(|(path, manifest)| manifest.map(|m| (path, m)))
            .collect()
    }

    /// Every manifest under `root`'s plugin directory, sorted by file name, each one read or the
    /// reason it cannot be: one broken manifest does not hide the others.
    #[expect(
        clippy::type_complexity,
        reason = "a list of files, each with its own outcome"
    )]
    pub fn each(root: &Path) -> Result<Vec<(PathBuf, Result<Self, ManifestError>)>, ManifestError> {
        let dir = root.join(PLUGIN_DIR);
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => return Err(ManifestError::Read { path: dir, source }),
        };
        let mut paths = Vec::new();
        for entry in entries {
            let path = entry
                .map_err(|source| ManifestError::Read {
                    path: dir.clone(),
                    source,
                })?
                .path();
            if path.extension().is_some_and(|e| e == "yaml") {
                paths.push(path);
            }
        }
        paths.sort();
        Ok(paths
            .into_iter()
            .map(|path| {
                let manifest = Self::load(&path);
                (path, manifest)
            })
            .collect())
    }
}

impl BackupPlan {
    /// Whether this plan restores a backup of `appliance`: its own, or one a migration names.
    pub fn accepts(&self, own: &str, appliance: &str) -> bool {
        appliance == own
            || self
                .migrations
                .iter()
                .any(|m| m.appliance.as_deref() == Some(appliance))
    }

    /// The migrations a backup of `appliance` at `version` needs, in order.
    pub fn migrations_for<'a>(
        &'a self,
        own: &'a str,
        appliance: &'a str,
        version: &'a str,
    ) -> impl Iterator<Item = &'a Migration> + 'a {
        self.migrations.iter().filter(move |m| {
            m.appliance.as_deref().unwrap_or(own) == appliance
                && compare_versions(version, &m.below) == Ordering::Less
        })
    }

    /// The moves in the form a restore takes: archive root → absolute target.
    pub fn archive_moves(&self) -> Result<Vec<(String, String)>, PathError> {
        self.moves
            .iter()
            .map(|m| Ok((root_in_archive(&m.from)?, m.to.clone())))
            .collect()
    }

    /// The roots a backup may hold in the tarball of `dirs` (this plan's `appdata` or
    /// `sysconf`), in the form a restore takes: each directory at its place, and the older
    /// places the moves name for them (archive root → absolute target).
    pub fn declared_roots(&self, dirs: &[String]) -> Result<Vec<(String, String)>, PathError> {
        let mut roots = Vec::new();
        for dir in dirs {
            let archive = root_in_archive(dir)?;
            for m in &self.moves {
                if root_in_archive(&m.to)? == archive {
                    roots.push((root_in_archive(&m.from)?, m.to.clone()));
                }
            }
            roots.push((archive, dir.clone()));
        }
        Ok(roots)
    }
}

/// Debian version order (`0.1` < `1.9` < `2.0~b5` < `2.0`), as dpkg's `verrevcmp`: epoch, then
/// upstream version, then revision. Written out rather than asked of libapt-pkg, whose version
/// system is process-wide state that another thread may be initialising at the same time.
pub fn compare_versions(a: &str, b: &str) -> Ordering {
    let (epoch_a, upstream_a, revision_a) = split_version(a);
    let (epoch_b, upstream_b, revision_b) = split_version(b);
    epoch_a
        .cmp(&epoch_b)
        .then_with(|| compare_part(upstream_a.as_bytes(), upstream_b.as_bytes()))
        .then_with(|| compare_part(revision_a.as_bytes(), revision_b.as_bytes()))
}

fn split_version(version: &str) -> (u64, &str, &str) {
    let version = version.trim();
    let (epoch, rest) = match version.split_once(':') {
        Some((epoch, rest)) if epoch.bytes().all(|b| b.is_ascii_digit()) => {
            (epoch.parse().unwrap_or(u64::MAX), rest)
        }
        _ => (0, version),
    };
    match rest.rsplit_once('-') {
        Some((upstream, revision)) => (epoch, upstream, revision),
        None => (epoch, rest, ""),
    }
}

/// dpkg's order of a non-digit character: `~` before the end, the end before letters, letters
/// before everything else.
fn char_order(c: Option<u8>) -> i32 {
    match c {
        None => 0,
        Some(c) if c.is_ascii_digit() => 0,
        Some(c) if c.is_ascii_alphabetic() => i32::from(c),
        Some(b'~') => -1,
        Some(c) => i32::from(c) + 256,
    }
}

fn compare_part(a: &[u8], b: &[u8]) -> Ordering {
    let (mut i, mut j) = (0, 0);
    let digit = |s: &[u8], k: usize| s.get(k).is_some_and(u8::is_ascii_digit);
    while i < a.len() || j < b.len() {
        while (i < a.len() && !digit(a, i)) || (j < b.len() && !digit(b, j)) {
            let order = char_order(a.get(i).copied()).cmp(&char_order(b.get(j).copied()));
            if order != Ordering::Equal {
                return order;
            }
            i += 1;
            j += 1;
        }
        while a.get(i) == Some(&b'0') {
            i += 1;
        }
        while b.get(j) == Some(&b'0') {
            j += 1;
        }
        let mut first_difference = Ordering::Equal;
        while digit(a, i) && digit(b, j) {
            if first_difference == Ordering::Equal {
                first_difference = a[i].cmp(&b[j]);
            }
            i += 1;
            j += 1;
        }
        if digit(a, i) {
            return Ordering::Greater;
        }
        if digit(b, j) {
            return Ordering::Less;
        }
        if first_difference != Ordering::Equal {
            return first_difference;
        }
    }
    Ordering::Equal
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = include_str!("../doc/plugin-example.yaml");

    #[test]
    fn the_documented_example_parses() {
        let manifest = Manifest::parse(EXAMPLE).unwrap();
        assert_eq!(manifest.appliance, "moinmoin-appliance");
        let backup = manifest.backup.unwrap();
        assert_eq!(backup.appdata, ["/var/lib/moin/wiki/data"]);
        assert!(!backup.stop.is_empty() && !backup.after_restore.is_empty());
        assert_eq!(
            backup.archive_moves().unwrap(),
            [(
                "usr/share/moin/mywiki".to_owned(),
                "/var/lib/moin/wiki/data".to_owned()
            )]
        );
    }

    #[test]
    fn migrations_follow_debian_version_order_and_the_appliance_name() {
        let manifest = Manifest::parse(EXAMPLE).unwrap();
        let backup = manifest.backup.as_ref().unwrap();
        let own = manifest.appliance.as_str();
        let names = |appliance, version| {
            backup
                .migrations_for(own, appliance, version)
                .map(|m| m.run[0].clone())
                .collect::<Vec<_>>()
        };
        // The 2009 prototype's backups.
        assert_eq!(
            names("moinmoin", "0.1"),
            ["/usr/lib/appliance-control-moinmoin/import19"]
        );
        assert!(names("moinmoin", "2.0").is_empty());
        assert_eq!(
            names("moinmoin-appliance", "2.0~b4-1"),
            ["/usr/lib/appliance-control-moinmoin/migrate-b4"]
        );
        assert!(names("moinmoin-appliance", "2.0.0-1").is_empty());
        assert!(backup.accepts(own, "moinmoin") && backup.accepts(own, own));
        assert!(!backup.accepts(own, "dokuwiki-appliance"));
        assert_eq!(compare_versions("2.0~b5", "2.0"), Ordering::Less);
    }

    #[test]
    fn versions_compare_as_dpkg_compares_them() {
        let pairs = [
            ("1.0", "1.0"),
            ("1.0", "1.0-0"),
            ("1.0~rc1", "1.0"),
            ("1.0~~", "1.0~"),
            ("1.0a", "1.0"),
            ("1.0+b1", "1.0a"),
            ("1:0.1", "2.0"),
            ("2.0.0~b5-2", "2.0.0~b5-10"),
            ("0.10", "0.9"),
            ("007", "7"),
            ("1.2.3-1ubuntu1", "1.2.3-1"),
            ("9999", "2.0"),
            ("1.0-a", "1.0-+"),
        ];
        for (a, b) in pairs {
            for (x, y) in [(a, b), (b, a)] {
                let expected = ["lt", "eq", "gt"]
                    .into_iter()
                    .find(|op| {
                        crate::target::command("dpkg")
                            .args(["--compare-versions", x, op, y])
                            .status()
                            .is_ok_and(|s| s.success())
                    })
                    .unwrap();
                let got = match compare_versions(x, y) {
                    Ordering::Less => "lt",
                    Ordering::Equal => "eq",
                    Ordering::Greater => "gt",
                };
                assert_eq!(got, expected, "{x} vs {y}");
            }
        }
    }

    #[test]
    fn bad_manifests_are_refused_with_the_reason() {
        for (text, reason) in [
            ("appliance: xy\nservice: [a]\n", "unknown field"),
            ("appliance: 'Not A Package'\n", "package name"),
            (
                "appliance: xy\nbackup:\n  appdata: [relative]\n",
                "absolute",
            ),
            (
                "appliance: xy\nbackup:\n  before-backup: [[mysqldump, db]]\n",
                "absolute path",
            ),
            ("appliance: xy\nbackup:\n  stop: ['-x']\n", "unit name"),
            ("appliance: xy\nservices: ['a b']\n", "unit name"),
            ("appliance: xy\nbackup:\n  stpo: [a]\n", "unknown field"),
            (
                "appliance: xy\nbackup:\n  migrations: [{below: '1', run: []}]\n",
                "empty",
            ),
            (
                "appliance: xy\nbackup:\n  appdata: [/srv/x]\n  moves: [{from: /old, to: /etc}]\n",
                "does not go to one of",
            ),
            (
                "appliance: xy\nbackup:\n  appdata: [/srv/x]\n  keep-set-id: [srv/x/tool]\n",
                "absolute",
            ),
            (
                "appliance: xy\nactions: [{name: Bad, label: x, run: [/bin/true]}]\n",
                "action name",
            ),
            (
                "appliance: xy\nactions: [{name: go, label: x, run: [sh, -c, x]}]\n",
                "absolute path",
            ),
            (
                "appliance: xy\nsettings: [{name: a, label: A, lens: Shellvars.lns, file: /etc/x, path: '../y'}]\n",
                "plain node path",
            ),
            (
                "appliance: xy\nsettings: [{name: a, label: A, lens: 'x; rm', file: /etc/x, path: y}]\n",
                "lens name",
            ),
        ] {
            let error = Manifest::parse(text).unwrap_err();
            assert!(error.contains(reason), "{text}: {error}");
        }
    }

    #[test]
    fn setting_values_are_checked_by_kind() {
        for (kind, good, bad) in [
            (Kind::Text, "My wiki", "two\nlines"),
            (Kind::Number, "42", "4 2"),
            (Kind::Boolean, "true", "yes"),
            (Kind::Email, "wiki@example.org", "wiki at example"),
            (Kind::Hostname, "wiki.example.org", "wiki example"),
            (Kind::Password, "correct horse", ""),
            (Kind::Password, "correct horse", "pass\rword"),
        ] {
            assert!(kind.check(good).is_ok(), "{good}");
            assert!(kind.check(bad).is_err(), "{bad}");
        }
        let refusal = Kind::Password.check("hunter2\nx").unwrap_err();
        assert!(
            !refusal.contains("hunter2"),
            "a password is never repeated: {refusal}"
        );
        let manifest = Manifest::parse(EXAMPLE).unwrap();
        let setting = manifest.setting("site-name").unwrap();
        assert_eq!(setting.file, "/etc/moin/local.conf");
        assert_eq!(
            manifest.action("rebuild-index").unwrap().run[0],
            "/usr/bin/moin"
        );
        let reset = manifest.action("reset-password").unwrap();
        let kinds: Vec<&str> = reset.parameters.iter().map(|p| p.kind.as_str()).collect();
        assert_eq!(kinds, ["text", "password"]);
    }

    #[test]
    fn find_by_name_or_path_and_all() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join(PLUGIN_DIR);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("moinmoin.yaml"), EXAMPLE).unwrap();
        std::fs::write(dir.join("README"), "not a manifest").unwrap();
        let (path, manifest) = Manifest::find(root.path(), "moinmoin").unwrap();
        assert_eq!(path, dir.join("moinmoin.yaml"));
        assert_eq!(manifest.appliance, "moinmoin-appliance");
        assert!(Manifest::find(root.path(), &path.display().to_string()).is_ok());
        assert!(matches!(
            Manifest::find(root.path(), "dokuwiki"),
            Err(ManifestError::NotFound { .. })
        ));
        assert_eq!(Manifest::all(root.path()).unwrap().len(), 1);
        std::fs::write(dir.join("broken.yaml"), "appliance: [").unwrap();
        let error = Manifest::all(root.path()).unwrap_err().to_string();
        assert!(error.contains("broken.yaml"), "{error}");
        // Each one on its own: the broken one with its reason, the good one still read.
        let each = Manifest::each(root.path()).unwrap();
        assert_eq!(each.len(), 2);
        assert_eq!(each[0].0, dir.join("broken.yaml"));
        assert!(matches!(each[0].1, Err(ManifestError::Invalid { .. })));
        assert_eq!(each[1].1.as_ref().unwrap().appliance, "moinmoin-appliance");
    }
}
