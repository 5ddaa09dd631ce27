//! The pages: overview, updates (with live progress as server-sent events), backups, mail, power
//! and the plugins' own, each in its module. Each POST does one thing through the agent and
//! redirects back with a message (post/redirect/get), so a reload never repeats it. This module
//! holds what they share: the frame every page is drawn in, its caches and messages.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::response::{IntoResponse, Redirect, Response};
use minijinja::{Value, context};
use serde::de::DeserializeOwned;

use super::{CurrentSession, Shared, client};
use crate::protocol::Request;
use crate::sysinfo::{self, ServiceState, SystemInfo};

mod backups;
mod mail;
mod overview;
mod plugins;
mod power;
mod updates;

pub use backups::{
    backup_create, backup_delete, backup_download, backup_restore, backup_schedule, backup_upload,
    backups,
};
pub use mail::{mail, mail_save, mail_test};
pub use overview::overview;
pub use plugins::{plugin, plugin_action, plugin_settings};
pub use power::{power, poweroff, reboot, restart};
pub use updates::{
    configure, events, refresh, release_check, release_upgrade, rollback, safety_backups,
    unattended_save, updates, upgrade,
};

/// A value kept with the moment it was made.
type Slot<T> = Mutex<Option<(Instant, T)>>;

/// What the pages keep for a moment, so that a page view costs no process or agent call.
#[derive(Default)]
pub struct Cache {
    system: Mutex<Option<(Instant, SystemInfo)>>,
    services: Mutex<Option<(Instant, Vec<ServiceState>)>>,
    appliance: Mutex<Option<(Instant, Value)>>,
    /// The plugins with a page, and the manifests that cannot be read.
    plugins: Slot<Plugins>,
    last_backup: Mutex<Option<(Instant, Option<String>)>>,
    /// Messages for the next page of a session (by its CSRF token).
    /// The messages waiting for each session's next page (a POST's outcome, then what the page
    /// itself could not get: each is shown, none replaces another).
    flashes: Mutex<HashMap<String, Vec<(String, String)>>>,
}

fn cached<T: Clone>(
    slot: &Mutex<Option<(Instant, T)>>,
    age: Duration,
    make: impl FnOnce() -> T,
) -> T {
    if let Ok(guard) = slot.lock()
        && let Some((when, value)) = guard.as_ref()
        && when.elapsed() < age
    {
        return value.clone();
    }
    let value = make();
    if let Ok(mut guard) = slot.lock() {
        *guard = Some((Instant::now(), value.clone()));
    }
    value
}

fn forget<T>(slot: &Mutex<Option<(Instant, T)>>) {
    if let Ok(mut guard) = slot.lock() {
        *guard = None;
    }
}

/// [`appliance`], kept for a minute: every page shows it, the login page too.
pub fn appliance_cached(state: &super::AppState) -> Value {
    let root = &state.config.root;
    cached(&state.cache.appliance, Duration::from_secs(60), || {
        appliance(root)
    })
}

/// The manifests that can be read, sorted by file name; one that cannot is left out here and
/// named on every page by [`Plugins::broken`].
fn manifests(root: &Path) -> Vec<(std::path::PathBuf, appliance::plugin::Manifest)> {
    appliance::plugin::Manifest::each(root)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|(path, manifest)| Some((path, manifest.ok()?)))
        .collect()
}

/// The appliance installed here: the package its plugin serves, and its version.
pub fn appliance(root: &Path) -> Value {
    let manifests = manifests(root);
    if let Some((_, manifest)) = manifests.first() {
        context! {
            name => manifest.title.clone().unwrap_or_else(|| manifest.appliance.clone()),
            package => manifest.appliance,
            version => appliance::backup::plan::installed_version(root, &manifest.appliance).unwrap_or_default(),
        }
    } else {
        context! { name => "Appliance", package => "", version => "" }
    }
}

/// The plugins as the pages show them.
#[derive(Clone, Default)]
struct Plugins {
    /// Those with a page (settings or actions): file name and title.
    pages: Vec<(String, String)>,
    /// The manifests that cannot be read: why, naming the file.
    broken: Vec<String>,
}

fn plugins(root: &Path) -> Plugins {
    let mut plugins = Plugins::default();
    let each = match appliance::plugin::Manifest::each(root) {
        Ok(each) => each,
        Err(error) => {
            plugins.broken.push(appliance::error_chain(&error));
            return plugins;
        }
    };
    for (path, manifest) in each {
        match manifest {
            Ok(m) if !m.settings.is_empty() || !m.actions.is_empty() => {
                if let Some(name) = path.file_stem() {
                    let name = name.to_string_lossy().into_owned();
                    let title = m.title.unwrap_or_else(|| name.clone());
                    plugins.pages.push((name, title));
                }
            }
            Ok(_) => {}
            Err(error) => plugins.broken.push(appliance::error_chain(&error)),
        }
    }
    plugins
}

/// The services the plugins declare.
fn declared_services(root: &Path) -> Vec<String> {
    let mut services: Vec<String> = manifests(root)
        .into_iter()
        .flat_map(|(_, m)| m.services)
        .collect();
    services.dedup();
    services
}

const NAV: [(&str, &str); 5] = [
    ("/", "Overview"),
    ("/updates", "Updates"),
    ("/backups", "Backups"),
    ("/mail", "Mail"),
    ("/power", "Power"),
];

fn flash(state: &Shared, session: &CurrentSession, kind: &str, text: impl Into<String>) {
    if let Ok(mut flashes) = state.cache.flashes.lock() {
        let waiting = flashes.entry(session.csrf.clone()).or_default();
        // A page reloaded in a loop while the agent is down says it once.
        let message = (kind.to_owned(), text.into());
        if !waiting.contains(&message) {
            waiting.push(message);
        }
    }
}

/// A page of `template` with the frame's context and `extra`.
fn page(
    state: &Shared,
    session: &CurrentSession,
    here: &str,
    title: &str,
    template: &str,
    extra: Value,
) -> Response {
    let root = &state.config.root;
    let appliance = cached(&state.cache.appliance, Duration::from_secs(60), || {
        appliance(root)
    });
    let messages: Vec<Value> = state
        .cache
        .flashes
        .lock()
        .ok()
        .and_then(|mut f| f.remove(&session.csrf))
        .unwrap_or_default()
        .into_iter()
        .map(|(kind, text)| context! { kind => kind, text => text })
        .collect();
    let plugins = cached(&state.cache.plugins, Duration::from_secs(60), || {
        plugins(root)
    });
    let nav: Vec<Value> = NAV
        .iter()
        .map(|(href, label)| context! { href => href, label => label })
        .chain(plugins.pages.iter().map(|(name, title)| {
            context! { href => format!("/plugins/{name}"), label => title }
        }))
        .collect();
    state.render(
        template,
        context! {
            title => title,
            here => here,
            user => session.user,
            csrf => session.csrf,
            appliance => appliance,
            nav => nav,
            broken_plugins => plugins.broken,
            messages => messages,
            ..extra
        },
    )
}

/// Runs an agent request for a POST and goes back to `to` with the outcome as a message: `done`
/// words the request's typed answer `T`.
async fn act<T: DeserializeOwned>(
    state: &Shared,
    session: &CurrentSession,
    request: Request,
    done: impl FnOnce(T) -> String,
    to: &str,
) -> Response {
    match client::ask(&state.config.agent, &request).await {
        Ok(answer) => flash(state, session, "success", done(answer)),
        Err(error) => flash(state, session, "error", error),
    }
    Redirect::to(to).into_response()
}

fn services(state: &Shared) -> Vec<ServiceState> {
    let root = state.config.root.clone();
    cached(&state.cache.services, Duration::from_secs(3), || {
        sysinfo::service_states(&declared_services(&root))
    })
}
