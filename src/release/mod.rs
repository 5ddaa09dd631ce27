//! The move of an appliance system to the next Debian release (`va-upgrade-release`): its APT
//! sources first ([`sources`]).

pub mod sources;
