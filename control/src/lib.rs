//! appliance-control: the web interface every appliance shares (the README's "appliance-control"
//! section). The web service runs as its own unprivileged user; everything that needs root is one
//! of the agent's closed list of operations.

// The tests make their fixtures with std::fs and run programs directly (clippy.toml holds the
// code itself to appliance::atomic and appliance::target; the build without cfg(test) checks it).
#![cfg_attr(test, allow(clippy::disallowed_methods))]

pub mod agent;
pub mod files;
pub mod https;
pub mod jobs;
pub mod mail;
pub mod protocol;
pub mod session;
pub mod settings;
pub mod sysinfo;
pub mod tls;
pub mod unattended;
pub mod users;
pub mod web;
