//! The root agent: one request per connection, from the web service's user or root only (the
//! caller's uid comes from `SO_PEERCRED`), checked by [`crate::protocol`] and then against the system
//! (a service must be one a plugin declares, a backup must be in the store). systemd starts one
//! agent per connection (`Accept=yes`), with the connection as standard input and output, so the
//! agent holds no state and is gone when idle.
//!
//! Long apt work is not done here: it is started as its own systemd unit ([`crate::jobs`]), which
//! outlives both the agent and a restart of the web service.

use std::io::{BufRead, Read, Write};
use std::path::{Path, PathBuf};

use appliance::backup::Quiet;
use appliance::backup::origin::{self, Origin};
use appliance::backup::plan::{self, What};
use appliance::backup::read::Backup;
use appliance::backup::store::{self, BACKUP_DIR};
use appliance::plugin::Manifest;
use appliance::target;
use serde_json::json;

use crate::jobs::{self, Kind};
use crate::protocol::{self, MAX_LINE, Request, Response};

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
        let mut command = std::process::Command::new(program);
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

    fn carry_out(&self, request: &Request) -> Result<Answer, String> {
        let root = &self.root;
        let ok = |data| Ok(Response::ok(data).into());
        match request {
            Request::BackupCreate
            | Request::BackupList
            | Request::BackupOpen { .. }
            | Request::BackupDelete { .. }
            | Request::BackupRestore { .. }
            | Request::BackupImport { .. } => self.backup(request),
            Request::Refresh => {
                ok(json!({ "job": jobs::start(root, self.system, Kind::Refresh)? }))
            }
            Request::Upgrade => {
                ok(json!({ "job": jobs::start(root, self.system, Kind::Upgrade)? }))
            }
            Request::ConfigurePending => ok(json!({
                "job": jobs::start(root, self.system, Kind::ConfigurePending)?
            })),
            Request::Upgrades => {
                let simulated = self.system.run(
                    "apt-get",
                    &["--simulate", "-q", "upgrade", "--with-new-pkgs"],
                )?;
                ok(json!({ "packages": jobs::parse_simulation(&simulated) }))
            }
            Request::Restart { service } => {
                self.declared(service)?;
                self.system.run("systemctl", &["restart", "--", service])?;
                ok(json!({ "restarted": service }))
            }
            Request::Reboot | Request::Poweroff => {
                let verb = if *request == Request::Reboot {
                    "reboot"
                } else {
                    "poweroff"
                };
                // A moment later, so that this answer reaches the page first.
                self.system.run(
                    "systemd-run",
                    &[
                        "--on-active=2",
                        "--timer-property=AccuracySec=100ms",
                        "systemctl",
                        verb,
                    ],
                )?;
                ok(json!({ "scheduled": verb }))
            }
            Request::AugeasSet { path, value } => {
                crate::mail::set(root, path, value)?;
                ok(json!({ "set": path }))
            }
            Request::Smarthost {
                host,
                port,
                user,
                password,
            } => {
                crate::mail::set_smarthost(
                    root,
                    &crate::mail::Smarthost {
                        host: host.clone(),
                        port: *port,
                        user: user.clone(),
                        password: password.clone(),
                    },
                )?;
                ok(json!({ "relayhost": format!("[{host}]:{port}") }))
            }
            Request::MailSettings => ok(json!(crate::mail::settings(root)?)),
            Request::TestMail { to } => {
                let hostname = nix::unistd::gethostname()
                    .map(|h| h.to_string_lossy().into_owned())
                    .unwrap_or_default();
                crate::mail::test_mail(to, &hostname)?;
                ok(json!({ "sent": to }))
            }
            Request::Schedule { enable } => {
                let verb = if *enable { "enable" } else { "disable" };
                self.system
                    .run("systemctl", &[verb, "--now", "va-backup.timer"])?;
                ok(json!({ "enabled": enable }))
            }
            Request::ScheduleState => {
                let enabled = self
                    .system
                    .run("systemctl", &["is-enabled", "--quiet", "va-backup.timer"])
                    .is_ok();
                ok(json!({ "enabled": enabled }))
            }
            Request::Action { .. }
            | Request::PluginSettings { .. }
            | Request::SettingSet { .. } => self.plugin(request),
        }
    }

    /// The requests a plugin manifest governs.
    fn plugin(&self, request: &Request) -> Result<Answer, String> {
        let root = &self.root;
        let ok = |data| Ok(Response::ok(data).into());
        match request {
            Request::Action {
                plugin,
                action,
                parameters,
            } => {
                let manifest = self.trusted_manifest(plugin)?;
                let declared = manifest.action(action).ok_or_else(|| {
                    format!("the plugin `{plugin}` declares no action `{action}`")
                })?;
                // The values, checked against the manifest: the secrets end up on standard input
                // only, and no error repeats one.
                let invocation = declared.invocation(parameters)?;
                let (program, arguments) =
                    invocation.command.split_first().ok_or("an empty command")?;
                let arguments: Vec<&str> = arguments.iter().map(String::as_str).collect();
                let output = match &invocation.input {
                    Some(input) => self.system.run_with_input(program, &arguments, input)?,
                    None => self.system.run(program, &arguments)?,
                };
                ok(json!({ "done": declared.label, "output": output }))
            }
            Request::PluginSettings { plugin } => {
                let manifest = self.trusted_manifest(plugin)?;
                let mut values = serde_json::Map::new();
                for setting in &manifest.settings {
                    let value = crate::settings::get(root, setting).unwrap_or_default();
                    values.insert(setting.name.clone(), value.into());
                }
                ok(serde_json::Value::Object(values))
            }
            Request::SettingSet {
                plugin,
                setting,
                value,
            } => {
                let manifest = self.trusted_manifest(plugin)?;
                let declared = manifest.setting(setting).ok_or_else(|| {
                    format!("the plugin `{plugin}` declares no setting `{setting}`")
                })?;
                declared
                    .kind
                    .check(value)
                    .map_err(|e| format!("{}: {e}", declared.label))?;
                crate::settings::set(root, declared, value)?;
                for command in &declared.after {
                    if let Some((program, arguments)) = command.split_first() {
                        let arguments: Vec<&str> = arguments.iter().map(String::as_str).collect();
                        self.system.run(program, &arguments)?;
                    }
                }
                ok(json!({ "set": declared.label }))
            }
            _ => Err("not a plugin request".into()),
        }
    }

    /// The backup requests.
    fn backup(&self, request: &Request) -> Result<Answer, String> {
        let root = &self.root;
        let ok = |data| Ok(Response::ok(data).into());
        match request {
            Request::BackupCreate => {
                let created = plan::create(root, &What::Plugin(None), None, false, &Quiet)
                    .map_err(|e| appliance::error_chain(&e))?;
                ok(json!({ "name": file_name(&created.path) }))
            }
            Request::BackupList => {
                let listed = store::list(root).map_err(|e| e.to_string())?;
                let backups: Vec<_> = listed
                    .iter()
                    .map(|l| {
                        json!({
                            "name": file_name(&l.path),
                            "size": std::fs::metadata(&l.path).map_or(0, |m| m.len()),
                            "appliance": l.info.as_ref().map(|i| &i.appliance),
                            "version": l.info.as_ref().map(|i| &i.version),
                            "timestamp": l.info.as_ref().map(|i| &i.timestamp),
                            "origin": l.origin.map(Origin::describe),
                        })
                    })
                    .collect();
                ok(json!({ "backups": backups }))
            }
            Request::BackupOpen { name } => {
                let path = self.stored(name)?;
                let file = std::fs::File::open(&path).map_err(|e| e.to_string())?;
                let size = file.metadata().map_err(|e| e.to_string())?.len();
                Ok(Answer {
                    response: Response::ok(json!({ "name": name, "size": size })),
                    file: Some(file),
                })
            }
            Request::BackupDelete { name } => {
                let path = self.stored(name)?;
                std::fs::remove_file(&path).map_err(|e| e.to_string())?;
                ok(json!({ "deleted": name }))
            }
            Request::BackupRestore {
                name,
                foreign_configuration_runs_as_root,
            } => {
                let path = self.stored(name)?;
                // Only the directories of the root-owned manifest that accepts the backup; never
                // the backup's own (`paths_from_backup` is root's command line only).
                let request = plan::RestoreRequest {
                    foreign_sysconf: *foreign_configuration_runs_as_root,
                    ..plan::RestoreRequest::accepting()
                };
                // The restore gives every directory it makes an explicit mode, and runs the
                // plugin's programs with a root shell's umask: the agent's UMask=0077 reaches
                // neither.
                let prepared =
                    plan::prepare(root, &path, &request).map_err(|e| appliance::error_chain(&e))?;
                if let Some(manifest) = &prepared.manifest {
                    root_alone(manifest, "no backup is restored by it").map_err(|e| {
                        e.unwrap_or_else(|| format!("`{}` is gone", manifest.display()))
                    })?;
                }
                let report = plan::execute(root, prepared, Box::new(Quiet))
                    .map_err(|e| appliance::error_chain(&e))?;
                ok(json!({
                    "restored": name,
                    "appliance": report.info.appliance,
                    "timestamp": report.info.timestamp,
                    "origin": report.origin.describe(),
                    "replaced": report.replaced,
                    "sysconf-left-out": report.sysconf_left_out,
                    "cleared-set-id": report.restored.cleared_set_id,
                    "migrations": report.migrations,
                }))
            }
            Request::BackupImport { name } => self.import(name).map(|(name, origin)| {
                Response::ok(json!({ "name": name, "origin": origin.describe() })).into()
            }),
            _ => Err("not a backup request".into()),
        }
    }

    /// A backup in the store, by name (checked by the protocol: no directory in it).
    fn stored(&self, name: &str) -> Result<PathBuf, String> {
        let path = self.root.join(BACKUP_DIR).join(name);
        if path.is_file() {
            Ok(path)
        } else {
            Err(format!("there is no backup `{name}`"))
        }
    }

    /// The manifest `plugin` (its file name under the plugin directory), if root owns it and
    /// nobody else may change it or its directory: only such a manifest says what runs as root.
    fn trusted_manifest(&self, plugin: &str) -> Result<Manifest, String> {
        let dir = self.root.join(appliance::plugin::PLUGIN_DIR);
        let path = dir.join(format!("{plugin}.yaml"));
        root_alone(&path, "its actions are not run")
            .map_err(|e| e.unwrap_or_else(|| format!("there is no plugin `{plugin}`")))?;
        Manifest::load(&path).map_err(|e| appliance::error_chain(&e))
    }

    /// A service some root-owned plugin manifest declares.
    fn declared(&self, service: &str) -> Result<(), String> {
        // A manifest that cannot be read declares nothing, and hides nothing another declares.
        let manifests = Manifest::each(&self.root).map_err(|e| appliance::error_chain(&e))?;
        if manifests
            .iter()
            .filter_map(|(_, m)| m.as_ref().ok())
            .any(|m| m.services.iter().any(|s| s == service))
        {
            Ok(())
        } else {
            Err(format!("no plugin declares the service `{service}`"))
        }
    }

    /// Checks an uploaded backup and copies it into the store (root's, mode 0600). The upload
    /// is opened once, without following a link, and everything after (the checks of the file,
    /// the verification, the copy) goes through that one descriptor: the web user cannot swap
    /// another file in between.
    fn import(&self, name: &str) -> Result<(String, Origin), String> {
        let upload = self.root.join(UPLOAD_DIR).join(name);
        let result = (|| {
            let file = open_upload(&upload, name, self.web_uid)?;
            let read_error = |e: &dyn std::error::Error| appliance::error_chain(e);
            let mut backup = Backup::from_file(
                &upload,
                file.try_clone()
                    .map_err(|e| format!("the upload `{name}`: {e}"))?,
            )
            .map_err(|e| read_error(&e))?;
            backup.check().map_err(|e| read_error(&e))?;
            let key = origin::key(&self.root).map_err(|e| read_error(&e))?;
            let made = backup.origin(key.as_deref()).map_err(|e| read_error(&e))?;
            let dir = self.root.join(BACKUP_DIR);
            std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
            let target = dir.join(name);
            if target.exists() {
                return Err(format!("a backup `{name}` is already there"));
            }
            enough_room(&file, name, &dir)?;
            copy_into_store(file, &target).map_err(|e| e.to_string())?;
            Ok((name.to_owned(), made))
        })();
        let _ = std::fs::remove_file(&upload);
        result
    }
}

/// Whether the store `dir` has room for a copy of the upload `file` (and some to spare), before
/// the copy starts rather than when the disk is full.
fn enough_room(file: &std::fs::File, name: &str, dir: &Path) -> Result<(), String> {
    let size = file
        .metadata()
        .map_err(|e| format!("the upload `{name}`: {e}"))?
        .len();
    crate::files::check_free_space(dir, size)
}

/// Whether root alone owns and may write the manifest `path` and its directory; the error says
/// which is not (`None`: one is missing).
fn root_alone(path: &Path, consequence: &str) -> Result<(), Option<String>> {
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

/// Opens the upload `path` once, without following a link, and checks the open file: a regular
/// file, of one link (not a second name of a file only root may read), owned by the web user.
fn open_upload(path: &Path, name: &str, web_uid: Option<u32>) -> Result<std::fs::File, String> {
    use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(nix::libc::O_NOFOLLOW | nix::libc::O_NONBLOCK | nix::libc::O_NOCTTY)
        .open(path)
        .map_err(|error| match error.raw_os_error() {
            Some(nix::libc::ELOOP) => {
                format!("the upload `{name}` is not a file (a symbolic link)")
            }
            Some(nix::libc::ENOENT) => format!("there is no uploaded backup `{name}`"),
            _ => format!("cannot open the upload `{name}`: {error}"),
        })?;
    let metadata = file
        .metadata()
        .map_err(|e| format!("the upload `{name}`: {e}"))?;
    if !metadata.is_file() {
        return Err(format!("the upload `{name}` is not a file"));
    }
    if metadata.nlink() != 1 {
        return Err(format!(
            "the upload `{name}` has {} links: it is a second name of another file",
            metadata.nlink()
        ));
    }
    if let Some(uid) = web_uid
        && metadata.uid() != uid
    {
        return Err(format!(
            "the upload `{name}` belongs to uid {}, not to the web service's",
            metadata.uid()
        ));
    }
    Ok(file)
}

/// Copies `source` (from its start) to `to` as root's 0600 file: a temporary file beside it,
/// synced, renamed.
fn copy_into_store(mut source: std::fs::File, to: &Path) -> std::io::Result<()> {
    use std::io::{Seek, SeekFrom};
    use std::os::unix::fs::OpenOptionsExt;
    let temporary = to.with_file_name(format!(".{}.tmp{}", file_name(to), std::process::id()));
    let result = (|| {
        source.seek(SeekFrom::Start(0))?;
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&temporary)?;
        std::io::copy(&mut source, &mut file)?;
        file.sync_all()?;
        std::fs::rename(&temporary, to)?;
        if let Some(dir) = to.parent() {
            std::fs::File::open(dir)?.sync_all()?;
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    result
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

#[cfg(test)]
mod tests;
