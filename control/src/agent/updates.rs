//! Updates: APT's package lists refreshed, the upgrade, and dpkg's interrupted work finished,
//! each started as a job of its own ([`crate::jobs`]); and what an upgrade would change.

use serde_json::json;

use super::{Agent, Answer};
use crate::jobs::{self, Kind};
use crate::protocol::{Request, Response};

impl Agent<'_> {
    /// The update requests.
    pub(super) fn updates(&self, request: &Request) -> Result<Answer, String> {
        let root = &self.root;
        let ok = |data| Ok(Response::ok(data).into());
        match request {
            Request::Refresh => {
                ok(json!({ "job": jobs::start(root, self.system, Kind::Refresh)? }))
            }
            Request::Upgrade => {
                ok(json!({ "job": jobs::start(root, self.system, Kind::Upgrade)? }))
            }
            Request::ConfigurePending => ok(json!({
                "job": jobs::start(root, self.system, Kind::ConfigurePending)?
            })),
            Request::Upgrades => {
                let simulated = self.system.run(
                    "apt-get",
                    &["--simulate", "-q", "upgrade", "--with-new-pkgs"],
                )?;
                ok(json!({ "packages": jobs::parse_simulation(&simulated) }))
            }
            _ => Err("not an update request".into()),
        }
    }
}
