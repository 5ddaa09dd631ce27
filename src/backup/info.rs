//! `info.yaml`: what a backup holds. The original keys (`appliance`, `appdata.dirs`,
//! `sysconf.dirs`, `timestamp`, `version`) stay as they were; ours come after them.

use serde::{Deserialize, Serialize};

use super::paths::{PathError, root_in_archive};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Info {
    /// The appliance the backup was made on (`moinmoin-appliance`; `moinmoin` in 2009).
    pub appliance: String,
    /// Absolute directories of application data, in `appdata.tar.gz`.
    #[serde(rename = "appdata.dirs", default)]
    pub appdata_dirs: Vec<String>,
    /// Absolute directories of system configuration, in `sysconfig.tar.gz`.
    #[serde(rename = "sysconf.dirs", default)]
    pub sysconf_dirs: Vec<String>,
    /// When the backup was made, RFC 3339 in UTC.
    pub timestamp: String,
    /// The appliance's version.
    pub version: String,
    /// The appliance package's version (Debian version), where known.
    #[serde(
        rename = "package-version",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub package_version: Option<String>,
    /// The plugin that made the backup, where one did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plugin: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum InfoError {
    #[error("`info.yaml` is not valid: {0}")]
    Yaml(String),
    #[error("`info.yaml` names a directory that is not absolute or climbs out: {0}")]
    Directory(#[from] PathError),
}

impl Info {
    pub fn parse(text: &str) -> Result<Self, InfoError> {
        let info: Self =
            serde_saphyr::from_str(text).map_err(|error| InfoError::Yaml(error.to_string()))?;
        info.appdata_roots()?;
        info.sysconf_roots()?;
        Ok(info)
    }

    pub fn to_yaml(&self) -> Result<String, InfoError> {
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
mod tests {
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
        assert!(
            text.contains("appdata.dirs:") && text.contains("sysconf.dirs:"),
            "{text}"
        );
        assert_eq!(Info::parse(&text).unwrap(), info);
        // The 2009 prototype's file.
        let old = Info::parse("appliance: moinmoin\nappdata.dirs: [/usr/share/moin/mywiki]\nsysconf.dirs: [/etc/moin]\ntimestamp: '2009-06-01 12:00:00'\nversion: '0.1'\n").unwrap();
        assert_eq!(old.appdata_roots().unwrap(), ["usr/share/moin/mywiki"]);
    }

    #[test]
    fn bad_info_is_refused() {
        for text in [
            "not: [yaml",
            "appliance: x\nappdata.dirs: [relative/dir]\ntimestamp: t\nversion: '1'\n",
            "appliance: x\nsysconf.dirs: [/etc/../root]\ntimestamp: t\nversion: '1'\n",
            "appliance: x\nappliance: y\ntimestamp: t\nversion: '1'\n",
        ] {
            assert!(Info::parse(text).is_err(), "{text}");
        }
    }
}
