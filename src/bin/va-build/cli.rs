// The command line of va-build; shared with appliance-gendocs for the man page and completions.

use std::path::PathBuf;

use clap::{Parser, ValueEnum};

/// Build a bootable virtual machine image of an appliance
///
/// va-build checks that PACKAGE is an appliance of the target release (it provides
/// virtual-appliance) before downloading anything, makes a Debian root with mmdebstrap,
/// installs appliance-tools and then the appliance with plain apt-get, so that the
/// appliance's seed answers every question, and writes a disk that boots with BIOS and UEFI
/// (GRUB), with systemd-networkd on DHCP. The image holds nothing two machines may not share:
/// at first boot, before any service answers on the network, each machine makes its SSH host
/// keys and certificates, and draws anew every password the appliance's seed had generated and
/// the applications' own keys (`va-seed renew`); `va-seed secrets` shows them to root there.
/// Only what --seed gives stays the same on every machine.
///
/// The whole log is kept beside the image (FILE.log), with the root's file listing
/// (FILE.manifest). Downloaded packages are kept in the cache for the next build. Runs as root.
///
/// Exit status: 0 when the image is written; 1 when the build fails or PACKAGE is not an
/// appliance (nothing is left at FILE); 2 for a usage error.
#[derive(Parser)]
#[command(name = "va-build", version)]
pub struct Cli {
    /// The appliance package to install
    #[arg(long, value_name = "PACKAGE")]
    pub appliance: String,
    /// Where to write the image
    #[arg(short, long, value_name = "FILE")]
    pub output: PathBuf,
    /// The Debian release of the image (default: the host's)
    #[arg(long)]
    pub suite: Option<String>,
    /// The Debian mirror (default: the host's APT sources for its release)
    #[arg(long, value_name = "URL")]
    pub mirror: Option<String>,
    /// An extra repository: a directory holding a flat repository (trusted, used for the
    /// installation only), a URL of one, or a whole "deb ..." line (kept in the image)
    #[arg(long, value_name = "DIR|URL|LINE")]
    pub repo: Vec<String>,
    /// The disk's size, like 8G (default: 4G, or more when the root needs it)
    #[arg(long, value_name = "SIZE", value_parser = appliance::image::disk::parse_size)]
    pub size: Option<u64>,
    /// The image's format
    #[arg(long, value_enum, default_value_t = Format::Qcow2)]
    pub format: Format,
    /// The machine's host name (default: the appliance's name without -appliance)
    #[arg(long)]
    pub hostname: Option<String>,
    /// A file of public SSH keys that may log in as root
    #[arg(long, value_name = "FILE")]
    pub ssh_key: Option<PathBuf>,
    /// debconf answers (debconf-set-selections format) applied over the appliance's seed, such
    /// as appliance-control/admin-password: a password given here is the same on every machine
    /// made from the image
    #[arg(long, value_name = "FILE")]
    pub seed: Option<PathBuf>,
    /// Install cloud-init, which reads a seed disk (its no-cloud data source) when a machine has one
    #[arg(long)]
    pub cloud_init: bool,
    /// Where downloaded packages are kept between builds
    #[arg(long, value_name = "DIR", default_value = "/var/cache/va-build")]
    pub cache: PathBuf,
    /// Replace FILE if it exists
    #[arg(long)]
    pub overwrite: bool,
    /// Print the result as JSON on stdout (errors too), for scripts; progress stays on stderr
    #[arg(long)]
    pub json: bool,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum Format {
    Qcow2,
    Raw,
}
