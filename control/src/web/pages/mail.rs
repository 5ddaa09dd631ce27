//! Mail: postfix's smarthost, and a test mail.

use axum::extract::State;
use axum::response::Response;
use minijinja::context;
use serde::Deserialize;

use super::{act, flash, page};
use crate::agent::mail::{Relayhost, Sent, Settings};
use crate::protocol::Request;
use crate::web::{CurrentSession, Shared, client};

pub async fn mail(State(state): State<Shared>, session: CurrentSession) -> Response {
    let settings = match client::ask(&state.config.agent, &Request::MailSettings).await {
        Ok(settings) => settings,
        Err(error) => {
            flash(&state, &session, "error", error);
            Settings::default()
        }
    };
    let mut settings = settings;
    if settings.port == 0 {
        settings.port = 587;
    }
    page(
        &state,
        &session,
        "/mail",
        "Mail",
        "mail.html",
        context! { mail => settings },
    )
}

#[derive(Deserialize)]
pub struct MailForm {
    host: String,
    port: u16,
    #[serde(default)]
    user: String,
    #[serde(default)]
    password: String,
}

pub async fn mail_save(
    State(state): State<Shared>,
    session: CurrentSession,
    axum::Form(form): axum::Form<MailForm>,
) -> Response {
    let password = (!form.password.is_empty()).then_some(form.password);
    act(
        &state,
        &session,
        Request::Smarthost {
            host: form.host.trim().to_owned(),
            port: form.port,
            user: form.user.trim().to_owned(),
            password,
        },
        |relayhost: Relayhost| format!("Mail goes through {}", relayhost.relayhost),
        "/mail",
    )
    .await
}

#[derive(Deserialize)]
pub struct TestForm {
    to: String,
}

pub async fn mail_test(
    State(state): State<Shared>,
    session: CurrentSession,
    axum::Form(form): axum::Form<TestForm>,
) -> Response {
    act(
        &state,
        &session,
        Request::TestMail {
            to: form.to.trim().to_owned(),
        },
        |sent: Sent| format!("A test mail went to {}", sent.sent),
        "/mail",
    )
    .await
}
