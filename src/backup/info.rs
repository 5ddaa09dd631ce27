//! `info.yaml`: what a backup holds, in the original layout (the README's "Backups: the format and what a restore checks"): the
//! directories nested as `appdata: {dirs: [...]}` and `sysconf: {dirs: [...]}`, then `appliance`,
//! `timestamp` and `version`; ours (`package-version`, `plugin`) come after them. Version 2
//! backups were written for a while with flat keys named `appdata.dirs` and `sysconf.dirs`: they
//! are still read, never written.

use serde::{Deserialize, Serialize};

use super::paths::{PathError, root_in_archive};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "Layout", into = "Layout")]
pub struct Info {
    /// The appliance the backup was made on (`moinmoin-appliance`; `moinmoin` in 2009).
    pub appliance: String,
    /// Absolute directories of application data, in `appdata.tar.gz`.
    pub appdata_dirs: Vec<String>,
    /// Absolute directories of system configuration, in `sysconfig.tar.gz`.
    pub sysconf_dirs: Vec<String>,
    /// When the backup was made, RFC 3339 in UTC.
    pub timestamp: String,
    /// The appliance's version.
    pub version: String,
    /// The appliance package's version (Debian version), where known.
    pub package_version: Option<String>,
    /// The plugin that made the backup, where one did.
    pub plugin: Option<String>,
}

/// `dirs:` under `appdata:` or `sysconf:`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Dirs {
    #[serde(default)]
    dirs: Vec<String>,
}

/// The file as it is written: the original's nested keys, the flat keys only read.
#[derive(Serialize, Deserialize)]
struct Layout {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    appdata: Option<Dirs>,
    appliance: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sysconf: Option<Dirs>,
    timestamp: String,
    version: String,
    #[serde(
        rename = "package-version",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    package_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    plugin: Option<String>,
    #[serde(rename = "appdata.dirs", default, skip_serializing)]
    flat_appdata: Option<Vec<String>>,
    #[serde(rename = "sysconf.dirs", default, skip_serializing)]
    flat_sysconf: Option<Vec<String>>,
}

/// One list of directories from the nested or the flat key, never both.
fn one_of(
    nested: Option<Dirs>,
    flat: Option<Vec<String>>,
    key: &str,
) -> Result<Vec<String>, String> {
    match (nested, flat) {
        (Some(_), Some(_)) => Err(format!(
            "it names its {key} directories both as `{key}: {{dirs: ...}}` and as `{key}.dirs`"
        )),
        (Some(nested), None) => Ok(nested.dirs),
        (None, flat) => Ok(flat.unwrap_or_default()),
    }
}

impl TryFrom<Layout> for Info {
    type Error = String;

    fn try_from(layout: Layout) -> Result<Self, String> {
        Ok(Self {
            appdata_dirs: one_of(layout.appdata, layout.flat_appdata, "appdata")?,
            sysconf_dirs: one_of(layout.sysconf, layout.flat_sysconf, "sysconf")?,
            appliance: layout.appliance,
            timestamp: layout.timestamp,
            version: layout.version,
            package_version: layout.package_version,
            plugin: layout.plugin,
        })
    }
}

impl From<Info> for Layout {
    fn from(info: Info) -> Self {
        let dirs = |dirs: Vec<String>| (!dirs.is_empty()).then_some(Dirs { dirs });
        Self {
            appdata: dirs(info.appdata_dirs),
            appliance: info.appliance,
            sysconf: dirs(info.sysconf_dirs),
            timestamp: info.timestamp,
            version: info.version,
            package_version: info.package_version,
            plugin: info.plugin,
            flat_appdata: None,
            flat_sysconf: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum InfoError {
    #[error("`info.yaml` is not valid: {0}")]
    Yaml(String),
    #[error("`info.yaml` names a directory that is not absolute or climbs out: {0}")]
    Directory(#[from] PathError),
    #[error(
        "`info.yaml` names no directory (neither `appdata: {{dirs: [...]}}` nor `sysconf: {{dirs: [...]}}`): nothing to restore"
    )]
    NoDirectories,
    #[error("`info.yaml` has a `{key}` that is not {expected}: {value:?}")]
    Field {
        key: &'static str,
        value: String,
        expected: &'static str,
    },
}

/// The longest value a text field of `info.yaml` may hold.
const FIELD_LENGTH: usize = 128;

/// A version as Debian Policy 5.6.12 writes one (`1.9.9-1+deb12u1`, `1:2.0`, `0.1`): it reaches
/// a migration's command line as an argument, so never an option (`-x`) nor a control character.
fn valid_version(version: &str) -> bool {
    version.len() <= FIELD_LENGTH
        && version
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphanumeric())
        && version
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'+' | b'~' | b':' | b'-'))
}

/// A timestamp as shown to the administrator: printable, no escape that a terminal would obey.
fn valid_timestamp(timestamp: &str) -> bool {
    !timestamp.is_empty()
        && timestamp.len() <= FIELD_LENGTH
        && timestamp.bytes().all(|b| b == b' ' || b.is_ascii_graphic())
}

impl Info {
    pub fn parse(text: &str) -> Result<Self, InfoError> {
        let info: Self =
            serde_saphyr::from_str(text).map_err(|error| InfoError::Yaml(error.to_string()))?;
        info.appdata_roots()?;
        info.sysconf_roots()?;
        if info.appdata_dirs.is_empty() && info.sysconf_dirs.is_empty() {
            return Err(InfoError::NoDirectories);
        }
        info.check_fields()?;
        Ok(info)
    }

    /// The text fields of a backup, which may come from anywhere, are what they say they are:
    /// they choose migrations, reach their command lines and are shown on terminals and pages.
    fn check_fields(&self) -> Result<(), InfoError> {
        let field = |key, value: &str, valid: bool, expected| {
            if valid {
                Ok(())
            } else {
                Err(InfoError::Field {
                    key,
                    value: value.chars().take(FIELD_LENGTH).collect(),
                    expected,
                })
            }
        };
        field(
            "appliance",
            &self.appliance,
            crate::seed::registry::valid_package_name(&self.appliance),
            "a Debian package name",
        )?;
        field(
            "version",
            &self.version,
            valid_version(&self.version),
            "a version (letters, digits and `.+~:-`, starting with a letter or a digit)",
        )?;
        if let Some(version) = &self.package_version {
            field(
                "package-version",
                version,
                valid_version(version),
                "a Debian version",
            )?;
        }
        field(
            "timestamp",
            &self.timestamp,
            valid_timestamp(&self.timestamp),
            "a printable date",
        )?;
        if let Some(plugin) = &self.plugin {
            field(
                "plugin",
                plugin,
                crate::plugin::valid_name(plugin),
                "a plugin name",
            )?;
        }
        Ok(())
    }

    /// The file's text; a backup is never written with fields its reader would refuse.
    pub fn to_yaml(&self) -> Result<String, InfoError> {
        self.check_fields()?;
        serde_saphyr::to_string(self).map_err(|error| InfoError::Yaml(error.to_string()))
    }

    /// The appdata directories in archive form (`var/lib/moin/wiki/data`).
    pub fn appdata_roots(&self) -> Result<Vec<String>, PathError> {
        self.appdata_dirs
            .iter()
            .map(|d| root_in_archive(d))
            .collect()
    }

    /// The sysconf directories in archive form (`etc/moin`).
    pub fn sysconf_roots(&self) -> Result<Vec<String>, PathError> {
        self.sysconf_dirs
            .iter()
            .map(|d| root_in_archive(d))
            .collect()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    #[test]
    fn round_trip_and_original_keys() {
        let info = Info {
            appliance: "moinmoin-appliance".into(),
            appdata_dirs: vec!["/var/lib/moin/wiki/data".into()],
            sysconf_dirs: vec!["/etc/moin".into()],
            timestamp: "2026-11-26T02:40:00Z".into(),
            version: "2.0".into(),
            package_version: Some("2.0-1".into()),
            plugin: None,
        };
        let text = info.to_yaml().unwrap();
        // The nested form of the original format, never the flat keys.
        assert!(
            text.contains("appdata:\n  dirs:\n  - /var/lib/moin/wiki/data\n")
                && text.contains("sysconf:\n  dirs:\n  - /etc/moin\n"),
            "{text}"
        );
        assert!(!text.contains("appdata.dirs"), "{text}");
        assert_eq!(Info::parse(&text).unwrap(), info);
    }

    /// The 2009 prototype's file, exactly as the original design shows it.
    pub const ORIGINAL: &str = "appdata:\n  dirs:\n  - /usr/share/moin/mywiki\nappliance: moinmoin\nsysconf:\n  dirs:\n  - /etc/moin\ntimestamp: '2009-10-31 20:12:33'\nversion: '0.1'\n";

    #[test]
    fn the_original_nested_layout_and_the_flat_keys_of_version_2_read() {
        let old = Info::parse(ORIGINAL).unwrap();
        assert_eq!(old.appdata_roots().unwrap(), ["usr/share/moin/mywiki"]);
        assert_eq!(old.sysconf_roots().unwrap(), ["etc/moin"]);
        assert_eq!(old.appliance, "moinmoin");
        // Version 2 backups written before the nested form came back.
        let flat = Info::parse("appliance: moinmoin-appliance\nappdata.dirs: [/var/lib/moin/wiki/data]\nsysconf.dirs: [/etc/moin]\ntimestamp: '2026-11-26T02:40:00Z'\nversion: '2.0'\n").unwrap();
        assert_eq!(flat.appdata_roots().unwrap(), ["var/lib/moin/wiki/data"]);
        assert_eq!(flat.sysconf_roots().unwrap(), ["etc/moin"]);
        // Application data only.
        let appdata =
            Info::parse("appliance: xy\nappdata:\n  dirs: [/srv/x]\ntimestamp: t\nversion: '1'\n")
                .unwrap();
        assert!(appdata.sysconf_dirs.is_empty());
    }

    #[test]
    fn bad_info_is_refused() {
        for text in [
            "not: [yaml",
            "appliance: x\nappdata.dirs: [relative/dir]\ntimestamp: t\nversion: '1'\n",
            "appliance: x\nsysconf.dirs: [/etc/../root]\ntimestamp: t\nversion: '1'\n",
            "appliance: x\nappliance: y\ntimestamp: t\nversion: '1'\n",
            "appliance: x\nappdata:\n  dirs: [relative]\ntimestamp: t\nversion: '1'\n",
            "appliance: x\nsysconf:\n  dirs: [/etc/../root]\ntimestamp: t\nversion: '1'\n",
        ] {
            assert!(Info::parse(text).is_err(), "{text}");
        }
        for (text, reason) in [
            // A value from a backup reaches a root migration's command line and the terminal.
            (
                "appliance: wiki\nappdata:\n  dirs: [/a]\ntimestamp: t\nversion: '--force'\n",
                "`version`",
            ),
            (
                "appliance: wiki\nappdata:\n  dirs: [/a]\ntimestamp: t\nversion: \"1\\n2\"\n",
                "`version`",
            ),
            (
                "appliance: wiki\nappdata:\n  dirs: [/a]\ntimestamp: \"\\e]0;owned\\a\"\nversion: '1'\n",
                "`timestamp`",
            ),
            (
                "appliance: ../../etc\nappdata:\n  dirs: [/a]\ntimestamp: t\nversion: '1'\n",
                "`appliance`",
            ),
            (
                "appliance: wiki\nappdata:\n  dirs: [/a]\ntimestamp: t\nversion: '1'\npackage-version: '-1'\n",
                "`package-version`",
            ),
            (
                "appliance: wiki\nappdata:\n  dirs: [/a]\ntimestamp: t\nversion: '1'\nplugin: ../x\n",
                "`plugin`",
            ),
            (
                "appliance: x\ntimestamp: t\nversion: '1'\n",
                "names no directory",
            ),
            (
                "appliance: x\nappdata:\n  dirs: []\nsysconf: {}\ntimestamp: t\nversion: '1'\n",
                "names no directory",
            ),
            (
                "appliance: x\nappdata:\n  dirs: [/a]\nappdata.dirs: [/b]\ntimestamp: t\nversion: '1'\n",
                "both",
            ),
        ] {
            let error = Info::parse(text).unwrap_err().to_string();
            assert!(error.contains(reason), "{text}: {error}");
        }
    }
}
