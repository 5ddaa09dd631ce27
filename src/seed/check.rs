//! Checking a seed against the packages it answers for, as APT would install them: questions of
//! priority high or critical left unanswered, answers to questions no package owns, and values a
//! select or multiselect question does not offer. The packager learns it when building, not the
//! user when installing.

use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;

use crate::deb::{self, DebError};
use crate::seed::Seed;
use crate::seed::shipped::{ReadError, Shipped};
use crate::seed::templates::{self, Priority, Template};

/// The questions of one package of the closure.
#[derive(Debug, Clone, Default)]
pub struct PackageQuestions {
    pub package: String,
    pub templates: Vec<Template>,
    pub priorities: HashMap<String, Priority>,
}

impl PackageQuestions {
    /// Reads `templates`, `config` and `postinst` from a `.deb`'s control member.
    pub fn from_deb(package: &str, deb: &std::path::Path) -> Result<Self, DebError> {
        let files = deb::read_control_files(deb, &["templates", "config", "postinst"])?;
        let mut questions = Self {
            package: package.to_owned(),
            ..Self::default()
        };
        for (name, bytes) in files {
            let text = String::from_utf8_lossy(&bytes);
            if name == "templates" {
                questions.templates = templates::parse_templates(&text);
            } else {
                for (question, priority) in templates::script_priorities(&text) {
                    let entry = questions.priorities.entry(question).or_insert(priority);
                    *entry = (*entry).max(priority);
                }
            }
        }
        Ok(questions)
    }
}

/// One problem the check found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finding {
    Unanswered {
        package: String,
        question: String,
        priority: Priority,
        default: Option<String>,
    },
    UnknownQuestion {
        line: usize,
        owner: String,
        question: String,
    },
    InvalidChoice {
        line: usize,
        package: String,
        question: String,
        value: String,
        choices: Vec<String>,
    },
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unanswered {
                package,
                question,
                priority,
                default,
            } => write!(
                f,
                "{package}: `{question}` (priority {}) is not answered; its default is {}",
                priority.as_str(),
                default
                    .as_deref()
                    .map_or("empty".to_owned(), |d| format!("`{d}`"))
            ),
            Self::UnknownQuestion {
                line,
                owner,
                question,
            } => write!(
                f,
                "line {line}: no package APT would install owns `{question}` (seeded for `{owner}`): a typo, or a renamed question?"
            ),
            Self::InvalidChoice {
                line,
                package,
                question,
                value,
                choices,
            } => write!(
                f,
                "line {line}: {package}: `{value}` is not a choice of `{question}` ({})",
                choices.join(", ")
            ),
        }
    }
}

/// Checks `seed` against the questions of the packages of the closure.
pub fn check(seed: &Seed, packages: &[PackageQuestions]) -> Vec<Finding> {
    let mut owners: HashMap<&str, (&PackageQuestions, &Template)> = HashMap::new();
    for package in packages {
        for template in &package.templates {
            owners.insert(template.name.as_str(), (package, template));
        }
    }
    let answered: HashMap<&str, usize> = seed
        .entries
        .iter()
        .filter(|e| e.kind != "seen")
        .map(|e| (e.question.as_str(), e.line))
        .collect();
    let mut findings = Vec::new();
    for package in packages {
        for template in &package.templates {
            let Some(priority) = package.priorities.get(&template.name) else {
                continue;
            };
            // Errors show only on bad input; the others are shown at their priority.
            if *priority >= Priority::High
                && template.kind != "error"
                && !answered.contains_key(template.name.as_str())
            {
                findings.push(Finding::Unanswered {
                    package: package.package.clone(),
                    question: template.name.clone(),
                    priority: *priority,
                    default: template.default.clone(),
                });
            }
        }
    }
    for entry in seed.entries.iter().filter(|e| e.kind != "seen") {
        let Some((package, template)) = owners.get(entry.question.as_str()) else {
            findings.push(Finding::UnknownQuestion {
                line: entry.line,
                owner: entry.owner.clone(),
                question: entry.question.clone(),
            });
            continue;
        };
        let Some(choices) = &template.choices else {
            continue;
        };
        let values = if template.kind == "multiselect" {
            templates::split_choices(&entry.value)
        } else {
            vec![entry.value.clone()]
        };
        for value in values {
            if !choices.contains(&value) {
                findings.push(Finding::InvalidChoice {
                    line: entry.line,
                    package: package.package.clone(),
                    question: entry.question.clone(),
                    value,
                    choices: choices.clone(),
                });
            }
        }
    }
    findings
}

/// What checking an appliance found, with what it looked at.
#[derive(Debug)]
pub struct Report {
    /// Packages in the closure, and how many of them own questions.
    pub packages: usize,
    pub with_questions: usize,
    pub findings: Vec<Finding>,
}

/// Checks the seed of `appliance` (or `seed`, when given: a copy being edited) against the packages
/// APT would install with it on the system at `root`, downloading them (`progress`).
pub fn check_appliance(
    root: &std::path::Path,
    appliance: &str,
    seed: Option<&Seed>,
    progress: &mut rust_apt::progress::AcquireProgress,
) -> Result<Report, CheckError> {
    let catalog = crate::catalog::Catalog::open(Some(root))?;
    let closure = catalog.fetch_closure(appliance, progress)?;
    drop(catalog);
    let mut packages = Vec::with_capacity(closure.len());
    let mut shipped = None;
    for (package, deb) in &closure {
        let questions =
            PackageQuestions::from_deb(package, deb).map_err(|source| CheckError::Deb {
                package: package.clone(),
                deb: deb.clone(),
                source,
            })?;
        if package == appliance && seed.is_none() {
            let found = Shipped::from_deb(deb, package, "").map_err(|source| CheckError::Seed {
                appliance: appliance.to_owned(),
                source,
            })?;
            shipped = Some(found.seed);
        }
        packages.push(questions);
    }
    let seed = match (seed, &shipped) {
        (Some(seed), _) => seed,
        (None, Some(shipped)) => shipped,
        (None, None) => {
            return Err(CheckError::NotInstalled {
                appliance: appliance.to_owned(),
            });
        }
    };
    let with_questions = packages.iter().filter(|p| !p.templates.is_empty()).count();
    Ok(Report {
        packages: packages.len(),
        with_questions,
        findings: check(seed, &packages),
    })
}

/// Why a check could not be made.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    #[error(transparent)]
    Catalog(#[from] crate::catalog::CatalogError),
    #[error("cannot read the seed of `{appliance}`")]
    Seed {
        appliance: String,
        #[source]
        source: ReadError,
    },
    #[error("cannot read the seed of `{appliance}`: APT would not install it")]
    NotInstalled { appliance: String },
    #[error("cannot read the questions of `{package}` from `{}`", .deb.display())]
    Deb {
        package: String,
        deb: PathBuf,
        #[source]
        source: DebError,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    fn postfix() -> PackageQuestions {
        PackageQuestions {
            package: "postfix".into(),
            templates: templates::parse_templates(
                "Template: postfix/main_mailer_type\nType: select\nChoices: Internet Site, Satellite system\nDefault: Internet Site\n\nTemplate: postfix/relayhost\nType: string\n\nTemplate: postfix/bad\nType: error\n\nTemplate: postfix/protocols\nType: multiselect\nChoices: all, ipv6, ipv4\n",
            ),
            priorities: templates::script_priorities(
                "db_input high postfix/main_mailer_type\ndb_input high postfix/relayhost\ndb_input critical postfix/bad\ndb_input low postfix/protocols\n",
            ),
        }
    }

    #[test]
    fn a_complete_seed_passes() {
        let seed = Seed::parse("postfix postfix/main_mailer_type select Satellite system\npostfix postfix/relayhost string [a]:25\npostfix postfix/protocols multiselect ipv4, ipv6\n").unwrap();
        assert_eq!(check(&seed, &[postfix()]), []);
    }

    #[test]
    fn each_problem_is_found_and_named() {
        let seed = Seed::parse("postfix postfix/main_mailer_type select Satelite system\npostfix postfix/relayhots string [a]:25\npostfix postfix/protocols multiselect ipv4, ipv5\n").unwrap();
        let findings: Vec<String> = check(&seed, &[postfix()])
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            findings,
            [
                "postfix: `postfix/relayhost` (priority high) is not answered; its default is empty",
                "line 1: postfix: `Satelite system` is not a choice of `postfix/main_mailer_type` (Internet Site, Satellite system)",
                "line 2: no package APT would install owns `postfix/relayhots` (seeded for `postfix`): a typo, or a renamed question?",
                "line 3: postfix: `ipv5` is not a choice of `postfix/protocols` (all, ipv6, ipv4)",
            ]
        );
    }
}
