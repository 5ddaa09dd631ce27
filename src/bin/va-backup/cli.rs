// The command line of va-backup; shared with appliance-gendocs for the man page and completions.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// Make, check and restore appliance backups (.abf)
///
/// A backup is a zip holding the appliance's system configuration and application data as
/// tarballs, with checksums. Every subcommand first finishes or rolls back a restore that was
/// interrupted, so the data is always either the old or the new.
#[derive(Parser)]
#[command(name = "va-backup", version)]
pub struct Cli {
    /// The system's root directory: a chroot, a mounted disk image, a test directory (default:
    /// the `DPKG_ROOT` environment variable, else /)
    #[arg(long, global = true, value_name = "DIR")]
    pub root: Option<PathBuf>,
    /// Print JSON for scripts
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Back up an appliance's directories, as its plugin manifest says or as given
    ///
    /// Without --plugin and --appliance, the one plugin manifest under
    /// /usr/share/appliance/plugins that declares a backup is used.
    Create {
        /// The plugin manifest: a name under /usr/share/appliance/plugins, or a file
        #[arg(
            long,
            value_name = "NAME|FILE",
            conflicts_with_all = ["appliance", "appdata", "sysconf"]
        )]
        plugin: Option<String>,
        /// The appliance package, for a backup of the directories given here
        #[arg(long)]
        appliance: Option<String>,
        /// A directory of application data (repeatable)
        #[arg(long, value_name = "DIR")]
        appdata: Vec<String>,
        /// A directory of system configuration (repeatable)
        #[arg(long, value_name = "DIR")]
        sysconf: Vec<String>,
        /// Where to write it (default: /var/backups/appliance/APPLIANCE-TIME.abf under --root,
        /// APPLIANCE-TIME-2.abf for a second backup of the same second); it must not exist
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
        /// Replace the --output file if it exists
        #[arg(long, requires = "output")]
        overwrite: bool,
    },
    /// Check a backup's checksums and every entry, without writing anything, and say whether
    /// this system made it (its key vouches for it) or it comes from elsewhere
    Verify { file: PathBuf },
    /// Show what a backup holds
    Show { file: PathBuf },
    /// List the backups under /var/backups/appliance
    List,
    /// Restore a backup, replacing the directories it holds
    ///
    /// The plugin manifest that accepts the backup's appliance (or the one given) says which
    /// directories are replaced, which services stop during the swap, which migrations convert
    /// older data and what runs after. A backup that names a directory the manifest does not
    /// declare is refused. Set-user-ID and set-group-ID bits are cleared, except on the files
    /// the manifest declares.
    Restore {
        file: PathBuf,
        /// The plugin manifest: a name under /usr/share/appliance/plugins, or a file
        #[arg(long, value_name = "NAME|FILE", conflicts_with = "no_plugin")]
        plugin: Option<String>,
        /// Restore the directories only: no plugin's services, migrations or commands (needs
        /// --paths-from-backup, since no manifest then says which directories to replace)
        #[arg(long)]
        no_plugin: bool,
        /// Replace the directories the backup itself names, where no plugin manifest accepts it
        /// (or even where one does): they are listed before anything is replaced. Without it,
        /// only the directories of the manifest that accepts the backup are restored
        #[arg(long)]
        paths_from_backup: bool,
        /// The most the backup may write, e.g. 1G or 500M (default: the free space of the target)
        #[arg(long, value_name = "SIZE", value_parser = appliance::backup::store::parse_size)]
        max_size: Option<u64>,
        /// Restore the backup's directory FROM into TO on this system (repeatable)
        #[arg(long = "move", value_name = "FROM=TO")]
        moves: Vec<String>,
    },
    /// Undo the last transaction that changed the appliance, from its safety backup
    ///
    /// APT's hook made the safety backup before the transaction (in
    /// /var/backups/appliance/safety). The appliance's packages go back to their versions before
    /// it (from the .debs the hook kept, else from APT's sources), then its data and
    /// configuration are restored, then the health checks run. A package that cannot be put back
    /// is said; the data is restored all the same. After unattended-upgrades, when the health
    /// checks fail, the rollback starts on its own (as the transient unit appliance-rollback,
    /// which runs `va-backup rollback --mail`).
    Rollback {
        /// Mail root what the rollback did (through the system's sendmail)
        #[arg(long)]
        mail: bool,
    },
    /// Run the appliance's health checks, record the result and say it
    ///
    /// The checks are the plugin manifests' `health`: an HTTP request to this host whose answer
    /// must hold a text, or a command that must succeed, each tried until it passes or its time
    /// is up. The result is kept in /var/lib/appliance/health/APPLIANCE.json, which
    /// appliance-control's overview shows; a failure is mailed to root (through the system's
    /// sendmail, hence the configured smarthost) and makes the exit status 1. APT runs
    /// `va-backup health --pending` after every transaction that changed the appliance, and a
    /// restore runs the checks too.
    Health {
        /// Only if a transaction that changed the appliance left the checks due (what APT's
        /// `DPkg::Post-Invoke` runs); otherwise do nothing
        #[arg(long)]
        pending: bool,
    },
    /// Delete all but the newest N backups of each appliance under /var/backups/appliance
    Prune {
        /// How many of each appliance's backups stay; 0 (all deleted) needs --force
        #[arg(long, value_name = "N")]
        keep: usize,
        /// Delete every backup with --keep 0
        #[arg(long)]
        force: bool,
        /// Say what would be deleted, and delete nothing
        #[arg(long)]
        dry_run: bool,
    },
}
