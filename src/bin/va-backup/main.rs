//! `va-backup`: create, verify, show, list, restore and prune `.abf` backups.

mod cli;
#[path = "../common/mod.rs"]
mod common;

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context;
use appliance::backup::info::Info;
use appliance::backup::read::{Backup, Format};
use appliance::backup::{restore, store, write};
use appliance::debconf::{PackageTools, SystemTools};
use clap::Parser;
use cli::{Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    common::finish(run(&cli))
}

fn run(cli: &Cli) -> anyhow::Result<()> {
    let root = &cli.root;
    restore::recover(root).context("cannot finish or roll back an interrupted restore")?;
    let mut out = std::io::stdout().lock();
    match &cli.command {
        Command::Create {
            appliance,
            appdata,
            sysconf,
            output,
        } => create(
            cli,
            &mut out,
            appliance,
            appdata,
            sysconf,
            output.as_deref(),
        ),
        Command::Verify { file } => {
            let mut backup = open(file)?;
            check(&mut backup, file)?;
            writeln!(out, "{}: OK", file.display())?;
            Ok(())
        }
        Command::Show { file } => show(cli, &mut out, file),
        Command::List => list_command(cli, &mut out),
        Command::Restore {
            file,
            max_size,
            moves,
        } => restore_command(root, &mut out, file, *max_size, moves),
        Command::Prune { keep } => prune(root, &mut out, *keep),
    }
}

fn create(
    cli: &Cli,
    out: &mut impl Write,
    appliance: &str,
    appdata: &[String],
    sysconf: &[String],
    output: Option<&Path>,
) -> anyhow::Result<()> {
    let root = &cli.root;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let version = SystemTools::new(root)
        .statuses(&[appliance])
        .ok()
        .and_then(|s| s.get(appliance).map(|p| p.version.clone()))
        .filter(|v| !v.is_empty());
    let info = Info {
        appliance: appliance.to_owned(),
        appdata_dirs: appdata.to_vec(),
        sysconf_dirs: sysconf.to_vec(),
        timestamp: store::rfc3339(now),
        version: version.clone().unwrap_or_else(|| "unknown".into()),
        package_version: version,
        plugin: None,
    };
    let path = match output {
        Some(path) => path.to_owned(),
        None => store::default_path(root, appliance, now)?,
    };
    write::create(root, &info, &path)
        .with_context(|| format!("cannot write the backup `{}`", path.display()))?;
    if cli.json {
        writeln!(
            out,
            "{}",
            serde_json::json!({ "path": path, "appliance": appliance })
        )?;
    } else {
        writeln!(out, "{}", path.display())?;
    }
    Ok(())
}

fn show(cli: &Cli, out: &mut impl Write, file: &Path) -> anyhow::Result<()> {
    let mut backup = open(file)?;
    let unsound = || format!("`{}` is not sound", file.display());
    let sysconf = backup.entries("sysconfig.tar.gz").with_context(unsound)?;
    let appdata = backup.entries("appdata.tar.gz").with_context(unsound)?;
    let format = match &backup.format {
        Format::Current => appliance::backup::FORMAT_VERSION.to_owned(),
        Format::Original(v) => format!("{v} (original)"),
    };
    let size =
        |entries: &[appliance::backup::read::Entry]| entries.iter().map(|e| e.size).sum::<u64>();
    let info = &backup.info;
    if cli.json {
        let json = serde_json::json!({
            "format": format,
            "appliance": info.appliance,
            "version": info.version,
            "timestamp": info.timestamp,
            "sysconf": { "dirs": info.sysconf_dirs, "entries": sysconf.len(), "bytes": size(&sysconf) },
            "appdata": { "dirs": info.appdata_dirs, "entries": appdata.len(), "bytes": size(&appdata) },
        });
        writeln!(out, "{json}")?;
    } else {
        writeln!(out, "appliance:  {} {}", info.appliance, info.version)?;
        writeln!(out, "made:       {}", info.timestamp)?;
        writeln!(out, "format:     {format}")?;
        for (name, dirs, entries) in [
            ("sysconf", &info.sysconf_dirs, &sysconf),
            ("appdata", &info.appdata_dirs, &appdata),
        ] {
            writeln!(
                out,
                "{name}:    {} ({} entries, {} bytes)",
                dirs.join(", "),
                entries.len(),
                size(entries)
            )?;
        }
    }
    Ok(())
}

fn list_command(cli: &Cli, out: &mut impl Write) -> anyhow::Result<()> {
    let listed = store::list(&cli.root)?;
    if cli.json {
        let json: Vec<_> = listed
            .iter()
            .map(|listed| {
                serde_json::json!({
                    "path": listed.path,
                    "appliance": listed.info.as_ref().map(|i| &i.appliance),
                    "timestamp": listed.info.as_ref().map(|i| &i.timestamp),
                })
            })
            .collect();
        writeln!(out, "{}", serde_json::Value::Array(json))?;
        return Ok(());
    }
    for store::Listed { path, info } in &listed {
        match info {
            Some(info) => writeln!(
                out,
                "{}  {}  {}",
                path.display(),
                info.appliance,
                info.timestamp
            )?,
            None => writeln!(out, "{}  (unreadable)", path.display())?,
        }
    }
    Ok(())
}

fn restore_command(
    root: &Path,
    out: &mut impl Write,
    file: &Path,
    max_size: Option<u64>,
    moves: &[String],
) -> anyhow::Result<()> {
    let moves = moves
        .iter()
        .map(|m| {
            let (from, to) = m
                .split_once('=')
                .with_context(|| format!("--move `{m}`: expected FROM=TO"))?;
            let from = appliance::backup::paths::root_in_archive(from)
                .with_context(|| format!("--move `{m}`: FROM must be absolute"))?;
            Ok((from, to.to_owned()))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut backup = open(file)?;
    let options = restore::Options { max_size, moves };
    restore::restore(&mut backup, root, &options).with_context(|| {
        format!(
            "cannot restore `{}`; the data was left as it was",
            file.display()
        )
    })?;
    writeln!(
        out,
        "restored {} ({} {})",
        file.display(),
        backup.info.appliance,
        backup.info.timestamp
    )?;
    Ok(())
}

fn prune(root: &Path, out: &mut impl Write, keep: usize) -> anyhow::Result<()> {
    for path in store::prune(root, keep).context("cannot prune the backups")? {
        writeln!(out, "removed {}", path.display())?;
    }
    Ok(())
}

fn open(file: &Path) -> anyhow::Result<Backup> {
    Backup::open(file).with_context(|| format!("cannot open the backup `{}`", file.display()))
}

fn check(backup: &mut Backup, file: &Path) -> anyhow::Result<()> {
    backup
        .verify()
        .with_context(|| format!("`{}` is damaged", file.display()))?;
    for member in ["sysconfig.tar.gz", "appdata.tar.gz"] {
        backup
            .entries(member)
            .with_context(|| format!("`{}` is not sound", file.display()))?;
    }
    Ok(())
}
