//! Backups: the store's list, made, restored, deleted, downloaded and uploaded, and the nightly
//! backup switched on or off.

use axum::body::Body;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use minijinja::{Value, context};
use serde::Deserialize;

use super::{act, flash, forget, page};
use crate::agent::backups::{Created, Deleted, Imported, List, Restored, Schedule};
use crate::protocol::Request;
use crate::sysinfo;
use crate::web::{CurrentSession, Shared, client};

pub async fn backups(State(state): State<Shared>, session: CurrentSession) -> Response {
    let agent = &state.config.agent;
    let (backups, error) = match client::ask::<List>(agent, &Request::BackupList).await {
        Ok(list) => (list.backups, None),
        Err(error) => (Vec::new(), Some(error)),
    };
    let backups: Vec<Value> = backups
        .iter()
        .rev()
        .map(|b| {
            context! {
                size_text => sysinfo::size_text(b.size),
                ..Value::from_serialize(b)
            }
        })
        .collect();
    // Shown as off when the agent cannot say; the list's error, if any, is the one shown.
    let (schedule, error) = match client::ask::<Schedule>(agent, &Request::ScheduleState).await {
        Ok(schedule) => (schedule.enabled, error),
        Err(schedule_error) => (false, error.or(Some(schedule_error))),
    };
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
        |created: Created| format!("Backup made: {}", created.name),
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
        |restored: Restored| {
            let mut text = format!("Restored {}", restored.restored);
            if restored.sysconf_left_out {
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
        |deleted: Deleted| format!("Deleted {}", deleted.deleted),
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
                |imported: Imported| format!("Uploaded {}", imported.name),
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
                appliance::backup::store::rfc3339(appliance::backup::store::now()).replace(':', "")
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
        |_: Schedule| {
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
