//! HTTPS on one port, and plain HTTP on that same port answered with a redirect to HTTPS and
//! nothing else. A TLS connection opens with a handshake record, content type 22 (RFC 8446 §5.1);
//! any other first byte is a plain HTTP request, which gets a `301` (RFC 9110 §15.4.2) to the
//! same host and path over `https://` and is closed before its body is read, so the login form
//! is never served and a form sent in clear is never accepted.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum_server::accept::Accept;
use axum_server::tls_rustls::{RustlsAcceptor, RustlsConfig};
use rustls::ServerConfig;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The first byte of a TLS handshake record.
const TLS_HANDSHAKE: u8 = 0x16;
/// How long a client may take to send its first byte, or a plain request's head.
const FIRST_BYTES: Duration = Duration::from_secs(10);
/// A plain request's head is read up to this size; the rest is never read.
const MAX_HEAD: usize = 8 * 1024;

/// Hands TLS connections on to rustls and answers every other one with a redirect to HTTPS.
#[derive(Debug, Clone, Copy, Default)]
pub struct RedirectPlainHttp;

impl<S: Send + 'static> Accept<TcpStream, S> for RedirectPlainHttp {
    type Stream = TcpStream;
    type Service = S;
    type Future = Pin<Box<dyn Future<Output = io::Result<(TcpStream, S)>> + Send>>;

    fn accept(&self, stream: TcpStream, service: S) -> Self::Future {
        Box::pin(async move {
            let mut first = [0_u8; 1];
            let peeked = tokio::time::timeout(FIRST_BYTES, stream.peek(&mut first))
                .await
                .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "no first byte"))??;
            if peeked == 1 && first[0] == TLS_HANDSHAKE {
                return Ok((stream, service));
            }
            answer_plain(stream).await;
            Err(io::Error::other(
                "a plain HTTP request, answered with a redirect to HTTPS",
            ))
        })
    }
}

/// Reads a plain request's head (never its body), answers the redirect and closes.
async fn answer_plain(mut stream: TcpStream) {
    let Ok(local) = stream.local_addr() else {
        return;
    };
    let mut head = Vec::with_capacity(1024);
    let read = tokio::time::timeout(FIRST_BYTES, async {
        let mut buffer = [0_u8; 1024];
        while head.len() < MAX_HEAD && !head.windows(4).any(|w| w == b"\r\n\r\n") {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(count) => head.extend_from_slice(&buffer[..count]),
            }
        }
    })
    .await;
    if read.is_err() && head.is_empty() {
        return;
    }
    let _ = stream
        .write_all(redirect_answer(&head, local).as_bytes())
        .await;
    let _ = stream.shutdown().await;
    // Closing with unread bytes (a form's body) would reset the connection, and the client could
    // lose the answer: read what is left for a moment, and throw it away.
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        let mut buffer = [0_u8; 4096];
        let mut left = 1_usize << 20;
        while left > 0 {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(count) => left = left.saturating_sub(count),
            }
        }
    })
    .await;
}

/// The whole answer to a plain HTTP request whose head is `head`, received on `local`: a
/// `301` to the same host and path over HTTPS. Whatever the request says that cannot go into a
/// URL safely is replaced (the path by `/`, the host by the address the request came in on).
pub fn redirect_answer(head: &[u8], local: SocketAddr) -> String {
    let text = String::from_utf8_lossy(head);
    let mut lines = text.split("\r\n");
    let target = lines
        .next()
        .and_then(|line| line.split(' ').nth(1))
        .filter(|target| {
            target.starts_with('/')
                && !target.starts_with("//")
                && target.bytes().all(|b| b.is_ascii_graphic())
        })
        .unwrap_or("/");
    let host = lines
        .take_while(|line| !line.is_empty())
        .filter_map(|line| line.split_once(':'))
        .find(|(name, _)| name.trim().eq_ignore_ascii_case("host"))
        .map(|(_, value)| value.trim())
        .filter(|host| valid_host(host))
        .map_or_else(
            || address(local),
            |host| {
                // A Host without a port names the default one, which is not this one.
                let has_port = host.rsplit_once(':').is_some_and(|(_, port)| {
                    !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit())
                });
                if has_port {
                    host.to_owned()
                } else {
                    format!("{host}:{}", local.port())
                }
            },
        );
    let location = format!("https://{host}{target}");
    let body = format!("appliance-control answers over HTTPS only: {location}\n");
    format!(
        "HTTP/1.1 301 Moved Permanently\r\nLocation: {location}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

/// A `Host` value that may go into a URL: a name, an IPv4 address or a bracketed IPv6 one, and
/// a port.
fn valid_host(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= 261
        && !host.starts_with(['-', '.', ':'])
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
}

fn address(local: SocketAddr) -> String {
    match local.ip().to_canonical() {
        std::net::IpAddr::V4(ip) => format!("{ip}:{}", local.port()),
        std::net::IpAddr::V6(ip) => format!("[{ip}]:{}", local.port()),
    }
}

/// Serves `app` over HTTPS with `config` on `listener`, redirecting plain HTTP, until the process
/// ends.
pub async fn serve(
    listener: std::net::TcpListener,
    config: Arc<ServerConfig>,
    app: Router,
) -> io::Result<()> {
    let acceptor =
        RustlsAcceptor::new(RustlsConfig::from_config(config)).acceptor(RedirectPlainHttp);
    axum_server::from_tcp(listener)?
        .acceptor(acceptor)
        .serve(app.into_make_service_with_connect_info::<SocketAddr>())
        .await
}

#[cfg(test)]
mod tests;
