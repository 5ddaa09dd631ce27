//! `/usr/lib/appliance/trigger`: the dpkg trigger handler of appliance-tools, and the helper the
//! maintainer scripts that `dh_appliance` writes call.

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use appliance::debconf::SystemTools;
use clap::{Parser, Subcommand};

/// Keeps the appliance seed registry true after dpkg
#[derive(Parser)]
#[command(name = "appliance-trigger", version)]
struct Cli {
    /// The system's root directory (default: the `DPKG_ROOT` environment variable, else /)
    #[arg(long, global = true, value_name = "DIR")]
    root: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Apply new or changed shipped seeds, reconfigure what was configured too early, forget purged
    /// appliances (the default)
    Reconcile,
    /// Apply the seed read from standard input for PACKAGE at VERSION (appliance preinst)
    Preinst { package: String, version: String },
    /// Forget the seed state of PACKAGE (appliance postrm purge)
    Purge { package: String },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let root = match appliance::system_root::resolve(cli.root) {
        Ok(root) => root,
        Err(error) => return appliance::cli::finish(Err(error.into())),
    };
    let tools = SystemTools::new(&root);
    let mut reporter = appliance::cli::AptStyle;
    let result: anyhow::Result<()> = match cli.command.unwrap_or(Command::Reconcile) {
        Command::Reconcile => appliance::seed::trigger::reconcile(&root, &tools, &mut reporter)
            .map(drop)
            .context("cannot reconcile the appliance seed registry"),
        Command::Preinst { package, version } => (|| {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .context("cannot read the seed on standard input")?;
            let outcome =
                appliance::seed::trigger::preinst(&root, &tools, &package, &version, &text)?;
            if outcome.applied > 0 {
                println!("{outcome}");
            }
            if let Some(warning) = outcome.literal_password_warning() {
                appliance::Reporter::warning(&mut reporter, &warning);
            }
            anyhow::Ok(())
        })()
        .with_context(|| format!("cannot apply the seed of `{package}`")),
        Command::Purge { package } => appliance::seed::trigger::purge(&root, &package)
            .map(drop)
            .with_context(|| format!("cannot forget the seed state of `{package}`")),
    };
    appliance::cli::finish(result)
}
