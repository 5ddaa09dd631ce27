// The command line of valist; shared with appliance-gendocs for the man page and completions.

use std::path::PathBuf;

use clap::Parser;

/// List the virtual appliances APT knows
///
/// An appliance is a package that provides virtual-appliance. valist reads APT's package cache
/// (run apt-get update first) and prints one appliance a line: its name, the version APT would
/// install, the installed version if any, and its summary.
#[derive(Parser)]
#[command(name = "valist", version)]
pub struct Cli {
    /// Only the installed appliance
    #[arg(long)]
    pub installed: bool,
    /// Print a JSON array of objects (name, version, installed, summary, origin, seed)
    #[arg(long)]
    pub json: bool,
    /// The root directory of the system whose APT cache to read (default: the `DPKG_ROOT`
    /// environment variable, else /)
    #[arg(long, value_name = "DIR")]
    pub root: Option<PathBuf>,
}
