//! Power: a service the plugins declare restarted, the appliance rebooted or shut down.

use appliance::plugin::Manifest;
use serde_json::json;

use super::{Agent, Answer};
use crate::protocol::{Request, Response};

impl Agent<'_> {
    /// The power requests.
    pub(super) fn power(&self, request: &Request) -> Result<Answer, String> {
        let ok = |data| Ok(Response::ok(data).into());
        match request {
            Request::Restart { service } => {
                self.declared(service)?;
                self.system.run("systemctl", &["restart", "--", service])?;
                ok(json!({ "restarted": service }))
            }
            Request::Reboot | Request::Poweroff => {
                let verb = if *request == Request::Reboot {
                    "reboot"
                } else {
                    "poweroff"
                };
                // A moment later, so that this answer reaches the page first.
                self.system.run(
                    "systemd-run",
                    &[
                        "--on-active=2",
                        "--timer-property=AccuracySec=100ms",
                        "systemctl",
                        verb,
                    ],
                )?;
                ok(json!({ "scheduled": verb }))
            }
            _ => Err("not a power request".into()),
        }
    }

    /// A service some root-owned plugin manifest declares.
    fn declared(&self, service: &str) -> Result<(), String> {
        // A manifest that cannot be read declares nothing, and hides nothing another declares.
        let manifests = Manifest::each(&self.root).map_err(|e| appliance::error_chain(&e))?;
        if manifests
            .iter()
            .filter_map(|(_, m)| m.as_ref().ok())
            .any(|m| m.services.iter().any(|s| s == service))
        {
            Ok(())
        } else {
            Err(format!("no plugin declares the service `{service}`"))
        }
    }
}
