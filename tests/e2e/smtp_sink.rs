//! A test SMTP sink: the smarthost a booted root's postfix relays to, on a free port of the
//! host's 127.0.0.1 (the roots share the host's network). It speaks just enough SMTP to take every
//! mail (no STARTTLS, no authentication) and keeps each message's text.

use std::io::{BufRead as _, BufReader, Write as _};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub(crate) struct SmtpSink {
    pub port: u16,
    mails: Arc<Mutex<Vec<String>>>,
}

impl SmtpSink {
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a port for the SMTP sink");
        let port = listener.local_addr().unwrap().port();
        let mails = Arc::new(Mutex::new(Vec::new()));
        let kept = Arc::clone(&mails);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let kept = Arc::clone(&kept);
                std::thread::spawn(move || {
                    let _ = session(stream, &kept);
                });
            }
        });
        Self { port, mails }
    }

    /// Every mail taken so far.
    pub fn mails(&self) -> Vec<String> {
        self.mails.lock().unwrap().clone()
    }

    /// Waits up to `timeout` for a mail that holds `text`; panics with what came otherwise.
    pub fn wait_for(&self, text: &str, timeout: Duration) -> String {
        let started = Instant::now();
        loop {
            if let Some(mail) = self.mails().into_iter().find(|m| m.contains(text)) {
                return mail;
            }
            assert!(
                started.elapsed() < timeout,
                "no mail with `{text}` reached the SMTP sink in {timeout:?}; it got:\n{}",
                self.mails().join("\n-----\n")
            );
            std::thread::sleep(Duration::from_millis(500));
        }
    }
}

fn session(stream: TcpStream, mails: &Mutex<Vec<String>>) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(120)))?;
    let mut writer = stream.try_clone()?;
    let mut reader = BufReader::new(stream);
    writer.write_all(b"220 sink.test ESMTP test sink\r\n")?;
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let verb = line
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_ascii_uppercase();
        match verb.as_str() {
            "EHLO" => writer.write_all(b"250-sink.test\r\n250 8BITMIME\r\n")?,
            "DATA" => {
                writer.write_all(b"354 go on\r\n")?;
                let mut message = String::new();
                loop {
                    line.clear();
                    if reader.read_line(&mut line)? == 0 {
                        return Ok(());
                    }
                    let text = line.trim_end_matches(['\r', '\n']);
                    if text == "." {
                        break;
                    }
                    // A leading dot is doubled on the wire.
                    message.push_str(text.strip_prefix('.').unwrap_or(text));
                    message.push('\n');
                }
                mails.lock().unwrap().push(message);
                writer.write_all(b"250 kept\r\n")?;
            }
            "QUIT" => {
                writer.write_all(b"221 bye\r\n")?;
                return Ok(());
            }
            _ => writer.write_all(b"250 ok\r\n")?,
        }
    }
}
