//! The overview: the system at a glance, the services the plugins declare, the last health check,
//! what waits to be upgraded and the newest backup.

use std::time::{Duration, Instant};

use axum::extract::State;
use axum::response::Response;
use minijinja::context;

use super::{cached, page, services};
use crate::agent::backups::List;
use crate::jobs;
use crate::protocol::Request;
use crate::sysinfo;
use crate::web::{CurrentSession, Shared, client};

pub async fn overview(State(state): State<Shared>, session: CurrentSession) -> Response {
    let root = state.config.root.clone();
    let info = cached(&state.cache.system, Duration::from_secs(2), || {
        sysinfo::read(&root)
    });
    let last_backup = match state.cache.last_backup.lock().ok().and_then(|g| g.clone()) {
        Some((when, value)) if when.elapsed() < Duration::from_secs(30) => value,
        _ => {
            let value = client::ask::<List>(&state.config.agent, &Request::BackupList)
                .await
                .ok()
                .and_then(|list| list.backups.into_iter().filter_map(|b| b.timestamp).max());
            if let Ok(mut guard) = state.cache.last_backup.lock() {
                *guard = Some((Instant::now(), value.clone()));
            }
            value
        }
    };
    let pending = jobs::pending(&root).map(|p| p.len());
    page(
        &state,
        &session,
        "/",
        "Overview",
        "overview.html",
        context! {
            info => info,
            services => services(&state),
            pending => pending,
            last_backup => last_backup,
            dpkg_interrupted => jobs::dpkg_interrupted(&root),
            health => appliance::health::all(&root),
        },
    )
}
