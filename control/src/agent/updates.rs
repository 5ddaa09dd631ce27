//! Updates: APT's package lists refreshed, the upgrade, and dpkg's interrupted work finished,
//! each started as a job of its own ([`crate::jobs`]); and what an upgrade would change.

use serde::{Deserialize, Serialize};

use super::{Agent, Answer, ok};
use crate::jobs::{self, Kind};
use crate::protocol::Request;

/// The answer to `refresh`, `upgrade` and `configure-pending`: the job started.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Started {
    pub job: String,
}

/// The answer to `safety-backups`: whether they are on now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SafetyBackups {
    pub enabled: bool,
}

/// The APT configuration file that turns safety backups off, relative to the root; without it
/// they are on (the hook's default).
pub const SAFETY_BACKUPS_OFF: &str = "etc/apt/apt.conf.d/50appliance-safety-backups";

/// Whether the safety backups are on under `root` (the web side reads it too: the file is
/// world-readable, as APT's configuration is).
pub fn safety_backups_enabled(root: &std::path::Path) -> bool {
    !root.join(SAFETY_BACKUPS_OFF).exists()
}

/// The answer to `upgrades`: the packages an upgrade would change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Upgrades {
    pub packages: Vec<jobs::Upgrade>,
}

impl Agent<'_> {
    /// The update requests.
    pub(super) fn updates(&self, request: &Request) -> Result<Answer, String> {
        let root = &self.root;
        match request {
            Request::Refresh => ok(&Started {
                job: jobs::start(root, self.system, Kind::Refresh)?,
            }),
            Request::Upgrade => ok(&Started {
                job: jobs::start(root, self.system, Kind::Upgrade)?,
            }),
            Request::ConfigurePending => ok(&Started {
                job: jobs::start(root, self.system, Kind::ConfigurePending)?,
            }),
            Request::Upgrades => {
                let simulated = self.system.run(
                    "apt-get",
                    &["--simulate", "-q", "upgrade", "--with-new-pkgs"],
                )?;
                ok(&Upgrades {
                    packages: jobs::parse_simulation(&simulated),
                })
            }
            Request::SafetyBackups { enable } => {
                let path = root.join(SAFETY_BACKUPS_OFF);
                let done = if *enable {
                    match std::fs::remove_file(&path) {
                        Err(error) if error.kind() != std::io::ErrorKind::NotFound => Err(error),
                        _ => Ok(()),
                    }
                } else {
                    appliance::atomic::write(
                        &path,
                        format!(
                            "// Written by appliance-control (Updates page): no safety backup before\n\
                             // a transaction changes the appliance. Remove this file to have them again.\n\
                             {} \"false\";\n",
                            appliance::backup::safety::ENABLED
                        )
                        .as_bytes(),
                        0o644,
                    )
                };
                done.map_err(|e| format!("cannot change {}: {e}", path.display()))?;
                ok(&SafetyBackups {
                    enabled: safety_backups_enabled(root),
                })
            }
            _ => Err("not an update request".into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::assert_wire;

    #[test]
    fn answers_keep_their_keys() {
        assert_wire(
            &Started {
                job: "upgrade-1764474000".into(),
            },
            r#"{"job":"upgrade-1764474000"}"#,
        );
        assert_wire(
            &Upgrades {
                packages: vec![jobs::Upgrade {
                    name: "moin".into(),
                    old: None,
                    new: "2.0.1-1".into(),
                }],
            },
            r#"{"packages":[{"name":"moin","old":null,"new":"2.0.1-1"}]}"#,
        );
    }
}
