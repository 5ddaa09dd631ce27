//! The pages: overview, updates (with live progress as server-sent events), backups, mail and
//! power. Each POST does one thing through the agent and redirects back with a message
//! (post/redirect/get), so a reload never repeats it.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Redirect, Response};
use minijinja::{Value, context};
use serde::Deserialize;

use super::{CurrentSession, Shared, client};
use crate::jobs;
use crate::protocol::Request;
use crate::sysinfo::{self, ServiceState, SystemInfo};

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
    flashes: Mutex<HashMap<String, (String, String)>>,
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

/// The manifest of the plugin `name`, if it is one.
fn plugin_manifest(root: &Path, name: &str) -> Option<appliance::plugin::Manifest> {
    if !appliance::plugin::valid_name(name) {
        return None;
    }
    appliance::plugin::Manifest::find(root, name)
        .ok()
        .map(|(_, m)| m)
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
        flashes.insert(session.csrf.clone(), (kind.to_owned(), text.into()));
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
    let message = state
        .cache
        .flashes
        .lock()
        .ok()
        .and_then(|mut f| f.remove(&session.csrf))
        .map(|(kind, text)| context! { kind => kind, text => text });
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
            message => message,
            ..extra
        },
    )
}

/// Runs an agent request for a POST and goes back to `to` with the outcome as a message.
async fn act(
    state: &Shared,
    session: &CurrentSession,
    request: Request,
    done: impl FnOnce(&serde_json::Value) -> String,
    to: &str,
) -> Response {
    match client::ask(&state.config.agent, &request).await {
        Ok(data) => flash(state, session, "success", done(&data)),
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

pub async fn overview(State(state): State<Shared>, session: CurrentSession) -> Response {
    let root = state.config.root.clone();
    let info = cached(&state.cache.system, Duration::from_secs(2), || {
        sysinfo::read(&root)
    });
    let last_backup = match state.cache.last_backup.lock().ok().and_then(|g| g.clone()) {
        Some((when, value)) if when.elapsed() < Duration::from_secs(30) => value,
        _ => {
            let value = client::ask(&state.config.agent, &Request::BackupList)
                .await
                .ok()
                .and_then(|data| {
                    data["backups"]
                        .as_array()?
                        .iter()
                        .filter_map(|b| b["timestamp"].as_str())
                        .max()
                        .map(str::to_owned)
                });
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
        },
    )
}

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
        },
    )
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

fn job_started(data: &serde_json::Value) -> String {
    format!("Started: {}", data["job"].as_str().unwrap_or("a job"))
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

pub async fn backups(State(state): State<Shared>, session: CurrentSession) -> Response {
    let agent = &state.config.agent;
    let (backups, error) = match client::ask(agent, &Request::BackupList).await {
        Ok(data) => (
            data["backups"].as_array().cloned().unwrap_or_default(),
            None,
        ),
        Err(error) => (Vec::new(), Some(error)),
    };
    let backups: Vec<serde_json::Value> = backups
        .into_iter()
        .rev()
        .map(|mut b| {
            b["size_text"] = sysinfo::size_text(b["size"].as_u64().unwrap_or(0)).into();
            b
        })
        .collect();
    let schedule = client::ask(agent, &Request::ScheduleState)
        .await
        .is_ok_and(|d| d["enabled"] == true);
    if let Some(error) = error {
        flash(&state, &session, "error", error);
    }
    page(
        &state,
        &session,
        "/backups",
        "Backups",
        "backups.html",
        context! { backups => backups, schedule => schedule },
    )
}

pub async fn backup_create(State(state): State<Shared>, session: CurrentSession) -> Response {
    forget(&state.cache.last_backup);
    act(
        &state,
        &session,
        Request::BackupCreate,
        |d| format!("Backup made: {}", d["name"].as_str().unwrap_or_default()),
        "/backups",
    )
    .await
}

#[derive(Deserialize)]
pub struct NameForm {
    name: String,
}

#[derive(Deserialize)]
pub struct RestoreForm {
    name: String,
    /// The checkbox of a backup from elsewhere: its system configuration too.
    #[serde(rename = "foreign-configuration-runs-as-root", default)]
    foreign: Option<String>,
}

pub async fn backup_restore(
    State(state): State<Shared>,
    session: CurrentSession,
    axum::Form(form): axum::Form<RestoreForm>,
) -> Response {
    act(
        &state,
        &session,
        Request::BackupRestore {
            name: form.name,
            foreign_configuration_runs_as_root: form.foreign.as_deref() == Some("yes"),
        },
        |d| {
            let mut text = format!("Restored {}", d["restored"].as_str().unwrap_or_default());
            if d["sysconf-left-out"] == true {
                text.push_str(
                    ": its application data only (it was made elsewhere; its system configuration was left as it is here)",
                );
            }
            text
        },
        "/backups",
    )
    .await
}

pub async fn backup_delete(
    State(state): State<Shared>,
    session: CurrentSession,
    axum::Form(form): axum::Form<NameForm>,
) -> Response {
    forget(&state.cache.last_backup);
    act(
        &state,
        &session,
        Request::BackupDelete { name: form.name },
        |d| format!("Deleted {}", d["deleted"].as_str().unwrap_or_default()),
        "/backups",
    )
    .await
}

pub async fn backup_download(
    State(state): State<Shared>,
    axum::extract::Path(name): axum::extract::Path<String>,
) -> Response {
    if !crate::protocol::valid_backup_name(&name) {
        return (StatusCode::NOT_FOUND, "no such backup").into_response();
    }
    match client::download(&state.config.agent, &name).await {
        Ok((size, reader)) => {
            let stream =
                tokio_util::io::ReaderStream::new(tokio::io::AsyncReadExt::take(reader, size));
            (
                [
                    (header::CONTENT_TYPE, "application/zip".to_owned()),
                    (header::CONTENT_LENGTH, size.to_string()),
                    (
                        header::CONTENT_DISPOSITION,
                        format!("attachment; filename=\"{name}\""),
                    ),
                ],
                Body::from_stream(stream),
            )
                .into_response()
        }
        Err(error) => (StatusCode::NOT_FOUND, error).into_response(),
    }
}

/// An upload goes to the web service's own directory, then the agent checks it and takes it in.
pub async fn backup_upload(
    State(state): State<Shared>,
    session: CurrentSession,
    request: axum::extract::Request,
) -> Response {
    let result = receive_upload(&state, request).await;
    match result {
        Ok(name) => {
            return act(
                &state,
                &session,
                Request::BackupImport { name },
                |d| format!("Uploaded {}", d["name"].as_str().unwrap_or_default()),
                "/backups",
            )
            .await;
        }
        Err(error) => flash(&state, &session, "error", error),
    }
    Redirect::to("/backups").into_response()
}

/// `4 GiB`, `512 MiB`, `4 KiB`, or bytes.
fn size_text(bytes: u64) -> String {
    for (shift, unit) in [(30, "GiB"), (20, "MiB"), (10, "KiB")] {
        if bytes >= 1 << shift && bytes.is_multiple_of(1 << shift) {
            return format!("{} {unit}", bytes >> shift);
        }
    }
    format!("{bytes} bytes")
}

/// What a multipart form adds around the file: boundaries and the part's headers.
const FORM_OVERHEAD: u64 = 64 * 1024;

async fn receive_upload(state: &Shared, request: axum::extract::Request) -> Result<String, String> {
    use axum::extract::FromRequest;
    use tokio::io::AsyncWriteExt;
    let limit = state.config.upload_limit;
    let too_large = || {
        format!(
            "the backup is larger than the upload limit of {} (`--upload-limit` of appliance-control)",
            size_text(limit)
        )
    };
    let announced = request
        .headers()
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if announced.is_some_and(|length| length > limit.saturating_add(FORM_OVERHEAD)) {
        return Err(too_large());
    }
    let dir = state.config.root.join(crate::agent::UPLOAD_DIR);
    tokio::fs::create_dir_all(&dir)
        .await
        .map_err(|e| format!("cannot keep the upload: {e}"))?;
    if let Some(length) = announced {
        crate::files::check_free_space(&dir, length)?;
    }
    let mut multipart = axum::extract::Multipart::from_request(request, state)
        .await
        .map_err(|e| format!("not an upload: {e}"))?;
    while let Some(mut field) = multipart.next_field().await.map_err(|e| e.to_string())? {
        if field.name() != Some("backup") {
            continue;
        }
        let given = field.file_name().unwrap_or_default().to_owned();
        let name = if crate::protocol::valid_backup_name(&given) {
            given
        } else {
            format!(
                "uploaded-{}.abf",
                appliance::backup::store::rfc3339(
                    std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map_or(0, |d| d.as_secs()),
                )
                .replace(':', "")
            )
        };
        let path = dir.join(&name);
        let mut file = tokio::fs::File::create(&path)
            .await
            .map_err(|e| format!("cannot keep the upload: {e}"))?;
        let copied = async {
            let mut written = 0_u64;
            while let Some(chunk) = field
                .chunk()
                .await
                .map_err(|e| format!("the upload did not arrive whole: {e}"))?
            {
                written = written.saturating_add(chunk.len() as u64);
                if written > limit {
                    return Err(too_large());
                }
                file.write_all(&chunk)
                    .await
                    .map_err(|e| format!("cannot keep the upload: {e}"))?;
            }
            file.sync_all()
                .await
                .map_err(|e| format!("cannot keep the upload: {e}"))
        }
        .await;
        if let Err(error) = copied {
            drop(file);
            let _ = tokio::fs::remove_file(&path).await;
            return Err(error);
        }
        return Ok(name);
    }
    Err("no file was uploaded".into())
}

#[derive(Deserialize)]
pub struct ScheduleForm {
    enable: String,
}

pub async fn backup_schedule(
    State(state): State<Shared>,
    session: CurrentSession,
    axum::Form(form): axum::Form<ScheduleForm>,
) -> Response {
    let enable = form.enable == "yes";
    act(
        &state,
        &session,
        Request::Schedule { enable },
        |_| {
            if enable {
                "The nightly backup is on".into()
            } else {
                "The nightly backup is off".into()
            }
        },
        "/backups",
    )
    .await
}

pub async fn mail(State(state): State<Shared>, session: CurrentSession) -> Response {
    let settings = match client::ask(&state.config.agent, &Request::MailSettings).await {
        Ok(data) => serde_json::from_value(data).unwrap_or_default(),
        Err(error) => {
            flash(&state, &session, "error", error);
            crate::mail::Settings::default()
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
        |d| {
            format!(
                "Mail goes through {}",
                d["relayhost"].as_str().unwrap_or_default()
            )
        },
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
        |d| {
            format!(
                "A test mail went to {}",
                d["sent"].as_str().unwrap_or_default()
            )
        },
        "/mail",
    )
    .await
}

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
        |d| format!("Restarted {}", d["restarted"].as_str().unwrap_or_default()),
        "/power",
    )
    .await
}

pub async fn reboot(State(state): State<Shared>, session: CurrentSession) -> Response {
    act(
        &state,
        &session,
        Request::Reboot,
        |_| "The appliance restarts now".into(),
        "/power",
    )
    .await
}

pub async fn poweroff(State(state): State<Shared>, session: CurrentSession) -> Response {
    act(
        &state,
        &session,
        Request::Poweroff,
        |_| "The appliance shuts down now".into(),
        "/power",
    )
    .await
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
        serde_json::Value::Null
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
                serde_json::Value::Null
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
                value => values[&s.name].as_str().unwrap_or_default(),
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
    let current = client::ask(
        &state.config.agent,
        &Request::PluginSettings {
            plugin: name.clone(),
        },
    )
    .await
    .unwrap_or_default();
    let mut changed = Vec::new();
    for setting in &manifest.settings {
        let Some(value) = form.get(&setting.name) else {
            continue;
        };
        if current[&setting.name].as_str() == Some(value.as_str()) {
            continue;
        }
        let request = Request::SettingSet {
            plugin: name.clone(),
            setting: setting.name.clone(),
            value: value.clone(),
        };
        if let Err(error) = client::ask(&state.config.agent, &request).await {
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
fn action_done(data: &serde_json::Value) -> String {
    let label = data["done"].as_str().unwrap_or_default();
    let output = data["output"].as_str().unwrap_or_default().trim();
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
