//! The users of appliance-control: `/etc/appliance-control/users`, one `NAME:HASH` line each, the
//! hash an argon2id PHC string (as `htpasswd` keeps bcrypt hashes). Written atomically; read by
//! the web service (group `appliance-control`), written only by root (`appliance-control passwd`,
//! the package's postinst).

use std::path::{Path, PathBuf};

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};

/// Where the users file lives, relative to the system's root.
pub const USERS_FILE: &str = "etc/appliance-control/users";

#[derive(Debug, thiserror::Error)]
pub enum UsersError {
    #[error("cannot read `{}`", .path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write `{}`", .path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("`{}` line {line}: {reason}", .path.display())]
    Line {
        path: PathBuf,
        line: usize,
        reason: String,
    },
    #[error("`{0}` is not a user name (lower-case letters, digits, `-` and `_`, at most 32)")]
    Name(String),
    #[error("a password must have at least 8 characters")]
    Weak,
    #[error("cannot hash the password: {0}")]
    Hash(String),
}

/// A valid user name: `[a-z_][a-z0-9_-]{0,31}`, as adduser wants them.
pub fn valid_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b'a'..=b'z' | b'_'))
        && name.len() <= 32
        && bytes.all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'_' | b'-'))
}

/// The users and their password hashes, in file order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Users {
    entries: Vec<(String, String)>,
}

impl Users {
    /// Reads the users file under `root`; a missing file has no users.
    pub fn load(root: &Path) -> Result<Self, UsersError> {
        let path = root.join(USERS_FILE);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(source) => return Err(UsersError::Read { path, source }),
        };
        Self::parse(&text).map_err(|(line, reason)| UsersError::Line { path, line, reason })
    }

    pub fn parse(text: &str) -> Result<Self, (usize, String)> {
        let mut entries: Vec<(String, String)> = Vec::new();
        for (index, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let number = index + 1;
            let (name, hash) = line
                .split_once(':')
                .ok_or((number, "expected NAME:HASH".to_owned()))?;
            if !valid_name(name) {
                return Err((number, format!("`{name}` is not a user name")));
            }
            PasswordHash::new(hash).map_err(|e| {
                (
                    number,
                    format!("the hash of `{name}` is not a PHC string: {e}"),
                )
            })?;
            if entries.iter().any(|(n, _)| n == name) {
                return Err((number, format!("`{name}` is there twice")));
            }
            entries.push((name.to_owned(), hash.to_owned()));
        }
        Ok(Self { entries })
    }

    pub fn render(&self) -> String {
        let mut text = String::from(
            "# appliance-control users: change with `appliance-control passwd USER`\n",
        );
        for (name, hash) in &self.entries {
            text.push_str(name);
            text.push(':');
            text.push_str(hash);
            text.push('\n');
        }
        text
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|(n, _)| n.as_str())
    }

    /// `name`'s password hash (a PHC string).
    pub fn hash(&self, name: &str) -> Option<&str> {
        self.entries
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, hash)| hash.as_str())
    }

    pub fn contains(&self, name: &str) -> bool {
        self.entries.iter().any(|(n, _)| n == name)
    }

    /// Whether `password` is `name`'s. An unknown user costs a hash all the same, so that timing
    /// does not tell which names exist.
    pub fn verify(&self, name: &str, password: &str) -> bool {
        static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
        let hash = match self.entries.iter().find(|(n, _)| n == name) {
            Some((_, hash)) => hash.as_str(),
            None => DUMMY.get_or_init(|| hash_password("not a password").unwrap_or_default()),
        };
        let known = self.contains(name);
        PasswordHash::new(hash).is_ok_and(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        }) && known
    }

    /// Sets (or adds) `name`'s password.
    pub fn set_password(&mut self, name: &str, password: &str) -> Result<(), UsersError> {
        if !valid_name(name) {
            return Err(UsersError::Name(name.to_owned()));
        }
        if password.chars().count() < 8 {
            return Err(UsersError::Weak);
        }
        let hash = hash_password(password)?;
        match self.entries.iter_mut().find(|(n, _)| n == name) {
            Some(entry) => entry.1 = hash,
            None => self.entries.push((name.to_owned(), hash)),
        }
        Ok(())
    }

    /// Writes the users file under `root` atomically, readable by the web service's group only
    /// (when root writes it) from the start.
    pub fn save(&self, root: &Path) -> Result<(), UsersError> {
        let path = root.join(USERS_FILE);
        let write = |source| UsersError::Write {
            path: path.clone(),
            source,
        };
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(write)?;
        }
        // The web service's group reads it (to check passwords), nobody else; root writes it. The
        // new file has its group and mode before it has its name.
        let group = nix::unistd::geteuid()
            .is_root()
            .then(|| {
                nix::unistd::Group::from_name("appliance-control")
                    .ok()
                    .flatten()
            })
            .flatten()
            .map(|group| group.gid);
        appliance::atomic::write_exact(&path, self.render().as_bytes(), 0o640, group).map_err(write)
    }
}

/// An argon2id hash of `password` with a fresh random salt.
pub fn hash_password(password: &str) -> Result<String, UsersError> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h: PasswordHash| h.to_string())
        .map_err(|e| UsersError::Hash(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_adduser() {
        for good in ["admin", "_svc", "a1-b_c"] {
            assert!(valid_name(good), "{good}");
        }
        for bad in ["", "Admin", "1abc", "a:b", "a b", &"a".repeat(33), "../x"] {
            assert!(!valid_name(bad), "{bad}");
        }
    }

    #[test]
    fn passwords_verify_and_round_trip_through_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let mut users = Users::default();
        users.set_password("admin", "correct horse").unwrap();
        assert!(users.verify("admin", "correct horse"));
        assert!(!users.verify("admin", "wrong horse!"));
        assert!(!users.verify("nobody", "correct horse"));
        assert!(matches!(
            users.set_password("admin", "short"),
            Err(UsersError::Weak)
        ));
        assert!(matches!(
            users.set_password("Admin", "long enough"),
            Err(UsersError::Name(_))
        ));
        users.save(dir.path()).unwrap();
        let text = std::fs::read_to_string(dir.path().join(USERS_FILE)).unwrap();
        assert!(text.contains("admin:$argon2id$"), "{text}");
        assert!(!text.contains("correct horse"));
        let loaded = Users::load(dir.path()).unwrap();
        assert_eq!(loaded, users);
        assert!(loaded.verify("admin", "correct horse"));
        // A new password replaces the old one.
        let mut changed = loaded.clone();
        changed.set_password("admin", "battery staple").unwrap();
        assert!(!changed.verify("admin", "correct horse"));
        assert_eq!(changed.names().collect::<Vec<_>>(), ["admin"]);
    }

    #[test]
    fn the_users_file_is_never_readable_by_others_even_for_a_moment() {
        let dir = tempfile::tempdir().unwrap();
        let mut users = Users::default();
        users.set_password("admin", "correct horse").unwrap();
        users.save(dir.path()).unwrap();
        let path = dir.path().join(USERS_FILE);
        let seen = crate::files::tests::watch_modes(path.parent().unwrap(), "users", 0o007, || {
            for _ in 0..100 {
                users.save(dir.path()).unwrap();
            }
        });
        assert_eq!(seen, Vec::<String>::new());
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(
                &std::fs::metadata(&path).unwrap().permissions()
            ) & 0o777,
            0o640
        );
    }

    #[test]
    fn a_damaged_file_names_its_line() {
        for (text, reason) in [
            ("admin\n", "NAME:HASH"),
            (
                "Admin:$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2g\n",
                "not a user name",
            ),
            ("admin:plaintext\n", "PHC"),
        ] {
            let (line, message) = Users::parse(&format!("# comment\n{text}")).unwrap_err();
            assert_eq!(line, 2);
            assert!(message.contains(reason), "{message}");
        }
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(Users::load(dir.path()).unwrap(), Users::default());
    }
}
