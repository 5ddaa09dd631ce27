//! `va-seed`: validate and compare seed files; show and finish the seed registry.

mod cli;

use std::process::ExitCode;

use anyhow::Context;
use appliance::debconf::SystemTools;
use appliance::seed::registry::Registry;
use appliance::seed::{InvalidSeed, Origin, Seed};
use clap::Parser;
use cli::{Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let root = match system_root(&cli.command, cli.root) {
        Ok(root) => root,
        Err(code) => return code,
    };
    let result = match cli.command {
        Command::Validate { files } => return validate(&files),
        Command::Diff { old, new } => (|| {
            let (old, new) = (read_seed(&old)?, read_seed(&new)?);
            for entry in new.removed_since(&old) {
                println!("- {entry}");
            }
            for entry in new.changed_since(&old) {
                println!("+ {entry}");
            }
            Ok(())
        })(),
        Command::ForRelease { release, file } => (|| {
            let release = match release {
                Some(release) => release,
                None => appliance::system_root::release(std::path::Path::new("/"))
                    .context("cannot tell this system's release: give --release")?,
            };
            let text = fs_err::read_to_string(&file)?;
            let seed = appliance::seed::format::for_release(&text, &release).map_err(|error| {
                InvalidSeed {
                    origin: Origin::File(file.clone()),
                    error,
                }
            })?;
            print!("{seed}");
            Ok(())
        })(),
        Command::Status { json } => return appliance::cli::finish_json(status(&root, json), json),
        Command::Check { appliance, seed } => match check(&root, &appliance, seed.as_deref()) {
            Ok(true) => Ok(()),
            Ok(false) => return ExitCode::FAILURE,
            Err(error) => Err(error),
        },
        Command::Secrets { appliance } => show_secrets(&root, appliance.as_deref()),
        Command::Renew { keep } => renew(&root, &keep).context("cannot make the secrets anew"),
        Command::Reconfigure { package } => appliance::seed::trigger::reconfigure_pending(
            &root,
            &SystemTools::new(&root),
            &package,
            &mut appliance::cli::AptStyle,
        )
        .map(drop)
        .with_context(|| format!("cannot finish the seeding of `{package}`")),
    };
    appliance::cli::finish(result)
}

/// `va-seed renew`: every secret anew but the kept ones; names what it did, never a value.
/// `va-seed status`: each appliance whose seed was applied, by which path, and what is pending.
fn status(root: &std::path::Path, json: bool) -> anyhow::Result<()> {
    let registry = Registry::new(root);
    let mut states = Vec::new();
    for package in registry.recorded()? {
        if let Some(state) = registry.state(&package)? {
            states.push(state);
        }
    }
    if json {
        let states: Vec<_> = states
            .iter()
            .map(|state| {
                serde_json::json!({
                    "package": state.package,
                    "version": state.version,
                    "applied-by": state.applied_by,
                    "reconfigure": state.reconfigure,
                })
            })
            .collect();
        println!("{}", serde_json::Value::Array(states));
        return Ok(());
    }
    if states.is_empty() {
        println!("No appliance's seed has been applied on this system.");
    }
    for state in states {
        let pending = if state.reconfigure.is_empty() {
            String::new()
        } else {
            format!(", to reconfigure: {}", state.reconfigure.join(" "))
        };
        println!(
            "{} {} (applied by {}{pending})",
            state.package, state.version, state.applied_by
        );
    }
    Ok(())
}

/// `va-seed validate`: every error of every file (`-`: standard input), each literal password,
/// and a warning for a seed that answers nothing; exit status 1 if any file is invalid.
fn validate(files: &[std::path::PathBuf]) -> ExitCode {
    let mut bad = 0;
    for file in files {
        let (name, bytes) = if file.as_os_str() == "-" {
            let mut bytes = Vec::new();
            let read = std::io::Read::read_to_end(&mut std::io::stdin().lock(), &mut bytes);
            ("(standard input)".to_owned(), read.map(|_| bytes))
        } else {
            (file.display().to_string(), fs_err::read(file))
        };
        let bytes = match bytes {
            Ok(bytes) => bytes,
            Err(error) => {
                bad += 1;
                eprintln!("{name}: {error}");
                continue;
            }
        };
        let seed = match Seed::parse_all(&bytes) {
            Ok(seed) => seed,
            Err(errors) => {
                bad += 1;
                for error in errors {
                    eprintln!("{name}: {error}");
                }
                continue;
            }
        };
        if !seed.literal_passwords().is_empty() {
            bad += 1;
            for entry in seed.literal_passwords() {
                eprintln!(
                    "{name}: line {}: `{}` is answered with a literal password, which every system installing the appliance would share; answer `@secret:NAME` instead (e.g. `{} {} password @secret:{}`), and a password is generated for each system",
                    entry.line,
                    entry.question,
                    entry.owner,
                    entry.question,
                    suggested_name(&entry.question),
                );
            }
        } else if seed.entries.is_empty() {
            eprintln!("{name}: warning: no answer at all: every question would be asked");
        } else {
            println!("{name}: {} answers", seed.entries.len());
        }
    }
    if bad > 0 {
        appliance::cli::print_error(
            &anyhow::anyhow!("{bad} of {} seed files are invalid", files.len()),
            None,
        );
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

/// The root the command works on; validate and diff work on files alone, and refuse `--root`
/// rather than seem to honour it.
fn system_root(
    command: &Command,
    explicit: Option<std::path::PathBuf>,
) -> Result<std::path::PathBuf, ExitCode> {
    let reads_files_only = match command {
        Command::Validate { .. } => Some("validate"),
        Command::Diff { .. } => Some("diff"),
        Command::ForRelease { .. } => Some("for-release"),
        _ => None,
    };
    match (reads_files_only, explicit) {
        (Some(command), Some(_)) => {
            appliance::cli::print_error(
                &anyhow::anyhow!(
                    "`--root` means nothing to `va-seed {command}`, which reads only the files it is given"
                ),
                None,
            );
            Err(ExitCode::from(2))
        }
        (Some(_), None) => Ok(std::path::PathBuf::from("/")),
        (None, explicit) => appliance::system_root::resolve(explicit)
            .map_err(|error| appliance::cli::finish(Err(error.into()))),
    }
}

fn renew(root: &std::path::Path, keep: &[String]) -> anyhow::Result<()> {
    let done = appliance::secrets::renew(
        root,
        keep,
        &SystemTools::new(root),
        &mut appliance::random::Kernel,
    )?;
    for renewed in done {
        let list = |names: &[String]| {
            if names.is_empty() {
                "none".to_owned()
            } else {
                names.join(", ")
            }
        };
        println!(
            "{}: new passwords: {}; new keys: {}",
            renewed.appliance,
            list(&renewed.passwords),
            list(&renewed.keys)
        );
        if !renewed.kept.is_empty() {
            println!("  kept (the site's): {}", renewed.kept.join(", "));
        }
        if !renewed.unrenewable.is_empty() {
            appliance::cli::warning(&format!(
                "{}: no manifest says how to set {} anew: kept as they were",
                renewed.appliance,
                renewed.unrenewable.join(", ")
            ));
        }
    }
    anyhow::Ok(())
}

/// A secret name for a password question: `moin/admin-password-again` → `admin-password-again`.
fn suggested_name(question: &str) -> String {
    let last = question.rsplit('/').next().unwrap_or(question);
    let name: String = last
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    let name = name.trim_matches('-');
    if name.is_empty() {
        "password".to_owned()
    } else {
        name.to_owned()
    }
}

/// `va-seed secrets`: the generated secrets and what they open, and appliance-control's
/// certificate fingerprint.
fn show_secrets(root: &std::path::Path, only: Option<&str>) -> anyhow::Result<()> {
    use appliance::secrets;
    let mut warnings = Vec::new();
    let report = secrets::report(root, only, &mut warnings).map_err(|error| {
        let denied = matches!(&error, secrets::SecretError::Io { source, .. }
            if source.kind() == std::io::ErrorKind::PermissionDenied);
        let error = anyhow::Error::from(error);
        if denied {
            error.context("the secrets are root's: run `va-seed secrets` as root")
        } else {
            error
        }
    })?;
    for warning in warnings {
        appliance::cli::warning(&warning);
    }
    if report.iter().all(|a| a.secrets.is_empty()) {
        match only {
            Some(name) => println!("No secrets were generated for `{name}`"),
            None => println!("No secrets were generated on this system"),
        }
    }
    for appliance in report.iter().filter(|a| !a.secrets.is_empty()) {
        println!("{}:", appliance.appliance);
        for secret in &appliance.secrets {
            println!("  {}: {}", secret.name, secret.value);
            let mut opens: Vec<String> = secret.opens.iter().cloned().collect();
            if let Some(login) = &secret.login {
                opens.push(format!("login `{login}`"));
            }
            if let Some(url) = &secret.url {
                opens.push(format!("at {url}"));
            }
            let opens = opens.join(", ");
            if !opens.is_empty() {
                println!("    opens: {opens}");
            }
            if !secret.questions.is_empty() {
                println!("    answers: {}", secret.questions.join(", "));
            }
        }
    }
    let certificate = root.join(secrets::CONTROL_CERTIFICATE);
    if let Some(fingerprint) = secrets::certificate_fingerprint(&certificate)? {
        println!(
            "appliance-control's TLS certificate `/{}`, SHA-256 fingerprint:\n  {fingerprint}",
            secrets::CONTROL_CERTIFICATE
        );
    }
    Ok(())
}

/// The seed file at `path`, validated.
fn read_seed(path: &std::path::Path) -> anyhow::Result<Seed> {
    let bytes = fs_err::read(path)?;
    Ok(Seed::parse_bytes(&bytes).map_err(|error| InvalidSeed {
        origin: Origin::File(path.to_owned()),
        error,
    })?)
}

/// `va-seed check`: prints each finding; `Ok(false)` when there are any.
fn check(
    root: &std::path::Path,
    appliance: &str,
    seed: Option<&std::path::Path>,
) -> anyhow::Result<bool> {
    // A seed from an appliance's source, as the release at the root gets it (`#release:` lines).
    let seed = seed
        .map(|path| -> anyhow::Result<Seed> {
            let text = fs_err::read_to_string(path)?;
            // Only a seed whose answers differ by release needs the root's release.
            let seed = if appliance::seed::format::names_releases(&text) {
                let release = appliance::system_root::release(root).with_context(|| {
                    format!(
                        "`{}` answers by release (#release:), but the release at `{}` is unknown",
                        path.display(),
                        root.display()
                    )
                })?;
                Seed::parse_for_release(&text, &release)
            } else {
                Seed::parse(&text)
            };
            Ok(seed.map_err(|error| InvalidSeed {
                origin: Origin::File(path.to_owned()),
                error,
            })?)
        })
        .transpose()?;
    let mut progress = if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        rust_apt::progress::AcquireProgress::apt()
    } else {
        rust_apt::progress::AcquireProgress::quiet()
    };
    let report =
        appliance::seed::check::check_appliance(root, appliance, seed.as_ref(), &mut progress)
            .with_context(|| format!("cannot check the seed of `{appliance}`"))?;
    for finding in &report.findings {
        println!("{finding}");
    }
    eprintln!(
        "{appliance}: {} packages, {} with debconf questions: {} problem(s)",
        report.packages,
        report.with_questions,
        report.findings.len()
    );
    Ok(report.findings.is_empty())
}
