//! `va-backup`: create, verify, show, list, restore and prune `.abf` backups.

mod cli;
#[path = "../common/mod.rs"]
mod common;
mod progress;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context;
use appliance::backup::commands::{Runner, SystemRunner};
use appliance::backup::info::Info;
use appliance::backup::read::{Backup, Format};
use appliance::backup::{restore, store, write};
use appliance::debconf::{PackageTools, SystemTools};
use appliance::plugin::{Manifest, PLUGIN_DIR};
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
            plugin,
            appliance,
            appdata,
            sysconf,
            output,
        } => {
            let what = match (plugin, appliance) {
                (_, Some(appliance)) => {
                    if appdata.is_empty() && sysconf.is_empty() {
                        anyhow::bail!("--appliance needs at least one --appdata or --sysconf DIR");
                    }
                    What::Directories {
                        appliance: appliance.clone(),
                        appdata: appdata.clone(),
                        sysconf: sysconf.clone(),
                    }
                }
                (Some(plugin), None) => What::Plugin(Some(plugin.clone())),
                (None, None) if appdata.is_empty() && sysconf.is_empty() => What::Plugin(None),
                (None, None) => anyhow::bail!("--appdata and --sysconf need --appliance NAME"),
            };
            create(cli, &mut out, &what, output.as_deref())
        }
        Command::Verify { file } => {
            let mut backup = open(file)?;
            backup.set_progress(progress::bar(cli, "verifying"));
            check(&mut backup, file)?;
            writeln!(out, "{}: OK", file.display())?;
            Ok(())
        }
        Command::Show { file } => show(cli, &mut out, file),
        Command::List => list_command(cli, &mut out),
        Command::Restore {
            file,
            plugin,
            no_plugin,
            max_size,
            moves,
        } => {
            let plugin = match (plugin, no_plugin) {
                (_, true) => Choice::None,
                (Some(plugin), false) => Choice::Named(plugin),
                (None, false) => Choice::Accepting,
            };
            restore_command(cli, &mut out, file, &plugin, *max_size, moves)
        }
        Command::Prune { keep } => prune(root, &mut out, *keep),
    }
}

/// What a backup holds.
enum What {
    /// As a plugin manifest says: the one named, or the only one with a backup plan.
    Plugin(Option<String>),
    Directories {
        appliance: String,
        appdata: Vec<String>,
        sysconf: Vec<String>,
    },
}

/// The version of `package` installed under `root`, if it is.
fn installed_version(root: &Path, package: &str) -> Option<String> {
    SystemTools::new(root)
        .statuses(&[package])
        .ok()
        .and_then(|s| s.get(package).map(|p| p.version.clone()))
        .filter(|v| !v.is_empty())
}

/// The plugin manifest named, or else the only one under `root` with a backup plan.
fn manifest_for_backup(root: &Path, name: Option<&str>) -> anyhow::Result<(PathBuf, Manifest)> {
    if let Some(name) = name {
        return Ok(Manifest::find(root, name)?);
    }
    let mut all: Vec<_> = Manifest::all(root)?
        .into_iter()
        .filter(|(_, m)| m.backup.is_some())
        .collect();
    match all.len() {
        1 => Ok(all.remove(0)),
        0 => anyhow::bail!(
            "no plugin manifest under `{}` declares a backup: name the directories with --appliance NAME --appdata DIR --sysconf DIR",
            root.join(PLUGIN_DIR).display()
        ),
        _ => anyhow::bail!(
            "several plugin manifests declare a backup ({}): choose one with --plugin",
            all.iter()
                .map(|(p, _)| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

fn create(
    cli: &Cli,
    out: &mut impl Write,
    what: &What,
    output: Option<&Path>,
) -> anyhow::Result<()> {
    let root = &cli.root;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (appliance, appdata, sysconf, plugin, plan) = match what {
        What::Directories {
            appliance,
            appdata,
            sysconf,
        } => (
            appliance.clone(),
            appdata.clone(),
            sysconf.clone(),
            None,
            None,
        ),
        What::Plugin(name) => {
            let (path, manifest) = manifest_for_backup(root, name.as_deref())?;
            let plan = manifest.backup.with_context(|| {
                format!(
                    "the plugin manifest `{}` declares no backup",
                    path.display()
                )
            })?;
            let name = path.file_stem().map(|s| s.to_string_lossy().into_owned());
            (
                manifest.appliance,
                plan.appdata.clone(),
                plan.sysconf.clone(),
                name,
                Some(plan),
            )
        }
    };
    let version = installed_version(root, &appliance);
    let info = Info {
        appliance: appliance.clone(),
        appdata_dirs: appdata,
        sysconf_dirs: sysconf,
        timestamp: store::rfc3339(now),
        version: version.clone().unwrap_or_else(|| "unknown".into()),
        package_version: version,
        plugin,
    };
    let path = match output {
        Some(path) => path.to_owned(),
        None => store::default_path(root, &appliance, now)?,
    };
    let runner = SystemRunner::new(root);
    let (before, after) = plan
        .as_ref()
        .map(|p| (p.before_backup.as_slice(), p.after_backup.as_slice()))
        .unwrap_or_default();
    let made = before
        .iter()
        .try_for_each(|command| runner.run(command, &[]))
        .map_err(|reason| {
            anyhow::anyhow!("the plugin's command before the backup failed: {reason}")
        })
        .and_then(|()| {
            write::create(root, &info, &path, &*progress::bar(cli, "backing up"))
                .with_context(|| format!("cannot write the backup `{}`", path.display()))
        });
    let cleaned = after
        .iter()
        .try_for_each(|command| runner.run(command, &[]))
        .map_err(|reason| {
            anyhow::anyhow!("the plugin's command after the backup failed: {reason}")
        });
    let written = made?;
    cleaned?;
    for skipped in &written.skipped {
        eprintln!("va-backup: warning: `/{skipped}` is a socket, fifo or device: left out");
    }
    if cli.json {
        writeln!(
            out,
            "{}",
            serde_json::json!({ "path": path, "appliance": appliance, "skipped": written.skipped })
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

/// Which plugin manifest governs a restore.
enum Choice<'a> {
    /// None: the directories only.
    None,
    Named(&'a str),
    /// The one that accepts the backup's appliance, if any does.
    Accepting,
}

fn restore_command(
    cli: &Cli,
    out: &mut impl Write,
    file: &Path,
    choice: &Choice<'_>,
    max_size: Option<u64>,
    moves: &[String],
) -> anyhow::Result<()> {
    let root = &cli.root;
    let mut given = moves
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
    let appliance = backup.info.appliance.clone();
    let manifest = match choice {
        Choice::None => None,
        Choice::Named(name) => {
            let (path, manifest) = Manifest::find(root, name)?;
            let plan = manifest.backup.as_ref().with_context(|| {
                format!(
                    "the plugin manifest `{}` declares no backup",
                    path.display()
                )
            })?;
            if !plan.accepts(&manifest.appliance, &appliance) {
                anyhow::bail!(
                    "`{}` is a backup of {appliance}; the plugin `{}` restores backups of {}",
                    file.display(),
                    path.display(),
                    manifest.appliance
                );
            }
            Some(manifest)
        }
        Choice::Accepting => Manifest::all(root)?.into_iter().map(|(_, m)| m).find(|m| {
            m.backup
                .as_ref()
                .is_some_and(|plan| plan.accepts(&m.appliance, &appliance))
        }),
    };
    let mut options = restore::Options {
        max_size,
        ..restore::Options::default()
    };
    if let Some(manifest) = &manifest
        && let Some(plan) = &manifest.backup
    {
        let new_version = installed_version(root, &manifest.appliance).unwrap_or_default();
        options.migrations = plan
            .migrations_for(&manifest.appliance, &appliance, &backup.info.version)
            .map(|m| m.run.clone())
            .collect();
        options.new_version = new_version;
        options.stop.clone_from(&plan.stop);
        options.after.clone_from(&plan.after_restore);
        options.moves = plan.archive_moves()?;
    }
    // A --move given here wins over the plugin's.
    options
        .moves
        .retain(|(from, _)| !given.iter().any(|(f, _)| f == from));
    options.moves.append(&mut given);
    backup.set_progress(progress::bar(cli, "restoring"));
    let restored = restore::restore(&mut backup, root, &options, &SystemRunner::new(root))
        .with_context(|| format!("cannot restore `{}`", file.display()))?;
    for skipped in &restored.skipped_attributes {
        eprintln!("va-backup: warning: extended attribute not restored: {skipped}");
    }
    if cli.json {
        writeln!(
            out,
            "{}",
            serde_json::json!({
                "path": file,
                "appliance": appliance,
                "timestamp": backup.info.timestamp,
                "migrations": options.migrations.len(),
                "skipped-attributes": restored.skipped_attributes,
            })
        )?;
    } else {
        writeln!(
            out,
            "restored {} ({} {})",
            file.display(),
            appliance,
            backup.info.timestamp
        )?;
    }
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
