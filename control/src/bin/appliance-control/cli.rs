// The command line of appliance-control; shared with the man page generator.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// The web interface of the appliance
///
/// Serves the appliance's control panel (by default on port 8080) as an unprivileged user; what
/// needs root is asked of appliance-agent.
#[derive(Parser)]
#[command(name = "appliance-control", version)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand)]
pub enum Command {
    /// Serve the web interface (what systemd runs)
    Serve {
        /// Address and port to listen on
        #[arg(long, default_value = "[::]:8080")]
        listen: SocketAddr,
        /// The agent's socket
        #[arg(long, default_value = "/run/appliance/agent.sock")]
        agent: PathBuf,
        /// The system's root directory
        #[arg(long, default_value = "/")]
        root: PathBuf,
        /// Serve HTTPS with this certificate (PEM; the chain after it)
        #[arg(long, value_name = "FILE", requires = "tls_key")]
        tls_cert: Option<PathBuf>,
        /// The certificate's private key (PEM)
        #[arg(long, value_name = "FILE", requires = "tls_cert")]
        tls_key: Option<PathBuf>,
        /// Accept only client certificates signed by these CAs (PEM), and believe their subjects
        #[arg(long, value_name = "FILE", requires = "tls_cert")]
        client_ca: Option<PathBuf>,
    },
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
