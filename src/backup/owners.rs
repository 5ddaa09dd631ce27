//! Owners by name: a backup records each entry's user and group by name as well as by number, read
//! from the backed-up system's own `/etc/passwd` and `/etc/group` (under `--root`, not the host's),
//! and a restore gives files to the user of that name on the target system, falling back to the
//! recorded number where the name is unknown there.

use std::collections::HashMap;
use std::path::Path;

/// The users and groups of one system, both ways.
#[derive(Debug, Default, Clone)]
pub struct Owners {
    user_names: HashMap<u32, String>,
    group_names: HashMap<u32, String>,
    user_ids: HashMap<String, u32>,
    group_ids: HashMap<String, u32>,
}

/// `name:x:id:…` lines; malformed lines are ignored, as the C library ignores them.
fn parse(text: &str) -> impl Iterator<Item = (String, u32)> + '_ {
    text.lines().filter_map(|line| {
        let mut fields = line.split(':');
        let name = fields.next()?;
        let id = fields.nth(1)?.parse().ok()?;
        (!name.is_empty() && !name.starts_with(['#', '+', '-'])).then(|| (name.to_owned(), id))
    })
}

impl Owners {
    /// Reads `etc/passwd` and `etc/group` under `root`; a missing file gives no names.
    pub fn of_system(root: &Path) -> std::io::Result<Self> {
        let read = |name: &str| match std::fs::read_to_string(root.join(name)) {
            Ok(text) => Ok(text),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(String::new()),
            Err(error) => Err(error),
        };
        Ok(Self::from_texts(&read("etc/passwd")?, &read("etc/group")?))
    }

    pub fn from_texts(passwd: &str, group: &str) -> Self {
        let mut owners = Self::default();
        // The first line of a name or number wins, as getpwnam and getpwuid find it.
        for (name, id) in parse(passwd) {
            owners.user_names.entry(id).or_insert_with(|| name.clone());
            owners.user_ids.entry(name).or_insert(id);
        }
        for (name, id) in parse(group) {
            owners.group_names.entry(id).or_insert_with(|| name.clone());
            owners.group_ids.entry(name).or_insert(id);
        }
        owners
    }

    pub fn user_name(&self, uid: u32) -> Option<&str> {
        self.user_names.get(&uid).map(String::as_str)
    }

    pub fn group_name(&self, gid: u32) -> Option<&str> {
        self.group_names.get(&gid).map(String::as_str)
    }

    /// The uid to give a restored file: by name when this system knows it, else the number.
    pub fn uid(&self, name: Option<&str>, recorded: u64) -> Option<u32> {
        name.and_then(|n| self.user_ids.get(n).copied())
            .or_else(|| u32::try_from(recorded).ok())
    }

    pub fn gid(&self, name: Option<&str>, recorded: u64) -> Option<u32> {
        name.and_then(|n| self.group_ids.get(n).copied())
            .or_else(|| u32::try_from(recorded).ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_map_both_ways_and_unknown_names_keep_their_number() {
        let owners = Owners::from_texts(
            "root:x:0:0:root:/root:/bin/bash\nmoin:x:998:997::/var/lib/moin:/usr/sbin/nologin\nbroken line\nmoin:x:5:5::/:/bin/false\n",
            "root:x:0:\nmoin:x:997:\n",
        );
        assert_eq!(owners.user_name(998), Some("moin"));
        assert_eq!(owners.group_name(997), Some("moin"));
        assert_eq!(owners.user_name(42), None);
        // A backup made where moin was 1001 restores to this system's moin.
        assert_eq!(owners.uid(Some("moin"), 1001), Some(998));
        assert_eq!(owners.gid(Some("moin"), 1001), Some(997));
        // A name this system does not have: the recorded number.
        assert_eq!(owners.uid(Some("gone"), 1234), Some(1234));
        assert_eq!(owners.uid(None, 7), Some(7));
        assert_eq!(owners.uid(None, u64::MAX), None);
    }
}
