//! `va-backup`: create, verify, show, list, restore and prune `.abf` backups.

mod cli;
mod progress;

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use appliance::backup::plan::{self, Choice, What};
use appliance::backup::read::{Backup, Format};
use appliance::backup::{origin, restore, store};
use clap::Parser;
use cli::{Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    appliance::cli::finish_json(run(&cli), cli.json)
}

fn run(cli: &Cli) -> anyhow::Result<()> {
    let root = &appliance::system_root::resolve(cli.root.clone())?;
    restore::recover(root).context("cannot finish or roll back an interrupted restore")?;
    let mut out = std::io::stdout().lock();
    match &cli.command {
        Command::Create {
            plugin,
            appliance,
            appdata,
            sysconf,
            output,
            overwrite,
        } => {
            let what = match (plugin, appliance) {
                (_, Some(appliance)) => {
                    if !appliance::seed::registry::valid_package_name(appliance) {
                        usage(
                            clap::error::ErrorKind::ValueValidation,
                            &format!("--appliance `{appliance}` is not a Debian package name"),
                        );
                    }
                    if appdata.is_empty() && sysconf.is_empty() {
                        usage(
                            clap::error::ErrorKind::MissingRequiredArgument,
                            "--appliance needs at least one --appdata or --sysconf DIR",
                        );
                    }
                    What::Directories {
                        appliance: appliance.clone(),
                        appdata: appdata.clone(),
                        sysconf: sysconf.clone(),
                    }
                }
                (Some(plugin), None) => What::Plugin(Some(plugin.clone())),
                (None, None) if appdata.is_empty() && sysconf.is_empty() => What::Plugin(None),
                (None, None) => usage(
                    clap::error::ErrorKind::MissingRequiredArgument,
                    "--appdata and --sysconf need --appliance NAME",
                ),
            };
            create(cli, root, &mut out, &what, output.as_deref(), *overwrite)
        }
        Command::Verify { file } => {
            let mut backup = open(file)?;
            backup.set_progress(progress::bar(cli, "verifying"));
            check(&mut backup, file)?;
            let key = origin::key(root).context("cannot tell where the backup was made")?;
            let origin = backup.origin(key.as_deref())?;
            if cli.json {
                writeln!(
                    out,
                    "{}",
                    serde_json::json!({ "path": file, "ok": true, "origin": origin.describe() })
                )?;
            } else {
                writeln!(out, "{}: OK, {}", file.display(), origin.describe())?;
            }
            Ok(())
        }
        Command::Show { file } => show(cli, &mut out, file),
        Command::List => list_command(cli, root, &mut out),
        Command::Restore {
            file,
            plugin,
            no_plugin,
            paths_from_backup,
            max_size,
            moves,
        } => {
            let choice = match (plugin, no_plugin) {
                (_, true) => Choice::None,
                (Some(plugin), false) => Choice::Named(plugin.clone()),
                (None, false) => Choice::Accepting,
            };
            let moves = moves
                .iter()
                .map(|m| plan::parse_move(m).map_err(|e| anyhow::anyhow!("--move {e}")))
                .collect::<anyhow::Result<Vec<_>>>()?;
            let request = plan::RestoreRequest {
                choice,
                max_size: *max_size,
                moves,
                paths_from_backup: *paths_from_backup,
                // Root's command line: the administrator restores what they chose.
                foreign_sysconf: true,
            };
            restore_command(cli, root, &mut out, file, &request)
        }
        Command::Prune {
            keep,
            force,
            dry_run,
        } => prune(cli, root, &mut out, *keep, *force, *dry_run),
        Command::Health { pending } => health_command(cli, root, &mut out, *pending),
        Command::Rollback { mail } => {
            if *mail {
                rollback_and_mail(cli, root, &mut out)
            } else {
                rollback(cli, root, &mut out)
            }
        }
    }
}

/// The rollback after a failed unattended upgrade: what it says, and how it ended, is mailed to
/// root as well.
fn rollback_and_mail(cli: &Cli, root: &Path, out: &mut impl Write) -> anyhow::Result<()> {
    let mut said = Vec::new();
    let result = rollback(cli, root, &mut said);
    out.write_all(&said)?;
    let host = appliance::health::host_name();
    let (subject, end) = match &result {
        Ok(()) => (
            "the appliance was rolled back after a failed unattended upgrade".to_owned(),
            "Every package and the data are back, and the health checks pass.".to_owned(),
        ),
        Err(error) => (
            "the rollback after a failed unattended upgrade did not finish".to_owned(),
            format!(
                "The rollback did not finish: {}\n\nThe safety backups are the .abf files in \
                 /var/backups/appliance/safety; `va-backup restore FILE` restores one.",
                appliance::error_chain(error.as_ref())
            ),
        ),
    };
    let message = format!(
        "{}The health checks of the appliance on {host} failed after unattended-upgrades changed \
         it, so the transaction was rolled back to the safety backup made before it:\n\n{}\n{end}\n",
        appliance::health::mail_head(&host, &subject),
        String::from_utf8_lossy(&said)
    );
    if let Err(why) = appliance::health::mail_root(root, &message) {
        appliance::cli::warning(&format!("what the rollback did was not mailed: {why}"));
    }
    result
}

fn rollback(cli: &Cli, root: &Path, out: &mut impl Write) -> anyhow::Result<()> {
    let done = appliance::backup::safety::rollback(root)?;
    let reports = if appliance::target::Target::new(root).is_live() {
        checked(root, "a rollback")?
    } else {
        Vec::new()
    };
    let failed: Vec<&appliance::backup::safety::PutBack> = done
        .packages
        .iter()
        .filter(|p| p.failed.is_some())
        .collect();
    if cli.json {
        let packages: Vec<serde_json::Value> = done
            .packages
            .iter()
            .map(|p| {
                serde_json::json!({
                    "package": p.package, "version": p.version, "kept-deb": p.kept,
                    "failed": p.failed,
                })
            })
            .collect();
        writeln!(
            out,
            "{}",
            serde_json::json!({
                "backup": done.path,
                "transaction": done.record.made,
                "packages": packages,
                "replaced": done.restored.replaced,
                "health": reports,
            })
        )?;
    } else {
        writeln!(
            out,
            "rolling back the transaction of {}: {}",
            done.record.made,
            done.path.display()
        )?;
        for package in &done.packages {
            match &package.failed {
                None => writeln!(
                    out,
                    "put back: {} {} ({})",
                    package.package,
                    package.version,
                    if package.kept {
                        "the .deb kept by the hook"
                    } else {
                        "from APT's sources"
                    }
                )?,
                Some(why) => writeln!(
                    out,
                    "NOT put back: {} {}: {why}",
                    package.package, package.version
                )?,
            }
        }
        for line in &done.restored.restored.migrated {
            writeln!(out, "migrated: {line}")?;
        }
        writeln!(
            out,
            "restored {} ({} {})",
            done.path.display(),
            done.restored.info.appliance,
            done.restored.info.timestamp
        )?;
        for report in &reports {
            writeln!(out, "{}", report.summary())?;
        }
    }
    anyhow::ensure!(
        failed.is_empty(),
        "the data is back, but not every package: {}",
        failed
            .iter()
            .map(|p| format!("{} {}", p.package, p.version))
            .collect::<Vec<_>>()
            .join(", ")
    );
    anyhow::ensure!(
        reports.iter().all(|r| r.ok),
        "rolled back, but the health checks still fail"
    );
    Ok(())
}

fn health_command(
    cli: &Cli,
    root: &Path,
    out: &mut impl Write,
    pending: bool,
) -> anyhow::Result<()> {
    if !pending {
        return health(cli, root, out, "a request");
    }
    let Some(after) =
        appliance::health::pending(root).context("cannot read whether health checks are due")?
    else {
        return Ok(());
    };
    // The mark goes once the result is recorded, whatever it is; checks cut short (a reboot)
    // leave it for appliance-health.service.
    let result = health(cli, root, out, &after);
    appliance::health::clear_pending(root).with_context(|| {
        format!(
            "cannot remove {}",
            root.join(appliance::health::PENDING).display()
        )
    })?;
    result
}

/// Runs, records and says the health checks of every plugin that declares some (after `after`);
/// mails a failure; an error when one fails.
fn health(cli: &Cli, root: &Path, out: &mut impl Write, after: &str) -> anyhow::Result<()> {
    let reports = checked(root, after)?;
    if cli.json {
        writeln!(out, "{}", serde_json::to_string(&reports)?)?;
    } else if reports.is_empty() {
        writeln!(out, "no plugin declares health checks")?;
    } else {
        for report in &reports {
            writeln!(out, "{}", report.summary())?;
        }
    }
    let failed: Vec<&str> = reports
        .iter()
        .filter(|r| !r.ok)
        .map(|r| r.appliance.as_str())
        .collect();
    anyhow::ensure!(
        failed.is_empty(),
        "the health checks of {} failed",
        failed.join(", ")
    );
    Ok(())
}

/// The health checks of every plugin that declares some, run (after `after`), recorded, and a
/// failure mailed.
fn checked(root: &Path, after: &str) -> anyhow::Result<Vec<appliance::health::Report>> {
    let (reports, broken) = appliance::health::check_all(root, after);
    for (path, error) in &broken {
        appliance::cli::warning(&format!(
            "no health checks from {}: {}",
            path.display(),
            appliance::error_chain(error)
        ));
    }
    let transaction =
        after == appliance::health::AFTER_UPGRADE || after == appliance::health::AFTER_UNATTENDED;
    // A result that cannot be recorded must not stop the rollback: the error comes last.
    let mut unrecorded = None;
    for report in &reports {
        if let Err(error) = appliance::health::record(root, report) {
            unrecorded.get_or_insert(anyhow::Error::new(error).context(format!(
                "cannot record the health of {} under {}",
                report.appliance,
                root.join(appliance::health::HEALTH_DIR).display()
            )));
        }
        if transaction && let Err(error) = appliance::backup::safety::note_health(root, report) {
            appliance::cli::warning(&format!(
                "the safety backup's record does not keep the result: {error}"
            ));
        }
    }
    // After unattended-upgrades, nobody is there to roll back: it is done on its own, once the
    // result is kept in the safety backup's record (the rollback marks that record too).
    let rollback = (after == appliance::health::AFTER_UNATTENDED && reports.iter().any(|r| !r.ok))
        .then(|| match appliance::health::start_rollback(root) {
            Ok(()) => format!(
                "unattended-upgrades made this change, so it is being rolled back now to that \
                 safety backup ({}.service, as `va-backup rollback` does); a second mail will say \
                 what it put back.",
                appliance::health::ROLLBACK_UNIT
            ),
            Err(why) => format!(
                "unattended-upgrades made this change, but its rollback could not be started \
                 ({why}): `va-backup rollback` rolls it back."
            ),
        });
    for report in reports.iter().filter(|r| !r.ok) {
        if let Err(why) = appliance::health::mail_failure(root, report, rollback.as_deref()) {
            appliance::cli::warning(&format!("the failure was not mailed: {why}"));
        }
    }
    if let Some(rollback) = &rollback {
        appliance::cli::warning(rollback);
    }
    match unrecorded {
        Some(error) => Err(error),
        None => Ok(reports),
    }
}

fn create(
    cli: &Cli,
    root: &Path,
    out: &mut impl Write,
    what: &What,
    output: Option<&Path>,
    overwrite: bool,
) -> anyhow::Result<()> {
    let created = plan::create(
        root,
        what,
        output,
        overwrite,
        &*progress::bar(cli, "backing up"),
    )?;
    for skipped in &created.written.skipped {
        appliance::cli::warning(&format!(
            "`/{skipped}` is a socket, fifo or device: left out"
        ));
    }
    if cli.json {
        writeln!(
            out,
            "{}",
            serde_json::json!({
                "path": created.path,
                "appliance": created.appliance,
                "skipped": created.written.skipped,
            })
        )?;
    } else {
        writeln!(out, "{}", created.path.display())?;
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

fn list_command(cli: &Cli, root: &Path, out: &mut impl Write) -> anyhow::Result<()> {
    let listed = store::list(root)?;
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
    if listed.is_empty() {
        writeln!(
            out,
            "No backup in {}.",
            root.join(store::BACKUP_DIR).display()
        )?;
    }
    for store::Listed { path, info, .. } in &listed {
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
    cli: &Cli,
    root: &Path,
    out: &mut impl Write,
    file: &Path,
    request: &plan::RestoreRequest,
) -> anyhow::Result<()> {
    let prepared = plan::prepare(root, file, request)?;
    if request.paths_from_backup {
        eprintln!(
            "va-backup: the backup's own directories are taken (--paths-from-backup); it will replace:"
        );
        for target in &prepared.replaces {
            eprintln!("  {target}");
        }
    }
    if prepared.origin == origin::Origin::Elsewhere && !prepared.info.sysconf_dirs.is_empty() {
        appliance::cli::warning(
            "the backup comes from elsewhere: its system configuration is restored, and runs as root from now on",
        );
    }
    let mut report = plan::execute(root, prepared, progress::bar(cli, "restoring"))?;
    for skipped in &report.restored.skipped_attributes {
        appliance::cli::warning(&format!("extended attribute not restored: {skipped}"));
    }
    for cleared in &report.restored.cleared_set_id {
        appliance::cli::warning(&format!(
            "set-user-ID or set-group-ID bit cleared: {cleared}"
        ));
    }
    if cli.json {
        writeln!(
            out,
            "{}",
            serde_json::json!({
                "path": file,
                "appliance": report.info.appliance,
                "timestamp": report.info.timestamp,
                "origin": report.origin.describe(),
                "replaced": report.replaced,
                "migrations": report.migrations,
                "skipped-attributes": report.restored.skipped_attributes,
                "cleared-set-id": report.restored.cleared_set_id,
                "migrated": report.restored.migrated,
            })
        )?;
    } else {
        for line in &report.restored.migrated {
            writeln!(out, "migrated: {line}")?;
        }
        writeln!(
            out,
            "restored {} ({} {}, {})",
            file.display(),
            report.info.appliance,
            report.info.timestamp,
            report.origin.describe()
        )?;
    }
    // Does the application answer again? Recorded for the overview, a failure mailed and said;
    // the restore itself is done. A system in a directory runs no services to ask.
    if appliance::target::Target::new(root).is_live() {
        match checked(root, "a restore") {
            Ok(reports) if !cli.json => {
                for report in reports {
                    writeln!(out, "{}", report.summary())?;
                }
            }
            Ok(_) => {}
            Err(error) => appliance::cli::warning(&format!("{error:#}")),
        }
    }
    // The old data went meanwhile.
    report.restored.finish().with_context(|| {
        format!(
            "{} is restored, but its old data could not all be removed",
            file.display()
        )
    })?;
    Ok(())
}

fn prune(
    cli: &Cli,
    root: &Path,
    out: &mut impl Write,
    keep: usize,
    force: bool,
    dry_run: bool,
) -> anyhow::Result<()> {
    if keep == 0 && !force && !dry_run {
        usage(
            clap::error::ErrorKind::MissingRequiredArgument,
            "--keep 0 deletes every backup: add --force to mean it (or --dry-run to see them)",
        );
    }
    let pruned = store::prune(root, keep, dry_run).context("cannot prune the backups")?;
    let verb = if dry_run { "would remove" } else { "removed" };
    if cli.json {
        writeln!(
            out,
            "{}",
            serde_json::json!({ "removed": pruned, "dry-run": dry_run })
        )?;
    } else if pruned.is_empty() {
        writeln!(
            out,
            "nothing to remove: no appliance has more than {keep} backups"
        )?;
    }
    if !cli.json {
        for path in &pruned {
            writeln!(out, "{verb} {}", path.display())?;
        }
    }
    Ok(())
}

/// A usage error, as clap reports its own: the message, the usage line, exit status 2.
fn usage(kind: clap::error::ErrorKind, message: &str) -> ! {
    use clap::CommandFactory;
    Cli::command().error(kind, message).exit()
}

fn open(file: &Path) -> anyhow::Result<Backup> {
    Backup::open(file).with_context(|| format!("cannot open the backup `{}`", file.display()))
}

fn check(backup: &mut Backup, file: &Path) -> anyhow::Result<()> {
    backup
        .check()
        .with_context(|| format!("`{}` is damaged or not sound", file.display()))
}
