//! The web service: server-rendered pages (minijinja), a session cookie, a CSRF token on every
//! form, and everything privileged asked of the agent. Every route but the login page and the
//! static files sits behind [`require_session`]; [`protected_routes`] lists them all, so a test
//! can knock on each one without a session.

pub mod client;
mod pages;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{MethodRouter, get, post};
use serde::Deserialize;

use crate::session::{Session, Sessions, Throttle, same, token};
use crate::users::Users;

pub const SESSION_COOKIE: &str = "appliance_session";
const LOGIN_COOKIE: &str = "appliance_login";

/// How the service is set up.
#[derive(Debug, Clone)]
pub struct Config {
    /// The system's root (`/`; a test directory in tests).
    pub root: PathBuf,
    /// The agent's socket.
    pub agent: PathBuf,
    /// The DER subjects of the owner's CAs (`--client-ca`): client certificates they issued
    /// were checked against them, so their subjects can be believed. Empty without a CA.
    pub client_ca: Vec<Vec<u8>>,
    /// The largest backup an upload may bring, in bytes.
    pub upload_limit: u64,
}

/// The largest upload by default: 4 GiB.
pub const DEFAULT_UPLOAD_LIMIT: u64 = 4 << 30;

impl Config {
    /// The service for the system at `root` with its agent at `agent`, no client CA, the default
    /// upload limit.
    pub fn new(root: PathBuf, agent: PathBuf) -> Self {
        Self {
            root,
            agent,
            client_ca: Vec::new(),
            upload_limit: DEFAULT_UPLOAD_LIMIT,
        }
    }
}

/// Password hashes computed at once, at most (each takes a core for a moment).
const CONCURRENT_HASHES: usize = 2;

pub struct AppState {
    pub config: Config,
    pub sessions: Mutex<Sessions>,
    pub throttle: Mutex<Throttle>,
    /// Bounds the password hashes under way, so that logins cannot take every core.
    pub hashing: tokio::sync::Semaphore,
    pub templates: minijinja::Environment<'static>,
    pub cache: pages::Cache,
}

pub type Shared = Arc<AppState>;

fn templates() -> minijinja::Environment<'static> {
    let mut env = minijinja::Environment::new();
    for (name, text) in [
        ("base.html", include_str!("templates/base.html")),
        ("login.html", include_str!("templates/login.html")),
        ("overview.html", include_str!("templates/overview.html")),
        ("updates.html", include_str!("templates/updates.html")),
        ("backups.html", include_str!("templates/backups.html")),
        ("mail.html", include_str!("templates/mail.html")),
        ("power.html", include_str!("templates/power.html")),
        ("plugin.html", include_str!("templates/plugin.html")),
    ] {
        // The templates are ours and tested: one that does not parse is a build mistake.
        if let Err(error) = env.add_template(name, text) {
            panic!("template {name}: {error}");
        }
    }
    env
}

impl AppState {
    pub fn new(config: Config) -> Shared {
        Arc::new(Self {
            config,
            sessions: Mutex::new(Sessions::default()),
            throttle: Mutex::new(Throttle::default()),
            hashing: tokio::sync::Semaphore::new(CONCURRENT_HASHES),
            templates: templates(),
            cache: pages::Cache::default(),
        })
    }

    /// Renders `template`; an error becomes a plain 500 page.
    pub fn render(&self, template: &str, context: minijinja::Value) -> Response {
        match self
            .templates
            .get_template(template)
            .and_then(|t| t.render(context))
        {
            Ok(html) => Html(html).into_response(),
            Err(error) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("cannot render the page: {error}"),
            )
                .into_response(),
        }
    }
}

/// Every route that needs a session: method, path, handler.
pub fn protected_routes() -> Vec<(Method, &'static str, MethodRouter<Shared>)> {
    vec![
        (Method::GET, "/", get(pages::overview)),
        (Method::POST, "/logout", post(logout)),
        (Method::GET, "/updates", get(pages::updates)),
        (Method::GET, "/updates/events", get(pages::events)),
        (Method::POST, "/updates/refresh", post(pages::refresh)),
        (Method::POST, "/updates/upgrade", post(pages::upgrade)),
        (Method::POST, "/updates/configure", post(pages::configure)),
        (
            Method::POST,
            "/updates/safety-backups",
            post(pages::safety_backups),
        ),
        (Method::POST, "/updates/rollback", post(pages::rollback)),
        (
            Method::POST,
            "/updates/release-check",
            post(pages::release_check),
        ),
        (
            Method::POST,
            "/updates/release-upgrade",
            post(pages::release_upgrade),
        ),
        (
            Method::POST,
            "/updates/unattended",
            post(pages::unattended_save),
        ),
        (Method::GET, "/backups", get(pages::backups)),
        (Method::POST, "/backups/create", post(pages::backup_create)),
        (
            Method::GET,
            "/backups/download/{name}",
            get(pages::backup_download),
        ),
        (
            Method::POST,
            "/backups/restore",
            post(pages::backup_restore),
        ),
        (Method::POST, "/backups/delete", post(pages::backup_delete)),
        (
            Method::POST,
            "/backups/upload",
            post(pages::backup_upload).layer(axum::extract::DefaultBodyLimit::disable()),
        ),
        (
            Method::POST,
            "/backups/schedule",
            post(pages::backup_schedule),
        ),
        (Method::GET, "/mail", get(pages::mail)),
        (Method::POST, "/mail", post(pages::mail_save)),
        (Method::POST, "/mail/test", post(pages::mail_test)),
        (Method::GET, "/power", get(pages::power)),
        (Method::POST, "/power/restart", post(pages::restart)),
        (Method::POST, "/power/reboot", post(pages::reboot)),
        (Method::POST, "/power/poweroff", post(pages::poweroff)),
        (Method::GET, "/plugins/{name}", get(pages::plugin)),
        (
            Method::POST,
            "/plugins/{name}/settings",
            post(pages::plugin_settings),
        ),
        (
            Method::POST,
            "/plugins/{name}/action",
            post(pages::plugin_action),
        ),
    ]
}

pub fn router(state: Shared) -> Router {
    let protected = protected_routes()
        .into_iter()
        .fold(Router::new(), |router, (_, path, handler)| {
            router.route(path, handler)
        })
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            require_session,
        ));
    Router::new()
        .route("/login", get(login_page).post(login))
        .route("/static/{file}", get(static_file))
        .merge(protected)
        .layer(axum::middleware::map_response(security_headers))
        .with_state(state)
}

/// Headers on every answer. The service speaks HTTPS only (plain HTTP gets a redirect before it
/// reaches the router, see [`crate::https`]), so HSTS is always sent.
async fn security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    for (name, value) in [
        (header::STRICT_TRANSPORT_SECURITY, "max-age=31536000"),
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
        ),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_FRAME_OPTIONS, "DENY"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

async fn static_file(axum::extract::Path(file): axum::extract::Path<String>) -> Response {
    let (body, kind) = match file.as_str() {
        "style.css" => (include_str!("static/style.css"), "text/css; charset=utf-8"),
        "app.js" => (
            include_str!("static/app.js"),
            "text/javascript; charset=utf-8",
        ),
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    (
        [
            (header::CONTENT_TYPE, kind),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        body,
    )
        .into_response()
}

/// A cookie's value from the request.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v)
}

/// A cookie for this service: never sent over plain HTTP, never seen by scripts or other sites.
fn set_cookie(name: &str, value: &str, max_age: Option<u64>) -> String {
    let mut text = format!("{name}={value}; Path=/; HttpOnly; SameSite=Strict; Secure");
    if let Some(age) = max_age {
        text.push_str("; Max-Age=");
        text.push_str(&age.to_string());
    }
    text
}

#[derive(Deserialize)]
struct CsrfOnly {
    csrf: Option<String>,
}

/// The gate of every protected route: a live session, and for anything but GET the session's
/// CSRF token, from the form (`csrf`) or, for uploads, the query string.
async fn require_session(
    State(state): State<Shared>,
    mut request: Request,
    next: Next,
) -> Response {
    let session = cookie(request.headers(), SESSION_COOKIE).and_then(|token| {
        state
            .sessions
            .lock()
            .ok()
            .and_then(|mut s| s.get(token, Instant::now()))
    });
    // A session outlives neither its user nor its user's password.
    let session = session.filter(|session| {
        let current = Users::load(&state.config.root)
            .ok()
            .and_then(|users| users.hash(&session.user).map(crate::session::credential));
        let valid = current.is_some_and(|c| same(&c, &session.credential));
        if !valid
            && let Some(token) = cookie(request.headers(), SESSION_COOKIE)
            && let Ok(mut sessions) = state.sessions.lock()
        {
            sessions.remove(token);
        }
        valid
    });
    let Some(session) = session else {
        return if request.method() == Method::GET {
            Redirect::to("/login").into_response()
        } else {
            (StatusCode::FORBIDDEN, "log in first").into_response()
        };
    };
    if request.method() != Method::GET && request.method() != Method::HEAD {
        let from_query = request
            .uri()
            .query()
            .and_then(|q| serde_urlencoded::from_str::<CsrfOnly>(q).ok())
            .and_then(|f| f.csrf);
        let is_form = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
        let token = if from_query.is_some() {
            from_query
        } else if is_form {
            let (parts, body) = request.into_parts();
            let Ok(bytes) = axum::body::to_bytes(body, 64 * 1024).await else {
                return (StatusCode::PAYLOAD_TOO_LARGE, "the form is too large").into_response();
            };
            let token = serde_urlencoded::from_bytes::<CsrfOnly>(&bytes)
                .ok()
                .and_then(|f| f.csrf);
            request = Request::from_parts(parts, Body::from(bytes));
            token
        } else {
            None
        };
        if !token.is_some_and(|t| same(&t, &session.csrf)) {
            return (
                StatusCode::FORBIDDEN,
                "the form is out of date: reload the page and try again",
            )
                .into_response();
        }
    }
    request.extensions_mut().insert(session);
    next.run(request).await
}

fn login_context(
    state: &AppState,
    csrf: &str,
    user: &str,
    message: Option<(&str, String)>,
) -> minijinja::Value {
    minijinja::context! {
        title => "Log in",
        appliance => pages::appliance_cached(state),
        csrf => csrf,
        login_user => user,
        messages => message
            .map(|(kind, text)| minijinja::context! { kind => kind, text => text })
            .into_iter()
            .collect::<Vec<_>>(),
    }
}

/// The user a client certificate presented on this connection logs in as, if the owner's map
/// names it; `Err` says why a certificate that was presented does not.
fn certificate_user(
    state: &AppState,
    parts: &axum::http::request::Parts,
) -> Option<Result<String, String>> {
    let info = parts.extensions.get::<Arc<axum_server::tls::TlsInfo>>()?;
    let certificate = info.peer_certificates.first()?;
    let root = &state.config.root;
    let user = crate::tls::ClientCerts::load(root)
        .map(|map| map.user_for(certificate, &state.config.client_ca))
        .and_then(|user| {
            user.ok_or_else(|| {
                format!(
                    "Your certificate (SHA-256 {}) is not on the list of {}: log in with your password.",
                    crate::tls::fingerprint(certificate),
                    crate::tls::CLIENT_CERTS
                )
            })
        })
        .and_then(|user| match Users::load(root) {
            Ok(users) if users.contains(&user) => Ok(user),
            _ => Err(format!("The certificate's user `{user}` is not a user of appliance-control.")),
        });
    Some(user)
}

async fn login_page(State(state): State<Shared>, parts: axum::http::request::Parts) -> Response {
    let headers = &parts.headers;
    let mut message = None;
    match certificate_user(&state, &parts) {
        Some(Ok(user)) => return start_session(&state, &user),
        Some(Err(reason)) => message = Some(("error", reason)),
        None => {}
    }
    if let Some(token) = cookie(headers, SESSION_COOKIE)
        && state
            .sessions
            .lock()
            .is_ok_and(|mut s| s.get(token, Instant::now()).is_some())
    {
        return Redirect::to("/").into_response();
    }
    let csrf = match token() {
        Ok(csrf) => csrf,
        Err(error) => return no_randomness(&error),
    };
    let mut response = state.render("login.html", login_context(&state, &csrf, "", message));
    if let Ok(value) = HeaderValue::from_str(&set_cookie(LOGIN_COOKIE, &csrf, None)) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

#[derive(Deserialize)]
struct LoginForm {
    user: String,
    password: String,
    csrf: String,
}

async fn login(
    State(state): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    axum::Form(form): axum::Form<LoginForm>,
) -> Response {
    // The login form's own token, bound to a cookie (double submit).
    let expected = cookie(&headers, LOGIN_COOKIE).unwrap_or_default();
    if expected.is_empty() || !same(expected, &form.csrf) {
        return (
            StatusCode::FORBIDDEN,
            "the login form is out of date: reload the page and try again",
        )
            .into_response();
    }
    let wrong = |state: &AppState, user: &str| {
        let mut response = state.render(
            "login.html",
            login_context(
                state,
                &form.csrf,
                user,
                Some(("error", "Wrong user or password.".into())),
            ),
        );
        *response.status_mut() = StatusCode::UNAUTHORIZED;
        response
    };
    // A name no user can have is neither counted nor hashed.
    if !crate::users::valid_name(&form.user) {
        return wrong(&state, "");
    }
    let address = peer.ip();
    // Counted before it is hashed, so that guesses sent at once cannot all pass.
    let began = match state.throttle.lock() {
        Ok(mut throttle) => throttle.begin(address, &form.user, Instant::now()),
        Err(_) => Err(crate::session::MAX_WAIT),
    };
    if let Err(wait) = began {
        let seconds = wait.as_secs().max(1);
        let message = format!("Too many failed logins: try again in {seconds} seconds.");
        let mut response = state.render(
            "login.html",
            login_context(&state, &form.csrf, &form.user, Some(("error", message))),
        );
        *response.status_mut() = StatusCode::TOO_MANY_REQUESTS;
        if let Ok(value) = HeaderValue::from_str(&seconds.to_string()) {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        return response;
    }
    let Ok(_permit) = state.hashing.acquire().await else {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    };
    let root = state.config.root.clone();
    let (user, password) = (form.user.clone(), form.password);
    let verified = tokio::task::spawn_blocking(move || {
        Users::load(&root).map(|users| users.verify(&user, &password))
    })
    .await;
    let verified = match verified {
        Ok(Ok(verified)) => verified,
        // Not a wrong password: nobody can log in until the file is mended, and the one who
        // mends it needs to know.
        Ok(Err(error)) => {
            let mut response = state.render(
                "login.html",
                login_context(
                    &state,
                    &form.csrf,
                    &form.user,
                    Some(("error", users_unreadable(&error))),
                ),
            );
            *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
            return response;
        }
        Err(_) => false,
    };
    if !verified {
        if let Ok(mut throttle) = state.throttle.lock() {
            throttle.wrong(address, &form.user, Instant::now());
        }
        return wrong(&state, &form.user);
    }
    if let Ok(mut throttle) = state.throttle.lock() {
        throttle.succeeded(address, &form.user);
    }
    start_session(&state, &form.user)
}

/// Why no password can be checked, for the login page: the file and what is wrong with it, but
/// not the line's content (a stranger reads this page too).
fn users_unreadable(error: &crate::users::UsersError) -> String {
    use crate::users::UsersError;
    let cause = match error {
        UsersError::Read { path, source } => {
            format!("cannot read `{}`: {source}", path.display())
        }
        UsersError::Line { path, line, .. } => {
            format!("`{}` line {line} is not `NAME:HASH`", path.display())
        }
        other => other.to_string(),
    };
    format!("No password can be checked: {cause}. Nobody can log in until it is mended.")
}

/// Opens a session for `user` and sends them to the overview.
pub fn start_session(state: &AppState, user: &str) -> Response {
    let Some(credential) = Users::load(&state.config.root)
        .ok()
        .and_then(|users| users.hash(user).map(crate::session::credential))
    else {
        return (StatusCode::FORBIDDEN, "not a user of appliance-control").into_response();
    };
    let Ok(mut sessions) = state.sessions.lock() else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let session_token = match sessions.create(user, &credential, Instant::now()) {
        Ok(session_token) => session_token,
        Err(error) => return no_randomness(&error),
    };
    let mut response = Redirect::to("/").into_response();
    for cookie_text in [
        set_cookie(SESSION_COOKIE, &session_token, None),
        set_cookie(LOGIN_COOKIE, "", Some(0)),
    ] {
        if let Ok(value) = HeaderValue::from_str(&cookie_text) {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
    }
    response
}

/// The answer when no token can be made: a plain 500 that says why, rather than a cookie that
/// cannot work.
fn no_randomness(error: &appliance::random::RandomError) -> Response {
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        format!("cannot start a session: {error}"),
    )
        .into_response()
}

async fn logout(State(state): State<Shared>, headers: HeaderMap) -> Response {
    if let Some(token) = cookie(&headers, SESSION_COOKIE)
        && let Ok(mut sessions) = state.sessions.lock()
    {
        sessions.remove(token);
    }
    let mut response = Redirect::to("/login").into_response();
    if let Ok(value) = HeaderValue::from_str(&set_cookie(SESSION_COOKIE, "", Some(0))) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

/// The session the gate let through.
pub type CurrentSession = axum::Extension<Session>;

#[cfg(test)]
mod tests;
