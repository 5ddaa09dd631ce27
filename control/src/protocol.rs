//! What the web service may ask of the root agent: one JSON object per line over
//! `/run/appliance/agent.sock`, answered by one JSON line. The list of operations is closed, every
//! argument is checked here before anything runs, and there is no "run this command".

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// The longest request line the agent reads.
pub const MAX_LINE: usize = 64 * 1024;

/// The agent's socket, relative to the system's root.
pub const SOCKET: &str = "run/appliance/agent.sock";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Request {
    /// `apt-get update`, as a job.
    Refresh,
    /// The packages that an upgrade would change.
    Upgrades,
    /// `apt-get upgrade` as a job (with the safety backup that APT's hook makes).
    Upgrade,
    /// `dpkg --configure -a`, as a job, after an interrupted dpkg.
    ConfigurePending,
    /// A backup as the plugin manifest says.
    BackupCreate,
    BackupList,
    /// The backup's file, passed back as a file descriptor.
    BackupOpen {
        name: String,
    },
    BackupDelete {
        name: String,
    },
    /// Restores a backup kept under /var/backups/appliance, into the directories the plugin
    /// manifest that accepts it declares. The system configuration of a backup made elsewhere
    /// is restored only with the second confirmation that names the risk: it runs as root.
    BackupRestore {
        name: String,
        #[serde(rename = "foreign-configuration-runs-as-root", default)]
        foreign_configuration_runs_as_root: bool,
    },
    /// Takes a backup uploaded to the web service's upload directory into the store.
    BackupImport {
        name: String,
    },
    /// Restarts a service that a plugin manifest declares.
    Restart {
        service: String,
    },
    Reboot,
    Poweroff,
    /// Sets an Augeas value on an allowed path.
    AugeasSet {
        path: String,
        value: String,
    },
    /// postfix's smarthost; `password: null` keeps the one there is.
    Smarthost {
        host: String,
        port: u16,
        user: String,
        #[serde(default)]
        password: Option<String>,
    },
    /// The smarthost settings, without the password.
    MailSettings,
    /// Sends a test mail.
    TestMail {
        to: String,
    },
    /// Turns the nightly backup (`va-backup.timer`) on or off.
    Schedule {
        enable: bool,
    },
    /// Whether the nightly backup is on.
    ScheduleState,
    /// Turns on or off the safety backups APT's hook makes before a transaction changes the
    /// appliance (`Appliance::Safety-Backup` in /etc/apt/apt.conf.d).
    SafetyBackups {
        enable: bool,
    },
    /// `va-backup rollback` as a job: the last transaction's safety backup put back, packages
    /// and data.
    Rollback,
    /// `va-upgrade-release --check` as a job: whether the system can move to the next Debian
    /// release, and which sources would move.
    ReleaseCheck,
    /// `va-upgrade-release --yes` as a job: the move to the next Debian release, rolled back
    /// when it fails.
    ReleaseUpgrade,
    /// Sets unattended-upgrades (on or off, security updates only or all, when, whether to
    /// reboot).
    Unattended {
        enable: bool,
        #[serde(rename = "all-updates")]
        all_updates: bool,
        time: String,
        reboot: bool,
    },
    /// How unattended-upgrades is set, as APT's configuration says.
    UnattendedState,
    /// APT's last transactions, each with its safety backup and health result.
    History,
    /// Runs an action that a root-owned plugin manifest declares, with the values of its
    /// parameters (checked against the manifest by the agent; passwords among them).
    Action {
        plugin: String,
        action: String,
        #[serde(default)]
        parameters: BTreeMap<String, String>,
    },
    /// The current values of a plugin's settings.
    PluginSettings {
        plugin: String,
    },
    /// Changes one setting that a root-owned plugin manifest declares.
    SettingSet {
        plugin: String,
        setting: String,
        value: String,
    },
}

/// The answer: `ok` with data, or an error in words for people. The data of each request is a
/// typed answer of its area (`crate::agent::backups::List` for `backup-list`, …): the agent
/// writes it with [`Response::answer`], the web service reads it with [`Response::into_answer`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Response {
    pub ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub data: serde_json::Value,
}

impl Response {
    pub fn ok(data: serde_json::Value) -> Self {
        Self {
            ok: true,
            error: None,
            data,
        }
    }

    pub fn error(message: impl Into<String>) -> Self {
        Self {
            ok: false,
            error: Some(message.into()),
            data: serde_json::Value::Null,
        }
    }

    /// `ok` with a request's typed answer as its data.
    pub fn answer(answer: &impl Serialize) -> Self {
        match serde_json::to_value(answer) {
            Ok(data) => Self::ok(data),
            Err(error) => Self::error(format!("the answer cannot be written: {error}")),
        }
    }

    /// The typed answer, or why there is none: the agent's error in its words, or what in the
    /// data is not the answer expected (never a default in its place).
    pub fn into_answer<T: DeserializeOwned>(self) -> Result<T, String> {
        if !self.ok {
            return Err(self.error.unwrap_or_else(|| "the agent refused".into()));
        }
        serde_json::from_value(self.data)
            .map_err(|e| format!("the agent's answer is not understood: {e}"))
    }
}

/// A backup's file name in the store: no directory, no hidden file, `.abf`.
pub fn valid_backup_name(name: &str) -> bool {
    name.len() <= 200
        && name.rsplit_once('.').is_some_and(|(_, e)| e == "abf")
        && name.len() > 4
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-+:".contains(&b))
}

/// A systemd unit name as plugins declare them.
pub fn valid_service(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && !name.starts_with(['-', '.'])
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"@._-".contains(&b))
}

/// The Augeas paths appliance-control itself may set: postfix's smarthost settings.
pub const MAIL_PATHS: [&str; 6] = [
    "/files/etc/postfix/main.cf/relayhost",
    "/files/etc/postfix/main.cf/smtp_sasl_auth_enable",
    "/files/etc/postfix/main.cf/smtp_sasl_password_maps",
    "/files/etc/postfix/main.cf/smtp_sasl_security_options",
    "/files/etc/postfix/main.cf/smtp_tls_security_level",
    "/files/etc/postfix/main.cf/myhostname",
];

/// A value that goes into a configuration file as one line.
pub fn valid_value(value: &str) -> bool {
    value.len() <= 1024 && !value.contains(['\n', '\r', '\0'])
}

/// Parses one request line; the reason is for the caller.
pub fn parse(line: &[u8]) -> Result<Request, String> {
    if line.len() > MAX_LINE {
        return Err(format!("the request is longer than {MAX_LINE} bytes"));
    }
    let value: serde_json::Value =
        serde_json::from_slice(line).map_err(|e| format!("not a request: {e}"))?;
    let given: Vec<String> = value
        .as_object()
        .ok_or("not a request: not a JSON object")?
        .keys()
        .cloned()
        .collect();
    let request: Request =
        serde_json::from_value(value).map_err(|e| format!("not a request: {e}"))?;
    // serde ignores extra fields of unit variants: none is accepted here.
    let known = serde_json::to_value(&request).map_err(|e| e.to_string())?;
    if let Some(extra) = given.iter().find(|k| known.get(k.as_str()).is_none()) {
        return Err(format!("not a request: unknown field `{extra}`"));
    }
    check(&request)?;
    Ok(request)
}

/// The checks that need no system: names and values.
pub fn check(request: &Request) -> Result<(), String> {
    match request {
        Request::BackupOpen { name }
        | Request::BackupDelete { name }
        | Request::BackupRestore { name, .. }
        | Request::BackupImport { name }
            if !valid_backup_name(name) =>
        {
            return Err(format!("`{name}` is not the name of a backup"));
        }
        Request::Restart { service } if !valid_service(service) => {
            return Err(format!("`{service}` is not a service name"));
        }
        Request::AugeasSet { path, value } => {
            if !valid_value(value) {
                return Err("the value must be one line of at most 1024 bytes".into());
            }
            if path.contains("..") || !path.starts_with("/files/") {
                return Err(format!("`{path}` is not a settable Augeas path"));
            }
        }
        Request::Smarthost {
            host,
            port,
            user,
            password,
        } => {
            if !crate::mail::valid_host(host) || *port == 0 {
                return Err(format!("`{host}` is not a mail server's name"));
            }
            if user.len() > 256 || user.contains(|c: char| c.is_whitespace() || c == ':') {
                return Err("the user must be one word without `:`".into());
            }
            if password
                .as_deref()
                .is_some_and(|p| p.len() > 256 || p.contains(['\n', '\r', '\0']))
            {
                return Err("the password must be one line".into());
            }
        }
        Request::TestMail { to } => {
            let parts: Vec<&str> = to.split('@').collect();
            let sound = to.len() <= 254
                && !to.starts_with(['-', '.'])
                && parts.len() == 2
                && parts.iter().all(|p| !p.is_empty())
                && !to.contains(|c: char| {
                    c.is_whitespace() || c.is_control() || "<>,;\"'".contains(c)
                });
            if !sound {
                return Err(format!("`{to}` is not a mail address"));
            }
        }
        Request::Action {
            plugin,
            action,
            parameters,
        } => {
            if !appliance::plugin::valid_name(plugin) || !appliance::plugin::valid_name(action) {
                return Err("not a plugin action".into());
            }
            if parameters.len() > appliance::plugin::MAX_PARAMETERS {
                return Err("too many parameters".into());
            }
            if parameters.keys().any(|n| !appliance::plugin::valid_name(n)) {
                return Err("not a parameter name".into());
            }
            // Not the value itself: it may be a password.
            if parameters.values().any(|v| !valid_value(v)) {
                return Err("a parameter's value must be one line of at most 1024 bytes".into());
            }
        }
        Request::Unattended { time, .. } if !crate::unattended::valid_time(time) => {
            return Err(format!("`{time}` is not a time of day (HH:MM)"));
        }
        Request::PluginSettings { plugin } if !appliance::plugin::valid_name(plugin) => {
            return Err("not a plugin".into());
        }
        Request::SettingSet {
            plugin,
            setting,
            value,
        } => {
            if !appliance::plugin::valid_name(plugin) || !appliance::plugin::valid_name(setting) {
                return Err("not a plugin setting".into());
            }
            if !valid_value(value) {
                return Err("the value must be one line of at most 1024 bytes".into());
            }
        }
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_round_trip_as_json_lines() {
        for request in [
            Request::Refresh,
            Request::BackupRestore {
                name: "moinmoin-appliance-20261126T034500Z.abf".into(),
                foreign_configuration_runs_as_root: true,
            },
            Request::AugeasSet {
                path: MAIL_PATHS[0].into(),
                value: "[smtp.example.org]:587".into(),
            },
            Request::Action {
                plugin: "moinmoin".into(),
                action: "create-user".into(),
                parameters: [("name", "Alice"), ("password", "s3cret pass")]
                    .into_iter()
                    .map(|(n, v)| (n.to_owned(), v.to_owned()))
                    .collect(),
            },
        ] {
            let line = serde_json::to_string(&request).unwrap();
            assert!(!line.contains('\n'));
            assert_eq!(parse(line.as_bytes()).unwrap(), request);
        }
        assert_eq!(
            serde_json::to_string(&Request::ConfigurePending).unwrap(),
            r#"{"op":"configure-pending"}"#
        );
        // A request of before parameters still reads.
        assert_eq!(
            parse(br#"{"op":"action","plugin":"wiki","action":"check"}"#).unwrap(),
            Request::Action {
                plugin: "wiki".into(),
                action: "check".into(),
                parameters: BTreeMap::new(),
            }
        );
    }

    #[test]
    fn hostile_requests_are_refused_with_a_reason() {
        let long = format!(r#"{{"op":"refresh","pad":"{}"}}"#, "x".repeat(MAX_LINE));
        for (line, reason) in [
            (r#"{"op":"run","command":"rm -rf /"}"#, "unknown variant"),
            (r#"{"op":"refresh","extra":1}"#, "unknown field"),
            (
                r#"{"op":"backup-open","name":"../../etc/shadow"}"#,
                "not the name",
            ),
            (
                r#"{"op":"backup-open","name":"/etc/shadow.abf"}"#,
                "not the name",
            ),
            (
                r#"{"op":"backup-delete","name":".hidden.abf"}"#,
                "not the name",
            ),
            (
                r#"{"op":"backup-restore","name":"x.abf\u0000"}"#,
                "not the name",
            ),
            (r#"{"op":"restart","service":"-H evil"}"#, "not a service"),
            (r#"{"op":"restart","service":"a b"}"#, "not a service"),
            (
                r#"{"op":"augeas-set","path":"/files/etc/shadow/../passwd","value":"x"}"#,
                "not a settable",
            ),
            (
                r#"{"op":"augeas-set","path":"/augeas/load","value":"x"}"#,
                "not a settable",
            ),
            (
                r#"{"op":"augeas-set","path":"/files/etc/postfix/main.cf/relayhost","value":"a\nb"}"#,
                "one line",
            ),
            (
                r#"{"op":"smarthost","host":"a.example.org","port":25,"user":"u\nrelayhost = evil","password":"p"}"#,
                "one word",
            ),
            (
                r#"{"op":"smarthost","host":"a.example.org","port":25,"user":"u","password":"p\nq"}"#,
                "one line",
            ),
            (
                r#"{"op":"smarthost","host":"a b","port":25,"user":"","password":null}"#,
                "mail server",
            ),
            (r#"{"op":"test-mail","to":"a@b, c@d"}"#, "mail address"),
            (r#"{"op":"test-mail","to":"-oQ/tmp@x"}"#, "mail address"),
            (
                r#"{"op":"action","plugin":"wiki","action":"go","parameters":{"../x":"1"}}"#,
                "not a parameter name",
            ),
            (
                r#"{"op":"action","plugin":"wiki","action":"go","parameters":{"password":"hunter2\nx"}}"#,
                "one line",
            ),
            (
                r#"{"op":"action","plugin":"wiki","action":"go","parameters":{"name":["a"]}}"#,
                "not a request",
            ),
            (
                r#"{"op":"action","plugin":"wiki","action":"go","params":{}}"#,
                "unknown field",
            ),
            ("not json", "not a request"),
            ("", "not a request"),
            (long.as_str(), "longer than"),
        ] {
            let error = parse(line.as_bytes()).unwrap_err();
            assert!(error.contains(reason), "{line:.80}: {error}");
            assert!(!error.contains("hunter2"), "{error}");
        }
    }

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Made {
        name: String,
        #[serde(rename = "left-out")]
        left_out: bool,
    }

    #[test]
    fn a_typed_answer_round_trips_as_its_json_line() {
        let made = Made {
            name: "wiki-20261126T034500Z.abf".into(),
            left_out: true,
        };
        let line = serde_json::to_string(&Response::answer(&made)).unwrap();
        assert_eq!(
            line,
            r#"{"ok":true,"data":{"left-out":true,"name":"wiki-20261126T034500Z.abf"}}"#
        );
        let read: Response = serde_json::from_str(&line).unwrap();
        assert_eq!(read.into_answer::<Made>().unwrap(), made);
    }

    #[test]
    fn a_malformed_answer_is_an_error_that_says_what_is_wrong() {
        for (line, reason) in [
            (
                r#"{"ok":true,"data":{"left-out":true}}"#,
                "missing field `name`",
            ),
            (
                r#"{"ok":true,"data":{"name":7,"left-out":false}}"#,
                "invalid type: integer `7`, expected a string",
            ),
            (r#"{"ok":true}"#, "invalid type: null"),
            (
                r#"{"ok":true,"data":"done"}"#,
                "invalid type: string \"done\", expected struct Made",
            ),
        ] {
            let response: Response = serde_json::from_str(line).unwrap();
            let error = response.into_answer::<Made>().unwrap_err();
            assert!(
                error.starts_with("the agent's answer is not understood: ")
                    && error.contains(reason),
                "{line}: {error}"
            );
        }
        // The agent's refusal is passed on in its words.
        let refused: Response =
            serde_json::from_str(r#"{"ok":false,"error":"there is no backup `x.abf`"}"#).unwrap();
        assert_eq!(
            refused.into_answer::<Made>().unwrap_err(),
            "there is no backup `x.abf`"
        );
    }

    #[test]
    fn names() {
        assert!(valid_backup_name("dokuwiki-appliance-20261126T034500Z.abf"));
        for bad in [
            "x.tar",
            ".abf",
            "a/b.abf",
            "..abf",
            &format!("{}.abf", "a".repeat(200)),
        ] {
            assert!(!valid_backup_name(bad), "{bad}");
        }
        assert!(valid_service("apache2") && valid_service("getty@tty1"));
        assert!(!valid_service("") && !valid_service("a;b") && !valid_service(".x"));
    }
}
