use super::*;
use std::net::TcpListener;

/// A one-request-at-a-time HTTP server on a free port of 127.0.0.1 that answers `answer` to
/// every request, for `count` requests; returns its port.
fn server(answer: &'static str, count: usize) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(count) {
            let mut stream = stream.unwrap();
            read_request(&mut stream);
            let _ = stream.write_all(answer.as_bytes());
        }
    });
    port
}

/// Reads a request to its blank line.
fn read_request(stream: &mut std::net::TcpStream) {
    let mut request = Vec::new();
    let mut byte = [0u8; 1];
    while !request.ends_with(b"\r\n\r\n") && stream.read(&mut byte).unwrap_or(0) == 1 {
        request.push(byte[0]);
    }
}

fn manifest(health: &str) -> Manifest {
    Manifest::parse(&format!("appliance: wiki-appliance\nhealth:\n{health}")).unwrap()
}

#[test]
fn addresses_of_this_host_only() {
    assert_eq!(
        Url::parse("http://127.0.0.1:8000/Home").unwrap(),
        Url {
            host: "127.0.0.1".into(),
            port: 8000,
            path: "/Home".into()
        }
    );
    assert_eq!(Url::parse("http://localhost").unwrap().path, "/");
    assert_eq!(Url::parse("http://[::1]:81/x").unwrap().port, 81);
    for (bad, says) in [
        ("https://127.0.0.1/", "not an http://"),
        ("http://example.org/", "this host only"),
        ("http://127.0.0.1:http/", "not a port"),
        ("http://127.0.0.1/a b", "a space"),
    ] {
        let error = Url::parse(bad).unwrap_err();
        assert!(error.contains(says), "{bad}: {error}");
    }
}

#[test]
fn the_manifest_says_one_way_to_check() {
    let parsed = manifest(
        "  - name: front page\n    http: http://127.0.0.1/\n    contains: Wiki\n  - name: moin\n    run: [/usr/bin/systemctl, is-active, moin]\n    timeout: 5\n",
    );
    assert_eq!(parsed.health.len(), 2);
    assert_eq!(parsed.health[0].timeout, 60);
    assert_eq!(parsed.health[1].timeout, 5);
    for (health, says) in [
        ("  - name: x\n", "needs one of `http` or `run`"),
        (
            "  - name: x\n    http: http://127.0.0.1/\n    run: [/bin/true]\n",
            "needs one of",
        ),
        (
            "  - name: x\n    run: [/bin/true]\n    contains: y\n",
            "`contains` goes with `http`",
        ),
        ("  - name: x\n    run: [true]\n", "absolute path"),
        (
            "  - name: x\n    http: http://example.org/\n",
            "this host only",
        ),
        (
            "  - name: x\n    run: [/bin/true]\n    timeout: 0\n",
            "1 to 3600",
        ),
        ("  - name: ' '\n    run: [/bin/true]\n", "no name"),
    ] {
        let error =
            Manifest::parse(&format!("appliance: wiki-appliance\nhealth:\n{health}")).unwrap_err();
        assert!(error.contains(says), "{health}: {error}");
    }
}

#[test]
fn an_answer_that_holds_the_text_passes_and_others_fail() {
    let good = server(
        "HTTP/1.0 200 OK\r\nContent-Type: text/html\r\n\r\n<title>Home - Wiki</title>",
        1,
    );
    let wrong = server("HTTP/1.0 200 OK\r\n\r\nan nginx welcome page", 10);
    let broken = server("HTTP/1.0 502 Bad Gateway\r\n\r\n<title>Home</title>", 10);
    let closed = {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let checks = format!(
        "  - {{name: good, http: 'http://127.0.0.1:{good}/', contains: '<title>Home'}}\n\
         \x20 - {{name: wrong, http: 'http://127.0.0.1:{wrong}/', contains: '<title>Home', timeout: 1}}\n\
         \x20 - {{name: broken, http: 'http://127.0.0.1:{broken}/', timeout: 1}}\n\
         \x20 - {{name: closed, http: 'http://127.0.0.1:{closed}/', timeout: 1}}\n\
         \x20 - {{name: command, run: [/bin/true]}}\n\
         \x20 - {{name: failing command, run: [/bin/sh, -c, 'echo stopped >&2; exit 3'], timeout: 1}}\n"
    );
    let report = check(Path::new("/"), &manifest(&checks), "an upgrade");
    let said: Vec<(&str, bool, &str)> = report
        .checks
        .iter()
        .map(|c| (c.name.as_str(), c.ok, c.said.as_str()))
        .collect();
    assert!(!report.ok);
    assert_eq!(said[0], ("good", true, "answered `HTTP/1.0 200 OK`"));
    assert_eq!(
        said[1],
        (
            "wrong",
            false,
            "answered `HTTP/1.0 200 OK` without `<title>Home`"
        )
    );
    assert_eq!(
        said[2],
        ("broken", false, "answered `HTTP/1.0 502 Bad Gateway`")
    );
    assert!(
        !said[3].1 && said[3].2.starts_with("cannot connect to 127.0.0.1:"),
        "{said:?}"
    );
    assert_eq!(said[4], ("command", true, "succeeded"));
    assert!(!said[5].1 && said[5].2.contains("stopped"), "{said:?}");
    let summary = report.summary();
    assert!(
        summary.starts_with("wiki-appliance: UNHEALTHY after an upgrade: wrong: ")
            && !summary.contains("good:"),
        "{summary}"
    );
}

#[test]
fn a_service_that_comes_up_late_passes_within_its_time() {
    // Nothing listens for the first two seconds.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(2));
        let listener = TcpListener::bind(("127.0.0.1", port)).unwrap();
        let (mut stream, _) = listener.accept().unwrap();
        read_request(&mut stream);
        let _ = stream.write_all(b"HTTP/1.0 200 OK\r\n\r\nup");
    });
    let report = check(
        Path::new("/"),
        &manifest(&format!(
            "  - {{name: late, http: 'http://127.0.0.1:{port}/', contains: up, timeout: 20}}\n"
        )),
        "a restore",
    );
    assert!(report.ok, "{report:?}");
    assert_eq!(report.summary(), "wiki-appliance: healthy (1 check passed)");
}

#[test]
fn results_are_recorded_and_the_mark_taken_once() {
    let root = tempfile::tempdir().unwrap();
    assert!(last(root.path(), "wiki-appliance").is_none());
    // A chroot would need a whole system: run on /, record under the test's root.
    let report = check(
        Path::new("/"),
        &manifest("  - {name: command, run: [/bin/true]}\n"),
        "a request",
    );
    let path = record(root.path(), &report).unwrap();
    assert_eq!(
        path,
        root.path().join(HEALTH_DIR).join("wiki-appliance.json")
    );
    assert_eq!(last(root.path(), "wiki-appliance"), Some(report.clone()));
    assert_eq!(all(root.path()), [report]);
    assert!(last(root.path(), "../etc").is_none());

    assert_eq!(take_pending(root.path()).unwrap(), None);
    mark_pending(root.path(), "an upgrade").unwrap();
    assert_eq!(
        take_pending(root.path()).unwrap().as_deref(),
        Some("an upgrade")
    );
    assert_eq!(take_pending(root.path()).unwrap(), None);
}

#[test]
fn the_mail_names_what_failed() {
    let report = Report {
        appliance: "wiki-appliance".into(),
        checked: "2026-11-30T03:15:00Z".into(),
        after: "an upgrade".into(),
        ok: false,
        checks: vec![
            Outcome {
                name: "front page".into(),
                ok: false,
                said: "answered `HTTP/1.1 502 Bad Gateway`".into(),
            },
            Outcome {
                name: "moin".into(),
                ok: true,
                said: "succeeded".into(),
            },
        ],
    };
    let mail = failure_mail("wiki", &report, None);
    assert!(
        mail.starts_with("To: root\nSubject: wiki: wiki-appliance is unhealthy after an upgrade\n")
    );
    assert!(mail.contains("\n\nThe health checks of wiki-appliance on wiki failed"));
    assert!(mail.contains("  FAILED front page: answered `HTTP/1.1 502 Bad Gateway`\n"));
    assert!(mail.contains("  passed moin: succeeded\n"));
    assert!(mail.ends_with("`va-backup list` shows every backup.\n"));
    let noted = failure_mail("wiki", &report, Some("Rolling back."));
    assert!(
        noted.ends_with("every backup.\n\nRolling back.\n"),
        "{noted}"
    );
    // A subject is one line, whatever a name holds.
    assert_eq!(
        mail_head("wiki", "a\nBcc: x"),
        "To: root\nSubject: wiki: a Bcc: x\nAuto-Submitted: auto-generated\n\
         Content-Type: text/plain; charset=utf-8\n\n"
    );
    // A failure on a system without sendmail says it could not be mailed; a healthy result is
    // not mailed at all (so that lack is no error).
    let unmailed = mail_failure(Path::new("/nonexistent"), &report, None).unwrap_err();
    assert!(unmailed.contains("no /usr/sbin/sendmail"), "{unmailed}");
    let healthy = Report { ok: true, ..report };
    mail_failure(Path::new("/nonexistent"), &healthy, None).unwrap();
}

#[test]
fn unattended_upgrades_is_known_by_its_command_line() {
    for yes in [
        &b"/usr/bin/python3\0/usr/bin/unattended-upgrade\0"[..],
        b"/usr/bin/python3\0-E\0/usr/bin/unattended-upgrade\0--verbose\0",
        b"/usr/bin/unattended-upgrade\0",
        b"unattended-upgrades\0",
    ] {
        assert!(
            is_unattended_upgrade(yes),
            "{}",
            String::from_utf8_lossy(yes)
        );
    }
    assert!(!is_unattended_upgrade(b"apt-get\0upgrade\0"));
    assert!(!is_unattended_upgrade(
        b"/usr/bin/python3\0/usr/bin/unattended-upgrade-shutdown\0"
    ));
    assert!(!is_unattended_upgrade(
        b"vi\0/etc/apt/apt.conf.d/50unattended-upgrades\0"
    ));
    assert!(!is_unattended_upgrade(b""));
    // This test is not run by it.
    assert!(!run_by_unattended_upgrades());
}

#[test]
fn the_port_comes_from_the_first_listen_directive_of_apache_or_nginx() {
    let apache = "# If you just change the port...\n#Listen 8000\nListen 127.0.0.1:8081\n\
                  <IfModule ssl_module>\n\tListen 443\n</IfModule>\n";
    assert_eq!(listen_port(apache), Some(8081));
    assert_eq!(listen_port("Listen 80 http\n"), Some(80));
    assert_eq!(listen_port("Listen [::]:8443\n"), Some(8443));
    let nginx = "server {\n    listen unix:/run/wiki.sock;\n    listen [::]:8000 default_server;\n\
                 listen 80;\n    server_name _;\n}\n";
    assert_eq!(listen_port(nginx), Some(8000));
    assert_eq!(listen_port("\tlisten 127.0.0.1:8080 ssl;\n"), Some(8080));
    for none in [
        "",
        "ListenBacklog 511\n",
        "# Listen 80\n",
        "listen 0;\n",
        "listen :x;\n",
    ] {
        assert_eq!(listen_port(none), None, "{none:?}");
    }
}

#[test]
fn a_check_with_port_from_asks_the_port_the_site_listens_on() {
    let good = server("HTTP/1.0 200 OK\r\n\r\n<title>Home - Wiki</title>", 1);
    let root = tempfile::tempdir().unwrap();
    fs_err::create_dir_all(root.path().join("etc/apache2")).unwrap();
    fs_err::write(
        root.path().join("etc/apache2/ports.conf"),
        format!("Listen 127.0.0.1:{good}\n"),
    )
    .unwrap();
    // The address says port 1, where nothing answers: the file's port is the one asked.
    let checks = "  - {name: moved, http: 'http://127.0.0.1:1/', contains: '<title>Home', \
                  port-from: /etc/apache2/ports.conf}\n  \
                  - {name: unread, http: 'http://127.0.0.1/', port-from: /etc/nginx/none, timeout: 1}\n";
    let report = check(root.path(), &manifest(checks), "a request");
    assert_eq!(
        report.checks[0].said, "answered `HTTP/1.0 200 OK`",
        "{report:?}"
    );
    assert!(report.checks[0].ok);
    assert!(
        !report.checks[1].ok && report.checks[1].said.contains("/etc/nginx/none"),
        "{report:?}"
    );
    for (bad, says) in [
        ("port-from: etc/ports.conf", "not an absolute path"),
        ("port-from: /etc/../ports.conf", "not an absolute path"),
    ] {
        let error = Manifest::parse(&format!(
            "appliance: wiki-appliance\nhealth:\n  - {{name: x, http: 'http://127.0.0.1/', {bad}}}\n"
        ))
        .unwrap_err();
        assert!(error.contains(says), "{bad}: {error}");
    }
    let error = Manifest::parse(
        "appliance: wiki-appliance\nhealth:\n  - {name: x, run: [/bin/true], port-from: /etc/a}\n",
    )
    .unwrap_err();
    assert!(error.contains("`port-from` goes with `http`"), "{error}");
}
