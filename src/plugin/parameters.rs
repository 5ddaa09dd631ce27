//! The parameters of a plugin action: what the page asks for, and how the values given reach the
//! action's command. Plain values follow the manifest's `run` as arguments, in the order the
//! manifest declares them; passwords go to the command's standard input, one a line, since every
//! user of the system may read a process's arguments in `/proc/PID/cmdline`.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::{Action, Kind, valid_name};

/// The most parameters an action may declare (and a request may carry).
pub const MAX_PARAMETERS: usize = 16;

/// A value an action asks for.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Parameter {
    /// Its name in requests (`email`), like a setting's.
    pub name: String,
    /// What the page calls it.
    pub label: String,
    #[serde(default)]
    pub help: Option<String>,
    /// What the value may be; `password` for a secret.
    #[serde(default)]
    pub kind: Kind,
}

impl Parameter {
    /// Whether the value is a secret: passed on standard input and never shown.
    pub fn secret(&self) -> bool {
        self.kind == Kind::Password
    }
}

/// How an action runs with the values given.
#[derive(Clone, PartialEq, Eq)]
pub struct Invocation {
    /// The program and its arguments: the manifest's `run`, then the plain values in the
    /// declared order.
    pub command: Vec<String>,
    /// The secret values, each on a line of its own in the declared order, for the command's
    /// standard input; `None` when the action takes no secret (its standard input is empty).
    pub input: Option<String>,
}

/// Without the secrets, so that no debugging print shows them.
impl std::fmt::Debug for Invocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Invocation")
            .field("command", &self.command)
            .field("input", &self.input.as_ref().map(|_| "<secret>"))
            .finish()
    }
}

impl Action {
    /// The parameter named `name`.
    pub fn parameter(&self, name: &str) -> Option<&Parameter> {
        self.parameters.iter().find(|p| p.name == name)
    }

    /// The manifest's rules for the parameters: names, no name twice, not too many.
    pub(super) fn check_parameters(&self) -> Result<(), String> {
        if self.parameters.len() > MAX_PARAMETERS {
            return Err(format!(
                "the action `{}` declares more than {MAX_PARAMETERS} parameters",
                self.name
            ));
        }
        for parameter in &self.parameters {
            if !valid_name(&parameter.name) {
                return Err(format!(
                    "`{}` is not a parameter name (action `{}`)",
                    parameter.name, self.name
                ));
            }
            if self
                .parameters
                .iter()
                .filter(|p| p.name == parameter.name)
                .count()
                > 1
            {
                return Err(format!(
                    "the action `{}` declares the parameter `{}` twice",
                    self.name, parameter.name
                ));
            }
        }
        Ok(())
    }

    /// Checks the values `given` against the declared parameters and makes the command line and
    /// standard input of this action. Every declared parameter must be given, not empty; a
    /// name the action does not declare is refused; each value must be of its kind, and a plain
    /// value must not begin with `-` (a command would take it for an option). Errors name
    /// parameters by their label and never repeat a password.
    pub fn invocation(&self, given: &BTreeMap<String, String>) -> Result<Invocation, String> {
        if let Some(unknown) = given.keys().find(|name| self.parameter(name).is_none()) {
            return Err(if valid_name(unknown) {
                format!("the action `{}` has no parameter `{unknown}`", self.name)
            } else {
                format!("the action `{}` has no such parameter", self.name)
            });
        }
        let mut command = self.run.clone();
        let mut input: Option<String> = None;
        for parameter in &self.parameters {
            let label = &parameter.label;
            let value = match given.get(&parameter.name) {
                Some(value) if !value.is_empty() => value,
                _ => {
                    return Err(format!(
                        "{label} is required (parameter `{}`)",
                        parameter.name
                    ));
                }
            };
            parameter
                .kind
                .check(value)
                .map_err(|reason| format!("{label}: {reason}"))?;
            if parameter.secret() {
                let lines = input.get_or_insert_with(String::new);
                lines.push_str(value);
                lines.push('\n');
            } else if value.starts_with('-') {
                return Err(format!("{label}: a value may not begin with `-`"));
            } else {
                command.push(value.clone());
            }
        }
        Ok(Invocation { command, input })
    }
}

#[cfg(test)]
mod tests {
    use super::super::Manifest;
    use super::*;

    const ACCOUNTS: &str = "appliance: wiki-appliance
actions:
  - name: create-user
    label: Create a user
    parameters:
      - {name: name, label: User name}
      - {name: email, label: E-mail, kind: email}
      - {name: password, label: Password, kind: password}
    run: [/usr/lib/wiki/create-user, --quiet]
  - name: rebuild-index
    label: Rebuild the index
    run: [/usr/lib/wiki/rebuild-index]
";

    fn values(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn parameters_parse_with_their_kinds() {
        let manifest = Manifest::parse(ACCOUNTS).unwrap();
        let action = manifest.action("create-user").unwrap();
        let kinds: Vec<Kind> = action.parameters.iter().map(|p| p.kind).collect();
        assert_eq!(kinds, [Kind::Text, Kind::Email, Kind::Password]);
        assert!(action.parameter("password").unwrap().secret());
        assert!(!action.parameter("email").unwrap().secret());
        assert!(
            manifest
                .action("rebuild-index")
                .unwrap()
                .parameters
                .is_empty()
        );
    }

    #[test]
    fn plain_values_follow_the_command_and_the_secret_goes_to_standard_input() {
        let manifest = Manifest::parse(ACCOUNTS).unwrap();
        let action = manifest.action("create-user").unwrap();
        let invocation = action
            .invocation(&values(&[
                ("password", "s3cret pass"),
                ("email", "alice@example.org"),
                ("name", "Alice Liddell"),
            ]))
            .unwrap();
        assert_eq!(
            invocation.command,
            [
                "/usr/lib/wiki/create-user",
                "--quiet",
                "Alice Liddell",
                "alice@example.org"
            ]
        );
        assert_eq!(invocation.input.as_deref(), Some("s3cret pass\n"));
        assert!(!invocation.command.iter().any(|a| a.contains("s3cret")));
        assert!(!format!("{invocation:?}").contains("s3cret"));
        // An action without parameters runs as it did, with nothing on standard input.
        let plain = manifest.action("rebuild-index").unwrap();
        let invocation = plain.invocation(&BTreeMap::new()).unwrap();
        assert_eq!(invocation.command, ["/usr/lib/wiki/rebuild-index"]);
        assert_eq!(invocation.input, None);
    }

    #[test]
    fn unknown_missing_and_bad_values_are_refused_without_repeating_a_password() {
        let manifest = Manifest::parse(ACCOUNTS).unwrap();
        let action = manifest.action("create-user").unwrap();
        let good = [
            ("name", "Alice"),
            ("email", "alice@example.org"),
            ("password", "s3cret-pass"),
        ];
        let with = |name: &str, value: &str| {
            let mut given = values(&good);
            given.insert(name.to_owned(), value.to_owned());
            given
        };
        let without = |name: &str| {
            let mut given = values(&good);
            given.remove(name);
            given
        };
        for (given, reason) in [
            (with("admin", "yes"), "no parameter `admin`"),
            (with("Bad Name", "x"), "no such parameter"),
            (without("password"), "Password is required"),
            (without("name"), "User name is required"),
            (with("name", ""), "User name is required"),
            (
                with("email", "alice at example.org"),
                "not a valid mail address",
            ),
            (with("name", "two\nlines"), "not a valid line of text"),
            (with("name", "tab\there"), "not a valid line of text"),
            (with("name", &"a".repeat(257)), "at most 256"),
            (with("name", "--all-users"), "may not begin with `-`"),
            (with("password", "s3cret\nnext"), "the password is not"),
            (with("password", "s3cret\u{7f}"), "the password is not"),
            (
                with("password", &"s3cret".repeat(50)),
                "the password is not",
            ),
        ] {
            let error = action.invocation(&given).unwrap_err();
            assert!(error.contains(reason), "{given:?}: {error}");
            assert!(!error.contains("s3cret"), "{error}");
        }
        // An action without parameters takes none.
        let plain = manifest.action("rebuild-index").unwrap();
        let error = plain.invocation(&values(&[("x", "1")])).unwrap_err();
        assert!(error.contains("no parameter `x`"), "{error}");
    }

    #[test]
    fn the_moinmoin_plugin_asks_for_a_user_and_a_password() {
        let manifest = Manifest::parse(include_str!(
            "../../appliances/moinmoin/plugin/moinmoin.yaml"
        ))
        .unwrap();
        let create = manifest.action("create-user").unwrap();
        let invocation = create
            .invocation(&values(&[
                ("name", "Alice"),
                ("email", "alice@example.org"),
                ("password", "s3cret-pass"),
            ]))
            .unwrap();
        assert_eq!(
            invocation.command,
            [
                "/usr/lib/appliance-control-moinmoin/create-user",
                "Alice",
                "alice@example.org"
            ]
        );
        assert_eq!(invocation.input.as_deref(), Some("s3cret-pass\n"));
        let reset = manifest.action("reset-password").unwrap();
        let invocation = reset
            .invocation(&values(&[("name", "Alice"), ("password", "n3w-pass")]))
            .unwrap();
        assert_eq!(
            invocation.command,
            [
                "/usr/lib/appliance-control-moinmoin/reset-password",
                "Alice"
            ]
        );
        assert_eq!(invocation.input.as_deref(), Some("n3w-pass\n"));
    }

    #[test]
    fn bad_parameter_declarations_are_refused() {
        let declared = (0..=MAX_PARAMETERS)
            .map(|i| format!("{{name: p{i}, label: P}}"))
            .collect::<Vec<_>>()
            .join(", ");
        let many = format!(
            "appliance: xy\nactions: [{{name: go, label: Go, run: [/bin/true], parameters: [{declared}]}}]\n"
        );
        for (text, reason) in [
            (
                "appliance: xy\nactions: [{name: go, label: Go, run: [/bin/true], parameters: [{name: Bad, label: B}]}]\n",
                "not a parameter name",
            ),
            (
                "appliance: xy\nactions: [{name: go, label: Go, run: [/bin/true], parameters: [{name: a, label: A}, {name: a, label: B}]}]\n",
                "parameter `a` twice",
            ),
            (
                "appliance: xy\nactions: [{name: go, label: Go, run: [/bin/true], parameters: [{name: a, label: A, kind: secret}]}]\n",
                "unknown variant",
            ),
            (
                "appliance: xy\nactions: [{name: go, label: Go, run: [/bin/true], parameters: [{name: a, label: A, echo: true}]}]\n",
                "unknown field",
            ),
            (
                "appliance: xy\nactions: [{name: go, label: Go, run: [/bin/true], parameters: [{name: a}]}]\n",
                "missing field",
            ),
            (
                "appliance: xy\nactions: [{name: go, label: Go, run: [/bin/true]}, {name: go, label: Again, run: [/bin/true]}]\n",
                "action `go` is declared twice",
            ),
            (
                "appliance: xy\nsettings: [{name: a, label: A, kind: password, lens: Shellvars.lns, file: /etc/x, path: Y}]\n",
                "cannot be a password",
            ),
            (many.as_str(), "more than 16 parameters"),
        ] {
            let error = Manifest::parse(text).unwrap_err();
            assert!(error.contains(reason), "{text}: {error}");
        }
    }
}
