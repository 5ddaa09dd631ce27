//! The root agent: one request per connection, from the web service's user or root only (the
//! caller's uid comes from `SO_PEERCRED`), checked by [`crate::protocol`] and then against the system
//! (a service must be one a plugin declares, a backup must be in the store). systemd starts one
//! agent per connection (`Accept=yes`), with the connection as standard input and output, so the
//! agent holds no state and is gone when idle.
//!
//! Long apt work is not done here: it is started as its own systemd unit ([`crate::jobs`]), which
//! outlives both the agent and a restart of the web service.
//!
//! The work is split by area, as the pages are: [`updates`], [`backups`], [`mail`], [`power`],
//! [`plugins`]. Each carries out its requests and declares their typed answers, which the web
//! service reads back as the same types ([`crate::web::client::ask`]).

use std::io::{BufRead, Read, Write};
use std::path::{Path, PathBuf};

use appliance::target;

use crate::protocol::{self, MAX_LINE, Request, Response};

pub mod backups;
pub mod mail;
pub mod plugins;
pub mod power;
pub mod updates;

/// Where the web service puts uploaded backups for the agent to take in, relative to the root.
pub const UPLOAD_DIR: &str = "var/lib/appliance-control/uploads";

/// What the agent runs on the system: systemctl, apt; a trait so that the checks are tested
/// without a system to change.
pub trait System {
    /// Runs a program to its end, with nothing on its standard input; an error says why, with
    /// what it printed.
    fn run(&self, program: &str, arguments: &[&str]) -> Result<String, String>;

    /// [`System::run`] with `input` on the program's standard input: how secrets reach a
    /// program, since its arguments are there for every user to read in `/proc`.
    fn run_with_input(
        &self,
        program: &str,
        arguments: &[&str],
        input: &str,
    ) -> Result<String, String>;
}

/// The real system: programs started with a root shell's umask, through `appliance::target`.
pub struct Host;

impl Host {
    fn execute(program: &str, arguments: &[&str], input: Option<&str>) -> Result<String, String> {
        let shown = format!("{program} {}", arguments.join(" "));
        let mut command = target::command(program);
        command.args(arguments);
        let child = target::with_usual_umask(|| target::spawn(command, &shown, input.is_some()))
            .map_err(|e| e.to_string())?;
        let ran =
            target::finish(child, &shown, input.map(str::as_bytes)).map_err(|e| e.to_string())?;
        if ran.status.success() {
            Ok(ran.stdout)
        } else {
            Err(ran.failure(&shown).to_string())
        }
    }
}

impl System for Host {
    fn run(&self, program: &str, arguments: &[&str]) -> Result<String, String> {
        Self::execute(program, arguments, None)
    }

    fn run_with_input(
        &self,
        program: &str,
        arguments: &[&str],
        input: &str,
    ) -> Result<String, String> {
        Self::execute(program, arguments, Some(input))
    }
}

pub struct Agent<'a> {
    pub root: PathBuf,
    /// The uid allowed besides root: the web service's.
    pub web_uid: Option<u32>,
    pub system: &'a dyn System,
}

/// What the agent sends back: a response line, then for a download the file's bytes.
pub struct Answer {
    pub response: Response,
    pub file: Option<std::fs::File>,
}

impl From<Response> for Answer {
    fn from(response: Response) -> Self {
        Self {
            response,
            file: None,
        }
    }
}

/// An `ok` answer carrying a request's typed answer.
#[expect(
    clippy::unnecessary_wraps,
    reason = "the `Ok` arm of the areas' matches, whose other arms are `?` and `Err`"
)]
fn ok(answer: &impl serde::Serialize) -> Result<Answer, String> {
    Ok(Response::answer(answer).into())
}

impl Agent<'_> {
    /// Reads one request from `input`, answers on `output`. `peer_uid` is the caller's, from the
    /// socket; `None` when it cannot be told, which is refused like a stranger.
    pub fn serve(
        &self,
        peer_uid: Option<u32>,
        input: &mut impl BufRead,
        output: &mut impl Write,
    ) -> std::io::Result<()> {
        let answer = match peer_uid {
            Some(uid) if uid == 0 || Some(uid) == self.web_uid => match read_line(input) {
                Ok(line) => match protocol::parse(&line) {
                    Ok(request) => self.handle(&request),
                    Err(reason) => Response::error(reason).into(),
                },
                Err(reason) => Response::error(reason).into(),
            },
            Some(uid) => Response::error(format!("uid {uid} may not use the agent")).into(),
            None => Response::error("the caller cannot be identified").into(),
        };
        let mut line = serde_json::to_vec(&answer.response)?;
        line.push(b'\n');
        output.write_all(&line)?;
        if let Some(mut file) = answer.file {
            std::io::copy(&mut file, output)?;
        }
        output.flush()
    }

    /// Carries out one checked request.
    pub fn handle(&self, request: &Request) -> Answer {
        match self.carry_out(request) {
            Ok(answer) => answer,
            Err(reason) => Response::error(reason).into(),
        }
    }

    /// Hands the request to its area.
    fn carry_out(&self, request: &Request) -> Result<Answer, String> {
        match request {
            Request::Refresh
            | Request::Upgrade
            | Request::ConfigurePending
            | Request::Upgrades
            | Request::SafetyBackups { .. }
            | Request::Rollback
            | Request::ReleaseCheck
            | Request::ReleaseUpgrade
            | Request::Unattended { .. }
            | Request::UnattendedState
            | Request::History => self.updates(request),
            Request::BackupCreate
            | Request::BackupList
            | Request::BackupOpen { .. }
            | Request::BackupDelete { .. }
            | Request::BackupRestore { .. }
            | Request::BackupImport { .. }
            | Request::Schedule { .. }
            | Request::ScheduleState => self.backups(request),
            Request::AugeasSet { .. }
            | Request::Smarthost { .. }
            | Request::MailSettings
            | Request::TestMail { .. } => self.mail(request),
            Request::Restart { .. } | Request::Reboot | Request::Poweroff => self.power(request),
            Request::Action { .. }
            | Request::PluginSettings { .. }
            | Request::SettingSet { .. } => self.plugins(request),
        }
    }
}

/// Whether root alone owns and may write the manifest `path` and its directory; the error says
/// which is not (`None`: one is missing).
pub(crate) fn root_alone(path: &Path, consequence: &str) -> Result<(), Option<String>> {
    use std::os::unix::fs::MetadataExt;
    for checked in [path.parent().unwrap_or(path), path] {
        let metadata = std::fs::symlink_metadata(checked).map_err(|_| None)?;
        if metadata.uid() != 0 || metadata.mode() & 0o022 != 0 || metadata.file_type().is_symlink()
        {
            return Err(Some(format!(
                "`{}` is not owned and writable by root alone: {consequence}",
                checked.display()
            )));
        }
    }
    Ok(())
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// One line of at most [`MAX_LINE`] bytes, without its newline.
fn read_line(input: &mut impl BufRead) -> Result<Vec<u8>, String> {
    let mut line = Vec::new();
    input
        .take(MAX_LINE as u64 + 1)
        .read_until(b'\n', &mut line)
        .map_err(|e| format!("cannot read the request: {e}"))?;
    if line.len() > MAX_LINE {
        return Err(format!("the request is longer than {MAX_LINE} bytes"));
    }
    if line.last() == Some(&b'\n') {
        line.pop();
    }
    Ok(line)
}

/// Checks that `answer` is written as the JSON `wire` (the keys the protocol has always had) and
/// read back from it unchanged.
#[cfg(test)]
fn assert_wire<T>(answer: &T, wire: &str)
where
    T: serde::Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug,
{
    let expected: serde_json::Value = serde_json::from_str(wire).unwrap();
    assert_eq!(serde_json::to_value(answer).unwrap(), expected, "{wire}");
    assert_eq!(
        &Response::ok(expected).into_answer::<T>().unwrap(),
        answer,
        "{wire}"
    );
}

#[cfg(test)]
mod tests;
