//! debconf templates, debconf-devel(7): the questions a package can ask, and the priorities its
//! `config` and `postinst` scripts ask them at (`db_input PRIORITY QUESTION`).

use std::collections::HashMap;

/// One question a package owns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    pub name: String,
    pub kind: String,
    pub default: Option<String>,
    /// The values a select or multiselect accepts (`Choices-C` where given, else `Choices`);
    /// `None` when they are computed at run time (`${…}`) or the type has none.
    pub choices: Option<Vec<String>>,
}

/// Parses a `templates` file: stanzas of `Template:`, `Type:`, `Default:`, `Choices:`,
/// `Description:` and their translations (ignored).
pub fn parse_templates(text: &str) -> Vec<Template> {
    text.split("\n\n")
        .filter_map(|stanza| {
            let mut fields: HashMap<String, String> = HashMap::new();
            let mut last: Option<String> = None;
            for line in stanza.lines() {
                if line.starts_with([' ', '\t']) {
                    if let Some(value) = last.as_ref().and_then(|k| fields.get_mut(k)) {
                        value.push('\n');
                        value.push_str(line.trim());
                    }
                    continue;
                }
                if let Some((name, value)) = line.split_once(':') {
                    let name = name.trim().to_ascii_lowercase();
                    fields.insert(name.clone(), value.trim().to_owned());
                    last = Some(name);
                }
            }
            let name = fields.remove("template")?;
            let kind = fields.remove("type").unwrap_or_default();
            let raw_choices = fields
                .remove("choices-c")
                .or_else(|| fields.remove("choices"));
            let choices = raw_choices
                .filter(|c| !c.contains("${") && matches!(kind.as_str(), "select" | "multiselect"))
                .map(|c| split_choices(&c));
            Some(Template {
                name,
                kind,
                default: fields.remove("default"),
                choices,
            })
        })
        .collect()
}

/// Splits a choices or multiselect value at `, ` (a `\,` is a literal comma).
pub fn split_choices(text: &str) -> Vec<String> {
    let mut items = Vec::new();
    let mut current = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&',') => {
                current.push(',');
                chars.next();
            }
            ',' => {
                items.push(current.trim().to_owned());
                current.clear();
            }
            _ => current.push(c),
        }
    }
    if !current.trim().is_empty() {
        items.push(current.trim().to_owned());
    }
    items
}

/// The priority of each question a maintainer script asks with a literal priority and name: the
/// shell confmodule's `db_input high postfix/relayhost` and the Perl one's
/// `input("high", "postfix/relayhost")`. Priorities or names built from variables are skipped. A
/// question asked at several priorities keeps the highest.
pub fn script_priorities(script: &str) -> HashMap<String, Priority> {
    let mut priorities: HashMap<String, Priority> = HashMap::new();
    for line in script.lines() {
        let code = line.split('#').next().unwrap_or_default();
        for (priority, question) in shell_inputs(code).into_iter().chain(perl_inputs(code)) {
            let Some(priority) = Priority::parse(priority) else {
                continue;
            };
            if question.contains('$') || !question.contains('/') {
                continue;
            }
            let entry = priorities.entry(question.to_owned()).or_insert(priority);
            *entry = (*entry).max(priority);
        }
    }
    priorities
}

fn unquote(word: &str) -> &str {
    word.trim_matches(|c| c == '"' || c == '\'' || c == ';')
}

/// `db_input PRIORITY QUESTION` on a line of shell.
fn shell_inputs(line: &str) -> Vec<(&str, &str)> {
    let mut words = line.split_whitespace().skip_while(|w| *w != "db_input");
    if words.next().is_none() {
        return Vec::new();
    }
    match (words.next(), words.next()) {
        (Some(priority), Some(question)) => vec![(unquote(priority), unquote(question))],
        _ => Vec::new(),
    }
}

/// `input("PRIORITY", "QUESTION")` on a line of Perl.
fn perl_inputs(line: &str) -> Vec<(&str, &str)> {
    line.match_indices("input(")
        .filter(|(at, _)| !line[..*at].ends_with(|c: char| c.is_alphanumeric() || c == '_'))
        .filter_map(|(at, _)| {
            let arguments = &line[at + "input(".len()..];
            let arguments = &arguments[..arguments.find(')')?];
            let (priority, question) = arguments.split_once(',')?;
            Some((unquote(priority.trim()), unquote(question.trim())))
        })
        .collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Priority {
    Low,
    Medium,
    High,
    Critical,
}

impl Priority {
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "low" => Some(Self::Low),
            "medium" => Some(Self::Medium),
            "high" => Some(Self::High),
            "critical" => Some(Self::Critical),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Low => "low",
            Self::Medium => "medium",
            Self::High => "high",
            Self::Critical => "critical",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_and_choices() {
        let text = "Template: postfix/main_mailer_type\nType: select\nChoices: No configuration, Internet Site, Satellite system\nChoices-de.UTF-8: Keine, Internet\nDefault: Internet Site\nDescription: General mail configuration type:\n Long text\n\nTemplate: p/dynamic\nType: select\nChoices: ${choices}\nDescription: x\n\nTemplate: p/multi\nType: multiselect\nChoices-C: a, b\\, c, d\nChoices: A, B, D\nDescription: y\n\nTemplate: p/s\nType: string\nDescription: z\n";
        let templates = parse_templates(text);
        assert_eq!(templates.len(), 4);
        assert_eq!(templates[0].name, "postfix/main_mailer_type");
        assert_eq!(templates[0].default.as_deref(), Some("Internet Site"));
        assert_eq!(
            templates[0].choices.as_deref(),
            Some(
                &[
                    "No configuration".to_owned(),
                    "Internet Site".into(),
                    "Satellite system".into()
                ][..]
            )
        );
        assert_eq!(templates[1].choices, None);
        assert_eq!(
            templates[2].choices.as_deref(),
            Some(&["a".to_owned(), "b, c".into(), "d".into()][..])
        );
        assert_eq!(templates[3].choices, None);
    }

    #[test]
    fn priorities_from_scripts() {
        let script = "db_input high postfix/main_mailer_type || true\n  db_input \"critical\" p/x\ndb_input medium p/x\ndb_input low tzdata/Zones/$AREA || true\nif true; then db_input high \"dokuwiki/wiki/password\" || true; fi\n# db_input\n";
        let priorities = script_priorities(script);
        assert_eq!(
            priorities.get("postfix/main_mailer_type"),
            Some(&Priority::High)
        );
        assert_eq!(priorities.get("p/x"), Some(&Priority::Critical));
        assert_eq!(
            priorities.get("dokuwiki/wiki/password"),
            Some(&Priority::High)
        );
        assert_eq!(priorities.len(), 3);
    }

    #[test]
    fn priorities_from_perl_scripts() {
        let script = r#"$x = ((input("high", "postfix/relayhost"))[0]);
  input('low', 'd/low'); input($pri, "postfix/variable"); my_input("high", "not/this");
# input("critical", "c/commented");
"#;
        let priorities = script_priorities(script);
        assert_eq!(priorities.get("postfix/relayhost"), Some(&Priority::High));
        assert_eq!(priorities.get("d/low"), Some(&Priority::Low));
        assert_eq!(priorities.len(), 2, "{priorities:?}");
    }
}
