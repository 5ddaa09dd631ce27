//! Seeds: the answers an appliance gives its dependencies' debconf questions, on their way from
//! the appliance's .deb to debconf. The modules follow that way:
//!
//! 1. [`format`](mod@format): the seed file, in the format of debconf-set-selections(1):
//!    parse, validate, diff ([`Seed`], re-exported here).
//! 2. [`shipped`]: the seed an appliance ships (`/var/lib/appliance/seeds/<package>.seed`), with
//!    the package and version that ship it: [`shipped::Shipped`], read from the .deb or from
//!    where dpkg unpacked it.
//! 3. Who finds it: [`hook`], APT's `DPkg::Pre-Install-Pkgs` hook, among the .debs APT is about to
//!    unpack, before dpkg runs; where the hook did not run (`dpkg -i`, the transaction that
//!    installs appliance-tools), [`trigger`]: dpkg's file trigger on the seeds directory, and the
//!    appliance's preinst; `vainstall`, on a system without the hook.
//! 4. [`apply`]: the step every path shares, [`shipped::Shipped::apply`]: the answers go to
//!    debconf (the whole seed on first install, on upgrade what changed) with the secrets they
//!    ask for, and are recorded in the [`registry`] (`/var/lib/appliance`: the shipped seeds, what
//!    was applied, the lock).
//!
//! Beside the way, [`check`] holds a seed against the debconf [`templates`] of the packages APT
//! would install with it (`va-seed check`).

pub mod apply;
#[cfg(feature = "apt")]
pub mod check;
pub mod format;
pub mod hook;
pub mod registry;
pub mod shipped;
pub mod templates;
pub mod trigger;

pub use format::{Entry, InvalidSeed, Origin, Seed, SeedError, TYPES};
