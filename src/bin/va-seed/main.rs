//! `va-seed`: validate and compare seed files; show and finish the seed registry.

mod cli;
#[path = "../common/mod.rs"]
mod common;

use std::process::ExitCode;

use anyhow::Context;
use appliance::debconf::SystemTools;
use appliance::registry::Registry;
use appliance::seed::Seed;
use clap::Parser;
use cli::{Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let root = cli.root;
    let result = match cli.command {
        Command::Validate { files } => {
            let mut bad = 0;
            for file in &files {
                let checked = fs_err::read(file)
                    .map_err(anyhow::Error::from)
                    .and_then(|bytes| Ok(Seed::parse_bytes(&bytes)?));
                match checked {
                    Ok(seed) => println!("{}: {} answers", file.display(), seed.entries.len()),
                    Err(error) => {
                        bad += 1;
                        eprintln!(
                            "{}: {}",
                            file.display(),
                            appliance::error_chain(error.as_ref())
                        );
                    }
                }
            }
            if bad > 0 {
                eprintln!("error: {bad} of {} seed files are invalid", files.len());
                return ExitCode::FAILURE;
            }
            Ok(())
        }
        Command::Diff { old, new } => (|| {
            let read = |path: &std::path::Path| -> anyhow::Result<Seed> {
                let bytes = fs_err::read(path)?;
                Seed::parse_bytes(&bytes)
                    .with_context(|| format!("invalid seed `{}`", path.display()))
            };
            let (old, new) = (read(&old)?, read(&new)?);
            for entry in new.removed_since(&old) {
                println!("- {entry}");
            }
            for entry in new.changed_since(&old) {
                println!("+ {entry}");
            }
            Ok(())
        })(),
        Command::Status => (|| {
            let registry = Registry::new(&root);
            for package in registry.recorded()? {
                if let Some(state) = registry.state(&package)? {
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
            }
            Ok(())
        })(),
        Command::Check { appliance, seed } => match check(&root, &appliance, seed.as_deref()) {
            Ok(true) => Ok(()),
            Ok(false) => return ExitCode::FAILURE,
            Err(error) => Err(error),
        },
        Command::Reconfigure { package } => appliance::trigger::reconfigure_pending(
            &root,
            &SystemTools::new(&root),
            &package,
            &mut common::AptStyle,
        )
        .map(drop)
        .with_context(|| format!("cannot finish the seeding of `{package}`")),
    };
    common::finish(result)
}

/// `va-seed check`: prints each finding; `Ok(false)` when there are any.
fn check(
    root: &std::path::Path,
    appliance: &str,
    seed: Option<&std::path::Path>,
) -> anyhow::Result<bool> {
    let seed = seed
        .map(|path| -> anyhow::Result<Seed> {
            let bytes = fs_err::read(path)?;
            Seed::parse_bytes(&bytes).with_context(|| format!("invalid seed `{}`", path.display()))
        })
        .transpose()?;
    let mut progress = if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        rust_apt::progress::AcquireProgress::apt()
    } else {
        rust_apt::progress::AcquireProgress::quiet()
    };
    let report =
        appliance::seedcheck::check_appliance(root, appliance, seed.as_ref(), &mut progress)
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
