//! appliance-control: the web interface every appliance shares (ARCHITECTURE.md section 4). The
//! web service runs as its own unprivileged user; everything that needs root is one of the
//! agent's closed list of operations.

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
pub mod users;
pub mod web;
