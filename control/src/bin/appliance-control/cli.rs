// The command line of appliance-control; shared with the man page generator.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// The web interface of the appliance
///
/// Serves the appliance's control panel over HTTPS only (by default on port 8080, with the
/// certificate made for this system at installation in /etc/appliance-control/tls/) as an
/// unprivileged user; what needs root is asked of appliance-agent. A plain HTTP request on the
/// port is answered with a redirect to HTTPS and nothing else. Without a command, serves with the
/// defaults of `serve`.
#[derive(Parser)]
#[command(name = "appliance-control", version)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand)]
pub enum Command {
    /// Serve the web interface (what systemd runs)
    Serve(Serve),
    /// Set a user's password (creating the user), as root
    ///
    /// The password is read from the terminal (twice), or from standard input when that is not a
    /// terminal.
    Passwd {
        /// The user
        user: String,
        /// Say nothing when done (for maintainer scripts)
        #[arg(long)]
        quiet: bool,
        /// The system's root directory
        #[arg(long, default_value = "/")]
        root: PathBuf,
    },
}

/// What `appliance-control serve` is told; without a command, its defaults.
#[derive(Parser)]
pub struct Serve {
    /// Address and port to listen on (given twice, the last wins: the service's unit gives one,
    /// and /etc/default/appliance-control may give another)
    #[arg(long, default_value = "[::]:8080", overrides_with = "listen")]
    pub listen: SocketAddr,
    /// The agent's socket
    #[arg(long, default_value = "/run/appliance/agent.sock")]
    pub agent: PathBuf,
    /// The system's root directory
    #[arg(long, default_value = "/")]
    pub root: PathBuf,
    /// The certificate served over HTTPS (PEM; the chain after it). The package makes one
    /// for this system at installation; plain HTTP on the port is answered with a redirect
    /// to HTTPS and nothing else
    #[arg(
        long,
        value_name = "FILE",
        default_value = "/etc/appliance-control/tls/cert.pem"
    )]
    pub tls_cert: PathBuf,
    /// The certificate's private key (PEM)
    #[arg(
        long,
        value_name = "FILE",
        default_value = "/etc/appliance-control/tls/key.pem"
    )]
    pub tls_key: PathBuf,
    /// Accept only client certificates signed by these CAs (PEM), and believe their subjects
    #[arg(long, value_name = "FILE")]
    pub client_ca: Option<PathBuf>,
    /// The largest backup an upload may bring, in bytes, or with a unit: `512M`, `4G`
    #[arg(long, value_name = "SIZE", default_value = "4G", value_parser = parse_size)]
    pub upload_limit: u64,
}

/// `4096`, `512K`, `512M`, `4G` (powers of 1024).
pub fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let (number, shift) = match text.char_indices().last() {
        Some((at, 'K' | 'k')) => (&text[..at], 10),
        Some((at, 'M' | 'm')) => (&text[..at], 20),
        Some((at, 'G' | 'g')) => (&text[..at], 30),
        Some((at, 'T' | 't')) => (&text[..at], 40),
        _ => (text, 0),
    };
    number
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(1 << shift))
        .filter(|n| *n > 0)
        .ok_or_else(|| format!("`{text}` is not a size (a number of bytes, or with K, M, G or T)"))
}
