//! Mail: postfix's smarthost and its settings (through Augeas, [`crate::mail`]), and a test
//! mail.

use serde_json::json;

use super::{Agent, Answer};
use crate::protocol::{Request, Response};

impl Agent<'_> {
    /// The mail requests.
    pub(super) fn mail(&self, request: &Request) -> Result<Answer, String> {
        let root = &self.root;
        let ok = |data| Ok(Response::ok(data).into());
        match request {
            Request::AugeasSet { path, value } => {
                crate::mail::set(root, path, value)?;
                ok(json!({ "set": path }))
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
                ok(json!({ "relayhost": format!("[{host}]:{port}") }))
            }
            Request::MailSettings => ok(json!(crate::mail::settings(root)?)),
            Request::TestMail { to } => {
                let hostname = nix::unistd::gethostname()
                    .map(|h| h.to_string_lossy().into_owned())
                    .unwrap_or_default();
                crate::mail::test_mail(to, &hostname)?;
                ok(json!({ "sent": to }))
            }
            _ => Err("not a mail request".into()),
        }
    }
}
