//! Power: the declared services' states and restart, reboot and shutdown.

use axum::extract::State;
use axum::response::Response;
use minijinja::context;
use serde::Deserialize;

use super::{act, forget, page, services};
use crate::agent::power::{Restarted, Scheduled};
use crate::protocol::Request;
use crate::web::{CurrentSession, Shared};

pub async fn power(State(state): State<Shared>, session: CurrentSession) -> Response {
    page(
        &state,
        &session,
        "/power",
        "Power",
        "power.html",
        context! { services => services(&state) },
    )
}

#[derive(Deserialize)]
pub struct ServiceForm {
    service: String,
}

pub async fn restart(
    State(state): State<Shared>,
    session: CurrentSession,
    axum::Form(form): axum::Form<ServiceForm>,
) -> Response {
    forget(&state.cache.services);
    act(
        &state,
        &session,
        Request::Restart {
            service: form.service,
        },
        |restarted: Restarted| format!("Restarted {}", restarted.restarted),
        "/power",
    )
    .await
}

pub async fn reboot(State(state): State<Shared>, session: CurrentSession) -> Response {
    act(
        &state,
        &session,
        Request::Reboot,
        |_: Scheduled| "The appliance restarts now".into(),
        "/power",
    )
    .await
}

pub async fn poweroff(State(state): State<Shared>, session: CurrentSession) -> Response {
    act(
        &state,
        &session,
        Request::Poweroff,
        |_: Scheduled| "The appliance shuts down now".into(),
        "/power",
    )
    .await
}
