// The command line of vainstall; shared with appliance-gendocs for the man page and completions.

use std::path::PathBuf;

use clap::Parser;

/// Install a virtual appliance where APT's appliance hook does not run
///
/// With appliance-tools installed, a plain `apt-get install APPLIANCE` applies the appliance's
/// seed before anything is configured. vainstall does the same in three steps for systems where
/// the hook is not loaded: it downloads the appliance and its dependencies, applies the
/// appliance's seed to debconf, then runs `apt-get install APPLIANCE`.
#[derive(Parser)]
#[command(name = "vainstall", version)]
pub struct Cli {
    /// The appliance package to install (see valist)
    pub appliance: String,
    /// Answer yes to apt-get's question
    #[arg(short, long)]
    pub yes: bool,
    /// Print the result (the appliance, its version, the seed's outcome) or the error as JSON on
    /// standard output; apt-get's own output goes to standard error. Needs --yes: a script
    /// cannot answer apt-get's question
    #[arg(long, requires = "yes")]
    pub json: bool,
    /// The root directory of the system to install into, apt-get run under chroot (default:
    /// the `DPKG_ROOT` environment variable, else /)
    #[arg(long, value_name = "DIR")]
    pub root: Option<PathBuf>,
}
