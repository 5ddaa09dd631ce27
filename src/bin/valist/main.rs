//! `valist`: the appliances APT knows, available and installed.

mod cli;

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;
use appliance::catalog::Catalog;
use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    appliance::cli::finish_json(run(&cli), cli.json)
}

fn run(cli: &cli::Cli) -> anyhow::Result<()> {
    let root = appliance::system_root::resolve(cli.root.clone())?;
    let catalog = Catalog::open(Some(&root)).context("cannot list the appliances")?;
    let mut appliances = catalog.appliances();
    if cli.installed {
        appliances.retain(|a| a.installed.is_some());
    }
    let mut out = std::io::stdout().lock();
    if cli.json {
        // Rendered first, so that a closed pipe is an io::Error that exits quietly.
        writeln!(out, "{}", serde_json::to_string_pretty(&appliances)?)?;
        return Ok(());
    }
    if appliances.is_empty() {
        eprintln!(
            "No appliance is known to APT{}.",
            if cli.installed { " as installed" } else { "" }
        );
        return Ok(());
    }
    let width = appliances.iter().map(|a| a.name.len()).max().unwrap_or(0);
    let version_width = appliances
        .iter()
        .map(|a| a.version.len())
        .max()
        .unwrap_or(0);
    for appliance in &appliances {
        let state = match &appliance.installed {
            Some(v) if *v == appliance.version => "[installed]".to_owned(),
            Some(v) => format!("[installed: {v}]"),
            None => String::new(),
        };
        writeln!(
            out,
            "{:width$}  {:version_width$}  {:11}  {}",
            appliance.name, appliance.version, state, appliance.summary
        )?;
    }
    Ok(())
}
