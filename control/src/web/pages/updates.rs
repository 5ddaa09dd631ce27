//! Updates: the current job with its log, followed live as server-sent events, and the buttons
//! that start one.

use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use minijinja::context;
use serde::Deserialize;

use super::{act, flash, page};
use crate::agent::updates::{History, Started};
use crate::jobs;
use crate::protocol::Request;
use crate::unattended;
use crate::web::{CurrentSession, Shared, client};

/// A log for people: APT's status lines are shown as progress, not as text.
fn readable_log(text: &str) -> String {
    text.lines()
        .filter(|l| jobs::progress(l).is_none())
        .collect::<Vec<_>>()
        .join("\n")
}

pub async fn updates(State(state): State<Shared>, session: CurrentSession) -> Response {
    let root = &state.config.root;
    let job = jobs::current(root);
    let log = job
        .as_ref()
        .and_then(|j| jobs::log_path(root, &j.id))
        .and_then(|p| std::fs::read(p).ok())
        .unwrap_or_default();
    let running = job
        .as_ref()
        .is_some_and(|j| j.state == jobs::State::Running);
    let agent = &state.config.agent;
    // What the agent cannot say is shown as an error, the rest of the page all the same.
    let history = client::ask::<History>(agent, &Request::History).await;
    let unattended = client::ask::<unattended::State>(agent, &Request::UnattendedState).await;
    if let Some(error) = history.as_ref().err().or(unattended.as_ref().err()) {
        flash(&state, &session, "error", error.clone());
    }
    let release = appliance::system_root::release(root).ok();
    let (transactions, last_safety_backup) = history
        .map(|h| {
            let transactions: Vec<minijinja::Value> = h
                .transactions
                .iter()
                .map(|t| {
                    context! {
                        by => t.by(),
                        ..minijinja::Value::from_serialize(t)
                    }
                })
                .collect();
            (transactions, h.last_safety_backup)
        })
        .unwrap_or_default();
    page(
        &state,
        &session,
        "/updates",
        "Updates",
        "updates.html",
        context! {
            job => job,
            running => running,
            log => readable_log(&String::from_utf8_lossy(&log)),
            log_bytes => log.len(),
            pending => jobs::pending(root),
            dpkg_interrupted => jobs::dpkg_interrupted(root),
            safety_backups => crate::agent::updates::safety_backups_enabled(root),
            transactions => transactions,
            last_safety_backup => last_safety_backup,
            unattended => unattended.ok(),
            window_minutes => unattended::WINDOW_MINUTES,
            release => release,
            next_release => release.as_deref().and_then(appliance::release::sources::next_codename),
        },
    )
}

#[derive(Deserialize)]
pub struct SafetyBackupsForm {
    enable: String,
}

pub async fn safety_backups(
    State(state): State<Shared>,
    session: CurrentSession,
    axum::Form(form): axum::Form<SafetyBackupsForm>,
) -> Response {
    let enable = form.enable == "yes";
    act(
        &state,
        &session,
        Request::SafetyBackups { enable },
        |answer: crate::agent::updates::SafetyBackups| {
            if answer.enabled {
                "A safety backup is made before every change of the appliance".into()
            } else {
                "No more safety backups before changes of the appliance".into()
            }
        },
        "/updates",
    )
    .await
}

/// The Updates page's unattended-upgrades form: check boxes are sent only when checked.
#[derive(Deserialize)]
pub struct UnattendedForm {
    #[serde(default)]
    enable: Option<String>,
    updates: String,
    time: String,
    #[serde(default)]
    reboot: Option<String>,
}

pub async fn unattended_save(
    State(state): State<Shared>,
    session: CurrentSession,
    axum::Form(form): axum::Form<UnattendedForm>,
) -> Response {
    let request = Request::Unattended {
        enable: form.enable.is_some(),
        all_updates: form.updates == "all",
        time: form.time.trim().to_owned(),
        reboot: form.reboot.is_some(),
    };
    act(
        &state,
        &session,
        request,
        |answer: unattended::State| {
            let settings = answer.settings;
            if settings.enabled {
                format!(
                    "Unattended updates are on: {} at {} (within {} minutes){}",
                    if settings.all_updates {
                        "every update of the release"
                    } else {
                        "security updates"
                    },
                    settings.time,
                    unattended::WINDOW_MINUTES,
                    if settings.reboot {
                        ", with a reboot when an update needs one"
                    } else {
                        ""
                    }
                )
            } else {
                "Unattended updates are off".into()
            }
        },
        "/updates",
    )
    .await
}

pub async fn rollback(State(state): State<Shared>, session: CurrentSession) -> Response {
    act(&state, &session, Request::Rollback, job_started, "/updates").await
}

/// `va-upgrade-release --check`, as a job whose log says what it found.
pub async fn release_check(State(state): State<Shared>, session: CurrentSession) -> Response {
    act(
        &state,
        &session,
        Request::ReleaseCheck,
        job_started,
        "/updates",
    )
    .await
}

/// The move to the next Debian release, as a job.
pub async fn release_upgrade(State(state): State<Shared>, session: CurrentSession) -> Response {
    act(
        &state,
        &session,
        Request::ReleaseUpgrade,
        job_started,
        "/updates",
    )
    .await
}

/// Where an event stream is in a job's log.
struct Follow {
    root: std::path::PathBuf,
    log: std::path::PathBuf,
    job: String,
    offset: u64,
    pending: std::collections::VecDeque<Event>,
    done: bool,
}

#[derive(Deserialize)]
pub struct EventsQuery {
    job: String,
    #[serde(default)]
    from: u64,
}

/// The running job's log and progress as server-sent events, from byte `from` of its log, until
/// it ends.
pub async fn events(State(state): State<Shared>, Query(query): Query<EventsQuery>) -> Response {
    let root = state.config.root.clone();
    let Some(log) = jobs::log_path(&root, &query.job) else {
        return (StatusCode::BAD_REQUEST, "not a job").into_response();
    };
    let follow = Follow {
        root,
        log,
        job: query.job,
        offset: query.from,
        pending: std::collections::VecDeque::new(),
        done: false,
    };
    let stream =
        futures_util::stream::unfold(follow, |mut follow| async move {
            loop {
                if let Some(event) = follow.pending.pop_front() {
                    return Some((Ok::<Event, std::convert::Infallible>(event), follow));
                }
                if follow.done {
                    return None;
                }
                let state = jobs::current(&follow.root)
                    .filter(|j| j.id == follow.job)
                    .map_or(jobs::State::Failed, |j| j.state);
                let bytes = tokio::fs::read(&follow.log).await.unwrap_or_default();
                let start = usize::try_from(follow.offset)
                    .unwrap_or(usize::MAX)
                    .min(bytes.len());
                // Whole lines only.
                let end = bytes[start..]
                    .iter()
                    .rposition(|b| *b == b'\n')
                    .map_or(start, |i| start + i + 1);
                for line in String::from_utf8_lossy(&bytes[start..end]).lines() {
                    match jobs::progress(line) {
                        Some((percent, status)) => follow.pending.push_back(
                            Event::default().event("progress").data(
                                serde_json::json!({ "percent": percent, "status": status })
                                    .to_string(),
                            ),
                        ),
                        None => follow
                            .pending
                            .push_back(Event::default().event("log").data(line)),
                    }
                }
                follow.offset = end as u64;
                if state != jobs::State::Running && end == bytes.len() {
                    let name = serde_json::to_value(state)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_owned))
                        .unwrap_or_default();
                    follow
                        .pending
                        .push_back(Event::default().event("state").data(name));
                    follow.done = true;
                }
                if follow.pending.is_empty() {
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
            }
        });
    Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response()
}

fn job_started(Started { job }: Started) -> String {
    format!("Started: {job}")
}

pub async fn refresh(State(state): State<Shared>, session: CurrentSession) -> Response {
    act(&state, &session, Request::Refresh, job_started, "/updates").await
}

pub async fn upgrade(State(state): State<Shared>, session: CurrentSession) -> Response {
    act(&state, &session, Request::Upgrade, job_started, "/updates").await
}

pub async fn configure(State(state): State<Shared>, session: CurrentSession) -> Response {
    act(
        &state,
        &session,
        Request::ConfigurePending,
        job_started,
        "/updates",
    )
    .await
}
