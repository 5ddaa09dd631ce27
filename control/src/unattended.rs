//! Unattended updates and the history of transactions, for the Updates page.
//!
//! appliance-control turns Debian's unattended-upgrades on or off in a configuration file of its
//! own, read after the package's (`52appliance-unattended-upgrades`): security updates only by
//! default, or every update of the release; at a time of day (a drop-in for
//! `apt-daily-upgrade.timer`); with an automatic reboot when an update asks for one. Each run goes
//! through APT's hook as any other: a safety backup before it changes the appliance, the health
//! checks after it, a rollback of its own when they fail. What the page shows is what APT's
//! configuration says, whoever wrote it.
//!
//! The history is APT's own log (`/var/log/apt/history.log`), each transaction with the safety
//! backup the hook made before it and the health checks' result after it.

use std::path::Path;

use appliance::backup::safety;
use serde::{Deserialize, Serialize};

/// appliance-control's APT configuration, relative to the root: after `50unattended-upgrades`.
pub const CONFIG: &str = "etc/apt/apt.conf.d/52appliance-unattended-upgrades";
/// The drop-in that sets when `apt-daily-upgrade.timer` runs unattended-upgrades.
pub const TIMER_DROPIN: &str =
    "etc/systemd/system/apt-daily-upgrade.timer.d/50appliance-control.conf";
/// unattended-upgrades' program: without it, there is nothing to turn on.
pub const PROGRAM: &str = "usr/bin/unattended-upgrade";
/// APT's log of transactions.
pub const HISTORY: &str = "var/log/apt/history.log";
/// When Debian's `apt-daily-upgrade.timer` runs, unless told otherwise.
pub const DEFAULT_TIME: &str = "06:00";
/// The window after the time within which the run starts (the timer's randomized delay).
pub const WINDOW_MINUTES: u32 = 60;
/// How many transactions the page shows.
pub const HISTORY_SHOWN: usize = 20;
/// APT's log before its last rotation (logrotate's `/etc/logrotate.d/apt`, compressed).
pub const HISTORY_ROTATED: &str = "var/log/apt/history.log.1.gz";
/// How much of the rotated log is read at most, decompressed.
const HISTORY_ROTATED_LIMIT: u64 = 64 << 20;

/// The security archive of the running release, as unattended-upgrades matches origins.
pub const SECURITY_ORIGINS: [&str; 2] = [
    "origin=Debian,codename=${distro_codename},label=Debian-Security",
    "origin=Debian,codename=${distro_codename}-security,label=Debian-Security",
];
/// The rest of the release: point releases and stable-updates.
pub const OTHER_ORIGINS: [&str; 2] = [
    "origin=Debian,codename=${distro_codename},label=Debian",
    "origin=Debian,codename=${distro_codename}-updates",
];

/// The appliances' own repository, for the running release: its updates come with "every
/// update of the release" (its `Origin`: `appliance::release::sources::APPLIANCES_ORIGIN`).
pub const APPLIANCES_ORIGINS: [&str; 1] =
    ["origin=virtual-appliance-tools,codename=${distro_codename}"];

/// How unattended updates are set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Settings {
    pub enabled: bool,
    /// Every update of the release, not only security updates.
    pub all_updates: bool,
    /// `HH:MM`: the run starts within [`WINDOW_MINUTES`] after it.
    pub time: String,
    /// Reboot after a run whose updates ask for it (a new kernel, say).
    pub reboot: bool,
}

/// `HH:MM` of a day.
pub fn valid_time(time: &str) -> bool {
    let Some((hours, minutes)) = time.split_once(':') else {
        return false;
    };
    let two_digits = |s: &str| s.len() == 2 && s.bytes().all(|b| b.is_ascii_digit());
    two_digits(hours)
        && two_digits(minutes)
        && hours.parse::<u32>().is_ok_and(|h| h < 24)
        && minutes.parse::<u32>().is_ok_and(|m| m < 60)
}

/// appliance-control's APT configuration for `settings` ([`CONFIG`]).
pub fn config_text(settings: &Settings) -> String {
    let flag = |on: bool| if on { "1" } else { "0" };
    let mut origins: Vec<&str> = SECURITY_ORIGINS.to_vec();
    if settings.all_updates {
        origins.extend(OTHER_ORIGINS);
        origins.extend(APPLIANCES_ORIGINS);
    }
    let origins = origins.iter().fold(String::new(), |mut text, o| {
        text.push_str("        \"");
        text.push_str(o);
        text.push_str("\";\n");
        text
    });
    format!(
        "// Written by appliance-control (Updates page, \"Unattended updates\"); changed there.\n\
         // Each run makes a safety backup before it changes the appliance, checks its health\n\
         // after, and rolls back on its own when the checks fail.\n\
         APT::Periodic::Update-Package-Lists \"{}\";\n\
         APT::Periodic::Unattended-Upgrade \"{}\";\n\
         #clear Unattended-Upgrade::Origins-Pattern;\n\
         Unattended-Upgrade::Origins-Pattern {{\n{origins}}};\n\
         Unattended-Upgrade::Automatic-Reboot \"{}\";\n\
         Unattended-Upgrade::Automatic-Reboot-Time \"now\";\n",
        flag(settings.enabled),
        flag(settings.enabled),
        settings.reboot,
    )
}

/// The timer drop-in that starts the runs at `time`, within [`WINDOW_MINUTES`].
pub fn timer_text(time: &str) -> String {
    format!(
        "# Written by appliance-control (Updates page): unattended-upgrades runs between {time} and\n\
         # {WINDOW_MINUTES} minutes later.\n\
         [Timer]\n\
         OnCalendar=\n\
         OnCalendar=*-*-* {time}\n\
         RandomizedDelaySec={WINDOW_MINUTES}m\n"
    )
}

/// The values of `key` in `apt-config dump`'s output (a list's items as `KEY:: "…";`).
fn values<'a>(dump: &'a str, key: &str) -> Vec<&'a str> {
    let item = format!("{key}::");
    dump.lines()
        .filter_map(|line| {
            let (name, rest) = line.split_once(' ')?;
            if !name.eq_ignore_ascii_case(key) && !name.eq_ignore_ascii_case(&item) {
                return None;
            }
            let value = rest.trim().strip_suffix(';')?.trim();
            value.strip_prefix('"')?.strip_suffix('"')
        })
        .filter(|v| !v.is_empty())
        .collect()
}

fn truthy(value: Option<&&str>) -> bool {
    value.is_some_and(|v| {
        matches!(
            v.trim().to_ascii_lowercase().as_str(),
            "1" | "true" | "yes" | "on"
        )
    })
}

/// The settings in force: from APT's configuration (`apt-config dump`) and the timer's drop-in.
pub fn settings_from(dump: &str, dropin: Option<&str>) -> Settings {
    let periodic = |key: &str| {
        values(dump, key)
            .last()
            .and_then(|v| v.trim().parse::<i64>().ok())
            .is_some_and(|n| n != 0)
    };
    let enabled = periodic("APT::Periodic::Unattended-Upgrade")
        && values(dump, "APT::Periodic::Enable")
            .last()
            .is_none_or(|v| v.trim() != "0");
    let all_updates = values(dump, "Unattended-Upgrade::Origins-Pattern")
        .iter()
        .chain(&values(dump, "Unattended-Upgrade::Allowed-Origins"))
        .any(|o| !o.contains("Debian-Security") && !o.contains("-security"));
    let time = dropin
        .and_then(|text| {
            text.lines()
                .filter_map(|l| l.trim().strip_prefix("OnCalendar=*-*-* "))
                .map(str::trim)
                .rfind(|t| valid_time(t))
        })
        .unwrap_or(DEFAULT_TIME)
        .to_owned();
    Settings {
        enabled,
        all_updates,
        time,
        reboot: truthy(values(dump, "Unattended-Upgrade::Automatic-Reboot").last()),
    }
}

/// Whether unattended-upgrades is installed on the system at `root`.
pub fn installed(root: &Path) -> bool {
    root.join(PROGRAM).is_file()
}

/// What the Updates page shows of unattended updates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    pub installed: bool,
    pub settings: Settings,
}

/// What one transaction did to one package.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    pub package: String,
    /// `install`, `upgrade`, `downgrade`, `reinstall`, `remove` or `purge`.
    pub action: String,
    pub before: Option<String>,
    pub after: Option<String>,
}

/// One APT transaction, as its history log says, with what the hook made of it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transaction {
    /// `YYYY-MM-DD  HH:MM:SS`, the system's time, as APT writes it.
    pub start: String,
    pub end: Option<String>,
    pub command: Option<String>,
    pub requested_by: Option<String>,
    pub error: Option<String>,
    pub changes: Vec<Change>,
    /// The safety backup made before it, by file name.
    pub safety_backup: Option<String>,
    pub health: Option<safety::Health>,
    pub rolled_back: Option<String>,
}

impl Transaction {
    /// Who started it, for people: unattended-upgrades, a command, or a user.
    pub fn by(&self) -> String {
        match (&self.command, &self.requested_by) {
            (Some(command), _) if command.contains("unattended-upgrade") => {
                "unattended-upgrades".into()
            }
            (Some(command), Some(user)) => format!("{command} ({user})"),
            (Some(command), None) => command.clone(),
            (None, Some(user)) => user.clone(),
            // unattended-upgrades through python-apt leaves no command line.
            (None, None) => "unattended-upgrades or another APT program".into(),
        }
    }
}

/// `name:arch (version), name:arch (old, new), name:arch (version, automatic)`: the packages of
/// one history line.
fn packages(list: &str, action: &str) -> Vec<Change> {
    let mut changes = Vec::new();
    let mut rest = list.trim();
    while let Some(open) = rest.find(" (") {
        let name = rest[..open].trim().trim_start_matches(',').trim();
        let Some(close) = rest[open..].find(')') else {
            break;
        };
        let inside = &rest[open + 2..open + close];
        rest = rest[open + close + 1..]
            .trim_start_matches(',')
            .trim_start();
        let package = name.split(':').next().unwrap_or(name).to_owned();
        let versions: Vec<&str> = inside
            .split(", ")
            .map(str::trim)
            .filter(|v| *v != "automatic")
            .collect();
        let (before, after) = match (action, versions.as_slice()) {
            ("upgrade" | "downgrade", [old, new, ..]) => (Some(*old), Some(*new)),
            ("install", [new, ..]) => (None, Some(*new)),
            ("reinstall", [version, ..]) => (Some(*version), Some(*version)),
            ("remove" | "purge", [old, ..]) => (Some(*old), None),
            _ => (None, None),
        };
        changes.push(Change {
            package,
            action: action.to_owned(),
            before: before.map(str::to_owned),
            after: after.map(str::to_owned),
        });
    }
    changes
}

/// APT's history log, oldest first.
/// APT's transactions on the system at `root`, oldest first: its log's, after those of the log
/// before the last rotation when the current one holds fewer than [`HISTORY_SHOWN`] (a new
/// month's log would otherwise hide the last upgrades). No log is no history.
pub fn read_history(root: &std::path::Path) -> std::io::Result<Vec<Transaction>> {
    let read = |relative: &str| {
        let path = root.join(relative);
        match std::fs::read(&path) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(error) => Err(std::io::Error::new(
                error.kind(),
                format!("cannot read {}: {error}", path.display()),
            )),
        }
    };
    let current = parse_history(&String::from_utf8_lossy(
        &read(HISTORY)?.unwrap_or_default(),
    ));
    if current.len() >= HISTORY_SHOWN {
        return Ok(current);
    }
    let Some(rotated) = read(HISTORY_ROTATED)? else {
        return Ok(current);
    };
    let mut older = Vec::new();
    std::io::Read::read_to_end(
        &mut std::io::Read::take(
            flate2::read::GzDecoder::new(rotated.as_slice()),
            HISTORY_ROTATED_LIMIT,
        ),
        &mut older,
    )
    .map_err(|error| {
        std::io::Error::new(
            error.kind(),
            format!(
                "cannot read {}: {error}",
                root.join(HISTORY_ROTATED).display()
            ),
        )
    })?;
    let mut transactions = parse_history(&String::from_utf8_lossy(&older));
    transactions.extend(current);
    Ok(transactions)
}

pub fn parse_history(text: &str) -> Vec<Transaction> {
    let mut transactions = Vec::new();
    let mut current: Option<Transaction> = None;
    for line in text.lines() {
        let Some((field, value)) = line.split_once(": ") else {
            continue;
        };
        let value = value.trim();
        if field == "Start-Date" {
            transactions.extend(current.take());
            current = Some(Transaction {
                start: value.to_owned(),
                ..Transaction::default()
            });
            continue;
        }
        let Some(transaction) = current.as_mut() else {
            continue;
        };
        match field {
            "End-Date" => transaction.end = Some(value.to_owned()),
            "Commandline" => transaction.command = Some(value.to_owned()),
            "Requested-By" => transaction.requested_by = Some(value.to_owned()),
            "Error" => transaction.error = Some(value.to_owned()),
            "Install" | "Upgrade" | "Downgrade" | "Reinstall" | "Remove" | "Purge" => transaction
                .changes
                .extend(packages(value, &field.to_ascii_lowercase())),
            _ => {}
        }
    }
    transactions.extend(current);
    transactions
}

/// Whether `transaction` is the one a safety backup's `record` was made for: every guarded
/// package it changes, changed the same way.
fn made_for(record: &safety::Record, transaction: &Transaction) -> bool {
    let guarded: Vec<&safety::Change> = record
        .transaction
        .iter()
        .filter(|c| record.guarded.contains(&c.package))
        .collect();
    !guarded.is_empty()
        && guarded.iter().all(|wanted| {
            transaction.changes.iter().any(|c| {
                c.package == wanted.package && c.before == wanted.before && c.after == wanted.after
            })
        })
}

/// The newest `limit` transactions first, each with its safety backup and health result.
pub fn history(
    transactions: Vec<Transaction>,
    records: &[(std::path::PathBuf, safety::Record)],
    limit: usize,
) -> Vec<Transaction> {
    let mut used = vec![false; records.len()];
    let mut newest: Vec<Transaction> = transactions.into_iter().rev().take(limit).collect();
    for transaction in &mut newest {
        let found = records
            .iter()
            .enumerate()
            .rev()
            .find(|(i, (_, record))| !used[*i] && made_for(record, transaction));
        if let Some((i, (_, record))) = found {
            used[i] = true;
            transaction.safety_backup = Some(record.backup.clone());
            transaction.health = record.health.clone();
            transaction.rolled_back = record.rolled_back.clone();
        }
    }
    newest
}

#[cfg(test)]
mod tests;
