//! The move of an appliance system to the next Debian release (`va-upgrade-release`): its APT
//! sources ([`sources`]) and the snapshot of its files that lets an upgrade cut short be undone
//! ([`snapshot`]).

pub mod snapshot;
pub mod sources;
