//! Plugin settings: one node of a configuration file through the Augeas lens the manifest names,
//! loaded alone (no other lens, no other file). Runs in the agent, as root.

use std::path::Path;

use appliance::plugin::Setting;
use raugeas::{Augeas, Flags};

fn open(root: &Path, setting: &Setting) -> Result<Augeas, String> {
    let mut augeas = Augeas::init(Some(root), "", Flags::NO_MODULE_AUTOLOAD)
        .map_err(|e| format!("cannot start Augeas: {e}"))?;
    augeas
        .transform(&setting.lens, &setting.file, false)
        .and_then(|()| augeas.load())
        .map_err(|e| {
            format!(
                "cannot read `{}` with `{}`: {e}",
                setting.file, setting.lens
            )
        })?;
    if let Ok(Some(message)) = augeas.get(format!("/augeas/files{}/error/message", setting.file)) {
        return Err(format!("`{}` does not parse: {message}", setting.file));
    }
    Ok(augeas)
}

fn node(setting: &Setting) -> String {
    format!("/files{}/{}", setting.file, setting.path)
}

/// The setting's current value; `None` when the file does not set it.
pub fn get(root: &Path, setting: &Setting) -> Result<Option<String>, String> {
    let augeas = open(root, setting)?;
    augeas.get(node(setting)).map_err(|e| e.to_string())
}

/// Sets the value (already checked against the setting's kind).
pub fn set(root: &Path, setting: &Setting, value: &str) -> Result<(), String> {
    let mut augeas = open(root, setting)?;
    augeas
        .set(node(setting), value)
        .and_then(|()| augeas.save())
        .map_err(|e| format!("cannot set `{}` in `{}`: {e}", setting.path, setting.file))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shell_variable_is_read_and_changed_and_the_rest_kept() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("etc/default")).unwrap();
        std::fs::write(
            root.path().join("etc/default/moin"),
            "# kept\nMOIN_SITENAME=\"Old wiki\"\nOTHER=1\n",
        )
        .unwrap();
        let setting = Setting {
            name: "site-name".into(),
            label: "Wiki name".into(),
            help: None,
            kind: appliance::plugin::Kind::Text,
            lens: "Shellvars.lns".into(),
            file: "/etc/default/moin".into(),
            path: "MOIN_SITENAME".into(),
            after: Vec::new(),
        };
        assert_eq!(
            get(root.path(), &setting).unwrap().as_deref(),
            Some("\"Old wiki\"")
        );
        set(root.path(), &setting, "\"New wiki\"").unwrap();
        let text = std::fs::read_to_string(root.path().join("etc/default/moin")).unwrap();
        assert_eq!(text, "# kept\nMOIN_SITENAME=\"New wiki\"\nOTHER=1\n");
        let missing = Setting {
            file: "/etc/default/absent".into(),
            ..setting
        };
        assert_eq!(get(root.path(), &missing).unwrap(), None);
    }
}
