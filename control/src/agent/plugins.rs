//! Plugins: the actions and settings a root-owned plugin manifest declares.

use std::collections::BTreeMap;

use appliance::plugin::Manifest;
use serde::{Deserialize, Serialize};

use super::{Agent, Answer, ok, root_alone};
use crate::protocol::Request;

/// The answer to `action`: the action's label and what its command printed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Done {
    pub done: String,
    pub output: String,
}

/// The answer to `plugin-settings`: each setting's value by its name; `None` where the
/// configuration has none.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Values(pub BTreeMap<String, Option<String>>);

impl Values {
    /// The value of the setting `name`, if it has one.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).and_then(Option::as_deref)
    }
}

/// The answer to `setting-set`: the label of the setting changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Saved {
    pub set: String,
}

impl Agent<'_> {
    /// The plugin requests.
    pub(super) fn plugins(&self, request: &Request) -> Result<Answer, String> {
        let root = &self.root;
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
                ok(&Done {
                    done: declared.label.clone(),
                    output,
                })
            }
            Request::PluginSettings { plugin } => {
                let manifest = self.trusted_manifest(plugin)?;
                let values = manifest
                    .settings
                    .iter()
                    .map(|setting| {
                        let value = crate::settings::get(root, setting).unwrap_or_default();
                        (setting.name.clone(), value)
                    })
                    .collect();
                ok(&Values(values))
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
                ok(&Saved {
                    set: declared.label.clone(),
                })
            }
            _ => Err("not a plugin request".into()),
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::assert_wire;

    #[test]
    fn answers_keep_their_keys() {
        assert_wire(
            &Done {
                done: "Create a user".into(),
                output: "created\n".into(),
            },
            r#"{"done":"Create a user","output":"created\n"}"#,
        );
        let values = Values(
            [("site-name", Some("My wiki")), ("front-page", None)]
                .into_iter()
                .map(|(n, v)| (n.to_owned(), v.map(str::to_owned)))
                .collect(),
        );
        assert_wire(&values, r#"{"site-name":"My wiki","front-page":null}"#);
        assert_eq!(values.get("site-name"), Some("My wiki"));
        assert_eq!(values.get("front-page"), None);
        assert_eq!(values.get("not-declared"), None);
        assert_wire(
            &Saved {
                set: "Site name".into(),
            },
            r#"{"set":"Site name"}"#,
        );
    }

    #[test]
    fn a_value_that_is_not_text_is_an_error() {
        let error = crate::protocol::Response::ok(serde_json::json!({ "site-name": 7 }))
            .into_answer::<Values>()
            .unwrap_err();
        assert!(error.contains("invalid type: integer `7`"), "{error}");
    }
}
