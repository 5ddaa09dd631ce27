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
    /// The system's root directory: a chroot, a mounted disk image, a test directory
    #[arg(long, global = true, value_name = "DIR", default_value = "/")]
    pub root: PathBuf,
    /// Print JSON for scripts
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Back up an appliance's directories
    Create {
        /// The appliance package
        #[arg(long)]
        appliance: String,
        /// A directory of application data (repeatable)
        #[arg(long, value_name = "DIR")]
        appdata: Vec<String>,
        /// A directory of system configuration (repeatable)
        #[arg(long, value_name = "DIR")]
        sysconf: Vec<String>,
        /// Where to write it (default: /var/backups/appliance/APPLIANCE-TIME.abf under --root)
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Check a backup's checksums and every entry, without writing anything
    Verify { file: PathBuf },
    /// Show what a backup holds
    Show { file: PathBuf },
    /// List the backups under /var/backups/appliance
    List,
    /// Restore a backup, replacing the directories it holds
    Restore {
        file: PathBuf,
        /// The most the backup may write, e.g. 1G or 500M (default: the free space of the target)
        #[arg(long, value_name = "SIZE", value_parser = parse_size)]
        max_size: Option<u64>,
        /// Restore the backup's directory FROM into TO on this system (repeatable)
        #[arg(long = "move", value_name = "FROM=TO")]
        moves: Vec<String>,
    },
    /// Delete all but the newest N backups of each appliance under /var/backups/appliance
    Prune {
        #[arg(long, value_name = "N")]
        keep: usize,
    },
}

/// `1G`, `500M`, `64K`, `1024`: bytes.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let (number, unit) = text.split_at(
        text.find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len()),
    );
    let number: u64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a size like 1G, 500M or 4096"))?;
    let factor: u64 = match unit
        .to_ascii_uppercase()
        .trim_end_matches("IB")
        .trim_end_matches('B')
    {
        "" => 1,
        "K" => 1 << 10,
        "M" => 1 << 20,
        "G" => 1 << 30,
        "T" => 1 << 40,
        _ => {
            return Err(format!(
                "`{text}`: unknown unit `{unit}` (use K, M, G or T)"
            ));
        }
    };
    number
        .checked_mul(factor)
        .ok_or_else(|| format!("`{text}` is too large"))
}
