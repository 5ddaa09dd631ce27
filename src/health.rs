//! Health checks: whether the application still works, as its plugin manifest tells (`health`:
//! an HTTP request to this host whose answer must hold a text, or a command that must succeed).
//! They run after every APT transaction that changed the appliance (the hook leaves a mark, APT's
//! `DPkg::Post-Invoke` runs `va-backup health --pending`), after a restore and after an image's
//! first boot. Each result is recorded in `/var/lib/appliance/health/APPLIANCE.json`, which
//! appliance-control's overview shows; a failure is mailed to root, whom the mail system relays
//! through the configured smarthost.

use std::io::{Read as _, Write as _};
use std::net::{TcpStream, ToSocketAddrs as _};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::backup::commands::{Runner, SystemRunner};
use crate::plugin::{HealthCheck, Manifest, ManifestError};

/// Where the results are kept, relative to the system's root.
pub const HEALTH_DIR: &str = "var/lib/appliance/health";
/// The mark the APT hook leaves when a transaction changes an appliance: the checks are due.
pub const PENDING: &str = "var/lib/appliance/health/pending";

/// What the checks follow when unattended-upgrades made the transaction: a failure then rolls the
/// transaction back on its own ([`start_rollback`]).
pub const AFTER_UNATTENDED: &str = "an unattended upgrade";
/// What the checks follow after any other transaction that changed the appliance.
pub const AFTER_UPGRADE: &str = "an upgrade";

/// The transient unit that rolls back after a failed unattended upgrade (one at a time).
pub const ROLLBACK_UNIT: &str = "appliance-rollback";

/// The longest a failure's mail may take to be handed over.
const MAIL_TIMEOUT: Duration = Duration::from_secs(20);

/// The pause between two attempts of a failing check: a service that comes up (moin, after a
/// restore) is seen within a tenth of a second: its wait is part of what a restore takes.
const RETRY: Duration = Duration::from_millis(100);

/// The most of an answer read (a wiki's page is far smaller).
const MAX_ANSWER: u64 = 4 << 20;

/// An `http://` address on this host: the checks never leave the machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    pub host: String,
    pub port: u16,
    pub path: String,
}

impl Url {
    pub fn parse(text: &str) -> Result<Self, String> {
        let rest = text
            .strip_prefix("http://")
            .ok_or_else(|| format!("`{text}` is not an http:// address"))?;
        let (authority, path) = rest.find('/').map_or((rest, "/"), |i| rest.split_at(i));
        let (host, port) = match authority.rsplit_once(':') {
            Some((host, port)) if !host.ends_with(':') => (
                host,
                port.parse::<u16>()
                    .map_err(|_| format!("`{text}`: `{port}` is not a port"))?,
            ),
            _ => (authority, 80),
        };
        if !matches!(host, "127.0.0.1" | "localhost" | "[::1]") {
            return Err(format!(
                "`{text}`: a health check asks this host only (127.0.0.1, localhost or [::1])"
            ));
        }
        if path.contains(char::is_whitespace) {
            return Err(format!("`{text}`: the path holds a space"));
        }
        Ok(Self {
            host: host.to_owned(),
            port,
            path: path.to_owned(),
        })
    }
}

/// The result of one check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcome {
    pub name: String,
    pub ok: bool,
    /// What was found: the status and why it fails, for people.
    pub said: String,
}

/// The results of an appliance's checks at one time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    pub appliance: String,
    /// When (RFC 3339, UTC).
    pub checked: String,
    /// What the checks followed: `an upgrade`, `a restore`, `the first boot`, `a request`.
    pub after: String,
    pub ok: bool,
    pub checks: Vec<Outcome>,
}

impl Report {
    /// One line for people: `healthy` or which checks fail.
    pub fn summary(&self) -> String {
        if self.ok {
            format!(
                "{}: healthy ({} check{} passed)",
                self.appliance,
                self.checks.len(),
                if self.checks.len() == 1 { "" } else { "s" }
            )
        } else {
            let failed: Vec<String> = self
                .checks
                .iter()
                .filter(|c| !c.ok)
                .map(|c| format!("{}: {}", c.name, c.said))
                .collect();
            format!(
                "{}: UNHEALTHY after {}: {}",
                self.appliance,
                self.after,
                failed.join("; ")
            )
        }
    }
}

/// Runs `manifest`'s checks on the system at `root`.
pub fn check(root: &Path, manifest: &Manifest, after: &str) -> Report {
    let runner = SystemRunner::new(root);
    let checks: Vec<Outcome> = manifest
        .health
        .iter()
        .map(|check| run_one(root, check, &runner))
        .collect();
    Report {
        appliance: manifest.appliance.clone(),
        checked: crate::backup::store::rfc3339(crate::backup::store::now()),
        after: after.to_owned(),
        ok: checks.iter().all(|c| c.ok),
        checks,
    }
}

/// Tries `check` until it passes or its time is up (every [`RETRY`]); the last attempt's outcome.
fn run_one(root: &Path, check: &HealthCheck, runner: &dyn Runner) -> Outcome {
    let deadline = Instant::now() + Duration::from_secs(check.timeout);
    // The address, once: with the port of the site's configuration file when it names one.
    let url = check.http.as_deref().map(|url| -> Result<Url, String> {
        let url = Url::parse(url)?;
        match &check.port_from {
            Some(file) => Ok(Url {
                port: port_from(root, file)?,
                ..url
            }),
            None => Ok(url),
        }
    });
    loop {
        let attempt = match (&url, &check.run) {
            (Some(Err(error)), _) => {
                return Outcome {
                    name: check.name.clone(),
                    ok: false,
                    said: error.clone(),
                };
            }
            (Some(Ok(url)), _) => http_check(url, check.contains.as_deref(), deadline),
            (None, Some(command)) => runner
                .run(command, &[])
                .map(|_| "succeeded".to_owned())
                .map_err(|e| crate::error_chain(&e)),
            (None, None) => Err("nothing to check".to_owned()),
        };
        match attempt {
            Ok(said) => {
                return Outcome {
                    name: check.name.clone(),
                    ok: true,
                    said,
                };
            }
            Err(said) if Instant::now() + RETRY >= deadline => {
                return Outcome {
                    name: check.name.clone(),
                    ok: false,
                    said,
                };
            }
            Err(_) => std::thread::sleep(RETRY),
        }
    }
}

/// One request (HTTP/1.0: an answer without chunks); `Ok` with its status line when it is a
/// success that holds `contains`.
fn http_check(url: &Url, contains: Option<&str>, deadline: Instant) -> Result<String, String> {
    let left = deadline
        .saturating_duration_since(Instant::now())
        .clamp(Duration::from_secs(1), Duration::from_secs(30));
    let host = url.host.trim_start_matches('[').trim_end_matches(']');
    let address = (host, url.port)
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {}: {e}", url.host))?
        .next()
        .ok_or_else(|| format!("no address for {}", url.host))?;
    let mut stream = TcpStream::connect_timeout(&address, left)
        .map_err(|e| format!("cannot connect to {address}: {e}"))?;
    let io = |e: std::io::Error| format!("{address}: {e}");
    stream.set_read_timeout(Some(left)).map_err(io)?;
    stream.set_write_timeout(Some(left)).map_err(io)?;
    let request = format!(
        "GET {} HTTP/1.0\r\nHost: {}\r\nUser-Agent: appliance-health\r\nConnection: close\r\n\r\n",
        url.path, url.host
    );
    stream.write_all(request.as_bytes()).map_err(io)?;
    let mut answer = Vec::new();
    stream
        .take(MAX_ANSWER)
        .read_to_end(&mut answer)
        .map_err(io)?;
    let text = String::from_utf8_lossy(&answer);
    let status_line = text.lines().next().unwrap_or_default().trim().to_owned();
    let status: u16 = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("not an HTTP answer: `{status_line}`"))?;
    if !(200..400).contains(&status) {
        return Err(format!("answered `{status_line}`"));
    }
    let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    match contains {
        Some(wanted) if !body.contains(wanted) => {
            Err(format!("answered `{status_line}` without `{wanted}`"))
        }
        _ => Ok(format!("answered `{status_line}`")),
    }
}

/// The port of the first `Listen` (Apache) or `listen` (nginx) directive of the configuration
/// file `file` of the system at `root`: `Listen 80`, `Listen 127.0.0.1:8081`, `listen [::]:80
/// default_server;`. A directive without a port (`listen unix:…`) is passed over.
fn port_from(root: &Path, file: &Path) -> Result<u16, String> {
    let path = root.join(file.strip_prefix("/").unwrap_or(file));
    let text = fs_err::read_to_string(&path).map_err(|e| crate::error_chain(&e))?;
    listen_port(&text)
        .ok_or_else(|| format!("{} has no `Listen` directive with a port", file.display()))
}

/// The port of `text`'s first `Listen`/`listen` directive that gives one.
pub fn listen_port(text: &str) -> Option<u16> {
    text.lines()
        .map(|line| line.split('#').next().unwrap_or_default().trim())
        .filter_map(|line| {
            let (directive, rest) = line.split_once(char::is_whitespace)?;
            directive.eq_ignore_ascii_case("listen").then_some(rest)
        })
        .find_map(|rest| {
            let address = rest.split_whitespace().next()?.trim_end_matches(';');
            // `[::]:80`, `127.0.0.1:80`, `*:80`, `80`; the last colon ends the host.
            let port = address.rsplit_once(':').map_or(address, |(_, port)| port);
            port.parse().ok().filter(|&port: &u16| port != 0)
        })
}

/// Writes `report` where appliance-control and [`last`] find it.
pub fn record(root: &Path, report: &Report) -> std::io::Result<PathBuf> {
    let dir = root.join(HEALTH_DIR);
    fs_err::create_dir_all(&dir)?;
    let path = dir.join(format!("{}.json", report.appliance));
    let json = serde_json::to_vec_pretty(report).unwrap_or_default();
    crate::atomic::write(&path, &json, 0o644)?;
    Ok(path)
}

/// The last recorded result of `appliance`'s checks, if any can be read.
pub fn last(root: &Path, appliance: &str) -> Option<Report> {
    if !crate::seed::registry::valid_package_name(appliance) {
        return None;
    }
    let bytes = fs_err::read(root.join(HEALTH_DIR).join(format!("{appliance}.json"))).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// The last recorded results of every appliance, by name.
pub fn all(root: &Path) -> Vec<Report> {
    let Ok(entries) = fs_err::read_dir(root.join(HEALTH_DIR)) else {
        return Vec::new();
    };
    let mut reports: Vec<Report> = entries
        .filter_map(Result::ok)
        .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
        .filter_map(|e| fs_err::read(e.path()).ok())
        .filter_map(|bytes| serde_json::from_slice(&bytes).ok())
        .collect();
    reports.sort_by(|a, b| a.appliance.cmp(&b.appliance));
    reports
}

/// Runs the checks of every plugin that declares some and whose appliance is installed; a
/// manifest that cannot be read stops nothing (it is an error of its own, returned beside the
/// reports).
pub fn check_all(root: &Path, after: &str) -> (Vec<Report>, Vec<(PathBuf, ManifestError)>) {
    let mut reports = Vec::new();
    let mut broken = Vec::new();
    let each = match Manifest::each(root) {
        Ok(each) => each,
        Err(error) => return (reports, vec![(root.join(crate::plugin::PLUGIN_DIR), error)]),
    };
    for (path, manifest) in each {
        match manifest {
            // An appliance that is not installed (any more) has nothing to answer.
            Ok(manifest)
                if !manifest.health.is_empty()
                    && crate::backup::plan::installed_version(root, &manifest.appliance)
                        .is_some() =>
            {
                reports.push(check(root, &manifest, after));
            }
            Ok(_) => {}
            Err(error) => broken.push((path, error)),
        }
    }
    (reports, broken)
}

/// Leaves the mark that the checks are due (the hook, before dpkg changes an appliance).
pub fn mark_pending(root: &Path, why: &str) -> std::io::Result<()> {
    let path = root.join(PENDING);
    if let Some(dir) = path.parent() {
        fs_err::create_dir_all(dir)?;
    }
    crate::atomic::write(&path, format!("{why}\n").as_bytes(), 0o644)
}

/// What the mark says, if there is one (it stays until [`clear_pending`]: checks cut short, by
/// a reboot say, are run again by `appliance-health.service`).
pub fn pending(root: &Path) -> std::io::Result<Option<String>> {
    match fs_err::read_to_string(root.join(PENDING)) {
        Ok(why) => Ok(Some(why.trim().to_owned())),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(error),
    }
}

/// Takes the mark away, once the checks it asked for are recorded.
pub fn clear_pending(root: &Path) -> std::io::Result<()> {
    match fs_err::remove_file(root.join(PENDING)) {
        Err(error) if error.kind() != std::io::ErrorKind::NotFound => Err(error),
        _ => Ok(()),
    }
}

/// Takes the mark away; whether there was one, and what it said.
pub fn take_pending(root: &Path) -> std::io::Result<Option<String>> {
    let why = pending(root)?;
    clear_pending(root)?;
    Ok(why)
}

/// Whether a command line (`/proc/PID/cmdline`: arguments ended by NUL) is unattended-upgrades'
/// (`/usr/bin/unattended-upgrade`, run by python3 or on its own).
pub fn is_unattended_upgrade(cmdline: &[u8]) -> bool {
    cmdline.split(|b| *b == 0).take(4).any(|argument| {
        let name = argument.rsplit(|b| *b == b'/').next().unwrap_or_default();
        name == b"unattended-upgrade" || name == b"unattended-upgrades"
    })
}

/// The parent of process `pid`, from `/proc/PID/stat` (its fourth field, after the name in
/// parentheses, which may hold anything).
fn parent_of(pid: u32) -> Option<u32> {
    let stat = fs_err::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(1)?.parse().ok()
}

/// Whether unattended-upgrades started this process, however deep (APT runs its hooks through
/// `sh -c`, from the unattended-upgrade process itself).
pub fn run_by_unattended_upgrades() -> bool {
    let mut pid = std::process::id();
    for _ in 0..64 {
        match parent_of(pid) {
            Some(parent) if parent > 1 => {
                if fs_err::read(format!("/proc/{parent}/cmdline"))
                    .is_ok_and(|c| is_unattended_upgrade(&c))
                {
                    return true;
                }
                pid = parent;
            }
            _ => return false,
        }
    }
    false
}

/// Starts the rollback of the last transaction as a unit of its own (`va-backup rollback --mail`),
/// not waiting for it: APT still holds its lock while its `DPkg::Post-Invoke` runs the checks, and
/// the rollback's own APT run waits for it to end.
pub fn start_rollback(root: &Path) -> Result<(), String> {
    if !crate::target::Target::new(root).is_live() {
        return Err(format!(
            "{} is not the running system: no unit can be started there",
            root.display()
        ));
    }
    let mut command = crate::target::Target::new(root).command("systemd-run");
    command.args([
        "--no-block",
        "--collect",
        &format!("--unit={ROLLBACK_UNIT}"),
        "--description=Roll the appliance back after a failed unattended upgrade",
        "/usr/bin/va-backup",
        "rollback",
        "--mail",
    ]);
    crate::target::run(command, "systemd-run va-backup rollback", None)
        .map(drop)
        .map_err(|e| crate::error_chain(&e))
}

/// The mail that tells the administrator of a failed check (for `sendmail -t`); `note`, if any,
/// says what is done about it.
pub fn failure_mail(host: &str, report: &Report, note: Option<&str>) -> String {
    use std::fmt::Write as _;
    let mut text = mail_head(
        host,
        &format!("{} is unhealthy after {}", report.appliance, report.after),
    );
    let _ = write!(
        text,
        "The health checks of {} on {host} failed at {} after {}:\n\n",
        report.appliance, report.checked, report.after
    );
    for check in &report.checks {
        let _ = writeln!(
            text,
            "  {} {}: {}",
            if check.ok { "passed" } else { "FAILED" },
            check.name,
            check.said
        );
    }
    text.push_str(
        "\nThe safety backup made before the last change is in /var/backups/appliance/safety;\n\
         `va-backup list` shows every backup.\n",
    );
    if let Some(note) = note {
        let _ = write!(text, "\n{note}\n");
    }
    text
}

/// The head of a mail to root, with its blank line.
pub fn mail_head(host: &str, subject: &str) -> String {
    // A subject is one line.
    let subject: String = subject
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    format!(
        "To: root\nSubject: {host}: {subject}\nAuto-Submitted: auto-generated\n\
         Content-Type: text/plain; charset=utf-8\n\n"
    )
}

/// This system's name, for mails.
pub fn host_name() -> String {
    nix::unistd::gethostname().map_or_else(
        |_| "this system".into(),
        |h| h.to_string_lossy().into_owned(),
    )
}

/// Mails `report` to root with the system's `sendmail` when it failed; says why it could not.
pub fn mail_failure(root: &Path, report: &Report, note: Option<&str>) -> Result<(), String> {
    if report.ok {
        return Ok(());
    }
    mail_root(root, &failure_mail(&host_name(), report, note))
}

/// Hands `message` (headers included) to the system's `sendmail` for root, whom the mail
/// system relays through the configured smarthost; says why it could not.
pub fn mail_root(root: &Path, message: &str) -> Result<(), String> {
    let sendmail = root.join("usr/sbin/sendmail");
    if !sendmail.exists() {
        return Err("no /usr/sbin/sendmail to mail with".into());
    }
    // Postfix's sendmail waits for its pickup service when postfix is down: never for long.
    let mut command = crate::target::Target::new(root).command("timeout");
    command.args([
        "--kill-after=5",
        &MAIL_TIMEOUT.as_secs().to_string(),
        "/usr/sbin/sendmail",
        "-t",
        "-oi",
    ]);
    crate::target::run(command, "sendmail -t", Some(message.as_bytes()))
        .map(drop)
        .map_err(|e| crate::error_chain(&e))
}

#[cfg(test)]
mod tests;
