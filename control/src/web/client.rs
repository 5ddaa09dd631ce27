//! The web service's side of the agent's protocol: one request line, one response line, and for a
//! download the file's bytes after it.

use std::path::Path;

use serde::de::DeserializeOwned;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;

use crate::agent::backups::Opened;
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

/// Asks the agent for the typed answer `T` of `request` (the one its area declares, such as
/// [`crate::agent::backups::List`] for [`Request::BackupList`]); an error answer becomes `Err`
/// with the agent's words, an answer that is not a `T` says what is wrong with it.
pub async fn ask<T: DeserializeOwned>(socket: &Path, request: &Request) -> Result<T, String> {
    let mut reader = send(socket, request).await?;
    response(&mut reader).await?.into_answer()
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
    let opened: Opened = response(&mut reader).await?.into_answer()?;
    Ok((opened.size, reader))
}
