//! Plugin settings: one node of a configuration file through the Augeas lens the manifest names,
//! loaded alone (no other lens, no other file). Runs in the agent, as root.

use std::path::Path;

use appliance::plugin::Setting;
use raugeas::{Augeas, Flags};

/// Augeas on `file` under `root` with `lens` alone (no other lens, no other file: a millisecond
/// rather than the 200 of loading every lens); a file the lens cannot parse is an error.
pub fn open_file(root: &Path, lens: &str, file: &str) -> Result<Augeas, String> {
    let mut augeas = Augeas::init(Some(root), "", Flags::NO_MODULE_AUTOLOAD)
        .map_err(|e| format!("cannot start Augeas: {e}"))?;
    augeas
        .transform(lens, file, false)
        .and_then(|()| augeas.load())
        .map_err(|e| format!("cannot read `{file}` with `{lens}`: {e}"))?;
    if let Ok(Some(message)) = augeas.get(format!("/augeas/files{file}/error/message")) {
        return Err(format!("`{file}` does not parse: {message}"));
    }
    Ok(augeas)
}

fn open(root: &Path, setting: &Setting) -> Result<Augeas, String> {
    open_file(root, &setting.lens, &setting.file)
}

/// Whether the lens reads shell assignments, whose values need quoting.
fn shell(setting: &Setting) -> bool {
    matches!(
        setting.lens.as_str(),
        "Shellvars.lns" | "Shellvars_list.lns"
    )
}

/// A value as the owner typed it, written so that the shell reads it back the same.
pub fn shell_quote(value: &str) -> String {
    let plain = !value.is_empty()
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._@:/+-,".contains(&b));
    if plain {
        return value.to_owned();
    }
    let mut quoted = String::from("\"");
    for c in value.chars() {
        if matches!(c, '"' | '\\' | '$' | '`') {
            quoted.push('\\');
        }
        quoted.push(c);
    }
    quoted.push('"');
    quoted
}

/// A shell value as the owner reads it: quotes and escapes gone.
pub fn shell_unquote(raw: &str) -> String {
    if let Some(inner) = raw.strip_prefix('\'').and_then(|r| r.strip_suffix('\'')) {
        return inner.to_owned();
    }
    let Some(inner) = raw.strip_prefix('"').and_then(|r| r.strip_suffix('"')) else {
        return raw.to_owned();
    };
    let mut value = String::new();
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c == '\\'
            && let Some(next) = chars.next()
        {
            if !matches!(next, '"' | '\\' | '$' | '`') {
                value.push('\\');
            }
            value.push(next);
        } else {
            value.push(c);
        }
    }
    value
}

fn node(setting: &Setting) -> String {
    format!("/files{}/{}", setting.file, setting.path)
}

/// The setting's current value as the owner typed it; `None` when the file does not set it.
pub fn get(root: &Path, setting: &Setting) -> Result<Option<String>, String> {
    let augeas = open(root, setting)?;
    let raw = augeas.get(node(setting)).map_err(|e| e.to_string())?;
    Ok(raw.map(|raw| {
        if shell(setting) {
            shell_unquote(&raw)
        } else {
            raw
        }
    }))
}

/// Sets the value (already checked against the setting's kind), quoted as the file needs.
pub fn set(root: &Path, setting: &Setting, value: &str) -> Result<(), String> {
    let mut augeas = open(root, setting)?;
    let written = if shell(setting) {
        shell_quote(value)
    } else {
        value.to_owned()
    };
    augeas
        .set(node(setting), written)
        .and_then(|()| augeas.save())
        .map_err(|e| format!("cannot set `{}` in `{}`: {e}", setting.path, setting.file))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_values_are_quoted_and_read_back_as_typed() {
        for value in [
            "plain",
            "My wiki",
            "a \"quoted\" $HOME `x` \\ back",
            "",
            "l'apostrophe",
        ] {
            let quoted = shell_quote(value);
            assert_eq!(shell_unquote(&quoted), value, "{quoted}");
            // And the shell agrees.
            let output = std::process::Command::new("sh")
                .arg("-c")
                .arg(format!("V={quoted}; printf %s \"$V\""))
                .output()
                .unwrap();
            assert_eq!(String::from_utf8_lossy(&output.stdout), value, "{quoted}");
        }
        assert_eq!(shell_quote("wiki.example.org"), "wiki.example.org");
    }

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
            Some("Old wiki")
        );
        set(root.path(), &setting, "New wiki").unwrap();
        let text = std::fs::read_to_string(root.path().join("etc/default/moin")).unwrap();
        assert_eq!(text, "# kept\nMOIN_SITENAME=\"New wiki\"\nOTHER=1\n");
        let missing = Setting {
            file: "/etc/default/absent".into(),
            ..setting
        };
        assert_eq!(get(root.path(), &missing).unwrap(), None);
    }
}
