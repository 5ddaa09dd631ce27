//! Updates: APT's package lists refreshed, the upgrade, and dpkg's interrupted work finished,
//! each started as a job of its own ([`crate::jobs`]); and what an upgrade would change.

use serde::{Deserialize, Serialize};

use super::{Agent, Answer, ok};
use crate::jobs::{self, Kind};
use crate::protocol::Request;
use crate::unattended;

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

/// The last safety backup, which the Updates page offers to roll back to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastSafety {
    pub backup: String,
    pub appliance: String,
    pub made: String,
    pub rolled_back: Option<String>,
}

/// The answer to `history`: the newest transactions first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct History {
    pub transactions: Vec<unattended::Transaction>,
    pub last_safety_backup: Option<LastSafety>,
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
            Request::Rollback => self.rollback(),
            Request::ReleaseCheck => ok(&Started {
                job: jobs::start(root, self.system, Kind::ReleaseCheck)?,
            }),
            Request::ReleaseUpgrade => ok(&Started {
                job: jobs::start(root, self.system, Kind::ReleaseUpgrade)?,
            }),
            Request::Unattended {
                enable,
                all_updates,
                time,
                reboot,
            } => self.set_unattended(&unattended::Settings {
                enabled: *enable,
                all_updates: *all_updates,
                time: time.clone(),
                reboot: *reboot,
            }),
            Request::UnattendedState => ok(&self.unattended_state()?),
            Request::History => self.history(),
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

    /// Starts the rollback job, when there is a transaction to roll back (said now, not at the
    /// end of a job).
    fn rollback(&self) -> Result<Answer, String> {
        appliance::backup::safety::to_roll_back(&self.root)
            .map_err(|e| appliance::error_chain(&e))?;
        ok(&Started {
            job: jobs::start(&self.root, self.system, Kind::Rollback)?,
        })
    }

    /// Writes unattended-upgrades' settings (APT's configuration, the timer's drop-in) and has
    /// the timer take its new time.
    fn set_unattended(&self, settings: &unattended::Settings) -> Result<Answer, String> {
        if settings.enabled && !unattended::installed(&self.root) {
            return Err(
                "unattended-upgrades is not installed (apt-get install unattended-upgrades)".into(),
            );
        }
        let write = |relative: &str, text: String| {
            let path = self.root.join(relative);
            path.parent()
                .map_or(Ok(()), std::fs::create_dir_all)
                .and_then(|()| appliance::atomic::write(&path, text.as_bytes(), 0o644))
                .map_err(|e| format!("cannot write {}: {e}", path.display()))
        };
        write(unattended::CONFIG, unattended::config_text(settings))?;
        write(
            unattended::TIMER_DROPIN,
            unattended::timer_text(&settings.time),
        )?;
        self.system.run("systemctl", &["daemon-reload"])?;
        // The timer (Debian's, enabled by default) computes its next run again.
        self.system
            .run("systemctl", &["restart", "apt-daily-upgrade.timer"])?;
        ok(&self.unattended_state()?)
    }

    /// APT's last transactions with their safety backups, and the last safety backup.
    fn history(&self) -> Result<Answer, String> {
        let transactions = unattended::read_history(&self.root)
            .map_err(|error| format!("cannot read APT's history: {error}"))?;
        let records = appliance::backup::safety::list(&self.root)
            .map_err(|e| format!("cannot read the safety backups: {e}"))?;
        let last = records.last().map(|(_, r)| LastSafety {
            backup: r.backup.clone(),
            appliance: r.appliance.clone(),
            made: r.made.clone(),
            rolled_back: r.rolled_back.clone(),
        });
        ok(&History {
            transactions: unattended::history(transactions, &records, unattended::HISTORY_SHOWN),
            last_safety_backup: last,
        })
    }

    /// unattended-upgrades' settings as APT reads them (`apt-config dump`, the package's files
    /// and ours) and the timer's drop-in.
    fn unattended_state(&self) -> Result<unattended::State, String> {
        let dump = self.system.run("apt-config", &["dump"])?;
        let dropin = std::fs::read_to_string(self.root.join(unattended::TIMER_DROPIN)).ok();
        Ok(unattended::State {
            installed: unattended::installed(&self.root),
            settings: unattended::settings_from(&dump, dropin.as_deref()),
        })
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
