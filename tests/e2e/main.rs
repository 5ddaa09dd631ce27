//! End-to-end tests: appliances installed with real apt, dpkg and debconf in fresh Debian roots.
//! Needs: root, mmdebstrap, systemd-nspawn, the packages built by `make deb` (see harness.rs).

#![allow(
    clippy::disallowed_methods,
    reason = "tests make their fixtures and run the programs under test directly"
)]

mod backups;
mod browser;
mod catalog;
mod control;
mod harness;
mod image;
mod moinmoin;
mod moinmoin_browser;
mod moinmoin_upgrade;
mod packages;
mod repository;
mod secrets;
mod seeds;
mod smtp_sink;
mod trixie;
mod webdriver;
