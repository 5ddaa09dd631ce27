//! A plugin's page, drawn from its manifest: its settings and its actions.

use std::collections::HashMap;
use std::path::Path;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use minijinja::{Value, context};

use super::{act, flash, page};
use crate::agent::plugins::{Done, Saved, Values};
use crate::protocol::Request;
use crate::web::{CurrentSession, Shared, client};

/// The manifest of the plugin `name`, if it is one.
fn plugin_manifest(root: &Path, name: &str) -> Option<appliance::plugin::Manifest> {
    if !appliance::plugin::valid_name(name) {
        return None;
    }
    appliance::plugin::Manifest::find(root, name)
        .ok()
        .map(|(_, m)| m)
}

pub async fn plugin(
    State(state): State<Shared>,
    session: CurrentSession,
    axum::extract::Path(name): axum::extract::Path<String>,
) -> Response {
    let Some(manifest) = plugin_manifest(&state.config.root, &name) else {
        return (StatusCode::NOT_FOUND, "no such plugin").into_response();
    };
    let values = if manifest.settings.is_empty() {
        Values::default()
    } else {
        match client::ask(
            &state.config.agent,
            &Request::PluginSettings {
                plugin: name.clone(),
            },
        )
        .await
        {
            Ok(values) => values,
            Err(error) => {
                flash(&state, &session, "error", error);
                Values::default()
            }
        }
    };
    let settings: Vec<Value> = manifest
        .settings
        .iter()
        .map(|s| {
            context! {
                name => s.name,
                label => s.label,
                help => s.help,
                kind => s.kind.as_str(),
                value => values.get(&s.name).unwrap_or_default(),
            }
        })
        .collect();
    // Actions without parameters are buttons; the others are forms, which never hold a value: a
    // password is never sent back to the browser.
    let (buttons, forms): (Vec<_>, Vec<_>) = manifest
        .actions
        .iter()
        .partition(|a| a.parameters.is_empty());
    let actions = |list: Vec<&appliance::plugin::Action>| -> Vec<Value> {
        list.into_iter().map(action_context).collect()
    };
    let title = manifest.title.clone().unwrap_or_else(|| name.clone());
    let here = format!("/plugins/{name}");
    page(
        &state,
        &session,
        &here,
        &title,
        "plugin.html",
        context! {
            plugin => name,
            settings => settings,
            buttons => actions(buttons),
            forms => actions(forms),
        },
    )
}

/// What the plugin's page shows of an action: no value, only what to ask for.
fn action_context(action: &appliance::plugin::Action) -> Value {
    let parameters: Vec<Value> = action
        .parameters
        .iter()
        .map(|p| {
            context! {
                name => p.name,
                label => p.label,
                help => p.help,
                kind => p.kind.as_str(),
            }
        })
        .collect();
    context! {
        name => action.name,
        label => action.label,
        help => action.help,
        confirm => action.confirm,
        parameters => parameters,
    }
}

pub async fn plugin_settings(
    State(state): State<Shared>,
    session: CurrentSession,
    axum::extract::Path(name): axum::extract::Path<String>,
    axum::Form(form): axum::Form<HashMap<String, String>>,
) -> Response {
    let back = format!("/plugins/{name}");
    let Some(manifest) = plugin_manifest(&state.config.root, &name) else {
        return (StatusCode::NOT_FOUND, "no such plugin").into_response();
    };
    // Without the current values no change can be told from the others: nothing is sent.
    let current: Values = match client::ask(
        &state.config.agent,
        &Request::PluginSettings {
            plugin: name.clone(),
        },
    )
    .await
    {
        Ok(current) => current,
        Err(error) => {
            flash(&state, &session, "error", error);
            return Redirect::to(&back).into_response();
        }
    };
    let mut changed = Vec::new();
    for setting in &manifest.settings {
        let Some(value) = form.get(&setting.name) else {
            continue;
        };
        if current.get(&setting.name) == Some(value.as_str()) {
            continue;
        }
        let request = Request::SettingSet {
            plugin: name.clone(),
            setting: setting.name.clone(),
            value: value.clone(),
        };
        if let Err(error) = client::ask::<Saved>(&state.config.agent, &request).await {
            flash(&state, &session, "error", error);
            return Redirect::to(&back).into_response();
        }
        changed.push(setting.label.clone());
    }
    let message = if changed.is_empty() {
        "Nothing changed".to_owned()
    } else {
        format!("Saved: {}", changed.join(", "))
    };
    flash(&state, &session, "success", message);
    Redirect::to(&back).into_response()
}

/// How an action's form names the field of a parameter: apart from `csrf` and `action`, whatever
/// the parameter is called.
const PARAMETER_FIELD: &str = "param-";

/// The most of a command's output a message shows (its end).
const OUTPUT_SHOWN: usize = 2000;

/// What a page says when an action is done: its label, then what the command printed.
fn action_done(done: Done) -> String {
    let label = done.done;
    let output = done.output.trim();
    if output.is_empty() {
        return format!("Done: {label}");
    }
    let start = output
        .char_indices()
        .rev()
        .nth(OUTPUT_SHOWN - 1)
        .map_or(0, |(i, _)| i);
    let ellipsis = if start > 0 { "…" } else { "" };
    format!("Done: {label}\n{ellipsis}{}", &output[start..])
}

/// An action's form: `action`, and `param-NAME` for each of its parameters; the agent checks the
/// values against the manifest.
pub async fn plugin_action(
    State(state): State<Shared>,
    session: CurrentSession,
    axum::extract::Path(name): axum::extract::Path<String>,
    axum::Form(form): axum::Form<Vec<(String, String)>>,
) -> Response {
    let back = format!("/plugins/{name}");
    let mut action = String::new();
    let mut parameters = std::collections::BTreeMap::new();
    for (field, value) in form {
        if field == "action" {
            action = value;
        } else if let Some(parameter) = field.strip_prefix(PARAMETER_FIELD) {
            parameters.insert(parameter.to_owned(), value);
        }
    }
    act(
        &state,
        &session,
        Request::Action {
            plugin: name,
            action,
            parameters,
        },
        action_done,
        &back,
    )
    .await
}
