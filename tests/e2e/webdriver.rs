//! A small `WebDriver` client (W3C protocol, JSON over HTTP with curl) for headless Chromium
//! through chromedriver, as Debian packages them.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

pub struct Browser {
    driver: Child,
    base: String,
    session: String,
    /// Where screenshots and downloads go.
    pub artefacts: PathBuf,
}

fn call(method: &str, url: &str, body: Option<&Value>) -> Value {
    let mut command = Command::new("curl");
    command.args(["-sS", "-X", method, "-H", "Content-Type: application/json"]);
    if let Some(body) = body {
        command.args(["--data-binary", &body.to_string()]);
    }
    let output = command.arg(url).output().expect("run curl");
    assert!(
        output.status.success(),
        "{method} {url}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let answer: Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "{method} {url}: not JSON ({e}): {}",
            String::from_utf8_lossy(&output.stdout)
        )
    });
    assert!(
        answer["value"].get("error").is_none(),
        "{method} {url} {body:?}: {}",
        answer["value"]
    );
    answer["value"].clone()
}

impl Browser {
    /// Starts chromedriver on `port` and a headless Chromium session that downloads into
    /// `artefacts`.
    pub fn start(port: u16, artefacts: &Path) -> Browser {
        std::fs::create_dir_all(artefacts).unwrap();
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("run chromedriver (make test installs chromium-driver)");
        let base = format!("http://127.0.0.1:{port}");
        let started = Instant::now();
        while Command::new("curl")
            .args(["-fs", "-o", "/dev/null", &format!("{base}/status")])
            .status()
            .is_ok_and(|s| !s.success())
        {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "chromedriver did not start"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        let capabilities = json!({ "capabilities": { "alwaysMatch": {
            "browserName": "chrome",
            // appliance-control's certificate is the system's own, self-signed.
            "acceptInsecureCerts": true,
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         "--window-size=1280,900", "--no-first-run", "--password-store=basic",
                         "--ignore-certificate-errors"],
                "prefs": {
                    "download.default_directory": artefacts.display().to_string(),
                    "download.prompt_for_download": false
                }
            }
        }}});
        let value = call("POST", &format!("{base}/session"), Some(&capabilities));
        let session = value["sessionId"].as_str().expect("a session").to_owned();
        Browser {
            driver,
            base,
            session,
            artefacts: artefacts.to_owned(),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}/session/{}{path}", self.base, self.session)
    }

    pub fn go(&self, url: &str) {
        call("POST", &self.url("/url"), Some(&json!({ "url": url })));
    }

    pub fn current_url(&self) -> String {
        call("GET", &self.url("/url"), None)
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// The element `css` selects, waiting up to 20 s for it.
    pub fn find(&self, css: &str) -> String {
        let started = Instant::now();
        loop {
            let output = Command::new("curl")
                .args([
                    "-sS",
                    "-X",
                    "POST",
                    "-H",
                    "Content-Type: application/json",
                    "--data-binary",
                ])
                .arg(json!({ "using": "css selector", "value": css }).to_string())
                .arg(self.url("/element"))
                .output()
                .expect("run curl");
            let answer: Value = serde_json::from_slice(&output.stdout).unwrap_or_default();
            if let Some(id) = answer["value"][ELEMENT].as_str() {
                return id.to_owned();
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "no `{css}` on {}",
                self.current_url()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    pub fn text(&self, css: &str) -> String {
        let id = self.find(css);
        call("GET", &self.url(&format!("/element/{id}/text")), None)
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    pub fn type_into(&self, css: &str, text: &str) {
        let id = self.find(css);
        call(
            "POST",
            &self.url(&format!("/element/{id}/clear")),
            Some(&json!({})),
        );
        call(
            "POST",
            &self.url(&format!("/element/{id}/value")),
            Some(&json!({ "text": text })),
        );
    }

    pub fn click(&self, css: &str) {
        let id = self.find(css);
        call(
            "POST",
            &self.url(&format!("/element/{id}/click")),
            Some(&json!({})),
        );
    }

    /// Clicks the element `css` selects from JavaScript (`element.click()`), for a button that
    /// is there but that `WebDriver` does not see as interactable.
    pub fn click_from_script(&self, css: &str) {
        let id = self.find(css);
        call(
            "POST",
            &self.url("/execute/sync"),
            Some(&json!({ "script": "arguments[0].click();", "args": [{ ELEMENT: id }] })),
        );
    }

    /// What `script` (a function body, as `WebDriver` runs it) returns on the current page.
    pub fn script(&self, script: &str) -> Value {
        call(
            "POST",
            &self.url("/execute/sync"),
            Some(&json!({ "script": script, "args": [] })),
        )
    }

    /// Waits up to `seconds` for the text of `css` to hold `wanted`; returns it.
    pub fn wait_for_text(&self, css: &str, wanted: &str, seconds: u64) -> String {
        let started = Instant::now();
        loop {
            let text = self.text(css);
            if text.contains(wanted) {
                return text;
            }
            assert!(
                started.elapsed() < Duration::from_secs(seconds),
                "`{css}` never said `{wanted}`; it says: {text}"
            );
            std::thread::sleep(Duration::from_millis(300));
        }
    }

    /// How many elements `css` selects now (no waiting).
    pub fn count(&self, css: &str) -> usize {
        call(
            "POST",
            &self.url("/elements"),
            Some(&json!({ "using": "css selector", "value": css })),
        )
        .as_array()
        .map_or(0, Vec::len)
    }

    /// Waits up to 20 s for a JavaScript dialog (`confirm()`), accepts it; returns its text.
    pub fn accept_alert(&self) -> String {
        let started = Instant::now();
        loop {
            let output = Command::new("curl")
                .args(["-sS", &self.url("/alert/text")])
                .output()
                .expect("run curl");
            let answer: Value = serde_json::from_slice(&output.stdout).unwrap_or_default();
            if let Some(text) = answer["value"].as_str() {
                call("POST", &self.url("/alert/accept"), Some(&json!({})));
                return text.to_owned();
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "no dialog opened within 20 s"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Saves a screenshot as `NAME.png` among the artefacts.
    pub fn screenshot(&self, name: &str) {
        let data = call("GET", &self.url("/screenshot"), None);
        let encoded = data.as_str().expect("base64 PNG");
        let path = self.artefacts.join(format!("{name}.png"));
        let mut decode = Command::new("base64")
            .args(["-d"])
            .stdin(Stdio::piped())
            .stdout(std::fs::File::create(&path).unwrap())
            .spawn()
            .unwrap();
        decode
            .stdin
            .take()
            .unwrap()
            .write_all(encoded.as_bytes())
            .unwrap();
        assert!(decode.wait().unwrap().success());
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = Command::new("curl")
            .args(["-sS", "-X", "DELETE", &self.url("")])
            .output();
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
