//! The web service's side of the agent's protocol: one request line, one response line, and for a
//! download the file's bytes after it.

use std::path::Path;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;

use crate::protocol::{Request, Response};

async fn send(socket: &Path, request: &Request) -> Result<BufReader<UnixStream>, String> {
    let mut stream = UnixStream::connect(socket)
        .await
        .map_err(|e| format!("the agent does not answer at `{}`: {e}", socket.display()))?;
    let mut line = serde_json::to_vec(request).map_err(|e| e.to_string())?;
    line.push(b'\n');
    stream
        .write_all(&line)
        .await
        .map_err(|e| format!("cannot talk to the agent: {e}"))?;
    Ok(BufReader::new(stream))
}

async fn response(reader: &mut BufReader<UnixStream>) -> Result<Response, String> {
    let mut line = String::new();
    reader
        .read_line(&mut line)
        .await
        .map_err(|e| format!("cannot read the agent's answer: {e}"))?;
    serde_json::from_str(&line).map_err(|e| format!("the agent's answer is not understood: {e}"))
}

/// Asks the agent; an error answer becomes `Err` with the agent's words.
pub async fn ask(socket: &Path, request: &Request) -> Result<serde_json::Value, String> {
    let mut reader = send(socket, request).await?;
    let answer = response(&mut reader).await?;
    if answer.ok {
        Ok(answer.data)
    } else {
        Err(answer.error.unwrap_or_else(|| "the agent refused".into()))
    }
}

/// Asks for a backup's bytes: its size, and the stream that carries them.
pub async fn download(socket: &Path, name: &str) -> Result<(u64, BufReader<UnixStream>), String> {
    let mut reader = send(
        socket,
        &Request::BackupOpen {
            name: name.to_owned(),
        },
    )
    .await?;
    let answer = response(&mut reader).await?;
    if !answer.ok {
        return Err(answer.error.unwrap_or_else(|| "the agent refused".into()));
    }
    let size = answer.data["size"]
        .as_u64()
        .ok_or("the agent gave no size")?;
    Ok((size, reader))
}
