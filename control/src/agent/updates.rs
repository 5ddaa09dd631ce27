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
