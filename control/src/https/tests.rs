use std::path::Path;
use std::process::Command;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::*;
use crate::web::{AppState, Config, router};

#[test]
fn a_plain_request_is_sent_to_the_same_host_and_path_over_https() {
    let local: SocketAddr = "192.0.2.7:8080".parse().unwrap();
    let local6: SocketAddr = "[2001:db8::7]:8080".parse().unwrap();
    for (head, at, location) in [
        (
            "GET /backups?x=1 HTTP/1.1\r\nHost: wiki.example.org:8080\r\n\r\n",
            local,
            "https://wiki.example.org:8080/backups?x=1",
        ),
        (
            "POST /login HTTP/1.1\r\nhost: 127.0.0.1:18080\r\nContent-Length: 40\r\n\r\nuser=admin",
            local,
            "https://127.0.0.1:18080/login",
        ),
        // No port in Host: this port, not 443.
        (
            "GET / HTTP/1.1\r\nHost: appliance\r\n\r\n",
            local,
            "https://appliance:8080/",
        ),
        (
            "GET /x HTTP/1.1\r\nHost: [2001:db8::7]\r\n\r\n",
            local6,
            "https://[2001:db8::7]:8080/x",
        ),
        // No Host, or one that cannot go into a URL: the address the request came to.
        (
            "GET /login HTTP/1.0\r\n\r\n",
            local,
            "https://192.0.2.7:8080/login",
        ),
        (
            "GET / HTTP/1.1\r\nHost: evil.example/path\r\n\r\n",
            local6,
            "https://[2001:db8::7]:8080/",
        ),
        // A target that is not a path, or would split the header: `/`.
        (
            "GET //evil.example/ HTTP/1.1\r\nHost: a:1\r\n\r\n",
            local,
            "https://a:1/",
        ),
        (
            "GET http://a/ HTTP/1.1\r\nHost: a:1\r\n\r\n",
            local,
            "https://a:1/",
        ),
        // A lone CR or LF cannot smuggle a header into the answer, nor `@` a user into the URL.
        (
            "GET /a\rSet-Cookie:x HTTP/1.1\r\nHost: a\nSet-Cookie: x=1\r\n\r\n",
            local,
            "https://192.0.2.7:8080/",
        ),
        (
            "GET / HTTP/1.1\r\nHost: wiki.example.org@evil.example\r\n\r\n",
            local,
            "https://192.0.2.7:8080/",
        ),
        ("\u{1}\u{2}garbage", local, "https://192.0.2.7:8080/"),
        ("", local, "https://192.0.2.7:8080/"),
    ] {
        let answer = redirect_answer(head.as_bytes(), at);
        assert!(
            answer.starts_with("HTTP/1.1 301 Moved Permanently\r\n"),
            "{answer}"
        );
        assert!(
            answer.contains(&format!("\r\nLocation: {location}\r\n")),
            "{head:?}: {answer}"
        );
        let (headers, body) = answer.split_once("\r\n\r\n").unwrap();
        assert!(
            headers.contains(&format!("Content-Length: {}", body.len())),
            "{answer}"
        );
        assert!(!answer.to_lowercase().contains("set-cookie"), "{answer}");
    }
}

/// A certificate made by the script the package ships.
fn certificate(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/make-certificate");
    let status = Command::new("sh")
        .arg(script)
        .arg(dir.join("tls"))
        .status()
        .unwrap();
    assert!(status.success());
    (dir.join("tls/cert.pem"), dir.join("tls/key.pem"))
}

async fn plain(port: u16, request: &str) -> String {
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), stream.read_to_end(&mut answer))
        .await
        .unwrap()
        .unwrap();
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn one_port_serves_https_and_answers_plain_http_with_a_redirect_only() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = certificate(dir.path());
    let system = dir.path().join("system");
    std::fs::create_dir_all(&system).unwrap();
    let mut users = crate::users::Users::default();
    users.set_password("admin", "appliance-demo").unwrap();
    users.save(&system).unwrap();
    let config = crate::tls::server_config(&cert, &key, None).unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let state = AppState::new(Config::new(system.clone(), system.join("no-agent.sock")));
    tokio::spawn(serve(listener, config, router(state)));

    // Plain HTTP: a redirect, no login form, no cookie, and a login sent in clear is not taken.
    let page = plain(
        port,
        &format!("GET /login HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n"),
    )
    .await;
    assert!(page.starts_with("HTTP/1.1 301 "), "{page}");
    assert!(
        page.contains(&format!("Location: https://127.0.0.1:{port}/login\r\n")),
        "{page}"
    );
    let body = "user=admin&password=appliance-demo&csrf=00";
    let posted = plain(
        port,
        &format!(
            "POST /login HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        ),
    )
    .await;
    for answer in [&page, &posted] {
        assert!(answer.starts_with("HTTP/1.1 301 "), "{answer}");
        assert!(
            !answer.contains("password") && !answer.to_lowercase().contains("set-cookie"),
            "{answer}"
        );
    }

    // HTTPS, checked against the certificate itself (so it names 127.0.0.1): the login form,
    // a Secure cookie and HSTS.
    let https = tokio::task::spawn_blocking(move || {
        Command::new("curl")
            .args(["-sS", "-D", "-", "--cacert"])
            .arg(&cert)
            .arg(format!("https://127.0.0.1:{port}/login"))
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let answer = String::from_utf8_lossy(&https.stdout);
    assert!(
        https.status.success(),
        "{}",
        String::from_utf8_lossy(&https.stderr)
    );
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(
        answer.contains("strict-transport-security: max-age=31536000"),
        "{answer}"
    );
    assert!(
        answer.contains("set-cookie: appliance_login=") && answer.contains("; Secure"),
        "{answer}"
    );
    assert!(answer.contains("name=\"password\""), "{answer}");
}
