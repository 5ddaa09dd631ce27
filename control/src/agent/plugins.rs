//! Plugins: the actions and settings a root-owned plugin manifest declares.

use appliance::plugin::Manifest;
use serde_json::json;

use super::{Agent, Answer, root_alone};
use crate::protocol::{Request, Response};

impl Agent<'_> {
    /// The plugin requests.
    pub(super) fn plugins(&self, request: &Request) -> Result<Answer, String> {
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
