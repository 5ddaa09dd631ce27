//! Power: a service the plugins declare restarted, the appliance rebooted or shut down.

use appliance::plugin::Manifest;
use serde::{Deserialize, Serialize};

use super::{Agent, Answer, ok};
use crate::protocol::Request;

/// The answer to `restart`: the service restarted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Restarted {
    pub restarted: String,
}

/// The answer to `reboot` and `poweroff`: `reboot` or `poweroff`, due in a moment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Scheduled {
    pub scheduled: String,
}

impl Agent<'_> {
    /// The power requests.
    pub(super) fn power(&self, request: &Request) -> Result<Answer, String> {
        match request {
            Request::Restart { service } => {
                self.declared(service)?;
                self.system.run("systemctl", &["restart", "--", service])?;
                ok(&Restarted {
                    restarted: service.clone(),
                })
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
                ok(&Scheduled {
                    scheduled: verb.to_owned(),
                })
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::assert_wire;

    #[test]
    fn answers_keep_their_keys() {
        assert_wire(
            &Restarted {
                restarted: "apache2".into(),
            },
            r#"{"restarted":"apache2"}"#,
        );
        assert_wire(
            &Scheduled {
                scheduled: "poweroff".into(),
            },
            r#"{"scheduled":"poweroff"}"#,
        );
    }
}
