// The command line of va-upgrade-release; shared with appliance-gendocs for the man page and
// completions.

use clap::{Parser, ValueEnum};

/// Move an appliance system to the next Debian release, with the way back kept
///
/// Checks first that the system can move (its release, dpkg's state, no pending update, the
/// appliance healthy, the free space), and says which APT sources move and which third-party
/// ones are left as they are. Then it keeps a snapshot of the system's files, moves the sources,
/// downloads the new release, and upgrades without a question: a configuration file the
/// administrator changed is kept, any other is the new release's. APT's hook makes the
/// appliance's safety backup before dpkg changes anything and applies its seeds for the new
/// release. The appliance's health checks run last. If the upgrade or the checks fail, the files
/// of the release left and the appliance's data are put back.
#[derive(Parser)]
#[command(name = "va-upgrade-release", version)]
pub struct Cli {
    /// Only check that the system can move and say what would change; change nothing
    #[arg(long, conflicts_with_all = ["rollback", "yes", "on_failure"])]
    pub check: bool,
    /// Move without asking first (needed when not run from a terminal)
    #[arg(short, long)]
    pub yes: bool,
    /// What to do when the upgrade or its health checks fail: put the release left back, or
    /// stay as the upgrade left it (for an expert to finish by hand; --rollback still can later)
    #[arg(long, value_enum, default_value_t = OnFailure::Rollback, value_name = "WHAT")]
    pub on_failure: OnFailure,
    /// Put the system back as it was before its last release upgrade (the files of the release
    /// left, then the appliance's data from the upgrade's safety backup), then check its health
    #[arg(long, conflicts_with_all = ["yes", "on_failure"])]
    pub rollback: bool,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OnFailure {
    /// Put the release left back, files and data
    Rollback,
    /// Leave the system as the upgrade left it
    Stay,
}
