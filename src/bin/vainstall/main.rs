//! `vainstall APPLIANCE`: download, seed, then `apt-get install`, for systems without the hook.

mod cli;

use std::process::ExitCode;

use anyhow::{Context, bail};
use appliance::catalog::{Catalog, CatalogError};
use appliance::debconf::SystemTools;
use appliance::seed::apply::AppliedBy;
use appliance::seed::shipped::Shipped;
use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    appliance::cli::finish_json(run(&cli), cli.json)
}

fn run(cli: &cli::Cli) -> anyhow::Result<()> {
    let root = &appliance::system_root::resolve(cli.root.clone())?;
    let catalog = Catalog::open(Some(root)).context("cannot read APT's package cache")?;
    if let Err(error) = catalog.find(&cli.appliance) {
        let names: Vec<String> = catalog.appliances().into_iter().map(|a| a.name).collect();
        let known = if names.is_empty() {
            "APT knows no appliance (is the repository in its sources? run apt-get update)"
                .to_owned()
        } else {
            format!("the appliances APT knows: {}", names.join(", "))
        };
        let hint = match &error {
            CatalogError::Unknown { .. } | CatalogError::NotAppliance { .. } => known,
            _ => String::new(),
        };
        let error =
            anyhow::Error::new(error).context(format!("cannot install `{}`", cli.appliance));
        if cli.json {
            appliance::cli::print_json_error(&error);
        }
        appliance::cli::print_error(&error, Some(&hint));
        std::process::exit(1);
    }
    // With --json, stdout is the result's alone.
    let mut progress = if cli.json {
        rust_apt::progress::AcquireProgress::quiet()
    } else {
        rust_apt::progress::AcquireProgress::apt()
    };
    let deb = catalog
        .fetch(&cli.appliance, &mut progress)
        .with_context(|| format!("cannot download `{}`", cli.appliance))?;
    drop(catalog);
    let outcome = Shipped::from_appliance_deb(&deb)
        .map_err(anyhow::Error::from)
        .and_then(|shipped| {
            Ok(shipped.apply_locked(root, &SystemTools::new(root), AppliedBy::Vainstall)?)
        })
        .with_context(|| format!("cannot apply the seed of `{}`", cli.appliance))?;
    if !cli.json {
        println!("{outcome}");
    }
    // apt-get talks to the user (progress, questions of packages the seed leaves): not captured.
    let mut command = appliance::target::Target::new(root).command("apt-get");
    command.arg("install");
    if cli.yes {
        command.arg("--yes");
    }
    command.arg("--").arg(&cli.appliance);
    if cli.json {
        command.stdout(std::io::stderr());
    }
    let status = command.status().context("cannot run `apt-get`")?;
    if !status.success() {
        bail!("`apt-get install {}` failed ({status})", cli.appliance);
    }
    if cli.json {
        println!(
            "{}",
            serde_json::json!({
                "appliance": cli.appliance,
                "version": outcome.version,
                "installed": true,
                "seed": outcome,
            })
        );
    }
    Ok(())
}
