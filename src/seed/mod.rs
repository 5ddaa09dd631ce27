//! Seeds: the answers an appliance gives its dependencies' debconf questions, on their way from
//! the appliance's .deb to debconf. The modules follow that way:
//!
//! 1. [`format`](mod@format): the seed file, in the format of debconf-set-selections(1):
//!    parse, validate, diff ([`Seed`], re-exported here).
//! 2. [`hook`]: APT's `DPkg::Pre-Install-Pkgs` hook finds the appliances among the .debs APT is
//!    about to unpack and reads their seeds, before dpkg runs; [`trigger`]: where the hook did not
//!    run (`dpkg -i`, the transaction that installs appliance-tools), dpkg's file trigger on the
//!    seeds directory and the appliance's preinst do it after.
//! 3. [`apply`]: the step every path shares: the answers go to debconf (the whole seed on first
//!    install, on upgrade what changed) with the secrets they ask for, and are recorded in the
//!    [`registry`] (`/var/lib/appliance`: the shipped seeds, what was applied, the lock).
//!
//! Beside the way, [`check`] holds a seed against the debconf [`templates`] of the packages APT
//! would install with it (`va-seed check`).

pub mod apply;
pub mod check;
pub mod format;
pub mod hook;
pub mod registry;
pub mod templates;
pub mod trigger;

pub use format::{Entry, Seed, SeedError, TYPES};
