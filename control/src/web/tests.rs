use std::net::SocketAddr;

use axum::http::Request as HttpRequest;
use tower::ServiceExt;

use super::*;

fn state(root: &std::path::Path) -> Shared {
    AppState::new(Config::new(root.to_owned(), root.join("no-agent.sock")))
}

/// The address the tests' requests come from, unless they say another.
const ADDRESS: &str = "192.0.2.10";

/// The administrator's password in every test system.
const PASSWORD: &str = "appliance-demo";

/// A system whose one user is admin, served without an agent.
fn admin_only() -> (tempfile::TempDir, Shared) {
    let root = tempfile::tempdir().unwrap();
    let mut users = Users::default();
    users.set_password("admin", PASSWORD).unwrap();
    users.save(root.path()).unwrap();
    let state = state(root.path());
    (root, state)
}

async fn send_from(state: &Shared, address: &str, mut request: HttpRequest<Body>) -> Response {
    let peer: SocketAddr = format!("{address}:50000").parse().unwrap();
    request.extensions_mut().insert(ConnectInfo(peer));
    router(state.clone()).oneshot(request).await.unwrap()
}

async fn send(state: &Shared, request: HttpRequest<Body>) -> Response {
    send_from(state, ADDRESS, request).await
}

/// A GET of `uri` in the session `session`.
fn get_in(session: &str, uri: &str) -> HttpRequest<Body> {
    HttpRequest::get(uri)
        .header(header::COOKIE, format!("{SESSION_COOKIE}={session}"))
        .body(Body::empty())
        .unwrap()
}

/// A form sent to `uri` in the session `session`.
fn post_in(session: &str, uri: impl AsRef<str>, form: impl Into<Body>) -> HttpRequest<Body> {
    HttpRequest::post(uri.as_ref())
        .header(header::COOKIE, format!("{SESSION_COOKIE}={session}"))
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(form.into())
        .unwrap()
}

async fn text(response: Response) -> String {
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    String::from_utf8_lossy(&bytes).into_owned()
}

fn set_cookies(response: &Response) -> Vec<String> {
    response
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect()
}

fn cookie_value(response: &Response, name: &str) -> String {
    set_cookies(response)
        .iter()
        .find_map(|c| {
            c.strip_prefix(&format!("{name}="))
                .map(|r| r.split(';').next().unwrap().to_owned())
        })
        .unwrap_or_else(|| panic!("no {name} cookie in {:?}", set_cookies(response)))
}

fn hidden_csrf(html: &str) -> String {
    let start = html.find("name=\"csrf\" value=\"").unwrap() + 19;
    html[start..start + 64].to_owned()
}

#[tokio::test]
async fn every_protected_route_refuses_a_request_without_a_session() {
    let root = tempfile::tempdir().unwrap();
    let state = state(root.path());
    let routes = protected_routes();
    assert!(routes.len() >= 20, "the list is the router's");
    for (method, path, _) in routes {
        let uri = path.replace("{name}", "x");
        let request = HttpRequest::builder()
            .method(method.clone())
            .uri(&uri)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(
                "csrf=&name=x.abf&service=apache2&enable=yes&action=a",
            ))
            .unwrap();
        let response = send(&state, request).await;
        if method == Method::GET {
            assert_eq!(response.status(), StatusCode::SEE_OTHER, "{method} {uri}");
            assert_eq!(
                response.headers()[header::LOCATION],
                "/login",
                "{method} {uri}"
            );
        } else {
            assert_eq!(response.status(), StatusCode::FORBIDDEN, "{method} {uri}");
        }
        // A made-up session is no session.
        let request = HttpRequest::builder()
            .method(method.clone())
            .uri(&uri)
            .header(
                header::COOKIE,
                format!("{SESSION_COOKIE}={}", "a".repeat(64)),
            )
            .body(Body::empty())
            .unwrap();
        let response = send(&state, request).await;
        assert!(
            matches!(
                response.status(),
                StatusCode::SEE_OTHER | StatusCode::FORBIDDEN
            ),
            "{method} {uri}: {}",
            response.status()
        );
    }
    // The login page and the static files are open, and carry the security headers.
    for uri in ["/login", "/static/style.css", "/static/app.js"] {
        let response = send(&state, HttpRequest::get(uri).body(Body::empty()).unwrap()).await;
        assert_eq!(response.status(), StatusCode::OK, "{uri}");
        assert!(
            response
                .headers()
                .contains_key(header::CONTENT_SECURITY_POLICY)
        );
    }
    let response = send(
        &state,
        HttpRequest::get("/static/../../etc/passwd")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_ne!(response.status(), StatusCode::OK);
}

async fn login(state: &Shared, user: &str, password: &str) -> Response {
    login_from(state, ADDRESS, user, password).await
}

/// The administrator's session cookie.
async fn admin_session(state: &Shared) -> String {
    cookie_value(&login(state, "admin", PASSWORD).await, SESSION_COOKIE)
}

/// A login form's cookie, which is also the token in its hidden field.
async fn login_form(state: &Shared) -> String {
    let page = send(
        state,
        HttpRequest::get("/login").body(Body::empty()).unwrap(),
    )
    .await;
    let login_cookie = cookie_value(&page, LOGIN_COOKIE);
    assert_eq!(hidden_csrf(&text(page).await), login_cookie);
    login_cookie
}

/// Sends the login form opened with `form` from `address`.
async fn post_login(
    state: &Shared,
    form: &str,
    address: &str,
    user: &str,
    password: &str,
) -> Response {
    let body =
        serde_urlencoded::to_string([("user", user), ("password", password), ("csrf", form)])
            .unwrap();
    let request = HttpRequest::post("/login")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::COOKIE, format!("{LOGIN_COOKIE}={form}"))
        .body(Body::from(body))
        .unwrap();
    send_from(state, address, request).await
}

async fn login_from(state: &Shared, address: &str, user: &str, password: &str) -> Response {
    let form = login_form(state).await;
    post_login(state, &form, address, user, password).await
}

#[tokio::test]
async fn log_in_use_a_page_and_log_out() {
    let (_root, state) = admin_only();

    let response = login(&state, "admin", PASSWORD).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let session = cookie_value(&response, SESSION_COOKIE);
    let cookie = set_cookies(&response)
        .into_iter()
        .find(|c| c.starts_with(SESSION_COOKIE))
        .unwrap();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );

    let get = |uri: &str| get_in(&session, uri);
    let overview = send(&state, get("/")).await;
    assert_eq!(overview.status(), StatusCode::OK);
    let html = text(overview).await;
    assert!(
        html.contains("Overview") && html.contains("Log out admin"),
        "{html}"
    );
    let csrf = hidden_csrf(&html);

    // A form without the session's token is refused, and so is one with another token.
    for body in ["", "csrf=0000"] {
        let response = send(&state, post_in(&session, "/backups/create", body)).await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{body}");
    }
    // With it, the request reaches the agent (absent here) and the page says so.
    let response = send(
        &state,
        post_in(&session, "/backups/create", format!("csrf={csrf}")),
    )
    .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let backups = text(send(&state, get("/backups")).await).await;
    assert!(backups.contains("the agent does not answer"), "{backups}");

    let response = send(&state, post_in(&session, "/logout", format!("csrf={csrf}"))).await;
    assert_eq!(response.headers()[header::LOCATION], "/login");
    let after = send(&state, get("/")).await;
    assert_eq!(after.status(), StatusCode::SEE_OTHER, "the session is gone");
}

#[tokio::test]
async fn every_cookie_is_secure_and_every_answer_asks_for_https_from_now_on() {
    let (_root, state) = admin_only();
    let page = send(
        &state,
        HttpRequest::get("/login").body(Body::empty()).unwrap(),
    )
    .await;
    let logged_in = login(&state, "admin", PASSWORD).await;
    let session = cookie_value(&logged_in, SESSION_COOKIE);
    let without_token = send(
        &state,
        HttpRequest::post("/logout")
            .header(header::COOKIE, format!("{SESSION_COOKIE}={session}"))
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    let cookies: Vec<String> = [&page, &logged_in]
        .iter()
        .flat_map(|response| set_cookies(response))
        .collect();
    assert_eq!(cookies.len(), 3, "{cookies:?}");
    for cookie in cookies {
        assert!(
            cookie.contains("; Secure") && cookie.contains("HttpOnly"),
            "{cookie}"
        );
    }
    let anonymous = send(&state, HttpRequest::get("/").body(Body::empty()).unwrap()).await;
    let style = send(
        &state,
        HttpRequest::get("/static/style.css")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    for response in [&page, &logged_in, &without_token, &anonymous, &style] {
        assert_eq!(
            response.headers()[header::STRICT_TRANSPORT_SECURITY],
            "max-age=31536000"
        );
    }
}

#[tokio::test]
async fn wrong_passwords_are_refused_then_slowed() {
    let (_root, state) = admin_only();
    for _ in 0..crate::session::FREE_FAILURES {
        let response = login(&state, "admin", "guess").await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert!(text(response).await.contains("Wrong user or password"));
    }
    // Even the right password waits now.
    let response = login(&state, "admin", PASSWORD).await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(response.headers().contains_key(header::RETRY_AFTER));
    assert!(text(response).await.contains("Too many failed logins"));
    // A login form without its cookie is refused.
    let response = send(
        &state,
        HttpRequest::post("/login")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(format!(
                "user=admin&password=appliance-demo&csrf={}",
                "a".repeat(64)
            )))
            .unwrap(),
    )
    .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
}

/// An agent in a thread on a socket of the test's own, serving the real `Agent` over `root`.
fn agent_thread(root: &std::path::Path) -> std::path::PathBuf {
    let socket = root.join("agent.sock");
    let listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
    let root = root.to_owned();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { break };
            let agent = crate::agent::Agent {
                root: root.clone(),
                web_uid: None,
                system: &crate::agent::Host,
            };
            let mut reader = std::io::BufReader::new(stream.try_clone().unwrap());
            let mut writer = stream;
            let _ = agent.serve(Some(0), &mut reader, &mut writer);
        }
    });
    socket
}

/// A system with a user, a plugin, a backup in the store, a failed upgrade with its log, pending
/// updates, an interrupted dpkg and a smarthost.
fn lived_in(system: &std::path::Path) {
    let mut users = Users::default();
    users.set_password("admin", PASSWORD).unwrap();
    users.save(system).unwrap();
    // A plugin, a backup in the store, a finished job with its log, an interrupted dpkg.
    let plugins = system.join(appliance::plugin::PLUGIN_DIR);
    std::fs::create_dir_all(&plugins).unwrap();
    std::fs::write(
        plugins.join("wiki.yaml"),
        r#"appliance: wiki-appliance
title: The <Wiki>
services: [wiki]
settings:
  - {name: site-name, label: Wiki name, lens: Shellvars.lns, file: /etc/default/wiki, path: SITENAME}
actions:
  - {name: check, label: Check the wiki, confirm: Sure?, run: [/bin/true]}
  - name: add-user
    label: Add a user
    confirm: Add this user?
    parameters:
      - {name: name, label: User name}
      - {name: email, label: E-mail, kind: email, help: Where the wiki writes to}
      - {name: password, label: Password, kind: password}
    run: [/bin/sh, -c, 'IFS= read -r secret; printf "added %s <%s>, a password of %s characters
" "$1" "$2" "${#secret}"', add-user]
"#,
    )
    .unwrap();
    std::fs::create_dir_all(system.join("srv/wiki")).unwrap();
    std::fs::write(system.join("srv/wiki/page"), "hello").unwrap();
    let store = system.join(appliance::backup::store::BACKUP_DIR);
    std::fs::create_dir_all(&store).unwrap();
    let info = appliance::backup::info::Info {
        appliance: "wiki-appliance".into(),
        appdata_dirs: vec!["/srv/wiki".into()],
        sysconf_dirs: Vec::new(),
        timestamp: "2026-11-26T04:00:00Z".into(),
        version: "1.0".into(),
        package_version: None,
        plugin: None,
    };
    appliance::backup::write::create(
        system,
        &info,
        &store.join("wiki-appliance-20261126T040000Z.abf"),
        &appliance::backup::Quiet,
    )
    .unwrap();
    let jobs = system.join(crate::jobs::JOB_DIR);
    std::fs::create_dir_all(&jobs).unwrap();
    std::fs::write(
        jobs.join("current.json"),
        r#"{"id":"1-upgrade","kind":"upgrade","title":"Installing updates","state":"failed","started":"x","safety_backup":"wiki-appliance-20261126T040000Z.abf","error":"it broke"}"#,
    )
    .unwrap();
    std::fs::write(
        jobs.join("1-upgrade.log"),
        "pmstatus:libc6:50:Installing\nSetting up <libc6>\n",
    )
    .unwrap();
    std::fs::write(
        jobs.join("upgrades.json"),
        r#"[{"name":"libc6","old":"1","new":"2"},{"name":"newdep","old":null,"new":"1.0"}]"#,
    )
    .unwrap();
    std::fs::create_dir_all(system.join("var/lib/dpkg/updates")).unwrap();
    std::fs::write(system.join("var/lib/dpkg/updates/0001"), "").unwrap();
    std::fs::create_dir_all(system.join("etc/default")).unwrap();
    std::fs::write(system.join("etc/default/wiki"), "SITENAME=Old\n").unwrap();
    std::fs::create_dir_all(system.join("etc/postfix")).unwrap();
    std::fs::write(
        system.join("etc/postfix/main.cf"),
        "relayhost = [smtp.example.org]:587\n",
    )
    .unwrap();
    appliance::health::record(
        system,
        &appliance::health::Report {
            appliance: "wiki-appliance".into(),
            checked: "2026-11-26T04:05:00Z".into(),
            after: "an upgrade".into(),
            ok: false,
            checks: vec![appliance::health::Outcome {
                name: "front page".into(),
                ok: false,
                said: "answered `HTTP/1.1 502 <Bad> Gateway`".into(),
            }],
        },
    )
    .unwrap();
}

#[tokio::test]
async fn every_page_renders_with_real_data() {
    let root = tempfile::tempdir().unwrap();
    let system = root.path();
    let store = system.join(appliance::backup::store::BACKUP_DIR);
    lived_in(system);
    // A backup made on another system: its restore offers the system configuration only behind
    // a checkbox that names the risk.
    let elsewhere = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(elsewhere.path().join("etc/wiki")).unwrap();
    let info = appliance::backup::info::Info {
        appliance: "wiki-appliance".into(),
        sysconf_dirs: vec!["/etc/wiki".into()],
        timestamp: "2026-11-25T04:00:00Z".into(),
        version: "0.9".into(),
        ..appliance::backup::info::Info::default()
    };
    appliance::backup::write::create(
        elsewhere.path(),
        &info,
        &store.join("wiki-appliance-20261125T040000Z.abf"),
        &appliance::backup::Quiet,
    )
    .unwrap();
    let state = AppState::new(Config::new(system.to_owned(), agent_thread(system)));
    let response = login(&state, "admin", PASSWORD).await;
    let session = cookie_value(&response, SESSION_COOKIE);
    for (uri, expected) in [
        ("/", "The &lt;Wiki&gt;"),
        ("/", "2 pending"),
        ("/", "An installation was interrupted"),
        (
            "/",
            "failing</span>\n  wiki-appliance, checked 2026-11-26T04:05:00Z after an upgrade",
        ),
        (
            "/",
            "front page: answered `HTTP&#x2f;1.1 502 &lt;Bad&gt; Gateway`",
        ),
        ("/updates", "Setting up &lt;libc6&gt;"),
        ("/updates", "Restore wiki-appliance-20261126T040000Z.abf"),
        ("/updates", "newdep"),
        (
            "/backups",
            "/backups/download/wiki-appliance-20261126T040000Z.abf",
        ),
        ("/backups", "wiki-appliance 1.0"),
        ("/backups", "made on this system"),
        ("/backups", "from elsewhere"),
        ("/backups", "name=\"foreign-configuration-runs-as-root\""),
        ("/mail", "smtp.example.org"),
        ("/power", "wiki"),
        ("/", "href=\"&#x2f;plugins&#x2f;wiki\""),
        ("/plugins/wiki", "value=\"Old\""),
        ("/plugins/wiki", "Check the wiki"),
    ] {
        let response = send(&state, get_in(&session, uri)).await;
        assert_eq!(response.status(), StatusCode::OK, "{uri}");
        let html = text(response).await;
        assert!(html.contains(expected), "{uri}: no `{expected}` in\n{html}");
        assert!(!html.contains("<libc6>"), "{uri}: escaped");
    }
    // The download is the stored file, byte for byte.
    let response = send(
        &state,
        get_in(
            &session,
            "/backups/download/wiki-appliance-20261126T040000Z.abf",
        ),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 24)
        .await
        .unwrap();
    assert_eq!(
        bytes.as_ref(),
        std::fs::read(store.join("wiki-appliance-20261126T040000Z.abf")).unwrap()
    );
}

#[tokio::test]
async fn a_plugin_page_sets_and_acts_through_the_agent() {
    let root = tempfile::tempdir().unwrap();
    let system = root.path();
    lived_in(system);
    let state = AppState::new(Config::new(system.to_owned(), agent_thread(system)));
    let response = login(&state, "admin", PASSWORD).await;
    let session = cookie_value(&response, SESSION_COOKIE);
    // The plugin's setting and action go through the agent.
    let html = text(send(&state, get_in(&session, "/plugins/wiki")).await).await;
    let csrf = hidden_csrf(&html);
    for (uri, body) in [
        (
            "/plugins/wiki/settings",
            format!("csrf={csrf}&site-name=New"),
        ),
        ("/plugins/wiki/action", format!("csrf={csrf}&action=check")),
    ] {
        let response = send(&state, post_in(&session, uri, body)).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{uri}");
    }
    assert_eq!(
        std::fs::read_to_string(system.join("etc/default/wiki")).unwrap(),
        "SITENAME=New\n"
    );
    let html = text(send(&state, get_in(&session, "/plugins/wiki")).await).await;
    assert!(html.contains("Done: Check the wiki"), "{html}");
}

#[tokio::test]
async fn the_updates_page_turns_the_safety_backups_off_and_on() {
    let root = tempfile::tempdir().unwrap();
    let system = root.path();
    lived_in(system);
    std::fs::create_dir_all(system.join("etc/apt/apt.conf.d")).unwrap();
    let state = AppState::new(Config::new(system.to_owned(), agent_thread(system)));
    let response = login(&state, "admin", PASSWORD).await;
    let session = cookie_value(&response, SESSION_COOKIE);
    let off = system.join(crate::agent::updates::SAFETY_BACKUPS_OFF);
    for (enable, exists, says) in [
        ("no", true, "No more safety backups"),
        ("yes", false, "A safety backup is made before every change"),
    ] {
        let html = text(send(&state, get_in(&session, "/updates")).await).await;
        assert!(
            html.contains(if exists {
                "Turn them off"
            } else {
                "Turn them on"
            }),
            "{html}"
        );
        let csrf = hidden_csrf(&html);
        let response = send(
            &state,
            post_in(
                &session,
                "/updates/safety-backups",
                format!("csrf={csrf}&enable={enable}"),
            ),
        )
        .await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        assert_eq!(off.exists(), exists);
        let html = text(send(&state, get_in(&session, "/updates")).await).await;
        assert!(html.contains(says), "{html}");
    }
    // Unattended updates need the package; the history is APT's log, with the safety backup
    // made for a transaction and its health afterwards.
    std::fs::create_dir_all(system.join("var/log/apt")).unwrap();
    std::fs::write(
        system.join(crate::unattended::HISTORY),
        "Start-Date: 2026-11-30  03:15:00\nCommandline: /usr/bin/unattended-upgrade\n\
         Upgrade: apache2:amd64 (2.4.1, 2.4.2)\nEnd-Date: 2026-11-30  03:15:09\n",
    )
    .unwrap();
    let safety = system.join(appliance::backup::safety::SAFETY_DIR);
    std::fs::create_dir_all(&safety).unwrap();
    std::fs::write(
        safety.join("wiki-appliance-2026-11-30T031500Z.json"),
        serde_json::json!({
            "backup": "wiki-appliance-2026-11-30T031500Z.abf", "appliance": "wiki-appliance",
            "made": "2026-11-30T03:15:00Z", "guarded": ["apache2"],
            "transaction": [{"package": "apache2", "before": "2.4.1", "after": "2.4.2"}],
            "health": {"ok": false, "checked": "2026-11-30T03:16:00Z",
                       "summary": "wiki-appliance: UNHEALTHY after an unattended upgrade"},
        })
        .to_string(),
    )
    .unwrap();
    let html = text(send(&state, get_in(&session, "/updates")).await).await;
    assert!(
        html.contains("unattended-upgrades is not installed"),
        "{html}"
    );
    let history = &html[html.find("id=\"history\"").unwrap()..];
    assert!(
        history.contains("<td>unattended-upgrades</td>")
            && history.contains("apache2 upgrade 2.4.2")
            && history.contains("<td>wiki-appliance-2026-11-30T031500Z.abf</td>")
            && history.contains(">UNHEALTHY</span>"),
        "{history}"
    );
    // The last transaction can be rolled back from the page.
    assert!(html.contains("action=\"/updates/rollback\""), "{html}");
    // Debian 12 can move to 13 from the page; 13, the newest, cannot move yet.
    assert!(!html.contains("id=\"release\""), "no release known: {html}");
    std::fs::create_dir_all(system.join("etc")).unwrap();
    for (release, offered) in [("bookworm", true), ("trixie", false)] {
        std::fs::write(
            system.join("etc/os-release"),
            format!("ID=debian\nVERSION_CODENAME={release}\n"),
        )
        .unwrap();
        let html = text(send(&state, get_in(&session, "/updates")).await).await;
        assert_eq!(
            html.contains("id=\"release\""),
            offered,
            "{release}: {html}"
        );
        if offered {
            assert!(
                html.contains("This system runs Debian bookworm")
                    && html.contains("action=\"/updates/release-check\"")
                    && html.contains("action=\"/updates/release-upgrade\"")
                    && html.contains(">Move to trixie</button>"),
                "{html}"
            );
        }
    }
}

#[tokio::test]
async fn an_uploaded_backup_is_checked_and_kept_and_a_bad_one_refused() {
    let root = tempfile::tempdir().unwrap();
    let system = root.path();
    lived_in(system);
    let store = system.join(appliance::backup::store::BACKUP_DIR);
    let good = std::fs::read(store.join("wiki-appliance-20261126T040000Z.abf")).unwrap();
    let state = AppState::new(Config::new(system.to_owned(), agent_thread(system)));
    let session = admin_session(&state).await;
    let page = |uri: &str| get_in(&session, uri);
    let csrf = hidden_csrf(&text(send(&state, page("/backups")).await).await);
    for (name, bytes, expected) in [
        ("copy.abf", good.clone(), "Uploaded copy.abf"),
        ("broken.abf", b"PK not a zip".to_vec(), "broken.abf"),
    ] {
        let boundary = "XappliancecontrolX";
        let mut body = format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"backup\"; filename=\"{name}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
        )
        .into_bytes();
        body.extend_from_slice(&bytes);
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        let response = send(
            &state,
            HttpRequest::post(format!("/backups/upload?csrf={csrf}"))
                .header(header::COOKIE, format!("{SESSION_COOKIE}={session}"))
                .header(
                    header::CONTENT_TYPE,
                    format!("multipart/form-data; boundary={boundary}"),
                )
                .body(Body::from(body))
                .unwrap(),
        )
        .await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        let html = text(send(&state, page("/backups")).await).await;
        assert!(html.contains(expected), "{html}");
    }
    assert_eq!(std::fs::read(store.join("copy.abf")).unwrap(), good);
    assert!(!store.join("broken.abf").exists());
    let uploads = system.join(crate::agent::UPLOAD_DIR);
    assert_eq!(
        std::fs::read_dir(uploads).unwrap().count(),
        0,
        "nothing left behind"
    );
}

/// A lived-in system served with a real agent, and an administrator's session.
async fn plugin_session() -> (tempfile::TempDir, Shared, String) {
    let root = tempfile::tempdir().unwrap();
    let system = root.path();
    lived_in(system);
    let state = AppState::new(Config::new(system.to_owned(), agent_thread(system)));
    let session = admin_session(&state).await;
    (root, state, session)
}

fn plugin_page(session: &str) -> HttpRequest<Body> {
    get_in(session, "/plugins/wiki")
}

#[tokio::test]
async fn an_action_with_parameters_is_a_form_whose_password_field_is_never_filled() {
    let (_root, state, session) = plugin_session().await;
    let html = text(send(&state, plugin_page(&session)).await).await;
    for expected in [
        "<h2>Add a user</h2>",
        "autocomplete=\"off\"",
        "<input name=\"param-name\" required maxlength=\"256\" autocomplete=\"off\">",
        "<input name=\"param-email\" required maxlength=\"256\" autocomplete=\"off\" type=\"email\">",
        "Where the wiki writes to",
        "<input name=\"param-password\" type=\"password\" autocomplete=\"new-password\" required maxlength=\"256\">",
        "data-confirm=\"Add this user?\"",
        // The action without parameters stays a button.
        "Check the wiki</button>",
    ] {
        assert!(html.contains(expected), "no `{expected}` in\n{html}");
    }
}

#[tokio::test]
async fn an_action_form_passes_its_values_and_never_shows_the_password() {
    let (_root, state, session) = plugin_session().await;
    let page = || plugin_page(&session);
    let post = |body: String| post_in(&session, "/plugins/wiki/action", body);
    let html = text(send(&state, page()).await).await;
    let csrf = hidden_csrf(&html);
    let secret = "hunter2 horse";
    let form = |fields: &[(&str, &str)]| {
        let mut all = vec![("csrf", csrf.as_str()), ("action", "add-user")];
        all.extend_from_slice(fields);
        serde_urlencoded::to_string(all).unwrap()
    };
    // The CSRF gate stands before it.
    let forged = serde_urlencoded::to_string([
        ("action", "add-user"),
        ("param-name", "Mallory"),
        ("param-email", "m@example.org"),
        ("param-password", secret),
    ])
    .unwrap();
    assert_eq!(
        send(&state, post(forged)).await.status(),
        StatusCode::FORBIDDEN
    );
    let good = [
        ("param-name", "Alice"),
        ("param-email", "alice@example.org"),
        ("param-password", secret),
    ];
    let response = send(&state, post(form(&good))).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let html = text(send(&state, page()).await).await;
    assert!(
        html.contains(
            "Done: Add a user\nadded Alice &lt;alice@example.org&gt;, a password of 13 characters"
        ),
        "{html}"
    );
    assert!(!html.contains("hunter2"), "{html}");
    for (fields, expected) in [
        (&good[..2], "Password is required"),
        (
            &[
                ("param-name", "Alice"),
                ("param-email", "alice@example.org"),
                ("param-password", secret),
                ("param-admin", "yes"),
            ][..],
            "has no parameter `admin`",
        ),
        (
            &[
                ("param-name", "Alice"),
                ("param-email", "alice at example.org"),
                ("param-password", secret),
            ][..],
            "E-mail: `alice at example.org` is not a valid mail address",
        ),
        (
            &[
                ("param-name", "Alice"),
                ("param-email", "alice@example.org"),
                ("param-password", "hunter2\nroot"),
            ][..],
            "one line",
        ),
    ] {
        let response = send(&state, post(form(fields))).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        let html = text(send(&state, page()).await).await;
        assert!(
            html.contains("class=\"message error\"") && html.contains(expected),
            "no `{expected}` in\n{html}"
        );
        assert!(!html.contains("hunter2"), "{html}");
    }
}

#[tokio::test]
async fn a_broken_plugin_manifest_is_named_and_does_not_hide_the_others() {
    let root = tempfile::tempdir().unwrap();
    let system = root.path();
    lived_in(system);
    // Sorted before the good one, so that reading all of them stops at it.
    let plugins = system.join(appliance::plugin::PLUGIN_DIR);
    std::fs::write(
        plugins.join("aaa-broken.yaml"),
        "appliance: [not, a, name\n",
    )
    .unwrap();
    let state = AppState::new(Config::new(system.to_owned(), agent_thread(system)));
    let session = admin_session(&state).await;
    let html = text(send(&state, get_in(&session, "/")).await).await;
    assert!(
        html.contains("href=\"&#x2f;plugins&#x2f;wiki\"") && html.contains("The &lt;Wiki&gt;"),
        "the good plugin is still there: {html}"
    );
    assert!(
        html.contains("aaa-broken.yaml") && html.contains("is not valid"),
        "the broken one is named, with the reason: {html}"
    );
    // The agent still restarts what the good manifest declares.
    let answer = client::ask::<crate::agent::power::Restarted>(
        &state.config.agent,
        &crate::protocol::Request::Restart {
            service: "no-such-service-declared".into(),
        },
    )
    .await
    .unwrap_err();
    assert!(answer.contains("no plugin declares"), "{answer}");
}

#[tokio::test]
async fn a_session_ends_when_its_users_password_changes_or_the_user_goes() {
    let root = tempfile::tempdir().unwrap();
    let mut users = Users::default();
    users.set_password("admin", PASSWORD).unwrap();
    users.set_password("bob", "bobs password").unwrap();
    users.save(root.path()).unwrap();
    let state = state(root.path());
    let overview = |session: &str| get_in(session, "/");
    let admin = admin_session(&state).await;
    let bob = cookie_value(&login(&state, "bob", "bobs password").await, SESSION_COOKIE);
    for session in [&admin, &bob] {
        assert_eq!(
            send(&state, overview(session)).await.status(),
            StatusCode::OK
        );
    }
    // `appliance-control passwd admin`, from another process.
    users.set_password("admin", "a new password").unwrap();
    users.save(root.path()).unwrap();
    let after = send(&state, overview(&admin)).await;
    assert_eq!(after.status(), StatusCode::SEE_OTHER);
    assert_eq!(after.headers()[header::LOCATION], "/login");
    assert_eq!(send(&state, overview(&bob)).await.status(), StatusCode::OK);
    // bob removed from the file.
    std::fs::write(
        root.path().join(crate::users::USERS_FILE),
        Users::load(root.path())
            .unwrap()
            .render()
            .replace(&format!("bob:{}\n", users.hash("bob").unwrap()), ""),
    )
    .unwrap();
    assert_eq!(
        send(&state, overview(&bob)).await.status(),
        StatusCode::SEE_OTHER
    );
    // The new password opens a new session.
    let again = cookie_value(
        &login(&state, "admin", "a new password").await,
        SESSION_COOKIE,
    );
    assert_eq!(
        send(&state, overview(&again)).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_strangers_wrong_guesses_do_not_lock_the_administrator_out() {
    let (_root, state) = admin_only();
    // Waits double, so the stranger soon waits, however slow this machine is.
    let mut waits = false;
    for _ in 0..20 {
        let status = login_from(&state, "198.51.100.66", "admin", "a guess!")
            .await
            .status();
        if status == StatusCode::TOO_MANY_REQUESTS {
            waits = true;
            break;
        }
    }
    assert!(waits, "the stranger waits");
    let owner = login_from(&state, ADDRESS, "admin", PASSWORD).await;
    assert_eq!(owner.status(), StatusCode::SEE_OTHER, "the owner does not");
}

#[tokio::test]
async fn a_name_that_cannot_be_a_user_is_refused_before_it_is_counted_or_hashed() {
    let (_root, state) = admin_only();
    let long = "x".repeat(10_000);
    for name in ["Not A User!", long.as_str(), "", "admin\n"] {
        let response = login_from(&state, ADDRESS, name, "whatever").await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{name:.20}");
        assert!(
            text(response).await.contains("Wrong user or password"),
            "no hint which part was wrong"
        );
    }
    // Enough names that, counted, they would make this address wait (each name its own, so
    // that no one name's own wait hides the address's count).
    for n in 0..crate::session::FREE_FAILURES_PER_ADDRESS {
        let name = format!("Not A User {n}!");
        let response = login_from(&state, ADDRESS, &name, "whatever").await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{name}");
    }
    let owner = login_from(&state, ADDRESS, "admin", PASSWORD).await;
    assert_eq!(owner.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn a_users_file_that_cannot_be_read_is_said_not_taken_for_a_wrong_password() {
    let (root, state) = admin_only();
    let users = root.path().join(crate::users::USERS_FILE);
    std::fs::write(&users, "admin:not a hash\n").unwrap();
    let response = login(&state, "admin", PASSWORD).await;
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let html = text(response).await;
    assert!(
        html.contains("No password can be checked") && html.contains("line 1"),
        "{html}"
    );
    assert!(!html.contains("Wrong user or password"), "{html}");
    assert!(
        !html.contains("not a hash"),
        "the line itself stays unsaid: {html}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn guesses_sent_at_once_are_counted_before_they_are_hashed() {
    let (_root, state) = admin_only();
    let mut forms = Vec::new();
    for _ in 0..12 {
        forms.push(login_form(&state).await);
    }
    let guesses: Vec<_> = forms
        .into_iter()
        .enumerate()
        .map(|(n, form)| {
            let state = state.clone();
            tokio::spawn(async move {
                post_login(
                    &state,
                    &form,
                    "198.51.100.66",
                    "admin",
                    &format!("guess {n}"),
                )
                .await
                .status()
            })
        })
        .collect();
    let mut hashed = 0;
    for guess in guesses {
        if guess.await.unwrap() == StatusCode::UNAUTHORIZED {
            hashed += 1;
        }
    }
    assert!(
        hashed <= crate::session::FREE_FAILURES as usize,
        "{hashed} guesses were tried at once"
    );
}

#[tokio::test]
async fn an_upload_larger_than_the_limit_is_refused_and_not_kept() {
    let root = tempfile::tempdir().unwrap();
    let system = root.path();
    lived_in(system);
    let mut config = Config::new(system.to_owned(), agent_thread(system));
    config.upload_limit = 4096;
    let state = AppState::new(config);
    let session = admin_session(&state).await;
    let page = |uri: &str| get_in(&session, uri);
    let csrf = hidden_csrf(&text(send(&state, page("/backups")).await).await);
    let boundary = "XappliancecontrolX";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"backup\"; filename=\"big.abf\"\r\nContent-Type: application/octet-stream\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(&[b'x'; 10_000]);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    // Once with the length announced, once streamed without it.
    for announced in [true, false] {
        let mut request = HttpRequest::post(format!("/backups/upload?csrf={csrf}"))
            .header(header::COOKIE, format!("{SESSION_COOKIE}={session}"))
            .header(
                header::CONTENT_TYPE,
                format!("multipart/form-data; boundary={boundary}"),
            );
        if announced {
            request = request.header(header::CONTENT_LENGTH, body.len());
        }
        let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
            body.chunks(1000).map(|c| Ok(c.to_vec())).collect();
        let response = send(
            &state,
            request
                .body(Body::from_stream(futures_util::stream::iter(chunks)))
                .unwrap(),
        )
        .await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        let html = text(send(&state, page("/backups")).await).await;
        assert!(
            html.contains("larger than") && html.contains("4 KiB"),
            "announced: {announced}: {html}"
        );
        let uploads = system.join(crate::agent::UPLOAD_DIR);
        assert_eq!(
            std::fs::read_dir(&uploads).map_or(0, Iterator::count),
            0,
            "nothing kept"
        );
        assert!(
            !system
                .join(appliance::backup::store::BACKUP_DIR)
                .join("big.abf")
                .exists()
        );
    }
}

#[tokio::test]
async fn a_posts_message_and_an_error_of_the_page_after_it_are_both_shown() {
    let root = tempfile::tempdir().unwrap();
    let system = root.path();
    lived_in(system);
    std::fs::create_dir_all(system.join("etc/apt/apt.conf.d")).unwrap();
    let state = AppState::new(Config::new(system.to_owned(), agent_thread(system)));
    let session = admin_session(&state).await;
    let html = text(send(&state, get_in(&session, "/updates")).await).await;
    let csrf = hidden_csrf(&html);
    // APT's history cannot be read once the form is sent: the page says so, and still says
    // what the form did.
    std::fs::create_dir_all(system.join("var/log/apt")).unwrap();
    std::fs::write(system.join(crate::unattended::HISTORY_ROTATED), "not gzip").unwrap();
    let response = send(
        &state,
        post_in(
            &session,
            "/updates/safety-backups",
            format!("csrf={csrf}&enable=no"),
        ),
    )
    .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let html = text(send(&state, get_in(&session, "/updates")).await).await;
    assert!(
        html.contains("No more safety backups") && html.contains("cannot read APT&#x27;s history"),
        "{html}"
    );
    // Each was said once.
    let html = text(send(&state, get_in(&session, "/updates")).await).await;
    assert!(!html.contains("No more safety backups"), "{html}");
}
