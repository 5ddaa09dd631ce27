// The command line of va-seed; shared with appliance-gendocs for the man page and completions.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// Check appliance seed files and the seed registry
///
/// A seed holds an appliance's answers to its dependencies' debconf questions, in
/// debconf-set-selections format. Appliances ship it as /var/lib/appliance/seeds/PACKAGE.seed.
#[derive(Parser)]
#[command(name = "va-seed", version)]
pub struct Cli {
    /// The system's root directory (default: the `DPKG_ROOT` environment variable, else /);
    /// validate and diff read only the files they are given
    #[arg(long, global = true, value_name = "DIR")]
    pub root: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Validate seed files; exit 1 if any is invalid
    ///
    /// Besides the format of debconf-set-selections(1), a seed may not answer a question of type
    /// `password` with a literal value: a seed is public (it ships in the .deb), so every system
    /// would share that password. It answers with a marker instead, `@secret:NAME` (NAME: lower-case
    /// letters, digits and `-`), and a password is generated for each system when the seed is
    /// first applied; lines naming the same NAME get the same value.
    Validate {
        /// The seed files; `-` reads standard input. Every error of each is reported, and a seed
        /// that answers nothing gets a warning
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
    },
    /// Show the answers that changed between two versions of a seed
    Diff { old: PathBuf, new: PathBuf },
    /// Print a seed as one Debian release gets it: what an appliance built there ships
    ///
    /// In an appliance's source, the line `#release: NAME…` (Debian code names) right above an
    /// answer gives that answer to those releases only, so that one seed says where releases
    /// differ (a question that one release's package no longer asks, an answer that must change).
    /// This prints the seed without the answers given to other releases and without the
    /// `#release:` lines; every other line as it is. The seed is validated first.
    ForRelease {
        /// The release's code name (bookworm, trixie); default: this system's (/etc/os-release)
        #[arg(long, value_name = "NAME")]
        release: Option<String>,
        /// The seed file
        file: PathBuf,
    },
    /// List the appliances whose seeds were applied, and what is pending
    Status {
        /// Print JSON for scripts (errors too)
        #[arg(long)]
        json: bool,
    },
    /// Show the secrets generated for the appliances' seeds, with what each one opens (root only)
    ///
    /// Every `@secret:NAME` of an appliance's seed is generated once per system, kept in
    /// /var/lib/appliance/secrets/APPLIANCE (0600), kept by upgrades and forgotten on purge.
    /// Also shows the SHA-256 fingerprint of appliance-control's TLS certificate, to compare with
    /// the one a browser shows on first connection.
    Secrets {
        /// Only this appliance's secrets
        appliance: Option<String>,
    },
    /// Make every secret of this system anew: the generated passwords and the applications' keys
    ///
    /// Draws a new value for every password generated for the appliances' seeds and gives it to
    /// the application through the `renew` command its plugin manifest declares (on standard
    /// input) and records it once the command succeeded; debconf keeps no copy. Then it runs the
    /// `renew` commands of the applications' own keys. A failing command stops it with exit
    /// status 1, naming the secret; what was renewed before stays recorded. The first boot of a
    /// machine made by va-build runs it, so that no two machines made from one image share a
    /// secret. Prints the names of what it renewed, never a value.
    Renew {
        /// Keep this secret as it is (the site's seed gave it); may be repeated
        #[arg(long, value_name = "NAME")]
        keep: Vec<String>,
    },
    /// Reconfigure the packages that were configured before PACKAGE's seed was applied
    Reconfigure { package: String },
    /// Check an appliance's seed against the packages APT would install with it
    ///
    /// Downloads the appliance and its dependencies as APT would install them on the system at
    /// --root, reads every debconf template and the priorities the maintainer scripts ask them
    /// at, and reports each question of priority high or critical that the seed leaves
    /// unanswered (with its default), each seeded question no package owns, and each value that
    /// is not a choice of its select or multiselect question. Exits 1 if it finds any.
    Check {
        appliance: String,
        /// Check this seed file instead of the one the appliance ships: an appliance's source seed,
        /// its `#release:` lines read for the release at --root
        #[arg(long, value_name = "FILE")]
        seed: Option<PathBuf>,
    },
}
