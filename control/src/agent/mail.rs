//! Mail: postfix's smarthost and its settings (through Augeas, [`crate::mail`]), and a test
//! mail.

use serde::{Deserialize, Serialize};

use super::{Agent, Answer, ok};
use crate::protocol::Request;

/// The answer to `augeas-set`: the path set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Set {
    pub set: String,
}

/// The answer to `smarthost`: postfix's `relayhost` now, `[HOST]:PORT`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Relayhost {
    pub relayhost: String,
}

/// The answer to `test-mail`: the address the mail went to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sent {
    pub sent: String,
}

/// The answer to `mail-settings`.
pub use crate::mail::Settings;

impl Agent<'_> {
    /// The mail requests.
    pub(super) fn mail(&self, request: &Request) -> Result<Answer, String> {
        let root = &self.root;
        match request {
            Request::AugeasSet { path, value } => {
                crate::mail::set(root, path, value)?;
                ok(&Set { set: path.clone() })
            }
            Request::Smarthost {
                host,
                port,
                user,
                password,
            } => {
                crate::mail::set_smarthost(
                    root,
                    &crate::mail::Smarthost {
                        host: host.clone(),
                        port: *port,
                        user: user.clone(),
                        password: password.clone(),
                    },
                )?;
                ok(&Relayhost {
                    relayhost: format!("[{host}]:{port}"),
                })
            }
            Request::MailSettings => ok(&crate::mail::settings(root)?),
            Request::TestMail { to } => {
                let hostname = nix::unistd::gethostname()
                    .map(|h| h.to_string_lossy().into_owned())
                    .unwrap_or_default();
                crate::mail::test_mail(to, &hostname)?;
                ok(&Sent { sent: to.clone() })
            }
            _ => Err("not a mail request".into()),
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
            &Set {
                set: "/files/etc/postfix/main.cf/relayhost".into(),
            },
            r#"{"set":"/files/etc/postfix/main.cf/relayhost"}"#,
        );
        assert_wire(
            &Relayhost {
                relayhost: "[smtp.example.org]:587".into(),
            },
            r#"{"relayhost":"[smtp.example.org]:587"}"#,
        );
        assert_wire(
            &Sent {
                sent: "root@example.org".into(),
            },
            r#"{"sent":"root@example.org"}"#,
        );
        assert_wire(
            &Settings {
                host: "smtp.example.org".into(),
                port: 587,
                user: "wiki".into(),
                has_password: true,
            },
            r#"{"host":"smtp.example.org","port":587,"user":"wiki","has_password":true}"#,
        );
    }
}
