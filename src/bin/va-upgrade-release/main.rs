//! `va-upgrade-release`: moves an appliance system to the next Debian release, checked before,
//! kept in a snapshot meanwhile, its health checked after, and put back when it fails.

#![allow(
    clippy::print_stdout,
    reason = "the steps of a release upgrade, said as they come (its log on the Updates page)"
)]

mod cli;

use std::io::{BufRead as _, IsTerminal as _, Write as _};
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context as _;
use appliance::release::{self, snapshot, sources};
use clap::Parser as _;

/// The exit status when the upgrade failed and the system was put back as it was.
const ROLLED_BACK: u8 = 3;
/// The exit status when the upgrade failed and the system is left halfway.
const HALFWAY: u8 = 4;

/// How the upgrade's APT runs answer dpkg: a configuration file the administrator changed is
/// kept, any other is the package's (dpkg's `--force-confdef` with `--force-confold`, and ucf's
/// `UCF_FORCE_CONFFOLD`); the hook's safety backup on whatever the administrator chose, its
/// health checks left to this program, which acts on them.
const APT_OPTIONS: [&str; 10] = [
    "-o",
    "Dpkg::Options::=--force-confdef",
    "-o",
    "Dpkg::Options::=--force-confold",
    "-o",
    "DPkg::Lock::Timeout=1800",
    "-o",
    "Appliance::Safety-Backup=true",
    "-o",
    "Appliance::Health-Check=false",
];

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    let root = Path::new("/");
    let result = if cli.rollback {
        roll_back(root).map(|()| ExitCode::SUCCESS)
    } else {
        upgrade(&cli, root)
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            appliance::cli::print_error(&error, None);
            ExitCode::FAILURE
        }
    }
}

fn step(what: &str) {
    println!("==> {what}");
}

/// `apt-get ARGS…` with the upgrade's options, its output on this program's, no question asked.
fn apt_get(args: &[&str]) -> anyhow::Result<()> {
    let mut command = appliance::target::command("apt-get");
    command
        .args(["-y", "-q"])
        .args(APT_OPTIONS)
        .args(args)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .env("UCF_FORCE_CONFFOLD", "1")
        .env("APT_LISTCHANGES_FRONTEND", "none");
    let status = command
        .status()
        .with_context(|| format!("cannot run apt-get {}", args.join(" ")))?;
    anyhow::ensure!(
        status.success(),
        "apt-get {} failed ({status})",
        args.join(" ")
    );
    Ok(())
}

/// What `program ARGS…` prints, which must succeed.
fn output(program: &str, args: &[&str]) -> anyhow::Result<String> {
    let mut command = appliance::target::command(program);
    command.args(args).env("LC_ALL", "C.UTF-8");
    let ran = appliance::target::run(command, program, None)?;
    Ok(ran.stdout)
}

/// What the check found: the release left and the next, and the sources moved (not written).
struct Ready {
    from: String,
    to: &'static str,
    moved: Vec<(std::path::PathBuf, sources::Moved)>,
}

/// Checks that the system at `root` can move to the next release, and says which sources move
/// and which are left; `None` (said why) when it cannot.
fn check(root: &Path) -> anyhow::Result<Option<Ready>> {
    let from = appliance::system_root::release(root).ok();
    let to = from.as_deref().and_then(sources::next_codename);
    step(&format!(
        "Checking that this system can move from {} to {}",
        from.as_deref().unwrap_or("its release"),
        to.unwrap_or("the next release")
    ));
    apt_get(&["update"]).context("cannot read the package lists of this release")?;
    let origins = sources::Origins::from_policy(&output("apt-cache", &["policy"])?);
    let moved = match (&from, to) {
        (Some(from), Some(to)) => {
            release::move_sources(root, &origins, from, to).context("cannot read APT's sources")?
        }
        _ => Vec::new(),
    };
    let before = release::Before {
        release: from.clone(),
        audit: output("dpkg", &["--audit"])?,
        pending: release::simulated_installs(&output(
            "apt-get",
            &["-s", "-q", "-o", "Debug::NoLocking=1", "full-upgrade"],
        )?),
        unhealthy: appliance::health::check_all(root, "a release upgrade's check")
            .0
            .iter()
            .filter(|r| !r.ok)
            .map(appliance::health::Report::summary)
            .collect(),
        free: free_bytes(root)?,
        kept: snapshot::linked_size(root, &snapshot::TREES),
    };
    let mut problems = release::problems(&before);
    let moving: Vec<&sources::Entry> = moved.iter().flat_map(|(_, m)| &m.moved).collect();
    if moving.is_empty() && problems.is_empty() {
        problems.push(format!(
            "no APT source of {} from Debian's archive was found to move",
            from.as_deref().unwrap_or("this release")
        ));
    }
    for entry in &moving {
        println!("  moves: {} {} {}", entry.place, entry.uri, entry.suite);
    }
    for entry in moved.iter().flat_map(|(_, m)| &m.left) {
        println!(
            "  left as it is (its publisher's, {}): {} {} {}",
            entry.origin.as_deref().unwrap_or("origin unknown"),
            entry.place,
            entry.uri,
            entry.suite
        );
    }
    for problem in &problems {
        appliance::cli::print_error(&anyhow::anyhow!("{problem}"), None);
    }
    Ok(match (from, to) {
        (Some(from), Some(to)) if problems.is_empty() => Some(Ready { from, to, moved }),
        _ => None,
    })
}

fn upgrade(cli: &cli::Cli, root: &Path) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(
        nix::unistd::geteuid().is_root(),
        "only root can upgrade the system's release"
    );
    let Some(Ready { from, to, moved }) = check(root)? else {
        println!("Nothing was changed.");
        return Ok(ExitCode::FAILURE);
    };
    if cli.check {
        println!("This system can move from {from} to {to}: va-upgrade-release --yes does it.");
        return Ok(ExitCode::SUCCESS);
    }
    if !cli.yes && !confirmed(&from, to)? {
        println!("Nothing was changed.");
        return Ok(ExitCode::FAILURE);
    }
    step(&format!(
        "Keeping {from}'s files in {} (the way back)",
        root.join(snapshot::SNAPSHOT_DIR).display()
    ));
    snapshot::take(root, &from, &snapshot::TREES)?;
    step(&format!("Moving APT's sources to {to}"));
    let early = (|| {
        release::write_sources(&moved).context("cannot write APT's sources")?;
        apt_get(&["update"]).with_context(|| format!("cannot read {to}'s package lists"))?;
        step(&format!("Downloading {to}'s packages"));
        apt_get(&["--download-only", "full-upgrade"])
            .with_context(|| format!("cannot download {to}'s packages"))
    })();
    if let Err(error) = early {
        // Nothing but the sources changed: they go back, and the lists with them.
        appliance::cli::print_error(&error, None);
        step(&format!("Putting back APT's sources of {from}"));
        snapshot::put_back_path(root, "etc/apt")?;
        apt_get(&["update"]).ok();
        snapshot::remove(root)?;
        println!("Nothing else was changed: the system runs {from} as before.");
        return Ok(ExitCode::FAILURE);
    }

    step(&format!(
        "Upgrading to {to} (configuration files the administrator changed are kept)"
    ));
    let upgraded = apt_get(&["full-upgrade"]).and_then(|()| {
        step("Checking the appliance");
        checked(root, release::AFTER_RELEASE_UPGRADE)
    });
    match upgraded {
        Ok(()) => {
            snapshot::remove(root)?;
            println!(
                "This system runs {to} now, and the appliance works. Reboot to run {to}'s kernel \
                 and every service from its new files: systemctl reboot"
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(error) if cli.on_failure == cli::OnFailure::Stay => {
            appliance::cli::print_error(&error, None);
            println!(
                "The system is left as the upgrade left it (--on-failure stay): finish it by hand \
                 (dpkg --configure -a; apt-get full-upgrade), or put {from} back with \
                 va-upgrade-release --rollback."
            );
            Ok(ExitCode::from(HALFWAY))
        }
        Err(error) => {
            appliance::cli::print_error(&error, None);
            match roll_back(root) {
                Ok(()) => Ok(ExitCode::from(ROLLED_BACK)),
                Err(error) => {
                    appliance::cli::print_error(&error, None);
                    println!(
                        "The system is left halfway: va-upgrade-release --rollback tries again."
                    );
                    Ok(ExitCode::from(HALFWAY))
                }
            }
        }
    }
}

/// Asks on the terminal; without one, `--yes` must say it.
fn confirmed(from: &str, to: &str) -> anyhow::Result<bool> {
    anyhow::ensure!(
        std::io::stdin().is_terminal(),
        "no terminal to ask on: give --yes to move from {from} to {to}"
    );
    print!("Move this system from {from} to {to} now? [y/N] ");
    std::io::stdout().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes"))
}

/// The free bytes of the file system holding the snapshot.
fn free_bytes(root: &Path) -> anyhow::Result<u64> {
    appliance::backup::restore::free_space(&root.join(snapshot::SNAPSHOT_DIR))
        .context("cannot read the free space of /var/lib")
}

/// Runs and records the appliances' health checks; an error when one fails.
fn checked(root: &Path, after: &str) -> anyhow::Result<()> {
    let (reports, _) = appliance::health::check_all(root, after);
    let mut failed = Vec::new();
    for report in &reports {
        if let Err(error) = appliance::health::record(root, report) {
            appliance::cli::warning(&format!("the result is not recorded: {error}"));
        }
        println!("  {}", report.summary());
        if !report.ok {
            if let Err(why) = appliance::health::mail_failure(root, report, None) {
                appliance::cli::warning(&format!("the failure was not mailed: {why}"));
            }
            failed.push(report.appliance.clone());
        }
    }
    anyhow::ensure!(
        failed.is_empty(),
        "the health checks of {} failed",
        failed.join(", ")
    );
    Ok(())
}

/// Says the installed files that differ from their packages after a rollback (`dpkg --verify`,
/// configuration files aside): a file a script of the new release rewrote in place, not by a
/// rename, was changed in the snapshot too.
fn verify(from: &str) {
    let mut command = appliance::target::command("dpkg");
    command.arg("--verify").env("LC_ALL", "C.UTF-8");
    let Ok(ran) = appliance::target::output(command, "dpkg --verify", None) else {
        appliance::cli::warning("dpkg --verify could not run");
        return;
    };
    let changed = release::changed_in_place(&ran.stdout);
    if !changed.is_empty() {
        appliance::cli::warning(&format!(
            "{} file{} differ from {from}'s packages (rewritten in place during the upgrade): {}; \
             `dpkg -S FILE` names the package, `apt-get install --reinstall PACKAGE` mends it",
            changed.len(),
            if changed.len() == 1 { "" } else { "s" },
            changed.join(", ")
        ));
    }
}

/// Puts the release left back, files and data, then reinstalls the boot loader of that release
/// and checks the appliance.
fn roll_back(root: &Path) -> anyhow::Result<()> {
    anyhow::ensure!(
        nix::unistd::geteuid().is_root(),
        "only root can put the system's release back"
    );
    let from = snapshot::read(root)?.from;
    step(&format!(
        "Putting back {from}'s files and the appliance's data"
    ));
    let done = release::roll_back(root, &mut || {
        // systemd as the release left has it, with its units, before the restore stops and
        // starts the services: the new release's systemd runs every service through programs
        // of its own (systemd-executor) that the old release's files no longer hold.
        let reexecuted = appliance::target::command("systemctl")
            .arg("daemon-reexec")
            .status();
        if !reexecuted.is_ok_and(|s| s.success()) {
            appliance::cli::warning("systemctl daemon-reexec failed: reboot before anything else");
        }
    })?;
    println!(
        "  {} files put back, {} added by the upgrade removed; data: {}",
        done.files.replaced,
        done.files.removed,
        done.data.as_ref().map_or_else(
            || "not changed (the upgrade stopped before dpkg ran)".to_owned(),
            |path| format!("restored from {}", path.display())
        )
    );
    verify(&from);
    for boot_loader in ["grub-pc", "grub-efi-amd64"] {
        let installed = output("dpkg-query", &["-W", "-f=${db:Status-Status}", boot_loader])
            .is_ok_and(|status| status == "installed");
        if installed {
            step(&format!(
                "Installing {from}'s boot loader again ({boot_loader})"
            ));
            let status = appliance::target::command("dpkg-reconfigure")
                .args(["-f", "noninteractive", boot_loader])
                .status();
            if !status.is_ok_and(|s| s.success()) {
                appliance::cli::warning(&format!(
                    "dpkg-reconfigure {boot_loader} failed: run it before rebooting"
                ));
            }
        }
    }
    step(&format!("Reading {from}'s package lists again"));
    if let Err(error) = apt_get(&["update"]) {
        appliance::cli::warning(&format!("{error:#}"));
    }
    step("Checking the appliance");
    let health = checked(root, "a release upgrade's rollback");
    snapshot::remove(root)?;
    health?;
    println!(
        "The system runs {from} again. Reboot so that every program runs {from}'s files: \
         systemctl reboot"
    );
    Ok(())
}
